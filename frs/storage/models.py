"""Database tables: schools, users and their permissions, uploads with their issues and pupil
records, and the append-only audit log.

Times are stored as UTC and shown in Europe/London. An upload's file is found by
(school DfE number, sha256) in the file store; the row is written only after the file is durable.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Optional

from sqlalchemy import JSON, Column, DateTime, Index, UniqueConstraint, text
from sqlalchemy.types import TypeDecorator
from sqlmodel import Field, SQLModel

# the names live in a module without the database layer, so the command line can offer them
# (click choices) without importing SQLAlchemy
from .names import (AWAITING_CONFIRMATION, DELETED, HIDDEN_STATUSES, MANAGE_DATA, MEMBER, OVERWRITTEN,  # noqa: F401
                    PERMISSIONS, PROCESSING, REPORTS_AVAILABLE, SETUP, STATUSES, UPLOAD_ERROR)


class UTCDateTime(TypeDecorator):
    """An aware datetime stored as naive UTC, so SQLite and PostgreSQL give back the same value."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(dt.timezone.utc).replace(tzinfo=None)

    def process_result_value(self, value: dt.datetime | None, dialect) -> dt.datetime | None:
        return None if value is None else value.replace(tzinfo=dt.timezone.utc)


def _time(nullable: bool = False) -> Any:
    return Field(default=None, sa_column=Column(UTCDateTime(), nullable=nullable))


class School(SQLModel, table=True):
    id: Optional[int] = Field(default=None, primary_key=True)
    dfe: str = Field(max_length=7, unique=True, index=True)  # LA code (3) + establishment number (4)
    name: str = Field(max_length=200)
    urn: Optional[str] = Field(default=None, max_length=10, index=True)
    type: Optional[str] = Field(default=None, max_length=120)
    phase: Optional[str] = Field(default=None, max_length=60)
    status: Optional[str] = Field(default=None, max_length=60)
    updated_at: Optional[dt.datetime] = _time(nullable=True)


class User(SQLModel, table=True):
    id: Optional[int] = Field(default=None, primary_key=True)
    email: str = Field(max_length=254, unique=True, index=True)  # stored lower-case
    name: Optional[str] = Field(default=None, max_length=200)
    created_at: Optional[dt.datetime] = _time(nullable=True)


class Permission(SQLModel, table=True):
    __table_args__ = (UniqueConstraint("user_id", "school_id", "permission"),)

    id: Optional[int] = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="user.id", index=True)
    school_id: int = Field(foreign_key="school.id", index=True)
    permission: str = Field(max_length=30)


class Upload(SQLModel, table=True):
    __table_args__ = (
        # the school's current file per template: at most one, whatever races happen
        Index("one_current_upload", "school_id", "keystage", unique=True,
              sqlite_where=text("is_current"), postgresql_where=text("is_current")),
    )

    id: Optional[int] = Field(default=None, primary_key=True)
    school_id: int = Field(foreign_key="school.id", index=True)
    keystage: str = Field(max_length=60)
    round_id: str = Field(max_length=60)
    filename: str = Field(max_length=255)
    sha256: str = Field(max_length=64)
    size: int
    status: str = Field(max_length=30)
    is_current: bool = Field(default=False)
    pupils: int = 0
    errors: int = 0
    warnings: int = 0
    reports_due: Optional[dt.date] = None
    uploaded_at: Optional[dt.datetime] = _time()
    uploaded_by_id: int = Field(foreign_key="user.id")
    confirmed_at: Optional[dt.datetime] = _time(nullable=True)
    confirmed_by_id: Optional[int] = Field(default=None, foreign_key="user.id")
    deleted_at: Optional[dt.datetime] = _time(nullable=True)
    deleted_by_id: Optional[int] = Field(default=None, foreign_key="user.id")


class UploadIssue(SQLModel, table=True):
    """One finding of the validation run, kept so the school can see it and download the list."""

    id: Optional[int] = Field(default=None, primary_key=True)
    upload_id: int = Field(foreign_key="upload.id", index=True)
    position: int
    code: str = Field(max_length=120)
    severity: str = Field(max_length=10)
    message: str
    sheet: Optional[str] = Field(default=None, max_length=100)
    row: Optional[int] = None
    column: Optional[str] = Field(default=None, max_length=5)
    header: Optional[str] = Field(default=None, max_length=255)
    upn: Optional[str] = Field(default=None, max_length=20)
    value: Optional[str] = None
    plugin: str = Field(default="frs", max_length=60)


class PupilRecord(SQLModel, table=True):
    """One pupil row of a clean upload: pupil fields and results by column id."""

    id: Optional[int] = Field(default=None, primary_key=True)
    upload_id: int = Field(foreign_key="upload.id", index=True)
    row: int
    upn: Optional[str] = Field(default=None, max_length=20)
    fields: dict = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    results: dict = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))


class AuditEvent(SQLModel, table=True):
    """Append-only: who did what to which file, and whether it was allowed. Never file content or
    pupil values. No foreign keys, so nothing deleted elsewhere can take an audit line with it."""

    id: Optional[int] = Field(default=None, primary_key=True)
    at: Optional[dt.datetime] = _time()
    actor: str = Field(max_length=254)  # the email given, known user or not; "operator" for CLI operators
    school_dfe: Optional[str] = Field(default=None, max_length=7, index=True)
    action: str = Field(max_length=30)  # upload, confirm, delete, download, errors, ...
    upload_id: Optional[int] = Field(default=None, index=True)
    sha256: Optional[str] = Field(default=None, max_length=64)
    size: Optional[int] = None
    outcome: str = Field(max_length=10)  # ok | refused | failed
    reason: Optional[str] = None
