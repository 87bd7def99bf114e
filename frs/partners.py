"""Data Exchange partners: the MIS integrators a school authorises (Groupcall Xporter, Wonde, ...).

A partner plugin subclasses :class:`Partner` and registers an instance through the
``register_partners(registry, settings)`` hook. The Data Exchange service (``frs.services.
data_exchange``) drives every pull the same way whatever the partner: it gives the partner a
:class:`PartnerHttp` (httpx with time-outs, retries and back-off, a size cap and an overall
deadline), reads the :class:`Page` objects the partner yields one at a time, stops between
pages when asked to, re-validates every pupil, and replaces the school's stored cohort only
when the pull completed. A partner therefore only speaks its API:

    class MyPartner(Partner):
        name, title = "mymis", "My MIS API"
        settings_schema = HTTP_SETTINGS + (Setting("api_url", "base URL", required=True),
                                           Setting("token", "API token", required=True, secret=True))

        def pages(self, http, mis_id, *, delta_token=None):
            url = f"{self.settings['api_url']}/schools/{mis_id}/pupils"
            while url:
                body = http.get_json(url, headers={"Authorization": f"Bearer {self.settings['token']}"})
                yield Page(pupils=[MisPupil(...) for row in body["data"]])
                url = body["next"]

See docs/plugins.md, "Data Exchange partners".
"""

from __future__ import annotations

import datetime as dt
import email.utils
import json
import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Iterator, Mapping
from urllib.parse import urlsplit

from .connectors import School, Setting, check_settings

log = logging.getLogger("frs.partners")

#: settings every partner accepts for its HTTP behaviour (merge them into ``settings_schema``)
HTTP_SETTINGS: tuple[Setting, ...] = (
    Setting("timeout", "seconds of network inactivity before a request is given up", (int, float), default=30.0),
    Setting("deadline", "seconds a whole pull may take", (int, float), default=1800.0),
    Setting("retries", "further attempts after a time-out, 429 or 5xx reply", int, default=4),
    Setting("backoff_base", "seconds before the first retry; doubled for each further one", (int, float),
            default=2.0),
    Setting("max_retry_after", "longest Retry-After (seconds) honoured before giving up", (int, float),
            default=300.0),
    Setting("max_pages", "pages one pull may read before it is judged to be looping", int, default=2000),
    Setting("max_response_bytes", "largest reply accepted (bytes)", int, default=64 * 1024 * 1024),
    Setting("page_size", "pupils asked for per page", int, default=500),
)


# --------------------------------------------------------------------------- what a partner yields


@dataclass
class MisPupil:
    """One pupil as the partner read it from the MIS, before frs re-validates it.

    Values are kept as the MIS sent them (strings, numbers or None); ``nc_year`` may be an int
    or text such as "Year  11". ``characteristics`` may hold ``disadvantaged`` (bool), ``fsm``,
    ``fsm_ever6``, ``pupil_premium`` (bool), ``sen`` ("E"/"K"/"N"/...), ``eal`` (bool),
    ``first_language`` (code) and ``ks2`` (mapping), whatever the MIS has.
    """

    mis_id: str
    upn: str | None
    forename: Any
    surname: Any
    date_of_birth: Any
    gender: Any
    nc_year: Any
    characteristics: dict[str, Any] = field(default_factory=dict)


@dataclass
class Page:
    """One reply's worth of pupils. In a delta pull (``delta=True``) ``pupils`` are the changed
    ones and ``deleted`` the MIS ids removed since the token; ``next_delta_token`` is what to
    send next time for changes since this pull (None: the partner offers none)."""

    pupils: list[MisPupil] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    delta: bool = False
    next_delta_token: str | None = None
    expected_pages: int = 0  # how many pages the partner says there are (0: unknown), for progress


# --------------------------------------------------------------------------- errors


class PullError(Exception):
    """A pull could not complete. ``kind``: auth | server | network | malformed | paging |
    stopped | deadline | config. The message is for the operator and never holds a secret."""

    def __init__(self, message: str, kind: str = "server"):
        super().__init__(message)
        self.kind = kind


class DeltaRefused(PullError):
    """The partner would not accept the stored delta token: the service falls back to a full pull."""

    def __init__(self, message: str):
        super().__init__(message, "delta-refused")


# --------------------------------------------------------------------------- HTTP


