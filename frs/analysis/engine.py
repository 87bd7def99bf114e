"""The measures engine: runs a key stage's measures over one school's collected cohort.

Pure functions over :class:`frs.results.SchoolCohort`: no database, no files. Storage
(:mod:`frs.analysis.service`) and the PDF (:mod:`frs.analysis.pdf`) are thin layers on top.

- :func:`analyse_cohort` gives the school's result: ``measures`` (plain numbers), ``pupils`` (one
  row per pupil of the cohort, a pupil without results included), the measures' extra sections
  (``subjects``, ``progress8`` ...) and ``groups`` (pupil groups, under 6 pupils suppressed).
- :func:`what_if` recomputes all of it with chosen pupils left out.
- :class:`NationalAccumulator` gathers, school by school, what comparing with all schools needs,
  and :func:`compare` adds the comparisons to a school's result.
- :func:`canonical_json` writes a result byte-for-byte the same for the same collection.
"""

from __future__ import annotations

import bisect
import json
import math
from dataclasses import replace
from functools import reduce
from itertools import repeat
from operator import add, itemgetter, mul
from typing import Any, Callable, Iterable, Mapping, Sequence

from ..measures import (COUNT, PERCENT, RATIO, Indicator, Measure, MeasureContext, MeasureSet, PupilScore,
                        _column, _summary, pupil_value)
from ..results import SchoolCohort

#: groups smaller than this are shown with their count only
SUPPRESS_BELOW = 6
Z95 = 1.959963984540054
FLOAT_DECIMALS = 6

GROUP_LABELS = {
    ("gender", "Female"): "Girls", ("gender", "Male"): "Boys",
    ("disadvantaged", "True"): "Disadvantaged", ("disadvantaged", "False"): "Not disadvantaged",
    ("sen", "E"): "SEN with EHC plan", ("sen", "K"): "SEN support", ("sen", "None"): "No SEN",
    ("eal", "True"): "EAL", ("eal", "False"): "Not EAL",
}
PUPIL_FIELDS = ("upn", "forename", "surname", "gender")


# --------------------------------------------------------------------------- one school


def context_of(cohort: SchoolCohort) -> MeasureContext:
    return MeasureContext(school_dfe=cohort.school_dfe, round_id=cohort.round_id, key_stage=cohort.key_stage,
                          year=cohort.year, collection_id=cohort.collection_id, cohort=cohort)


def score(cohort: SchoolCohort, measures: MeasureSet) -> list[PupilScore]:
    """Every measure's pupil values for every pupil, in UPN order."""
    context = context_of(cohort)
    scores = []
    for pupil in sorted(cohort.pupils, key=lambda p: p.upn):
        values: dict[str, Any] = {}
        for measure in measures.measures:
            values.update(measure.pupil(pupil, context))
        scores.append(PupilScore(pupil, values))
    return scores


def pupil_groups(pupil) -> dict[str, str]:
    """The pupil's known groups: {"gender": "Female", "disadvantaged": "True", "sen": "K" ...}."""
    groups = {"gender": pupil.gender} if pupil.gender else {}
    chars = pupil.characteristics or {}
    for group in ("disadvantaged", "sen", "eal"):
        if group in chars:
            value = chars[group]
            if group == "sen":
                groups[group] = "None" if value in (None, "", "N") else str(value)
            elif value is not None:
                groups[group] = str(bool(value))
    return groups


def group_of(pupil, group: str) -> str | None:
    """The pupil's value for a group ("Female", "True", "E" ...), or None when not known."""
    return pupil_groups(pupil).get(group)


def _available(groups: Sequence[dict[str, str]]) -> list[str]:
    return ["gender"] + [g for g in ("disadvantaged", "sen", "eal") if any(g in known for known in groups)]


def groups_available(scores: Sequence[PupilScore]) -> list[str]:
    """Gender always; disadvantaged, SEN and EAL when the pupil source gave them for some pupil."""
    return _available([pupil_groups(s.pupil) for s in scores])


