#!/usr/bin/env bash
# Rebuild frs's GOV.UK Frontend stylesheet (system font, frs brand colour, no GDS Transport) and
# refresh the vendored copy in frs/web/static/govuk/. Needs npm; only for upgrading Frontend.
set -euo pipefail
cd "$(dirname "$0")/.."
VERSION="${GOVUK_FRONTEND_VERSION:-6.6.0}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
npm install --prefix "$work" --no-audit --no-fund --silent "govuk-frontend@$VERSION" sass@1.108.2 >/dev/null
"$work/node_modules/.bin/sass" --no-source-map --style=compressed --load-path="$work/node_modules" \
  frs/web/static-src/frs.scss frs/web/static/govuk/govuk-frontend.min.css
cp "$work/node_modules/govuk-frontend/dist/govuk/govuk-frontend.min.js" frs/web/static/govuk/
if grep -q "GDS Transport" frs/web/static/govuk/govuk-frontend.min.css; then
  echo "the build still names GDS Transport: check frs/web/static-src/frs.scss" >&2
  exit 1
fi
echo "govuk-frontend $VERSION built into frs/web/static/govuk/ (update VERSION there)"
