"""Shared fixtures: fresh databases (SQLite and PostgreSQL), a storage service, and a KS5 workbook
builder that fills in results the way a school would."""

from __future__ import annotations

import csv
import datetime as dt
import os
import uuid
from pathlib import Path

import pytest

from frs import config, upn
from frs.config import parse
from frs.connectors import Pupil, School
from frs.demo import demo_pupils, fill_results
from frs.issues import column_letter
from frs.kernel import Kernel
from frs.workbook.template import build_template

SCHOOL = "1231234"
OTHER_SCHOOL = "8012000"
KS5_OPEN_NOW = "2021-08-20T10:00"  # inside the KS5 2021 window of TEST_CONFIG
PG_ADMIN_URL = os.environ.get("FRS_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres")

TEST_CONFIG = """
[plugins]
enabled = ["ks5_alevel"]
strict = true

[[rounds]]
id = "ks5-2021"
key_stage = 5
year = 2021
opens = 2021-08-10T00:00:00
closes = 2021-09-03T17:00:00
reports_due = 2021-10-15
"""


@pytest.fixture(scope="session")
def storage_kernel() -> Kernel:
    import tomllib

    return Kernel(parse(tomllib.loads(TEST_CONFIG)))


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    path = tmp_path / "frs.toml"
    path.write_text(TEST_CONFIG, encoding="utf-8")
    return path


# --------------------------------------------------------------------------- databases


def _postgres_admin():
    import psycopg

    try:
        return psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as exc:
        pytest.fail(f"PostgreSQL is not reachable at {PG_ADMIN_URL} ({exc}). The test suite runs on SQLite "
                    "and PostgreSQL: start PostgreSQL (CI's .ci/run does) or set FRS_TEST_POSTGRES.",
                    pytrace=False)


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request, tmp_path: Path) -> str:
    """A fresh, empty database URL per test: a SQLite file, or a new PostgreSQL database that is
    dropped afterwards."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'frs.db'}"
        return
    from sqlalchemy.engine import make_url

    name = f"frs_test_{uuid.uuid4().hex[:16]}"
    with _postgres_admin() as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    admin_url = make_url(PG_ADMIN_URL)
    url = admin_url.set(drivername="postgresql+psycopg", database=name).render_as_string(hide_password=False)
    try:
        yield url
    finally:
        with _postgres_admin() as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def service(storage_kernel, db_url, tmp_path, monkeypatch):
    """A storage service on a fresh database with its tables, a file store in tmp_path, and the
    clock inside the KS5 2021 round."""
    from frs.storage import db
    from frs.storage.files import FileStore
    from frs.storage.service import Service

    monkeypatch.setenv("FRS_NOW", KS5_OPEN_NOW)
    engine = db.make_engine(db_url)
    svc = Service(storage_kernel, engine, FileStore(tmp_path / "files"))
    svc.init_db()
    yield svc
    engine.dispose()


# --------------------------------------------------------------------------- the shipped config and data

#: the DfE reference lists, in ../shared beside the clone (CI has it there too)
REFERENCE_DATA = Path(__file__).resolve().parents[2] / "shared" / "reference" / "data"


def reference_rows(name: str) -> list[dict[str, str]]:
    """Rows of one of the reference CSVs, e.g. ``reference_rows("ks4_gcse.csv")``."""
    with open(REFERENCE_DATA / name, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


@pytest.fixture(scope="session")
def kernel() -> Kernel:
    """A kernel on the repository's own config (every built-in plugin and the KS2 example)."""
    return Kernel(config.load(config.REPO_CONFIG))


def cohort_template(kernel, keystage, school: School, pupils: int) -> bytes:
    """The key stage's template for ``school`` with ``pupils`` made-up pupils of its current round."""
    rnd = kernel.round_for(keystage)
    return build_template(kernel, keystage, school, rnd, demo_pupils(school, keystage.nc_year, rnd.year, pupils))


