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

Reading is streamed a few schools at a time (:func:`iter_cohorts`), and so is writing: memory
does not grow with the number of schools. Each pupil record's JSON is parsed once, in Python, and
the finished rows go in with COPY on PostgreSQL (``executemany`` on SQLite): this was measured
faster than unpacking the JSON with the database's JSON functions, which re-parse a document for
every value taken out of it.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import json
import logging
import math
import os
import socket
import threading
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError, OperationalError

from .. import clock
from ..config import Round
from ..results import CollectedPupil, Result, SchoolCohort
from ..storage.models import PROCESSING, REPORTS_AVAILABLE, School, Upload
from ..storage.models_collect import (COMPLETE, RUNNING, CollectedPupil as PupilRow, CollectedResult,
                                      CollectedUpload, Collection, CollectionSchool)
from ..storage.service import Refused, london_iso
from . import cohorts

log = logging.getLogger("frs.collect")

#: statuses of a confirmed, current upload (Reports available: already collected once)
COLLECTABLE = (PROCESSING, REPORTS_AVAILABLE)
_FLUSH_SCHOOLS = 50  # pupils, results, summaries and bookkeeping rows are written per batch of this many schools

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
    _notify(service, summary, stopping)
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
    totals = Counter()
    order = sorted(by_school, key=dfe_of.get)
    if progress:
        progress(0, len(order))
    for first in range(0, len(order), _FLUSH_SCHOOLS):
        if stopping is not None and stopping.is_set():
            raise CollectionStopped(f"stopped after {first} of {len(order)} schools; nothing was kept")
        batch = [(school_id, dfe_of[school_id], by_school[school_id])
                 for school_id in order[first:first + _FLUSH_SCHOOLS]]
        _collect_batch(service, writer, columns, row.id, batch, totals)
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


def _collect_batch(service, writer: "_BulkWriter", columns: "_ColumnIndex", collection_id: int,
                   batch: list[tuple[int, str, list[tuple[int, str]]]], totals: Counter) -> None:
    """Write a batch of schools: every pupil of each upload (with or without results), one result
    row per pupil, subject and grade, then each school's summary and its uploads' bookkeeping.

    The pupil records' JSON is parsed here, once per record: the database's JSON operators re-parse
    the whole document for every field taken out, and unpacking the results in SQL cost more than
    sending the finished rows with COPY. Results are streamed school by school into one COPY, so
    the database stores one school's rows while the next school's are being made (two cores)."""
    keystage_of = {upload_id: ks for _school, _dfe, uploads in batch for upload_id, ks in uploads}
    by_upload: dict[int, list] = defaultdict(list)
    for record in writer.pupil_records(list(keystage_of)):
        by_upload[record[0]].append(record)
    ids = iter(writer.pupil_ids(sum(len(v) for v in by_upload.values())))
    pupil_rows, schools = [], []
    for school_id, dfe, school_uploads in batch:
        characteristics = cohorts.characteristics(service, dfe) or {}
        upns: set[str] = set()
        pupils = Counter()
        with_results = []  # (pupil id, key stage, results JSON) in pupil order
        # uploads in key-stage order (GCSE before non-GCSE), rows in sheet order: the same every run
        for upload_id, keystage in school_uploads:
            records = by_upload.pop(upload_id, [])
            records.sort(key=lambda r: r[1])
            for _u, row_no, record_id, upn, fields, results in records:
                get = _json(fields).get
                pupil_id = next(ids)
                upn = (upn or "").upper() or None
                chars = characteristics.get(upn) if upn else None
                pupil_rows.append((pupil_id, collection_id, school_id, upload_id, keystage, row_no, record_id, upn,
                                   _text(get("forename"))[:200], _text(get("surname"))[:200],
                                   _birth_date(get("dob_day"), get("dob_month"), get("dob_year")),
                                   _gender(get("gender")), _int(get("nc_year")),
                                   writer.json(chars) if chars else "{}"))
                upns.add(upn or f"{upload_id}:{row_no}")
                pupils[upload_id] += 1
                with_results.append((pupil_id, keystage, results))
        schools.append((school_id, dfe, school_uploads, len(upns), pupils, with_results))
    del by_upload
    writer.write_pupils(pupil_rows)
    del pupil_rows
    school_rows, upload_rows = [], []
    with writer.results() as send:
        for school_id, dfe, school_uploads, n_pupils, pupils, with_results in schools:
            rows, entries = [], []
            for pupil_id, keystage, results in with_results:
                results = _json(results)
                if not results:
                    continue
                grades = writer.grades(columns, keystage)
                head = writer.result_head(collection_id, pupil_id, school_id)
                for column_id, value in results.items():
                    if value.__class__ is not str:
                        if value is None:
                            continue
                        value = json.dumps(value)  # a number's JSON text, as the database's JSON functions give it
                    made = grades.get((column_id, value))
                    if made is None:
                        made = grades.add(column_id, value)
                    rows.append(head + made.row)
                    entries.append(made)
            send(rows)
            counted = Counter(entries)  # by result kind: a few hundred per school
            per_keystage = Counter()
            for made, n in counted.items():
                per_keystage[made.key[0]] += n  # a school has at most one current upload per template
            uploads = [{"collection_id": collection_id, "upload_id": upload_id, "school_id": school_id,
                        "keystage": keystage, "pupils": pupils[upload_id], "results": per_keystage[keystage]}
                       for upload_id, keystage in school_uploads]
            body = _summary(n_pupils, counted)
            body["uploads"] = [{"id": u["upload_id"], "keystage": u["keystage"], "pupils": u["pupils"],
                                "results": u["results"]} for u in uploads]
            school_rows.append({"collection_id": collection_id, "school_id": school_id, "school_dfe": dfe,
                                "pupils": body["pupils"], "results": body["entries"], "summary": body})
            upload_rows += uploads
            totals.update(schools=1, uploads=len(uploads), pupils=body["pupils"], results=body["entries"])
    writer.write_summaries(school_rows, upload_rows)


