"""The JSON API as a script uses it: upload, see the issues, confirm, list, download, delete;
refusals with stable codes; and a session ends when the password changes."""

from __future__ import annotations

import httpx
import pytest

from conftest import MANAGER, SCHOOL, make_ks5_with_errors, make_ks5_workbook
from webkit import give_passwords, live_server, sign_in, web_service

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@pytest.fixture
def api(people):
    from frs.services import accounts
    from frs.web.app import create_app

    svc = web_service(people)
    give_passwords(svc, [MANAGER])
    token = accounts.create_token(svc, MANAGER)
    with live_server(create_app(service=svc, secret="test-secret")) as base:
        with httpx.Client(base_url=f"{base}/api/v1", headers={"Authorization": f"Bearer {token}"}, timeout=60) as c:
            yield svc, base, c


def test_the_journey_through_the_api(api, storage_kernel):
    svc, _base, client = api
    bad = client.post(f"/schools/{SCHOOL}/uploads", files={"file": ("bad.xlsx", make_ks5_with_errors(storage_kernel),
                                                                     XLSX)})
    assert bad.status_code == 201 and bad.json()["status"] == "Upload error"
    assert {(i["row"], i["column"]) for i in bad.json()["issues"]} >= {(4, "K"), (5, "L")}
    detail = client.get(f"/uploads/{bad.json()['id']}", params={"limit": 1})
    assert detail.json()["issues_total"] == len(bad.json()["issues"]) and len(detail.json()["issues"]) == 1
    assert client.get(f"/uploads/{bad.json()['id']}/errors.xlsx").content[:2] == b"PK"

    data = make_ks5_workbook(storage_kernel)
    good = client.post(f"/schools/{SCHOOL}/uploads", files={"file": ("good.xlsx", data, XLSX)},
                       data={"keystage": "ks5_alevel"}).json()
    assert good["status"] == "Awaiting confirmation" and good["pupils"] == 3
    refused = client.post(f"/uploads/{good['id']}/confirm", json={"accept_terms": False})
    assert refused.status_code == 422 and refused.json()["error"]["code"] == "terms"
    confirmed = client.post(f"/uploads/{good['id']}/confirm", json={"accept_terms": True})
    assert confirmed.status_code == 200 and confirmed.json()["status"] == "Processing"
    again = client.post(f"/uploads/{good['id']}/confirm", json={"accept_terms": True})
    assert again.status_code == 409 and again.json()["error"]["code"] == "state"

    assert client.get(f"/uploads/{good['id']}/file").content == data
    history = client.get(f"/schools/{SCHOOL}/uploads").json()
    assert [u["status"] for u in history] == ["Processing", "Upload error"]
    deleted = client.delete(f"/uploads/{bad.json()['id']}").json()
    assert deleted["status"] == "Deleted"
    assert client.get(f"/uploads/{bad.json()['id']}/file").json()["error"]["code"] == "state"
    assert [u["status"] for u in client.get(f"/schools/{SCHOOL}/uploads", params={"include_hidden": False}).json()
            ] == ["Processing"]
    home = client.get(f"/schools/{SCHOOL}").json()
    assert home["rounds"][0]["templates"][0]["status"] == "Completed"
    assert home["data_exchange"]["state"] == "not connected"


def test_api_refusals_have_stable_codes(api):
    _svc, _base, client = api
    not_excel = client.post(f"/schools/{SCHOOL}/uploads", files={"file": ("notes.xlsx", b"hello there", XLSX)})
    assert not_excel.status_code == 422 and not_excel.json()["error"]["code"] == "gate"
    assert client.post(f"/schools/{SCHOOL}/uploads").json()["error"]["code"] == "bad-request"  # no file
    assert client.get("/uploads/424242").json()["error"]["code"] == "not-found"
    assert client.get("/nowhere").status_code == 404


def test_changing_the_password_ends_existing_sessions(api):
    from frs.services import accounts

    svc, base, _client = api
    browser = sign_in(base, MANAGER)
    assert browser.get(f"/school/{SCHOOL}").status_code == 200
    accounts.set_password(svc, MANAGER, "a brand new password")
    response = browser.get(f"/school/{SCHOOL}")
    assert response.status_code == 303 and response.headers["location"].startswith("/sign-in")
