"""The web's guards, as plain ASGI middleware so they run before any route reads a byte:

- :class:`BodyLimit`: a request body larger than the route allows is refused with 413, at once when
  Content-Length says so, else as soon as the streamed bytes pass the limit (nothing is buffered);
- :class:`SignedSession`: a signed, HttpOnly, SameSite=Lax cookie holding only the account id, a
  password stamp and the CSRF token; ``Secure`` whenever the request came over HTTPS;
- :class:`SecurityHeaders`: a strict Content-Security-Policy (no inline script or style) and the
  usual hardening headers on every response.
"""

from __future__ import annotations

import json
import secrets
from typing import Any, Callable

from itsdangerous import BadSignature, URLSafeTimedSerializer

SESSION_COOKIE = "frs_session"
SESSION_MAX_AGE = 8 * 3600  # a working day; then sign in again

CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; "
       "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
HEADERS = [
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"same-origin"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"cross-origin-resource-policy", b"same-origin"),
    (b"permissions-policy", b"camera=(), microphone=(), geolocation=(), payment=(), usb=()"),
]


class TooLarge(Exception):
    """Raised into the app when a streamed body passes its limit (the 413 is already sent)."""


class BodyLimit:
    """Refuse bodies over ``limit_for(method, path)`` bytes before the app reads them."""

    def __init__(self, app, limit_for: Callable[[str, str], int], too_large: Callable[[str, int], tuple]):
        self.app, self.limit_for, self.too_large = app, limit_for, too_large

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        limit = self.limit_for(scope["method"], scope["path"])
        length = _header(scope, b"content-length")
        if length is not None:
            try:
                declared = int(length)
            except ValueError:
                declared = limit + 1
            if declared > limit:  # refused without reading the body; the server closes the connection
                return await self._refuse(scope, send, limit, close=True)
        state = {"received": 0, "refused": False, "started": False}

        async def limited_receive():
            message = await receive()
            if message["type"] == "http.request":
                state["received"] += len(message.get("body", b""))
                if state["received"] > limit:
                    if not state["started"]:
                        state["refused"] = True
                        await self._refuse(scope, send, limit, close=True)
                    raise TooLarge()
            return message

        async def guarded_send(message):
            if state["refused"]:
                return  # the app's own answer to the aborted read is dropped: the 413 went out
            if message["type"] == "http.response.start":
                state["started"] = True
            await send(message)

        try:
            await self.app(scope, limited_receive, guarded_send)
        except TooLarge:
            pass
        except Exception:
            if not state["refused"]:
                raise

    async def _refuse(self, scope, send, limit: int, close: bool) -> None:
        content_type, body = self.too_large(scope["path"], limit)
        headers = [(b"content-type", content_type.encode()), (b"content-length", str(len(body)).encode())]
        if close:
            headers.append((b"connection", b"close"))
        await send({"type": "http.response.start", "status": 413, "headers": headers + HEADERS})
        await send({"type": "http.response.body", "body": body})


class SignedSession:
    """``scope["session"]``: a dict kept in a signed cookie. Only ids and the CSRF token go in it."""

    def __init__(self, app, secret: str, max_age: int = SESSION_MAX_AGE):
        self.app = app
        self.serializer = URLSafeTimedSerializer(secret, salt="frs-session")
        self.max_age = max_age

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        raw = _cookie(scope, SESSION_COOKIE)
        session: dict[str, Any] = {}
        if raw:
            try:
                loaded = self.serializer.loads(raw, max_age=self.max_age)
                session = loaded if isinstance(loaded, dict) else {}
            except (BadSignature, ValueError):
                session = {}
        scope["session"] = session
        before = json.dumps(session, sort_keys=True)
        secure = scope.get("scheme") == "https"

        async def send_with_cookie(message):
            if message["type"] == "http.response.start":
                after = scope["session"]
                if json.dumps(after, sort_keys=True) != before or (raw and not after):
                    headers = list(message.get("headers", []))
                    headers.append((b"set-cookie", self._cookie(after, secure).encode("latin-1")))
                    message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_cookie)

    def _cookie(self, session: dict, secure: bool) -> str:
        flags = "; Path=/; HttpOnly; SameSite=Lax" + ("; Secure" if secure else "")
        if not session:
            return f"{SESSION_COOKIE}=; Max-Age=0{flags}"
        return f"{SESSION_COOKIE}={self.serializer.dumps(session)}; Max-Age={self.max_age}{flags}"


class SecurityHeaders:
    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        https = scope.get("scheme") == "https"
        static = scope["path"].startswith("/static/")

        async def send_with_headers(message):
            if message["type"] == "http.response.start":
                headers = [h for h in message.get("headers", []) if h[0].lower() not in {k for k, _ in HEADERS}]
                headers += HEADERS
                if https:
                    headers.append((b"strict-transport-security", b"max-age=31536000; includeSubDomains"))
                if not static and not any(h[0].lower() == b"cache-control" for h in headers):
                    headers.append((b"cache-control", b"no-store"))  # pages hold school data
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)


def new_csrf_token() -> str:
    return secrets.token_urlsafe(32)


def _header(scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key.lower() == name:
            return value.decode("latin-1")
    return None


def _cookie(scope, name: str) -> str | None:
    header = _header(scope, b"cookie")
    if not header:
        return None
    for part in header.split(";"):
        key, _, value = part.strip().partition("=")
        if key == name:
            return value
    return None