_decode = json.JSONDecoder().raw_decode


def _json(value: Any) -> Any:
    """A JSON column's value: the database driver may have parsed it already (psycopg does)."""
    if value.__class__ is str:
        return _decode(value)[0] if value[:1] == "{" else json.loads(value)
    return value


def _summary(pupils: int, entries: Counter) -> dict[str, Any]:
    """A school's summary: pupils, entries per subject, grade distribution per subject, average
    points per entry (over the entries the catalogue gives points for)."""
    subjects: dict[tuple[str, str], list] = {}
    for made, n in entries.items():
        entry = subjects.get(made.subject)
        if entry is None:
            entry = subjects[made.subject] = [made.info.subject, {}, [], 0]
        entry[1][made.key[2]] = n
        if made.points is not None:
            entry[2].append(made.points * n)
            entry[3] += n
    out = []
    all_points, total_scored, total = [], 0, 0
    for (keystage, column_id), (subject, grades, products, scored) in sorted(
            subjects.items(), key=lambda kv: (kv[0][0], kv[1][0], kv[0][1])):
        n = sum(grades.values())
        # fsum: the same total whatever order the entries were counted in (floats do not associate)
        points = math.fsum(products)
        total += n
        all_points += products
        total_scored += scored
        out.append({"keystage": keystage, "column_id": column_id, "subject": subject, "entries": n,
                    "grades": dict(sorted(grades.items(), key=lambda g: _grade_order(g[0]))),
                    "average_points": round(points / scored, 2) if scored else None})
    return {"pupils": pupils, "entries": total,
            "average_points_per_entry": round(math.fsum(all_points) / total_scored, 2) if total_scored else None,
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


class _Grades:
    """One key stage's result rows by (column id, grade): the catalogue's facts for each are looked
    up and formatted once, so a result costs one dictionary look-up and a string join."""

    def __init__(self, writer: "_BulkWriter", columns: "_ColumnIndex", keystage: str):
        self.writer, self.keystage = writer, keystage
        self.result_columns = set(columns.column_ids(keystage))
        self.columns = columns
        self.made: dict[tuple[str, Any], _Made] = {}
        self.get = self.made.get

    def add(self, column_id: str, value: Any) -> "_Made":
        grade = value[:20]
        if column_id in self.result_columns:
            info = self.columns.get(self.keystage, column_id)
            values = (self.keystage, column_id, info.subject[:255], grade, info.points.get(grade),
                      info.discount_code, info.subject_code, info.qualification)
        else:  # not a result column of the catalogue (any more): kept, with nothing looked up
            values = (self.keystage, column_id, column_id, grade, None, None, None, None)
        made = _Made((self.keystage, column_id, grade), self.columns.get(self.keystage, column_id),
                     self.writer.result_tail(values))
        self.made[column_id, value] = made
        return made


class _Made:
    """One kind of result (key stage, column, grade): what the summary counts (by identity: one
    object per kind), and the end of its row after (collection, pupil, school) as the writer wants it."""

    __slots__ = ("key", "subject", "info", "points", "row")

    def __init__(self, key: tuple[str, str, str], info: "_ColumnInfo", row: Any):
        self.key, self.info, self.row = key, info, row
        self.subject = key[:2]  # (key stage, column id)
        self.points = info.points.get(key[2])  # for the summary, as the catalogue gives them now


def _copy_text(value: Any) -> str:
    """One value in PostgreSQL's COPY text format."""
    if value is None:
        return "\\N"
    if isinstance(value, float):
        return repr(value)
    text = str(value)
    if "\\" in text or "\t" in text or "\n" in text or "\r" in text:
        text = text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")
    return text


class _BulkWriter:
    """The bulk writes of a collection, inside its transaction: COPY on PostgreSQL (results as
    ready-made COPY text lines), ``executemany`` on SQLite; pupil ids allocated up front, so the
    results can refer to their pupils without reading anything back."""

    def __init__(self, s):
        self.s = s
        self.connection = s.connection()
        self.dialect = self.connection.dialect.name
        self.postgresql = self.dialect == "postgresql"
        self.raw = self.connection.connection.driver_connection
        self._grades: dict[str, _Grades] = {}
        if self.postgresql:
            self.sequence = self.connection.exec_driver_sql(
                "SELECT pg_get_serial_sequence('collected_pupil', 'id')").scalar_one()
        else:
            self.next_id = (self.connection.exec_driver_sql("SELECT max(id) FROM collected_pupil").scalar() or 0) + 1

    def grades(self, columns: "_ColumnIndex", keystage: str) -> _Grades:
        if keystage not in self._grades:
            self._grades[keystage] = _Grades(self, columns, keystage)
        return self._grades[keystage]

    def pupil_records(self, upload_ids: list[int]) -> list[tuple]:
        """(upload, row, record id, UPN, fields, results) of these uploads; the JSON as stored."""
        if not upload_ids:
            return []
        if self.postgresql:  # the JSON as text: parsed once, by the collection
            with self.raw.cursor() as cur:
                cur.execute('SELECT upload_id, "row", id, upn, fields::text, results::text FROM pupilrecord '
                            "WHERE upload_id = ANY(%s)", (upload_ids,))
                return cur.fetchall()
        cur = self.raw.cursor()
        try:
            marks = ", ".join("?" * len(upload_ids))
            cur.execute(f'SELECT upload_id, "row", id, upn, fields, results FROM pupilrecord '
                        f"WHERE upload_id IN ({marks})", upload_ids)
            return cur.fetchall()
        finally:
            cur.close()

    def pupil_ids(self, n: int) -> list[int]:
        if n == 0:
            return []
        if self.postgresql:
            with self.raw.cursor() as cur:
                cur.execute("SELECT nextval(%s) FROM generate_series(1, %s)", (self.sequence, n))
                return [r[0] for r in cur.fetchall()]
        first, self.next_id = self.next_id, self.next_id + n
        return list(range(first, first + n))

    def result_head(self, collection_id: int, pupil_id: int, school_id: int):
        if self.postgresql:
            return f"{collection_id}\t{pupil_id}\t{school_id}\t"
        return (collection_id, pupil_id, school_id)

    def result_tail(self, values: tuple):
        if self.postgresql:
            return "\t".join(_copy_text(v) for v in values) + "\n"
        return values

    @staticmethod
    def json(value: Any) -> str:
        return json.dumps(value, separators=(",", ":"), default=str)

    def write_pupils(self, rows: list[tuple]) -> None:
        if not rows:
            return
        if self.postgresql:
            with self.raw.cursor() as cur:
                with cur.copy(f"COPY collected_pupil ({', '.join(PUPIL_COLUMNS)}) FROM STDIN") as copy:
                    for r in rows:
                        copy.write_row(r)
        else:
            self._insert("collected_pupil", PUPIL_COLUMNS,
                         [tuple(v.isoformat() if isinstance(v, dt.date) else v for v in r) for r in rows])

    @contextlib.contextmanager
    def results(self) -> Iterator[Callable[[list], None]]:
        """``send(rows)`` for result rows made by :meth:`result_head` + :meth:`result_tail`."""
        if not self.postgresql:
            yield lambda rows: self._insert("collected_result", RESULT_COLUMNS, rows) if rows else None
            return
        with self.raw.cursor() as cur:
            with cur.copy(f"COPY collected_result ({', '.join(RESULT_COLUMNS)}) FROM STDIN") as copy:
                yield lambda rows: copy.write("".join(rows)) if rows else None

    def write_summaries(self, school_rows: list[dict], upload_rows: list[dict]) -> None:
        if school_rows:
            self.s.execute(insert(CollectionSchool), school_rows)
        if upload_rows:
            self.s.execute(insert(CollectedUpload), upload_rows)

    def _insert(self, table: str, columns: tuple[str, ...], rows: list[tuple]) -> None:
        cur = self.raw.cursor()
        try:
            cur.executemany(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})",
                            rows)
        finally:
            cur.close()


