"""The deadline collection: every school's current confirmed uploads of a round, snapshotted into
normalised tables (one row per pupil, subject and grade, with the catalogue's points), with a
summary per school, and the round's uploads moved to *Reports available*.

Driven by database state, never by a scheduler's memory:

- the ``collection`` row is claimed first (unique per round): whoever runs it later, daemon or
  operator, finds it and completes or reports that one; a collection is never started twice;
- the data are written in ONE transaction that also marks the row complete, so a crash (SIGKILL,
  power loss) leaves the whole collection or none of it, and the next run writes exactly what an
  uninterrupted run would have written (schools by DfE number, uploads by key stage, rows in order);
- a second collector waits on the row lock (PostgreSQL ``FOR UPDATE``; SQLite's write lock) and
  then finds the collection complete.

Reading is streamed one school at a time (:func:`iter_cohorts`), and so is writing: memory does
not grow with the number of schools. On PostgreSQL rows go in with COPY, on SQLite with
``executemany``.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import logging
import os
import socket
import threading
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import IntegrityError, OperationalError

from .. import clock
from ..config import Round
from ..results import CollectedPupil, Result, SchoolCohort
from ..storage.models import PROCESSING, REPORTS_AVAILABLE, PupilRecord, School, Upload
from ..storage.models_collect import (COMPLETE, RUNNING, CollectedPupil as PupilRow, CollectedResult,
                                      CollectedUpload, Collection, CollectionSchool)
from ..storage.service import Refused, london_iso
from . import cohorts

log = logging.getLogger("frs.collect")

#: statuses of a confirmed, current upload (Reports available: already collected once)
COLLECTABLE = (PROCESSING, REPORTS_AVAILABLE)
_FLUSH_SCHOOLS = 100  # results, summaries and bookkeeping rows are written per batch of this many schools

PUPIL_COLUMNS = ("id", "collection_id", "school_id", "upload_id", "keystage", "row", "record_id", "upn", "forename", "surname",
                 "date_of_birth", "gender", "nc_year", "characteristics")
RESULT_COLUMNS = ("collection_id", "pupil_id", "school_id", "keystage", "column_id", "subject", "grade", "points",
                  "discount_code", "subject_code", "qualification")


class CollectionStopped(Exception):
    """The collection was asked to stop (SIGTERM/SIGINT) and rolled back; nothing was written."""


def utcnow() -> dt.datetime:
    """Wall time, for when things happened (the service clock may be fixed by FRS_NOW)."""
    return dt.datetime.now(dt.timezone.utc)


def operator_id() -> str:
    return f"operator@{socket.gethostname()}:{os.getpid()}"


# --------------------------------------------------------------------------- views


@dataclass
class CollectionSummary:
    id: int
    round_id: str
    key_stage: int
    year: int
    state: str
    claimed_at: dt.datetime | None
    claimed_by: str
    started: dt.datetime | None
    finished: dt.datetime | None
    daemon: str | None
    attempts: int
    schools: int
    uploads: int
    pupils: int
    results: int
    #: True when this call found the collection already complete and changed nothing
    existing: bool = False

    @classmethod
    def of(cls, row: Collection, existing: bool = False) -> "CollectionSummary":
        return cls(id=row.id, round_id=row.round_id, key_stage=row.key_stage, year=row.year, state=row.state,
                   claimed_at=row.claimed_at, claimed_by=row.claimed_by, started=row.started, finished=row.finished,
                   daemon=row.daemon, attempts=row.attempts, schools=row.schools, uploads=row.uploads,
                   pupils=row.pupils, results=row.results, existing=existing)

    @property
    def duration(self) -> float | None:
        return (self.finished - self.started).total_seconds() if self.started and self.finished else None

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "round": self.round_id, "state": self.state, "started": london_iso(self.started),
                "finished": london_iso(self.finished), "schools": self.schools, "uploads": self.uploads,
                "pupils": self.pupils, "results": self.results, "daemon": self.daemon,
                "claimed_by": self.claimed_by, "claimed_at": london_iso(self.claimed_at), "attempts": self.attempts,
                "seconds": round(self.duration, 3) if self.duration is not None else None,
                "already_collected": self.existing}


# --------------------------------------------------------------------------- collect


def round_by_id(service, round_id: str) -> Round:
    for rnd in service.kernel.config.rounds:
        if rnd.id == round_id:
            return rnd
    known = ", ".join(r.id for r in service.kernel.config.rounds) or "none"
    raise Refused(f"There is no round {round_id!r} in the config; rounds are: {known}.", code="no-round")


def due_rounds(service, now: dt.datetime | None = None) -> list[Round]:
    """Rounds past their close whose collection is not complete (or whose plugins were not yet
    told): what the daemon collects on start and on every tick."""
    now = now or clock.now()
    closed = [r for r in service.kernel.config.rounds if r.closes <= now]
    if not closed:
        return []
    with service._session() as s:
        done = set(s.execute(select(Collection.round_id).where(
            Collection.state == COMPLETE, Collection.notified.is_not(None))).scalars())
    return sorted((r for r in closed if r.id not in done), key=lambda r: r.closes)


def collect(service, round_id: str, *, progress: Callable[[int, int], None] | None = None,
            daemon_id: str | None = None, stopping: threading.Event | None = None) -> CollectionSummary:
    """Collect the round (idempotent): the existing collection when there is one, else a new one.

    Refused before the round closes. ``progress(done, total)`` is called per school. When
    ``stopping`` is set part-way, the work is rolled back and :class:`CollectionStopped` raised.
    """
    rnd = round_by_id(service, round_id)
    now = clock.now()
    if now < rnd.closes:
        raise Refused(f"Round {rnd.id} closes on {rnd.closes:%a %d %b %Y %H:%M} (UK time); it is now "
                      f"{now:%a %d %b %Y %H:%M}. It is collected after it closes, so that no upload is missed.",
                      code="round-open")
    who = daemon_id or operator_id()
    _waiting_for_writers(lambda: _claim(service, rnd, who), rnd, stopping)
    summary = _waiting_for_writers(lambda: _complete(service, rnd, who, progress, stopping), rnd, stopping)
    _notify(service, summary)
    return summary


def _claim(service, rnd: Round, who: str) -> None:
    """Create the round's collection row if there is none (a race is settled by the unique key)."""
    with service._session(write=True) as s:
        if s.execute(select(Collection.id).where(Collection.round_id == rnd.id)).first():
            return
        s.add(Collection(round_id=rnd.id, key_stage=rnd.key_stage, year=rnd.year, state=RUNNING,
                         claimed_at=utcnow(), claimed_by=who[:200]))
        try:
            s.commit()
        except IntegrityError:  # another collector claimed it between our look and our insert
            s.rollback()


