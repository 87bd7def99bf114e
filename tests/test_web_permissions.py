"""Every page and API route x every kind of user, over HTTP to a real server, on SQLite and
PostgreSQL: anonymous, a user of another school, a member with no permission, Setup only, Manage
Data, and an operator. A user of one school gets 404 for anything of another school."""

from __future__ import annotations

import httpx
import pytest

from conftest import MANAGER, OTHER_MANAGER, OTHER_SCHOOL, SCHOOL, SETUP_ONLY, make_ks5_with_errors, \
    make_ks5_workbook
from webkit import (MEMBER_ONLY, OPERATOR_EMAIL, FakeDataExchange, csrf, give_passwords, live_server, sign_in,
                    web_service)

KINDS = ("anonymous", "other_school", "member", "setup", "operator", "manager")  # manager last: it changes things
EMAILS = {"other_school": OTHER_MANAGER, "member": MEMBER_ONLY, "setup": SETUP_ONLY, "manager": MANAGER,
          "operator": OPERATOR_EMAIL}
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@pytest.fixture
def world(people, storage_kernel):
    """Uploads at both schools, passwords for everyone, and the app served on loopback."""
    from frs.web.app import create_app

    svc = web_service(people)
    svc.add_user(MEMBER_ONLY, SCHOOL, ["member"])
    give_passwords(svc, [MANAGER, SETUP_ONLY, OTHER_MANAGER, MEMBER_ONLY])
    ids = {}
    for school, manager in ((SCHOOL, MANAGER), (OTHER_SCHOOL, OTHER_MANAGER)):
        bad = make_ks5_with_errors(storage_kernel, school)
        good = make_ks5_workbook(storage_kernel, school_dfe=school)
        ids[school] = {
            "err": svc.upload(manager, bad, "bad.xlsx").upload.id,
            "ok": svc.upload(manager, good, "good.xlsx").upload.id,
            "del": svc.upload(manager, good, "again.xlsx").upload.id,
        }
    _analyse_ks5(svc)
    dx = FakeDataExchange(svc, connected=(SCHOOL, OTHER_SCHOOL))
    app = create_app(service=svc, data_exchange=dx, secret="test-secret")
    with live_server(app) as base:
        yield svc, base, ids, storage_kernel


def _analyse_ks5(svc):
    """Stored KS5 results for both schools (straight from synthetic cohorts), for the report pages."""
    import dataclasses

    from frs.analysis import runner, synthetic as syn

    maker = syn.SchoolMaker(svc.kernel, pupils=12, key_stage=5, year=2021)
    cohorts = [dataclasses.replace(maker.make(i), school_dfe=dfe) for i, dfe in enumerate((SCHOOL, OTHER_SCHOOL))]
    runner.analyse_cohorts(svc, cohorts, collection_id=1, pdfs=False)


def _clients(base):
    clients = {"anonymous": httpx.Client(base_url=base, follow_redirects=False, timeout=30)}
    for kind, email in EMAILS.items():
        clients[kind] = sign_in(base, email)
    return clients


def _outcome(response) -> str:
    if response.status_code in (302, 303) and response.headers["location"].startswith("/sign-in"):
        return "signin"
    if response.status_code in (302, 303):
        return "ok"
    return {200: "ok", 400: "ok-refused", 401: "signin", 403: "403", 404: "404", 409: "409"}.get(
        response.status_code, str(response.status_code))


# expected outcome per kind: anonymous, other_school, member, setup, operator, manager
HOME = ("signin", "404", "ok", "ok", "404", "ok")
MANAGE = ("signin", "404", "403", "403", "404", "ok")
OPERATOR_ONLY = ("signin", "404", "404", "404", "ok", "404")
REPORTS = ("signin", "404", "ok", "ok", "ok", "ok")  # any user of the school, and operators

PAGES = [
    ("GET", "/school/{A}", HOME),
    ("GET", "/school/{A}/data-exchange", HOME),
    ("GET", "/school/{A}/template/ks5_alevel", MANAGE),
    ("GET", "/school/{A}/upload", MANAGE),
    ("GET", "/school/{A}/uploads", MANAGE),
    ("GET", "/uploads/{err}", MANAGE),
    ("GET", "/uploads/{err}/file", MANAGE),
    ("GET", "/uploads/{err}/errors.xlsx", MANAGE),
    ("GET", "/uploads/{err}/annotated.xlsx", MANAGE),
    ("GET", "/uploads/{ok}/delete", MANAGE),
    ("GET", "/school/{A}/reports", REPORTS),
    ("GET", "/reports/{A}/ks5-2021", REPORTS),
    ("GET", "/reports/{A}/ks5-2021/pupils", REPORTS),
    ("GET", "/reports/{A}/ks5-2021/summary.pdf", REPORTS),
    ("GET", "/reports/{A}/ks5-2021/results.xlsx", REPORTS),
    ("GET", "/reports/{A}/ks5-2021/ks5_alevel", REPORTS),  # the upload history's "View reports"
    ("GET", "/operator", OPERATOR_ONLY),
    ("GET", "/operator/schools", OPERATOR_ONLY),
    ("GET", "/operator/collections", OPERATOR_ONLY),
    # forms, each sent with the user's own valid CSRF token
    ("POST", "/uploads/{ok}/confirm", ("signin", "404", "403", "403", "404", "ok-refused")),  # no tick: refused
    ("POST", "/school/{A}/upload", MANAGE),
    ("POST", "/reports/{A}/ks5-2021", REPORTS),  # what if (no pupil ticked)
    ("POST", "/reports/{A}/ks5-2021/pupils", REPORTS),
    ("POST", "/reports/{A}/ks5-2021/results.xlsx", REPORTS),
    ("POST", "/school/{A}/data-exchange/enable", ("signin", "404", "403", "ok", "404", "403")),
    ("POST", "/uploads/{del}/delete", MANAGE),
]


