"""The analysis runner over a collection: stored results (SQLite and PostgreSQL), the school's
report and PDF, reruns, failures, national figures, and the commands."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import sys
import types
import zlib

import pytest
from click.testing import CliRunner
from sqlmodel import select

from frs import config
from frs.analysis import runner, service as analysis, synthetic as syn
from frs.cli import main
from frs.kernel import Kernel
from frs.storage import db
from frs.storage.files import FileStore
from frs.storage.models import PROCESSING, REPORTS_AVAILABLE, School, Upload, User
from frs.storage.models_analysis import AnalysisRun, SchoolAnalysis
from frs.storage.service import Service

KS4_KEYS = {"pupils", "attainment8", "english_maths_4", "english_maths_5", "ebacc_entry", "ebacc_aps"}
PUPIL_KEYS = {"upn", "attainment8", "attainment8_elements", "english_maths_4", "english_maths_5", "ebacc_entered",
              "ebacc_aps"}


@pytest.fixture(scope="module")
def repo_kernel():
    return Kernel(config.load(config.REPO_CONFIG))


@pytest.fixture
def svc(repo_kernel, db_url, tmp_path):
    engine = db.make_engine(db_url)
    service = Service(repo_kernel, engine, FileStore(tmp_path / "files"))
    service.init_db()
    yield service
    engine.dispose()


def cohorts(kernel, n=4, pupils=25, key_stage=4, **kwargs):
    maker = syn.SchoolMaker(kernel, pupils=pupils, key_stage=key_stage, year=2020 if key_stage == 4 else 2021)
    return [maker.make(i) for i in range(n)]


def test_a_collection_is_analysed_stored_and_reported(svc, repo_kernel):
    schools = cohorts(repo_kernel)
    summary = runner.analyse_cohorts(svc, schools, collection_id=7)
    assert (summary["schools"], summary["pupils"], summary["round_id"]) == (4, 100, "ks4-2020")
    report = analysis.school_report(svc, schools[1].school_dfe, "ks4-2020")
    assert KS4_KEYS <= set(report["measures"])
    assert all(isinstance(report["measures"][k], (int, float)) for k in KS4_KEYS)
    assert len(report["pupils"]) == 25 and PUPIL_KEYS <= set(report["pupils"][0])
    assert set(report["pupils"][0]["attainment8_elements"]) == {"english", "maths", "ebacc", "open"}
    assert 0 <= report["measures"]["english_maths_4"] <= 100
    assert set(report["comparisons"]) >= {"all_schools", "national", "groups", "subjects"}
    assert report["comparisons"]["all_schools"]["attainment8"]["schools"] == 4
    assert report["comparisons"]["national"]["attainment8"]["value"] == 50.2
    assert report["progress8"]["calculated"] is False
    pdf = analysis.school_pdf(svc, schools[1].school_dfe, "ks4-2020")
    assert pdf.startswith(b"%PDF") and len(pdf) > 5000


def test_the_same_collection_stores_the_same_bytes_and_replaces_the_earlier_run(svc, repo_kernel):
    schools = cohorts(repo_kernel, n=3)
    runner.analyse_cohorts(svc, schools, collection_id=1, pdfs=False)
    with db.session(svc.engine) as s:
        first = {r.school_dfe: (r.result_sha256, zlib.decompress(r.result)) for r in s.exec(select(SchoolAnalysis))}
    runner.analyse_cohorts(svc, reversed(schools), collection_id=1, pdfs=False)
    with db.session(svc.engine) as s:
        second = {r.school_dfe: (r.result_sha256, zlib.decompress(r.result)) for r in s.exec(select(SchoolAnalysis))}
        runs = s.exec(select(AnalysisRun)).all()
    assert first == second
    assert all(sha == hashlib.sha256(text).hexdigest() for sha, text in second.values())
    assert len(runs) == 1 and runs[0].status == "finished"
    assert runs[0].rules_version == "ks4_measures.attainment8@2;ks4_measures.progress8@1"


def test_a_failed_run_leaves_the_earlier_results_as_they_were(svc, repo_kernel):
    schools = cohorts(repo_kernel, n=3)
    runner.analyse_cohorts(svc, schools, collection_id=1, pdfs=False)
    before = analysis.school_report(svc, schools[0].school_dfe, "ks4-2020")

    def broken():
        yield schools[0]
        yield schools[1]
        raise RuntimeError("the collection could not be read")

    with pytest.raises(RuntimeError):
        runner.analyse_cohorts(svc, broken(), collection_id=1, pdfs=False)
    after = analysis.school_report(svc, schools[0].school_dfe, "ks4-2020")
    assert after["analysis"]["run_id"] == before["analysis"]["run_id"]
    assert after["measures"] == before["measures"]
    with db.session(svc.engine) as s:
        failed = s.exec(select(AnalysisRun).where(AnalysisRun.status == "failed")).one()
        assert "could not be read" in failed.error
        assert not s.exec(select(SchoolAnalysis).where(SchoolAnalysis.run_id == failed.id)).all()


def test_a_school_twice_in_one_collection_is_refused(svc, repo_kernel):
    schools = cohorts(repo_kernel, n=2)
    with pytest.raises(runner.AnalysisFailed, match="appears twice"):
        runner.analyse_cohorts(svc, [schools[0], schools[1], schools[0]], collection_id=2, pdfs=False)


def test_no_report_before_analysis_or_for_a_school_not_collected(svc, repo_kernel):
    with pytest.raises(analysis.ReportNotFound, match="not been analysed"):
        analysis.school_report(svc, "8001000", "ks4-2020")
    runner.analyse_cohorts(svc, cohorts(repo_kernel, n=1), collection_id=1, pdfs=False)
    with pytest.raises(analysis.ReportNotFound, match="no results"):
        analysis.school_report(svc, "9999999", "ks4-2020")


def test_uploads_show_reports_available_once_the_pdf_is_made(svc, repo_kernel):
    with db.session(svc.engine, write=True) as s:
        school = School(dfe="8001000", name="Synthetic School 0")
        user = User(email="head@example.org")
        s.add(school)
        s.add(user)
        s.commit()
        upload = Upload(school_id=school.id, keystage="ks4_gcse", round_id="ks4-2020", filename="f.xlsx",
                        sha256="0" * 64, size=1, status=PROCESSING, is_current=True, uploaded_by_id=user.id,
                        uploaded_at=dt.datetime.now(dt.timezone.utc))
        s.add(upload)
        s.commit()
        upload_id = upload.id
    first = cohorts(repo_kernel, n=1)[0]
    cohort = syn.SchoolCohort(**{**first.__dict__, "upload_ids": (upload_id,)})
    runner.analyse_cohorts(svc, [cohort], collection_id=1)
    with db.session(svc.engine) as s:
        assert s.get(Upload, upload_id).status == REPORTS_AVAILABLE


def test_ks5_report_has_subjects_with_cumulative_grades(svc, repo_kernel):
    schools = cohorts(repo_kernel, n=2, key_stage=5)
    runner.analyse_cohorts(svc, schools, collection_id=3, pdfs=False)
    report = analysis.school_report(svc, schools[0].school_dfe, "ks5-2021")
    assert {"entries", "aps_per_entry"} <= set(report["measures"])
    subject = report["subjects"][0]
    assert {"subject", "entries", "aps_per_entry", "cumulative"} <= set(subject)
    assert list(subject["cumulative"]) == ["*", "A", "B", "C", "D", "E"]


def test_loaded_national_figures_are_used_in_reports(svc, repo_kernel):
    from frs.analysis import national

    schools = cohorts(repo_kernel, n=1)
    runner.analyse_cohorts(svc, schools, collection_id=1, pdfs=False)
    national.load(svc, "key_stage,year,measure,group,subject,value,unit,source\n"
                       "4,2020,attainment8,,,49.9,points,Operator table\n")
    report = analysis.school_report(svc, schools[0].school_dfe, "ks4-2020")
    assert report["comparisons"]["national"]["attainment8"] == {"value": 49.9, "unit": "points",
                                                                "source": "Operator table"}
    with pytest.raises(national.NationalFileError):
        national.load(svc, "key_stage,year,measure,group,subject,value,unit,source\n"
                           "4,2020,attainment8,,,51,points,Good\n4,2020,ebacc_aps,,,x,points,Bad\n")
    report = analysis.school_report(svc, schools[0].school_dfe, "ks4-2020")
    assert report["comparisons"]["national"]["attainment8"]["value"] == 49.9  # nothing from the bad file


def test_what_if_from_the_stored_pupils(svc, repo_kernel, monkeypatch):
    monkeypatch.setitem(sys.modules, "frs.services.collections", None)  # no collection module: stored values
    schools = cohorts(repo_kernel, n=2)
    runner.analyse_cohorts(svc, schools, collection_id=1, pdfs=False)
    report = analysis.school_report(svc, schools[0].school_dfe, "ks4-2020")
    leave_out = [p["upn"] for p in report["pupils"][:5]]
    what_if = analysis.school_what_if(svc, schools[0].school_dfe, "ks4-2020", leave_out)
    assert what_if["measures"]["pupils"] == 20 and what_if["excluded"] == sorted(leave_out)
    kept = [p["attainment8"] for p in report["pupils"][5:]]
    assert what_if["measures"]["attainment8"] == pytest.approx(sum(kept) / len(kept), abs=1e-5)
    assert "all_schools" in what_if["comparisons"]


def test_what_if_reads_a_schools_collected_cohort_once_and_only_for_that_school(svc, repo_kernel, monkeypatch):
    from frs.analysis import engine
    from frs.services import collections

    schools = cohorts(repo_kernel, n=2)
    runner.analyse_cohorts(svc, schools, collection_id=7, pdfs=False)
    by_dfe = {c.school_dfe: c for c in schools}
    reads = []

    def iter_cohorts(service, collection_id, *, school_dfe=None):
        reads.append((collection_id, school_dfe))
        return iter([by_dfe[school_dfe]])

    monkeypatch.setattr(collections, "iter_cohorts", iter_cohorts)
    first, second = schools[0].school_dfe, schools[1].school_dfe
    leave_out = [p.upn for p in schools[0].pupils[:3]]
    what_if = analysis.school_what_if(svc, first, "ks4-2020", leave_out)
    run = analysis.latest_run(svc, "ks4-2020")
    assert what_if == engine.what_if(schools[0], repo_kernel.measures(4), leave_out, json.loads(run.national),
                                     analysis._published(svc, 4, 2020))
    assert what_if["subjects"] and what_if["measures"]["pupils"] == 22  # from the results, not the stored values
    assert analysis.school_what_if(svc, first, "ks4-2020", leave_out) == what_if
    other = analysis.school_what_if(svc, second, "ks4-2020", [schools[1].pupils[0].upn])
    assert {p["upn"] for p in other["pupils"]} == {p.upn for p in schools[1].pupils[1:]}
    assert reads == [(7, first), (7, second)]  # each school's cohort read once, for that school
    runner.analyse_cohorts(svc, schools, collection_id=7, pdfs=False)  # a new run reads again
    analysis.school_what_if(svc, first, "ks4-2020", leave_out)
    assert reads == [(7, first), (7, second), (7, first)]


def test_pdfs_made_in_worker_processes_match_those_made_in_process(repo_kernel, tmp_path):
    def run(workers, folder):
        service = Service(repo_kernel, db.make_engine(f"sqlite:///{tmp_path / folder}.db"),
                          FileStore(tmp_path / folder / "files"))
        service.init_db()
        runner.analyse_cohorts(service, cohorts(repo_kernel, n=3, pupils=12), collection_id=1, workers=workers)
        with db.session(service.engine) as s:
            return {r.school_dfe: (r.result_sha256, r.pdf_sha256) for r in s.exec(select(SchoolAnalysis))}

    assert run(1, "one") == run(2, "two")


# --------------------------------------------------------------------------- commands


@pytest.fixture
def cli_env(tmp_path, monkeypatch, repo_kernel):
    cfg = tmp_path / "frs.toml"
    cfg.write_text(f"""