def _waiting_for_writers(action, rnd: Round, stopping):
    """Run ``action``, waiting while SQLite's write lock is held by another process (a long
    collection outlasts the busy timeout); PostgreSQL waits on the row lock by itself."""
    while True:
        try:
            return action()
        except OperationalError as exc:
            if "locked" not in str(exc).lower():
                raise
            if stopping is not None and stopping.is_set():
                raise CollectionStopped(f"stopped while waiting for another collection of {rnd.id}") from None
            log.info("round %s: another process is writing; waiting", rnd.id)
            time.sleep(1)


def _complete(service, rnd: Round, who: str, progress, stopping) -> CollectionSummary:
    """Lock the collection row; if it is complete, report it; otherwise write it all and commit."""
    with service._session(write=True) as s:  # SQLite: BEGIN IMMEDIATE waits for a running collector
        row = s.execute(select(Collection).where(Collection.round_id == rnd.id).with_for_update()
                        .execution_options(populate_existing=True)).scalar_one()
        if row.state == COMPLETE:
            return CollectionSummary.of(row, existing=True)
        _write(service, s, row, rnd, who, progress, stopping)
        s.commit()
        return CollectionSummary.of(row)


def _write(service, s, row: Collection, rnd: Round, who: str, progress, stopping) -> None:
    started = utcnow()
    # a crashed attempt left nothing (one transaction), but be certain before writing again
    for table in (CollectedResult, PupilRow, CollectedUpload, CollectionSchool):
        s.execute(delete(table).where(table.collection_id == row.id))
    uploads = s.execute(
        select(Upload.id, Upload.school_id, Upload.keystage, School.dfe)
        .join(School, School.id == Upload.school_id)
        .where(Upload.round_id == rnd.id, Upload.is_current == True,  # noqa: E712
               Upload.status.in_(COLLECTABLE))
        .order_by(School.dfe, Upload.keystage)).all()
    by_school: dict[int, list] = defaultdict(list)
    dfe_of: dict[int, str] = {}
    for upload_id, school_id, keystage, dfe in uploads:
        by_school[school_id].append((upload_id, keystage))
        dfe_of[school_id] = dfe
    columns = _ColumnIndex(service.kernel)
    writer = _BulkWriter(s)
    writer.load_catalogue(columns, sorted({ks for _u, _s, ks, _d in uploads}))
    totals = Counter()
    order = sorted(by_school, key=dfe_of.get)
    if progress:
        progress(0, len(order))
    for first in range(0, len(order), _FLUSH_SCHOOLS):
        if stopping is not None and stopping.is_set():
            raise CollectionStopped(f"stopped after {first} of {len(order)} schools; nothing was kept")
        batch = [(school_id, dfe_of[school_id], by_school[school_id])
                 for school_id in order[first:first + _FLUSH_SCHOOLS]]
        written = _collect_pupils(service, s, writer, row.id, batch)
        _collect_results(s, writer, columns, row.id, written, totals)
        if progress:
            progress(first + len(batch), len(order))
    s.execute(update(Upload).where(Upload.id.in_(
        select(CollectedUpload.upload_id).where(CollectedUpload.collection_id == row.id)),
        Upload.status == PROCESSING).values(status=REPORTS_AVAILABLE))
    row.state = COMPLETE
    row.started, row.finished, row.daemon = started, utcnow(), who[:200]
    row.attempts += 1
    row.schools, row.uploads, row.pupils, row.results = (totals["schools"], totals["uploads"], totals["pupils"],
                                                        totals["results"])
    s.add(row)
    s.flush()