def _text(value: Any) -> str:
    if value is None:
        return ""
    return value if isinstance(value, str) else json.dumps(value)


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


def _notify(service, summary: CollectionSummary, stopping: threading.Event | None = None) -> None:
    """Tell the plugins (each on its own: one's failure never stops the others), then record that
    they were told, so a crash between the commit and here is caught up by the next run. The
    kernel's analysis (:mod:`frs.analysis.hooks`) is told too and sees ``stopping``: when a stop
    was asked for meanwhile, nothing is recorded, so the next run tells them (and analyses) again."""
    with service._session() as s:
        row = s.get(Collection, summary.id)
        if row is None or row.state != COMPLETE or row.notified is not None:
            return
        upload_ids = list(s.execute(select(CollectedUpload.upload_id).where(
            CollectedUpload.collection_id == summary.id).order_by(CollectedUpload.upload_id)).scalars())
    from ..analysis.hooks import analysis_options

    with analysis_options(stopping=stopping):
        service.kernel.notify("round_collected", round_id=summary.round_id, upload_ids=upload_ids,
                              collection_id=summary.id, service=service)
    if stopping is not None and stopping.is_set():
        log.info("round %s: stopped while the plugins were told; they are told again on the next run",
                 summary.round_id)
        return
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


def count_schools(service, collection_id: int) -> int:
    """How many schools a collection holds (the analysis's progress total)."""
    with service._session() as s:
        return s.execute(select(func.count()).select_from(CollectionSchool)
                         .where(CollectionSchool.collection_id == collection_id)).scalar_one()


