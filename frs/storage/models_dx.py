"""Tables for pupil lists from outside: the school's Data Exchange connection, the history of
pulls, and the cohort (pupil list) each school's last completed pull left.

A pull writes the cohort in one transaction, and only when it completed; every pull, good or
not, leaves a ``DxPull`` line saying what happened and why.
"""

from __future__ import annotations

import datetime as dt
from typing import Optional

from sqlalchemy import JSON, Column, Index
from sqlmodel import Field, SQLModel

from .models import _time

# pull outcomes
RUNNING = "running"
COMPLETED = "completed"
FAILED = "failed"
PARTIAL = "partial"  # some pages read, then it could not go on (paging guard, deadline)
INTERRUPTED = "interrupted"  # stopped on request, or the process died mid-pull
OUTCOMES = (RUNNING, COMPLETED, FAILED, PARTIAL, INTERRUPTED)


class DxConnection(SQLModel, table=True):
    """A school's Data Exchange link: partner and the school's id there; enabled or not."""

    __tablename__ = "dx_connection"

    id: Optional[int] = Field(default=None, primary_key=True)
    school_id: int = Field(foreign_key="school.id", unique=True, index=True)
    partner: str = Field(max_length=60)
    mis_id: str = Field(max_length=100)
    enabled: bool = Field(default=False)
    connected_at: Optional[dt.datetime] = _time()
    connected_by: str = Field(max_length=254)
    enabled_at: Optional[dt.datetime] = _time(nullable=True)
    enabled_by: Optional[str] = Field(default=None, max_length=254)
    delta_token: Optional[str] = Field(default=None, max_length=500)  # partner's change token (never a secret)


class DxPull(SQLModel, table=True):
    """One pull, by hand or scheduled: what it read and how it ended."""

    __tablename__ = "dx_pull"

    id: Optional[int] = Field(default=None, primary_key=True)
    school_id: int = Field(foreign_key="school.id", index=True)
    partner: str = Field(max_length=60)
    mode: str = Field(default="full", max_length=10)  # full | delta
    started_at: Optional[dt.datetime] = _time()
    finished_at: Optional[dt.datetime] = _time(nullable=True)
    outcome: str = Field(default=RUNNING, max_length=12)
    runner: Optional[str] = Field(default=None, max_length=100)  # host:pid, to tell a pull whose process died
    reason: Optional[str] = None
    pages: int = 0
    requests: int = 0
    retries: int = 0
    pupils: int = 0
    by_year: dict = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    rejected: list = Field(default_factory=list, sa_column=Column(JSON, nullable=False))


class CohortPupil(SQLModel, table=True):
    """One pupil of a school's current cohort (all year groups), from its last completed pull."""

    __tablename__ = "cohort_pupil"
    __table_args__ = (Index("cohort_pupil_school_year", "school_id", "nc_year"),)

    id: Optional[int] = Field(default=None, primary_key=True)
    school_id: int = Field(foreign_key="school.id", index=True)
    pull_id: int = Field(foreign_key="dx_pull.id")
    mis_id: str = Field(max_length=100)
    upn: str = Field(max_length=13)
    forename: str = Field(max_length=100)
    surname: str = Field(max_length=100)
    date_of_birth: Optional[dt.date] = None
    gender: str = Field(default="", max_length=10)
    nc_year: Optional[int] = None
    characteristics: dict = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
