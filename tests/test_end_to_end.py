"""A round from upload to report, as schools and the operator go through it, on SQLite and
PostgreSQL: schools upload and confirm KS4 (GCSE, and one school also non-GCSE) and KS5 files
through the service layer; after the close ``frs collect`` collects and the analysis runs by
itself; the uploads show *Reports available*; ``frs report`` gives the summary, the measures of a
pupil checked by hand (reports.md §1) and the PDF summary; collecting again changes nothing. Then
the same with ``frs daemon --once`` (a real process) instead of ``frs collect``."""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import openpyxl
import pytest
from click.testing import CliRunner
from sqlmodel import select

from frs.cli import main
from frs.config import parse
from frs.connectors import School as SchoolInfo
from frs.demo import demo_pupils
from frs.kernel import Kernel
from frs.storage import db
from frs.storage.files import FileStore
from frs.storage.models import PROCESSING, REPORTS_AVAILABLE, Upload
from frs.storage.models_analysis import AnalysisRun, SchoolAnalysis
from frs.storage.service import Service
from frs.workbook.template import build_template

FRS = str(Path(sys.executable).parent / "frs")
CONFIG = """
[plugins]
enabled = ["ks4_gcse", "ks4_nongcse", "ks5_alevel", "ks4_measures", "ks5_measures"]
strict = true

[[rounds]]
id = "ks4-2020"
key_stage = 4
year = 2020
opens = 2020-08-18T00:00:00
closes = 2020-09-04T17:00:00
reports_due = 2020-10-16

[[rounds]]
id = "ks5-2021"
key_stage = 5
year = 2021
opens = 2021-08-10T00:00:00
closes = 2021-09-03T17:00:00
reports_due = 2021-10-15
"""
KS4_OPEN, KS5_OPEN, AFTER_BOTH_CLOSE = "2020-08-20T10:00", "2021-08-20T10:00", "2021-09-06T09:00"

BOTH = "1231234"  # sends KS4 GCSE and non-GCSE, and KS5
GCSE_ONLY = "8012000"  # sends KS4 GCSE only
SIXTH_FORM = "8012001"  # sends KS5 only
NAMES = {BOTH: "Hill Top Academy", GCSE_ONLY: "Riverside School", SIXTH_FORM: "Sixth Form College"}

#: the pupil of reports.md §1.7 (School 2, B1) in 2020: one French entry, so no first-entry question
B1 = {"English Language": 5, "English Literature": 6, "Mathematics": 7, "Combined Science": 77, "Spanish": 9,
      "Religious Studies": 6, "French": 6}
#: only English Language (counted once, the other half of the English slot is 0), maths, one BTEC
ONLY_LANG = {"English Language": 4, "Mathematics": 4}
BTEC = "BTEC L1/2 Tech Award Health and Social Care"  # DfE points: Distinction at level 2 (D2) = 7
# KS4 A-level points (DfE 2016+): A* 60, A 50, B 40, C 30, D 20, E 10, U 0
KS5_GRADES = [{"Mathematics": "*", "Physics": "A", "Chemistry": "B"}, {"Mathematics": "A", "Biology": "C"},
              {"Mathematics": "U", "Biology": "E"}]


@pytest.fixture(scope="module")
def kernel():
    return Kernel(parse(tomllib.loads(CONFIG)))


def workbook(kernel, keystage_id: str, dfe: str, grades: list[dict[str, object]]) -> bytes:
    """The school's template with one made-up pupil per entry of ``grades``, results typed in by
    subject heading, as a school would."""
    ks = kernel.keystage(keystage_id)
    rnd = kernel.round_for(ks)
    school = SchoolInfo(dfe, NAMES[dfe])
    data = build_template(kernel, ks, school, rnd, demo_pupils(school, ks.nc_year, rnd.year, len(grades)))
    book = openpyxl.load_workbook(io.BytesIO(data))
    sheet = book[ks.sheet_name]
    where = {c.header: i + 1 for i, c in enumerate(kernel.columns(ks)) if c.kind == "result"}
    for n, results in enumerate(grades):
        for header, grade in results.items():
            sheet.cell(ks.first_pupil_row + n, where[header]).value = grade
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


@pytest.fixture(scope="module")
def files(kernel):
    return {
        (BOTH, "ks4_gcse"): workbook(kernel, "ks4_gcse", BOTH, [B1, ONLY_LANG, {}]),
        (BOTH, "ks4_nongcse"): workbook(kernel, "ks4_nongcse", BOTH, [{}, {BTEC: "D2"}, {}]),
        (GCSE_ONLY, "ks4_gcse"): workbook(kernel, "ks4_gcse", GCSE_ONLY, [
            {"English Language": 6, "English Literature": 6, "Mathematics": 6}] * 2),
        (BOTH, "ks5_alevel"): workbook(kernel, "ks5_alevel", BOTH, KS5_GRADES),
        (SIXTH_FORM, "ks5_alevel"): workbook(kernel, "ks5_alevel", SIXTH_FORM, [{"Mathematics": "B"}] * 2),
    }


