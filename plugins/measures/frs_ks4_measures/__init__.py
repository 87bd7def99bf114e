"""KS4 performance measures as the DfE computes them (Attainment 8, English and maths, EBacc).

A measure plugin like any third party's: it implements ``register_measures`` and reads only the
collected results (:mod:`frs.results`) of the KS4 GCSE and non-GCSE templates together.

Per pupil, for the round's year:

1. **Which results count.** Only results with DfE points for their grade. Results are grouped by
   KS4 discount code across both templates (a GCSE and a non-GCSE sharing a code discount each
   other); one result per code counts. 2020 and 2021 (teacher-assessed years): the entry with more
   points. Other years: an AS level beats a GCSE, then the first entry (earliest
   ``result_date`` when a result carries one; the templates hold one result per subject, so
   usually none does), then more points.
2. **Attainment 8** (ten slots, 90 at most with GCSEs): English = the better of English language
   and literature, double-weighted only when both were taken (U counts as taken), the other one
   goes to the open pool; maths double-weighted; three EBacc slots from the DfE EBacc list
   (sciences incl. computer science, geography, history incl. ancient history, languages;
   Combined Science is two awards at the mean of its pair); three open slots from everything
   left, where qualifications not on the EBacc lists (technical awards ...) can only go. The
   English and maths elements include their double weighting, so the four elements add up.
3. **English and maths 9-4 / 9-5**: maths and English language *or* literature at 4 (5) or above.
4. **EBacc entry**: both English GCSEs, maths, science (Combined Science or three of biology,
   chemistry, physics, computer science), geography or history, a language.
5. **EBacc achieved** 9-4 / 9-5 (still published): entered, and each pillar at the grade
   (Combined Science 4-4 / 5-5 or two single sciences at it).
6. **EBacc APS**: (English if both taken + maths + best two science scores (Combined Science's
   mean counts twice; single sciences only when three are taken) + humanity + language) / 6.
7. **Progress 8**: only with a loaded estimates table for the year and KS2 prior attainment
   (``characteristics["ks2"]["fine_level"]``); the DfE published none for 2020 and 2021.

Facts and sources: the DfE EBacc list (``data/ebacc_quals.csv``, built by
``scripts/build_ebacc_list.py``) and the stand-in 2019 estimates (``data/p8_estimates.csv``).
"""

from __future__ import annotations

import csv
import datetime as dt
import math
from collections import Counter, defaultdict
from functools import lru_cache, reduce
from importlib import resources
from operator import add
from typing import Any, Mapping, Sequence

from frs import hookimpl
from frs.measures import COUNT, MEAN, PERCENT, Indicator, Measure, MeasureContext, PupilScore

PLUGIN = "ks4_measures"
KEYSTAGES = ("ks4_gcse", "ks4_nongcse")
#: years whose results were teacher assessed: the entry with more points counts
BEST_ENTRY_YEARS = (2020, 2021)
NO_P8_YEARS = {2020: "The DfE published no Progress 8 for 2020: summer exams were cancelled.",
               2021: "The DfE published no Progress 8 for 2021: summer exams were cancelled."}
SINGLE_SCIENCES = ("biology", "chemistry", "physics", "computer_science")
FAR_FUTURE = dt.date(9999, 12, 31)


# --------------------------------------------------------------------------- data


def _data(name: str) -> list[dict[str, str]]:
    text = resources.files(__name__).joinpath("data", name).read_text(encoding="utf-8")
    return list(csv.DictReader(text.splitlines()))


@lru_cache(maxsize=None)
def ebacc_list() -> dict[str, list[tuple[str, str, frozenset[int]]]]:
    """QN (8 characters) -> [(pillar, subject, years it counts)]."""
    out: dict[str, list[tuple[str, str, frozenset[int]]]] = defaultdict(list)
    for row in _data("ebacc_quals.csv"):
        years = frozenset(int(y) for y in row["years"].split("|") if y)
        out[row["qn"]].append((row["pillar"], row["subject"], years))
    return dict(out)


@lru_cache(maxsize=None)
def list_year(year: int) -> int:
    """The EBacc list year to use: the round's year, or the nearest year the list covers."""
    years = {y for entries in ebacc_list().values() for _, _, ys in entries for y in ys}
    return min(max(year, min(years)), max(years))