def test_every_page_for_every_kind_of_user(world):
    svc, base, ids, kernel = world
    clients = _clients(base)
    good = make_ks5_workbook(kernel)
    a = ids[SCHOOL]
    failures = []
    for method, template, expected in PAGES:
        path = template.format(A=SCHOOL, **a)
        for kind, want in zip(KINDS, expected):
            client = clients[kind]
            if method == "GET":
                response = client.get(path)
            else:
                token = csrf(client.get("/sign-in").text) if kind != "anonymous" else "x"
                files = {"file": ("good.xlsx", good, XLSX)} if path.endswith("/upload") else None
                response = client.post(path, data={"csrf_token": token}, files=files)
            got = _outcome(response)
            if got != want:
                failures.append(f"{method} {path} as {kind}: expected {want}, got {got} ({response.status_code})")
    assert not failures, "\n".join(failures)
    # the forms that should have worked did: the manager's delete, the setup user's enable
    assert svc.show(MANAGER, a["del"])[0].status == "Deleted"
    assert svc.show(MANAGER, a["ok"])[0].status == "Awaiting confirmation"  # refused without the tick


def test_a_user_of_one_school_gets_404_for_everything_of_another(world):
    _svc, base, ids, _kernel = world
    client = sign_in(base, MANAGER)
    b = ids[OTHER_SCHOOL]
    token = csrf(client.get("/sign-in").text)
    paths = [f"/school/{OTHER_SCHOOL}", f"/school/{OTHER_SCHOOL}/uploads", f"/school/{OTHER_SCHOOL}/upload",
             f"/school/{OTHER_SCHOOL}/template/ks5_alevel", f"/school/{OTHER_SCHOOL}/data-exchange",
             f"/school/{OTHER_SCHOOL}/reports", f"/reports/{OTHER_SCHOOL}/ks5-2021",
             f"/reports/{OTHER_SCHOOL}/ks5-2021/pupils", f"/reports/{OTHER_SCHOOL}/ks5-2021/summary.pdf",
             f"/reports/{OTHER_SCHOOL}/ks5-2021/results.xlsx"]
    paths += [f"/uploads/{b[k]}{tail}" for k in b for tail in ("", "/file", "/errors.xlsx", "/annotated.xlsx",
                                                               "/delete")]
    for path in paths:
        response = client.get(path)
        assert response.status_code == 404, path
        assert "Other School" not in response.text and "bad.xlsx" not in response.text
    for path in (f"/uploads/{b['ok']}/confirm", f"/uploads/{b['del']}/delete",
                 f"/school/{OTHER_SCHOOL}/data-exchange/enable"):
        assert client.post(path, data={"csrf_token": token, "accept_terms": "yes"}).status_code == 404, path
    assert client.get("/uploads/999999").status_code == 404  # a missing upload looks the same


API = [  # (method, path, expected for: anonymous, other_school, member, setup, manager)
    ("GET", "/api/v1/me", ("401", "200", "200", "200", "200")),
    ("GET", "/api/v1/schools/{A}", ("401", "404", "200", "200", "200")),
    ("GET", "/api/v1/schools/{A}/uploads", ("401", "404", "403", "403", "200")),
    ("GET", "/api/v1/schools/{A}/templates/ks5_alevel", ("401", "404", "403", "403", "200")),
    ("GET", "/api/v1/schools/{A}/data-exchange", ("401", "404", "200", "200", "200")),
    ("GET", "/api/v1/uploads/{err}", ("401", "404", "403", "403", "200")),
    ("GET", "/api/v1/uploads/{err}/file", ("401", "404", "403", "403", "200")),
    ("GET", "/api/v1/uploads/{err}/errors.xlsx", ("401", "404", "403", "403", "200")),
    ("GET", "/api/v1/uploads/{err}/annotated.xlsx", ("401", "404", "403", "403", "200")),
    ("POST", "/api/v1/uploads/{ok}/confirm", ("401", "404", "403", "403", "422")),  # no accept_terms
    ("POST", "/api/v1/schools/{A}/data-exchange/enable", ("401", "404", "403", "200", "403")),
    ("DELETE", "/api/v1/uploads/{del}", ("401", "404", "403", "403", "200")),
]


def test_every_api_route_for_every_kind_of_token(world):
    from frs.services import accounts

    svc, base, ids, _kernel = world
    tokens = {"anonymous": "frs_not-a-real-token"}
    for kind in ("other_school", "member", "setup", "manager"):
        tokens[kind] = accounts.create_token(svc, EMAILS[kind])
    a = ids[SCHOOL]
    failures = []
    with httpx.Client(base_url=base, timeout=30) as client:
        for method, template, expected in API:
            path = template.format(A=SCHOOL, **a)
            for kind, want in zip(("anonymous", "other_school", "member", "setup", "manager"), expected):
                response = client.request(method, path, headers={"Authorization": f"Bearer {tokens[kind]}"})
                if str(response.status_code) != want:
                    failures.append(f"{method} {path} as {kind}: expected {want}, got {response.status_code}")
                elif response.status_code >= 400:
                    code = response.json()["error"]["code"]  # every refusal has a stable code
                    assert code in {"401": ["unauthenticated"], "403": ["forbidden"], "404": ["not-found"],
                                    "422": ["terms"]}[want], (path, kind, code)
    assert not failures, "\n".join(failures)