@pytest.fixture
def instance(kernel, files, db_url, tmp_path, monkeypatch):
    """Every school's files uploaded and confirmed inside their rounds; the environment of `frs`
    on this database with the clock after both rounds closed."""
    config = tmp_path / "frs.toml"
    config.write_text(CONFIG, encoding="utf-8")
    home = tmp_path / "home"
    service = Service(kernel, db.make_engine(db_url), FileStore(home / "files"))
    service.init_db()
    uploads = {}
    for dfe, name in NAMES.items():
        service.add_school(dfe, name)
        service.add_user(f"data@{dfe}.sch.uk", dfe, ["manage_data"])
    for (dfe, ks_id), data in files.items():
        monkeypatch.setenv("FRS_NOW", KS5_OPEN if ks_id == "ks5_alevel" else KS4_OPEN)
        name = {"ks4_gcse": "2020_KS4_FRS-KS4G", "ks4_nongcse": "2020_KS4_FRS-KS4GN",
                "ks5_alevel": "2021_KS5_FRS-KS5"}[ks_id]
        done = service.upload(f"data@{dfe}.sch.uk", data, f"{name}_{dfe}.xlsx", confirm=True, accept_terms=True)
        assert done.upload.status == PROCESSING, done.report.issues
        uploads[dfe, ks_id] = done.upload.id
    env = {"FRS_CONFIG": str(config), "FRS_HOME": str(home), "FRS_DATABASE_URL": db_url, "FRS_NOW": AFTER_BOTH_CLOSE}
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    yield {"service": service, "uploads": uploads, "env": {**os.environ, **env}, "tmp": tmp_path}
    service.engine.dispose()


def frs(*args):
    result = CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def statuses(service) -> dict[int, str]:
    with db.session(service.engine) as s:
        return {u.id: u.status for u in s.exec(select(Upload))}


def stored(service) -> dict:
    """The stored analysis, byte for byte: what must not change when nothing changed."""
    with db.session(service.engine) as s:
        runs = [(r.id, r.collection_id, r.round_id, r.status, r.national, r.rules_version)
                for r in s.exec(select(AnalysisRun).order_by(AnalysisRun.id))]
        schools = [(a.run_id, a.school_dfe, a.result, a.result_sha256, a.pdf_sha256)
                   for a in s.exec(select(SchoolAnalysis).order_by(SchoolAnalysis.id))]
    return {"runs": runs, "schools": schools}


def check_ks4_report(report: dict) -> None:
    """The measures of HILL TOP ACADEMY, worked out by hand from reports.md §1."""
    assert report["analysis"]["available"] is True
    assert report["summary"]["pupils"] == 3 and report["school"] == BOTH and report["key_stage"] == 4
    assert {u["keystage"] for u in report["summary"]["uploads"]} == {"ks4_gcse", "ks4_nongcse"}
    by_upn = {p["upn"]: p for p in report["pupils"]}
    # the pupils in the order of the file's rows
    first, second, third = (by_upn[p.upn] for p in demo_pupils(SchoolInfo(BOTH, NAMES[BOTH]), 11, 2020, 3))
    # B1: English = Lit 6 doubled (both English GCSEs taken) = 12; maths 7 x 2 = 14; EBacc: Spanish 9 and
    # the two Combined Science awards (7 each) = 23; open: RS 6, French 6 (EBacc, unused), Lang 5 = 17
    assert first["attainment8"] == 66
    assert first["attainment8_elements"] == {"english": 12, "maths": 14, "ebacc": 23, "open": 17}
    assert (first["english_maths_4"], first["english_maths_5"], first["ebacc_entered"]) == (True, True, False)
    assert first["ebacc_aps"] == pytest.approx((6 + 7 + 7 + 7 + 0 + 9) / 6)  # no humanity
    # only English Language: counted once (4); maths 4 x 2; the BTEC (non-GCSE, open only) 7
    assert second["attainment8"] == 19
    assert second["attainment8_elements"] == {"english": 4, "maths": 8, "ebacc": 0, "open": 7}
    assert (second["english_maths_4"], second["english_maths_5"], second["ebacc_entered"]) == (True, False, False)
    assert second["ebacc_aps"] == pytest.approx(4 / 6)  # the English pillar needs both English GCSEs
    assert third["attainment8"] == 0 and third["english_maths_4"] is False  # no results, still in the cohort
    measures = report["measures"]
    assert measures["pupils"] == 3
    assert measures["attainment8"] == pytest.approx((66 + 19 + 0) / 3)
    assert measures["english_maths_4"] == pytest.approx(200 / 3, abs=0.05)
    assert measures["english_maths_5"] == pytest.approx(100 / 3, abs=0.05)
    assert measures["ebacc_entry"] == 0
    assert measures["ebacc_aps"] == pytest.approx((6 + 4 / 6 + 0) / 3)
    comparisons = report["comparisons"]
    # two KS4 schools in the collection; Riverside's two pupils have 12 + 12 + 6 = 30 each; the
    # all-schools figure is the mean over all their pupils, as the DfE's national figure is
    assert comparisons["all_schools"]["attainment8"]["schools"] == 2
    assert comparisons["all_schools"]["attainment8"]["mean"] == pytest.approx((66 + 19 + 0 + 30 + 30) / 5)
    assert comparisons["national"]["attainment8"]["value"] == 50.2  # DfE 2020, all state-funded schools