_PUPIL_FIELDS = ("forename", "surname", "dob_day", "dob_month", "dob_year", "gender", "nc_year")


def _collect_pupils(service, s, writer: "_BulkWriter", collection_id: int,
                    batch: list[tuple[int, str, list[tuple[int, str]]]]) -> list[dict[str, Any]]:
    """Write a batch of schools' pupils (every pupil of each upload, with or without results)."""
    keystage_of = {upload_id: ks for _school, _dfe, uploads in batch for upload_id, ks in uploads}
    # only the pupil fields used are taken out of the JSON, by the database
    records = s.execute(select(PupilRecord.upload_id, PupilRecord.row, PupilRecord.id, PupilRecord.upn,
                               *(PupilRecord.fields[name].as_string() for name in _PUPIL_FIELDS))
                        .where(PupilRecord.upload_id.in_(list(keystage_of)))).all()
    by_upload: dict[int, list] = defaultdict(list)
    for record in records:
        by_upload[record[0]].append(record)
    del records
    allocated = writer.pupil_ids(sum(len(v) for v in by_upload.values()))
    writer.batch_ids = (allocated[0], allocated[-1]) if allocated else (0, -1)
    ids = iter(allocated)
    rows, written = [], []
    for school_id, dfe, school_uploads in batch:
        characteristics = cohorts.characteristics(service, dfe) or {}
        upns: set[str] = set()
        pupils = Counter()
        # uploads in key-stage order (GCSE before non-GCSE), rows in sheet order: the same every run
        for upload_id, keystage in school_uploads:
            for _u, row_no, record_id, upn, forename, surname, day, month, year, gender, nc_year in \
                    sorted(by_upload.get(upload_id, ()), key=lambda r: r[1]):
                upn = (upn or "").upper() or None
                chars = characteristics.get(upn) if upn else None
                rows.append((next(ids), collection_id, school_id, upload_id, keystage, row_no, record_id, upn,
                             (forename or "")[:200], (surname or "")[:200], _birth_date(day, month, year),
                             _gender(gender), _int(nc_year), writer.json(chars) if chars else "{}"))
                upns.add(upn or f"{upload_id}:{row_no}")
                pupils[upload_id] += 1
        written.append({"school_id": school_id, "dfe": dfe, "uploads": school_uploads, "pupils": len(upns),
                        "upload_pupils": pupils})
    writer.write("collected_pupil", PUPIL_COLUMNS, rows)
    return written


