// Runs first in <body>: lets GOV.UK Frontend's styles know JavaScript is on (no inline script: CSP).
document.body.className += ' js-enabled' + ('noModule' in HTMLScriptElement.prototype ? ' govuk-frontend-supported' : '');