def check_ks5_report(report: dict) -> None:
    assert report["analysis"]["available"] is True and report["key_stage"] == 5
    entries = [60, 50, 40, 50, 30, 0, 10]  # A* A B, A C, U E: a U is an entry worth 0
    assert report["measures"]["entries"] == len(entries)
    assert report["measures"]["aps_per_entry"] == pytest.approx(sum(entries) / len(entries))
    maths = next(s for s in report["subjects"] if s["subject"] == "Mathematics")
    assert (maths["entries"], maths["aps_per_entry"]) == (3, pytest.approx((60 + 50 + 0) / 3))
    # cumulative percent of the subject's entries at or above each grade, U counted in the total
    assert maths["cumulative"]["*"] == pytest.approx(100 / 3, abs=0.05)
    assert maths["cumulative"]["A"] == pytest.approx(200 / 3, abs=0.05)
    assert maths["cumulative"]["E"] == pytest.approx(200 / 3, abs=0.05)


def check_pdf(path: Path, school_name: str) -> None:
    data = path.read_bytes()
    assert data.startswith(b"%PDF") and b"%%EOF" in data[-1024:]
    if shutil.which("pdftotext"):
        text = subprocess.run(["pdftotext", str(path), "-"], capture_output=True, text=True, check=True).stdout
        assert school_name in " ".join(text.split())


def test_collect_analyses_the_round_and_the_report_shows_the_measures(instance):
    service, uploads, tmp = instance["service"], instance["uploads"], instance["tmp"]

    # before the analysis: the summary only, and one line saying why there are no measures
    code, out, err = frs("report", "--school", BOTH, "--round", "ks4-2020")
    assert code == 1 and "has not been collected yet" in err

    code, out, err = frs("collect", "--round", "ks4-2020", "--json")
    assert code == 0, err
    assert (json.loads(out)["schools"], json.loads(out)["uploads"]) == (2, 3)
    assert "Analysing ks4-2020" in err  # the analysis's progress, after the collection's
    code, out, err = frs("collect", "--round", "ks5-2021")
    assert code == 0, err

    assert set(statuses(service).values()) == {REPORTS_AVAILABLE}
    code, out, err = frs("report", "--school", BOTH, "--round", "ks4-2020", "--json")
    assert code == 0, err
    check_ks4_report(json.loads(out))
    code, out, err = frs("report", "--school", BOTH, "--round", "ks5-2021", "--json")
    assert code == 0, err
    check_ks5_report(json.loads(out))

    code, out, err = frs("report", "--school", BOTH, "--round", "ks4-2020", "--pdf", tmp / "hill-top.pdf")
    assert code == 0, err
    assert "Attainment 8" in out and "28.33" in out  # the text report's headline
    assert "Combined Science" in out  # the collection's summary is still printed
    check_pdf(tmp / "hill-top.pdf", NAMES[BOTH])
    code, out, err = frs("report", "--school", BOTH, "--round", "ks4-2020", "--pdf", tmp / "no-such" / "x.pdf")
    assert code == 2 and "does not exist" in err

    # collecting again changes nothing: the same collection, the same stored analysis
    before = stored(service)
    assert len(before["runs"]) == 2 and all(r[3] == "finished" for r in before["runs"])
    assert all(s[4] for s in before["schools"])  # every school's PDF is stored
    code, out, err = frs("collect", "--round", "ks4-2020")
    assert code == 0 and "already collected" in out
    assert stored(service) == before
    # analysing again by hand, in two worker processes that read the collection themselves, stores
    # the same bytes as the daemon's in-process run (a new run replaces the old one)
    code, out, err = frs("analyse", "--round", "ks4-2020", "--workers", "2")
    assert code == 0, err
    again = stored(service)
    assert by_school(again) == by_school(before)
    assert [r[1:] for r in again["runs"]] == [r[1:] for r in before["runs"]][1:] + [r[1:] for r in before["runs"]][:1]


