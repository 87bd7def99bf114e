"""Pupil records and issues stored in bulk (COPY on PostgreSQL, executemany on SQLite), on both
databases: every value comes back exactly as given, and a failure part-way through leaves nothing."""

from __future__ import annotations

import pytest
from conftest import MANAGER, SCHOOL, make_ks5_workbook
from sqlmodel import select

from frs import clock
from frs.storage import bulk, db
from frs.storage.models import AuditEvent, PupilRecord, School, Upload, UploadIssue, User
from frs.storage.service import StorageFailed

PUPILS = bulk.COPY_FROM_ROWS + 10  # enough to take the bulk path

# text COPY gives meaning to backslashes, tabs, line breaks and \N (NULL): each must arrive as typed
AWKWARD = ["\\N", "a\tb", "line\nbreak", "cr\rhere", "back\\slash", 'quote"s', "Zoë O'Brien", "", "\\.", "NULL"]


def stored_records(service, upload_id):
    with db.session(service.engine) as s:
        return s.exec(select(PupilRecord).where(PupilRecord.upload_id == upload_id).order_by(PupilRecord.row)).all()


def test_awkward_text_and_nulls_come_back_exactly_as_written(people):
    with db.session(people.engine, write=True) as s:
        school = s.exec(select(School).where(School.dfe == SCHOOL)).one()
        user = s.exec(select(User).where(User.email == MANAGER)).one()
        upload = Upload(school_id=school.id, keystage="ks5_alevel", round_id="ks5-2021", filename="a.xlsx",
                        sha256="0" * 64, size=1, status="Upload error", pupils=PUPILS, uploaded_at=clock.now(),
                        uploaded_by_id=user.id)
        s.add(upload)
        s.flush()
        records = [{"upload_id": upload.id, "row": 5 + n, "upn": None if n % 3 == 0 else AWKWARD[n % len(AWKWARD)],
                    "fields": {"surname": AWKWARD[n % len(AWKWARD)], "n": n, "none": None, "nested": {"x": [1, "\\"]}},
                    "results": {"subject": AWKWARD[(n + 1) % len(AWKWARD)]}} for n in range(PUPILS)]
        issues = [{"upload_id": upload.id, "position": n, "code": "cell.x", "severity": "warning",
                   "message": AWKWARD[n % len(AWKWARD)], "sheet": "Results", "row": n or None, "column": "A",
                   "header": None, "upn": None, "value": AWKWARD[(n + 2) % len(AWKWARD)], "plugin": "frs"}
                  for n in range(PUPILS)]
        bulk.insert_rows(s, PupilRecord.__table__, records)
        bulk.insert_rows(s, UploadIssue.__table__, issues)
        s.commit()
        upload_id = upload.id
    got = [{"upload_id": r.upload_id, "row": r.row, "upn": r.upn, "fields": r.fields, "results": r.results}
           for r in stored_records(people, upload_id)]
    assert got == records
    with db.session(people.engine) as s:
        rows = s.exec(select(UploadIssue).where(UploadIssue.upload_id == upload_id).order_by(UploadIssue.position)).all()
    assert [{k: getattr(r, k) for k in issues[0]} for r in rows] == issues


def test_a_clean_upload_stores_every_pupil_record_as_validated(people, storage_kernel):
    data = make_ks5_workbook(storage_kernel, pupils=PUPILS)
    result = people.upload(MANAGER, data, "clean.xlsx")
    stored = stored_records(people, result.upload.id)
    assert len(stored) == PUPILS == result.upload.pupils
    for record, expected in zip(stored, result.report.records):
        assert record.row == expected["row"] and record.upn == expected["upn"]
        assert record.results == expected["results"]
        assert record.fields == {k: v for k, v in expected.items() if k not in ("row", "results")}


def test_a_record_the_database_rejects_part_way_leaves_nothing_and_no_pupil_data_in_the_audit(
        people, storage_kernel, monkeypatch, db_url):
    data = make_ks5_workbook(storage_kernel, pupils=PUPILS)
    real_dumps, real_insert, calls = bulk._dumps, bulk.insert, []

    def dumps(value):  # PostgreSQL's COPY: half-way through, a row the database refuses (broken JSON)
        text = real_dumps(value)
        if "surname" in text:
            calls.append(1)
            if len(calls) == PUPILS // 2:
                return '{"surname": "Smith-SECRET'
        return text

    def failing_insert(table):  # SQLite's executemany: the insert of the records fails
        if table.name == "pupilrecord":
            raise ValueError("could not encode")
        return real_insert(table)

    with monkeypatch.context() as patch:
        patch.setattr(bulk, "_dumps", dumps)
        patch.setattr(bulk, "insert", failing_insert)
        with pytest.raises(StorageFailed) as failed:
            people.upload(MANAGER, data, "a.xlsx")
    assert db_url.startswith("sqlite") or len(calls) >= PUPILS // 2  # the bad row came half-way
    assert "SECRET" not in str(failed.value)
    with db.session(people.engine) as s:
        assert s.exec(select(Upload)).all() == [] and s.exec(select(PupilRecord)).all() == []
        [line] = [e for e in s.exec(select(AuditEvent)).all() if e.action == "upload"]
    assert (line.outcome, line.school_dfe) == ("failed", SCHOOL) and "SECRET" not in (line.reason or "")
    assert "json" in line.reason.lower() or db_url.startswith("sqlite")  # the driver's own first line
    view = people.upload(MANAGER, data, "retry.xlsx").upload  # the connection is usable again
    assert len(stored_records(people, view.id)) == PUPILS
