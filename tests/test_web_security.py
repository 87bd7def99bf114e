"""The portal's guards over HTTP: CSRF, lock-out, the upload cap on a streamed 1 GB body, security
headers and cookies, API tokens, escaping of user text, and safe redirects."""

from __future__ import annotations

import datetime as dt
import os
import re

import httpx
import pytest
from click.testing import CliRunner

from conftest import MANAGER, SCHOOL, make_ks5_workbook
from webkit import PASSWORD, csrf, give_passwords, live_server, sign_in, web_service

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@pytest.fixture
def site(people):
    from frs.web.app import create_app

    svc = web_service(people)
    give_passwords(svc, [MANAGER])
    with live_server(create_app(service=svc, secret="test-secret")) as base:
        yield svc, base


@pytest.fixture
def sqlite_site(storage_kernel, tmp_path, monkeypatch):
    """The same on SQLite only, for tests about the web layer rather than the database."""
    from frs.storage import db
    from frs.storage.files import FileStore
    from frs.storage.service import Service
    from frs.web.app import create_app
    from webkit import web_kernel

    monkeypatch.setenv("FRS_NOW", "2021-08-20T10:00")
    svc = Service(web_kernel(), db.make_engine(f"sqlite:///{tmp_path / 'frs.db'}"), FileStore(tmp_path / "files"))
    svc.init_db()
    svc.add_school(SCHOOL, "Test School")
    svc.add_user(MANAGER, SCHOOL, ["manage_data"])
    give_passwords(svc, [MANAGER])
    with live_server(create_app(service=svc, secret="test-secret")) as base:
        yield svc, base


def test_forms_without_the_session_csrf_token_are_refused(site, storage_kernel):
    svc, base = site
    upload_id = svc.upload(MANAGER, make_ks5_workbook(storage_kernel), "good.xlsx").upload.id
    client = sign_in(base, MANAGER)
    for token in (None, "", "forged-token"):
        data = {"accept_terms": "yes"} | ({"csrf_token": token} if token is not None else {})
        assert client.post(f"/uploads/{upload_id}/confirm", data=data).status_code == 403
        assert client.post(f"/uploads/{upload_id}/delete", data=data).status_code == 403
    assert svc.show(MANAGER, upload_id)[0].status == "Awaiting confirmation"  # nothing happened
    # a token from another session does not work either
    other = sign_in(base, MANAGER)
    stolen = csrf(other.get("/sign-in").text)
    assert client.post(f"/uploads/{upload_id}/confirm", data={"csrf_token": stolen, "accept_terms": "yes"}
                       ).status_code == 403
    # the sign-in form needs it too
    fresh = httpx.Client(base_url=base)
    assert fresh.post("/sign-in", data={"email": MANAGER, "password": PASSWORD}).status_code == 403
    # with its own token the same request goes through
    token = csrf(client.get(f"/uploads/{upload_id}").text)
    assert client.post(f"/uploads/{upload_id}/confirm", data={"csrf_token": token, "accept_terms": "yes"}
                       ).status_code == 303


def test_repeated_wrong_passwords_lock_the_account_for_a_growing_time(sqlite_site):
    from frs.services import accounts

    svc, base = sqlite_site
    client = httpx.Client(base_url=base)
    token = csrf(client.get("/sign-in").text)
    statuses = [client.post("/sign-in", data={"email": MANAGER, "password": f"wrong {n}", "csrf_token": token}
                            ).status_code for n in range(accounts.FREE_FAILURES)]
    assert statuses[:-1] == [401] * (accounts.FREE_FAILURES - 1) and statuses[-1] == 429
    # locked: even the right password is refused now
    right = client.post("/sign-in", data={"email": MANAGER, "password": PASSWORD, "csrf_token": token})
    assert right.status_code == 429 and "frs_session" not in right.headers.get("set-cookie", "") or \
        right.status_code == 429
    assert not client.get("/school/" + SCHOOL).status_code == 200
    # the lock lasts a minute, and doubles with the next failure after it
    now = dt.datetime.now(dt.timezone.utc)
    with pytest.raises(accounts.SignInRefused) as locked:
        accounts.sign_in(svc, MANAGER, PASSWORD, now=now + dt.timedelta(seconds=50))
    assert locked.value.code == "locked"
    with pytest.raises(accounts.SignInRefused) as wrong:
        accounts.sign_in(svc, MANAGER, "wrong again", now=now + dt.timedelta(minutes=2))
    assert wrong.value.code == "locked" and 60 < wrong.value.retry_after <= 120
    assert accounts.sign_in(svc, MANAGER, PASSWORD, now=now + dt.timedelta(minutes=5)).email == MANAGER
    # success clears the count: one wrong password afterwards is an ordinary refusal
    with pytest.raises(accounts.SignInRefused) as after:
        accounts.sign_in(svc, MANAGER, "wrong", now=now + dt.timedelta(minutes=6))
    assert after.value.code == "bad-credentials"