def _collect_results(s, writer: "_BulkWriter", columns: "_ColumnIndex", collection_id: int,
                     batch: list[dict[str, Any]], totals: Counter) -> None:
    """The results of a batch of schools whose pupils are written: normalised by the database
    (one row per pupil, subject and grade, points joined from the catalogue), then each school's
    summary from the counts."""
    if not batch:
        return
    school_ids = [b["school_id"] for b in batch]
    entries: dict[int, Counter] = defaultdict(Counter)
    for school_id, keystage, column_id, grade, n in writer.insert_results(collection_id, school_ids):
        entries[school_id][(keystage, column_id, grade)] += n
    school_rows, upload_rows = [], []
    for b in batch:
        counted = entries.get(b["school_id"], Counter())
        per_keystage = Counter()
        for (keystage, _column, _grade), n in counted.items():
            per_keystage[keystage] += n  # a school has at most one current upload per template
        uploads = [{"collection_id": collection_id, "upload_id": upload_id, "school_id": b["school_id"],
                    "keystage": keystage, "pupils": b["upload_pupils"][upload_id], "results": per_keystage[keystage]}
                   for upload_id, keystage in b["uploads"]]
        body = _summary(columns, b["pupils"], counted)
        body["uploads"] = [{"id": u["upload_id"], "keystage": u["keystage"], "pupils": u["pupils"],
                            "results": u["results"]} for u in uploads]
        school_rows.append({"collection_id": collection_id, "school_id": b["school_id"], "school_dfe": b["dfe"],
                            "pupils": body["pupils"], "results": body["entries"], "summary": body})
        upload_rows += uploads
        totals.update(schools=1, uploads=len(uploads), pupils=body["pupils"], results=body["entries"])
    s.execute(insert(CollectionSchool), school_rows)
    s.execute(insert(CollectedUpload), upload_rows)
    batch.clear()


def _summary(columns: "_ColumnIndex", pupils: int, entries: Counter) -> dict[str, Any]:
    """A school's summary: pupils, entries per subject, grade distribution per subject, average
    points per entry (over the entries the catalogue gives points for)."""
    subjects: dict[tuple[str, str], dict[str, Any]] = {}
    for (keystage, column_id, grade), n in entries.items():
        info = columns.get(keystage, column_id)
        entry = subjects.setdefault((keystage, column_id), {"subject": info.subject, "grades": {}, "points": 0.0,
                                                            "scored": 0})
        entry["grades"][grade] = n
        points = info.points.get(grade)
        if points is not None:
            entry["points"] += points * n
            entry["scored"] += n
    out = []
    total_points, total_scored, total = 0.0, 0, 0
    for (keystage, column_id), e in sorted(subjects.items(), key=lambda kv: (kv[0][0], kv[1]["subject"], kv[0][1])):
        n = sum(e["grades"].values())
        total += n
        total_points += e["points"]
        total_scored += e["scored"]
        out.append({"keystage": keystage, "column_id": column_id, "subject": e["subject"], "entries": n,
                    "grades": dict(sorted(e["grades"].items(), key=lambda g: _grade_order(g[0]))),
                    "average_points": round(e["points"] / e["scored"], 2) if e["scored"] else None})
    return {"pupils": pupils, "entries": total,
            "average_points_per_entry": round(total_points / total_scored, 2) if total_scored else None,
            "subjects": out}


