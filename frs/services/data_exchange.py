"""Data Exchange: a school's link to its MIS through a partner, and the pulls that keep its cohort.

Every door (``frs dx``, ``frs pull``, the portal, the daemon's nightly job) goes through
:class:`DataExchange`, so the rules live here once:

- connecting, enabling and disabling need the Setup permission at the school (the operator may
  always); each change is written to the audit log;
- a pull replaces the school's stored cohort only when it completed, in one transaction; a
  failed, partial or interrupted pull leaves the previous list exactly as it was and its
  ``dx_pull`` line says why;
- a round's ``mis_cutoff``: a school connected after it cannot use Data Exchange for that round.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import re
import socket
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable

from sqlalchemy import delete as sql_delete
from sqlalchemy import func, insert
from sqlmodel import Session, select

from .. import clock
from ..config import LONDON
from ..connectors import School as SchoolInfo
from ..partners import DeltaRefused, MisPupil, Partner, PartnerHttp, PullError
from ..storage.models import SETUP, AuditEvent, School
from ..storage.models_dx import (COMPLETED, FAILED, INTERRUPTED, PARTIAL, RUNNING, CohortPupil, DxConnection,
                                 DxPull)
from ..storage.service import OPERATOR, Refused, london_iso
from .cohorts import admit, split_duplicates

log = logging.getLogger("frs.data_exchange")

NOT_CONNECTED, CONNECTED, ENABLED = "not connected", "connected", "enabled"
SOURCE = "data_exchange"
_MIS_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")
Progress = Callable[[int, int], None]
DEAD_PULL = ("the process running this pull stopped before it finished (killed or crashed); the list held before "
             "was kept")


@dataclass
class DxStatus:
    school: str
    school_name: str
    state: str
    partner: str | None = None
    partner_title: str | None = None
    mis_id: str | None = None
    connected_at: dt.datetime | None = None
    enabled_at: dt.datetime | None = None
    last_pull: dt.datetime | None = None  # end of the last completed pull
    last_error: str | None = None  # why the latest pull failed, when it came after the last success
    last_attempt: dt.datetime | None = None
    last_outcome: str | None = None
    pupils: int = 0  # in the stored cohort
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"school": self.school, "school_name": self.school_name, "state": self.state,
                "partner": self.partner, "partner_title": self.partner_title, "mis_id": self.mis_id,
                "connected_at": london_iso(self.connected_at), "enabled_at": london_iso(self.enabled_at),
                "last_pull": london_iso(self.last_pull), "last_error": self.last_error,
                "last_attempt": london_iso(self.last_attempt), "last_outcome": self.last_outcome,
                "pupils": self.pupils, "notes": list(self.notes)}


@dataclass
class PullSummary:
    school: str
    school_name: str = ""
    partner: str | None = None
    source: str = SOURCE
    mode: str = "full"
    outcome: str = FAILED
    reason: str | None = None
    pupils: int = 0
    by_year: dict[str, int] = field(default_factory=dict)
    pages: int = 0
    requests: int = 0
    retries: int = 0
    duration: float = 0.0
    rejected: list[dict[str, Any]] = field(default_factory=list)
    pulled_at: dt.datetime | None = None
    pull_id: int | None = None

    @property
    def ok(self) -> bool:
        return self.outcome == COMPLETED

    def to_dict(self) -> dict[str, Any]:
        return {"school": self.school, "school_name": self.school_name, "source": self.source,
                "partner": self.partner, "mode": self.mode, "outcome": self.outcome, "reason": self.reason,
                "pupils": self.pupils, "by_year": dict(self.by_year), "pages": self.pages,
                "requests": self.requests, "retries": self.retries, "duration": round(self.duration, 2),
                "rejected": list(self.rejected), "pulled_at": london_iso(self.pulled_at), "pull_id": self.pull_id}


class DataExchange:
    def __init__(self, service):
        self.service = service
        self.kernel = service.kernel

    # ------------------------------------------------------------------ connection state

    def status(self, actor: Any, school_dfe: str) -> DxStatus:
        """The school's Data Exchange state; any user of the school may see it."""
        with self._session() as s:
            school = self._school(s, school_dfe)
            self._may_see(s, actor, school)
            conn = self._connection(s, school)
            return self._status(s, school, conn)

    def connect(self, actor: Any, school_dfe: str, partner: str, mis_id: str | None = None) -> DxStatus:
        """Link the school to ``partner`` (not yet enabled). ``mis_id`` is the school's id at the
        partner; the partner's default (e.g. the DfE number for Xporter) when not given."""
        found = self._partner(partner)
        who = self._require_setup(actor, school_dfe, "dx-connect")
        with self._session(write=True) as s:
            school = self._school(s, school_dfe)
            mis_id = (mis_id or "").strip() or found.default_mis_id(_info(school))
            if not mis_id:
                raise Refused(f"{found.title} needs the school's id there ({found.mis_id_help}): "
                              "give it with --mis-id.", code="mis-id")
            if not _MIS_ID.match(mis_id):
                raise Refused(f"The school's id at {found.title} may hold only letters, digits, '.', '_' and '-' "
                              f"(up to 100); got {mis_id[:40]!r}.", code="mis-id")
            conn = self._connection(s, school)
            now = clock.now()
            if conn is None:
                conn = DxConnection(school_id=school.id, partner=found.name, mis_id=mis_id, connected_at=now,
                                    connected_by=who)
            elif (conn.partner, conn.mis_id) != (found.name, mis_id):
                # a new link starts again: not enabled until a Setup user says so, no stale change token
                conn.partner, conn.mis_id, conn.enabled, conn.delta_token = found.name, mis_id, False, None
                conn.connected_at, conn.connected_by, conn.enabled_at, conn.enabled_by = now, who, None, None
            s.add(conn)
            self._audit(s, who, school, "dx-connect", f"partner {found.name}, id {mis_id}")
            s.commit()
            return self._status(s, school, conn)

    def enable(self, actor: Any, school_dfe: str) -> DxStatus:
        return self._set_enabled(actor, school_dfe, True)

    def disable(self, actor: Any, school_dfe: str) -> DxStatus:
        return self._set_enabled(actor, school_dfe, False)

    def _connected(self, s, school):
        conn = self._connection(s, school)
        if conn is None:
            raise Refused(f"{school.name} ({school.dfe}) has no Data Exchange connection: connect it first "
                          "(frs dx connect --school DFE --partner NAME).", code="not-connected")
        return conn

    def _set_enabled(self, actor: Any, school_dfe: str, enabled: bool) -> DxStatus:
        action = "dx-enable" if enabled else "dx-disable"
        who = self._require_setup(actor, school_dfe, action)
        with self._session(write=True) as s:
            school = self._school(s, school_dfe)
            conn = self._connected(s, school)
            if conn.enabled != enabled:
                conn.enabled = enabled
                conn.enabled_at, conn.enabled_by = (clock.now(), who) if enabled else (None, None)
                s.add(conn)
            self._audit(s, who, school, action, None)
            s.commit()
            return self._status(s, school, conn)

    # ------------------------------------------------------------------ pulls

    def pull(self, school_dfe: str, *, progress: Progress | None = None,
             stopping: threading.Event | None = None) -> PullSummary:
        """Pull the school's pupils from its partner now (enabled or only connected).

        ``progress(pages_read, pages_expected_or_0)`` is called after each page; when
        ``stopping`` is set the pull stops before the next page and the stored cohort stays.
        """
        stopping = stopping or threading.Event()
        started = time.monotonic()
        with self._session(write=True) as s:
            school = self._school(s, school_dfe)
            conn = self._connected(s, school)
            self._close_dead_pulls(s, school)
            running = s.exec(select(DxPull).where(DxPull.school_id == school.id, DxPull.outcome == RUNNING)).first()
            if running is not None:
                raise Refused(f"A pull for {school.dfe} is already running (started "
                              f"{london_iso(running.started_at)}); wait for it to finish.", code="running")
            partner = self.kernel.partners.get(conn.partner)
            mode = "delta" if conn.delta_token and partner is not None and partner.supports_delta else "full"
            record = DxPull(school_id=school.id, partner=conn.partner, mode=mode, started_at=clock.now(),
                            outcome=RUNNING, runner=_runner())
            s.add(record)
            s.commit()
            school_id, pull_id, mis_id, token = school.id, record.id, conn.mis_id, conn.delta_token
            summary = PullSummary(school=school.dfe, school_name=school.name, partner=conn.partner, mode=mode,
                                  pull_id=pull_id)
        reader = _Reader(partner, stopping, progress) if partner is not None else None
        try:
            if reader is None:
                raise PullError(f"partner {conn.partner!r} is not enabled in config (plugins.enabled); enable its "
                                "plugin or connect the school to another partner", "config")
            try:
                pages = reader.read(mis_id, token if mode == "delta" else None)
            except DeltaRefused as exc:
                log.info("school %s: %s; doing a full pull", school_dfe, exc)
                summary.mode = "full"
                pages = reader.read(mis_id, None)
            self._store(school_id, pull_id, summary, pages)
        except PullError as exc:
            outcome = INTERRUPTED if exc.kind == "stopped" else \
                PARTIAL if reader is not None and reader.pages and exc.kind in ("paging", "deadline") else FAILED
            reason = str(exc)
            if reader is not None and reader.pages and exc.kind != "rejected":
                reason = f"read {reader.pages} page{'s' if reader.pages != 1 else ''}, then: {reason}"
            self._finish(pull_id, summary, outcome, reason + "; the list held before was kept", reader)
        except Exception as exc:  # a bug or a database failure: record it, keep the old list
            log.exception("pull for %s failed", school_dfe)
            self._finish(pull_id, summary, FAILED, f"internal error ({type(exc).__name__}); the list held before "
                                                   "was kept", reader)
        summary.duration = time.monotonic() - started
        if reader is not None:
            summary.pages, summary.requests, summary.retries = reader.pages, reader.requests, reader.retries
        return summary

    def enabled_schools(self) -> list[str]:
        with self._session() as s:
            return list(s.exec(select(School.dfe).join(DxConnection, DxConnection.school_id == School.id)
                               .where(DxConnection.enabled == True).order_by(School.dfe)).all())  # noqa: E712

    def pull_all(self, *, progress: Progress | None = None, stopping: threading.Event | None = None,
                 schools: list[str] | None = None, only_enabled: bool = True,
                 page_progress: Callable[[str, int, int], None] | None = None) -> list[PullSummary]:
        """Pull every enabled school (or only those of ``schools``; with ``only_enabled=False``
        every school named, enabled or only connected); one school's failure never stops the
        others. ``progress(schools_done, schools_total)``, ``page_progress(school, pages, expected)``;
        ``stopping`` is checked between schools (and between pages)."""
        stopping = stopping or threading.Event()
        if schools is None or only_enabled:
            enabled = self.enabled_schools()
            targets = enabled if schools is None else [d for d in dict.fromkeys(schools) if d in enabled]
        else:
            targets = list(dict.fromkeys(schools))
        out: list[PullSummary] = []
        for done, dfe in enumerate(targets):
            if stopping.is_set():
                break
            pages = (lambda n, total, dfe=dfe: page_progress(dfe, n, total)) if page_progress else None
            try:
                out.append(self.pull(dfe, stopping=stopping, progress=pages))
            except Refused as exc:
                out.append(PullSummary(school=dfe, outcome=FAILED, reason=exc.reason))
            except Exception as exc:  # never let one school stop the night's run
                log.exception("pull for %s failed", dfe)
                out.append(PullSummary(school=dfe, outcome=FAILED, reason=f"internal error ({type(exc).__name__})"))
            if progress:
                progress(done + 1, len(targets))
        return out

    # ------------------------------------------------------------------ the stored cohort (for the source)

    def cohort(self, school_dfe: str, nc_year: int | None = None) -> tuple[list[CohortPupil], DxPull | None]:
        """The stored cohort (optionally one NC year) and the completed pull that left it."""
        with self._session() as s:
            school = s.exec(select(School).where(School.dfe == school_dfe)).first()
            if school is None:
                return [], None
            query = select(CohortPupil).where(CohortPupil.school_id == school.id)
            if nc_year is not None:
                query = query.where(CohortPupil.nc_year == nc_year)
            rows = list(s.exec(query.order_by(CohortPupil.surname, CohortPupil.forename, CohortPupil.upn)).all())
            last = self._last_completed(s, school.id)
            return rows, last

    def usable(self, school_dfe: str, round: Any = None) -> tuple[bool, str | None]:
        """Whether Data Exchange may fill the school's template for ``round``, and if not, why."""
        with self._session() as s:
            school = s.exec(select(School).where(School.dfe == school_dfe)).first()
            conn = self._connection(s, school) if school else None
            if conn is None:
                return False, None
            if not conn.enabled:
                return False, "Data Exchange is connected but not enabled (frs dx enable)"
            cutoff = getattr(round, "mis_cutoff", None)
            if cutoff is not None and conn.connected_at.astimezone(LONDON).date() > cutoff:
                return False, (f"Data Exchange was connected on {conn.connected_at.astimezone(LONDON):%d %b %Y}, "
                               f"after round {round.id}'s MIS cut-off ({cutoff:%d %b %Y}), so it cannot be used "
                               "for this round")
            if self._last_completed(s, school.id) is None:
                return False, "Data Exchange is enabled but no pull has completed yet (frs pull --school DFE)"
            return True, None

    # ------------------------------------------------------------------ internals

    def _store(self, school_id: int, pull_id: int, summary: PullSummary, pages: "_Pages") -> None:
        """Replace the school's cohort with what a completed pull read, in one transaction. A delta
        pull touches only the pupils that changed; the rest were checked when they were stored."""
        with self._session(write=True) as s:
            self.service._lock_school(s, school_id)
            admission = admit(pages.pupils, today=clock.today())
            summary.rejected = admission.rejected
            if pages.delta:
                held = s.exec(select(CohortPupil).where(CohortPupil.school_id == school_id)).all()
                changed = {str(p.mis_id) for p in pages.pupils} | {str(d) for d in pages.deleted}
                kept = [_as_row(r) for r in held if r.mis_id not in changed]
                merged, duplicates = split_duplicates(kept + admission.pupils)
                summary.rejected += duplicates
                if not merged:
                    raise PullError("after the changes the partner sent, no pupil would be left; the list held "
                                    "before was kept (check the school's id and scopes at the partner)", "rejected")
                stale = changed | {d["mis_id"] for d in duplicates}
                fresh = [p for p in merged if p["mis_id"] in changed]
                if stale:
                    s.execute(sql_delete(CohortPupil).where(CohortPupil.school_id == school_id,
                                                            CohortPupil.mis_id.in_(sorted(stale))))
                if fresh:
                    s.execute(insert(CohortPupil), [{**p, "school_id": school_id, "pull_id": pull_id} for p in fresh])
                final = merged
            else:
                if not pages.pupils:
                    raise PullError("the partner sent no pupils at all; check the school's id at the partner and "
                                    "the consent scopes it granted", "rejected")
                if not admission.pupils:
                    raise PullError(f"none of the {len(pages.pupils)} pupils the partner sent could be taken (see the "
                                    "rejected list; e.g. no UPNs when the UPN consent scope is not granted)", "rejected")
                s.execute(sql_delete(CohortPupil).where(CohortPupil.school_id == school_id))
                s.execute(insert(CohortPupil),
                          [{**p, "school_id": school_id, "pull_id": pull_id} for p in admission.pupils])
                final = admission.pupils
            by_year: dict[str, int] = {}
            for p in final:
                key = str(p["nc_year"]) if p["nc_year"] is not None else "other"
                by_year[key] = by_year.get(key, 0) + 1
            now = clock.now()
            record = s.get(DxPull, pull_id)
            record.outcome, record.finished_at, record.reason = COMPLETED, now, None
            record.mode, record.pupils, record.by_year, record.rejected = summary.mode, len(final), \
                _sorted_years(by_year), summary.rejected
            record.pages, record.requests, record.retries = pages.count, pages.requests, pages.retries
            s.add(record)
            conn = s.exec(select(DxConnection).where(DxConnection.school_id == school_id)).one()
            conn.delta_token = pages.next_delta_token
            s.add(conn)
            s.commit()
        summary.outcome, summary.pupils, summary.by_year, summary.pulled_at = COMPLETED, len(final), \
            _sorted_years(by_year), now

    def _finish(self, pull_id: int, summary: PullSummary, outcome: str, reason: str, reader: "_Reader | None") -> None:
        summary.outcome, summary.reason = outcome, reason
        with self._session(write=True) as s:
            record = s.get(DxPull, pull_id)
            record.outcome, record.reason, record.finished_at = outcome, reason[:4000], clock.now()
            record.rejected = summary.rejected
            if reader is not None:
                record.pages, record.requests, record.retries = reader.pages, reader.requests, reader.retries
            s.add(record)
            s.commit()

    def _close_dead_pulls(self, s: Session, school: School) -> None:
        """A pull left ``running`` by a process that is gone (killed, crashed, the machine restarted)
        is marked interrupted: nothing it read was stored."""
        for record in s.exec(select(DxPull).where(DxPull.school_id == school.id, DxPull.outcome == RUNNING)).all():
            if _is_dead(record):
                record.outcome, record.finished_at = INTERRUPTED, clock.now()
                record.reason = DEAD_PULL
                s.add(record)
        s.flush()

    def _status(self, s: Session, school: School, conn: DxConnection | None) -> DxStatus:
        status = DxStatus(school=school.dfe, school_name=school.name, state=NOT_CONNECTED)
        if conn is None:
            return status
        partner = self.kernel.partners.get(conn.partner)
        status.state = ENABLED if conn.enabled else CONNECTED
        status.partner, status.mis_id = conn.partner, conn.mis_id
        status.partner_title = partner.title if partner else None
        status.connected_at, status.enabled_at = conn.connected_at, conn.enabled_at
        if partner is None:
            status.notes.append(f"partner {conn.partner!r} is not enabled in config, so pulls cannot run")
        last_ok = self._last_completed(s, school.id)
        latest = s.exec(select(DxPull).where(DxPull.school_id == school.id).order_by(DxPull.id.desc())).first()
        if latest is not None and latest.outcome == RUNNING and _is_dead(latest):
            latest.outcome, latest.reason = INTERRUPTED, DEAD_PULL
        status.last_pull = last_ok.finished_at if last_ok else None
        if latest is not None:
            status.last_attempt, status.last_outcome = latest.started_at, latest.outcome
            if latest.outcome not in (COMPLETED, RUNNING):
                status.last_error = latest.reason
        status.pupils = s.exec(select(func.count()).select_from(CohortPupil)
                               .where(CohortPupil.school_id == school.id)).one()
        for rnd in self.kernel.config.rounds:
            if rnd.mis_cutoff and conn.connected_at.astimezone(LONDON).date() > rnd.mis_cutoff:
                status.notes.append(f"connected after round {rnd.id}'s MIS cut-off ({rnd.mis_cutoff:%d %b %Y}): "
                                    "Data Exchange cannot be used for that round")
        return status

    @staticmethod
    def _last_completed(s: Session, school_id: int) -> DxPull | None:
        return s.exec(select(DxPull).where(DxPull.school_id == school_id, DxPull.outcome == COMPLETED)
                      .order_by(DxPull.id.desc())).first()

    def _partner(self, name: str) -> Partner:
        partners = self.kernel.partners
        if name not in partners:
            known = ", ".join(sorted(partners)) or "none enabled"
            raise Refused(f"Unknown Data Exchange partner {name!r}; partners: {known}.", code="unknown-partner")
        return partners[name]

    def _session(self, write: bool = False):
        return self.service._session(write=write)

    def _school(self, s: Session, dfe: str) -> School:
        return self.service._school(s, dfe)

    @staticmethod
    def _connection(s: Session, school: School) -> DxConnection | None:
        return s.exec(select(DxConnection).where(DxConnection.school_id == school.id)).first()

    def _may_see(self, s: Session, actor: Any, school: School) -> None:
        if actor is None or actor is OPERATOR:
            return
        from . import accounts

        accounts.membership(self.service, actor, school.dfe)  # another school looks like no school

    def _require_setup(self, actor: Any, school_dfe: str, action: str) -> str:
        """The acting user's email if they hold Setup at the school ("operator" for the operator);
        a refusal is audited. A user of another school is told only that there is no such school
        they belong to (accounts.membership), so one school cannot learn about another."""
        with self._session() as s:
            self._school(s, school_dfe)
        if actor is None or actor is OPERATOR:
            return "operator"
        from . import accounts

        try:
            accounts.require(self.service, actor, school_dfe, SETUP)
        except Refused as exc:
            self._audit_refusal(actor, school_dfe, action, exc.reason)
            raise
        return str(actor).strip().lower()

    def _audit(self, s: Session, who: str, school: School, action: str, reason: str | None) -> None:
        s.add(AuditEvent(at=clock.now(), actor=who, school_dfe=school.dfe, action=action, outcome="ok",
                         reason=reason))

    def _audit_refusal(self, actor: Any, school_dfe: str, action: str, reason: str) -> None:
        with self._session(write=True) as s:
            s.add(AuditEvent(at=clock.now(), actor=str(actor).strip().lower()[:254], school_dfe=school_dfe,
                             action=action, outcome="refused", reason=reason))
            s.commit()


