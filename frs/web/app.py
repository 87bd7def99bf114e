"""The web application: server-rendered pages for schools and operators, and the JSON API.

``create_app()`` builds it on the configured database (the factory ``frs serve`` gives uvicorn, once
per worker process). Pages and API are thin: every rule and permission check is in the service
layer (``frs.storage.service``, ``frs.services.*``); here requests are turned into calls and
answers into HTML or JSON.
"""

from __future__ import annotations

import hmac
import json
import logging
import os
import re
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates

from ..config import LONDON
from ..services import accounts
from ..storage.service import Refused, StorageFailed
from .balance import CloseAfterUpload
from .dx import DataExchangeAdapter
from .security import BodyLimit, SecurityHeaders, SignedSession, new_csrf_token  # noqa: F401 (re-exported)

log = logging.getLogger("frs.web")
HERE = Path(__file__).resolve().parent
SERVICE_NAME = "Results service"
FORM_LIMIT = 64 * 1024  # any form or API body that is not a file
MULTIPART_OVERHEAD = 64 * 1024  # boundaries and fields around an uploaded file

# stable API error codes -> HTTP status
STATUS_FOR_CODE = {
    "not-found": 404, "unknown-school": 404, "unknown-user": 404, "forbidden": 403, "csrf": 403,
    "unauthenticated": 401, "bad-credentials": 401, "locked": 429, "terms": 422, "gate": 422,
    "unrecognised": 422, "no-file": 422, "bad-request": 422, "unknown-keystage": 422, "which-school": 422,
    "state": 409, "round-closed": 409, "no-round": 409, "no-source": 409, "not-available": 409,
    "too-large": 413, "storage-failed": 503,
    # Data Exchange (frs.services.data_exchange)
    "not-connected": 409, "running": 409, "mis-id": 422, "unknown-partner": 422,
}


class NotSignedIn(Exception):
    pass


class PageError(Exception):
    """A page-level refusal shown as an error page (status and message)."""

    def __init__(self, status: int, title: str, message: str):
        super().__init__(message)
        self.status, self.title, self.message = status, title, message


def is_upload_path(method: str, path: str) -> bool:
    return method == "POST" and (path.endswith("/uploads") or path.endswith("/upload"))


