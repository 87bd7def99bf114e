"""Helpers for key-stage plugins that ship their catalogue as a CSV data file."""

from __future__ import annotations

import csv
from importlib import resources


def read_rows(package: str, path: str) -> list[dict[str, str]]:
    """Rows of a CSV file shipped inside ``package`` (read with importlib.resources)."""
    text = resources.files(package).joinpath(path).read_text(encoding="utf-8")
    return list(csv.DictReader(text.splitlines()))


def split_list(text: str) -> list[str]:
    """``"9|8|U"`` -> ``["9", "8", "U"]``."""
    return [part for part in text.split("|") if part != ""]


def parse_points(text: str) -> dict[str, float]:
    """``"*=60;A=50"`` -> ``{"*": 60.0, "A": 50.0}``."""
    points: dict[str, float] = {}
    for pair in filter(None, text.split(";")):
        grade, _, value = pair.partition("=")
        points[grade] = float(value)
    return points


#: what schools type when a pupil has no grade: absent, pending, withdrawn, not entered.
#: Templates record grades only (a product decision, domain.md §8.2): these cells stay blank.
NO_RESULT_CODES = ("X", "ABS", "ABSENT", "Q", "PENDING", "W", "WITHDRAWN", "NA", "N/A", "-", "NONE", "NR")
NO_RESULT_ADVICE = ("leave the cell blank when there is no result (absent, pending, withdrawn or not "
                    "entered); the template records grades only.")


def no_result_advice() -> dict[str, str]:
    """``Choices(advice=...)`` entries for the no-result codes, shared by the key stages."""
    return {code: NO_RESULT_ADVICE for code in NO_RESULT_CODES}
