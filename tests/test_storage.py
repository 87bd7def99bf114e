"""Storage and the upload lifecycle, on SQLite and PostgreSQL (the ``db_url`` fixture runs each test
on both): schools, users, uploads with their statuses, deletion, download, rounds and the audit log."""

from __future__ import annotations

import io
import json

import pytest
from click.testing import CliRunner
from conftest import (KS5_OPEN_NOW, MANAGER, OTHER_MANAGER, OTHER_SCHOOL, SCHOOL, ks5_pupil, make_ks5_with_errors,
                      make_ks5_workbook)
from sqlmodel import select

from frs.cli import main
from frs.storage import db
from frs.storage.models import (AWAITING_CONFIRMATION, DELETED, OVERWRITTEN, PROCESSING, UPLOAD_ERROR, AuditEvent,
                                PupilRecord, School, Upload, UploadIssue)
from frs.storage.service import Refused

# --------------------------------------------------------------------------- the whole story, on the command line


@pytest.fixture
def cli(db_url, config_file, tmp_path, monkeypatch):
    """Run `frs ...` against the test database; returns (exit code, stdout, stderr)."""
    monkeypatch.setenv("FRS_CONFIG", str(config_file))
    monkeypatch.setenv("FRS_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("FRS_DATABASE_URL", db_url)
    monkeypatch.setenv("FRS_NOW", KS5_OPEN_NOW)
    runner = CliRunner()

    def run(*args):
        result = runner.invoke(main, [str(a) for a in args], catch_exceptions=False)
        return result.exit_code, result.stdout, result.stderr

    return run


def upload_json(cli, path, *extra, status=0):
    code, out, err = cli("upload", path, "--as", MANAGER, "--json", *extra)
    assert code == status, err  # 1: stored with errors, like `frs validate`
    return json.loads(out)


def test_a_school_goes_through_the_whole_lifecycle_on_the_command_line(cli, storage_kernel, tmp_path):
    from openpyxl import load_workbook

    assert cli("db", "init")[0] == 0
    assert cli("schools", "add", "--dfe", SCHOOL, "--name", "Test School")[0] == 0
    assert cli("schools", "add", "--dfe", OTHER_SCHOOL, "--name", "Other School")[0] == 0
    assert cli("users", "add", MANAGER, "--school", SCHOOL, "--permission", "manage_data")[0] == 0
    assert cli("users", "add", "setup@a.sch.uk", "--school", SCHOOL, "--permission", "setup")[0] == 0
    assert cli("users", "add", OTHER_MANAGER, "--school", OTHER_SCHOOL, "--permission", "manage_data")[0] == 0

    files = {}
    for name, data in (("errors.xlsx", make_ks5_with_errors(storage_kernel)),
                       ("clean.xlsx", make_ks5_workbook(storage_kernel)),
                       ("third.xlsx", make_ks5_workbook(storage_kernel, pupils=4))):
        files[name] = tmp_path / name
        files[name].write_bytes(data)

    # 1. a file with errors is kept as "Upload error", with its issues to see and download
    first = upload_json(cli, files["errors.xlsx"], status=1)
    assert first["status"] == UPLOAD_ERROR
    assert {(i["code"], i["row"], i["column"]) for i in first["issues"]} == {
        ("pupil.gender-invalid", 4, "K"), ("ks5_alevel.invalid-result", 5, "L")}
    code, out, _ = cli("uploads", "show", first["id"], "--as", MANAGER, "--json")
    assert code == 0 and len(json.loads(out)["issues"]) == 2
    error_list = tmp_path / "error-list.xlsx"
    assert cli("uploads", "errors", first["id"], "--as", MANAGER, "--output", error_list)[0] == 0
    cells = {str(v) for row in load_workbook(error_list).active.iter_rows(values_only=True) for v in row}
    assert {"pupil.gender-invalid", "ks5_alevel.invalid-result"} <= cells
    code, _, err = cli("uploads", "confirm", first["id"], "--as", MANAGER, "--accept-terms")
    assert code == 1 and "Upload error" in err

    # 2. a clean file waits for confirmation, which needs the terms accepted
    second = upload_json(cli, files["clean.xlsx"])
    assert second["status"] == AWAITING_CONFIRMATION and second["issues"] == []
    code, _, err = cli("uploads", "confirm", second["id"], "--as", MANAGER)
    assert code == 1 and "--accept-terms" in err
    code, out, _ = cli("uploads", "confirm", second["id"], "--as", MANAGER, "--accept-terms", "--json")
    assert code == 0 and json.loads(out)["status"] == PROCESSING
    assert json.loads(out)["report_status"] == "Reports due 15 Oct 2021"

    # 3. a third, uploaded and confirmed in one step, overwrites the second
    third = upload_json(cli, files["third.xlsx"], "--confirm", "--accept-terms")
    assert third["status"] == PROCESSING
    code, out, _ = cli("uploads", "list", "--school", SCHOOL, "--json")
    listed = json.loads(out)
    assert [(u["id"], u["status"]) for u in listed] == [(third["id"], PROCESSING), (first["id"], UPLOAD_ERROR)]
    code, out, _ = cli("uploads", "list", "--school", SCHOOL, "--all", "--json")
    everything = {u["id"]: u for u in json.loads(out)}
    assert everything[second["id"]]["status"] == OVERWRITTEN
    assert set(everything[third["id"]]) >= {"id", "status", "filename", "pupils", "uploaded_at", "uploaded_by",
                                             "report_status"}
    assert everything[third["id"]]["pupils"] == 4
    assert everything[third["id"]]["uploaded_at"] == "2021-08-20T10:00:00+01:00"  # Europe/London, summer time
    assert everything[third["id"]]["uploaded_by"] == MANAGER

    # 4. deleting destroys the file and keeps the history line
    stored = tmp_path / "home" / "files" / SCHOOL / first_sha(everything, first)[:2] / first_sha(everything, first)
    assert stored.exists()
    code, out, _ = cli("uploads", "delete", first["id"], "--as", MANAGER, "--json")
    assert code == 0 and json.loads(out)["file_destroyed"] is True
    assert not stored.exists()
    code, out, _ = cli("uploads", "list", "--school", SCHOOL, "--all", "--json")
    assert {u["id"]: u["status"] for u in json.loads(out)}[first["id"]] == DELETED
    code, _, err = cli("uploads", "download", first["id"], "--as", MANAGER, "--output", tmp_path / "x.xlsx")
    assert code == 1 and "deleted" in err

    # 5. the current file comes back byte for byte; an overwritten one too
    for upload, name in ((third, "third.xlsx"), (second, "clean.xlsx")):
        out_path = tmp_path / f"back-{name}"
        assert cli("uploads", "download", upload["id"], "--as", MANAGER, "--output", out_path)[0] == 0
        assert out_path.read_bytes() == files[name].read_bytes()

    # 6. another school's manager and a setup-only user can do none of it
    for actor in (OTHER_MANAGER, "setup@a.sch.uk"):
        assert cli("uploads", "download", third["id"], "--as", actor, "--output", tmp_path / "steal.xlsx")[0] == 1
        assert cli("uploads", "delete", third["id"], "--as", actor)[0] == 1
        assert cli("uploads", "list", "--school", SCHOOL, "--as", actor)[0] == 1
        assert cli("upload", files["clean.xlsx"], "--as", actor, "--school", SCHOOL)[0] == 1
    assert not (tmp_path / "steal.xlsx").exists()

    # 7. the audit log tells who did what, deletion included, refusals too
    code, out, _ = cli("audit", "--school", SCHOOL, "--json")
    lines = json.loads(out)
    done = [(e["action"], e["upload_id"]) for e in lines if e["outcome"] == "ok"]
    assert ("upload", first["id"]) in done and ("delete", first["id"]) in done
    assert ("confirm", second["id"]) in done and ("overwrite", second["id"]) in done
    assert ("download", third["id"]) in done
    refused = [e for e in lines if e["outcome"] == "refused"]
    assert {e["actor"] for e in refused} >= {OTHER_MANAGER, "setup@a.sch.uk"}
    code, out, _ = cli("audit", "--school", SCHOOL)
    assert code == 0 and "delete" in out


def first_sha(everything, upload):
    return everything[upload["id"]]["sha256"]


def test_db_init_is_idempotent_and_keeps_data(cli):
    code, out, _ = cli("db", "init")
    assert code == 0 and "created" in out
    cli("schools", "add", "--dfe", SCHOOL, "--name", "Test School")
    code, out, _ = cli("db", "init")
    assert code == 0 and "up to date" in out
    code, out, _ = cli("schools", "list", "--json")
    assert [s["dfe"] for s in json.loads(out)] == [SCHOOL]


def test_commands_on_a_database_without_tables_say_to_run_db_init(cli):
    code, _, err = cli("schools", "list")
    assert code == 2 and "frs db init" in err


def test_rounds_lists_each_round_and_whether_it_is_open(cli, monkeypatch):
    code, out, _ = cli("rounds", "--json")
    assert code == 0
    [ks5] = json.loads(out)
    assert ks5["id"] == "ks5-2021" and ks5["open"] is True and ks5["templates"] == ["KS5 A-level"]
    monkeypatch.setenv("FRS_NOW", "2021-09-03T17:00")  # the deadline itself is closed
    code, out, _ = cli("rounds")
    assert code == 0 and "closed" in out and "Fri 03 Sep 2021 17:00" in out


def test_refused_upload_prints_json_and_exits_non_zero(cli, tmp_path):
    cli("db", "init")
    cli("schools", "add", "--dfe", SCHOOL, "--name", "Test School")
    cli("users", "add", MANAGER, "--school", SCHOOL, "--permission", "manage_data")
    junk = tmp_path / "junk.xlsx"
    junk.write_bytes(b"not a workbook at all")
    code, out, err = cli("upload", junk, "--as", MANAGER, "--json")
    assert code == 1 and "nothing was stored" in err
    assert [i["code"] for i in json.loads(out)["issues"]] == ["upload.not-xlsx"]


# --------------------------------------------------------------------------- the service


def count(service, model, *where):
    with db.session(service.engine) as s:
        return len(s.exec(select(model).where(*where)).all())


def test_a_clean_upload_keeps_its_pupil_records_and_an_errored_one_keeps_only_issues(people, storage_kernel):
    clean = people.upload(MANAGER, make_ks5_workbook(storage_kernel, pupils=5), "clean.xlsx").upload
    bad = people.upload(MANAGER, make_ks5_with_errors(storage_kernel), "bad.xlsx").upload
    assert count(people, PupilRecord, PupilRecord.upload_id == clean.id) == 5
    assert count(people, PupilRecord, PupilRecord.upload_id == bad.id) == 0
    assert count(people, UploadIssue, UploadIssue.upload_id == bad.id) == 2
    with db.session(people.engine) as s:
        record = s.exec(select(PupilRecord).where(PupilRecord.upload_id == clean.id).order_by(PupilRecord.row)).first()
    assert record.row == 4 and record.upn == ks5_pupil(1).upn and record.fields["surname"] == "Smith"
    assert set(record.results.values()) == {"A", "B"}


def test_delete_removes_records_issues_and_file_but_keeps_the_line_and_audit(people, storage_kernel):
    clean = people.upload(MANAGER, make_ks5_workbook(storage_kernel), "clean.xlsx").upload
    bad = people.upload(MANAGER, make_ks5_with_errors(storage_kernel), "bad.xlsx").upload
    for upload in (clean, bad):
        assert people.delete(MANAGER, upload.id).file_destroyed
        assert not people.store.exists(SCHOOL, upload.sha256)
    assert count(people, PupilRecord) == 0 and count(people, UploadIssue) == 0
    views = people.list_uploads(MANAGER, SCHOOL, include_hidden=True)
    assert [v.status for v in views] == [DELETED, DELETED]
    assert people.list_uploads(MANAGER, SCHOOL) == []
    actions = [(e["action"], e["upload_id"]) for e in people.audit(MANAGER, SCHOOL)]
    assert actions == [("upload", clean.id), ("upload", bad.id), ("delete", clean.id), ("delete", bad.id)]
    with pytest.raises(Refused, match="already deleted"):
        people.delete(MANAGER, clean.id)


def test_deleting_the_current_upload_leaves_no_current_file(people, storage_kernel):
    view = people.upload(MANAGER, make_ks5_workbook(storage_kernel), "a.xlsx", confirm=True, accept_terms=True).upload
    assert view.is_current
    people.delete(MANAGER, view.id)
    with db.session(people.engine) as s:
        assert s.exec(select(Upload).where(Upload.is_current == True)).all() == []  # noqa: E712


def test_the_same_bytes_twice_are_stored_once_and_survive_until_the_last_upload_goes(people, storage_kernel):
    data = make_ks5_workbook(storage_kernel)
    a = people.upload(MANAGER, data, "a.xlsx").upload
    b = people.upload(MANAGER, data, "again.xlsx").upload
    other = people.upload(OTHER_MANAGER, make_ks5_workbook(storage_kernel, school_dfe=OTHER_SCHOOL), "o.xlsx").upload
    assert a.sha256 == b.sha256
    assert people.delete(MANAGER, a.id).file_destroyed is False  # b still needs the bytes
    assert people.download(MANAGER, b.id)[1] == data
    assert people.delete(MANAGER, b.id).file_destroyed is True
    assert not people.store.exists(SCHOOL, a.sha256)
    assert people.download(OTHER_MANAGER, other.id)[0] == "o.xlsx"


def test_one_schools_deletion_never_destroys_another_schools_identical_bytes(people, storage_kernel):
    data = make_ks5_workbook(storage_kernel)  # the same bytes sent by two schools (e.g. a shared file)
    people.add_user(MANAGER, OTHER_SCHOOL, ["manage_data"])
    mine = people.upload(MANAGER, data, "a.xlsx", school_dfe=SCHOOL).upload
    theirs = people.upload(OTHER_MANAGER, data, "a.xlsx").upload
    assert people.delete(MANAGER, mine.id).file_destroyed is True
    assert people.download(OTHER_MANAGER, theirs.id)[1] == data


def test_only_an_upload_awaiting_confirmation_can_be_confirmed(people, storage_kernel):
    bad = people.upload(MANAGER, make_ks5_with_errors(storage_kernel), "bad.xlsx").upload
    with pytest.raises(Refused, match="Upload error") as exc:
        people.confirm(MANAGER, bad.id, accept_terms=True)
    assert exc.value.code == "state"
    good = people.upload(MANAGER, make_ks5_workbook(storage_kernel), "good.xlsx").upload
    with pytest.raises(Refused) as exc:
        people.confirm(MANAGER, good.id, accept_terms=False)
    assert exc.value.code == "terms"
    assert people.confirm(MANAGER, good.id, accept_terms=True).status == PROCESSING
    with pytest.raises(Refused, match="Processing"):
        people.confirm(MANAGER, good.id, accept_terms=True)


def test_upload_with_confirm_but_no_terms_stores_nothing(people, storage_kernel):
    with pytest.raises(Refused) as exc:
        people.upload(MANAGER, make_ks5_workbook(storage_kernel), "a.xlsx", confirm=True)
    assert exc.value.code == "terms"
    assert count(people, Upload) == 0


def test_upload_with_confirm_of_a_file_with_errors_stores_it_and_reports_the_refusal(people, storage_kernel):
    result = people.upload(MANAGER, make_ks5_with_errors(storage_kernel), "a.xlsx", confirm=True, accept_terms=True)
    assert result.upload.status == UPLOAD_ERROR
    assert "Upload error" in result.confirm_refused


def test_a_gate_rejection_stores_nothing_but_the_audit_line(people):
    with pytest.raises(Refused) as exc:
        people.upload(MANAGER, b"PK\x03\x04 but not really a zip", "x.xlsx")
    assert exc.value.code == "gate" and exc.value.issues[0].code.startswith("upload.")
    assert count(people, Upload) == 0
    assert list(people.store.files()) == []
    [line] = people.audit(MANAGER, SCHOOL)
    assert (line["action"], line["outcome"], line["upload_id"]) == ("upload", "refused", None)
    assert line["sha256"] and line["size"] == len(b"PK\x03\x04 but not really a zip")


def test_a_workbook_that_is_not_a_template_is_refused(people):
    from openpyxl import Workbook

    out = io.BytesIO()
    Workbook().save(out)
    with pytest.raises(Refused) as exc:
        people.upload(MANAGER, out.getvalue(), "mine.xlsx")
    assert exc.value.code == "unrecognised"
    assert [i.code for i in exc.value.issues] == ["template.unrecognised"]
    assert count(people, Upload) == 0


def test_an_unknown_keystage_option_is_refused(people, storage_kernel):
    with pytest.raises(Refused, match="ks9"):
        people.upload(MANAGER, make_ks5_workbook(storage_kernel), "a.xlsx", keystage_id="ks9")


@pytest.mark.parametrize("now", ["2021-08-09T23:59", "2021-09-03T17:00", "2022-01-01T09:00"])
def test_outside_the_round_an_upload_is_refused_with_the_dates_and_nothing_is_stored(people, storage_kernel,
                                                                                    monkeypatch, now):
    data = make_ks5_workbook(storage_kernel)
    monkeypatch.setenv("FRS_NOW", now)
    for keystage_id in (None, "ks5_alevel"):  # told or read from the file
        with pytest.raises(Refused) as exc:
            people.upload(MANAGER, data, "a.xlsx", keystage_id=keystage_id)
        assert exc.value.code == "round-closed"
        assert "Tue 10 Aug 2021 00:00 to Fri 03 Sep 2021 17:00" in exc.value.reason
    assert count(people, Upload) == 0 and list(people.store.files()) == []


def test_a_confirmation_after_the_round_closes_is_refused(people, storage_kernel, monkeypatch):
    view = people.upload(MANAGER, make_ks5_workbook(storage_kernel), "a.xlsx").upload
    monkeypatch.setenv("FRS_NOW", "2021-09-03T17:01")
    with pytest.raises(Refused) as exc:
        people.confirm(MANAGER, view.id, accept_terms=True)
    assert exc.value.code == "round-closed"


def test_a_user_at_several_schools_must_say_which(people, storage_kernel):
    people.add_user(MANAGER, OTHER_SCHOOL, ["manage_data"])
    with pytest.raises(Refused) as exc:
        people.upload(MANAGER, make_ks5_workbook(storage_kernel), "a.xlsx")
    assert exc.value.code == "which-school"
    data = make_ks5_workbook(storage_kernel, school_dfe=OTHER_SCHOOL)
    assert people.upload(MANAGER, data, "a.xlsx", school_dfe=OTHER_SCHOOL).upload.school_dfe == OTHER_SCHOOL


def test_the_audit_log_holds_no_pupil_data(people, storage_kernel):
    view = people.upload(MANAGER, make_ks5_with_errors(storage_kernel), "a.xlsx").upload
    people.error_report(MANAGER, view.id)
    people.delete(MANAGER, view.id)
    with db.session(people.engine) as s:
        text = json.dumps([e.model_dump(mode="json") for e in s.exec(select(AuditEvent)).all()])
    assert ks5_pupil(1).upn not in text and "Smith" not in text


def test_the_stored_error_report_matches_the_validation(people, storage_kernel):
    result = people.upload(MANAGER, make_ks5_with_errors(storage_kernel), "a.xlsx")
    stored = people.error_report(MANAGER, result.upload.id)
    assert [i.to_dict() for i in stored.issues] == [i.to_dict() for i in result.report.issues]


def test_users_add_is_additive_and_checks_its_input(people):
    assert people.add_user(" Manager@A.sch.uk ", SCHOOL, ["setup"])["permissions"] == ["manage_data", "setup"]
    with pytest.raises(Refused):
        people.add_user("not-an-email", SCHOOL, ["setup"])
    with pytest.raises(Refused):
        people.add_user("x@y.uk", SCHOOL, ["admin"])
    with pytest.raises(Refused, match="9999999"):
        people.add_user("x@y.uk", "9999999", ["setup"])


# --------------------------------------------------------------------------- schools import

GIAS_HEADER = ('URN,LA (code),LA (name),EstablishmentNumber,EstablishmentName,TypeOfEstablishment (name),'
               'EstablishmentStatus (name),PhaseOfEducation (name)\n')


def test_gias_import_loads_good_rows_reports_bad_ones_by_line_and_reimport_updates(service):
    csv_text = (GIAS_HEADER
                + '100000,201,City of London,3614,"Sir John Cass\'s Foundation Primary School",Voluntary aided school,'
                  'Open,Primary\n'
                + '137157,801,Bristol,4000,Bristol Academy,Academy converter,Open,Secondary\n'
                + '999999,,Unknown,,Children\'s Centre,Children\'s centre,Open,Not applicable\n'
                + '137158,80,Bristol,12,Short Numbers School,Academy sponsor led,Open,Secondary\n'
                + '137159,801,Bristol,40X1,Typo School,Academy converter,Open,Secondary\n'
                + '137160,801,Bristol,4001,,Academy converter,Open,Secondary\n')
    result = service.import_schools(csv_text.encode("utf-8"))
    assert (result.added, result.updated, result.unchanged) == (3, 0, 0)
    assert [line for line, _ in result.bad] == [4, 6, 7]
    assert "establishment number" in result.bad[1][1] and "name" in result.bad[2][1]
    schools = {s.dfe: s for s in service.schools()}
    assert set(schools) == {"2013614", "8014000", "0800012"}
    assert schools["8014000"].urn == "137157" and schools["8014000"].phase == "Secondary"

    renamed = csv_text.replace("Bristol Academy", "Bristol Academy Trust School")
    again = service.import_schools(renamed.encode("utf-8"))
    assert (again.added, again.updated, again.unchanged) == (0, 1, 2)
    assert len(service.schools()) == 3
    assert {s.dfe: s.name for s in service.schools()}["8014000"] == "Bristol Academy Trust School"


def test_gias_import_reads_windows_1252_and_header_variants(service):
    csv_text = ("urn;DfE Number;School Name;Status\n".replace(";", ",")
                + "123,123/4567,Ysgol Gymraeg Caerdydd – Siôn,Open\n")
    result = service.import_schools(csv_text.encode("cp1252"))
    assert result.added == 1 and result.bad == []
    assert service.schools()[0].name == "Ysgol Gymraeg Caerdydd – Siôn"


def test_gias_import_prefers_the_open_record_when_a_number_is_listed_twice(service):
    csv_text = (GIAS_HEADER
                + "100,801,Bristol,4000,Old School,Community school,Closed,Secondary\n"
                + "200,801,Bristol,4000,New School,Academy converter,Open,Secondary\n"
                + "300,801,Bristol,4000,Older School,Community school,Closed,Secondary\n")
    result = service.import_schools(csv_text.encode())
    assert [s.name for s in service.schools()] == ["New School"]
    assert [line for line, _ in result.bad] == [2, 4]


def test_gias_import_without_the_needed_columns_is_refused(service):
    with pytest.raises(Refused, match="EstablishmentName"):
        service.import_schools(b"URN,Town\n1,Bristol\n")


def test_schools_add_updates_rather_than_duplicates(service):
    assert service.add_school("123/1234", "A School")[1] is True
    school, created = service.add_school("1231234", "A School Renamed")
    assert created is False and [s.name for s in service.schools()] == ["A School Renamed"]
    with pytest.raises(Refused):
        service.add_school("12312", "Too Short")


def test_schools_import_on_the_command_line_lists_bad_lines(cli, tmp_path):
    cli("db", "init")
    path = tmp_path / "edubasealldata.csv"
    path.write_text(GIAS_HEADER + "1,801,B,4000,Good,Academy,Open,Secondary\n2,801,B,,Bad,Academy,Open,Secondary\n")
    code, out, _ = cli("schools", "import", path)
    assert code == 0 and "1 added" in out and "line 3" in out
    code, out, _ = cli("schools", "import", path, "--json")
    assert json.loads(out)["unchanged"] == 1


# --------------------------------------------------------------------------- database settings


def test_sqlite_runs_with_the_safety_pragmas(tmp_path):
    engine = db.make_engine(f"sqlite:///{tmp_path / 'x.db'}")
    with engine.connect() as conn:
        values = {p: conn.exec_driver_sql(f"PRAGMA {p}").scalar()
                  for p in ("journal_mode", "synchronous", "foreign_keys", "secure_delete", "busy_timeout")}
    assert values == {"journal_mode": "wal", "synchronous": 2, "foreign_keys": 1, "secure_delete": 1,
                      "busy_timeout": db.BUSY_TIMEOUT_MS}


def test_the_default_database_is_sqlite_in_the_instance_folder(tmp_path):
    from frs.config import Config

    assert db.database_url(Config(path=None, home=tmp_path)) == f"sqlite:///{tmp_path.resolve() / 'frs.db'}"
    url = "postgresql+psycopg://postgres@127.0.0.1:5432/frs"
    assert db.database_url(Config(path=None, home=tmp_path, database_url=url)) == url


def test_only_one_upload_per_school_and_template_can_be_current_in_the_schema(people, storage_kernel):
    from sqlalchemy.exc import IntegrityError

    a = people.upload(MANAGER, make_ks5_workbook(storage_kernel), "a.xlsx", confirm=True, accept_terms=True).upload
    b = people.upload(MANAGER, make_ks5_workbook(storage_kernel, pupils=2), "b.xlsx").upload
    with db.session(people.engine, write=True) as s:
        row = s.get(Upload, b.id)
        row.is_current = True
        s.add(row)
        with pytest.raises(IntegrityError):
            s.commit()
    assert a.is_current
    with db.session(people.engine) as s:
        assert s.exec(select(School)).first() is not None


def test_control_characters_in_a_file_are_stored_visibly_on_both_databases(people, storage_kernel):
    """A NUL typed into a name (Excel writes it as _x0000_) must not break storage: PostgreSQL
    refuses NUL in text, so the issue keeps a visible "?" instead."""
    import io
    import zipfile

    def marker(sheet):
        sheet["F4"] = "Zzmarker"

    data = make_ks5_workbook(storage_kernel, edit=marker)
    src, out = zipfile.ZipFile(io.BytesIO(data)), io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for item in src.infolist():
            dst.writestr(item, src.read(item).replace(b"Zzmarker", b"Zz_x0000_marker"))
    result = people.upload(MANAGER, out.getvalue(), "nul.xlsx")
    assert result.upload.status == "Upload error"
    view, issues = people.show(MANAGER, result.upload.id)
    found = {(i.code, i.row, i.column): i.value for i in issues}
    assert found[("cell.control-characters", 4, "F")] == "Zz?marker"