def collection_key_stage(service, collection_id: int) -> int | None:
    """The key stage number of a complete collection; None when there is no such collection."""
    with service._session() as s:
        row = s.get(Collection, collection_id)
        return row.key_stage if row is not None and row.state == COMPLETE else None


_READ_SCHOOLS = 20  # schools read per query (and held, as finished cohorts, until they are yielded)


def iter_cohorts(service, collection_id: int, *, school_dfe: str | None = None) -> Iterator[SchoolCohort]:
    """Each school's collected cohort, one school at a time (the round is never held in memory).
    A KS4 school's GCSE and non-GCSE pupils are merged by UPN into one pupil with all results."""
    reader = CohortReader(service, collection_id)
    for batch in reader.batches(school_dfe=school_dfe):
        yield from reader.read(batch)


class CohortReader:
    """Reads a collection's cohorts by batches of schools: :meth:`batches` lists the schools
    (in DfE number order), :meth:`read` gives one batch's cohorts. Each batch costs three queries,
    not three per school, and the analysis's worker processes each read their own batches.

    Results come back as shared :class:`Result` objects: a result holds no pupil, so the thousands
    of 'grade 7 in English Language' entries of a round are one object (they are frozen)."""

    def __init__(self, service, collection_id: int):
        with service._session() as s:
            coll = s.get(Collection, collection_id)
        if coll is None:
            raise Refused(f"There is no collection {collection_id}.", code="not-found")
        self.service, self.coll = service, coll
        self.columns = _ColumnIndex(service.kernel)
        self.results: dict[tuple, Result] = {}  # one Result per distinct stored (key stage, column, grade, ...)

    def batches(self, size: int = _READ_SCHOOLS, *, school_dfe: str | None = None) -> list[list[tuple[int, str, str]]]:
        """The collection's schools as (school id, DfE number, name), in batches of ``size``."""
        query = (select(CollectionSchool.school_id, CollectionSchool.school_dfe, School.name)
                 .join(School, School.id == CollectionSchool.school_id)
                 .where(CollectionSchool.collection_id == self.coll.id).order_by(CollectionSchool.school_dfe))
        if school_dfe is not None:
            query = query.where(CollectionSchool.school_dfe == school_dfe.strip())
        with self.service._session() as s:
            schools = [tuple(row) for row in s.execute(query).all()]  # a few hundred KB for a national round
        return [schools[first:first + size] for first in range(0, len(schools), size)]

    def read(self, batch: list[tuple[int, str, str]]) -> list[SchoolCohort]:
        """The cohorts of a batch of schools (from :meth:`batches`), in the batch's order."""
        school_ids = [school_id for school_id, _dfe, _name in batch]
        uploads: dict[int, list[tuple[int, str]]] = defaultdict(list)
        pupils: dict[int, list[tuple]] = defaultdict(list)
        results: dict[int, list[Result]] = defaultdict(list)
        with self.service._session() as s:
            connection = s.connection()
            postgresql = connection.dialect.name == "postgresql"
            raw = connection.connection.driver_connection
            if postgresql:
                where, params = "collection_id = %s AND school_id = ANY(%s)", (self.coll.id, school_ids)
            else:
                where = f"collection_id = ? AND school_id IN ({', '.join('?' * len(school_ids))})"
                params = (self.coll.id, *school_ids)
            cur = raw.cursor()
            try:
                if postgresql:  # the batch's results are sorted in memory, not on disk
                    cur.execute("SET LOCAL work_mem = '32MB'")
                cur.execute(f"SELECT school_id, upload_id, keystage FROM collected_upload WHERE {where} "
                            "ORDER BY keystage, upload_id", params)
                for school_id, upload_id, keystage in cur.fetchall():
                    uploads[school_id].append((upload_id, keystage))
                cur.execute("SELECT school_id, id, keystage, upn, forename, surname, gender, date_of_birth, nc_year, "
                            f"characteristics{'::text' if postgresql else ''} FROM collected_pupil WHERE {where} "
                            "ORDER BY id", params)
                for row in cur:
                    pupils[row[0]].append(row)
                cur.execute("SELECT pupil_id, keystage, column_id, subject, grade, points, discount_code, subject_code, "
                            f"qualification FROM collected_result WHERE {where} ORDER BY pupil_id, id", params)
                shared, get = self.results, self.results.get
                last, into = None, None
                for row in cur:
                    if row[0] != last:
                        last, into = row[0], results[row[0]]
                    kind = row[1:]
                    result = get(kind)
                    if result is None:
                        result = shared[kind] = self._result(*kind)
                    into.append(result)
            finally:
                cur.close()
        return [_cohort(self.coll, dfe, name, uploads.get(school_id, ()), pupils.get(school_id, ()), results)
                for school_id, dfe, name in batch]

    def _result(self, keystage, column_id, subject, grade, points, discount, subject_code, qual) -> Result:
        return Result(keystage=keystage, column_id=column_id, subject=subject, grade=grade, points=points,
                      discount_code=discount, subject_code=subject_code, qualification=qual,
                      meta=self.columns.get(keystage, column_id).meta)


def _cohort(coll: Collection, dfe: str, name: str, uploads, pupils, results: dict[int, list[Result]]) -> SchoolCohort:
    merged: dict[str, dict[str, Any]] = {}
    order: list[str] = []
    for _school, pupil_id, _ks, upn, forename, surname, gender, dob, nc_year, chars in pupils:
        chars = _json(chars) if chars and chars != "{}" else {}
        key = upn or f"row:{pupil_id}"  # a pupil without a UPN cannot be matched: kept on its own
        if key not in merged:
            merged[key] = {"upn": upn or "", "forename": forename, "surname": surname, "gender": gender,
                           "date_of_birth": dt.date.fromisoformat(dob) if isinstance(dob, str) else dob,
                           "nc_year": nc_year, "characteristics": dict(chars), "results": []}
            order.append(key)
        else:
            for k, v in chars.items():
                merged[key]["characteristics"].setdefault(k, v)
        merged[key]["results"] += results.pop(pupil_id, ())
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
