"""The deadline collection, on SQLite and PostgreSQL: what is collected, the normalised rows and
their points, the per-school summary and status, idempotence, the hook, the round window, and
``frs collect`` / ``frs collections`` / ``frs report`` on the command line."""

from __future__ import annotations

import json
import tomllib

import pytest
from click.testing import CliRunner
from conftest import (MANAGER, OTHER_MANAGER, OTHER_SCHOOL, SCHOOL, make_ks5_with_errors, make_ks5_workbook)
from sqlalchemy import func, select

from frs import hookimpl
from frs.cli import main
from frs.config import parse
from frs.connectors import School as SchoolInfo
from frs.demo import fill_results
from frs.kernel import Kernel
from frs.services import collections as coll
from frs.storage import db
from frs.storage.files import FileStore
from frs.storage.models import AWAITING_CONFIRMATION, OVERWRITTEN, PROCESSING, REPORTS_AVAILABLE, UPLOAD_ERROR
from frs.storage.models_collect import CollectedPupil, CollectedResult, Collection
from frs.storage.service import Refused, Service

AFTER_CLOSE = "2021-09-03T17:00"  # KS5 2021 closes Fri 3 Sep 2021 17:00
THIRD_SCHOOL = "8012001"


@pytest.fixture(scope="module")
def files(storage_kernel):
    """Workbooks, built once: SCHOOL sends 3 pupils, then a better file of 4 (the first is
    Overwritten); OTHER_SCHOOL's first pupil has no results."""
    def clear_first_pupil(sheet):
        first = next(i for i, c in enumerate(storage_kernel.columns(storage_kernel.keystage("ks5_alevel")))
                     if c.kind == "result") + 1
        sheet.cell(4, first).value = sheet.cell(4, first + 1).value = None

    return {"old": make_ks5_workbook(storage_kernel, pupils=3), "new": make_ks5_workbook(storage_kernel, pupils=4),
            "other": make_ks5_workbook(storage_kernel, school_dfe=OTHER_SCHOOL, pupils=2, edit=clear_first_pupil),
            "errors": make_ks5_with_errors(storage_kernel)}


def round_ready(service, files):
    """Two schools with confirmed uploads, an overwritten one, one with errors, one unconfirmed."""
    service.add_school(SCHOOL, "Test School")
    service.add_school(OTHER_SCHOOL, "Other School")
    service.add_school(THIRD_SCHOOL, "Third School")
    service.add_user(MANAGER, SCHOOL, ["manage_data"])
    service.add_user(OTHER_MANAGER, OTHER_SCHOOL, ["manage_data"])
    service.add_user("third@c.sch.uk", THIRD_SCHOOL, ["manage_data"])
    ids = {}
    ids["old"] = service.upload(MANAGER, files["old"], "a.xlsx", confirm=True, accept_terms=True).upload.id
    ids["new"] = service.upload(MANAGER, files["new"], "b.xlsx", confirm=True, accept_terms=True).upload.id
    ids["errors"] = service.upload(MANAGER, files["errors"], "c.xlsx").upload.id
    ids["other"] = service.upload(OTHER_MANAGER, files["other"], "d.xlsx", confirm=True, accept_terms=True).upload.id
    third = make_ks5_workbook(service.kernel, school_dfe=THIRD_SCHOOL, pupils=1)
    ids["unconfirmed"] = service.upload("third@c.sch.uk", third, "e.xlsx").upload.id
    return ids


def status(service, school, upload_id):
    from frs.storage.service import OPERATOR

    return {u.id: u.status for u in service.list_uploads(OPERATOR, school, include_hidden=True)}[upload_id]


