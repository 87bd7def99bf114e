"""The service layer: every school action the command line (and later the web) offers.

Each action takes the acting user's email and checks, here on the server side, that the user has
the permission at the school the data belongs to. A refusal raises :class:`Refused` with a reason
for a person; it is written to the audit log. There is no click here, so the web reuses it as is.

Tenant isolation: an upload is always looked up together with its school, and a user who has no
permission at that school is told only that there is no such upload they can manage, so one
school cannot learn what another has uploaded.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import logging
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

from sqlalchemy import delete as sql_delete
from sqlalchemy import func
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from .. import clock
from ..config import LONDON, ConfigError, Round
from ..connectors import School as SchoolInfo, dfe_number
from ..issues import CONTROL_CODES, Issue, Report, visible
from ..kernel import UnknownKeyStage
from ..services.rounds import round_states  # noqa: F401  (also offered here, as before)
from ..keystage import KeyStage
from . import db
from .bulk import insert_rows
from .files import FileStore, StoreCorrupt, sha256_of
from .models import (AWAITING_CONFIRMATION, DELETED, HIDDEN_STATUSES, MANAGE_DATA, OVERWRITTEN, PERMISSIONS,
                     PROCESSING, REPORTS_AVAILABLE, UPLOAD_ERROR, AuditEvent, Permission, PupilRecord, School,
                     Upload, UploadIssue, User)

log = logging.getLogger("frs.storage")

ORPHAN_AGE_SECONDS = 24 * 3600  # files no row refers to are removed after this long
TERMS_REFUSAL = ("Confirming needs the terms and conditions accepted: tick the box (on the command line, "
                 "add --accept-terms). Nothing was confirmed.")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
# in a one-line field (a school's name, type, ...) tabs and line breaks are as wrong as the rest
_LINE_CONTROL = re.compile("[" + "".join(re.escape(chr(c)) for c in (*CONTROL_CODES, 9, 10, 13)) + "]")


class Operator:
    """The service's own operator at the command line: may list uploads and read the audit log of
    any school. Never passed by the web, where every request acts as a signed-in user."""

    def __repr__(self) -> str:
        return "OPERATOR"


OPERATOR = Operator()
Actor = "str | Operator"


class Refused(Exception):
    """An action was not allowed or not possible; ``reason`` says why and what to do."""

    def __init__(self, reason: str, *, code: str = "refused", issues: Iterable[Issue] = (), report: Report | None = None):
        super().__init__(reason)
        self.reason = reason
        self.code = code
        self.issues = list(issues)
        self.report = report


class StorageFailed(Exception):
    """The service could not finish an action (disk, database); nothing half-done was kept."""


# --------------------------------------------------------------------------- views


def london_iso(value: dt.datetime | None) -> str | None:
    return value.astimezone(LONDON).isoformat(timespec="seconds") if value else None


@dataclass
class UploadView:
    """An upload as a school sees it in its list."""

    id: int
    school_dfe: str
    school_name: str
    keystage: str
    round_id: str
    filename: str
    status: str
    is_current: bool
    pupils: int
    errors: int
    warnings: int
    sha256: str
    size: int
    uploaded_at: dt.datetime
    uploaded_by: str
    confirmed_at: dt.datetime | None
    confirmed_by: str | None
    deleted_at: dt.datetime | None
    reports_due: dt.date | None

    @property
    def report_status(self) -> str | None:
        if self.status == PROCESSING:
            return f"Reports due {self.reports_due:%d %b %Y}" if self.reports_due else "Reports being prepared"
        if self.status == REPORTS_AVAILABLE:
            return "Reports available"
        return None

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id, "status": self.status, "filename": self.filename, "pupils": self.pupils,
            "uploaded_at": london_iso(self.uploaded_at), "uploaded_by": self.uploaded_by,
            "report_status": self.report_status, "school": self.school_dfe, "keystage": self.keystage,
            "round": self.round_id, "current": self.is_current, "errors": self.errors, "warnings": self.warnings,
            "sha256": self.sha256, "size": self.size, "confirmed_at": london_iso(self.confirmed_at),
            "confirmed_by": self.confirmed_by, "deleted_at": london_iso(self.deleted_at),
            "reports_due": self.reports_due.isoformat() if self.reports_due else None,
        }


@dataclass
class UploadResult:
    """What ``upload`` did: the stored upload, the validation report, and, when a confirmation was
    asked for in the same step, the reason it was refused (None when it was confirmed or not asked)."""

    upload: UploadView
    report: Report
    confirm_refused: str | None = None

    def to_dict(self) -> dict[str, Any]:
        out = {"id": self.upload.id, "status": self.upload.status,
               "issues": [i.to_dict() for i in self.report.issues]}
        out.update({k: v for k, v in self.upload.to_dict().items() if k not in out})
        if self.confirm_refused:
            out["confirm_refused"] = self.confirm_refused
        return out


@dataclass
class ImportResult:
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    bad: list[tuple[int, str]] = field(default_factory=list)  # (line number, reason)

    def to_dict(self) -> dict[str, Any]:
        return {"added": self.added, "updated": self.updated, "unchanged": self.unchanged,
                "bad": [{"line": line, "reason": reason} for line, reason in self.bad]}


@dataclass
class DeleteResult:
    upload: UploadView
    file_destroyed: bool  # False: the same bytes back another live upload of the school, or removal failed


# --------------------------------------------------------------------------- the service


class Service:
    def __init__(self, kernel, engine: Engine, store: FileStore):
        self.kernel = kernel
        self.engine = engine
        self.store = store

    @classmethod
    def from_kernel(cls, kernel) -> "Service":
        """The service on the configured database and instance folder."""
        config = kernel.config
        return cls(kernel, db.make_engine(db.database_url(config)), FileStore(Path(config.home) / "files"))

    def init_db(self) -> list[str]:
        return db.init_db(self.engine)

    def check_ready(self) -> None:
        db.check_ready(self.engine)

    def _session(self, write: bool = False):
        return db.session(self.engine, write=write)

    # ------------------------------------------------------------------ schools and users (operators)

    def add_school(self, dfe: str, name: str, *, urn: str | None = None, type: str | None = None,
                   phase: str | None = None, status: str | None = None) -> tuple[School, bool]:
        """Add a school, or update the one with this DfE number. Returns (school, created)."""
        school, outcome = self.put_school(dfe, name, urn=urn, type=type, phase=phase, status=status)
        return school, outcome == "added"

    def put_school(self, dfe: str, name: str, *, urn: str | None = None, type: str | None = None,
                   phase: str | None = None, status: str | None = None) -> tuple[School, str]:
        """Add a school, or update the one with this DfE number. Returns (school, outcome) where
        outcome is "added", "updated" or "unchanged" (nothing was written)."""
        given, dfe = dfe, dfe_number(dfe)
        if dfe is None:
            raise Refused(f"DfE number must be 7 digits (LA code + establishment number), got {given!r}")
        values = {"name": name.strip(), "urn": urn, "type": type, "phase": phase, "status": status}
        if not values["name"]:
            raise Refused("The school needs a name")
        for attr, value in values.items():
            problem = _field_problem(attr, value)
            if problem:
                raise Refused(f"The school's {problem}")
        if urn is not None and not _ascii_digits(urn):
            raise Refused(f"URN must be a number, got {urn!r}")
        values = {k: v for k, v in values.items() if v is not None}
        with self._session(write=True) as s:
            school = s.exec(select(School).where(School.dfe == dfe)).first()
            if school is None:
                school, outcome = School(dfe=dfe, **values), "added"
            elif any(getattr(school, k) != v for k, v in values.items()):
                outcome = "updated"
            else:
                return school, "unchanged"
            for attr, value in values.items():
                setattr(school, attr, value)
            school.updated_at = clock.now()
            s.add(school)
            s.commit()
            return school, outcome

    def import_schools(self, data: bytes) -> ImportResult:
        """Load a Get Information about Schools establishment CSV. Good rows load, bad rows are
        reported with their line numbers, and a school already held is updated, never duplicated."""
        rows, result = parse_gias(data)
        now = clock.now()
        with self._session(write=True) as s:
            existing = {sc.dfe: sc for sc in s.exec(select(School)).all()}
            for values in rows:
                school = existing.get(values["dfe"])
                if school is None:
                    s.add(School(**values, updated_at=now))
                    result.added += 1
                elif any(getattr(school, k) != v for k, v in values.items()):
                    for k, v in values.items():
                        setattr(school, k, v)
                    school.updated_at = now
                    s.add(school)
                    result.updated += 1
                else:
                    result.unchanged += 1
            s.commit()
        return result

    def schools(self) -> list[School]:
        with self._session() as s:
            return list(s.exec(select(School).order_by(School.dfe)).all())

    def add_user(self, email: str, school_dfe: str, permissions: Iterable[str], *, name: str | None = None) -> dict:
        """Create the user if new and grant the permissions at the school (existing ones are kept)."""
        email = _email(email)
        if not _EMAIL.match(email):
            raise Refused(f"{email!r} is not an email address")
        permissions = list(dict.fromkeys(permissions))
        unknown = [p for p in permissions if p not in PERMISSIONS]
        if unknown or not permissions:
            raise Refused(f"Permissions are {', '.join(PERMISSIONS)}; got {', '.join(unknown) or 'none'}")
        with self._session(write=True) as s:
            school = self._school(s, school_dfe)
            user = s.exec(select(User).where(User.email == email)).first()
            created = user is None
            if created:
                user = User(email=email, name=name, created_at=clock.now())
                s.add(user)
                s.flush()
            renamed = bool(not created and name and user.name != name)
            if renamed:
                user.name = name
            held = set(s.exec(select(Permission.permission).where(
                Permission.user_id == user.id, Permission.school_id == school.id)).all())
            granted = [p for p in permissions if p not in held]
            for p in granted:
                s.add(Permission(user_id=user.id, school_id=school.id, permission=p))
            s.commit()
            # "changed" False: the user already existed with these permissions; nothing was written
            return {"email": email, "created": created, "school": school.dfe, "granted": granted,
                    "changed": bool(created or renamed or granted),
                    "permissions": sorted(held | set(permissions))}

    # ------------------------------------------------------------------ rounds

    def rounds(self) -> list[dict[str, Any]]:
        return round_states(self.kernel)

    def _open_round(self, keystage: KeyStage, round_id: str | None = None) -> Round:
        try:
            rnd = self.kernel.round_for(keystage, round_id)
        except ConfigError as exc:
            raise Refused(str(exc), code="no-round") from None
        if rnd is None:
            raise Refused(f"No collection round is set up for {keystage.title}, so its uploads are not accepted.",
                          code="no-round")
        now = clock.now()
        if not rnd.is_open(now):
            raise Refused(f"{keystage.title} files for {rnd.year} are accepted from {rnd.describe_window()}; "
                          f"it is now {now:%a %d %b %Y %H:%M}. Nothing was stored.", code="round-closed")
        return rnd

    # ------------------------------------------------------------------ upload

    def upload(self, actor: Actor, data: bytes, filename: str, *, school_dfe: str | None = None,
               keystage_id: str | None = None, confirm: bool = False, accept_terms: bool = False) -> UploadResult:
        """Validate a file and, once it has passed the gate, store it with its issues.

        A file the gate rejects, whose template cannot be told, or that arrives outside its round is
        refused and nothing but the audit line is kept.
        """
        audit = _Attempt(actor, "upload", school_dfe, sha256=sha256_of(data), size=len(data))
        try:
            if confirm and not accept_terms:
                raise Refused("Uploading and confirming in one step needs the terms and conditions accepted "
                              "(add --accept-terms). Nothing was stored.", code="terms")
            with self._session() as s:
                user, school = self._upload_school(s, actor, school_dfe)
            audit.school_dfe = school.dfe
            if keystage_id:
                try:
                    keystage = self.kernel.keystage(keystage_id)
                except UnknownKeyStage as exc:
                    raise Refused(str(exc), code="unknown-keystage") from None
                self._open_round(keystage)
            report = self.kernel_validate(data, school.dfe, filename, keystage_id)
            gate = [i for i in report.issues if i.code.startswith("upload.")]
            if gate:
                raise Refused("The file was refused before it was read, and nothing was stored: "
                              + " ".join(i.message for i in gate), code="gate", issues=report.issues, report=report)
            if report.keystage is None:
                raise Refused("This file is not one of our templates, so it was not stored. "
                              + " ".join(i.message for i in report.errors), code="unrecognised",
                              issues=report.issues, report=report)
            keystage = self.kernel.keystage(report.keystage)
            rnd = self._open_round(keystage)
            view = self._store(user, school, keystage, rnd, data, filename, report)
        except Refused as exc:
            self._record(audit, "refused", exc.reason)
            raise
        except Exception as exc:
            # a database error's text carries the SQL and its parameters (pupil data): only the
            # driver's first line goes into the audit log and the message
            reason = db.problem(exc) if hasattr(exc, "orig") else f"{type(exc).__name__}: {exc}"
            self._record(audit, "failed", reason)
            log.exception("upload failed")
            raise StorageFailed(f"The upload could not be stored ({reason}). Nothing was kept; "
                                "try again, and tell the service desk if it happens again.") from exc
        self.kernel.notify("upload_validated", report=report, school=_info(school), upload_id=view.id)
        result = UploadResult(view, report)
        if confirm:
            try:
                result.upload = self.confirm(actor, view.id, accept_terms=True)
            except Refused as exc:
                result.confirm_refused = exc.reason
        return result

    def kernel_validate(self, data: bytes, school_dfe: str, filename: str | None, keystage_id: str | None) -> Report:
        from ..validation.engine import validate

        return validate(self.kernel, data, school_dfe, filename=filename, keystage_id=keystage_id)

    def _upload_school(self, s: Session, actor: Actor, school_dfe: str | None) -> tuple[User, School]:
        user = self._user(s, actor)
        if school_dfe:
            school = self._school(s, school_dfe)
            self._require(s, user, school, MANAGE_DATA)
            return user, school
        managed = s.exec(select(School).join(Permission, Permission.school_id == School.id).where(
            Permission.user_id == user.id, Permission.permission == MANAGE_DATA).order_by(School.dfe)).all()
        if not managed:
            raise Refused(f"{user.email} does not have Manage Data permission at any school, so cannot upload. "
                          "Ask your school's administrator for it.", code="forbidden")
        if len(managed) > 1:
            raise Refused(f"{user.email} manages data for {len(managed)} schools "
                          f"({', '.join(sc.dfe for sc in managed)}): say which school the file is for.",
                          code="which-school")
        return user, managed[0]

    def _store(self, user: User, school: School, keystage: KeyStage, rnd: Round, data: bytes, filename: str,
               report: Report) -> UploadView:
        # The file is written while the school row is locked, so a concurrent delete of the same
        # bytes cannot remove it between the write and the commit. File first, row second:
        # a failure in between leaves an orphan file for the sweeper, never a row without a file.
        # pupil records only for clean files: nothing is reported from a file with errors, and
        # holding less pupil data is the safer default (the file itself can be downloaded).
        # Built before the lock is taken, so the lock is held only for the writes.
        records = [_record_row(0, r) for r in report.records] if report.valid else []
        now = clock.now()
        with self._session(write=True) as s:
            self._lock_school(s, school.id)
            stored = self.store.put(school.dfe, data)
            upload = Upload(
                school_id=school.id, keystage=keystage.id, round_id=rnd.id, filename=_safe_name(filename),
                sha256=stored.sha256, size=len(data), status=AWAITING_CONFIRMATION if report.valid else UPLOAD_ERROR,
                pupils=report.pupils, errors=len(report.errors), warnings=len(report.warnings),
                uploaded_at=now, uploaded_by_id=user.id)
            s.add(upload)
            s.flush()
            insert_rows(s, UploadIssue.__table__, [_issue_row(upload.id, n, i) for n, i in enumerate(report.issues)])
            for r in records:
                r["upload_id"] = upload.id
            insert_rows(s, PupilRecord.__table__, records)  # COPY on PostgreSQL
            s.add(AuditEvent(at=now, actor=user.email, school_dfe=school.dfe, action="upload", upload_id=upload.id,
                             sha256=stored.sha256, size=len(data), outcome="ok",
                             reason=f"{upload.filename}: {upload.status}"))
            s.commit()
            return self._view(s, upload, school, emails={user.id: user.email})  # no query needed

    # ------------------------------------------------------------------ confirm, delete, download

    def confirm(self, actor: Actor, upload_id: int, *, accept_terms: bool) -> UploadView:
        """Make the upload the school's current file for its template; the previous one becomes
        Overwritten. Needs the terms accepted and an upload without errors, in an open round."""
        audit = _Attempt(actor, "confirm", upload_id=upload_id)
        try:
            with self._session(write=True) as s:
                user, upload, school = self._manageable(s, actor, upload_id, audit, lock=True)
                if not accept_terms:
                    raise Refused(TERMS_REFUSAL, code="terms")
                if upload.status != AWAITING_CONFIRMATION:
                    hint = (" Fix the errors in the file and upload it again." if upload.status == UPLOAD_ERROR else "")
                    raise Refused(f"Upload {upload.id} is {upload.status!r}: only an upload awaiting confirmation "
                                  f"can be confirmed.{hint}", code="state")
                try:
                    keystage = self.kernel.keystage(upload.keystage)
                except UnknownKeyStage as exc:
                    raise Refused(str(exc), code="unknown-keystage") from None
                rnd = self._open_round(keystage, upload.round_id)
                now = clock.now()
                previous = s.exec(select(Upload).where(Upload.school_id == school.id,
                                                       Upload.keystage == upload.keystage,
                                                       Upload.is_current == True)  # noqa: E712
                                  .execution_options(populate_existing=True)).all()
                for old in previous:
                    old.is_current = False
                    old.status = OVERWRITTEN
                    s.add(old)
                    s.add(AuditEvent(at=now, actor=user.email, school_dfe=school.dfe, action="overwrite",
                                     upload_id=old.id, sha256=old.sha256, size=old.size, outcome="ok",
                                     reason=f"replaced by upload {upload.id}"))
                s.flush()  # the old pointer is cleared before the new one is set (unique index)
                upload.is_current = True
                upload.status = PROCESSING
                upload.confirmed_at = now
                upload.confirmed_by_id = user.id
                upload.reports_due = rnd.reports_due
                s.add(upload)
                s.add(AuditEvent(at=now, actor=user.email, school_dfe=school.dfe, action="confirm",
                                 upload_id=upload.id, sha256=upload.sha256, size=upload.size, outcome="ok",
                                 reason="terms accepted"))
                s.commit()
                view = self._view(s, upload, school)
        except Refused as exc:
            self._record(audit, "refused", exc.reason)
            raise
        self.kernel.notify("upload_confirmed", school=_info(school), keystage=keystage, upload_id=upload.id)
        return view

    def delete(self, actor: Actor, upload_id: int) -> DeleteResult:
        """Mark the upload Deleted, remove its pupil records and issues, and destroy its file.

        The history line and the audit lines stay. The file is destroyed in a second step under
        the school lock, after the Deleted status is committed: a crash in between leaves an
        orphan file for the sweeper, never an upload row without its file.
        """
        audit = _Attempt(actor, "delete", upload_id=upload_id)
        try:
            with self._session(write=True) as s:
                user, upload, school = self._manageable(s, actor, upload_id, audit, lock=True)
                if upload.status == DELETED:
                    raise Refused(f"Upload {upload.id} is already deleted.", code="state")
                now = clock.now()
                upload.status = DELETED
                upload.is_current = False
                upload.deleted_at = now
                upload.deleted_by_id = user.id
                s.add(upload)
                # issues carry UPNs and typed values: they go with the pupil records
                s.execute(sql_delete(PupilRecord).where(PupilRecord.upload_id == upload.id))
                s.execute(sql_delete(UploadIssue).where(UploadIssue.upload_id == upload.id))
                s.add(AuditEvent(at=now, actor=user.email, school_dfe=school.dfe, action="delete",
                                 upload_id=upload.id, sha256=upload.sha256, size=upload.size, outcome="ok"))
                s.commit()
                view = self._view(s, upload, school)
        except Refused as exc:
            self._record(audit, "refused", exc.reason)
            raise
        destroyed = self._destroy_if_unreferenced(school, upload.sha256)
        return DeleteResult(view, destroyed)

    def _destroy_if_unreferenced(self, school: School, sha256: str) -> bool:
        try:
            with self._session(write=True) as s:
                self._lock_school(s, school.id)
                if self._references(s, school.id, sha256):
                    return False
                destroyed = self.store.delete(school.dfe, sha256)
                s.commit()
                return destroyed
        except Exception:
            log.exception("could not remove file %s/%s; the sweeper will retry", school.dfe, sha256)
            return False

    def _references(self, s: Session, school_id: int, sha256: str) -> int:
        return s.exec(select(func.count()).select_from(Upload).where(
            Upload.school_id == school_id, Upload.sha256 == sha256, Upload.status != DELETED)).one()

    def download(self, actor: Actor, upload_id: int, *, deliver=None) -> tuple[str, bytes]:
        """The uploaded file, byte for byte, for any upload that is not deleted.

        ``deliver(data)``, when given, hands the bytes over (writes the file, sends the response);
        the audit line says "ok" only once it has returned, and "failed" if it raised."""
        audit = _Attempt(actor, "download", upload_id=upload_id)
        try:
            with self._session() as s:
                user, upload, school = self._manageable(s, actor, upload_id, audit)
            audit.sha256, audit.size = upload.sha256, upload.size
            if upload.status == DELETED:
                raise Refused(f"Upload {upload.id} was deleted and its file destroyed.", code="state")
            try:
                data = self.store.get(school.dfe, upload.sha256)
            except StoreCorrupt as exc:
                self._record(audit, "failed", str(exc))
                raise StorageFailed(f"The file of upload {upload.id} could not be read back intact ({exc}). "
                                    "Tell the service desk.") from None
        except Refused as exc:
            self._record(audit, "refused", exc.reason)
            raise
        self._deliver(audit, deliver, data, f"The file of upload {upload.id}")
        self._record(audit, "ok", upload.filename)
        return upload.filename, data

    def _deliver(self, audit: "_Attempt", deliver, value: Any, what: str) -> None:
        if deliver is None:
            return
        try:
            deliver(value)
        except Exception as exc:
            reason = f"{exc.strerror}: {exc.filename}" if isinstance(exc, OSError) and exc.strerror else str(exc)
            self._record(audit, "failed", f"not delivered: {reason}")
            raise StorageFailed(f"{what} could not be written ({reason}).") from None

    def show(self, actor: Actor, upload_id: int) -> tuple[UploadView, list[Issue]]:
        """The upload and its issues (none after deletion)."""
        audit = _Attempt(actor, "show", upload_id=upload_id)
        try:
            with self._session() as s:
                _user, upload, school = self._manageable(s, actor, upload_id, audit)
                return self._view(s, upload, school), self._issues(s, upload.id)
        except Refused as exc:
            self._record(audit, "refused", exc.reason)
            raise

    def error_report(self, actor: Actor, upload_id: int, *, deliver=None) -> Report:
        """The stored validation report, for the error-list spreadsheet (``deliver(report)`` as
        for :meth:`download`: audited "ok" only once it has returned)."""
        audit = _Attempt(actor, "errors", upload_id=upload_id)
        try:
            with self._session() as s:
                _user, upload, school = self._manageable(s, actor, upload_id, audit)
                if upload.status == DELETED:
                    raise Refused(f"Upload {upload.id} was deleted; its error list went with it.", code="state")
                report = Report(issues=self._issues(s, upload.id), keystage=upload.keystage, pupils=upload.pupils,
                                filename=upload.filename)
        except Refused as exc:
            self._record(audit, "refused", exc.reason)
            raise
        audit.sha256, audit.size = upload.sha256, upload.size
        self._deliver(audit, deliver, report, f"The error list of upload {upload.id}")
        self._record(audit, "ok", f"{len(report.issues)} issues")
        return report

    def list_uploads(self, actor: Actor, school_dfe: str, *, include_hidden: bool = False) -> list[UploadView]:
        """The school's uploads, newest first; Overwritten and Deleted ones only with ``include_hidden``."""
        with self._session() as s:
            school = self._school(s, school_dfe)
            if actor is not OPERATOR:
                self._require(s, self._user(s, actor), school, MANAGE_DATA)
            query = select(Upload).where(Upload.school_id == school.id)
            if not include_hidden:
                query = query.where(Upload.status.not_in(HIDDEN_STATUSES))
            uploads = s.exec(query.order_by(Upload.id.desc())).all()
            return [self._view(s, u, school) for u in uploads]

    def audit(self, actor: Actor, school_dfe: str, *, limit: int | None = None) -> list[dict[str, Any]]:
        """The school's audit lines, oldest first (the last ``limit`` of them)."""
        with self._session() as s:
            school = self._school(s, school_dfe)
            if actor is not OPERATOR:
                self._require(s, self._user(s, actor), school, MANAGE_DATA)
            query = select(AuditEvent).where(AuditEvent.school_dfe == school.dfe).order_by(AuditEvent.id.desc())
            if limit:
                query = query.limit(limit)
            events = list(reversed(s.exec(query).all()))
        return [{"id": e.id, "at": london_iso(e.at), "actor": e.actor, "school": e.school_dfe, "action": e.action,
                 "upload_id": e.upload_id, "sha256": e.sha256, "size": e.size, "outcome": e.outcome,
                 "reason": e.reason} for e in events]

    # ------------------------------------------------------------------ housekeeping

    def sweep(self, older_than_seconds: float = ORPHAN_AGE_SECONDS) -> list[Path]:
        """Remove stored files no live upload refers to (left by a crash or a failed removal) and
        leftover temp files, once they are older than ``older_than_seconds``. Audited."""
        with self._session() as s:
            live = s.exec(select(School.dfe, Upload.sha256).join(School, School.id == Upload.school_id)
                          .where(Upload.status != DELETED)).all()
            schools = {sc.dfe: sc for sc in s.exec(select(School)).all()}
        removed = []
        for path in self.store.orphans({(d, h) for d, h in live}, older_than_seconds):
            dfe, name = path.parent.parent.name, path.name
            school = schools.get(dfe)
            if school is None or not name.isalnum():  # temp file, or a school no longer held
                path.unlink(missing_ok=True)
                removed.append(path)
                continue
            with self._session(write=True) as s:
                self._lock_school(s, school.id)
                if self._references(s, school.id, name):
                    continue  # an upload of these bytes arrived since the listing
                self.store.delete(dfe, name)
                s.add(AuditEvent(at=clock.now(), actor="operator", school_dfe=dfe, action="sweep", sha256=name,
                                 outcome="ok", reason="orphan file removed"))
                s.commit()
            removed.append(path)
        return removed

    # ------------------------------------------------------------------ helpers

    def _user(self, s: Session, actor: Actor) -> User:
        if actor is OPERATOR:
            raise Refused("This action must be done as a user (give their email).", code="forbidden")
        email = _email(actor)
        user = s.exec(select(User).where(User.email == email)).first()
        if user is None:
            raise Refused(f"There is no user {email}. Ask your school's administrator to add you.",
                          code="unknown-user")
        return user

    def _school(self, s: Session, dfe: str) -> School:
        school = s.exec(select(School).where(School.dfe == dfe.strip())).first()
        if school is None:
            raise Refused(f"There is no school with DfE number {dfe}.", code="unknown-school")
        return school

    def _permissions(self, s: Session, user: User, school: School) -> set[str]:
        return set(s.exec(select(Permission.permission).where(
            Permission.user_id == user.id, Permission.school_id == school.id)).all())

    def _require(self, s: Session, user: User, school: School, permission: str) -> None:
        if permission not in self._permissions(s, user, school):
            raise Refused(f"{user.email} does not have {_label(permission)} permission at {school.name} "
                          f"({school.dfe}). Ask your school's administrator for it.", code="forbidden")

    def _manageable(self, s: Session, actor: Actor, upload_id: int, audit: "_Attempt",
                    lock: bool = False) -> tuple[User, Upload, School]:
        """The upload, if the actor has Manage Data at its school; with ``lock`` the school row is
        locked first and the upload re-read, so the state checked is the state changed."""
        upload = s.get(Upload, upload_id)
        school = s.get(School, upload.school_id) if upload else None
        if upload is not None:  # the audit line names the school whose file was asked for
            audit.school_dfe, audit.sha256, audit.size = school.dfe, upload.sha256, upload.size
        user = self._user(s, actor)
        held = self._permissions(s, user, school) if school else set()
        if not held:  # another school's upload looks exactly like a missing one
            raise Refused(f"There is no upload {upload_id} that {user.email} can manage.", code="not-found")
        if MANAGE_DATA not in held:
            raise Refused(f"{user.email} does not have Manage Data permission at {school.name} ({school.dfe}), "
                          "which is needed for uploads. Ask your school's administrator for it.", code="forbidden")
        if lock:
            self._lock_school(s, school.id)
            upload = s.exec(select(Upload).where(Upload.id == upload_id)
                            .execution_options(populate_existing=True)).one()
        return user, upload, school

    def _lock_school(self, s: Session, school_id: int) -> School:
        # PostgreSQL: a row lock that serialises writers for one school. SQLite ignores FOR UPDATE;
        # there the write session's BEGIN IMMEDIATE already serialises all writers.
        return s.exec(select(School).where(School.id == school_id).with_for_update()
                      .execution_options(populate_existing=True)).one()

    def _issues(self, s: Session, upload_id: int) -> list[Issue]:
        rows = s.exec(select(UploadIssue).where(UploadIssue.upload_id == upload_id)
                      .order_by(UploadIssue.position)).all()
        return [Issue(code=r.code, message=r.message, severity=r.severity, sheet=r.sheet, row=r.row,
                      column=r.column, header=r.header, upn=r.upn, value=r.value, plugin=r.plugin) for r in rows]

    def _view(self, s: Session, upload: Upload, school: School, emails: dict[int, str] | None = None) -> UploadView:
        if emails is None or any(i not in emails for i in (upload.uploaded_by_id, upload.confirmed_by_id) if i):
            emails = dict(s.exec(select(User.id, User.email).where(
                User.id.in_([i for i in (upload.uploaded_by_id, upload.confirmed_by_id) if i]))).all())
        return UploadView(
            id=upload.id, school_dfe=school.dfe, school_name=school.name, keystage=upload.keystage,
            round_id=upload.round_id, filename=upload.filename, status=upload.status, is_current=upload.is_current,
            pupils=upload.pupils, errors=upload.errors, warnings=upload.warnings, sha256=upload.sha256,
            size=upload.size, uploaded_at=upload.uploaded_at, uploaded_by=emails.get(upload.uploaded_by_id, "?"),
            confirmed_at=upload.confirmed_at, confirmed_by=emails.get(upload.confirmed_by_id),
            deleted_at=upload.deleted_at, reports_due=upload.reports_due)

    def _record(self, attempt: "_Attempt", outcome: str, reason: str | None) -> None:
        """Write an audit line in its own transaction (the action's own one may have rolled back)."""
        try:
            with self._session(write=True) as s:
                s.add(AuditEvent(at=clock.now(), actor=attempt.actor, school_dfe=attempt.school_dfe,
                                 action=attempt.action, upload_id=attempt.upload_id, sha256=attempt.sha256,
                                 size=attempt.size, outcome=outcome, reason=(reason or "")[:2000]))
                s.commit()
        except Exception:
            log.exception("could not write the audit line for %s %s", attempt.action, outcome)