def create_app(kernel=None, *, service=None, data_exchange=None, secret: str | None = None):
    """The ASGI app. Without arguments: the kernel and service from the configuration (FRS_CONFIG,
    FRS_HOME, FRS_DATABASE_URL), the real Data Exchange when installed."""
    if service is None:
        from .. import config
        from ..kernel import Kernel
        from ..storage.service import Service

        kernel = kernel or Kernel(config.load(os.environ.get("FRS_CONFIG") or None))
        service = Service.from_kernel(kernel)
    app = FastAPI(title="frs results service API", version="1", docs_url=None, redoc_url=None,
                  openapi_url="/openapi.json",
                  description="The school journey of a results round: template, upload, validation, "
                              "confirmation, upload history and Data Exchange. Send `Authorization: "
                              "Bearer <token>` (a token from `frs users token EMAIL`). Errors are "
                              "`{\"error\": {\"code\": ..., \"message\": ...}}` with a stable code.")
    app.state.service = service
    app.state.kernel = service.kernel
    if data_exchange is None and os.environ.get("FRS_DATA_EXCHANGE"):
        data_exchange = _load_factory(os.environ["FRS_DATA_EXCHANGE"])(service)
    app.state.dx = data_exchange if isinstance(data_exchange, DataExchangeAdapter) else \
        DataExchangeAdapter(service, data_exchange)
    templates = Jinja2Templates(directory=str(HERE / "templates"))
    templates.env.globals.update(service_name=SERVICE_NAME, london=_london, plural=_plural)
    templates.env.filters["london"] = _london
    templates.env.filters["ldate"] = _ldate
    app.state.templates = templates
    app.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")

    from . import api, pages_auth, pages_operator, pages_reports, pages_school, pages_uploads

    for module in (pages_auth, pages_school, pages_uploads, pages_operator, pages_reports):
        app.include_router(module.router)
    app.include_router(api.router, prefix="/api/v1")

    @app.exception_handler(Refused)
    async def refused(request: Request, exc: Refused):
        status = STATUS_FOR_CODE.get(exc.code, 422)
        if is_api(request):
            return api_error(exc.code, exc.reason, status, issues=exc.issues)
        if status == 404:
            return error_page(request, 404, "Page not found", "If you typed the web address, check it is correct. "
                              "If you pasted the web address, check you copied the entire address.")
        title = "You cannot do this" if status == 403 else "There is a problem"
        return error_page(request, status, title, exc.reason)

    @app.exception_handler(StorageFailed)
    async def failed(request: Request, exc: StorageFailed):
        if is_api(request):
            return api_error("storage-failed", str(exc), 503)
        return error_page(request, 503, "Sorry, there is a problem with the service", str(exc))

    @app.exception_handler(NotSignedIn)
    async def not_signed_in(request: Request, exc: NotSignedIn):
        if is_api(request):
            return api_error("unauthenticated", "Send a valid API token: Authorization: Bearer <token>.", 401,
                             headers={"WWW-Authenticate": "Bearer"})
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"/sign-in?next={quote(target)}", status_code=303)

    @app.exception_handler(PageError)
    async def page_error(request: Request, exc: PageError):
        if is_api(request):
            return api_error("bad-request", exc.message, exc.status)
        return error_page(request, exc.status, exc.title, exc.message)

    from starlette.exceptions import HTTPException as StarletteHTTPException
    from fastapi.exceptions import RequestValidationError

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException):
        code = {404: "not-found", 405: "method-not-allowed"}.get(exc.status_code, "bad-request")
        if is_api(request):
            return api_error(code, str(exc.detail), exc.status_code)
        if exc.status_code == 404:
            return error_page(request, 404, "Page not found", "If you typed the web address, check it is correct.")
        return error_page(request, exc.status_code, "There is a problem", str(exc.detail))

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError):
        where = "; ".join(f"{'.'.join(str(p) for p in e.get('loc', ()))}: {e.get('msg')}" for e in exc.errors())
        if is_api(request):
            return api_error("bad-request", f"The request is not valid ({where}).", 422)
        return error_page(request, 404 if "path" in where else 400, "There is a problem",
                          "The page could not use what was sent. Go back and try again.")

    @app.get("/healthz", include_in_schema=False)
    def healthz():
        return {"ok": True}

    @app.get("/favicon.ico", include_in_schema=False)
    def favicon():
        return Response((HERE / "static" / "images" / "favicon.svg").read_bytes(), media_type="image/svg+xml",
                        headers={"cache-control": "public, max-age=86400"})

    secret = secret or _secret(service)
    limits = service.kernel.config.limits

    def limit_for(method: str, path: str) -> int:
        return limits.max_upload_bytes + MULTIPART_OVERHEAD if is_upload_path(method, path) else FORM_LIMIT

    def too_large(path: str, limit: int) -> tuple[str, bytes]:
        mb = limits.max_upload_bytes / (1024 * 1024)
        message = f"The selected file must be smaller than {mb:g} MB."
        if path.startswith("/api/"):
            return "application/json", json.dumps({"error": {"code": "too-large", "message": message}}).encode()
        page = templates.get_template("error.html").render(
            title="The file is too large", message=message, status=413, request=None, principal=None)
        return "text/html; charset=utf-8", page.encode()

    return CloseAfterUpload(SecurityHeaders(BodyLimit(SignedSession(app, secret), limit_for, too_large)),
                            is_upload_path)


def _load_factory(spec: str):
    """``module:name`` of another Data Exchange implementation (FRS_DATA_EXCHANGE), e.g. a stand-in
    for tests or a site's own; it is called with the service."""
    import importlib

    module, _, name = spec.partition(":")
    try:
        return getattr(importlib.import_module(module), name or "DataExchange")
    except (ImportError, AttributeError) as exc:
        from ..config import ConfigError

        raise ConfigError(f"FRS_DATA_EXCHANGE={spec!r} does not name an importable module:attribute ({exc})") from None


