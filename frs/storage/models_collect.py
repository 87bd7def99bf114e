"""Tables of the deadline collection and the daemon.

- ``collection``: one row per round, claimed before any data is written (the unique ``round_id``
  is what stops a second daemon, or an operator, from starting the same collection again);
- ``collected_upload``, ``collected_pupil``, ``collected_result``: the normalised snapshot, one
  result row per pupil, subject and grade; pupils without results are kept;
- ``collection_school``: each school's summary, produced with the collection;
- ``daemon_lease``: the row that elects one active daemon;
- ``job_run``: when each scheduled job last ran, so a restarted daemon (or ``frs daemon --once``
  from cron) knows what is due, and any retry a job asked for.

The two bulk tables (pupils, results) carry no foreign-key constraints: they are written only by
the collection, in bulk, and checking three keys per result row made COPY several times slower.

Everything in one collection is written in one transaction, so a crash leaves the whole collection
or none of it; only the claim row (state ``running``) survives, and the next run completes it.
"""

from __future__ import annotations

import datetime as dt
from typing import Optional

from sqlalchemy import JSON, Column, Index
from sqlmodel import Field, SQLModel

from .models import UTCDateTime, _time

RUNNING = "running"
COMPLETE = "complete"


class Collection(SQLModel, table=True):
    id: Optional[int] = Field(default=None, primary_key=True)
    round_id: str = Field(max_length=60, unique=True)  # one collection per round, ever
    key_stage: int
    year: int
    state: str = Field(max_length=20)  # running | complete
    claimed_at: Optional[dt.datetime] = _time()
    claimed_by: str = Field(max_length=200)  # daemon id (host:pid:uuid) or "operator@host:pid"
    started: Optional[dt.datetime] = _time(nullable=True)  # the attempt that completed it
    finished: Optional[dt.datetime] = _time(nullable=True)
    daemon: Optional[str] = Field(default=None, max_length=200)  # who completed it
    attempts: int = 0
    schools: int = 0
    uploads: int = 0
    pupils: int = 0
    results: int = 0
    notified: Optional[dt.datetime] = _time(nullable=True)  # round_collected hook run (after commit)


class CollectedUpload(SQLModel, table=True):
    __tablename__ = "collected_upload"
    __table_args__ = (Index("collected_upload_by_collection", "collection_id", "school_id"),)

    id: Optional[int] = Field(default=None, primary_key=True)
    collection_id: int = Field(foreign_key="collection.id")
    upload_id: int = Field(foreign_key="upload.id", index=True)
    school_id: int = Field(foreign_key="school.id")
    keystage: str = Field(max_length=60)
    pupils: int = 0
    results: int = 0


class CollectionSchool(SQLModel, table=True):
    """One school of a collection, with its summary (pupils, entries per subject, grades,
    average points per entry); ``frs report`` prints it."""

    __tablename__ = "collection_school"
    __table_args__ = (Index("collection_school_unique", "collection_id", "school_id", unique=True),)

    id: Optional[int] = Field(default=None, primary_key=True)
    collection_id: int = Field(foreign_key="collection.id")
    school_id: int = Field(foreign_key="school.id", index=True)
    school_dfe: str = Field(max_length=7)
    pupils: int = 0
    results: int = 0
    summary: dict = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))


class CollectedPupil(SQLModel, table=True):
    __tablename__ = "collected_pupil"
    __table_args__ = (Index("collected_pupil_by_school", "collection_id", "school_id"),)

    id: Optional[int] = Field(default=None, primary_key=True)
    collection_id: int = Field()
    school_id: int = Field()
    upload_id: int = Field()
    keystage: str = Field(max_length=60)
    row: int
    record_id: Optional[int] = None  # the pupilrecord row it was made from (its results are read from there)
    upn: Optional[str] = Field(default=None, max_length=20)
    forename: str = Field(default="", max_length=200)
    surname: str = Field(default="", max_length=200)
    date_of_birth: Optional[dt.date] = None
    gender: str = Field(default="", max_length=10)
    nc_year: Optional[int] = None
    characteristics: dict = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))


class CollectedResult(SQLModel, table=True):
    __tablename__ = "collected_result"
    __table_args__ = (Index("collected_result_by_school", "collection_id", "school_id"),)

    id: Optional[int] = Field(default=None, primary_key=True)
    collection_id: int = Field()
    pupil_id: int = Field()
    school_id: int = Field()
    keystage: str = Field(max_length=60)
    column_id: str = Field(max_length=120)
    subject: str = Field(max_length=255)
    grade: str = Field(max_length=20)
    points: Optional[float] = None
    discount_code: Optional[str] = Field(default=None, max_length=20)
    subject_code: Optional[str] = Field(default=None, max_length=20)
    qualification: Optional[str] = Field(default=None, max_length=40)


class DaemonLease(SQLModel, table=True):
    """The one active daemon: ``holder`` keeps the row by renewing ``expires_at``; anyone may take
    it once it has expired."""

    __tablename__ = "daemon_lease"

    name: str = Field(primary_key=True, max_length=60)
    holder: str = Field(max_length=200)
    acquired_at: Optional[dt.datetime] = _time()
    expires_at: Optional[dt.datetime] = _time()


class JobRun(SQLModel, table=True):
    __tablename__ = "job_run"

    name: str = Field(primary_key=True, max_length=120)
    first_seen: Optional[dt.datetime] = _time()
    last_started: Optional[dt.datetime] = _time(nullable=True)
    last_finished: Optional[dt.datetime] = _time(nullable=True)
    last_outcome: Optional[str] = Field(default=None, max_length=20)
    last_records: int = 0
    retry_at: Optional[dt.datetime] = _time(nullable=True)
    retry_kwargs: Optional[dict] = Field(default=None, sa_column=Column(JSON, nullable=True))


__all__ = ["RUNNING", "COMPLETE", "Collection", "CollectedUpload", "CollectionSchool", "CollectedPupil",
           "CollectedResult", "DaemonLease", "JobRun", "UTCDateTime"]
