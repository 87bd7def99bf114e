"""Failures and races, on SQLite and PostgreSQL: a failure at any step of storing an upload leaves
no half-stored upload and never a row without its file; simultaneous confirmations leave exactly
one current file."""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest
from conftest import MANAGER, SCHOOL, make_ks5_workbook
from sqlalchemy.exc import OperationalError
from sqlmodel import Session, select

from frs.storage import db, files
from frs.storage.models import DELETED, OVERWRITTEN, PROCESSING, AuditEvent, PupilRecord, Upload, UploadIssue
from frs.storage.service import Refused, StorageFailed

TESTS = Path(__file__).resolve().parent


def rows(service, model):
    with db.session(service.engine) as s:
        return s.exec(select(model)).all()


def stored_paths(service):
    return [path for _dfe, _name, path in service.store.files()]


def assert_nothing_half_stored(service):
    assert rows(service, Upload) == [] and rows(service, UploadIssue) == [] and rows(service, PupilRecord) == []
    assert not [p for p in stored_paths(service) if p.name.startswith(files.TEMP_PREFIX)]


def assert_failure_audited(service):
    [line] = [e for e in rows(service, AuditEvent) if e.action == "upload"]
    assert (line.outcome, line.school_dfe, line.actor) == ("failed", SCHOOL, MANAGER)


def assert_retry_works(service, data):
    view = service.upload(MANAGER, data, "retry.xlsx").upload
    assert service.download(MANAGER, view.id)[1] == data


# --------------------------------------------------------------------------- failures before the file is in place