@functools.lru_cache(maxsize=4096)
def _grade_order(grade: str) -> tuple:
    # highest first: 9..1 and 99..11 numerically, then letters (*, A, B, ... U last)
    if grade.isdigit():
        return (0, -int(grade))
    return (1, {"*": " ", "U": "~"}.get(grade, grade))


@dataclass(frozen=True)
class _ColumnInfo:
    subject: str
    points: dict = field(default_factory=dict)
    discount_code: str | None = None
    subject_code: str | None = None
    qualification: str | None = None
    meta: dict = field(default_factory=dict)


class _ColumnIndex:
    """Catalogue facts per (key stage, column id), looked up once per column."""

    def __init__(self, kernel):
        self.kernel = kernel
        self._cache: dict[tuple[str, str], _ColumnInfo] = {}
        self._columns: dict[str, dict[str, Any]] = {}

    def get(self, keystage: str, column_id: str) -> _ColumnInfo:
        key = (keystage, column_id)
        info = self._cache.get(key)
        if info is None:
            column = self._columns_of(keystage).get(column_id)
            if column is None:  # the key stage's plugin is gone, or the catalogue dropped the column
                info = _ColumnInfo(subject=column_id)
            else:
                meta = dict(column.meta or {})
                info = _ColumnInfo(
                    subject=column.header, points=dict(meta.get("points") or {}),
                    discount_code=_str(meta.get("discount_code") or meta.get("ks4_discount_code")),
                    subject_code=_str(meta.get("subject_code")),
                    qualification=_str(meta.get("qn_formatted") or meta.get("qn")), meta=meta)
            self._cache[key] = info
        return info

    def column_ids(self, keystage: str) -> list[str]:
        return [cid for cid, c in self._columns_of(keystage).items() if c.kind == "result"]

    def _columns_of(self, keystage: str) -> dict[str, Any]:
        if keystage not in self._columns:
            ks = self.kernel.keystages.get(keystage)
            self._columns[keystage] = {c.id: c for c in self.kernel.columns(ks)} if ks else {}
        return self._columns[keystage]


