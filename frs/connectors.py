"""Public building blocks a connector plugin contributes: pupil sources and the pupils they return."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any, Mapping


def dfe_number(text: str) -> str | None:
    """A DfE number (LAESTAB) as 7 digits, or None if ``text`` is not one.

    The forms 8012345, 801/2345 and 801-2345 all occur in DfE and MIS documents. Only the
    ASCII digits 0-9 count ("１２３" and "١٢٣" are digits to Python, not to the DfE); a no-break
    space is a space.
    """
    clean = text.strip().replace("/", "").replace("-", "").replace(" ", "").replace("\u00a0", "")
    return clean if len(clean) == 7 and clean.isascii() and clean.isdigit() else None


@dataclass(frozen=True)
class School:
    """The school a template or upload is for. ``dfe`` is the 7-digit DfE number (LAESTAB)."""

    dfe: str
    name: str = ""
    urn: str | None = None

    @property
    def la_code(self) -> str:
        return self.dfe[:3]

    @property
    def establishment_number(self) -> str:
        return self.dfe[3:]


@dataclass(frozen=True)
class Pupil:
    """One pupil of a cohort, as a source returns it (before any validation)."""

    upn: str
    forename: str
    surname: str
    date_of_birth: dt.date | None
    gender: str  # "Female" | "Male" | "" when unknown
    nc_year: int | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)


class PupilSource:
    """Where a template's pupils come from (an MIS API, a census file, nothing at all).

    Subclass, set ``name`` and ``description``, and implement :meth:`fetch_cohort`.
    ``settings`` are this plugin's ``[plugins.<name>]`` table from config.
    ``priority`` orders sources for the default selection: highest first.
    """

    name: str = ""
    description: str = ""
    priority: int = 0
    plugin: str = ""

    def __init__(self, settings: Mapping[str, Any] | None = None):
        self.settings = dict(settings or {})

    def available_for(self, school: School) -> bool:
        """True when this source can supply pupils for ``school`` right now."""
        return True

    def fetch_cohort(self, school: School, nc_year: int) -> list[Pupil]:  # pragma: no cover
        raise NotImplementedError