def test_a_closed_round_is_collected_once_with_points_and_a_summary(service, files, monkeypatch):
    ids = round_ready(service, files)
    monkeypatch.setenv("FRS_NOW", AFTER_CLOSE)
    seen = []
    summary = coll.collect(service, "ks5-2021", progress=lambda done, total: seen.append((done, total)))

    assert (summary.state, summary.schools, summary.uploads, summary.pupils, summary.results) == \
        ("complete", 2, 2, 6, 10)  # 4 pupils x 2 results, and 2 pupils of whom one has none
    assert seen[0] == (0, 2) and seen[-1] == (2, 2)
    assert status(service, SCHOOL, ids["new"]) == REPORTS_AVAILABLE
    assert status(service, OTHER_SCHOOL, ids["other"]) == REPORTS_AVAILABLE
    assert status(service, SCHOOL, ids["old"]) == OVERWRITTEN
    assert status(service, SCHOOL, ids["errors"]) == UPLOAD_ERROR
    assert status(service, THIRD_SCHOOL, ids["unconfirmed"]) == AWAITING_CONFIRMATION

    with db.session(service.engine) as s:
        rows = s.execute(select(CollectedResult.grade, CollectedResult.points, CollectedResult.discount_code)
                         .where(CollectedResult.school_id == 1)).all()
        assert sorted(set(rows)) == [("A", 50.0, "7410"), ("B", 40.0, "6510")]
        assert s.execute(select(func.count()).select_from(CollectedPupil)).scalar_one() == 6

    cohorts = list(coll.iter_cohorts(service, summary.id))
    assert [c.school_dfe for c in cohorts] == [SCHOOL, OTHER_SCHOOL][::-1] or [c.school_dfe for c in cohorts] == \
        sorted([SCHOOL, OTHER_SCHOOL])
    other = next(c for c in cohorts if c.school_dfe == OTHER_SCHOOL)
    assert [len(p.results) for p in other.pupils] == [0, 2]  # the pupil without results is kept
    pupil = other.pupils[1]
    assert pupil.gender in ("Female", "Male") and pupil.date_of_birth.year == 2003 and pupil.nc_year == 13
    assert {r.grade: r.points for r in pupil.results} == {"A": 50.0, "B": 40.0}
    assert pupil.results[0].meta["points"]["*"] == 60.0

    report = coll.school_report(service, SCHOOL, "ks5-2021")
    assert report["summary"]["pupils"] == 4 and report["summary"]["entries"] == 8
    assert report["summary"]["average_points_per_entry"] == 45.0
    assert [(s["entries"], s["grades"], s["average_points"]) for s in report["summary"]["subjects"]] == \
        [(4, {"A": 4}, 50.0), (4, {"B": 4}, 40.0)]

    again = coll.collect(service, "ks5-2021")
    assert again.existing and again.id == summary.id and again.results == 10 and again.attempts == 1
    assert [c.round_id for c in coll.collections(service)] == ["ks5-2021"]
    assert coll.latest_collection(service, "ks5-2021").finished == summary.finished


def test_stored_text_with_tabs_backslashes_and_numbers_is_collected_exactly(service, files, monkeypatch):
    """Rows go to PostgreSQL as COPY text: a value's tab, newline or backslash must not shift or
    split a row; a number stored as a grade is collected as its text, as before."""
    from frs.storage.models import PupilRecord

    ids = round_ready(service, files)
    odd_column, odd_grade, odd_name = "extra\tcol\\x", "A\\B\nC", "Jo\tann\\e"
    with service._session(write=True) as s:
        record = s.execute(select(PupilRecord).where(PupilRecord.upload_id == ids["other"])
                           .order_by(PupilRecord.row.desc())).scalars().first()
        record.results = {**record.results, odd_column: odd_grade, "numeric": 9}
        record.fields = {**record.fields, "forename": odd_name}
        s.add(record)
        s.commit()
    monkeypatch.setenv("FRS_NOW", AFTER_CLOSE)
    summary = coll.collect(service, "ks5-2021")
    assert summary.results == 12
    other = next(coll.iter_cohorts(service, summary.id, school_dfe=OTHER_SCHOOL))
    pupil = next(p for p in other.pupils if p.forename == odd_name)
    odd = {r.column_id: r for r in pupil.results}
    assert (odd[odd_column].grade, odd[odd_column].subject, odd[odd_column].points) == (odd_grade, odd_column, None)
    assert odd["numeric"].grade == "9"
    assert len(pupil.results) == 4 and [len(p.results) for p in other.pupils] == [0, 4]