def _secret(service) -> str:
    """FRS_SECRET_KEY, else a random key kept in ``<home>/web-secret.key`` (shared by the workers)."""
    env = os.environ.get("FRS_SECRET_KEY")
    if env:
        return env
    path = Path(service.kernel.config.home) / "web-secret.key"
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text().strip()
    with os.fdopen(fd, "w") as handle:
        handle.write(new_csrf_token() + new_csrf_token())
    return path.read_text().strip()


# --------------------------------------------------------------------------- helpers for the routes


def is_api(request: Request) -> bool:
    return request.url.path.startswith("/api/")


def api_error(code: str, message: str, status: int, *, issues=(), headers=None) -> JSONResponse:
    body: dict[str, Any] = {"error": {"code": code, "message": message}}
    if issues:
        body["error"]["issues"] = [i.to_dict() for i in issues]
    return JSONResponse(body, status_code=status, headers=headers)


def service(request: Request):
    return request.app.state.service


def csrf_token(request: Request) -> str:
    token = request.session.get("csrf")
    if not token:
        token = request.session["csrf"] = new_csrf_token()
    return token


def check_csrf(request: Request, sent: str | None) -> None:
    expected = request.session.get("csrf")
    if not expected or not sent or not hmac.compare_digest(expected, sent):
        raise PageError(403, "Your session has expired",
                        "For your security the form could not be sent. Go back, refresh the page and try again.")


def current(request: Request) -> accounts.Principal | None:
    """The signed-in account, or None."""
    if "principal" in request.scope:
        return request.scope["principal"]
    session = request.session
    found = None
    if session.get("kind") and session.get("id"):
        found = accounts.principal(service(request), session["kind"], int(session["id"]), session.get("stamp", ""))
        if found is None:
            session.clear()
    request.scope["principal"] = found
    return found


def signed_in(request: Request) -> accounts.Principal:
    principal = current(request)
    if principal is None:
        raise NotSignedIn()
    return principal


def school_user(request: Request) -> accounts.Principal:
    """A signed-in school user (operators have no school pages: they get 404 there)."""
    principal = signed_in(request)
    if principal.is_operator:
        raise Refused("Operators have no school pages.", code="not-found")
    return principal


def render(request: Request, name: str, status: int = 200, **context) -> HTMLResponse:
    principal = current(request)
    context.update(request=request, principal=principal, csrf=csrf_token(request))
    if principal is not None and not principal.is_operator and "my_schools" not in context:
        context["my_schools"] = accounts.schools_of(service(request), principal.email)
    return request.app.state.templates.TemplateResponse(request, name, context, status_code=status)


def error_page(request: Request, status: int, title: str, message: str) -> HTMLResponse:
    return render(request, "error.html", status=status, title=title, message=message)


XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def attachment(filename: str, data: bytes, media_type: str = XLSX) -> Response:
    """A download whose name came from a user: an ASCII fallback with anything unusual replaced,
    and the exact name percent-encoded (RFC 6266), so it can never break the header."""
    fallback = re.sub(r"[^A-Za-z0-9._ ()-]", "_", filename)[:150].strip() or "download.xlsx"
    disposition = f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"
    return Response(data, media_type=media_type, headers={"content-disposition": disposition})


def safe_next(target: str | None) -> str:
    """Only a path on this site (never //host or a scheme) may follow sign-in."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return "/"


def _london(value) -> str:
    if value is None:
        return ""
    if hasattr(value, "astimezone"):
        local = value.astimezone(LONDON)
        if (local.hour, local.minute) == (0, 0):
            return f"{local.day} {local:%B %Y}, midnight (start of day)"
        if (local.hour, local.minute) == (12, 0):
            return f"{local.day} {local:%B %Y}, midday"
        return f"{local.day} {local:%B %Y} at {local:%-I:%M%p}".replace("AM", "am").replace("PM", "pm")
    return str(value)


def _ldate(value) -> str:
    if value is None:
        return ""
    if hasattr(value, "astimezone"):
        value = value.astimezone(LONDON)
    return f"{value.day} {value:%B %Y}"


def _plural(n: int, word: str, many: str | None = None) -> str:
    return f"{n:,} {word if n == 1 else (many or word + 's')}"
