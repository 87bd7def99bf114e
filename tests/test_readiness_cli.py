"""Issue 7, items 9 and 10: an operator's mistakes give one clear line and a non-zero exit, never a
traceback; what was not done is not audited as done; the command line starts without the
database layer. (Timings live in bench/run.py; here only the import graph is checked.)"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner
from conftest import KS5_OPEN_NOW, MANAGER, SCHOOL, make_ks5_with_errors, make_ks5_workbook

from frs.cli import main

#: what a command that does not need it must not import (start-up cost, and validation must not
#: depend on the database layer)
HEAVY = ("sqlalchemy", "sqlmodel", "openpyxl", "xlsxwriter", "httpx", "psycopg", "apscheduler")

# Runs the CLI in a fresh interpreter, then prints on stderr which heavy packages were imported.
CHILD = r"""
import json, sys
from frs.cli import main
try:
    main(sys.argv[1:], prog_name="frs")
except SystemExit:
    pass
heavy = %r
print("LOADED=" + json.dumps(sorted({m.split(".")[0] for m in sys.modules} & set(heavy))), file=sys.stderr)
""" % (HEAVY,)


def loaded_by(*args: str, env: dict | None = None) -> list[str]:
    out = subprocess.run([sys.executable, "-c", CHILD, *args], capture_output=True, text=True, timeout=120,
                         env={**os.environ, **(env or {})})
    line = next(l for l in out.stderr.splitlines() if l.startswith("LOADED="))
    return json.loads(line[len("LOADED="):])


def all_command_paths(group: click.Group = main, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    paths = []
    for name, command in sorted(group.commands.items()):
        paths.append((*prefix, name))
        if isinstance(command, click.Group):
            paths.extend(all_command_paths(command, (*prefix, name)))
    return paths


# --------------------------------------------------------------------------- item 10: start-up


def test_version_and_help_load_no_heavy_library():
    assert loaded_by("--version") == []
    assert loaded_by("--help") == []


def test_every_commands_help_loads_no_heavy_library():
    """Also covers commands added later: their modules must import heavy libraries inside the
    command function (see frs/cli/__init__.py)."""
    script = CHILD.replace('main(sys.argv[1:], prog_name="frs")', """
    for path in json.loads(sys.argv[1]):
        try:
            main([*path, "--help"], prog_name="frs")
        except SystemExit:
            pass""")
    paths = all_command_paths()
    assert ("validate",) in paths and ("uploads", "download") in paths
    out = subprocess.run([sys.executable, "-c", script, json.dumps(paths)], capture_output=True, text=True,
                         timeout=120)
    line = next(l for l in out.stderr.splitlines() if l.startswith("LOADED="))
    assert json.loads(line[len("LOADED="):]) == []


def test_validate_and_plugin_loading_do_not_import_the_database_layer_or_openpyxl(tmp_path, kernel):
    path = tmp_path / "2021_KS5A_1231234.xlsx"
    path.write_bytes(make_ks5_workbook(kernel))
    # a whole validate, with every enabled plugin loaded; writing no workbook needs no xlsxwriter
    assert loaded_by("validate", str(path), "--school", SCHOOL) == []
    assert loaded_by("plugins") == []
    assert loaded_by("rounds") == []


# --------------------------------------------------------------------------- item 9: the last resort


def run(*args, env=None, **kwargs):
    result = CliRunner().invoke(main, [str(a) for a in args], env=env, **kwargs)
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exc_info
    return result


def one_line_error(result, status: int | None = None) -> str:
    """The single "Error:" line of a failed command (and no traceback)."""
    assert result.exit_code != 0, result.output
    if status is not None:
        assert result.exit_code == status, result.output
    assert "Traceback" not in result.output and "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1, result.stderr
    return errors[0]


def test_an_unexpected_failure_in_any_command_is_one_line_with_a_pointer_to_verbose():
    @main.command("boom-for-test")
    def boom():
        raise KeyError("the-detail")

    try:
        result = run("boom-for-test")
        line = one_line_error(result, 2)
        assert "KeyError" in line and "the-detail" in line and "-v" in line
        verbose = run("-v", "boom-for-test")
        assert verbose.exit_code == 2 and "Traceback" in verbose.stderr
    finally:
        main.commands.pop("boom-for-test")


def test_a_refusal_or_config_error_reaching_the_last_resort_keeps_its_own_words_and_status():
    from frs.config import ConfigError
    from frs.storage.service import Refused

    @main.command("refuse-for-test")
    def refuse():
        raise Refused("Nothing was stored: the round is closed.")

    @main.command("config-for-test")
    def bad_config():
        raise ConfigError("frs.toml: limits.max_rows must be a positive whole number")

    try:
        line = one_line_error(run("refuse-for-test"), 1)
        assert line == "Error: Nothing was stored: the round is closed."
        line = one_line_error(run("config-for-test"), 2)
        assert "limits.max_rows" in line and "-v" not in line
    finally:
        main.commands.pop("refuse-for-test")
        main.commands.pop("config-for-test")


def test_the_demo_outside_its_round_is_one_line(home, monkeypatch):
    monkeypatch.setenv("FRS_NOW", "2030-01-01T10:00")
    line = one_line_error(run("demo", "--pupils", "3"), 1)
    assert "accepted from" in line


# --------------------------------------------------------------------------- output folders


@pytest.fixture
def home(tmp_path, monkeypatch, config_file):
    monkeypatch.setenv("FRS_CONFIG", str(config_file))
    monkeypatch.setenv("FRS_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("FRS_DATABASE_URL", raising=False)
    monkeypatch.setenv("FRS_NOW", KS5_OPEN_NOW)
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.mark.parametrize("args", [
    ["template", "--school", SCHOOL, "--keystage", "ks5_alevel", "--output", "{missing}/t.xlsx"],
    ["validate", "{file}", "--school", SCHOOL, "--errors-xlsx", "{missing}/e.xlsx"],
    ["validate", "{file}", "--school", SCHOOL, "--annotated", "{missing}/a.xlsx"],
    ["validate", "{file}", "--school", SCHOOL, "--annotated", "{folder}"],
])
def test_an_output_folder_that_does_not_exist_is_one_line_before_any_work(home, storage_kernel, args):
    (home / "f.xlsx").write_bytes(make_ks5_with_errors(storage_kernel))
    (home / "afolder").mkdir()
    args = [a.format(missing=home / "no-such-folder", file=home / "f.xlsx", folder=home / "afolder") for a in args]
    line = one_line_error(run(*args), 2)
    assert "no-such-folder" in line or "afolder" in line
    assert not (home / "no-such-folder").exists()


@pytest.fixture
def stored(home, storage_kernel):
    """A school, its manager and one upload with errors, in a SQLite instance under ``home``."""
    assert run("db", "init").exit_code == 0
    assert run("schools", "add", "--dfe", SCHOOL, "--name", "Test School").exit_code == 0
    assert run("users", "add", MANAGER, "--school", SCHOOL, "--permission", "manage_data").exit_code == 0
    (home / "errors.xlsx").write_bytes(make_ks5_with_errors(storage_kernel))
    return home


def audit_lines(action: str) -> list[dict]:
    result = run("audit", "--school", SCHOOL, "--json")
    return [e for e in json.loads(result.output) if e["action"] == action]


def test_upload_exits_1_when_the_file_was_stored_with_errors(stored):
    result = run("upload", stored / "errors.xlsx", "--as", MANAGER, "--json")
    assert result.exit_code == 1
    assert json.loads(result.output)["status"] == "Upload error"
    assert run("uploads", "list", "--school", SCHOOL).output.count("Upload error") == 1


@pytest.mark.parametrize("command", ["download", "errors"])
def test_a_download_to_a_missing_folder_is_refused_and_not_audited_as_done(stored, command):
    run("upload", stored / "errors.xlsx", "--as", MANAGER)
    result = run("uploads", command, "1", "--as", MANAGER, "--output", stored / "nope" / "back.xlsx")
    assert "nope" in one_line_error(result, 2)
    assert [e["outcome"] for e in audit_lines(command)] == []


def test_a_download_that_cannot_be_written_is_audited_as_failed(people, storage_kernel, tmp_path):
    from frs.storage.service import StorageFailed

    upload = people.upload(MANAGER, make_ks5_workbook(storage_kernel), "clean.xlsx").upload

    def disk_full(data):
        raise OSError(28, "No space left on device", str(tmp_path / "back.xlsx"))

    with pytest.raises(StorageFailed, match="No space left"):
        people.download(MANAGER, upload.id, deliver=disk_full)
    with pytest.raises(StorageFailed):
        people.error_report(MANAGER, upload.id, deliver=disk_full)
    outcomes = [(e["action"], e["outcome"]) for e in people.audit(MANAGER, SCHOOL)]
    assert ("download", "failed") in outcomes and ("errors", "failed") in outcomes
    assert ("download", "ok") not in outcomes and ("errors", "ok") not in outcomes
    people.download(MANAGER, upload.id, deliver=lambda data: None)
    assert ("download", "ok") in [(e["action"], e["outcome"]) for e in people.audit(MANAGER, SCHOOL)]


# --------------------------------------------------------------------------- commands that change nothing


def test_commands_that_change_nothing_say_so(stored):
    again = run("db", "init")
    assert again.exit_code == 0 and "nothing changed" in again.output.lower()
    same_school = run("schools", "add", "--dfe", SCHOOL, "--name", "Test School")
    assert same_school.exit_code == 0 and "nothing changed" in same_school.output.lower()
    renamed = run("schools", "add", "--dfe", SCHOOL, "--name", "Test School Renamed")
    assert "nothing changed" not in renamed.output.lower() and "Updated" in renamed.output
    same_user = run("users", "add", MANAGER, "--school", SCHOOL, "--permission", "manage_data")
    assert same_user.exit_code == 0 and "nothing changed" in same_user.output.lower()
    more = run("users", "add", MANAGER, "--school", SCHOOL, "--permission", "setup", "--json")
    assert json.loads(more.output)["granted"] == ["setup"] and json.loads(more.output)["changed"] is True

    sample = Path(__file__).resolve().parents[1] / "examples" / "gias-sample.csv"
    first = run("schools", "import", sample)
    assert first.exit_code == 0 and "nothing changed" not in first.output.lower()
    second = run("schools", "import", sample)
    assert second.exit_code == 0 and "nothing changed" in second.output.lower()
    assert " 0 added, 0 updated" in second.output


# --------------------------------------------------------------------------- databases


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("url", [
    "mysql://frs:s3cret-pw@127.0.0.1/frs",
    "postgress://frs:s3cret-pw@127.0.0.1/frs",
    "sqlite3:///frs.db",
    "not a url at all s3cret-pw",
    "postgresql+psycopg2://frs:s3cret-pw@127.0.0.1/frs",
    "postgresql+psycopg://frs:s3cret-pw@127.0.0.1:{port}/frs",
    "postgresql://postgres:s3cret-pw@127.0.0.1:5432/frs_no_such_database_here",
    "sqlite:///{home}",
])
@pytest.mark.parametrize("command", [["db", "init"], ["schools", "list"], ["uploads", "list", "--school", SCHOOL]])
def test_a_wrong_unreachable_or_unsupported_database_is_one_line_without_the_password(home, url, command):
    url = url.format(port=free_port(), home=home)
    line = one_line_error(run(*command, env={"FRS_DATABASE_URL": url}), 2)
    assert "database" in line.lower() and "s3cret" not in line


def test_plain_postgresql_urls_use_the_installed_driver(db_url):
    from frs.storage import db

    if db_url.startswith("sqlite"):
        return
    plain = db_url.replace("postgresql+psycopg://", "postgresql://")
    engine = db.make_engine(plain)
    assert engine.dialect.driver == "psycopg"
    db.init_db(engine)
    engine.dispose()


# --------------------------------------------------------------------------- config files


GOOD_CONFIG = '[plugins]\nenabled = ["ks5_alevel"]\n'


@pytest.mark.parametrize("data, needle", [
    (GOOD_CONFIG.encode("utf-16"), "UTF-16"),
    ('[service]\nhome = "café"\n'.encode("latin-1"), "line 2"),
    (b"[limits]\nmax_upload_bytes = 99999999999999999999999\n", "limits.max_upload_bytes"),
    (b"[limits]\nmax_rows = 9223372036854775807\n", "limits.max_rows"),
    (b"[[rounds]]\nkey_stage = 5\nyear = 99999999999\nopens = 2021-08-10\ncloses = 2021-09-10\n", "rounds[1].year"),
    (b"[[rounds]]\nkey_stage = 50000\nyear = 2021\nopens = 2021-08-10\ncloses = 2021-09-10\n", "rounds[1].key_stage"),
    (b"[service.home]\npath = 'x'\n", "service.home"),
    (b"[[limits]]\nmax_rows = 5\n", "limits"),
    (b"[[rounds]]\nkey_stage = 5\nyear = 2021\nopens = {at = 1}\ncloses = 2021-09-10\n", "rounds[1].opens"),
    (b"service = 5\n", "service"),
    (b"[plugins]\nenabled = 'ks5_alevel'\n", "plugins.enabled"),
])
@pytest.mark.parametrize("command", [["rounds"], ["plugins"], ["validate", "x.xlsx", "--school", SCHOOL]])
def test_a_bad_config_file_is_one_line_naming_file_and_key(tmp_path, monkeypatch, data, needle, command):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "x.xlsx").write_bytes(b"PK")
    path = tmp_path / "frs.toml"
    path.write_bytes(data)
    line = one_line_error(run("--config", path, *command), 2)
    assert str(path) in line and needle in line
    assert len(line) < 400  # a nested table or a huge number is named, not dumped


def test_a_config_with_a_byte_order_mark_is_read(tmp_path):
    path = tmp_path / "frs.toml"
    path.write_bytes(b"\xef\xbb\xbf" + GOOD_CONFIG.encode())
    result = run("--config", path, "plugins", "--json")
    assert result.exit_code == 0
    assert {p["name"]: p["status"] for p in json.loads(result.output)}["ks5_alevel"] == "enabled"


def test_a_config_that_is_a_folder_or_unreadable_is_one_line(tmp_path, monkeypatch):
    (tmp_path / "cfg").mkdir()
    one_line_error(run("--config", tmp_path / "cfg", "rounds"), 2)
    monkeypatch.setenv("FRS_CONFIG", str(tmp_path / "cfg"))
    one_line_error(run("rounds"), 2)


# --------------------------------------------------------------------------- GIAS exports

GIAS = ('"URN","LA (code)","LA (name)","EstablishmentNumber","EstablishmentName","TypeOfEstablishment (name)",'
        '"EstablishmentStatus (name)","PhaseOfEducation (name)"\r\n')


def gias_row(urn="100001", la="801", estab="4000", name="Bristol Academy") -> str:
    return f'"{urn}","{la}","Bristol","{estab}","{name}","Academy converter","Open","Secondary"\r\n'


@pytest.mark.parametrize("text", [
    # a field longer than any CSV reader allows
    GIAS + gias_row() + gias_row(urn="100002", estab="4001", name="x" * 200_000) + gias_row(urn="100003", estab="4002"),
    # a quote that is never closed: the rest of the file would be read as one field
    GIAS + gias_row() + '"100002","801","Bristol","4001","Never Closed School\r\n' + gias_row(urn="100003", estab="4002"),
    # a stray quote inside a quoted field
    GIAS + gias_row() + '"100002","801","Bristol","4001","Stray "Quote" School","Open"\r\n' + gias_row(urn="100003", estab="4002"),
], ids=["over-long field", "unclosed quote", "stray quote"])
def test_a_gias_export_whose_csv_is_broken_is_refused_whole(people, text):
    before = {s.dfe: s.name for s in people.schools()}
    from frs.storage.service import Refused

    with pytest.raises(Refused) as refused:
        people.import_schools(text.encode("utf-8"))
    assert "line 3" in refused.value.reason and "Nothing was imported" in refused.value.reason
    assert {s.dfe: s.name for s in people.schools()} == before


@pytest.mark.parametrize("row, needle", [
    (gias_row(name="Bell\x07 School"), "control character"),
    (gias_row(name="Null\x00 School"), "control character"),
    (gias_row(name="Line\nBreak School"), "control character"),
    (gias_row(name="N" * 201), "201 characters"),
    (gias_row(urn="1" * 11), "urn"),
    (gias_row(estab="４０００"), "establishment number"),
    (gias_row(la="８０１"), "LA code"),
    (gias_row(la="٨٠١"), "LA code"),
    (gias_row(urn="１２３"), "URN"),
])
def test_a_gias_line_that_cannot_be_stored_is_listed_and_the_rest_load(people, row, needle):
    text = GIAS + gias_row(urn="100009", estab="4009", name="Good School") + row
    result = people.import_schools(text.encode("utf-8"))
    assert result.added == 1 and [line for line, _ in result.bad] == [3]
    assert needle.lower() in result.bad[0][1].lower()
    assert "8014009" in {s.dfe for s in people.schools()} and "8014000" not in {s.dfe for s in people.schools()}


def test_gias_exports_in_utf16_and_with_a_bom_import(people):
    text = GIAS + gias_row(name="Siôn School")
    assert people.import_schools(text.encode("utf-16")).added == 1
    assert people.import_schools(b"\xef\xbb\xbf" + text.encode()).unchanged == 1
    assert {s.dfe: s.name for s in people.schools()}["8014000"] == "Siôn School"


def test_a_broken_gias_export_on_the_command_line_is_one_line(stored):
    path = stored / "gias.csv"
    path.write_text(GIAS + '"100002","801","Bristol","4001","Unclosed,"Academy"\r\n', encoding="utf-8")
    assert "line 2" in one_line_error(run("schools", "import", path), 1)


def test_schools_add_refuses_non_ascii_digits(stored):
    one_line_error(run("schools", "add", "--dfe", "１２３１２３４", "--name", "Wide"), 1)
    one_line_error(run("schools", "add", "--dfe", "8014000", "--name", "Bell\x07"), 1)


# --------------------------------------------------------------------------- the mistakes operators make


MISTAKES = [
    ["validate", "{missing}", "--school", SCHOOL],
    ["validate", "{folder}", "--school", SCHOOL],
    ["validate", "{file}"],
    ["validate", "{file}", "--school", "12"],
    ["validate", "{file}", "--school", SCHOOL, "--keystage", "ks9"],
    ["validate", "{file}", "--school", SCHOOL, "--round", "ks5-1999"],
    ["validat", "{file}"],
    ["template", "--keystage", "ks5_alevel"],
    ["template", "--school", SCHOOL, "--keystage", "nope", "--output", "t.xlsx"],
    ["template", "--school", SCHOOL, "--keystage", "ks5_alevel", "--output-dir", "{file}"],
    ["template", "--school", SCHOOL, "--keystage", "ks5_alevel", "--source", "nope", "-o", "t.xlsx"],
    ["template", "--schools-file", "{missing}", "--keystage", "ks5_alevel", "--output-dir", "out"],
    ["template", "--schools-file", "{latin}", "--keystage", "ks5_alevel", "--output-dir", "out"],
    ["schools", "import", "{missing}"],
    ["schools", "import", "{folder}"],
    ["schools", "import", "{file}"],  # an xlsx is not a CSV
    ["schools", "list"],  # no database yet
    ["upload", "{file}"],
    ["upload", "{folder}", "--as", MANAGER],
    ["uploads", "download", "abc", "--as", MANAGER, "-o", "x.xlsx"],
    ["uploads", "list"],
    ["users", "add", MANAGER, "--school", SCHOOL, "--permission", "root"],
    ["audit", "--school", SCHOOL, "--limit", "99999999999999999999"],
    ["audit", "--school", SCHOOL, "--limit", "-1"],
    ["store", "sweep", "--older-than", "nan"],
    ["store", "sweep", "--older-than", "-5"],
    ["demo", "--keystage", "nope"],
    ["demo", "--pupils", "-3"],
    ["plugins", "--bogus"],
    ["--config", "{missing}", "rounds"],
]


@pytest.mark.parametrize("args", MISTAKES, ids=lambda a: " ".join(a))
def test_every_mistake_is_one_clear_line_and_a_non_zero_exit(home, storage_kernel, args):
    (home / "afolder").mkdir()
    (home / "file.xlsx").write_bytes(make_ks5_workbook(storage_kernel))
    (home / "latin.txt").write_bytes("1231234,Ecole Saint-Andr\u00e9\n".encode("latin-1"))
    args = [a.format(missing=home / "missing.xlsx", folder=home / "afolder", file=home / "file.xlsx",
                     latin=home / "latin.txt") for a in args]
    one_line_error(run(*args))
