"""Tables of the analysis: one run per analysed collection, one stored result per school, and the
national figures an operator loaded.

A school's result is canonical JSON (sorted keys, floats rounded to 6 decimals) with the version
of the rules that made it, so the same collection analysed twice stores the same bytes
(``result_sha256`` shows it). The school's PDF lives in the reports file store under its hash.
"""

from __future__ import annotations

import datetime as dt
from typing import Optional

from sqlalchemy import Column, LargeBinary, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from .models import UTCDateTime

RUNNING = "running"
FINISHED = "finished"
FAILED = "failed"


def _time(nullable: bool = True):
    return Field(default=None, sa_column=Column(UTCDateTime(), nullable=nullable))


class AnalysisRun(SQLModel, table=True):
    __tablename__ = "analysis_run"

    id: Optional[int] = Field(default=None, primary_key=True)
    collection_id: int = Field(index=True)
    round_id: str = Field(max_length=60, index=True)
    key_stage: int
    year: int
    rules_version: str = Field(max_length=500)
    status: str = Field(max_length=20)
    schools: int = 0
    pupils: int = 0
    started_at: Optional[dt.datetime] = _time()
    finished_at: Optional[dt.datetime] = _time()
    # all schools of the collection: pupil-level sums, school values for percentile ranks (JSON)
    national: Optional[str] = Field(default=None, sa_column=Column(Text, nullable=True))
    error: Optional[str] = Field(default=None, sa_column=Column(Text, nullable=True))


class SchoolAnalysis(SQLModel, table=True):
    __tablename__ = "analysis_school"
    __table_args__ = (UniqueConstraint("run_id", "school_dfe"),)

    id: Optional[int] = Field(default=None, primary_key=True)
    run_id: int = Field(foreign_key="analysis_run.id", index=True)
    school_dfe: str = Field(max_length=7, index=True)
    round_id: str = Field(max_length=60)
    collection_id: int
    rules_version: str = Field(max_length=500)
    # zlib-compressed canonical JSON (a 180-pupil result is ~160 kB of JSON, ~15 kB compressed)
    result: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    result_sha256: str = Field(max_length=64)  # of the canonical JSON text
    pdf_sha256: Optional[str] = Field(default=None, max_length=64)


class NationalFigure(SQLModel, table=True):
    """A published national figure loaded by an operator (``frs national load``); it overrides the
    packaged figure with the same key stage, year, measure, group and subject."""

    __tablename__ = "national_figure"
    __table_args__ = (UniqueConstraint("key_stage", "year", "measure", "pupil_group", "subject"),)

    id: Optional[int] = Field(default=None, primary_key=True)
    key_stage: int
    year: int
    measure: str = Field(max_length=80)
    pupil_group: str = Field(default="", max_length=80)
    subject: str = Field(default="", max_length=120)
    value: float
    unit: str = Field(max_length=20)
    source: str = Field(sa_column=Column(Text, nullable=False))
