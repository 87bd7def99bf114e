"""Collected cohorts built from the real template catalogues, for tests, the benchmark and demos.

Results carry exactly what collection puts in a :class:`frs.results.Result`: the column's id,
title, catalogue meta, discount code and the catalogue's points for the grade.
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass
from typing import Any, Iterable, Iterator, Sequence

from ..results import CollectedPupil, Result, SchoolCohort


class Catalogue:
    """The template columns of the enabled key stages, found by id or by title."""

    def __init__(self, kernel, keystages: Sequence[str]):
        self.columns: dict[str, Any] = {}
        self.by_title: dict[tuple[str, str], Any] = {}
        self.keystage_of: dict[str, str] = {}
        for ks_id in keystages:
            ks = kernel.keystage(ks_id)
            for column in kernel.columns(ks):
                if column.kind == "pupil":
                    continue
                self.columns[column.id] = column
                self.keystage_of[column.id] = ks_id
                self.by_title.setdefault((ks_id, column.header), column)

    def column(self, keystage: str, title_or_id: str):
        found = self.columns.get(title_or_id) or self.by_title.get((keystage, title_or_id))
        if found is None:
            raise KeyError(f"no {keystage} column {title_or_id!r}")
        return found

    def result(self, keystage: str, title_or_id: str, grade: str, **extra: Any) -> Result:
        column = self.column(keystage, title_or_id)
        meta = column.meta or {}
        points = (meta.get("points") or {}).get(grade)
        cls = DatedResult if "result_date" in extra else Result
        return cls(keystage=keystage, column_id=column.id, subject=column.header, grade=grade,
                   points=None if points is None else float(points),
                   discount_code=meta.get("ks4_discount_code") or meta.get("discount_code"),
                   subject_code=meta.get("subject_code"),
                   qualification=meta.get("qn_formatted"), meta=meta, **extra)


@dataclass(frozen=True)
class DatedResult(Result):
    """A result with the date it was awarded (for the first-entry rule of exam years)."""

    result_date: dt.date | None = None


def pupil(upn: str, results: Iterable[Result] = (), *, gender: str = "Female", **characteristics: Any) -> CollectedPupil:
    return CollectedPupil(upn=upn, forename="Test", surname=f"Pupil {upn[-4:]}", gender=gender,
                          date_of_birth=None, nc_year=None, characteristics=characteristics,
                          results=tuple(results))


def cohort(pupils: Sequence[CollectedPupil], *, key_stage: int = 4, year: int = 2020, school_dfe: str = "1231234",
           round_id: str | None = None, keystages: Sequence[str] = ("ks4_gcse", "ks4_nongcse"),
           collection_id: int = 1, school_name: str = "Test School") -> SchoolCohort:
    return SchoolCohort(school_dfe=school_dfe, school_name=school_name,
                        round_id=round_id or f"ks{key_stage}-{year}", key_stage=key_stage, year=year,
                        collection_id=collection_id, keystages=tuple(keystages), upload_ids=(), pupils=tuple(pupils))


# --------------------------------------------------------------------------- random schools

KS4_CORE = ("English Language", "English Literature", "Mathematics")
KS4_OPTIONS = ("History", "Geography", "French", "Spanish", "Religious Studies", "Art and Design: Fine Art", "Drama",
               "Music", "Computer Science", "Physical Education", "Business", "Design and Technology", "Sociology",
               "Food Preparation and Nutrition", "Media Studies", "Psychology")
KS4_SINGLES = ("Biology", "Chemistry", "Physics")
COMBINED = ("99", "98", "88", "87", "77", "76", "66", "65", "55", "54", "44", "43", "33", "32", "22", "21", "11")
KS5_SUBJECTS = ("Mathematics", "Further Mathematics", "Biology", "Chemistry", "Physics", "Psychology", "History",
                "English Literature", "Sociology", "Geography", "Economics", "Business", "Art and Design: Fine Art")


def synthetic_upn(school: int, n: int) -> str:
    """A well-formed UPN (check letter computed) for pupil ``n`` of school ``school``."""
    from ..upn import check_letter

    body = f"{800 + school % 200:03d}{school % 10000:04d}{n % 100000:05d}"
    return check_letter("?" + body) + body


class SchoolMaker:
    """Random but deterministic schools: ``make(i)`` always gives the same cohort for the same i."""

    def __init__(self, kernel, *, key_stage: int = 4, year: int = 2020, pupils: int = 180, entries: int = 9,
                 seed: int = 7):
        self.key_stage, self.year, self.pupils, self.entries, self.seed = key_stage, year, pupils, entries, seed
        keystages = ("ks4_gcse", "ks4_nongcse") if key_stage == 4 else ("ks5_alevel",)
        self.keystages = keystages
        self.catalogue = Catalogue(kernel, keystages)
        if key_stage == 4:
            self.nongcse = [c.id for c in self.catalogue.columns.values()
                            if self.catalogue.keystage_of[c.id] == "ks4_nongcse"
                            and str((c.meta or {}).get("kind", "")).startswith(("Technical", "BTEC", "OCR", "NCFE"))
                            and (c.meta or {}).get("points")][:20] or \
                [c.id for c in self.catalogue.columns.values() if self.catalogue.keystage_of[c.id] == "ks4_nongcse"][:20]

    def make(self, index: int) -> SchoolCohort:
        rng = random.Random(self.seed * 1_000_003 + index)
        dfe = f"{800 + index % 200:03d}{1000 + index % 9000:04d}"
        pupils = []
        for n in range(self.pupils):
            ability = rng.gauss(0, 1.4)
            gender = rng.choice(("Female", "Male"))
            chars = {"disadvantaged": rng.random() < 0.25, "sen": rng.choice((None,) * 8 + ("K", "E")),
                     "eal": rng.random() < 0.15}
            results = self._ks4(rng, ability) if self.key_stage == 4 else self._ks5(rng, ability)
            pupils.append(pupil(synthetic_upn(index, n), results, gender=gender, **chars))
        return cohort(pupils, key_stage=self.key_stage, year=self.year, school_dfe=dfe,
                      keystages=self.keystages, school_name=f"Synthetic School {index}")

    def _grade(self, rng: random.Random, ability: float) -> str:
        value = round(4.6 + ability * 1.6 + rng.gauss(0, 1.0))
        return "U" if value < 1 else str(min(value, 9))

    def _ks4(self, rng: random.Random, ability: float) -> list[Result]:
        c = self.catalogue
        if rng.random() < 0.01:
            return []  # a pupil with no results is still in the cohort
        out = [c.result("ks4_gcse", s, self._grade(rng, ability)) for s in KS4_CORE]
        if rng.random() < 0.25:
            out += [c.result("ks4_gcse", s, self._grade(rng, ability)) for s in KS4_SINGLES]
        else:
            g = self._grade(rng, ability)
            pair = "U" if g == "U" else rng.choice([p for p in COMBINED if p[0] == g] or ["U"])
            out.append(c.result("ks4_gcse", "Combined Science", pair))
        options = rng.sample(KS4_OPTIONS, k=max(0, self.entries - len(out) - 1))
        out += [c.result("ks4_gcse", s, self._grade(rng, ability)) for s in options]
        if self.nongcse and len(out) < self.entries:
            column = c.columns[rng.choice(self.nongcse)]
            grades = list((column.meta or {}).get("points") or {})
            if grades:
                out.append(c.result("ks4_nongcse", column.id, rng.choice(grades)))
        return out

    def _ks5(self, rng: random.Random, ability: float) -> list[Result]:
        c = self.catalogue
        grades = ("U", "E", "D", "C", "B", "A", "*")
        out = []
        for subject in rng.sample(KS5_SUBJECTS, k=3):
            value = max(0, min(6, round(3.2 + ability * 1.2 + rng.gauss(0, 0.9))))
            out.append(c.result("ks5_alevel", subject, grades[value]))
        return out


def schools(kernel, count: int, **kwargs: Any) -> Iterator[SchoolCohort]:
    maker = SchoolMaker(kernel, **kwargs)
    for index in range(count):
        yield maker.make(index)