@lru_cache(maxsize=None)
def p8_estimates() -> dict[int, dict[str, dict[str, Any]]]:
    """year -> prior-attainment group label -> row (A8 estimate and its source)."""
    out: dict[int, dict[str, dict[str, Any]]] = defaultdict(dict)
    for row in _data("p8_estimates.csv"):
        out[int(row["year"])][f"{float(row['group']):.1f}"] = {
            "attainment8": float(row["attainment8"]), "source": row["source"]}
    return dict(out)


def prior_group(fine_level: float) -> str | None:
    """The 2019 KS2 prior-attainment group of a fine level (1.5, 2.0, 2.5, 2.8, 2.9, 3.0 ... 5.8)."""
    if fine_level < 2.0:
        return "1.5"
    if fine_level < 2.5:
        return "2.0"
    if fine_level < 2.8:
        return "2.5"
    return f"{min(math.floor(fine_level * 10 + 1e-9) / 10, 5.8):.1f}"


# --------------------------------------------------------------------------- one result


class Info:
    """What the rules need to know about a template column (cached per column and year)."""

    __slots__ = ("pillar", "subject", "gcse", "double", "as_level", "code", "points")

    def __init__(self, pillar: str | None, subject: str, gcse: bool, double: bool, as_level: bool,
                 code: str | None, points: Mapping[str, float]):
        self.pillar, self.subject, self.gcse, self.double = pillar, subject, gcse, double
        self.as_level, self.code, self.points = as_level, code, points


_INFO: dict[tuple[str, str, int], Info] = {}


def info_of(result, year: int) -> Info:
    key = (result.keystage, result.column_id, year)
    found = _INFO.get(key)
    if found is not None:
        return found
    meta = result.meta or {}
    qns = [q.get("qn", "").replace("/", "") for q in meta.get("qualifications", ())]
    if meta.get("qn"):
        qns.append(str(meta["qn"]).replace("/", ""))
    if result.qualification:
        qns.append(result.qualification.replace("/", ""))
    pillar, subject = None, ""
    counting = list_year(year)
    for qn in qns:
        for p, s, years in ebacc_list().get(qn, ()):
            if counting in years:
                pillar, subject = p, s
                break
        if pillar:
            break
    found = Info(pillar=pillar, subject=subject, gcse=result.keystage == "ks4_gcse",
                 double=bool(meta.get("double_award")),
                 as_level=str(meta.get("kind", "")).startswith("AS level"),
                 code=result.discount_code or meta.get("ks4_discount_code"),
                 points=meta.get("points") or {})
    _INFO[key] = found
    return found


def scored(results, year: int) -> list[tuple[Any, Info, float]]:
    """The pupil's KS4 results that have DfE points, with their column's :class:`Info` and points."""
    out = []
    for result in results:
        if result.keystage not in KEYSTAGES:
            continue
        # the cache hit inline: this runs for every result of every pupil
        info = _INFO.get((result.keystage, result.column_id, year)) or info_of(result, year)
        if result.points is not None:
            out.append((result, info, float(result.points)))
            continue
        points = info.points.get(result.grade)
        if points is not None:  # else not on the year's list, or a grade without DfE points
            out.append((result, info, float(points)))
    return out


class Entry:
    """A result that counts after discounting."""

    __slots__ = ("result", "info", "points")

    def __init__(self, result, info: Info, points: float):
        self.result, self.info, self.points = result, info, points


def counted_entries(results, year: int) -> list[Entry]:
    """One result per KS4 discount code, by the year's rule (module docstring, step 1)."""
    best_entry = year in BEST_ENTRY_YEARS
    by_code: dict[str, list[Entry]] = {}
    for result, info, points in scored(results, year):
        code = info.code or f"column:{result.column_id}"
        group = by_code.get(code)
        if group is None:
            by_code[code] = [Entry(result, info, points)]
        else:
            group.append(Entry(result, info, points))
    counted = []
    for code in sorted(by_code):
        group = by_code[code]
        if len(group) == 1:
            counted.append(group[0])
        elif best_entry:
            counted.append(max(group, key=lambda e: (e.points, e.result.column_id)))
        else:
            counted.append(min(group, key=lambda e: (not e.info.as_level,
                                                     getattr(e.result, "result_date", None) or FAR_FUTURE,
                                                     -e.points, e.result.column_id)))
    return counted


# --------------------------------------------------------------------------- one pupil


#: a pupil's slot as stored: [element, subject, grade, points in the slot] (compact: 180 pupils x
#: 3,500 schools of them are stored)
SLOT_FIELDS = ("element", "subject", "grade", "points")