class PartnerHttp:
    """httpx for one pull: time-outs, retries with back-off on time-outs, 429 (honouring
    Retry-After) and 5xx, no retry on 401/403, a size cap per reply and a deadline per pull.

    Every message it raises names the host and path only (never a query string, a header or a
    body), and every secret it was told about is blanked out of anything it reports.
    """

    def __init__(self, partner: "Partner", *, stopping: threading.Event | None = None, transport: Any = None):
        import httpx  # here, not at import: loading plugins must not cost the command line an HTTP stack

        s = partner.settings
        self.partner = partner
        self.timeout = float(s.get("timeout") or 30.0)
        self.retries = int(s.get("retries") if s.get("retries") is not None else 4)
        self.backoff_base = float(s.get("backoff_base") if s.get("backoff_base") is not None else 2.0)
        self.max_retry_after = float(s.get("max_retry_after") or 300.0)
        self.max_bytes = int(s.get("max_response_bytes") or 64 * 1024 * 1024)
        self.deadline = time.monotonic() + float(s.get("deadline") or 1800.0)
        self.stopping = stopping or threading.Event()
        self.secrets: set[str] = {str(v) for v in partner.secret_values() if v}
        self.requests = 0
        self.retried = 0
        self.client = httpx.Client(timeout=httpx.Timeout(self.timeout), follow_redirects=False, verify=_tls(),
                                   transport=transport, headers={"User-Agent": "frs data exchange"})

    def close(self) -> None:
        self.client.close()

    def __enter__(self) -> "PartnerHttp":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def add_secret(self, value: str | None) -> None:
        """Blank ``value`` (e.g. a token the partner was given) out of everything reported."""
        if value:
            self.secrets.add(str(value))

    def scrub(self, text: str) -> str:
        for secret in sorted(self.secrets, key=len, reverse=True):
            if len(secret) >= 4:
                text = text.replace(secret, "***")
        return text

    def where(self, url: str) -> str:
        parts = urlsplit(url)
        return self.scrub(f"{parts.scheme}://{parts.netloc}{parts.path}")

    # ------------------------------------------------------------------ requests

    def get_json(self, url: str, *, params: Mapping[str, Any] | None = None,
                 headers: Mapping[str, str] | None = None) -> Any:
        return self.request_json("GET", url, params=params, headers=headers)

    def post_json(self, url: str, body: Any, *, headers: Mapping[str, str] | None = None) -> Any:
        """POST for a token: it changes nothing at the partner, so it is retried like a GET."""
        return self.request_json("POST", url, json_body=body, headers=headers)

    def request_json(self, method: str, url: str, *, params: Mapping[str, Any] | None = None,
                     headers: Mapping[str, str] | None = None, json_body: Any = None,
                     refuse_statuses: tuple[int, ...] = ()) -> Any:
        """The decoded JSON reply. A status in ``refuse_statuses`` raises :class:`DeltaRefused`."""
        import httpx

        attempt = 0
        while True:
            self._check_time(url)
            self.requests += 1
            try:
                status, body, retry_after = self._send(method, url, params, headers, json_body)
            except httpx.TimeoutException:
                problem = f"{self.partner.title} did not answer within {self.timeout:g} s ({self.where(url)})"
                retry_after = None
                status = None
            except httpx.TransportError as exc:
                problem = (f"could not reach {self.partner.title} at {self.where(url)} "
                           f"({type(exc).__name__}: {self.scrub(str(exc))[:200]})")
                retry_after = None
                status = None
            else:
                if status in (401, 403):
                    raise PullError(self.partner.auth_advice(status, self.where(url)), "auth")
                if status in refuse_statuses:
                    raise DeltaRefused(f"{self.partner.title} refused the stored change token "
                                       f"(HTTP {status} from {self.where(url)})")
                if status == 429 or status >= 500:
                    problem = f"{self.partner.title} replied HTTP {status} ({self.where(url)})"
                elif status >= 400:
                    raise PullError(f"{self.partner.title} replied HTTP {status} to {self.where(url)}: "
                                    f"{self.partner.status_advice(status)}", "server")
                else:
                    try:
                        return json.loads(body)
                    except ValueError as exc:
                        raise PullError(f"{self.partner.title} sent a reply that is not valid JSON from "
                                        f"{self.where(url)} ({exc.msg} at character {exc.pos}); the list held "
                                        "before was kept. Tell the partner if it happens again.",
                                        "malformed") from None
            if attempt >= self.retries:
                raise PullError(f"{problem}; gave up after {attempt + 1} attempts",
                                "network" if status is None else "server")
            wait = self.backoff_base * (2 ** attempt)
            if retry_after is not None:
                if retry_after > self.max_retry_after:
                    raise PullError(f"{problem} and asked to wait {retry_after:g} s (Retry-After), longer than "
                                    f"max_retry_after ({self.max_retry_after:g} s); try again later", "server")
                wait = max(wait, retry_after)
            attempt += 1
            self.retried += 1
            log.info("%s; retry %d of %d in %.1f s", problem, attempt, self.retries, wait)
            if time.monotonic() + wait > self.deadline:
                raise PullError(f"{problem}; no time left before the pull's deadline to retry", "deadline")
            if self.stopping.wait(wait):
                raise PullError("stopped while waiting to retry", "stopped")

    def _check_time(self, url: str) -> None:
        if self.stopping.is_set():
            raise PullError("stopped before the pull finished", "stopped")
        if time.monotonic() > self.deadline:
            raise PullError(f"the pull took longer than its deadline ({self.partner.settings.get('deadline')} s) "
                            f"at {self.where(url)}", "deadline")

    def _send(self, method, url, params, headers, json_body) -> tuple[int, bytes, float | None]:
        with self.client.stream(method, url, params=params, headers=headers, json=json_body) as response:
            retry_after = _retry_after(response.headers.get("Retry-After"))
            if response.status_code >= 300:
                return response.status_code, b"", retry_after
            chunks, size = [], 0
            for chunk in response.iter_bytes():
                size += len(chunk)
                if size > self.max_bytes:
                    raise PullError(f"{self.partner.title} sent more than max_response_bytes "
                                    f"({self.max_bytes} bytes) in one reply from {self.where(url)}", "malformed")
                chunks.append(chunk)
            return response.status_code, b"".join(chunks), retry_after