def test_uploads_and_confirms_after_the_close_are_refused_with_the_dates(service, files, monkeypatch):
    ids = round_ready(service, files)
    monkeypatch.setenv("FRS_NOW", AFTER_CLOSE)
    with pytest.raises(Refused) as refused:
        service.upload(MANAGER, files["new"], "late.xlsx", confirm=True, accept_terms=True)
    assert refused.value.code == "round-closed"
    assert "Tue 10 Aug 2021 00:00 to Fri 03 Sep 2021 17:00" in refused.value.reason
    with pytest.raises(Refused) as refused:
        service.confirm("third@c.sch.uk", ids["unconfirmed"], accept_terms=True)
    assert refused.value.code == "round-closed" and "Fri 03 Sep 2021 17:00" in refused.value.reason


def test_collecting_before_the_close_or_an_unknown_round_is_refused(service, files):
    round_ready(service, files)
    with pytest.raises(Refused) as refused:
        coll.collect(service, "ks5-2021")
    assert refused.value.code == "round-open" and "Fri 03 Sep 2021 17:00" in refused.value.reason
    with pytest.raises(Refused) as refused:
        coll.collect(service, "ks9-2099")
    assert refused.value.code == "no-round"
    with db.session(service.engine) as s:
        assert s.execute(select(func.count()).select_from(Collection)).scalar_one() == 0


class Told:
    def __init__(self):
        self.calls = []

    @hookimpl
    def round_collected(self, round_id, upload_ids, collection_id, service):
        self.calls.append((round_id, sorted(upload_ids), collection_id,
                           [c.school_dfe for c in coll.iter_cohorts(service, collection_id)]))


class Broken:
    @hookimpl
    def round_collected(self, round_id):
        raise RuntimeError("analysis blew up")


class OldStyle:
    """Written against API 1: takes only the first two arguments."""

    def __init__(self):
        self.calls = []

    @hookimpl
    def round_collected(self, round_id, upload_ids):
        self.calls.append(round_id)


def test_plugins_are_told_once_and_one_failure_never_stops_the_others(db_url, tmp_path, files, monkeypatch):
    from conftest import TEST_CONFIG

    told, old = Told(), OldStyle()
    kernel = Kernel(parse(tomllib.loads(TEST_CONFIG.replace("strict = true", "strict = false"))),
                    plugins={"a_broken": Broken(), "b_told": told, "c_old": old})
    monkeypatch.setenv("FRS_NOW", "2021-08-20T10:00")
    service = Service(kernel, db.make_engine(db_url), FileStore(tmp_path / "files"))
    service.init_db()
    ids = round_ready(service, files)
    monkeypatch.setenv("FRS_NOW", AFTER_CLOSE)
    summary = coll.collect(service, "ks5-2021")
    assert told.calls == [("ks5-2021", sorted([ids["new"], ids["other"]]), summary.id,
                           sorted([SCHOOL, OTHER_SCHOOL]))]
    assert old.calls == ["ks5-2021"]
    coll.collect(service, "ks5-2021")
    assert len(told.calls) == 1  # told once per collection
    assert coll.due_rounds(service) == []
    service.engine.dispose()


# --------------------------------------------------------------------------- KS4: GCSE and non-GCSE side by side

KS4_CONFIG = """
[plugins]
enabled = ["ks4_gcse", "ks4_nongcse"]
strict = true

[[rounds]]
id = "ks4-2020"
key_stage = 4
year = 2020
opens = 2020-08-18T00:00:00
closes = 2020-09-04T17:00:00
reports_due = 2020-10-16
"""


@pytest.fixture(scope="module")
def ks4_kernel():
    return Kernel(parse(tomllib.loads(KS4_CONFIG)))