@dataclass
class _Attempt:
    """What an audit line says about an action, filled in as the action learns it."""

    actor_given: Any
    action: str
    school_dfe: str | None = None
    upload_id: int | None = None
    sha256: str | None = None
    size: int | None = None

    @property
    def actor(self) -> str:
        return "operator" if self.actor_given is OPERATOR else _email(str(self.actor_given))[:254]


# --------------------------------------------------------------------------- small helpers


def _email(value: str) -> str:
    return value.strip().lower()


def _label(permission: str) -> str:
    return permission.replace("_", " ").title()


def _info(school: School) -> SchoolInfo:
    return SchoolInfo(dfe=school.dfe, name=school.name, urn=school.urn)


def _safe_name(filename: str) -> str:
    """The file name as given, without any folder part, for display and downloads."""
    name = re.split(r"[\\/]", filename or "")[-1].strip()
    name = "".join(ch for ch in name if ch.isprintable())
    return (name or "upload.xlsx")[:255]


def _issue_row(upload_id: int, position: int, issue: Issue) -> dict[str, Any]:
    return {"upload_id": upload_id, "position": position, "code": issue.code, "severity": issue.severity,
            "message": issue.message, "sheet": issue.sheet, "row": issue.row, "column": issue.column,
            "header": issue.header, "upn": (issue.upn or None) and issue.upn[:20], "value": issue.value,
            "plugin": issue.plugin}