def test_unknown_email_is_refused_like_a_wrong_password(sqlite_site):
    _svc, base = sqlite_site
    client = httpx.Client(base_url=base)
    token = csrf(client.get("/sign-in").text)
    unknown = client.post("/sign-in", data={"email": "nobody@x.uk", "password": "whatever12", "csrf_token": token})
    wrong = client.post("/sign-in", data={"email": MANAGER, "password": "whatever12", "csrf_token": token})
    assert unknown.status_code == wrong.status_code == 401
    strip = lambda text: re.sub(r'value="[^"]*"', "", text)  # noqa: E731  (the typed email is echoed back)
    assert strip(unknown.text) == strip(wrong.text)


def _rss_kib() -> int:
    with open("/proc/self/status") as handle:
        return int(re.search(r"VmRSS:\s+(\d+)", handle.read()).group(1))


@pytest.mark.parametrize("declared", [True, False], ids=["content-length", "chunked"])
def test_a_streamed_1gb_upload_is_refused_early_with_flat_memory(sqlite_site, declared):
    svc, base = sqlite_site
    client = sign_in(base, MANAGER)
    token = csrf(client.get(f"/school/{SCHOOL}/upload").text)
    chunk = b"\0" * (1 << 20)  # one buffer, sent again and again: the client allocates nothing
    sent = {"bytes": 0}
    total = 1 << 30

    def body():  # a well-formed start of a multipart form, then a file that never ends
        yield (b'--x\r\nContent-Disposition: form-data; name="file"; filename="big.xlsx"\r\n'
               b"Content-Type: application/octet-stream\r\n\r\n")
        while sent["bytes"] < total:
            sent["bytes"] += len(chunk)
            yield chunk

    headers = {"content-type": "multipart/form-data; boundary=x", "x-csrf": token}
    if declared:
        headers["content-length"] = str(total)
    before = _rss_kib()
    try:
        response = client.post(f"/school/{SCHOOL}/upload", content=body(), headers=headers, timeout=60)
        status = response.status_code
    except (httpx.WriteError, httpx.RemoteProtocolError, httpx.ReadError):
        status = 413  # the server answered and closed while the client was still sending
    grown_mib = (_rss_kib() - before) / 1024
    limit = svc.kernel.config.limits.max_upload_bytes
    assert status == 413
    assert sent["bytes"] < limit + 64 * (1 << 20), f"{sent['bytes']:,} bytes were read before refusing"
    assert grown_mib < 100, f"memory grew by {grown_mib:.0f} MiB"
    # the API refuses the same way, with its JSON error code
    # the API refuses the same way, with its JSON error code, having read none of the body
    import json
    import socket

    host, port = base.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        sock.sendall(f"POST /api/v1/schools/{SCHOOL}/uploads HTTP/1.1\r\nHost: x\r\nContent-Length: {total}\r\n"
                     "Content-Type: multipart/form-data; boundary=x\r\nAuthorization: Bearer frs_x\r\n\r\n".encode())
        answer = b""
        while b"\r\n\r\n" not in answer or not answer.rstrip().endswith(b"}"):
            part = sock.recv(65536)
            if not part:
                break
            answer += part
    head, _, payload = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 413") and json.loads(payload)["error"]["code"] == "too-large"


def test_security_headers_and_session_cookie(sqlite_site):
    _svc, base = sqlite_site
    response = httpx.get(f"{base}/sign-in")
    csp = response.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp and "frame-ancestors 'none'" in csp
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["referrer-policy"] == "same-origin"
    assert "no-store" in response.headers["cache-control"]
    assert "<script>" not in response.text and " style=" not in response.text  # nothing inline for CSP to allow
    cookie = response.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" not in cookie  # plain http here
    assert httpx.get(f"{base}/api/v1/me").headers["content-security-policy"] == csp  # the API too


def test_over_https_the_cookie_is_secure_and_hsts_is_sent(storage_kernel, tmp_path):
    """Behind a TLS-terminating proxy (frs serve --proxy-headers), as the proxy reports HTTPS."""
    from frs.storage import db
    from frs.storage.files import FileStore
    from frs.storage.service import Service
    from frs.web.app import create_app

    svc = Service(storage_kernel, db.make_engine(f"sqlite:///{tmp_path / 'frs.db'}"), FileStore(tmp_path / "f"))
    svc.init_db()
    with live_server(create_app(service=svc, secret="s"), proxy_headers=True, forwarded_allow_ips="127.0.0.1") as base:
        response = httpx.get(f"{base}/sign-in", headers={"x-forwarded-proto": "https"})
        plain = httpx.get(f"{base}/sign-in")
    assert "Secure" in response.headers["set-cookie"]
    assert response.headers["strict-transport-security"].startswith("max-age=")
    assert "Secure" not in plain.headers["set-cookie"] and "strict-transport-security" not in plain.headers