def summarise_all(measures: MeasureSet, scores: Sequence[PupilScore], context: MeasureContext,
                  pupil_vectors: Vectors | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    held = pupil_vectors.by_key if pupil_vectors is not None else {}
    for measure in measures.measures:
        if type(measure).school is Measure.school and all(i.kind == COUNT or i.key in held for i in measure.indicators):
            # Measure.school's figures (frs.measures.summarise), from the numbers the vectors hold
            out.update({i.key: len(scores) if i.kind == COUNT else _summary(i, *held[i.key], len(scores))
                        for i in measure.indicators})
        else:
            out.update(measure.school(scores, context))
    return out


class Vectors:
    """What a school's pupil rows, pupil groups and all-schools figures need, worked out once: per
    indicator, every pupil's value and weight (``columns``), each pupil's groups (``groups``), and
    which pupils are in which group (``members``)."""

    __slots__ = ("columns", "by_key", "exact", "groups", "available", "members")

    def __init__(self, indicators: Sequence[Indicator], columns: list[tuple[list[float], list[float] | None] | None],
                 groups: list[dict[str, str]], available: list[str], members: dict[tuple[str, str], list[int]]):
        #: per indicator (values, weights), :func:`frs.measures._column`: weights None means 1 for
        #: every pupil; a pupil with a weight of 0 does not count in a ratio; None for a count
        self.columns = columns
        self.by_key = {i.key: column for i, column in zip(indicators, columns) if column is not None}
        #: per indicator, whether its numbers add up exactly (:func:`_adds_up_exactly`)
        self.exact = [column is not None and _adds_up_exactly(column[0])
                      and (column[1] is None or _adds_up_exactly(column[1])) for column in columns]
        #: per pupil, :func:`pupil_groups`
        self.groups = groups
        #: :func:`groups_available`
        self.available = available
        #: (group, value) -> indices of its pupils, in pupil order; keys in the order first met
        #: going through the pupils (pupil by pupil, group by group)
        self.members = members


#: Pupil numbers that add up exactly: multiples of 1/16 up to 4096 (points, grades, counts, 0 or
#: 1 ...). Up to 65,536 of them, their squares or their products (multiples of 1/256 below 2**24),
#: added to running totals on the 1/256 grid below 2**43, stay below 2**44: every partial sum fits
#: a float's 53 bits, so any order of adding gives the same float, pupil by pupil or ``sum()``
#: (which compensates from Python 3.12).
EXACT_STEP, EXACT_MAX, EXACT_PUPILS, EXACT_SUM = 16.0, 4096.0, 65_536, 2.0 ** 43


def _adds_up_exactly(values: Sequence[float]) -> bool:
    distinct = set(values)  # a column holds few distinct numbers (points, 0 and 1 ...)
    return len(values) <= EXACT_PUPILS and all(map(float.is_integer, map(mul, distinct, repeat(EXACT_STEP)))) \
        and (not distinct or -EXACT_MAX <= min(distinct) and max(distinct) <= EXACT_MAX)


def _exact_sums(stat: _Stat) -> bool:
    """The stat's sums are on the grid and in the range where adding exact numbers stays exact."""
    grid = EXACT_STEP * EXACT_STEP
    return all((total * grid).is_integer() and abs(total) < EXACT_SUM
               for total in (stat.s1, stat.s2, stat.x1, stat.x2, stat.xy))


def _total(numbers: Iterable[float], start: float, exact: bool) -> float:
    """``start`` plus the numbers added one at a time (``reduce``); ``sum()`` gives the same float
    where they add up exactly (see :data:`EXACT_STEP`), however it adds."""
    return start + sum(numbers) if exact else reduce(add, numbers, start)


def vectors(indicators: Sequence[Indicator], scores: Sequence[PupilScore]) -> Vectors:
    """The pupils' numbers for each indicator, and their groups (see :class:`Vectors`)."""
    values = [s.values for s in scores]
    columns = [None if i.kind == COUNT else _column(i, values) for i in indicators]
    groups = [pupil_groups(s.pupil) for s in scores]
    available = _available(groups)
    members: dict[tuple[str, str], list[int]] = {}
    for index, known in enumerate(groups):
        for group in available:
            value = known.get(group)
            if value is not None:
                members.setdefault((group, value), []).append(index)
    return Vectors(indicators, columns, groups, available, members)


def _picker(rows: Sequence[int]) -> Callable[[Sequence[float]], tuple[float, ...]]:
    """A function giving the items at these indices of a column, in order, as a tuple (at C speed:
    the groups' figures and sums pick their pupils from every column)."""
    if len(rows) == 1:
        only = rows[0]
        return lambda column: (column[only],)
    return itemgetter(*rows) if rows else (lambda column: ())


def _counted(values: Sequence[float], weights: Sequence[float]) -> tuple[Sequence[float], Sequence[float]]:
    """A ratio's values and weights without the pupils of weight 0, who do not count in it."""
    if all(weights):
        return values, weights
    keep = _picker([k for k, x in enumerate(weights) if x])
    return keep(values), keep(weights)


def _figure(i: Indicator, column: tuple[list[float], list[float] | None], pick, n: int) -> float | None:
    """An indicator over ``n`` pupils (``pick`` picks them from a column); a ratio leaves out the
    pupils of weight 0."""
    values, weights = column
    if i.kind == RATIO:
        return _summary(i, *_counted(pick(values), pick(weights)), n)
    return _summary(i, pick(values), None, n)


def group_rows(measures: MeasureSet, scores: Sequence[PupilScore],
               pupil_vectors: Vectors | None = None) -> list[dict[str, Any]]:
    rows = []
    indicators = [i for i in measures.indicators if i.kind != COUNT]
    if pupil_vectors is None:
        pupil_vectors = vectors(indicators, scores)
    columns, members = pupil_vectors.columns, pupil_vectors.members
    for group in pupil_vectors.available:
        for value in sorted(v for g, v in members if g == group):
            subset = members[(group, value)]
            suppressed = len(subset) < SUPPRESS_BELOW
            pick = _picker(subset)
            rows.append({
                "group": group, "value": value, "label": GROUP_LABELS.get((group, value), f"{group} {value}"),
                "pupils": len(subset), "suppressed": suppressed,
                "measures": None if suppressed else {i.key: _figure(i, columns[c], pick, len(subset))
                                                     for c, i in enumerate(indicators)},
            })
    return rows


def pupil_row(score_: PupilScore, groups: dict[str, str] | None = None) -> dict[str, Any]:
    pupil = score_.pupil
    return {"upn": pupil.upn, "forename": pupil.forename, "surname": pupil.surname, "gender": pupil.gender,
            "groups": pupil_groups(pupil) if groups is None else groups, **score_.values}


def result_from_scores(cohort: SchoolCohort, measures: MeasureSet, scores: Sequence[PupilScore], *,
                       excluded: Sequence[str] = (), pupil_vectors: Vectors | None = None) -> dict[str, Any]:
    context = context_of(cohort)
    if pupil_vectors is None:
        pupil_vectors = vectors([i for i in measures.indicators if i.kind != COUNT], scores)
    result: dict[str, Any] = {
        "school": {"dfe": cohort.school_dfe, "name": cohort.school_name},
        "round": {"id": cohort.round_id, "key_stage": cohort.key_stage, "year": cohort.year},
        "collection_id": cohort.collection_id,
        "keystages": list(cohort.keystages),
        "upload_ids": list(cohort.upload_ids),
        "rules_version": measures.version,
        "measures": summarise_all(measures, scores, context, pupil_vectors),
        "pupils": [pupil_row(s, groups) for s, groups in zip(scores, pupil_vectors.groups)],
        "groups": group_rows(measures, scores, pupil_vectors),
        "indicators": [indicator_info(i) for i in measures.indicators],
    }
    if excluded:
        result["excluded"] = sorted(excluded)
    for measure in measures.measures:
        for key, value in measure.tables(scores, context).items():
            if key in result:
                raise ValueError(f"measure {measure.id!r} returned a section {key!r} that is already in the report")
            result[key] = value
    return result


def indicator_info(i: Indicator) -> dict[str, Any]:
    return {"key": i.key, "title": i.title, "kind": i.kind, "decimals": i.decimals, "headline": i.headline,
            "pupil_key": i.pupil_key, "denominator": i.denominator, "scale": i.scale}


def indicator_of(row: Mapping[str, Any]) -> Indicator:
    return Indicator(row["key"], row["title"], row["kind"], pupil_key=row.get("pupil_key"),
                     denominator=row.get("denominator"), decimals=row.get("decimals", 1),
                     headline=row.get("headline", False), scale=row.get("scale", 1.0))


def analyse_cohort(cohort: SchoolCohort, measures: MeasureSet) -> dict[str, Any]:
    """The school's result (see the module docstring)."""
    return result_from_scores(cohort, measures, score(cohort, measures))


def what_if(cohort: SchoolCohort, measures: MeasureSet, exclude: Iterable[str],
            national: Mapping[str, Any] | None = None, published: Mapping | None = None) -> dict[str, Any]:
    """The school's result recomputed with the pupils whose UPNs are in ``exclude`` left out (and
    compared with all schools when ``national`` is given). Unknown UPNs are ignored."""
    leave_out = set(exclude)
    kept = tuple(p for p in cohort.pupils if p.upn not in leave_out)
    left_out = sorted(p.upn for p in cohort.pupils if p.upn in leave_out)
    result = result_from_scores(replace(cohort, pupils=kept), measures, score(replace(cohort, pupils=kept), measures),
                                excluded=left_out or ["(none)"])
    if national is not None:
        result["comparisons"] = compare(result, national, published or {})
    return result


def what_if_stored(result: Mapping[str, Any], measures: MeasureSet, exclude: Iterable[str],
                   national: Mapping[str, Any] | None = None, published: Mapping | None = None) -> dict[str, Any]:
    """What if, from a stored result's pupil values alone (no collected results needed): school
    figures and pupil groups are recomputed; sections that need the results (subjects) are left
    out, and ``recomputed_from`` says so."""
    from ..results import CollectedPupil

    leave_out = set(exclude)
    scores = []
    for row in result["pupils"]:
        if row["upn"] in leave_out:
            continue
        groups = row.get("groups") or {}
        chars: dict[str, Any] = {}
        for name in ("disadvantaged", "eal"):
            if name in groups:
                chars[name] = groups[name] == "True"
        if "sen" in groups:
            chars["sen"] = None if groups["sen"] == "None" else groups["sen"]
        pupil = CollectedPupil(upn=row["upn"], forename=row.get("forename", ""), surname=row.get("surname", ""),
                               gender=row.get("gender", ""), date_of_birth=None, nc_year=None, characteristics=chars)
        scores.append(PupilScore(pupil, row))
    context = MeasureContext(school_dfe=result["school"]["dfe"], round_id=result["round"]["id"],
                             key_stage=result["round"]["key_stage"], year=result["round"]["year"],
                             collection_id=result.get("collection_id"))
    out = {key: value for key, value in result.items() if key in ("school", "round", "collection_id", "keystages",
                                                                   "rules_version", "indicators")}
    out["measures"] = summarise_all(measures, scores, context)
    out["pupils"] = [dict(s.values) for s in scores]
    out["groups"] = group_rows(measures, scores)
    out["excluded"] = sorted(u for u in (p["upn"] for p in result["pupils"]) if u in leave_out) or ["(none)"]
    out["recomputed_from"] = "stored pupil values"
    if national is not None:
        out["comparisons"] = compare(out, national, published or {})
    return canonical(out)


# --------------------------------------------------------------------------- canonical JSON


#: values stored as they are (checked inline in the walks below: a result holds ~14,000 values)
_PLAIN = frozenset((str, bool, int, type(None)))


def _float(value: float) -> float | None:
    """A float as stored: rounded to 6 decimals, -0.0 as 0.0, NaN and infinities as None; the same
    object when that changes nothing."""
    if value.is_integer():  # round() is slow, and leaves a whole number as it is
        return value if value or math.copysign(1.0, value) > 0 else 0.0
    if (value * 64.0).is_integer():  # so are multiples of 1/64 (5.5, 7.25 ...): 6 decimals at most
        return value
    if value != value or value in (math.inf, -math.inf):
        return None
    rounded = round(value, FLOAT_DECIMALS)
    return value if rounded == value else 0.0 if rounded == 0 else rounded


def _normalise(value: Any) -> Any:
    """A copy of the value as it is stored."""
    kind = type(value)
    if kind is dict:
        return {k if type(k) is str else str(k): v if type(v) in _PLAIN else _normalise(v) for k, v in value.items()}
    if kind is float:
        return _float(value)
    if kind is list or kind is tuple:
        return [v if type(v) in _PLAIN else _normalise(v) for v in value]
    if kind in _PLAIN:
        return value
    if isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return _float(float(value))
    if isinstance(value, Mapping):
        return {str(k): _normalise(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_normalise(v) for v in value]
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value)


def _stored(value: Any) -> Any:
    """The value as it is stored, like :func:`_normalise`, but a dict or list that needs no change is
    itself, not a copy: for writing JSON straight away (most of a result needs no change, and not
    copying it saves time and garbage collection)."""
    kind = type(value)
    if kind is dict:
        changed = None
        for key, v in value.items():
            if type(key) is not str:
                return _normalise(value)
            item = type(v)
            if item not in _PLAIN and not (item is float and v and v.is_integer()):  # whole numbers stay
                new = _stored(v)
                if new is not v:
                    if changed is None:
                        changed = dict(value)
                    changed[key] = new
        return value if changed is None else changed
    if kind is list:
        changed = None
        for index, v in enumerate(value):
            item = type(v)
            if item not in _PLAIN and not (item is float and v and v.is_integer()):
                new = _stored(v)
                if new is not v:
                    if changed is None:
                        changed = list(value)
                    changed[index] = new
        return value if changed is None else changed
    if kind is float:
        return _float(value)
    if kind in _PLAIN:
        return value
    return _normalise(value)


def canonical(value: Any) -> Any:
    """The value as it is stored: floats rounded to 6 decimals, tuples as lists."""
    return _normalise(value)


def canonical_json(value: Any) -> str:
    """Sorted keys, no spaces, floats rounded to 6 decimals: the same value gives the same bytes."""
    # a value that contains itself never gets here: _stored would recurse without end first
    return json.dumps(_stored(value), sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      allow_nan=False, check_circular=False)


# --------------------------------------------------------------------------- all schools


class _Stat:
    """Pupil-level sums for one indicator (over one pupil group or all pupils)."""

    __slots__ = ("n", "s1", "s2", "x1", "x2", "xy")

    def __init__(self):
        self.n = 0
        self.s1 = self.s2 = self.x1 = self.x2 = self.xy = 0.0

    def to_dict(self, indicator: Indicator) -> dict[str, Any]:
        n = self.n
        if n == 0:
            return {"pupils": 0, "mean": None, "sd": None}
        if indicator.kind == RATIO:
            ratio = self.s1 / self.x1 if self.x1 else None
            if ratio is None:
                return {"pupils": n, "mean": None, "sd": None}
            residual = max(self.s2 - 2 * ratio * self.xy + ratio * ratio * self.x2, 0.0)
            sd = math.sqrt(residual / (n - 1)) if n > 1 else 0.0
            return {"pupils": n, "mean": ratio * indicator.scale, "sd": sd * indicator.scale}
        mean = self.s1 / n
        variance = max(self.s2 / n - mean * mean, 0.0) * n / (n - 1) if n > 1 else 0.0
        scale = 100.0 if indicator.kind == PERCENT else 1.0
        return {"pupils": n, "mean": mean * scale, "sd": math.sqrt(variance) * scale}


class NationalAccumulator:
    """What comparing with all schools of a collection needs, gathered one school at a time
    (memory grows with schools and subjects, not with pupils)."""

    def __init__(self, measures: MeasureSet):
        self.indicators = [i for i in measures.indicators if i.kind != COUNT]
        self.stats = [_Stat() for _ in self.indicators]
        self.groups: dict[str, list[_Stat]] = {}
        self.school_values: dict[str, list[float]] = {i.key: [] for i in self.indicators}
        self.subjects: dict[str, dict[str, Any]] = {}
        self.schools = 0
        self.pupils = 0

    def _add(self, stats: list[_Stat], pupil_vectors: Vectors, rows: Sequence[int] | None = None) -> None:
        """Add some pupils (``rows``: their indices; None: all) to the sums, with the float
        arithmetic of adding them one at a time in pupil order (``s1 += y`` ...)."""
        pick = None if rows is None else _picker(rows)
        for stat, column, exact in zip(stats, pupil_vectors.columns, pupil_vectors.exact):
            if column is None:
                continue
            values, weights = column
            if pick is not None:
                values = pick(values)
                weights = None if weights is None else pick(weights)
            exact = exact and _exact_sums(stat)
            if weights is None:  # every pupil counts, with a weight of 1: whole numbers add up exactly
                stat.x1 += len(values)
                stat.x2 += len(values)
                stat.xy = _total(values, stat.xy, exact)  # 1 * y is y
            else:
                values, weights = _counted(values, weights)
                stat.x1 = _total(weights, stat.x1, exact)
                stat.x2 = _total(map(mul, weights, weights), stat.x2, exact)
                stat.xy = _total(map(mul, weights, values), stat.xy, exact)
            stat.s1 = _total(values, stat.s1, exact)
            stat.s2 = _total(map(mul, values, values), stat.s2, exact)
            stat.n += len(values)

    def add(self, result: Mapping[str, Any], scores: Sequence[PupilScore],
            pupil_vectors: Vectors | None = None) -> None:
        self.schools += 1
        self.pupils += len(scores)
        if pupil_vectors is None:
            pupil_vectors = vectors(self.indicators, scores)
        self._add(self.stats, pupil_vectors)
        for (group, value), rows in pupil_vectors.members.items():
            name = f"{group}:{value}"
            stats = self.groups.get(name)
            if stats is None:
                stats = self.groups[name] = [_Stat() for _ in self.indicators]
            self._add(stats, pupil_vectors, rows)
        for i in self.indicators:
            value = result["measures"].get(i.key)
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                self.school_values[i.key].append(float(value))
        for row in result.get("subjects") or ():
            counts = row.get("grade_counts")
            if not isinstance(counts, dict):
                continue
            held = self.subjects.get(row["subject"])
            if held is None:
                held = self.subjects[row["subject"]] = {"entries": 0, "schools": 0, "grade_counts": {}}
            held["schools"] += 1
            for grade, n in counts.items():
                held["grade_counts"][grade] = held["grade_counts"].get(grade, 0) + n
                held["entries"] += n

    def state(self) -> dict[str, Any]:
        """Everything gathered so far as plain data (to send from a worker process and merge)."""
        def raw(stats: list[_Stat]) -> list[list[float]]:
            return [[st.n, st.s1, st.s2, st.x1, st.x2, st.xy] for st in stats]

        return {"schools": self.schools, "pupils": self.pupils, "stats": raw(self.stats),
                "groups": {name: raw(stats) for name, stats in self.groups.items()},
                "school_values": self.school_values, "subjects": self.subjects}

    def merge(self, state: Mapping[str, Any]) -> None:
        """Add another accumulator's :meth:`state` (schools merged in a fixed order give the same sums)."""
        def into(stats: list[_Stat], raw: list[list[float]]) -> None:
            for st, (n, s1, s2, x1, x2, xy) in zip(stats, raw):
                st.n += int(n)
                st.s1 += s1
                st.s2 += s2
                st.x1 += x1
                st.x2 += x2
                st.xy += xy

        self.schools += state["schools"]
        self.pupils += state["pupils"]
        into(self.stats, state["stats"])
        for name, raw in state["groups"].items():
            stats = self.groups.get(name)
            if stats is None:
                stats = self.groups[name] = [_Stat() for _ in self.indicators]
            into(stats, raw)
        for key, values in state["school_values"].items():
            self.school_values.setdefault(key, []).extend(values)
        for name, held in state["subjects"].items():
            mine = self.subjects.get(name)
            if mine is None:
                mine = self.subjects[name] = {"entries": 0, "schools": 0, "grade_counts": {}}
            mine["entries"] += held["entries"]
            mine["schools"] += held["schools"]
            for grade, n in held["grade_counts"].items():
                mine["grade_counts"][grade] = mine["grade_counts"].get(grade, 0) + n

    def finish(self) -> dict[str, Any]:
        return canonical({
            "schools": self.schools, "pupils": self.pupils,
            "indicators": {i.key: {**stat.to_dict(i), "school_values": sorted(self.school_values[i.key])}
                           for i, stat in zip(self.indicators, self.stats)},
            "groups": {g: {i.key: stat.to_dict(i) for i, stat in zip(self.indicators, stats)}
                       for g, stats in sorted(self.groups.items())},
            "subjects": {name: held for name, held in sorted(self.subjects.items())},
        })


# --------------------------------------------------------------------------- comparisons


def percentile_rank(sorted_values: Sequence[float], value: float) -> float | None:
    """Percent of schools below the value, counting ties as half."""
    if not sorted_values:
        return None
    value = round(value, FLOAT_DECIMALS)  # the stored school values are rounded so
    below = bisect.bisect_left(sorted_values, value)
    equal = bisect.bisect_right(sorted_values, value) - below
    return 100.0 * (below + equal / 2) / len(sorted_values)


def interval(kind: str, value: float, n: int, national: Mapping[str, Any], own_denominator: float | None = None):
    """95% confidence interval of a school figure over ``n`` pupils, from the national pupil-level
    spread (the way DfE and self-evaluation tools do): mean +- 1.96 sd / sqrt(n); a percentage from
    the national proportion; a ratio from the national residual spread over the school's entries."""
    sd = national.get("sd")
    if n <= 0 or sd is None or national.get("mean") is None:
        return None
    if kind == PERCENT:
        p = national["mean"] / 100.0
        half = Z95 * math.sqrt(max(p * (1 - p), 0.0) / n) * 100.0
    elif kind == RATIO:
        if not own_denominator:
            return None
        half = Z95 * sd * math.sqrt(n) / own_denominator
    else:
        half = Z95 * sd / math.sqrt(n)
    if kind == PERCENT:  # a percentage cannot go below 0 or past 100, however small the school
        return max(0.0, value - half), min(100.0, value + half)
    return value - half, value + half


def significance(ci: tuple[float, float] | None, mean: float | None) -> tuple[str, str | None]:
    """("above", "green") when the whole interval is above the mean, ("below", "red") when below,
    else ("not significant", None)."""
    if ci is None or mean is None:
        return "not significant", None
    if ci[0] > mean:
        return "above", "green"
    if ci[1] < mean:
        return "below", "red"
    return "not significant", None


def _denominator(result: Mapping[str, Any], i: Indicator, upns: set[str] | None = None) -> float:
    return sum(float(pupil_value(p, i.denominator) or 0) for p in result["pupils"]
               if upns is None or p["upn"] in upns)


def _count_for(result: Mapping[str, Any], i: Indicator, upns: set[str] | None = None) -> int:
    if i.kind == RATIO:
        return sum(1 for p in result["pupils"] if (upns is None or p["upn"] in upns)
                   and float(pupil_value(p, i.denominator) or 0))
    return len(result["pupils"]) if upns is None else len(upns)


def compare(result: Mapping[str, Any], national: Mapping[str, Any],
            published: Mapping[tuple, Mapping[str, Any]]) -> dict[str, Any]:
    """The comparisons of a school's result with all schools of the collection and with the
    published national figures (``published``: :func:`frs.analysis.national.figures`)."""
    indicators = {row["key"]: row for row in result.get("indicators", ())}
    all_schools: dict[str, Any] = {}
    pub: dict[str, Any] = {}
    for key, row in indicators.items():
        i = indicator_of(row) if row["kind"] == RATIO else None
        value = result["measures"].get(key)
        held = (national.get("indicators") or {}).get(key)
        if held and isinstance(value, (int, float)):
            n = _count_for(result, i) if i is not None else len(result["pupils"])
            ci = interval(row["kind"], value, n, held, _denominator(result, i) if i is not None else None)
            sig, colour = significance(ci, held.get("mean"))
            all_schools[key] = {"mean": held.get("mean"), "schools": len(held.get("school_values") or ()),
                                "percentile_rank": percentile_rank(held.get("school_values") or [], value),
                                "ci_low": ci[0] if ci else None, "ci_high": ci[1] if ci else None,
                                "significance": sig, "colour": colour}
        figure = published.get((result["round"]["key_stage"], result["round"]["year"], key, "", ""))
        if figure is not None:
            pub[key] = {"value": figure["value"], "unit": figure["unit"], "source": figure["source"]}
    groups: dict[str, Any] = {}
    for row in result.get("groups", ()):
        name = f"{row['group']}:{row['value']}"
        held_group = (national.get("groups") or {}).get(name) or {}
        entry: dict[str, Any] = {}
        for key, value in (row.get("measures") or {}).items():
            kind = indicators.get(key, {}).get("kind")
            held = held_group.get(key)
            if not held or not isinstance(value, (int, float)) or kind == RATIO:
                sig, colour, mean = "not significant", None, held.get("mean") if held else None
            else:
                ci = interval(kind, value, row["pupils"], held)
                sig, colour = significance(ci, held.get("mean"))
                mean = held.get("mean")
            figure = published.get((result["round"]["key_stage"], result["round"]["year"], key, name, ""))
            entry[key] = {"all_schools_mean": mean, "significance": sig, "colour": colour,
                          "national": figure["value"] if figure else None,
                          "national_source": figure["source"] if figure else None}
        groups[name] = entry
    subjects: dict[str, Any] = {}
    for row in result.get("subjects") or ():
        name = row.get("subject")
        held = (national.get("subjects") or {}).get(name)
        entry = {}
        if held and held.get("entries"):
            entry["all_schools"] = {"entries": held["entries"], "schools": held["schools"],
                                    "grade_percent": {g: 100.0 * n / held["entries"]
                                                      for g, n in sorted(held["grade_counts"].items())}}
        figures = {k[2]: v for k, v in published.items() if k[4] == name and k[3] == ""}
        if figures:
            entry["national"] = {m: {"value": v["value"], "source": v["source"]} for m, v in sorted(figures.items())}
        subjects[name] = entry
    return {"all_schools": all_schools, "national": pub, "groups": groups, "subjects": subjects,
            "all_schools_count": national.get("schools"), "all_schools_pupils": national.get("pupils")}