def disk_full(fd, data):
    os.write(fd, data[: len(data) // 2])  # half written, then the disk fills
    raise OSError(errno.ENOSPC, "No space left on device")


def fsync_fails(fd):
    raise OSError(errno.EIO, "Input/output error")


def rename_fails(src, dst):
    raise OSError(errno.EXDEV, "Invalid cross-device link")


@pytest.mark.parametrize("target, replacement", [
    ("_write_all", disk_full), ("os.fsync", fsync_fails), ("os.replace", rename_fails)])
def test_a_failed_file_write_stores_nothing(people, storage_kernel, monkeypatch, target, replacement):
    data = make_ks5_workbook(storage_kernel)
    with monkeypatch.context() as patch:
        patch.setattr(f"frs.storage.files.{target}", replacement)
        with pytest.raises(StorageFailed, match="Nothing was kept"):
            people.upload(MANAGER, data, "a.xlsx")
    assert_nothing_half_stored(people)
    assert stored_paths(people) == []  # not even an orphan: the temp file was removed
    assert_failure_audited(people)
    assert_retry_works(people, data)


# --------------------------------------------------------------------------- failures after the file is in place


def test_a_failed_commit_leaves_an_orphan_file_never_a_row(people, storage_kernel, monkeypatch):
    data = make_ks5_workbook(storage_kernel)
    real_commit = Session.commit
    calls = []

    def commit_once_fails(self):
        if not calls:
            calls.append(1)
            raise OperationalError("COMMIT", {}, Exception("could not write to the write-ahead log"))
        return real_commit(self)

    with monkeypatch.context() as patch:
        patch.setattr(Session, "commit", commit_once_fails)
        with pytest.raises(StorageFailed):
            people.upload(MANAGER, data, "a.xlsx")
    assert_nothing_half_stored(people)
    [orphan] = stored_paths(people)
    assert orphan.name == files.sha256_of(data)
    assert_failure_audited(people)
    assert people.sweep(older_than_seconds=3600) == []  # too young to be swept
    assert people.sweep(older_than_seconds=0) == [orphan]
    assert stored_paths(people) == []
    assert_retry_works(people, data)


def test_a_database_error_while_saving_pupil_records_rolls_back_the_whole_upload(people, storage_kernel, monkeypatch):
    data = make_ks5_workbook(storage_kernel)
    real_execute = Session.execute

    def execute(self, statement, *args, **kwargs):
        if getattr(statement, "table", None) is not None and statement.table.name == "pupilrecord":
            raise OperationalError("INSERT", {}, Exception("disk I/O error"))
        return real_execute(self, statement, *args, **kwargs)

    with monkeypatch.context() as patch:
        patch.setattr(Session, "execute", execute)
        with pytest.raises(StorageFailed):
            people.upload(MANAGER, data, "a.xlsx")
    assert_nothing_half_stored(people)  # the upload row and its issues went with the failed insert
    assert [p.name for p in stored_paths(people)] == [files.sha256_of(data)]  # an orphan, swept later
    assert_failure_audited(people)
    people.sweep(older_than_seconds=0)
    assert stored_paths(people) == []
    assert_retry_works(people, data)


KILL_SCRIPT = textwrap.dedent("""
    import os, signal, sys, tomllib
    sys.path.insert(0, {tests!r})
    from conftest import TEST_CONFIG
    from frs.config import parse
    from frs.kernel import Kernel
    from frs.storage import db, files
    from frs.storage.service import Service

    real_put = files.FileStore.put

    def put_then_die(self, school_dfe, data):
        real_put(self, school_dfe, data)
        os.kill(os.getpid(), signal.SIGKILL)  # the process dies with the file written, the row not

    files.FileStore.put = put_then_die
    service = Service(Kernel(parse(tomllib.loads(TEST_CONFIG))), db.make_engine({url!r}),
                      files.FileStore({store!r}))
    service.upload({actor!r}, open({data!r}, "rb").read(), "a.xlsx")
""")


def test_a_process_killed_between_file_and_row_leaves_an_orphan_file_only(people, storage_kernel, tmp_path):
    data = make_ks5_workbook(storage_kernel)
    (tmp_path / "upload.xlsx").write_bytes(data)
    script = KILL_SCRIPT.format(tests=str(TESTS), url=str(people.engine.url.render_as_string(hide_password=False)),
                                store=str(people.store.root), actor=MANAGER, data=str(tmp_path / "upload.xlsx"))
    proc = subprocess.run([sys.executable, "-c", script], env={**os.environ, "FRS_NOW": os.environ["FRS_NOW"]},
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    assert_nothing_half_stored(people)
    [orphan] = stored_paths(people)
    assert people.sweep(older_than_seconds=0) == [orphan]
    assert_retry_works(people, data)  # the database is usable: the dead writer's lock went with it


# --------------------------------------------------------------------------- deletion


def test_a_failed_file_removal_on_delete_is_finished_by_the_sweeper(people, storage_kernel, monkeypatch):
    data = make_ks5_workbook(storage_kernel)
    view = people.upload(MANAGER, data, "a.xlsx").upload

    def unlink_fails(self, school_dfe, sha256):
        raise OSError(errno.EIO, "Input/output error")

    with monkeypatch.context() as patch:
        patch.setattr(files.FileStore, "delete", unlink_fails)
        result = people.delete(MANAGER, view.id)
    assert result.upload.status == DELETED and result.file_destroyed is False
    assert people.store.exists(SCHOOL, view.sha256)
    with pytest.raises(Refused):
        people.download(MANAGER, view.id)
    assert len(people.sweep(older_than_seconds=0)) == 1
    assert not people.store.exists(SCHOOL, view.sha256)
    assert [e["action"] for e in people.audit(MANAGER, SCHOOL)][-1] == "sweep"


def test_the_sweeper_never_removes_a_file_an_upload_refers_to(people, storage_kernel):
    views = [people.upload(MANAGER, make_ks5_workbook(storage_kernel, pupils=n), f"{n}.xlsx").upload
             for n in (1, 2)]
    people.confirm(MANAGER, views[0].id, accept_terms=True)
    assert people.sweep(older_than_seconds=0) == []
    assert all(people.store.exists(SCHOOL, v.sha256) for v in views)


def test_a_stored_file_that_no_longer_matches_its_hash_is_not_handed_out(people, storage_kernel):
    view = people.upload(MANAGER, make_ks5_workbook(storage_kernel), "a.xlsx").upload
    people.store.path(SCHOOL, view.sha256).write_bytes(b"tampered")
    with pytest.raises(StorageFailed, match="intact"):
        people.download(MANAGER, view.id)


def test_file_keys_cannot_escape_the_store(tmp_path):
    store = files.FileStore(tmp_path)
    for dfe, sha in (("../../etc", "a" * 64), ("1231234", "../" + "a" * 61)):
        with pytest.raises(ValueError):
            store.path(dfe, sha)


# --------------------------------------------------------------------------- races


def run_together(functions):
    """Start every function at the same moment in its own thread; return what each raised."""
    barrier = threading.Barrier(len(functions))
    outcomes = [None] * len(functions)

    def run(i, fn):
        barrier.wait()
        try:
            fn()
        except Exception as exc:  # collected and checked by the test
            outcomes[i] = exc

    threads = [threading.Thread(target=run, args=(i, fn)) for i, fn in enumerate(functions)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    return outcomes


@pytest.mark.parametrize("racers", [2, 5])
def test_simultaneous_confirms_leave_exactly_one_current_file(people, storage_kernel, racers):
    for attempt in range(3):
        ids = [people.upload(MANAGER, make_ks5_workbook(storage_kernel, pupils=n + 1), f"{attempt}-{n}.xlsx").upload.id
               for n in range(racers)]
        outcomes = run_together([lambda i=i: people.confirm(MANAGER, i, accept_terms=True) for i in ids])
        assert outcomes == [None] * racers
        uploads = [u for u in rows(people, Upload)]
        current = [u for u in uploads if u.is_current]
        assert len(current) == 1 and current[0].status == PROCESSING
        assert sorted(u.status for u in uploads if not u.is_current) == [OVERWRITTEN] * (len(uploads) - 1)
    confirms = [e for e in rows(people, AuditEvent) if e.action == "confirm" and e.outcome == "ok"]
    assert len(confirms) == 3 * racers


def test_the_same_upload_confirmed_twice_at_once_is_confirmed_once(people, storage_kernel):
    view = people.upload(MANAGER, make_ks5_workbook(storage_kernel), "a.xlsx").upload
    outcomes = run_together([lambda: people.confirm(MANAGER, view.id, accept_terms=True)] * 3)
    assert sum(o is None for o in outcomes) == 1
    assert all(isinstance(o, Refused) and o.code == "state" for o in outcomes if o is not None)


def test_deleting_while_the_same_bytes_are_uploaded_again_never_loses_the_new_file(people, storage_kernel,
                                                                                   monkeypatch):
    data = make_ks5_workbook(storage_kernel)
    report = people.kernel_validate(data, SCHOOL, "a.xlsx", None)
    monkeypatch.setattr(people, "kernel_validate", lambda *args: report)  # so both reach the store together
    for attempt in range(5):
        old = people.upload(MANAGER, data, "old.xlsx").upload
        new = []
        outcomes = run_together([lambda: people.delete(MANAGER, old.id),
                                 lambda: new.append(people.upload(MANAGER, data, "new.xlsx").upload)])
        assert outcomes == [None, None]
        assert people.download(MANAGER, new[0].id)[1] == data
        people.delete(MANAGER, new[0].id)
        assert not people.store.exists(SCHOOL, new[0].sha256)