class _BulkWriter:
    """The bulk writes of a collection, inside its transaction. Pupils: COPY on PostgreSQL,
    ``executemany`` on SQLite, with ids allocated up front. Results: one INSERT ... SELECT per batch
    of schools that unpacks each pupil record's results with the database's own JSON functions
    and joins the catalogue (loaded into temporary tables), so no result passes through Python."""

    def __init__(self, s):
        self.connection = s.connection()
        self.dialect = self.connection.dialect.name
        self.raw = self.connection.connection.driver_connection
        self.batch_ids = (0, -1)
        self.analysed = False
        if self.dialect == "postgresql":
            self.sequence = self.connection.exec_driver_sql(
                "SELECT pg_get_serial_sequence('collected_pupil', 'id')").scalar_one()
        else:
            self.next_id = (self.connection.exec_driver_sql("SELECT max(id) FROM collected_pupil").scalar() or 0) + 1

    def load_catalogue(self, columns: "_ColumnIndex", keystages: list[str]) -> None:
        run = self.connection.exec_driver_sql
        run("CREATE TEMPORARY TABLE IF NOT EXISTS frs_collect_column (keystage VARCHAR(60), column_id VARCHAR(120), "
            "subject VARCHAR(255), discount_code VARCHAR(40), subject_code VARCHAR(40), qualification VARCHAR(40), "
            "PRIMARY KEY (keystage, column_id))")
        run("CREATE TEMPORARY TABLE IF NOT EXISTS frs_collect_points (keystage VARCHAR(60), column_id VARCHAR(120), "
            "grade VARCHAR(20), points FLOAT, PRIMARY KEY (keystage, column_id, grade))")
        run("DELETE FROM frs_collect_column")
        run("DELETE FROM frs_collect_points")
        column_rows, point_rows = [], []
        for keystage in keystages:
            for column_id in columns.column_ids(keystage):
                info = columns.get(keystage, column_id)
                column_rows.append((keystage, column_id, info.subject[:255], info.discount_code, info.subject_code,
                                    info.qualification))
                point_rows += [(keystage, column_id, grade[:20], points) for grade, points in info.points.items()]
        mark = "%s" if self.dialect == "postgresql" else "?"
        cur = self.raw.cursor()
        try:
            if column_rows:
                cur.executemany(f"INSERT INTO frs_collect_column VALUES ({', '.join([mark] * 6)})", column_rows)
            if point_rows:
                cur.executemany(f"INSERT INTO frs_collect_points VALUES ({', '.join([mark] * 4)})", point_rows)
        finally:
            cur.close()

    def insert_results(self, collection_id: int, school_ids: list[int]) -> list[tuple]:
        """Write the batch's results; return (school, key stage, column, grade, entries) counts.

        The batch's pupils are found by their id range (allocated just before), so the work per
        batch does not grow with what earlier batches wrote. PostgreSQL counts the rows as it
        inserts them (a data-modifying WITH); SQLite counts them afterwards through the index."""
        lo, hi = self.batch_ids
        schools = ", ".join(str(int(i)) for i in school_ids)
        where = (f"cp.id BETWEEN {int(lo)} AND {int(hi)} AND cp.collection_id = {int(collection_id)} "
                 f"AND cp.school_id IN ({schools})")
        each = ("json_each_text(pr.results) AS r" if self.dialect == "postgresql" else "json_each(pr.results) AS r")
        insert = (f"INSERT INTO collected_result ({', '.join(RESULT_COLUMNS)}) "
                  "SELECT cp.collection_id, cp.id, cp.school_id, cp.keystage, r.key, COALESCE(c.subject, r.key), "
                  "CAST(r.value AS VARCHAR(20)), p.points, c.discount_code, c.subject_code, c.qualification "
                  "FROM collected_pupil cp "
                  "JOIN pupilrecord pr ON pr.id = cp.record_id "
                  f"CROSS JOIN {each} "
                  "LEFT JOIN frs_collect_column c ON c.keystage = cp.keystage AND c.column_id = r.key "
                  "LEFT JOIN frs_collect_points p ON p.keystage = cp.keystage AND p.column_id = r.key "
                  "AND p.grade = CAST(r.value AS VARCHAR(20)) "
                  f"WHERE {where}")
        if self.dialect == "postgresql":
            if not self.analysed:
                # the planner's figures for tables filled in this very transaction say "empty";
                # ANALYZE sees the transaction's own rows, so later batches use the indexes
                self.connection.exec_driver_sql("ANALYZE collected_pupil")
                self.analysed = True
            return self.connection.exec_driver_sql(
                f"WITH written AS ({insert} RETURNING school_id, keystage, column_id, grade) "
                "SELECT school_id, keystage, column_id, grade, count(*) FROM written "
                "GROUP BY school_id, keystage, column_id, grade").all()
        self.connection.exec_driver_sql(insert)
        return self.connection.exec_driver_sql(
            "SELECT school_id, keystage, column_id, grade, count(*) FROM collected_result "
            f"WHERE collection_id = {int(collection_id)} AND school_id IN ({schools}) "
            "GROUP BY school_id, keystage, column_id, grade").all()

    def pupil_ids(self, n: int) -> list[int]:
        if n == 0:
            return []
        if self.dialect == "postgresql":
            with self.raw.cursor() as cur:
                cur.execute("SELECT nextval(%s) FROM generate_series(1, %s)", (self.sequence, n))
                return [r[0] for r in cur.fetchall()]
        first, self.next_id = self.next_id, self.next_id + n
        return list(range(first, first + n))

    @staticmethod
    def json(value: Any) -> str:
        return json.dumps(value, separators=(",", ":"), default=str)

    def write(self, table: str, columns: tuple[str, ...], rows: list[tuple]) -> None:
        if not rows:
            return
        if self.dialect == "postgresql":
            with self.raw.cursor() as cur:
                with cur.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
                    for r in rows:
                        copy.write_row(r)
        else:
            marks = ", ".join("?" * len(columns))
            cur = self.raw.cursor()
            try:
                cur.executemany(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})",
                                [tuple(v.isoformat() if isinstance(v, dt.date) else v for v in r) for r in rows])
            finally:
                cur.close()