def _record_row(upload_id: int, record: dict[str, Any]) -> dict[str, Any]:
    fields = record.copy()  # a copy and two pops: this runs for every pupil of every upload
    row, results = fields.pop("row", 0), fields.pop("results", {})
    upn = str(fields.get("upn") or "").upper()[:20] or None
    return {"upload_id": upload_id, "row": row, "upn": upn, "fields": fields, "results": dict(results)}


# --------------------------------------------------------------------------- GIAS import

# normalised header (lower-case letters and digits only) -> field
_GIAS_HEADERS = {
    "urn": "urn",
    "lacode": "la", "la": "la", "localauthoritycode": "la", "lanumber": "la",
    "establishmentnumber": "estab", "estab": "estab", "establishmentno": "estab", "estabno": "estab",
    "laestab": "dfe", "dfenumber": "dfe", "dfeno": "dfe", "dfe": "dfe",
    "establishmentname": "name", "schoolname": "name", "name": "name",
    "typeofestablishmentname": "type", "typeofestablishment": "type", "establishmenttype": "type", "type": "type",
    "phaseofeducationname": "phase", "phaseofeducation": "phase", "phase": "phase",
    "establishmentstatusname": "status", "establishmentstatus": "status", "status": "status",
}


def _decode(data: bytes) -> str:
    # GIAS downloads are Windows-1252; files saved again by Excel may be UTF-8 with a BOM
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError:
            raise Refused("The schools file looks like UTF-16 text but is not valid UTF-16: save it again as "
                          "CSV (UTF-8 or Windows-1252).", code="bad-file") from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("cp1252", errors="replace")