@pytest.fixture(scope="module")
def ks4_files(ks4_kernel):
    from conftest import cohort_template

    out = {}
    for dfe in (SCHOOL, OTHER_SCHOOL):
        for ks_id in ("ks4_gcse", "ks4_nongcse"):
            ks = ks4_kernel.keystage(ks_id)
            template = cohort_template(ks4_kernel, ks, SchoolInfo(dfe, "School"), 5)

            def no_results_for_last(sheet, ks=ks):
                if ks.id == "ks4_gcse":  # the last pupil has no GCSE results at all
                    for i, c in enumerate(ks4_kernel.columns(ks)):
                        if c.kind == "result":
                            sheet.cell(ks.first_pupil_row + 4, i + 1).value = None

            out[dfe, ks_id] = fill_results(template, ks4_kernel, ks, per_pupil=3 if ks_id == "ks4_gcse" else 1,
                                           edit=no_results_for_last)
    return out


def test_ks4_gcse_and_non_gcse_are_collected_side_by_side_and_merged_by_upn(db_url, tmp_path, ks4_kernel, ks4_files,
                                                                          monkeypatch):
    monkeypatch.setenv("FRS_NOW", "2020-08-20T10:00")
    service = Service(ks4_kernel, db.make_engine(db_url), FileStore(tmp_path / "files"))
    service.init_db()
    service.add_school(SCHOOL, "Both Files School")
    service.add_school(OTHER_SCHOOL, "Non-GCSE Only School")
    service.add_user(MANAGER, SCHOOL, ["manage_data"])
    service.add_user(OTHER_MANAGER, OTHER_SCHOOL, ["manage_data"])
    for ks_id in ("ks4_gcse", "ks4_nongcse"):
        name = f"2020_KS4_FRS-{'KS4G' if ks_id == 'ks4_gcse' else 'KS4GN'}_{SCHOOL}.xlsx"
        result = service.upload(MANAGER, ks4_files[SCHOOL, ks_id], name, confirm=True, accept_terms=True)
        assert result.upload.status == PROCESSING, result.report.issues
    service.upload(OTHER_MANAGER, ks4_files[OTHER_SCHOOL, "ks4_nongcse"], f"2020_KS4_FRS-KS4GN_{OTHER_SCHOOL}.xlsx",
                   confirm=True, accept_terms=True)
    # what the school's pupil source said about its pupils
    from frs.services import cohorts

    def characteristics(svc, dfe):
        return {"X": {}} if dfe != SCHOOL else {p.upn: {"disadvantaged": True, "sen": "K"}
                                               for p in _template_pupils(ks4_kernel, dfe)[:1]}

    monkeypatch.setattr(cohorts, "characteristics", characteristics)
    monkeypatch.setenv("FRS_NOW", "2020-09-04T17:00:01")
    summary = coll.collect(service, "ks4-2020")
    assert (summary.schools, summary.uploads) == (2, 3)

    both = next(coll.iter_cohorts(service, summary.id, school_dfe=SCHOOL))
    assert both.keystages == ("ks4_gcse", "ks4_nongcse") and len(both.upload_ids) == 2
    assert (both.key_stage, both.year, both.round_id) == (4, 2020, "ks4-2020")
    assert len(both.pupils) == 5  # one pupil per UPN, not one per file
    first, last = both.pupils[0], both.pupils[-1]
    assert {r.keystage for r in first.results} == {"ks4_gcse", "ks4_nongcse"}
    assert first.characteristics == {"disadvantaged": True, "sen": "K"} and last.characteristics == {}
    assert {r.keystage for r in last.results} == {"ks4_nongcse"}  # no GCSEs, but kept with the rest
    for result in first.results:
        assert result.points == result.meta["points"].get(result.grade)
        if result.keystage == "ks4_gcse":
            assert result.subject_code and result.discount_code and result.qualification is None
        else:
            assert result.qualification and "/" in result.qualification
    combined = [r for p in both.pupils for r in p.results if r.subject == "Combined Science"]
    for r in combined:  # a double award: 65 is worth 5.5 per award
        assert r.points == (int(r.grade[0]) + int(r.grade[1])) / 2 if r.grade != "U" else r.points == 0

    only = next(coll.iter_cohorts(service, summary.id, school_dfe=OTHER_SCHOOL))
    assert only.keystages == ("ks4_nongcse",) and len(only.pupils) == 5
    report = coll.school_report(service, SCHOOL, "ks4-2020")["summary"]
    assert report["pupils"] == 5
    assert {u["keystage"] for u in report["uploads"]} == {"ks4_gcse", "ks4_nongcse"}
    assert sum(s["entries"] for s in report["subjects"]) == report["entries"] == \
        sum(len(p.results) for p in both.pupils)
    service.engine.dispose()