def _slot(entry: Entry, element: str, points: float) -> list[Any]:
    return [element, entry.result.subject, entry.result.grade, points]


def _rank(e: Entry) -> tuple[float, str]:
    return -e.points, e.result.column_id


def _best(entries: list[Entry]) -> list[Entry]:
    return sorted(entries, key=_rank) if len(entries) > 1 else list(entries)


def _candidate_rank(candidate: tuple[float, str, Entry]) -> tuple[float, str]:
    return -candidate[0], candidate[1]


def _passes(best_english: float | None, best_maths: float | None, threshold: float) -> bool:
    """Maths and either English at the grade (points) or above."""
    return best_english is not None and best_maths is not None and best_english >= threshold \
        and best_maths >= threshold


def _achieves(threshold: float, combined: list[Entry], singles: dict[str, float], humanities: list[Entry],
              languages: list[Entry]) -> bool:
    """The EBacc pillars other than English and maths at the grade (EBacc achieved, still published,
    not a headline); science: Combined Science at 4-4 (5-5) or two single sciences at it."""
    science = any(e.points >= threshold for e in combined) or \
        sum(1 for p in singles.values() if p >= threshold) >= 2
    return science and any(e.points >= threshold for e in humanities) \
        and any(e.points >= threshold for e in languages)


def pupil_measures(results, year: int) -> dict[str, Any]:
    """Attainment 8 with its slots, thresholds and EBacc for one pupil's results."""
    entries = counted_entries(results, year)
    by_pillar: dict[str, list[Entry]] = defaultdict(list)
    for e in entries:
        by_pillar[e.info.pillar or "other"].append(e)
    lang, lit, maths = by_pillar["english_language"], by_pillar["english_literature"], by_pillar["maths"]
    both_english = bool(lang) and bool(lit)
    slots: list[list[Any]] = []
    pool: list[tuple[float, str, Entry]] = []  # candidates for the open slots: (points, column, entry)

    english = _best(lang + lit)
    english_points = 0.0
    if english:
        english_points = english[0].points * (2 if both_english else 1)
        slots.append(_slot(english[0], "english", english_points))
        for other in english[1:]:
            pool.append((other.points, other.result.column_id, other))
    maths_ranked = _best(maths)
    maths_points = 0.0
    if maths_ranked:
        maths_points = maths_ranked[0].points * 2
        slots.append(_slot(maths_ranked[0], "maths", maths_points))
        for other in maths_ranked[1:]:
            pool.append((other.points, other.result.column_id, other))
    # EBacc units: Combined Science is two awards, each at the mean of its pair
    units = []
    for pillar in ("science", "humanities", "language"):
        for e in by_pillar[pillar]:
            unit = (e.points, e.result.column_id, e)
            units.append(unit)
            if e.info.double:
                units.append(unit)
    units.sort(key=_candidate_rank)
    ebacc_points = 0.0
    for points, _, e in units[:3]:
        ebacc_points += points
        slots.append(_slot(e, "ebacc", points))
    pool += units[3:]
    for e in by_pillar["other"]:
        candidate = (e.points, e.result.column_id, e)
        pool.append(candidate)
        if e.info.double:
            pool.append(candidate)
    pool.sort(key=_candidate_rank)
    open_points = open_gcse = open_nongcse = 0.0
    for points, _, e in pool[:3]:
        open_points += points
        if e.info.gcse:
            open_gcse += points
        else:
            open_nongcse += points
        slots.append(_slot(e, "open", points))
    best_english = english[0].points if english else None
    best_maths = maths_ranked[0].points if maths_ranked else None
    sciences = by_pillar["science"]
    combined = [e for e in sciences if e.info.subject == "combined"]
    singles: dict[str, float] = {}
    for e in sciences:
        if e.info.subject in SINGLE_SCIENCES:
            singles[e.info.subject] = max(singles.get(e.info.subject, 0.0), e.points)
    science_entered = bool(combined) or len(singles) >= 3
    humanities, languages = by_pillar["humanities"], by_pillar["language"]
    ebacc_entered = both_english and bool(maths) and science_entered and bool(humanities) and bool(languages)
    science_scores: list[float] = []
    for e in combined:
        science_scores += [e.points, e.points]
    if len(singles) >= 3:
        science_scores += list(singles.values())
    science_scores.sort(reverse=True)
    pillars = [
        english[0].points if both_english else 0.0,
        best_maths or 0.0,
        *(science_scores[:2] + [0.0, 0.0])[:2],
        max([e.points for e in humanities]) if humanities else 0.0,
        max([e.points for e in languages]) if languages else 0.0,
    ]
    attainment8 = english_points + maths_points + ebacc_points + open_points
    passes_4, passes_5 = _passes(best_english, best_maths, 4), _passes(best_english, best_maths, 5)
    # what a pupil list shows next to the slots
    flags = []
    if not entries:
        flags.append("no results")
    if not english:
        flags.append("no English")
    if not maths_ranked:
        flags.append("no maths")
    if english and not both_english:
        flags.append("English single-weighted")
    if len(units) < 3:
        flags.append("EBacc slots not filled")
    if len(pool) < 3:
        flags.append("open slots not filled")
    if not ebacc_entered:
        flags.append("EBacc not entered")
    return {
        "attainment8": attainment8,
        "attainment8_elements": {"english": english_points, "maths": maths_points, "ebacc": ebacc_points,
                                 "open": open_points},
        "open_gcse": open_gcse, "open_nongcse": open_nongcse,
        "english_double_weighted": both_english,
        "ebacc_slots_filled": min(len(units), 3), "open_slots_filled": min(len(pool), 3),
        "english_maths_4": passes_4, "english_maths_5": passes_5,
        "entered_english_maths": bool(english) and bool(maths),
        "ebacc_entered": ebacc_entered,
        "ebacc_achieved_4": ebacc_entered and passes_4 and _achieves(4, combined, singles, humanities, languages),
        "ebacc_achieved_5": ebacc_entered and passes_5 and _achieves(5, combined, singles, humanities, languages),
        "ebacc_aps": sum(pillars) / 6,
        "slots": slots,
        "flags": flags,
    }