[service]
home = "{tmp_path / 'home'}"
[plugins]
enabled = ["ks4_gcse", "ks4_nongcse", "ks5_alevel", "ks4_measures", "ks5_measures"]
strict = true
[[rounds]]
id = "ks4-2020"
key_stage = 4
year = 2020
opens = 2020-08-18T00:00:00
closes = 2020-09-04T17:00:00
""", encoding="utf-8")
    monkeypatch.setenv("FRS_CONFIG", str(cfg))
    monkeypatch.delenv("FRS_DATABASE_URL", raising=False)
    schools = cohorts(repo_kernel, n=2, pupils=10)
    fake = types.ModuleType("frs.services.collections")  # collection 5 holds the synthetic schools
    fake.latest_collection = lambda service, round_id: 5 if round_id == "ks4-2020" else None
    fake.iter_cohorts = lambda service, collection_id, school_dfe=None: iter(
        [c for c in schools if school_dfe in (None, c.school_dfe)])

    class Reader:
        def __init__(self, service, collection_id):
            self.coll = types.SimpleNamespace(id=collection_id, round_id="ks4-2020", key_stage=4, year=2020)

        def batches(self, size=20, school_dfe=None):
            return [[(n, c.school_dfe, c.school_name) for n, c in enumerate(schools)]]

        def read(self, batch):
            return [schools[n] for n, _dfe, _name in batch]

    fake.CohortReader = Reader
    monkeypatch.setitem(sys.modules, "frs.services.collections", fake)
    import frs.services  # `from ..services import collections` finds the package's attribute first

    monkeypatch.setattr(frs.services, "collections", fake, raising=False)
    runner = CliRunner()
    assert runner.invoke(main, ["db", "init"]).exit_code == 0
    return runner, schools, tmp_path


def test_frs_analyse_runs_the_latest_collection_with_progress(cli_env):
    runner, schools, tmp_path = cli_env
    out = runner.invoke(main, ["analyse", "--round", "ks4-2020", "--json", "--workers", "1"])
    assert out.exit_code == 0, out.output
    summary = json.loads(out.stdout)
    assert (summary["collection_id"], summary["schools"]) == (5, 2)
    assert "Analysing ks4-2020" in out.stderr
    from frs.cli.analysis_cmd import report_json, write_report_pdf

    service = Service.from_kernel(Kernel())
    report = report_json(service, schools[0].school_dfe, "ks4-2020")
    assert report["school"]["dfe"] == schools[0].school_dfe
    size = write_report_pdf(service, schools[0].school_dfe, "ks4-2020", tmp_path / "out.pdf")
    assert (tmp_path / "out.pdf").read_bytes()[:4] == b"%PDF" and size > 1000


def test_frs_analyse_refuses_an_unknown_round(cli_env):
    runner, _, _ = cli_env
    out = runner.invoke(main, ["analyse", "--round", "ks9-2030"])
    assert out.exit_code == 2 and "unknown round 'ks9-2030'" in out.output


def test_frs_national_load_names_each_bad_line_and_loads_nothing(cli_env):
    runner, _, tmp_path = cli_env
    bad = tmp_path / "bad.csv"
    bad.write_text("key_stage,year,measure,group,subject,value,unit,source\n4,2020,attainment8,,,47,points,ok\n"
                   "4,2020,ebacc_aps,,,four,points,x\n", encoding="utf-8")
    out = runner.invoke(main, ["national", "load", str(bad)])
    assert out.exit_code == 1 and "bad.csv:3: value must be a number" in out.stderr
    listed = runner.invoke(main, ["national", "list", "--key-stage", "4", "--year", "2020", "--json"])
    figures = {(r["measure"], r["group"], r["subject"]): r["value"] for r in json.loads(listed.stdout)}
    assert figures[("attainment8", "", "")] == 50.2
    good = tmp_path / "good.csv"
    good.write_text("key_stage,year,measure,group,subject,value,unit,source\n4,2020,attainment8,,,47,points,ok\n",
                    encoding="utf-8")
    assert runner.invoke(main, ["national", "load", str(good)]).exit_code == 0
    listed = runner.invoke(main, ["national", "list", "--key-stage", "4", "--year", "2020", "--json"])
    assert {(r["measure"], r["group"], r["subject"]): r["value"] for r in json.loads(listed.stdout)}[
        ("attainment8", "", "")] == 47


def test_a_stop_request_ends_the_run_and_keeps_the_earlier_results(svc, repo_kernel):
    import threading

    schools = cohorts(repo_kernel, n=3)
    runner.analyse_cohorts(svc, schools, collection_id=1, pdfs=False)
    stop = threading.Event()

    def stopping_after_one():
        yield schools[0]
        stop.set()
        yield schools[1]

    with pytest.raises(runner.AnalysisStopped):
        runner.analyse_cohorts(svc, stopping_after_one(), collection_id=1, pdfs=False, stopping=stop)
    assert analysis.school_report(svc, schools[2].school_dfe, "ks4-2020")["measures"]["pupils"] == 25


def test_a_rerun_removes_the_pdfs_it_replaced_and_keeps_the_ones_it_made_again(svc, repo_kernel):
    def pdfs():
        with db.session(svc.engine) as s:
            return {(r.school_dfe, r.pdf_sha256) for r in s.exec(select(SchoolAnalysis))}

    store = analysis.reports_store(svc)
    runner.analyse_cohorts(svc, cohorts(repo_kernel, n=2, pupils=8), collection_id=3)
    first = pdfs()
    runner.analyse_cohorts(svc, cohorts(repo_kernel, n=2, pupils=8), collection_id=3)
    assert pdfs() == first and all(store.exists(dfe, sha) for dfe, sha in first)
    runner.analyse_cohorts(svc, cohorts(repo_kernel, n=2, pupils=9), collection_id=3)  # a corrected collection
    second = pdfs()
    assert second.isdisjoint(first)
    assert all(store.exists(dfe, sha) for dfe, sha in second)
    assert not any(store.exists(dfe, sha) for dfe, sha in first)
