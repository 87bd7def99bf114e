"""KS5 A-level measures: points per entry, best three, grade distributions per subject.

A measure plugin like any third party's (``register_measures``), reading only the collected
A-level results (:mod:`frs.results`, template ``ks5_alevel``).

- DfE 16-18 points per A level: A* 60, A 50, B 40, C 30, D 20, E 10, U 0 (the catalogue's points).
- Discounting: results sharing a discount code count once, the one with more points.
- **APS per entry** = all counted A-level points / counted A-level entries (shown also as a grade,
  33.77 reads "C+").
- **Best three** = each student's best three A levels summed, over students x 3 (students with at
  least one entry; fewer than three entries still divide by three).
- **% A*-A, % A*-B** of entries; per subject, the cumulative % at A*, A*-A ... A*-E with U entries
  counted in the total.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any, Mapping, Sequence

from frs import hookimpl
from frs.measures import COUNT, RATIO, Indicator, Measure, MeasureContext, PupilScore

PLUGIN = "ks5_measures"
KEYSTAGE = "ks5_alevel"
GRADES = ("*", "A", "B", "C", "D", "E")  # best first; U is below E
DEFAULT_POINTS = {"*": 60.0, "A": 50.0, "B": 40.0, "C": 30.0, "D": 20.0, "E": 10.0, "U": 0.0}


def points_of(result) -> float | None:
    if result.points is not None:
        return float(result.points)
    table = (result.meta or {}).get("points") or DEFAULT_POINTS
    value = table.get(result.grade)
    return None if value is None else float(value)


def counted(results) -> list[tuple[Any, float]]:
    """A-level results that count: one per discount code, the one with more points."""
    by_code: dict[str, tuple[Any, float]] = {}
    for r in results:
        if r.keystage != KEYSTAGE:
            continue
        points = points_of(r)
        if points is None:
            continue
        code = r.discount_code or (r.meta or {}).get("discount_code") or r.column_id
        held = by_code.get(code)
        if held is None or (points, r.column_id) > (held[1], held[0].column_id):
            by_code[code] = (r, points)
    return [by_code[code] for code in sorted(by_code)]


def grade_for_points(points: float | None) -> str | None:
    """DfE's way of reading an average as a grade: each grade spans 10 points, split in thirds
    (33.77 -> "C+", 30 -> "C", 27.5 -> "C-")."""
    if points is None:
        return None
    letters = {60: "A*", 50: "A", 40: "B", 30: "C", 20: "D", 10: "E"}
    if points < 5:
        return "U"
    centre = min(60, max(10, int((points + 5) // 10) * 10))
    offset = points - centre
    suffix = "+" if offset >= 5 / 3 and centre < 60 else "-" if offset < -5 / 3 else ""
    return letters[centre] + suffix


class ALevel(Measure):
    id = f"{PLUGIN}.alevel"
    key_stage = 5
    title = "A level: points per entry, best three, grades"
    version = "1"
    indicators = (
        Indicator("students", "A-level students", COUNT, decimals=0, headline=True),
        Indicator("aps_per_entry", "Average points per A-level entry", RATIO, "alevel_points",
                  denominator="alevel_entries", decimals=2, headline=True),
        Indicator("best_three", "Best three A levels (points per A level)", RATIO, "best_three_points",
                  denominator="best_three_slots", decimals=2, headline=True),
        Indicator("a_star_a", "A*-A (% of entries)", RATIO, "entries_a_star_a", denominator="alevel_entries",
                  scale=100.0, headline=True),
        Indicator("a_star_b", "A*-B (% of entries)", RATIO, "entries_a_star_b", denominator="alevel_entries",
                  scale=100.0, headline=True),
    )

    def pupil(self, pupil, context: MeasureContext) -> Mapping[str, Any]:
        entries = counted(pupil.results)
        points = sorted([p for _, p in entries], reverse=True)
        total = sum(points)
        grades = [r.grade for r, _ in entries]
        return {
            "alevel_entries": len(entries),
            "alevel_points": total,
            "aps_per_entry": total / len(points) if points else None,
            "best_three_points": sum(points[:3]),
            "best_three_slots": 3 if entries else 0,
            "entries_a_star_a": len([g for g in grades if g in ("*", "A")]),
            "entries_a_star_b": len([g for g in grades if g in ("*", "A", "B")]),
            "grades": {r.subject: r.grade for r, _ in entries},
        }

    def school(self, scores: Sequence[PupilScore], context: MeasureContext) -> Mapping[str, Any]:
        out = dict(super().school(scores, context))
        out["entries"] = sum(s.values.get("alevel_entries", 0) for s in scores)
        return out

    def tables(self, scores: Sequence[PupilScore], context: MeasureContext) -> Mapping[str, Any]:
        rows: dict[str, dict[str, Any]] = {}
        counts: dict[str, dict[str, int]] = defaultdict(dict)
        for score in scores:
            for r, points in counted(score.pupil.results):
                row = rows.get(r.column_id)
                if row is None:
                    row = rows[r.column_id] = {"subject": r.subject, "column_id": r.column_id, "entries": 0,
                                               "_points": 0.0}
                row["entries"] += 1
                row["_points"] += points
                counts[r.column_id][r.grade] = counts[r.column_id].get(r.grade, 0) + 1
        subjects = []
        for column_id, row in sorted(rows.items(), key=lambda kv: (kv[1]["subject"], kv[0])):
            n = row["entries"]
            grade_counts = counts[column_id]
            cumulative, running = {}, 0
            for grade in GRADES:
                running += grade_counts.get(grade, 0)
                cumulative[grade] = 100.0 * running / n
            aps = row.pop("_points") / n
            subjects.append({**row, "aps_per_entry": aps, "aps_grade": grade_for_points(aps),
                             "cumulative": cumulative, "grade_counts": dict(grade_counts)})
        return {"subjects": subjects}


@hookimpl
def register_measures(registry, key_stage):
    if key_stage == 5:
        registry.add(ALevel())