def _str(value: Any) -> str | None:
    return None if value in (None, "") else str(value)[:40]


def _int(value: Any) -> int | None:
    try:
        return int(str(value).strip())
    except (TypeError, ValueError):
        return None


def _gender(value: Any) -> str:
    text = str(value or "").strip().upper()
    return "Female" if text.startswith("F") else "Male" if text.startswith("M") else ""


def _birth_date(day: Any, month: Any, year: Any) -> dt.date | None:
    try:
        return dt.date(int(year), int(month), int(day))
    except (TypeError, ValueError):
        return None


# --------------------------------------------------------------------------- after collection


def _notify(service, summary: CollectionSummary) -> None:
    """Tell the plugins (each on its own: one's failure never stops the others), then record that
    they were told, so a crash between the commit and here is caught up by the next run."""
    with service._session() as s:
        row = s.get(Collection, summary.id)
        if row is None or row.state != COMPLETE or row.notified is not None:
            return
        upload_ids = list(s.execute(select(CollectedUpload.upload_id).where(
            CollectedUpload.collection_id == summary.id).order_by(CollectedUpload.upload_id)).scalars())
    service.kernel.notify("round_collected", round_id=summary.round_id, upload_ids=upload_ids,
                          collection_id=summary.id, service=service)
    with service._session(write=True) as s:
        s.execute(update(Collection).where(Collection.id == summary.id).values(notified=utcnow()))
        s.commit()


# --------------------------------------------------------------------------- reading


def collections(service) -> list[CollectionSummary]:
    with service._session() as s:
        rows = s.execute(select(Collection).order_by(Collection.claimed_at, Collection.id)).scalars().all()
        return [CollectionSummary.of(r) for r in rows]


def latest_collection(service, round_id: str) -> CollectionSummary | None:
    with service._session() as s:
        row = s.execute(select(Collection).where(Collection.round_id == round_id)).scalar_one_or_none()
        return CollectionSummary.of(row) if row else None


def iter_cohorts(service, collection_id: int, *, school_dfe: str | None = None) -> Iterator[SchoolCohort]:
    """Each school's collected cohort, one school at a time (the round is never held in memory).
    A KS4 school's GCSE and non-GCSE pupils are merged by UPN into one pupil with all results."""
    with service._session() as s:
        coll = s.get(Collection, collection_id)
        if coll is None:
            raise Refused(f"There is no collection {collection_id}.", code="not-found")
        query = (select(CollectionSchool.school_id, CollectionSchool.school_dfe, School.name)
                 .join(School, School.id == CollectionSchool.school_id)
                 .where(CollectionSchool.collection_id == collection_id).order_by(CollectionSchool.school_dfe))
        if school_dfe is not None:
            query = query.where(CollectionSchool.school_dfe == school_dfe.strip())
        schools = s.execute(query).all()  # (id, dfe, name): a few hundred KB for a national round
    columns = _ColumnIndex(service.kernel)
    for school_id, dfe, name in schools:
        with service._session() as s:
            yield _cohort(s, columns, coll, school_id, dfe, name)