_TLS: list[Any] = []


def _tls() -> Any:
    """One verifying TLS context for every pull: building one loads the CA bundle, which costs
    more than a small school's whole pull."""
    import httpx

    if not _TLS:
        _TLS.append(httpx.create_ssl_context())
    return _TLS[0]


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.timezone.utc)
    return max(0.0, (when - dt.datetime.now(dt.timezone.utc)).total_seconds())


# --------------------------------------------------------------------------- the partner


class Partner:
    """A Data Exchange partner. Subclass it in a plugin and register an instance with
    ``registry.add(...)`` in ``register_partners(registry, settings)``.

    Attributes:
        name: the partner's id, as ``frs dx connect --partner NAME`` takes it.
        title: its name for people ("Groupcall Xporter on Demand").
        mis_id_help: what the school's id at the partner is, for ``frs dx connect --help``.
        settings_schema: the keys of the plugin's ``[plugins.<name>]`` table (include
            :data:`HTTP_SETTINGS`); secrets are marked ``secret=True``.
        supports_delta: True when :meth:`pages` honours ``delta_token``.
    """

    name: str = ""
    title: str = ""
    mis_id_help: str = "the school's id at the partner"
    settings_schema: tuple[Setting, ...] = HTTP_SETTINGS
    supports_delta: bool = False
    plugin: str = ""

    def __init__(self, settings: Mapping[str, Any] | None = None):
        self.settings = check_settings(self.name, self.settings_schema, dict(settings or {}))

    def secret_values(self) -> list[str]:
        return [str(self.settings[s.name]) for s in self.settings_schema if s.secret and self.settings.get(s.name)]

    def default_mis_id(self, school: School) -> str | None:
        """The school's id at the partner when none is given (None: it must be given)."""
        return None

    def pages(self, http: PartnerHttp, mis_id: str, *, delta_token: str | None = None) -> Iterator[Page]:
        """Yield the school's pupils page by page. With ``delta_token`` (only when
        ``supports_delta``) yield pages with ``delta=True`` holding only the changes, or raise
        :class:`DeltaRefused` when the partner will not take the token. Raise :class:`PullError`
        for anything else that stops the pull; never return a partial list silently."""
        raise NotImplementedError  # pragma: no cover

    def auth_advice(self, status: int, where: str) -> str:
        """The message for a 401/403 reply: what the operator should check."""
        return (f"{self.title} refused the credentials (HTTP {status} from {where}): check the "
                f"[plugins.{self.plugin or self.name}] secrets in the environment and that the school has "
                "authorised this service at the partner. Not retried.")

    def status_advice(self, status: int) -> str:
        return "the request was not accepted; check the partner's settings and the school's id at the partner"