# --------------------------------------------------------------------------- reading pages


@dataclass
class _Pages:
    pupils: list[MisPupil] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    delta: bool = False
    next_delta_token: str | None = None
    count: int = 0
    requests: int = 0
    retries: int = 0


class _Reader:
    """Reads a partner's pages for one pull: stops between pages when asked, and guards against
    paging that never ends."""

    def __init__(self, partner: Partner, stopping: threading.Event, progress: Progress | None):
        self.partner, self.stopping, self.progress = partner, stopping, progress
        self.max_pages = int(partner.settings.get("max_pages") or 2000)
        self.pages = self.requests = self.retries = 0

    def read(self, mis_id: str, delta_token: str | None) -> _Pages:
        out = _Pages()
        with PartnerHttp(self.partner, stopping=self.stopping) as http:
            try:
                for page in self.partner.pages(http, mis_id, delta_token=delta_token):
                    self.pages += 1
                    out.count += 1
                    out.pupils.extend(page.pupils)
                    out.deleted.extend(page.deleted)
                    out.delta = out.delta or page.delta
                    out.next_delta_token = page.next_delta_token or out.next_delta_token
                    if self.progress:
                        self.progress(self.pages, int(getattr(page, "expected_pages", 0) or 0))
                    if self.stopping.is_set():
                        raise PullError("stopped before the pull finished", "stopped")
                    if self.pages >= self.max_pages:
                        raise PullError(f"{self.partner.title} was still offering more pages after {self.pages} "
                                        f"(max_pages); its paging looks endless", "paging")
            except PullError as exc:
                raise PullError(http.scrub(str(exc)), exc.kind) if not isinstance(exc, DeltaRefused) else exc
            finally:
                self.requests += http.requests
                self.retries += http.retried
        return out


# --------------------------------------------------------------------------- helpers


def _as_row(row: CohortPupil) -> dict[str, Any]:
    return {"mis_id": row.mis_id, "upn": row.upn, "forename": row.forename, "surname": row.surname,
            "date_of_birth": row.date_of_birth, "gender": row.gender, "nc_year": row.nc_year,
            "characteristics": dict(row.characteristics)}


def _sorted_years(by_year: dict[str, int]) -> dict[str, int]:
    return dict(sorted(by_year.items(), key=lambda kv: (not kv[0].isdigit(), int(kv[0]) if kv[0].isdigit() else 0)))


def _runner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"[:100]


def _is_dead(record: DxPull) -> bool:
    host, _, pid = (record.runner or "").rpartition(":")
    if host == socket.gethostname() and pid.isdigit():
        if int(pid) == os.getpid():
            return False
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            return True
        except PermissionError:
            return False
        return False
    # another machine: judge by age (no pull may outlive its deadline by much)
    return record.started_at is not None and clock.now() - record.started_at > dt.timedelta(hours=3)


def _info(school: School) -> SchoolInfo:
    return SchoolInfo(dfe=school.dfe, name=school.name, urn=school.urn)
