"""Published national figures to compare a school with, each with its source.

frs ships the headline figures it holds (``frs/analysis/data/national_figures.csv``: DfE KS4
headlines for 2019 and 2020, JCQ GCSE key grades, DfE and JCQ A-level figures). An operator loads
fuller tables with ``frs national load FILE.csv`` in the same format (docs/analysis.md):

    key_stage,year,measure,group,subject,value,unit,source
    4,2020,attainment8,,,50.2,points,"DfE KS4 performance, revised"
    4,2020,attainment8,gender:Male,,47.4,points,"DfE KS4 performance, revised"
    5,2021,cumulative_A,,Mathematics,54.4,percent,"JCQ A level results, England"

- ``measure``: a key of the report's ``measures`` (``attainment8``, ``aps_per_entry`` ...), or for a
  subject ``grade_7_or_above`` / ``grade_4_or_above`` (KS4) or ``cumulative_<grade>`` (KS5,
  grades ``* A B C D E``).
- ``group``: blank for all pupils, else ``gender:Female``, ``gender:Male``, ``disadvantaged:True``,
  ``disadvantaged:False``, ``sen:E``, ``sen:K``, ``sen:None``, ``eal:True``, ``eal:False``.
- ``subject``: blank, or the subject as the template column names it ("Mathematics").
- ``unit``: ``percent`` (0-100), ``points``, ``score`` or ``count``. ``source``: required.

A loaded figure replaces the packaged one with the same key stage, year, measure, group and subject.
"""

from __future__ import annotations

import csv
import functools
import io
import math
import re
from importlib import resources
from typing import Any, Iterable

HEADER = ["key_stage", "year", "measure", "group", "subject", "value", "unit", "source"]
UNITS = ("percent", "points", "score", "count")
GROUP_RE = re.compile(r"^(gender:(Female|Male)|disadvantaged:(True|False)|sen:(E|K|None)|eal:(True|False))$")
MEASURE_RE = re.compile(r"^[a-z][a-z0-9_]*(_[*A-E])?$|^cumulative_[*A-E]$")
MAX_ROWS = 100_000


class NationalFileError(ValueError):
    """A national figures file that cannot be loaded; ``problems`` lists (line, message)."""

    def __init__(self, problems: list[tuple[int, str]]):
        self.problems = problems
        shown = "; ".join(f"line {line}: {message}" for line, message in problems[:10])
        more = f" (and {len(problems) - 10} more)" if len(problems) > 10 else ""
        super().__init__(f"the national figures file was not loaded, nothing changed: {shown}{more}")


Key = tuple[int, int, str, str, str]


def parse(text: str) -> list[dict[str, Any]]:
    """Rows of a national figures CSV, checked; raises :class:`NationalFileError` naming each bad line."""
    reader = csv.reader(io.StringIO(text))
    problems: list[tuple[int, str]] = []
    try:
        header = next(reader)
    except StopIteration:
        raise NationalFileError([(1, "the file is empty; the first line must be the header "
                                  + ",".join(HEADER))]) from None
    header = [h.strip().lstrip("\ufeff") for h in header]
    if header != HEADER:
        raise NationalFileError([(1, f"the header must be exactly {','.join(HEADER)} (found {','.join(header)[:200]})")])
    rows, seen = [], {}
    for line, raw in enumerate(reader, start=2):
        if not any(cell.strip() for cell in raw):
            continue
        if len(rows) >= MAX_ROWS:
            problems.append((line, f"more than {MAX_ROWS} figures; split the file"))
            break
        if len(raw) != len(HEADER):
            problems.append((line, f"has {len(raw)} columns, expected {len(HEADER)}"))
            continue
        cells = dict(zip(HEADER, (c.strip() for c in raw)))
        row: dict[str, Any] = {}
        if cells["key_stage"] not in ("2", "4", "5"):
            problems.append((line, f"key_stage must be 2, 4 or 5 (found {cells['key_stage'][:20]!r})"))
            continue
        row["key_stage"] = int(cells["key_stage"])
        if not re.fullmatch(r"20\d\d", cells["year"]):
            problems.append((line, f"year must be four digits such as 2020 (found {cells['year'][:20]!r})"))
            continue
        row["year"] = int(cells["year"])
        if not MEASURE_RE.match(cells["measure"]) or len(cells["measure"]) > 80:
            problems.append((line, "measure must be a measure key such as attainment8, english_maths_4 or "
                                   f"cumulative_A (found {cells['measure'][:40]!r})"))
            continue
        row["measure"] = cells["measure"]
        if cells["group"] and not GROUP_RE.match(cells["group"]):
            problems.append((line, "group must be blank or one of gender:Female, gender:Male, disadvantaged:True, "
                                   "disadvantaged:False, sen:E, sen:K, sen:None, eal:True, eal:False "
                                   f"(found {cells['group'][:40]!r})"))
            continue
        row["group"] = cells["group"]
        if len(cells["subject"]) > 120 or any(ord(c) < 32 for c in cells["subject"]):
            problems.append((line, "subject must be plain text of at most 120 characters"))
            continue
        row["subject"] = cells["subject"]
        try:
            value = float(cells["value"])
            if not math.isfinite(value):
                raise ValueError
        except ValueError:
            problems.append((line, f"value must be a number (found {cells['value'][:20]!r})"))
            continue
        if cells["unit"] not in UNITS:
            problems.append((line, f"unit must be one of {', '.join(UNITS)} (found {cells['unit'][:20]!r})"))
            continue
        if cells["unit"] == "percent" and not 0 <= value <= 100:
            problems.append((line, f"a percent must be from 0 to 100 (found {value})"))
            continue
        row["value"], row["unit"] = value, cells["unit"]
        if not cells["source"]:
            problems.append((line, "source is required: say where the figure was published"))
            continue
        row["source"] = cells["source"][:1000]
        key = (row["key_stage"], row["year"], row["measure"], row["group"], row["subject"])
        if key in seen:
            problems.append((line, f"repeats the figure on line {seen[key]}"))
            continue
        seen[key] = line
        rows.append(row)
    if problems:
        raise NationalFileError(problems)
    return rows