def _template_pupils(kernel, dfe):
    from frs.demo import demo_pupils

    return demo_pupils(SchoolInfo(dfe, "School"), 11, 2020, 5)


# --------------------------------------------------------------------------- the command line


@pytest.fixture
def cli(db_url, config_file, tmp_path, monkeypatch):
    monkeypatch.setenv("FRS_CONFIG", str(config_file))
    monkeypatch.setenv("FRS_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("FRS_DATABASE_URL", db_url)
    runner = CliRunner()

    def run(*args):
        result = runner.invoke(main, [str(a) for a in args], catch_exceptions=False)
        return result.exit_code, result.stdout, result.stderr

    return run


def test_collect_collections_and_report_on_the_command_line(cli, files, storage_kernel, tmp_path, monkeypatch,
                                                            db_url):
    monkeypatch.setenv("FRS_NOW", "2021-08-20T10:00")
    assert cli("db", "init")[0] == 0
    service = Service(storage_kernel, db.make_engine(db_url), FileStore(tmp_path / "home" / "files"))
    round_ready(service, files)
    service.engine.dispose()

    code, out, err = cli("collect", "--round", "ks5-2021")
    assert code == 1 and "closes on Fri 03 Sep 2021 17:00" in err
    code, out, err = cli("report", "--school", SCHOOL, "--round", "ks5-2021")
    assert code == 1 and "has not been collected yet" in err

    monkeypatch.setenv("FRS_NOW", AFTER_CLOSE)
    code, out, err = cli("collect", "--round", "ks5-2021", "--json")
    assert code == 0, err
    first = json.loads(out)
    assert (first["schools"], first["uploads"], first["pupils"], first["results"]) == (2, 2, 6, 10)
    assert first["already_collected"] is False and first["daemon"].startswith("operator@")
    code, out, err = cli("collect", "--round", "ks5-2021")
    assert code == 0 and "already collected" in out and "results 10" in out

    code, out, err = cli("collections", "--json")
    listed = json.loads(out)
    assert [(c["round"], c["state"], c["schools"], c["uploads"], c["results"]) for c in listed] == \
        [("ks5-2021", "complete", 2, 2, 10)]
    assert listed[0]["started"] and listed[0]["finished"] and listed[0]["daemon"] == first["daemon"]
    code, out, err = cli("collections")
    assert code == 0 and "ks5-2021" in out and "complete" in out

    code, out, err = cli("report", "--school", SCHOOL, "--round", "ks5-2021", "--json")
    assert code == 0, err
    data = json.loads(out)
    assert (data["school"], data["round"], data["summary"]["pupils"], data["summary"]["entries"]) == \
        (SCHOOL, "ks5-2021", 4, 8)
    code, out, err = cli("report", "--school", SCHOOL, "--round", "ks5-2021")
    assert code == 0 and "Accounting" in out and "A:4" in out
    code, out, err = cli("report", "--school", THIRD_SCHOOL, "--round", "ks5-2021")
    assert code == 1 and "no confirmed upload" in err
    code, out, err = cli("report", "--school", "9999999", "--round", "ks5-2021")
    assert code == 1 and "no school" in err
    code, out, err = cli("collect", "--round", "nope")
    assert code == 1 and "no round 'nope'" in err