# --------------------------------------------------------------------------- the measures


@lru_cache(maxsize=None)
def awards_at(grade: str) -> tuple[int, int, int, int]:
    """(awards at 7+, at 5+, at 4+, awards) of a GCSE grade; Combined Science ("65") is two awards."""
    digits = [int(c) for c in grade if c.isdigit()]
    if not digits:
        return 0, 0, 0, 1
    return (sum(d >= 7 for d in digits), sum(d >= 5 for d in digits), sum(d >= 4 for d in digits), len(digits))


class Attainment8(Measure):
    id = f"{PLUGIN}.attainment8"
    key_stage = 4
    title = "Attainment 8, English and maths, EBacc"
    version = "2"  # 2: EBacc achieved
    indicators = (
        Indicator("pupils", "Pupils at the end of KS4", COUNT, decimals=0, headline=True),
        Indicator("attainment8", "Attainment 8", MEAN, "attainment8", decimals=1, headline=True),
        Indicator("english_maths_5", "English and maths grade 5 or above (%)", PERCENT, "english_maths_5",
                  headline=True),
        Indicator("english_maths_4", "English and maths grade 4 or above (%)", PERCENT, "english_maths_4",
                  headline=True),
        Indicator("ebacc_entry", "Entering the EBacc (%)", PERCENT, "ebacc_entered", headline=True),
        Indicator("ebacc_aps", "EBacc average point score", MEAN, "ebacc_aps", decimals=2, headline=True),
        Indicator("attainment8_english", "A8 English element", MEAN, "attainment8_elements.english"),
        Indicator("attainment8_maths", "A8 maths element", MEAN, "attainment8_elements.maths"),
        Indicator("attainment8_ebacc", "A8 EBacc element", MEAN, "attainment8_elements.ebacc"),
        Indicator("attainment8_open", "A8 open element", MEAN, "attainment8_elements.open"),
        Indicator("attainment8_open_gcse", "A8 open element: GCSEs", MEAN, "open_gcse"),
        Indicator("attainment8_open_nongcse", "A8 open element: other qualifications", MEAN, "open_nongcse"),
        Indicator("ebacc_slots_filled", "EBacc slots filled (mean)", MEAN, "ebacc_slots_filled", decimals=2),
        Indicator("open_slots_filled", "Open slots filled (mean)", MEAN, "open_slots_filled", decimals=2),
        Indicator("entered_english_maths", "Entering English and maths (%)", PERCENT, "entered_english_maths"),
        Indicator("ebacc_achieved_4", "Achieving the EBacc at grade 4 (%)", PERCENT, "ebacc_achieved_4"),
        Indicator("ebacc_achieved_5", "Achieving the EBacc at grade 5 (%)", PERCENT, "ebacc_achieved_5"),
    )

    def pupil(self, pupil, context: MeasureContext) -> Mapping[str, Any]:
        return pupil_measures(pupil.results, context.year)

    def tables(self, scores: Sequence[PupilScore], context: MeasureContext) -> Mapping[str, Any]:
        return {"subjects": subjects_table(scores, context.year)}


