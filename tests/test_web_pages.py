"""What the pages show a school and an operator: task statuses, every issue paged, UK times, the
report link, Data Exchange without its service, and the operators' overview."""

from __future__ import annotations

import httpx
import pytest

from conftest import MANAGER, OTHER_MANAGER, OTHER_SCHOOL, SCHOOL, SETUP_ONLY, make_ks5_with_errors, \
    make_ks5_workbook
from webkit import OPERATOR_EMAIL, csrf, give_passwords, live_server, sign_in, web_service


@pytest.fixture
def site(people):
    from frs.web.app import create_app

    svc = web_service(people)
    give_passwords(svc, [MANAGER, SETUP_ONLY, OTHER_MANAGER])
    with live_server(create_app(service=svc, secret="test-secret")) as base:
        yield svc, base


def _task_statuses(html: str) -> list[str]:
    import re

    return [re.sub(r"<[^>]+>|\s+", " ", m).strip() for m in
            re.findall(r'class="govuk-task-list__status"[^>]*>(.*?)</div>', html, re.S)]


def test_home_task_list_follows_the_uploads(site, storage_kernel):
    svc, base = site
    client = sign_in(base, MANAGER)
    home = client.get(f"/school/{SCHOOL}").text
    assert _task_statuses(home) == ["Not yet started", "Not yet started", "Cannot start yet", "Cannot start yet"]
    assert "20 August 2021" not in home and "10 August 2021, midnight" in home  # key dates, UK time
    bad = svc.upload(MANAGER, make_ks5_with_errors(storage_kernel), "bad.xlsx").upload.id
    assert _task_statuses(client.get(f"/school/{SCHOOL}").text)[1] == "There is a problem"
    good = svc.upload(MANAGER, make_ks5_workbook(storage_kernel), "good.xlsx").upload.id
    home = client.get(f"/school/{SCHOOL}").text
    assert _task_statuses(home)[1:3] == ["In progress", "In progress"] and f'href="/uploads/{good}"' in home
    svc.confirm(MANAGER, good, accept_terms=True)
    assert _task_statuses(client.get(f"/school/{SCHOOL}").text)[:3] == ["Completed"] * 3
    assert bad


def test_every_issue_is_listed_with_its_cell_and_paged(site, storage_kernel):
    svc, base = site

    def many_mistakes(sheet):
        for row in range(4, 4 + 120):
            sheet.cell(row, 11).value = "X"  # gender, column K

    data = make_ks5_workbook(storage_kernel, pupils=120, edit=many_mistakes)
    upload_id = svc.upload(MANAGER, data, "many.xlsx").upload.id
    client = sign_in(base, MANAGER)
    first = client.get(f"/uploads/{upload_id}").text
    assert first.count('<tr class="govuk-table__row">') == 100 + 1  # header row + 100 issues
    assert f"/uploads/{upload_id}?page=2" in first and "Problems 1 to 100 of 120" in first
    second = client.get(f"/uploads/{upload_id}?page=2").text
    assert "Problems 101 to 120 of 120" in second and ">123</td>" in second  # the last pupil row, 123
    assert client.get(f"/uploads/{upload_id}?page=99").status_code == 200  # past the end: the last page


def test_history_shows_uk_time_and_the_report_link(site, storage_kernel):
    from sqlmodel import select

    from frs.storage.models import Upload

    svc, base = site
    upload_id = svc.upload(MANAGER, make_ks5_workbook(storage_kernel), "good.xlsx", confirm=True,
                           accept_terms=True).upload.id
    client = sign_in(base, MANAGER)
    page = client.get(f"/school/{SCHOOL}/uploads").text
    assert "20 August 2021 at 10:00am" in page  # FRS_NOW is UK time (BST); stored as 09:00 UTC
    assert "Reports due 15 Oct 2021" in page and "/reports/" not in page
    with svc._session(write=True) as s:  # the analysis engine marks it later
        upload = s.exec(select(Upload).where(Upload.id == upload_id)).one()
        upload.status = "Reports available"
        s.add(upload)
        s.commit()
    page = client.get(f"/school/{SCHOOL}/uploads").text
    assert f'href="/reports/{SCHOOL}/ks5-2021/ks5_alevel"' in page
    assert f'href="/reports/{SCHOOL}/ks5-2021/ks5_alevel"' in client.get(f"/school/{SCHOOL}").text


def test_data_exchange_not_connected_offers_connecting_and_refuses_enabling(site):
    """With the real Data Exchange service (frs.services.data_exchange): a Setup user of a school
    that is not connected is offered the connection form, and enabling first is refused."""
    svc, base = site
    client = sign_in(base, SETUP_ONLY)
    page = client.get(f"/school/{SCHOOL}/data-exchange").text
    assert "Not connected" in page and "Connect your MIS" in page
    assert '<button type="submit" class="govuk-button" data-module="govuk-button">Enable Data Exchange' not in page
    token = csrf(page)
    refused = client.post(f"/school/{SCHOOL}/data-exchange/enable", data={"csrf_token": token})
    assert refused.status_code == 409
    assert httpx.get(f"{base}/api/v1/schools/{SCHOOL}/data-exchange").status_code == 401


def test_confirm_page_refuses_without_the_tick_and_confirms_with_it(site, storage_kernel):
    svc, base = site
    upload_id = svc.upload(MANAGER, make_ks5_workbook(storage_kernel), "good.xlsx").upload.id
    client = sign_in(base, MANAGER)
    token = csrf(client.get(f"/uploads/{upload_id}").text)
    refused = client.post(f"/uploads/{upload_id}/confirm", data={"csrf_token": token})
    assert refused.status_code == 400 and 'href="#accept_terms"' in refused.text
    assert "<title>Error: " in refused.text
    assert svc.show(MANAGER, upload_id)[0].status == "Awaiting confirmation"
    done = client.post(f"/uploads/{upload_id}/confirm", data={"csrf_token": token, "accept_terms": "yes"})
    assert done.status_code == 303 and svc.show(MANAGER, upload_id)[0].status == "Processing"
    audit = [e for e in svc.audit(MANAGER, SCHOOL) if e["action"] == "confirm"]
    assert [e["outcome"] for e in audit] == ["refused", "ok"]  # the refusal is audited by the service


def test_operator_pages_show_who_has_not_uploaded_and_who_has_errors_only(site, storage_kernel):
    svc, base = site
    svc.upload(MANAGER, make_ks5_with_errors(storage_kernel), "bad.xlsx")
    client = sign_in(base, OPERATOR_EMAIL)
    assert client.get("/").headers["location"] == "/operator"
    overview = client.get("/operator").text
    assert "ks5_alevel" in overview and "ks5-2021" in overview
    errors_only = client.get("/operator/schools", params={"state": "Errors only"}).text
    assert f"({SCHOOL})" in errors_only and f"({OTHER_SCHOOL})" not in errors_only
    not_yet = client.get("/operator/schools", params={"state": "Not uploaded yet"}).text
    assert f"({OTHER_SCHOOL})" in not_yet and f"({SCHOOL})" not in not_yet
    svc.upload(OTHER_MANAGER, make_ks5_workbook(storage_kernel, school_dfe=OTHER_SCHOOL), "g.xlsx", confirm=True,
               accept_terms=True)
    collections = client.get("/operator/collections").text
    assert ">1</td>" in collections and ">3</td>" in collections  # one school, three pupils
    assert client.get(f"/school/{SCHOOL}").status_code == 404  # operators have no school pages