def keystage_fixtures(keystage_id: str, school: School, pupils: int = 20, *, columns_name: str):
    """Module fixtures for one key stage's tests: ``ks4`` (the key stage), ``<columns_name>``
    (its result columns by header), ``letter`` (header -> Excel letter) and ``template``
    (a template of ``pupils`` made-up pupils). Assign the returned tuple in the test module."""

    @pytest.fixture(scope="module", name="ks4")
    def keystage(kernel):
        return kernel.keystage(keystage_id)

    @pytest.fixture(scope="module", name=columns_name)
    def result_columns(kernel, ks4):
        return {c.header: c for c in kernel.columns(ks4) if c.kind == "result"}

    @pytest.fixture(scope="module", name="letter")
    def letters(kernel, ks4):
        return letters_by_header(kernel, ks4)

    @pytest.fixture(scope="module", name="template")
    def template(kernel, ks4):
        return cohort_template(kernel, ks4, school, pupils)

    return keystage, result_columns, letters, template


def letters_by_header(kernel, keystage) -> dict[str, str]:
    """column header -> Excel column letter"""
    return {c.header: column_letter(i) for i, c in enumerate(kernel.columns(keystage))}


# --------------------------------------------------------------------------- workbooks


def ks5_pupil(n: int) -> Pupil:
    """A valid Year 13 pupil of 2021, the n-th of the school (Amy Smith, born March 2003)."""
    return Pupil(upn=upn.make("801", "2000", 15, n), forename="Amy", surname="Smith",
                 date_of_birth=dt.date(2003, 3, 1 + n % 28), gender="Female" if n % 2 else "Male")


def make_ks5_workbook(kernel, *, school_dfe: str = SCHOOL, pupils: int = 3, edit=None) -> bytes:
    """A KS5 A-level template for the school with ``pupils`` pupils, filled in as a school would:
    an A and a B in the first two subjects for everyone; ``edit(worksheet)`` may then change cells."""
    ks = kernel.keystage("ks5_alevel")
    school = School(school_dfe, "Test School")
    template = build_template(kernel, ks, school, kernel.round_for(ks), [ks5_pupil(n) for n in range(1, pupils + 1)])
    first = next(i for i, c in enumerate(kernel.columns(ks)) if c.kind == "result") + 1

    def results(sheet):
        for row in range(ks.first_pupil_row, ks.first_pupil_row + pupils):
            sheet.cell(row, first).value, sheet.cell(row, first + 1).value = "A", "B"
        if edit:
            edit(sheet)

    return fill_results(template, kernel, ks, per_pupil=0, edit=results)


def make_ks5_with_errors(kernel, school_dfe: str = SCHOOL) -> bytes:
    """A KS5 file with two errors: a bad gender (K4) and a result that is not an A-level grade (L5)."""
    def mistakes(sheet):
        sheet["K4"], sheet["L5"] = "X", "Z"

    return make_ks5_workbook(kernel, school_dfe=school_dfe, pupils=2, edit=mistakes)


MANAGER = "manager@a.sch.uk"  # Manage Data at SCHOOL
SETUP_ONLY = "setup@a.sch.uk"  # only Setup at SCHOOL
OTHER_MANAGER = "manager@b.sch.uk"  # Manage Data at OTHER_SCHOOL
UNKNOWN = "nobody@nowhere.uk"


@pytest.fixture
def people(service):
    """Two schools; a manager and a setup-only user at SCHOOL; a manager at OTHER_SCHOOL."""
    service.add_school(SCHOOL, "Test School")
    service.add_school(OTHER_SCHOOL, "Other School")
    service.add_user(MANAGER, SCHOOL, ["manage_data"])
    service.add_user(SETUP_ONLY, SCHOOL, ["setup"])
    service.add_user(OTHER_MANAGER, OTHER_SCHOOL, ["manage_data", "setup"])
    return service


@pytest.fixture(scope="module")
def ks5(kernel):
    return kernel.keystage("ks5_alevel")


@pytest.fixture(scope="module")
def col(kernel, ks5):
    """column id -> Excel letter"""
    return {c.id: column_letter(i) for i, c in enumerate(kernel.columns(ks5))}


def found(report):
    """The (code, row, column) of every issue: what validation tests assert on."""
    return {(i.code, i.row, i.column) for i in report.issues}