def _ascii_digits(text: str) -> bool:
    """Only 0-9: str.isdigit() also takes full-width, superscript and Arabic-Indic digits."""
    return text.isascii() and text.isdigit()


def _digits(value: str, width: int, what: str) -> str:
    text = value.strip()
    if not text:
        raise ValueError(f"no {what}")
    if not _ascii_digits(text) or len(text.lstrip("0")) > width:
        shown = text.encode("ascii", "backslashreplace").decode() if len(text) <= 40 else text[:40] + "..."
        raise ValueError(f"{what} {shown!r} is not a number of up to {width} digits 0-9")
    return text.zfill(width)[-width:]


def _field_problem(attr: str, value: str | None) -> str | None:
    """Why a school field cannot be stored as given (too long for its column, control characters)."""
    if value is None:
        return None
    limit = School.__table__.c[attr].type.length
    if limit and len(value) > limit:
        return f"{attr} is {len(value)} characters long; at most {limit} fit"
    found = _LINE_CONTROL.search(value)
    if found:
        return f"{attr} contains a control character (U+{ord(found.group()):04X}) at position {found.start() + 1}"
    return None


def parse_gias(data: bytes) -> tuple[list[dict[str, Any]], ImportResult]:
    """Rows of a GIAS establishment CSV as School fields, and the bad lines.

    A line that cannot be stored (bad DfE number, over-long or control-character field) is listed
    as bad and the rest load. A file whose CSV structure is broken (an unclosed quote, a field
    too large for any column) is refused whole: after such a mistake the line boundaries can no
    longer be trusted, so nothing is imported."""
    reader = csv.reader(io.StringIO(_decode(data), newline=""), strict=True)
    result = ImportResult()
    started = 1

    def rows():
        nonlocal started
        while True:
            started = reader.line_num + 1
            try:
                yield next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                hint = (" (a quote \" that is never closed?)" if "end of data" in str(exc) or "expected" in str(exc)
                        else "")
                raise Refused(f"The schools file cannot be read as CSV at line {started}: {exc}{hint}. Nothing was "
                              "imported; fix the line (or download the file again) and re-run.",
                              code="bad-file") from None

    lines = rows()
    header = next(lines, None)
    if header is None:
        raise Refused("The schools file is empty.", code="bad-file")
    columns: dict[str, int] = {}
    for index, name in enumerate(header):
        key = _GIAS_HEADERS.get(re.sub(r"[^a-z0-9]", "", name.lower()))
        if key and key not in columns:
            columns[key] = index
    if "name" not in columns or not ("dfe" in columns or {"la", "estab"} <= set(columns)):
        raise Refused("The schools file needs columns EstablishmentName and either LA (code) with "
                      "EstablishmentNumber, or a 7-digit DfE number (LAESTAB); line 1 has: "
                      + ", ".join(visible(h) for h in header if h)[:400], code="bad-file")
    chosen: dict[str, tuple[int, dict[str, Any]]] = {}
    for line_values in lines:
        line = started
        if not any(v.strip() for v in line_values):
            continue

        def cell(key: str) -> str:
            i = columns.get(key)
            return line_values[i].strip() if i is not None and i < len(line_values) else ""

        try:
            if "dfe" in columns and cell("dfe"):
                dfe = _digits(cell("dfe").replace("/", "").replace("-", ""), 7, "DfE number")
            else:
                dfe = _digits(cell("la"), 3, "LA code") + _digits(cell("estab"), 4, "establishment number")
            name = cell("name")
            if not name:
                raise ValueError("no establishment name")
            urn = cell("urn") or None
            if urn and not _ascii_digits(urn):
                raise ValueError(f"URN {visible(urn[:40])!r} is not a number")
            values = {"dfe": dfe, "name": name, "urn": urn, "type": cell("type")[:120] or None,
                      "phase": cell("phase")[:60] or None, "status": cell("status")[:60] or None}
            for attr in ("name", "urn", "type", "phase", "status"):
                problem = _field_problem(attr, values[attr])
                if problem:
                    raise ValueError(problem)
        except ValueError as exc:
            result.bad.append((line, str(exc)))
            continue
        if dfe in chosen:
            # GIAS lists closed predecessors too; the open establishment keeps the DfE number
            first_line, first = chosen[dfe]
            if _is_open(first) and not _is_open(values):
                result.bad.append((line, f"DfE number {dfe} is also on line {first_line} (open); this closed "
                                         "record was skipped"))
                continue
            result.bad.append((first_line, f"DfE number {dfe} is also on line {line}, which was used instead"))
        chosen[dfe] = (line, values)
    result.bad.sort()
    return [values for _line, values in chosen.values()], result


def _is_open(values: dict[str, Any]) -> bool:
    return (values.get("status") or "").lower().startswith("open")