def packaged() -> list[dict[str, Any]]:
    return [dict(row) for row in _packaged()]


@functools.lru_cache(maxsize=1)
def _packaged() -> tuple[dict[str, Any], ...]:
    """The packaged rows, parsed once per process: the file ships with frs and does not change.
    Shared between callers: never changed in place."""
    text = resources.files("frs.analysis").joinpath("data", "national_figures.csv").read_text(encoding="utf-8")
    return tuple(parse(text))


@functools.lru_cache(maxsize=64)
def _packaged_for(key_stage: int, year: int) -> dict[Key, dict[str, Any]]:
    return {_key(row): row for row in _packaged() if row["key_stage"] == key_stage and row["year"] == year}


def _key(row: dict[str, Any]) -> Key:
    return row["key_stage"], row["year"], row["measure"], row["group"], row["subject"]


def figures(key_stage: int, year: int, loaded: Iterable[dict[str, Any]] = ()) -> dict[Key, dict[str, Any]]:
    """The figures for a key stage and year: packaged ones, replaced by loaded ones with the same key.
    The rows are shared with later calls: read them, never change them."""
    out = dict(_packaged_for(key_stage, year))
    for row in loaded:
        if row["key_stage"] == key_stage and row["year"] == year:
            out[_key(row)] = row
    return out


def loaded_rows(service, key_stage: int, year: int) -> list[dict[str, Any]]:
    """The operator's loaded figures for a key stage and year (empty when none, or no table yet).

    Read on every call, not cached: ``frs national load`` runs in another process than the portal,
    and these few plain columns cost one small query (the packaged figures, which cost a parse, are
    the ones cached)."""
    from sqlmodel import select

    from ..storage import db
    from ..storage.models_analysis import NationalFigure as F

    with db.session(service.engine) as s:
        found = s.exec(select(F.key_stage, F.year, F.measure, F.pupil_group, F.subject, F.value, F.unit, F.source)
                       .where(F.key_stage == key_stage, F.year == year)).all()
    return [dict(zip(HEADER, row)) for row in found]  # selected in the order of HEADER


def load(service, text: str) -> int:
    """Check a national figures file and store its rows, replacing figures with the same key; all
    rows or none. Returns how many were stored."""
    from sqlmodel import select

    from ..storage import db
    from ..storage.models_analysis import NationalFigure

    rows = parse(text)
    with db.session(service.engine, write=True) as s:
        for row in rows:
            found = s.exec(select(NationalFigure).where(
                NationalFigure.key_stage == row["key_stage"], NationalFigure.year == row["year"],
                NationalFigure.measure == row["measure"], NationalFigure.pupil_group == row["group"],
                NationalFigure.subject == row["subject"])).first()
            if found is None:
                found = NationalFigure(key_stage=row["key_stage"], year=row["year"], measure=row["measure"],
                                       pupil_group=row["group"], subject=row["subject"], value=row["value"],
                                       unit=row["unit"], source=row["source"])
            else:
                found.value, found.unit, found.source = row["value"], row["unit"], row["source"]
            s.add(found)
        s.commit()
    return len(rows)
