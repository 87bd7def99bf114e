"""The dashboards in the portal, over HTTP to a real server, on SQLite and PostgreSQL: KS4 and KS5
pages with the stored figures and their comparisons, the pupil-group filter, "what if" with pupils
left out, the Excel export (user text never a formula), the PDF download, who may see them, and
the upload history's "View reports" link.

Results are stored straight through the analysis service from synthetic cohorts (the collection
that would feed it in production is not needed here)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import io
import re

import httpx
import openpyxl
import pytest
from markupsafe import escape
from sqlmodel import select

from conftest import OTHER_SCHOOL, SCHOOL
from frs.analysis import engine, runner, service as analysis, synthetic as syn
from frs.services import reports
from frs.storage import db
from frs.storage.files import FileStore
from frs.storage.models import PROCESSING, School, Upload, User
from frs.storage.service import OPERATOR, Refused, Service
from webkit import MEMBER_ONLY, OPERATOR_EMAIL, FakeDataExchange, csrf, give_passwords, live_server, sign_in

MANAGER, OTHER_MANAGER = "manager@a.sch.uk", "manager@b.sch.uk"
KS4, KS5 = "ks4-2020", "ks5-2021"
HOSTILE_NAME = '=HYPERLINK("http://evil.example","x")'


@pytest.fixture
def world(kernel, db_url, tmp_path):
    """Five KS4 schools and three KS5 schools analysed (SCHOOL and OTHER_SCHOOL among them; one of
    SCHOOL's pupils has a formula for a name), SCHOOL's KS4 upload marked by the analysis, users of
    both schools, an operator, and the app served on loopback."""
    from frs.web.app import create_app

    engine = db.make_engine(db_url)
    svc = Service(kernel, engine, FileStore(tmp_path / "files"))
    svc.init_db()
    svc.add_school(SCHOOL, "Test School")
    svc.add_school(OTHER_SCHOOL, "Other School")
    svc.add_user(MEMBER_ONLY, SCHOOL, ["member"])
    svc.add_user(MANAGER, SCHOOL, ["manage_data"])
    svc.add_user(OTHER_MANAGER, OTHER_SCHOOL, ["manage_data", "setup"])
    give_passwords(svc, [MEMBER_ONLY, MANAGER, OTHER_MANAGER])
    with db.session(svc.engine, write=True) as s:
        school = s.exec(select(School).where(School.dfe == SCHOOL)).first()
        user = s.exec(select(User).where(User.email == MANAGER)).first()
        upload = Upload(school_id=school.id, keystage="ks4_gcse", round_id=KS4, filename="gcse.xlsx", sha256="0" * 64,
                        size=1, status=PROCESSING, is_current=True, uploaded_by_id=user.id,
                        uploaded_at=dt.datetime.now(dt.timezone.utc))
        s.add(upload)
        s.commit()
        upload_id = upload.id
    ks4 = syn.SchoolMaker(kernel, pupils=40, key_stage=4, year=2020)
    schools = [ks4.make(i) for i in range(5)]
    first = schools[0]
    hostile = dataclasses.replace(first.pupils[0], forename=HOSTILE_NAME)
    schools[0] = dataclasses.replace(first, school_dfe=SCHOOL, school_name="Test School", upload_ids=(upload_id,),
                                     pupils=(hostile,) + first.pupils[1:])
    schools[1] = dataclasses.replace(schools[1], school_dfe=OTHER_SCHOOL, school_name="Other School")
    runner.analyse_cohorts(svc, schools, collection_id=1)
    ks5 = syn.SchoolMaker(kernel, pupils=30, key_stage=5, year=2021)
    sixth = [ks5.make(i) for i in range(3)]
    sixth[0] = dataclasses.replace(sixth[0], school_dfe=SCHOOL, school_name="Test School")
    runner.analyse_cohorts(svc, sixth, collection_id=2, pdfs=False)
    app = create_app(service=svc, data_exchange=FakeDataExchange(svc), secret="test-secret")
    with live_server(app) as base:
        yield svc, base, upload_id
    engine.dispose()


def _number(text: str) -> float:
    return float(text.replace(",", "").rstrip("%"))


def _tile(html: str, title: str) -> str:
    found = re.search(r'<h3 class="frs-tile__title">' + re.escape(title) + r'</h3>\s*<p class="frs-tile__value">'
                      r'([^<]+)</p>', html)
    assert found, f"no tile {title!r}"
    return found.group(1)


def test_a_member_sees_the_ks4_dashboard_with_the_stored_figures_and_comparisons(world):
    svc, base, _ = world
    report = analysis.school_report(svc, SCHOOL, KS4)
    client = sign_in(base, MEMBER_ONLY)  # neither Manage Data nor Setup
    response = client.get(f"/reports/{SCHOOL}/{KS4}")
    assert response.status_code == 200
    html = response.text
    assert _number(_tile(html, "Attainment 8")) == pytest.approx(report["measures"]["attainment8"], abs=0.05)
    assert _number(_tile(html, "English and maths grade 4 or above (%)")) == pytest.approx(
        report["measures"]["english_maths_4"], abs=0.05)
    assert _number(_tile(html, "Pupils at the end of KS4")) == 40
    # all schools and the national figure beside it
    mean = report["comparisons"]["all_schools"]["attainment8"]["mean"]
    assert f"All schools: {mean:,.1f}" in html and "National: 50.2" in html
    # charts are inline SVG with a text alternative, and the numbers are in tables too
    assert html.count('<svg class="frs-chart"') >= 2 and 'role="img"' in html and "<desc id=" in html
    element = report["measures"]["attainment8_ebacc"]
    assert f">{element:,.2f}</td>" in html
    for subject in report["subjects"]:
        assert str(escape(subject["subject"])) in html
    assert "Open: other qualifications" in html and "EBacc slots filled (of 3)" in html
    # the pupil groups with their counts
    for group in report["groups"]:
        assert group["label"] in html
    # nothing the strict CSP would block
    assert " style=" not in html and "<script>" not in html
    assert "content-security-policy" in response.headers


def _marks(html: str) -> tuple[int, int]:
    green = html.count("govuk-tag--green frs-sig") + html.count("frs-cell--above")
    red = html.count("govuk-tag--red frs-sig") + html.count("frs-cell--below")
    return green, red


def _expected_marks(shown: dict) -> int:
    # a significant headline is marked twice (tile and table); elements, slots and group cells once
    return (2 * sum(1 for r in shown["headlines"] if r["significance"])
            + sum(1 for r in shown["elements"] + shown["slots"] if r["significance"])
            + sum(1 for g in shown["groups"] for c in g["cells"] if c["significance"]))


def test_significance_is_coloured_only_where_significant_and_written_in_words(world, monkeypatch):
    svc, base, _ = world
    client = sign_in(base, MEMBER_ONLY)
    html = client.get(f"/reports/{SCHOOL}/{KS4}").text
    shown = reports.dashboard(svc, OPERATOR, SCHOOL, KS4)
    assert sum(_marks(html)) == _expected_marks(shown)  # the real figures: colour only where significant
    assert html.count("sig. above") + html.count("sig. below") == \
        sum(1 for g in shown["groups"] for c in g["cells"] if c["significance"])

    def every_difference_counts(ci, mean):  # make every figure significant, to see both colours
        if ci is None or mean is None:
            return "not significant", None
        return ("above", "green") if (ci[0] + ci[1]) / 2 > mean else ("below", "red")

    monkeypatch.setattr(engine, "significance", every_difference_counts)
    html = client.get(f"/reports/{SCHOOL}/{KS4}").text
    shown = reports.dashboard(svc, OPERATOR, SCHOOL, KS4)
    a8 = next(h for h in shown["headlines"] if h["key"] == "attainment8")
    above = a8["value"] > a8["all_schools"]
    tile = html[html.index('<h3 class="frs-tile__title">Attainment 8</h3>'):]
    tile = tile[: tile.index("</li>")]
    assert (f'govuk-tag--{"green" if above else "red"} frs-sig">Significantly {"above" if above else "below"}'
            in tile)
    green, red = _marks(html)
    assert green + red == _expected_marks(shown) > 0
    assert green == html.count("Significantly above") + html.count("sig. above")  # words with every colour
    assert red == html.count("Significantly below") + html.count("sig. below")


def test_the_pupil_list_shows_each_pupils_slots_and_flags(world):
    svc, base, _ = world
    report = analysis.school_report(svc, SCHOOL, KS4)
    html = sign_in(base, MEMBER_ONLY).get(f"/reports/{SCHOOL}/{KS4}/pupils").text
    assert html.count('name="exclude" type="checkbox"') == 40
    pupil = next(p for p in report["pupils"] if p["flags"] and p["slots"])
    row = html[html.index(f'value="{pupil["upn"]}"'):]
    row = row[: row.index("</tr>")]
    for flag in pupil["flags"]:
        assert flag in row
    for element, subject, grade, points in pupil["slots"]:
        assert f"{element.capitalize()}: {escape(subject)}, {grade} ({points:,.1f})" in row
    assert str(escape(HOSTILE_NAME)) in html  # escaped, shown as text


def test_what_if_recomputes_at_once_without_the_ticked_pupils(world):
    svc, base, _ = world
    client = sign_in(base, MEMBER_ONLY)
    page = client.get(f"/reports/{SCHOOL}/{KS4}/pupils").text
    upns = re.findall(r'name="exclude" type="checkbox" value="([^"]+)"', page)[:3]
    response = client.post(f"/reports/{SCHOOL}/{KS4}", data={"csrf_token": csrf(page), "exclude": upns})
    assert response.status_code == 200
    html = response.text
    expected = analysis.school_what_if(svc, SCHOOL, KS4, upns)
    assert _number(_tile(html, "Pupils at the end of KS4")) == 37
    assert _number(_tile(html, "Attainment 8")) == pytest.approx(expected["measures"]["attainment8"], abs=0.05)
    assert "leaving out 3 chosen pupils" in html
    ticked = re.findall(r'name="exclude" type="checkbox" value="([^"]+)" checked', html)
    assert sorted(ticked) == sorted(upns)  # shown ticked, to untick and recalculate
    # without a CSRF token nothing is recomputed
    assert client.post(f"/reports/{SCHOOL}/{KS4}", data={"exclude": upns}).status_code == 403
    # leaving every pupil out is refused with a clear message
    everyone = re.findall(r'name="exclude" type="checkbox" value="([^"]+)"', page)
    refused = client.post(f"/reports/{SCHOOL}/{KS4}", data={"csrf_token": csrf(page), "exclude": everyone})
    assert refused.status_code == 422 and "leaves no pupil" in refused.text
    # "Choose other pupils" keeps the ticks on the pupil list
    again = client.post(f"/reports/{SCHOOL}/{KS4}/pupils", data={"csrf_token": csrf(page), "exclude": upns}).text
    assert sorted(re.findall(r'value="([^"]+)" checked', again)) == sorted(upns)


def test_the_group_filter_recomputes_for_that_group_only(world):
    svc, base, _ = world
    report = analysis.school_report(svc, SCHOOL, KS4)
    girls = next(g for g in report["groups"] if (g["group"], g["value"]) == ("gender", "Female"))
    client = sign_in(base, MEMBER_ONLY)
    html = client.get(f"/reports/{SCHOOL}/{KS4}", params={"group": "gender:Female"}).text
    assert _number(_tile(html, "Pupils at the end of KS4")) == girls["pupils"]
    assert _number(_tile(html, "Attainment 8")) == pytest.approx(girls["measures"]["attainment8"], abs=0.05)
    listed = client.get(f"/reports/{SCHOOL}/{KS4}/pupils", params={"group": "gender:Female"}).text
    assert listed.count('name="exclude" type="checkbox"') == girls["pupils"]
    unknown = client.get(f"/reports/{SCHOOL}/{KS4}", params={"group": "gender:Nobody"})
    assert unknown.status_code == 422 and "no pupil group" in unknown.text
    for g in report["groups"]:  # a suppressed group cannot be chosen either
        offered = f'<option value="{g["group"]}:{g["value"]}"' in html
        assert offered == (not g["suppressed"])


def test_excel_export_has_the_figures_and_writes_user_text_as_strings(world):
    svc, base, _ = world
    report = analysis.school_report(svc, SCHOOL, KS4)
    client = sign_in(base, MEMBER_ONLY)
    response = client.get(f"/reports/{SCHOOL}/{KS4}/results.xlsx")
    assert response.status_code == 200 and "attachment" in response.headers["content-disposition"]
    book = openpyxl.load_workbook(io.BytesIO(response.content))
    assert {"About", "Headlines", "Subjects", "Pupils", "Pupil groups"} <= set(book.sheetnames)
    headlines = {row[0].value: row for row in book["Headlines"].iter_rows(min_row=2)}
    assert headlines["Attainment 8"][1].value == pytest.approx(report["measures"]["attainment8"])
    assert headlines["Attainment 8"][7].value == 50.2
    pupils = book["Pupils"]
    assert pupils.max_row == 41
    for row in pupils.iter_rows(min_row=2):
        for cell in row:
            assert cell.data_type != "f", (cell.coordinate, cell.value)
    names = [row[1].value for row in pupils.iter_rows(min_row=2)]
    assert any(name.startswith(HOSTILE_NAME) for name in names)
    # the what-if export leaves the ticked pupils out
    page = client.get(f"/reports/{SCHOOL}/{KS4}/pupils").text
    upns = re.findall(r'name="exclude" type="checkbox" value="([^"]+)"', page)[:2]
    what_if = client.post(f"/reports/{SCHOOL}/{KS4}/results.xlsx", data={"csrf_token": csrf(page), "exclude": upns})
    book = openpyxl.load_workbook(io.BytesIO(what_if.content))
    assert book["Pupils"].max_row == 39 and "what_if" in what_if.headers["content-disposition"]


def test_the_pdf_summary_downloads_from_the_dashboard(world):
    _svc, base, _ = world
    client = sign_in(base, MEMBER_ONLY)
    html = client.get(f"/reports/{SCHOOL}/{KS4}").text
    assert f'href="/reports/{SCHOOL}/{KS4}/summary.pdf"' in html
    response = client.get(f"/reports/{SCHOOL}/{KS4}/summary.pdf")
    assert response.status_code == 200 and response.content.startswith(b"%PDF")
    assert response.headers["content-type"] == "application/pdf"


def test_the_ks5_dashboard_shows_aps_subjects_and_cumulative_grades(world):
    svc, base, _ = world
    report = analysis.school_report(svc, SCHOOL, KS5)
    html = sign_in(base, MEMBER_ONLY).get(f"/reports/{SCHOOL}/{KS5}").text
    assert _number(_tile(html, "Average points per A-level entry")) == pytest.approx(
        report["measures"]["aps_per_entry"], abs=0.005)
    assert _number(_tile(html, "Best three A levels (points per A level)")) == pytest.approx(
        report["measures"]["best_three"], abs=0.005)
    assert _number(_tile(html, "A*-B (% of entries)")) == pytest.approx(report["measures"]["a_star_b"], abs=0.05)
    for label in ("A*-A", "A*-B", "A*-C", "A*-D", "A*-E"):
        assert f">{label}</th>" in html
    subject = report["subjects"][0]
    block = html[html.index(f">{escape(subject['subject'])}</th>"):]
    assert f">{subject['cumulative']['B']:,.1f}</td>" in block[:2000]
    assert "National" in block[:4000] and "All schools" in block[:4000]
    pupils = sign_in(base, MEMBER_ONLY).get(f"/reports/{SCHOOL}/{KS5}/pupils").text
    assert pupils.count('name="exclude" type="checkbox"') == 30


def test_who_may_see_a_schools_reports(world):
    _svc, base, _ = world
    paths = [f"/reports/{SCHOOL}/{KS4}", f"/reports/{SCHOOL}/{KS4}/pupils", f"/reports/{SCHOOL}/{KS4}/summary.pdf",
             f"/reports/{SCHOOL}/{KS4}/results.xlsx", f"/reports/{SCHOOL}/{KS5}", f"/school/{SCHOOL}/reports",
             f"/reports/{SCHOOL}/{KS4}/ks4_gcse"]
    other = sign_in(base, OTHER_MANAGER)
    for path in paths:
        response = other.get(path)
        assert response.status_code == 404, path
        assert "Test School" not in response.text
    token = csrf(other.get("/sign-in").text)
    for path in (f"/reports/{SCHOOL}/{KS4}", f"/reports/{SCHOOL}/{KS4}/results.xlsx",
                 f"/reports/{SCHOOL}/{KS4}/pupils"):
        assert other.post(path, data={"csrf_token": token}).status_code == 404, path
    for email in (MEMBER_ONLY, MANAGER, OPERATOR_EMAIL):
        client = sign_in(base, email)
        for path in paths:
            assert client.get(path).status_code in (200, 303), (email, path)
    anonymous = httpx.Client(base_url=base, follow_redirects=False)
    assert anonymous.get(paths[0]).headers["location"].startswith("/sign-in")
    # a round not analysed: a clear page, not an error
    missing = sign_in(base, MEMBER_ONLY).get(f"/reports/{SCHOOL}/ks2-2022")
    assert missing.status_code == 409 and "no reports for round ks2-2022 yet" in missing.text


def test_service_refuses_other_schools_and_allows_operators(world):
    svc, _base, _ = world
    with pytest.raises(Refused) as refused:
        reports.dashboard(svc, OTHER_MANAGER, SCHOOL, KS4)
    assert refused.value.code == "not-found"
    assert reports.dashboard(svc, OPERATOR, SCHOOL, KS4)["school"]["name"] == "Test School"
    assert [r["round_id"] for r in reports.available(svc, MEMBER_ONLY, SCHOOL)] == [KS5, KS4]
    assert [r["round_id"] for r in reports.available(svc, OTHER_MANAGER, OTHER_SCHOOL)] == [KS4]


def test_view_reports_in_the_upload_history_leads_to_the_dashboard(world):
    _svc, base, upload_id = world
    client = sign_in(base, MANAGER)
    history = client.get(f"/school/{SCHOOL}/uploads").text
    link = re.search(r'href="(/reports/[^"]+)">View reports', history)
    assert link, "no View reports link in the upload history"
    response = client.get(link.group(1))
    assert response.status_code == 303 and response.headers["location"] == f"/reports/{SCHOOL}/{KS4}"
    assert client.get(response.headers["location"]).status_code == 200
    listing = sign_in(base, MEMBER_ONLY).get(f"/school/{SCHOOL}/reports").text  # where a member starts
    assert f'href="/reports/{SCHOOL}/{KS4}"' in listing and f'href="/reports/{SCHOOL}/{KS5}"' in listing