def by_school(held: dict) -> dict:
    rounds = {run[0]: run[2] for run in held["runs"]}
    return {(rounds[s[0]], s[1]): s[2:] for s in held["schools"]}


def test_the_report_says_when_the_round_is_not_analysed_yet(instance, monkeypatch):
    from frs.services import collections

    # a collection whose analysis has not run (e.g. the daemon stopped before it)
    monkeypatch.setattr(collections, "_notify", lambda *a, **k: None)
    assert frs("collect", "--round", "ks5-2021")[0] == 0
    code, out, err = frs("report", "--school", SIXTH_FORM, "--round", "ks5-2021")
    assert code == 0, err
    assert "Mathematics" in out  # the summary
    notes = [line for line in out.splitlines() if "not been analysed" in line]
    assert len(notes) == 1 and "frs analyse --round ks5-2021" in notes[0]
    code, out, err = frs("report", "--school", SIXTH_FORM, "--round", "ks5-2021", "--json")
    data = json.loads(out)
    assert data["analysis"]["available"] is False and "measures" not in data and data["summary"]["pupils"] == 2
    code, out, err = frs("report", "--school", SIXTH_FORM, "--round", "ks5-2021", "--pdf", instance["tmp"] / "x.pdf")
    assert code == 1 and "not been analysed" in err and not (instance["tmp"] / "x.pdf").exists()


def test_the_daemon_collects_and_analyses_after_the_close(instance):
    service, tmp = instance["service"], instance["tmp"]
    env = instance["env"]
    run = subprocess.run([FRS, "daemon", "--once", "--log-json"], env=env, capture_output=True, text=True,
                         timeout=300)
    assert run.returncode == 0, run.stderr
    lines = [json.loads(line) for line in run.stderr.splitlines() if line.startswith("{")]
    collected = [line for line in lines if line.get("job") == "collect"]
    assert sorted(line["round"] for line in collected) == ["ks4-2020", "ks5-2021"]
    assert all(line["outcome"] == "ok" for line in collected)
    assert any(line.get("event") == "analysis progress" for line in lines)
    assert set(statuses(service).values()) == {REPORTS_AVAILABLE}

    before = stored(service)
    assert len(before["runs"]) == 2
    run = subprocess.run([FRS, "report", "--school", BOTH, "--round", "ks4-2020", "--json", "--pdf",
                          str(tmp / "daemon.pdf")], env=env, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    check_ks4_report(json.loads(run.stdout))
    check_pdf(tmp / "daemon.pdf", NAMES[BOTH])

    # run again: nothing is due, nothing changes
    run = subprocess.run([FRS, "daemon", "--once", "--log-json"], env=env, capture_output=True, text=True,
                         timeout=300)
    assert run.returncode == 0 and "nothing due" in run.stderr
    assert stored(service) == before


def test_plugins_lists_the_kernels_analysis_next_to_the_kernel(tmp_path, monkeypatch):
    config = tmp_path / "frs.toml"
    config.write_text(CONFIG, encoding="utf-8")
    monkeypatch.setenv("FRS_CONFIG", str(config))
    code, out, err = frs("plugins", "--json")
    assert code == 0, err
    listed = json.loads(out)
    assert [p["name"] for p in listed[:2]] == ["frs", "frs.analysis"]
    assert listed[1]["hooks"] == ["round_collected"] and listed[1]["builtin"] and listed[1]["status"] == "enabled"
    code, out, err = frs("plugins")
    assert "frs.analysis" in out and "hooks: round_collected" in out


def test_a_stop_during_the_analysis_keeps_the_collection_and_the_next_run_analyses(instance):
    import threading

    from frs.analysis.hooks import analysis_options
    from frs.analysis.service import latest_run
    from frs.services import collections

    service = instance["service"]
    stop = threading.Event()
    with analysis_options(progress=lambda done, total: stop.set()):  # SIGTERM after the first school
        first = collections.collect(service, "ks4-2020", stopping=stop)
    assert first.state == "complete" and not first.existing
    assert latest_run(service, "ks4-2020") is None  # stopped: nothing half-stored
    assert [r.id for r in collections.due_rounds(service)] == ["ks4-2020", "ks5-2021"]  # to be told again

    again = collections.collect(service, "ks4-2020")  # the next run (the daemon's next start)
    assert again.existing and again.id == first.id
    run = latest_run(service, "ks4-2020")
    assert run is not None and run.schools == 2
    assert [r.id for r in collections.due_rounds(service)] == ["ks5-2021"]