def test_user_text_is_escaped_and_file_names_never_break_a_header(site, storage_kernel):
    svc, base = site
    name = '<img src=x onerror=alert(1)>"\r\nSet-Cookie: x=1;.xlsx'
    upload_id = svc.upload(MANAGER, make_ks5_workbook(storage_kernel), name).upload.id
    client = sign_in(base, MANAGER)
    page = client.get(f"/uploads/{upload_id}").text
    assert "<img src=x" not in page and "&lt;img src=x onerror=alert(1)&gt;" in page
    assert "<img src=x" not in client.get(f"/school/{SCHOOL}/uploads").text
    download = client.get(f"/uploads/{upload_id}/file")
    assert download.status_code == 200
    disposition = download.headers["content-disposition"]
    assert "\r" not in disposition and "\n" not in disposition and "x=1" not in download.headers.get("set-cookie", "")
    assert disposition.startswith('attachment; filename="') and "filename*=UTF-8''" in disposition


def test_sign_in_only_returns_to_a_path_on_this_site(sqlite_site):
    _svc, base = sqlite_site
    for target, lands in (("//evil.example/x", "/"), ("https://evil.example/", "/"), (f"/school/{SCHOOL}/uploads",
                                                                                       f"/school/{SCHOOL}/uploads")):
        client = httpx.Client(base_url=base)
        token = csrf(client.get(f"/sign-in?next={target}").text)
        response = client.post("/sign-in", data={"email": MANAGER, "password": PASSWORD, "csrf_token": token,
                                                 "next": target})
        assert response.status_code == 303 and response.headers["location"] == lands


def test_api_tokens_from_the_command_line(db_url, config_file, tmp_path, monkeypatch):
    from frs.cli import main
    from frs.storage import db as dbmod

    monkeypatch.setenv("FRS_DATABASE_URL", db_url)
    monkeypatch.setenv("FRS_HOME", str(tmp_path))
    monkeypatch.setenv("FRS_CONFIG", str(config_file))
    runner = CliRunner()
    assert runner.invoke(main, ["db", "init"]).exit_code == 0
    assert runner.invoke(main, ["schools", "add", "--dfe", SCHOOL, "--name", "Test School"]).exit_code == 0
    assert runner.invoke(main, ["users", "add", MANAGER, "--school", SCHOOL, "--permission", "manage_data"]
                         ).exit_code == 0
    made = runner.invoke(main, ["users", "token", MANAGER, "--label", "script"])
    assert made.exit_code == 0, made.output
    token = made.stdout.strip()
    assert made.stdout == token + "\n" and token.startswith("frs_") and len(token) > 40  # the token alone
    assert runner.invoke(main, ["users", "token", "nobody@x.uk"]).exit_code == 1
    # only a hash is stored
    engine = dbmod.make_engine(db_url)
    with engine.connect() as conn:
        from sqlalchemy import text

        stored = [tuple(str(v) for v in row) for row in conn.execute(text("SELECT * FROM api_token"))]
    engine.dispose()
    assert stored and not any(token in value for row in stored for value in row)
    # the token works over HTTP, then stops once revoked
    from frs import config as cfg
    from frs.kernel import Kernel
    from frs.storage.service import Service
    from frs.web.app import create_app

    svc = Service.from_kernel(Kernel(cfg.load(config_file)))
    with live_server(create_app(service=svc, secret="s")) as base:
        auth = {"Authorization": f"Bearer {token}"}
        me = httpx.get(f"{base}/api/v1/me", headers=auth)
        assert me.status_code == 200 and me.json()["email"] == MANAGER
        listed = runner.invoke(main, ["users", "tokens", "--json"])
        entry = [t for t in __import__("json").loads(listed.stdout) if t["email"] == MANAGER][0]
        assert entry["label"] == "script" and not entry["revoked"] and entry["last_used_at"]
        assert runner.invoke(main, ["users", "revoke-token", str(entry["id"])]).exit_code == 0
        refused = httpx.get(f"{base}/api/v1/me", headers=auth)
        assert refused.status_code == 401 and refused.json()["error"]["code"] == "unauthenticated"
    svc.engine.dispose()
    assert os.environ["FRS_DATABASE_URL"] == db_url


def test_openapi_document_lists_the_journey(sqlite_site):
    _svc, base = sqlite_site
    spec = httpx.get(f"{base}/openapi.json").json()
    paths = spec["paths"]
    for path in ("/api/v1/schools/{dfe}/uploads", "/api/v1/uploads/{upload_id}/confirm",
                 "/api/v1/uploads/{upload_id}", "/api/v1/schools/{dfe}/templates/{keystage}",
                 "/api/v1/schools/{dfe}/data-exchange/enable", "/api/v1/uploads/{upload_id}/annotated.xlsx"):
        assert path in paths, path
    assert not any(p.startswith("/school/") or p.startswith("/sign-in") for p in paths)  # pages are not API
    assert "delete" in paths["/api/v1/uploads/{upload_id}"]