def subjects_table(scores: Sequence[PupilScore], year: int) -> list[dict[str, Any]]:
    """Per subject: entries, grade distribution, % at 9-7 / 9-5 / 9-4 (GCSE awards), mean points and
    the subject residual (mean points in the subject minus the same pupils' mean over all their
    subjects, SISRA's definition). All entries count, discounted or not."""
    columns: dict[str, tuple[dict[str, Any], list[str], list[float], list[float]]] = {}
    for score in scores:
        own = scored(score.pupil.results, year)
        if not own:
            continue
        pupil_mean = sum([p for _, _, p in own]) / len(own)
        for r, info, points in own:
            column = columns.get(r.column_id)
            if column is None:
                row = {"subject": r.subject, "column_id": r.column_id, "gcse": info.gcse}
                column = columns[r.column_id] = (row, [], [], [])
            _, grades, entry_points, residuals = column
            grades.append(r.grade)
            entry_points.append(points)
            residuals.append(points - pupil_mean)
    out = []
    for row, grades, entry_points, residuals in sorted(columns.values(), key=lambda c: (
            not c[0]["gcse"], c[0]["subject"], c[0]["column_id"])):
        n = row["entries"] = len(grades)
        row["grade_counts"] = dict(Counter(grades))  # grades in the order first met
        # added one at a time in pupil order, as a running total would
        row["average_points"] = reduce(add, entry_points, 0.0) / n
        row["residual"] = reduce(add, residuals, 0.0) / n
        at7 = at5 = at4 = awards = 0
        if row["gcse"]:
            at7, at5, at4, awards = (sum(counts) for counts in zip(*map(awards_at, grades)))
        for at, key in ((at7, "grade_7_or_above"), (at5, "grade_5_or_above"), (at4, "grade_4_or_above")):
            row[key] = 100.0 * at / awards if awards else None
        out.append(row)
    return out


class Progress8(Measure):
    """Progress 8 where the year has an estimates table and pupils have KS2 prior attainment."""

    id = f"{PLUGIN}.progress8"
    key_stage = 4
    title = "Progress 8"
    version = "1"
    indicators = ()

    def pupil(self, pupil, context: MeasureContext) -> Mapping[str, Any]:
        if context.year in NO_P8_YEARS:
            return {"progress8": None}
        table = p8_estimates().get(context.year)
        ks2 = (pupil.characteristics or {}).get("ks2") or {}
        level = ks2.get("fine_level") if isinstance(ks2, Mapping) else None
        if table is None or level is None:
            return {"progress8": None}
        try:
            group = prior_group(float(level))
        except (TypeError, ValueError):
            return {"progress8": None}
        estimate = table.get(group)
        if estimate is None:
            return {"progress8": None, "prior_attainment_group": group}
        a8 = pupil_measures(pupil.results, context.year)["attainment8"]
        return {"progress8": (a8 - estimate["attainment8"]) / 10, "prior_attainment_group": group}

    def tables(self, scores: Sequence[PupilScore], context: MeasureContext) -> Mapping[str, Any]:
        table = p8_estimates().get(context.year)
        if context.year in NO_P8_YEARS:
            return {"progress8": {"calculated": False, "reason": NO_P8_YEARS[context.year]}}
        if table is None:
            return {"progress8": {"calculated": False,
                                  "reason": f"No Progress 8 estimates table is held for {context.year}."}}
        with_p8 = [s.values["progress8"] for s in scores if s.values.get("progress8") is not None]
        if not with_p8:
            return {"progress8": {"calculated": False,
                                  "reason": "No pupil has KS2 prior attainment from the school's pupil source."}}
        source = next(iter(table.values()))["source"]
        return {"progress8": {"calculated": True, "value": sum(with_p8) / len(with_p8), "pupils": len(with_p8),
                              "pupils_without_ks2": len(scores) - len(with_p8),
                              "estimate": True, "source": source}}


@hookimpl
def register_measures(registry, key_stage):
    if key_stage == 4:
        registry.add(Attainment8())
        registry.add(Progress8())
