"""Collected results, as the analysis reads them: one school's cohort for one round, each pupil with
every result of every template the school sent (a KS4 pupil's GCSE and non-GCSE results together).

The collection (``frs collect``, the daemon at a round's close) writes these from the confirmed
uploads; measure plugins read only these, never the uploads themselves.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any, Mapping


@dataclass(frozen=True)
class Result:
    """One entry: a pupil's grade in one template column."""

    keystage: str  # template it came from: "ks4_gcse", "ks4_nongcse", "ks5_alevel", ...
    column_id: str  # the template column id
    subject: str  # the column's title
    grade: str  # as validated and normalised (e.g. "7", "65" for Combined Science, "*", "D2")
    points: float | None  # from the catalogue for this column and grade (None when it has none)
    discount_code: str | None = None  # KS4 discount code / KS5 discount code, from the column
    subject_code: str | None = None  # e.g. GCSE 4-digit subject code
    qualification: str | None = None  # QAN (e.g. "603/3073/9") for non-GCSE qualifications
    meta: Mapping[str, Any] = field(default_factory=dict)  # the column's catalogue meta


@dataclass(frozen=True)
class CollectedPupil:
    upn: str
    forename: str
    surname: str
    gender: str  # "Female" | "Male" | ""
    date_of_birth: dt.date | None
    nc_year: int | None
    # what the pupil source gave: "disadvantaged" (bool|None), "sen" ("E"|"K"|None),
    # "eal" (bool|None), "ks2" (mapping|None); absent keys mean the source had nothing
    characteristics: Mapping[str, Any] = field(default_factory=dict)
    results: tuple[Result, ...] = ()


@dataclass(frozen=True)
class SchoolCohort:
    """One school's collected pupils for one round (every pupil of every collected upload)."""

    school_dfe: str
    school_name: str
    round_id: str
    key_stage: int
    year: int
    collection_id: int
    keystages: tuple[str, ...]  # templates this school sent (KS4: one or both)
    upload_ids: tuple[int, ...]
    pupils: tuple[CollectedPupil, ...]