def _cohort(s, columns: _ColumnIndex, coll: Collection, school_id: int, dfe: str, name: str) -> SchoolCohort:
    uploads = s.execute(select(CollectedUpload.upload_id, CollectedUpload.keystage).where(
        CollectedUpload.collection_id == coll.id, CollectedUpload.school_id == school_id)
        .order_by(CollectedUpload.keystage, CollectedUpload.upload_id)).all()
    pupils = s.execute(select(PupilRow.id, PupilRow.keystage, PupilRow.upn, PupilRow.forename, PupilRow.surname,
                              PupilRow.gender, PupilRow.date_of_birth, PupilRow.nc_year, PupilRow.characteristics)
                       .where(PupilRow.collection_id == coll.id, PupilRow.school_id == school_id)
                       .order_by(PupilRow.id)).all()
    results: dict[int, list[Result]] = defaultdict(list)
    for pupil_id, keystage, column_id, subject, grade, points, discount, subject_code, qual in s.execute(
            select(CollectedResult.pupil_id, CollectedResult.keystage, CollectedResult.column_id,
                   CollectedResult.subject, CollectedResult.grade, CollectedResult.points,
                   CollectedResult.discount_code, CollectedResult.subject_code, CollectedResult.qualification)
            .where(CollectedResult.collection_id == coll.id, CollectedResult.school_id == school_id)
            .order_by(CollectedResult.pupil_id, CollectedResult.id)):
        results[pupil_id].append(Result(keystage=keystage, column_id=column_id, subject=subject, grade=grade,
                                        points=points, discount_code=discount, subject_code=subject_code,
                                        qualification=qual, meta=columns.get(keystage, column_id).meta))
    merged: dict[str, dict[str, Any]] = {}
    order: list[str] = []
    for pupil_id, _ks, upn, forename, surname, gender, dob, nc_year, chars in pupils:
        key = upn or f"row:{pupil_id}"  # a pupil without a UPN cannot be matched: kept on its own
        if key not in merged:
            merged[key] = {"upn": upn or "", "forename": forename, "surname": surname, "gender": gender,
                           "date_of_birth": dob, "nc_year": nc_year, "characteristics": dict(chars or {}),
                           "results": []}
            order.append(key)
        else:
            for k, v in (chars or {}).items():
                merged[key]["characteristics"].setdefault(k, v)
        merged[key]["results"] += results.get(pupil_id, [])
    return SchoolCohort(
        school_dfe=dfe, school_name=name, round_id=coll.round_id, key_stage=coll.key_stage, year=coll.year,
        collection_id=coll.id, keystages=tuple(dict.fromkeys(ks for _id, ks in uploads)),
        upload_ids=tuple(u for u, _ks in uploads),
        pupils=tuple(CollectedPupil(**{**merged[k], "results": tuple(merged[k]["results"])}) for k in order))


def school_report(service, school_dfe: str, round_id: str) -> dict[str, Any]:
    """The school's collected summary for the round: ``{"school", "round", "summary", ...}``."""
    rnd = round_by_id(service, round_id)
    with service._session() as s:
        school = s.execute(select(School).where(School.dfe == school_dfe.strip())).scalar_one_or_none()
        if school is None:
            raise Refused(f"There is no school with DfE number {school_dfe}.", code="unknown-school")
        coll = s.execute(select(Collection).where(Collection.round_id == rnd.id)).scalar_one_or_none()
        if coll is None or coll.state != COMPLETE:
            raise Refused(f"Round {rnd.id} has not been collected yet (it closes "
                          f"{rnd.closes:%a %d %b %Y %H:%M} UK time; run `frs collect --round {rnd.id}` after that).",
                          code="not-collected")
        row = s.execute(select(CollectionSchool).where(CollectionSchool.collection_id == coll.id,
                                                       CollectionSchool.school_id == school.id)).scalar_one_or_none()
        if row is None:
            raise Refused(f"{school.name} ({school.dfe}) had no confirmed upload for round {rnd.id} when it was "
                          "collected, so there is no summary.", code="not-collected")
        return {"school": school.dfe, "school_name": school.name, "round": rnd.id, "collection": coll.id,
                "collected": london_iso(coll.finished), "summary": row.summary}
