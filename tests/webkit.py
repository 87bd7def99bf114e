"""Helpers for the web tests: a real uvicorn server on a random loopback port, people with
passwords, signing in through the sign-in form, and finding CSRF tokens in pages."""

from __future__ import annotations

import contextlib
import re
import socket
import threading
import time

import httpx

PASSWORD = "correct horse battery"
OPERATOR_EMAIL = "ops@frs.example"
MEMBER_ONLY = "member@a.sch.uk"  # belongs to SCHOOL with neither Manage Data nor Setup

_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf(html: str) -> str:
    found = _CSRF.search(html)
    assert found, "no CSRF token in the page"
    return found.group(1)


@contextlib.contextmanager
def live_server(app, **options):
    """Serve ``app`` with uvicorn in a thread on 127.0.0.1:<random port>; yields the base URL."""
    import uvicorn

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off", **options))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        assert time.monotonic() < deadline, "the test server did not start"
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


def sign_in(base: str, email: str, password: str = PASSWORD) -> httpx.Client:
    """A client with a signed-in session (through the sign-in form, as a browser would)."""
    client = httpx.Client(base_url=base, follow_redirects=False, timeout=30)
    page = client.get("/sign-in")
    response = client.post("/sign-in", data={"email": email, "password": password, "csrf_token": csrf(page.text)})
    assert response.status_code == 303, response.text[:500]
    return client


def give_passwords(service, emails, operator: str | None = OPERATOR_EMAIL) -> None:
    from frs.services import accounts

    for email in emails:
        accounts.set_password(service, email, PASSWORD)
    if operator:
        accounts.set_password(service, operator, PASSWORD, operator=True)


class FakeDxStatus:
    def __init__(self, **fields):
        self.fields = fields

    def to_dict(self):
        return dict(self.fields)


class FakeDataExchange:
    """Stands in for frs.services.data_exchange.DataExchange (built in parallel): the same
    methods and the same rule (Setup permission to connect, enable or disable)."""

    def __init__(self, service, connected=()):
        self.service = service
        self.state = {dfe: {"state": "connected", "partner": "Example MIS Partner", "mis_id": "MIS-1"}
                      for dfe in connected}

    def _check(self, actor, dfe, permission=None):
        from frs.services import accounts
        from frs.storage.service import OPERATOR

        if actor is OPERATOR:
            return
        if permission:
            accounts.require(self.service, actor, dfe, permission)
        else:
            accounts.membership(self.service, actor, dfe)

    def status(self, actor, dfe):
        self._check(actor, dfe)
        held = self.state.get(dfe, {"state": "not connected", "partner": None, "mis_id": None})
        return FakeDxStatus(**held, last_pull=None, last_error=None)

    def connect(self, actor, dfe, partner, mis_id=None):
        self._check(actor, dfe, "setup")
        self.state[dfe] = {"state": "connected", "partner": partner, "mis_id": mis_id}

    def enable(self, actor, dfe):
        from frs.storage.service import Refused

        self._check(actor, dfe, "setup")
        if self.state.get(dfe, {}).get("state") != "connected":
            raise Refused("Connect your MIS before enabling Data Exchange.", code="state")
        self.state[dfe]["state"] = "enabled"

    def disable(self, actor, dfe):
        self._check(actor, dfe, "setup")
        if dfe in self.state:
            self.state[dfe]["state"] = "connected"


def web_kernel():
    """The tests' kernel (conftest.TEST_CONFIG) plus the blank pupil source, so templates can be made,
    and the KS5 measures, so reports can be analysed."""
    import tomllib

    from conftest import TEST_CONFIG
    from frs.config import parse
    from frs.kernel import Kernel

    raw = tomllib.loads(TEST_CONFIG)
    raw["plugins"]["enabled"] = ["ks5_alevel", "blank", "ks5_measures"]  # measures: the dashboards
    return Kernel(parse(raw))


def web_service(service):
    """The same database and file store as ``service``, on :func:`web_kernel`."""
    from frs.storage.service import Service

    return Service(web_kernel(), service.engine, service.store)
