"""A school's reports as its users see them: the dashboard (headlines, Attainment 8 elements,
subjects, pupil groups, pupils), filtered by a pupil group and with chosen pupils left out ("what
if"), its Excel export and its PDF summary.

Every function takes the actor (a user's email, or :data:`frs.storage.service.OPERATOR` for a
signed-in operator) and checks here that the actor may see the school's reports: any user of the
school, whatever their permissions (a "member" too), and operators. Anyone else gets
``Refused(code="not-found")``, so another school's reports look exactly like missing ones.

The numbers come from :mod:`frs.analysis.service` (the stored result with its comparisons, or
:func:`~frs.analysis.service.school_what_if` when pupils are left out); this module only shapes them
for the page and the workbook, so both show the same figures as the PDF.
"""

from __future__ import annotations

import io
from typing import Any, Iterable, Mapping, Sequence

from sqlmodel import select

from ..storage.models import School
from ..storage.service import OPERATOR, Refused
from . import accounts

KS4_GRADES = ("9", "8", "7", "6", "5", "4", "3", "2", "1", "U")
KS5_GRADES = ("*", "A", "B", "C", "D", "E")
KS5_POINTS = (60, 50, 40, 30, 20, 10)
ELEMENTS = (("attainment8_english", "English (double-weighted)"), ("attainment8_maths", "Maths (double-weighted)"),
            ("attainment8_ebacc", "EBacc"), ("attainment8_open_gcse", "Open: GCSEs"),
            ("attainment8_open_nongcse", "Open: other qualifications"))
SLOTS = (("ebacc_slots_filled", "EBacc slots filled (of 3)"), ("open_slots_filled", "Open slots filled (of 3)"))
SIGNIFICANCE_WORDS = {"above": "Significantly above", "below": "Significantly below"}
NOT_SIGNIFICANT = "Not significantly different"
MAX_EXCLUDED = 5000  # more UPNs than any cohort has: a bigger form is not from our page


def grade_label(grade: str) -> str:
    return "A*" if grade == "*" else grade


# --------------------------------------------------------------------------- who may see


def viewer(service, actor, school_dfe: str) -> dict[str, Any]:
    """The school as the actor may see it (``dfe``, ``name``, ``permissions``): any user of the
    school, or an operator; else ``Refused(code="not-found")``."""
    if actor is OPERATOR:
        with service._session() as s:
            school = s.exec(select(School).where(School.dfe == school_dfe)).first()
        return {"dfe": school_dfe, "name": school.name if school else None, "permissions": set(), "operator": True}
    return accounts.membership(service, actor, school_dfe)


def _stored(service, school_dfe: str, round_id: str):
    """The school's stored result of the round (:func:`frs.analysis.service.school_stored`: read once
    per request and handed to the analysis readers), or ``Refused`` with the readers' message."""
    from ..analysis import service as analysis

    try:
        return analysis.school_stored(service, school_dfe, round_id)
    except analysis.ReportNotFound:
        raise Refused(f"There are no reports for round {round_id} yet. They are made after the round's deadline "
                      "from each school's confirmed results; if your school confirmed results and the date for "
                      "reports has passed, contact the service desk.", code="not-available") from None


def available(service, actor, school_dfe: str) -> list[dict[str, Any]]:
    """The rounds with reports for the school (newest round first): ``round_id``, ``key_stage``,
    ``year``, ``finished_at``. Only a round's latest finished analysis counts."""
    from ..storage.models_analysis import FINISHED, AnalysisRun, SchoolAnalysis

    viewer(service, actor, school_dfe)
    with service._session() as s:
        runs = s.exec(select(AnalysisRun).where(AnalysisRun.status == FINISHED)
                      .order_by(AnalysisRun.id.desc())).all()
        latest: dict[str, AnalysisRun] = {}
        for run in runs:
            latest.setdefault(run.round_id, run)
        mine = set(s.exec(select(SchoolAnalysis.run_id).where(SchoolAnalysis.school_dfe == school_dfe,
                                                             SchoolAnalysis.run_id.in_([r.id for r in latest.values()])
                                                             )).all()) if latest else set()
    return [{"round_id": run.round_id, "key_stage": run.key_stage, "year": run.year, "finished_at": run.finished_at}
            for run in sorted(latest.values(), key=lambda r: (-r.year, r.key_stage)) if run.id in mine]


# --------------------------------------------------------------------------- the dashboard


def dashboard(service, actor, school_dfe: str, round_id: str, *, group: str | None = None,
              exclude: Iterable[str] = (), recompute: bool = True) -> dict[str, Any]:
    """Everything a dashboard page shows, shaped for display (see :func:`shape`).

    ``group`` ("gender:Female", "disadvantaged:True" ...) keeps only that group's pupils;
    ``exclude`` leaves the pupils with those UPNs out; either recomputes every figure at once (the
    analysis's what-if). Unknown UPNs are ignored; an unknown group is refused.

    ``recompute=False`` is for the pupil list: each pupil's own figures do not change when others
    are left out, so it shows the stored pupils (of the group) with ``excluded`` marked."""
    from ..analysis import service as analysis

    entry = viewer(service, actor, school_dfe)
    stored = _stored(service, school_dfe, round_id)
    # the stored result alone (no comparisons) when it only serves to pick pupils: the figures shown
    # then come from the what-if, or are the pupils' own
    plain = bool(group or exclude) or not recompute
    full = stored.result if plain else analysis.report_from(stored)
    cohort = [p["upn"] for p in full["pupils"]]
    known = set(cohort)
    excluded = sorted({u for u in exclude if isinstance(u, str) and u in known})
    groups = group_options(full)
    leave_out = set(excluded)
    outside: set[str] = set()
    if group:
        if group not in dict(groups):
            raise Refused(f"There is no pupil group {group!r} in this report: choose one from the list.",
                          code="bad-request")
        name, _, value = group.partition(":")
        outside = {p["upn"] for p in full["pupils"] if (p.get("groups") or {}).get(name) != value}
        leave_out |= outside
    if not recompute:
        report = {**full, "pupils": [p for p in full["pupils"] if p["upn"] not in outside]}
        shaped = shape(report, pupils_only=True)
    else:
        if leave_out and len(leave_out) >= len(known):
            raise Refused("Leaving out these pupils leaves no pupil to show: untick some pupils or choose another "
                          "group.", code="bad-request")
        if leave_out:
            report = analysis.what_if_from(stored, sorted(leave_out))
        else:
            report = full if not plain else analysis.report_from(stored)
        shaped = shape(report)
    shaped.update(school={"dfe": school_dfe, "name": entry.get("name") or full["school"].get("name") or school_dfe,
                          "permissions": entry.get("permissions") or set()},
                  group=group, group_label=dict(groups).get(group) if group else None, groups_available=groups,
                  excluded=excluded, cohort=[_pupil_choice(p) for p in full["pupils"]],
                  cohort_size=len(cohort), shown_pupils=len(report["pupils"]),
                  subjects_recomputed=("subjects" in report) or not full.get("subjects"))
    return shaped


def group_options(report: Mapping[str, Any]) -> list[tuple[str, str]]:
    """The pupil groups a dashboard can be filtered by: (``group:value``, label with its count).
    Groups too small to show (suppressed) cannot be chosen either."""
    return [(f"{g['group']}:{g['value']}", f"{g['label']} ({g['pupils']})") for g in report.get("groups") or ()
            if not g.get("suppressed")]


def _pupil_choice(p: Mapping[str, Any]) -> dict[str, Any]:
    return {"upn": p["upn"], "name": _name(p)}


def _name(p: Mapping[str, Any]) -> str:
    return " ".join(x for x in (p.get("forename") or "", p.get("surname") or "") if x).strip() or p["upn"]


def _is_percent(row: Mapping[str, Any]) -> bool:
    return row["kind"] == "percent" or (row["kind"] == "ratio" and row.get("scale", 1) == 100)


def _comparison(cmp_: Mapping[str, Any] | None) -> dict[str, Any]:
    cmp_ = cmp_ or {}
    sig = cmp_.get("significance")
    return {"all_schools": cmp_.get("mean"), "percentile": cmp_.get("percentile_rank"),
            "ci_low": cmp_.get("ci_low"), "ci_high": cmp_.get("ci_high"),
            "significance": sig if sig in SIGNIFICANCE_WORDS else None,
            "significance_words": SIGNIFICANCE_WORDS.get(sig or "", NOT_SIGNIFICANT) if cmp_ else None}


def shape(report: Mapping[str, Any], *, pupils_only: bool = False) -> dict[str, Any]:
    """A report (stored or what-if, with comparisons) as rows ready to show and export
    (``pupils_only``: the pupil rows and the round alone, for the pupil list)."""
    key_stage = report["round"]["key_stage"]
    if pupils_only:
        pupils = _ks4_pupils(report) if key_stage == 4 else _ks5_pupils(report) if key_stage == 5 else []
        return {"round": dict(report["round"]), "key_stage": key_stage, "pupils": pupils}
    comparisons = report.get("comparisons") or {}
    all_schools, national = comparisons.get("all_schools") or {}, comparisons.get("national") or {}
    indicators = {row["key"]: row for row in report.get("indicators") or ()}
    key_stage = report["round"]["key_stage"]

    def measure(key: str, title: str | None = None) -> dict[str, Any]:
        row = indicators.get(key, {"key": key, "title": key, "kind": "mean", "decimals": 2})
        pub = national.get(key)
        count = row["kind"] == "count"
        return {"key": key, "title": title or row["title"], "value": report["measures"].get(key),
                "decimals": 0 if count else row.get("decimals", 1), "percent": _is_percent(row), "count": count,
                "national": pub["value"] if pub else None, "national_source": pub["source"] if pub else None,
                **(_comparison(all_schools.get(key)) if not count else _comparison(None))}

    headlines = [measure(row["key"]) for row in report.get("indicators") or () if row.get("headline")]
    elements = [measure(k, t) for k, t in ELEMENTS if k in report["measures"]]
    slots = [measure(k, t) for k, t in SLOTS if k in report["measures"]]
    headline_keys = [r for r in report.get("indicators") or () if r.get("headline") and r["kind"] != "count"]
    group_rows = []
    cmp_groups = comparisons.get("groups") or {}
    for g in report.get("groups") or ():
        name = f"{g['group']}:{g['value']}"
        cells = []
        if not g.get("suppressed"):
            for r in headline_keys:
                cmp_ = (cmp_groups.get(name) or {}).get(r["key"]) or {}
                sig = cmp_.get("significance")
                cells.append({"key": r["key"], "title": r["title"], "value": (g.get("measures") or {}).get(r["key"]),
                              "decimals": r.get("decimals", 1), "percent": _is_percent(r),
                              "all_schools": cmp_.get("all_schools_mean"), "national": cmp_.get("national"),
                              "significance": sig if sig in SIGNIFICANCE_WORDS else None,
                              "significance_words": SIGNIFICANCE_WORDS.get(sig or "", NOT_SIGNIFICANT)})
        group_rows.append({"name": name, "group": g["group"], "label": g["label"], "pupils": g["pupils"],
                           "suppressed": bool(g.get("suppressed")), "cells": cells})
    subjects = _ks4_subjects(report) if key_stage == 4 else _ks5_subjects(report) if key_stage == 5 else []
    pupils = _ks4_pupils(report) if key_stage == 4 else _ks5_pupils(report) if key_stage == 5 else []
    p8 = report.get("progress8") if isinstance(report.get("progress8"), Mapping) else None
    return {"round": dict(report["round"]), "key_stage": key_stage, "headlines": headlines, "elements": elements,
            "slots": slots, "group_columns": [{"key": r["key"], "title": r["title"]} for r in headline_keys],
            "groups": group_rows, "subjects": subjects, "pupils": pupils, "progress8": p8,
            "all_schools_count": comparisons.get("all_schools_count"),
            "all_schools_pupils": comparisons.get("all_schools_pupils"),
            "teacher_assessed": key_stage == 4 and report["round"]["year"] in (2020, 2021),
            "analysis": report.get("analysis") or {}, "rules_version": report.get("rules_version")}


def _ks4_subjects(report: Mapping[str, Any]) -> list[dict[str, Any]]:
    from ..analysis.pdf import _grade_percents  # the PDF's rule for Combined Science pairs

    cmp_subjects = (report.get("comparisons") or {}).get("subjects") or {}
    out = []
    for row in report.get("subjects") or ():
        counts = row.get("grade_counts") or {}
        cmp_ = cmp_subjects.get(row["subject"]) or {}
        other = cmp_.get("all_schools") or {}
        nat = cmp_.get("national") or {}
        shaped = {"subject": row["subject"], "gcse": bool(row.get("gcse")), "entries": row.get("entries"),
                  "average_points": row.get("average_points"), "residual": row.get("residual"),
                  "grade_7_or_above": row.get("grade_7_or_above"), "grade_5_or_above": row.get("grade_5_or_above"),
                  "grade_4_or_above": row.get("grade_4_or_above"),
                  "national_7": (nat.get("grade_7_or_above") or {}).get("value"),
                  "national_4": (nat.get("grade_4_or_above") or {}).get("value"),
                  "all_schools_entries": other.get("entries"), "grades": [], "all_schools_4": None,
                  "counts_text": "", "counts": sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))}
        if row.get("gcse"):
            percent = other.get("grade_percent") or {}
            for g, school, all_schools in zip(KS4_GRADES, _grade_percents(counts, KS4_GRADES),
                                              _grade_percents(percent, KS4_GRADES)):
                shaped["grades"].append({"grade": g, "school": school, "all_schools": all_schools})
            if percent:
                shaped["all_schools_4"] = sum(x["all_schools"] or 0 for x in shaped["grades"] if x["grade"] in "456789"
                                              and x["grade"] != "U")
        else:
            shaped["counts_text"] = ", ".join(f"{g}: {n}" for g, n in shaped["counts"])
        out.append(shaped)
    return out


def _ks5_subjects(report: Mapping[str, Any]) -> list[dict[str, Any]]:
    cmp_subjects = (report.get("comparisons") or {}).get("subjects") or {}
    out = []
    for row in report.get("subjects") or ():
        cmp_ = cmp_subjects.get(row["subject"]) or {}
        pct = (cmp_.get("all_schools") or {}).get("grade_percent") or {}
        nat = cmp_.get("national") or {}
        running, cumulative = 0.0, []
        for g in KS5_GRADES:
            running += pct.get(g, 0.0)
            cumulative.append({"grade": g, "label": "A*" if g == "*" else f"A*-{g}",
                               "school": (row.get("cumulative") or {}).get(g),
                               "all_schools": running if pct else None,
                               "national": (nat.get(f"cumulative_{g}") or {}).get("value")})
        aps_all = sum(pct.get(g, 0.0) * p for g, p in zip(KS5_GRADES, KS5_POINTS)) / 100 if pct else None
        out.append({"subject": row["subject"], "entries": row.get("entries"), "aps_per_entry": row.get("aps_per_entry"),
                    "aps_grade": row.get("aps_grade") or "", "all_schools_aps": aps_all,
                    "all_schools_entries": (cmp_.get("all_schools") or {}).get("entries"), "cumulative": cumulative,
                    "a_star_b": cumulative[2]["school"], "all_schools_a_star_b": cumulative[2]["all_schools"],
                    "has_national": any(c["national"] is not None for c in cumulative)})
    return out


def _ks4_pupils(report: Mapping[str, Any]) -> list[dict[str, Any]]:
    out = []
    for p in report.get("pupils") or ():
        elements = p.get("attainment8_elements") or {}
        out.append({"upn": p["upn"], "name": _name(p), "gender": p.get("gender") or "", "groups": p.get("groups") or {},
                    "attainment8": p.get("attainment8"), "english": elements.get("english"),
                    "maths": elements.get("maths"), "ebacc": elements.get("ebacc"), "open": elements.get("open"),
                    "english_maths_4": p.get("english_maths_4"), "english_maths_5": p.get("english_maths_5"),
                    "ebacc_entered": p.get("ebacc_entered"), "ebacc_aps": p.get("ebacc_aps"),
                    "progress8": p.get("progress8"), "flags": list(p.get("flags") or ()),
                    "slots": [{"element": s[0], "subject": s[1], "grade": s[2], "points": s[3],
                               "text": f"{str(s[0]).capitalize()}: {s[1]}, {s[2]} ({_points(s[3])})"}
                              for s in p.get("slots") or () if isinstance(s, (list, tuple)) and len(s) >= 4]})
    return out


def _points(value: Any) -> str:
    return f"{value:,.1f}" if isinstance(value, (int, float)) else "–"


def _ks5_pupils(report: Mapping[str, Any]) -> list[dict[str, Any]]:
    out = []
    for p in report.get("pupils") or ():
        grades = p.get("grades") or {}
        out.append({"upn": p["upn"], "name": _name(p), "gender": p.get("gender") or "", "groups": p.get("groups") or {},
                    "entries": p.get("alevel_entries"), "points": p.get("alevel_points"),
                    "aps_per_entry": p.get("aps_per_entry"), "best_three_points": p.get("best_three_points"),
                    "grades": [{"subject": s, "grade": grade_label(g)} for s, g in sorted(grades.items())],
                    "flags": list(p.get("flags") or ())})
    return out


# --------------------------------------------------------------------------- downloads


def pdf(service, actor, school_dfe: str, round_id: str) -> tuple[str, bytes]:
    """The school's PDF summary: (file name, bytes)."""
    from ..analysis import service as analysis

    viewer(service, actor, school_dfe)
    try:
        data = analysis.school_pdf(service, school_dfe, round_id)
    except analysis.ReportNotFound:
        _stored(service, school_dfe, round_id)  # raises the readers' message
        raise
    return f"results_summary_{school_dfe}_{round_id}.pdf", data


def workbook(service, actor, school_dfe: str, round_id: str, *, group: str | None = None,
             exclude: Iterable[str] = ()) -> tuple[str, bytes]:
    """The dashboard's figures as an Excel workbook: (file name, bytes). Every text that came from a
    school or a user is written as a string, never as a formula."""
    shown = dashboard(service, actor, school_dfe, round_id, group=group, exclude=exclude)
    suffix = "_what_if" if shown["excluded"] or group else ""
    return f"results_{school_dfe}_{round_id}{suffix}.xlsx", _xlsx(shown)


def _xlsx(d: Mapping[str, Any]) -> bytes:
    import xlsxwriter

    buffer = io.BytesIO()
    book = xlsxwriter.Workbook(buffer, {"in_memory": True, "strings_to_formulas": False, "strings_to_urls": False,
                                        "strings_to_numbers": False})
    bold = book.add_format({"bold": True})
    wrap = book.add_format({"text_wrap": True, "valign": "top"})

    def sheet(name: str, header: Sequence[str], rows: Iterable[Sequence[Any]], widths: Sequence[int] = ()):
        ws = book.add_worksheet(name)
        for c, text in enumerate(header):
            ws.write_string(0, c, str(text), bold)
        r = 0
        for r, row in enumerate(rows, start=1):
            for c, value in enumerate(row):
                if value is None or value == "":
                    continue
                if isinstance(value, bool):
                    ws.write_string(r, c, "yes" if value else "no")
                elif isinstance(value, (int, float)):
                    ws.write_number(r, c, value)
                else:
                    ws.write_string(r, c, str(value))
        for c, width in enumerate(widths):
            ws.set_column(c, c, width)
        ws.freeze_panes(1, 0)
        return ws, r

    about = book.add_worksheet("About")
    lines = [("School", d["school"]["name"]), ("DfE number", d["school"]["dfe"]), ("Round", d["round"]["id"]),
             ("Key stage", str(d["key_stage"])), ("Year", str(d["round"]["year"])),
             ("Pupil group shown", d.get("group_label") or "All pupils"),
             ("Pupils shown", str(d["shown_pupils"])),
             ("Pupils left out (what if)", ", ".join(d["excluded"]) or "none"),
             ("All schools", f"{d.get('all_schools_count') or 0} schools of this collection, "
                             f"{d.get('all_schools_pupils') or 0} pupils"),
             ("Rules", d.get("rules_version") or "")]
    about.set_column(0, 0, 26)
    about.set_column(1, 1, 90)
    for r, (label, value) in enumerate(lines):
        about.write_string(r, 0, label, bold)
        about.write_string(r, 1, str(value or ""), wrap)

    sheet("Headlines", ["Measure", "School", "All schools", "Percentile rank", "95% CI low", "95% CI high",
                        "Compared with all schools", "National", "National source"],
          ([h["title"], h["value"], h["all_schools"], h["percentile"], h["ci_low"], h["ci_high"],
            h["significance_words"] or "", h["national"], h["national_source"] or ""]
           for h in d["headlines"] + d["elements"] + d["slots"]), (44, 10, 12, 14, 11, 11, 28, 10, 60))
    if d["key_stage"] == 4:
        grades = list(KS4_GRADES)
        sheet("Subjects", ["Subject", "Row", "Entries", "Average points", "Residual", "% 7+", "% 5+", "% 4+",
                           "National % 7+", "National % 4+"] + [f"% {g}" for g in grades] + ["Other grades"],
              (row for s in d["subjects"] for row in (
                  [[s["subject"], "school", s["entries"], s["average_points"], s["residual"], s["grade_7_or_above"],
                    s["grade_5_or_above"], s["grade_4_or_above"], s["national_7"], s["national_4"]]
                   + [x["school"] for x in s["grades"]] + [""] * (len(grades) - len(s["grades"])) + [s["counts_text"]]]
                  + ([[s["subject"], "all schools", s["all_schools_entries"], None, None, None, None,
                       s["all_schools_4"], None, None] + [x["all_schools"] for x in s["grades"]]]
                     if s["gcse"] and s["all_schools_entries"] else []))),
              (36, 12, 8, 10, 9, 7, 7, 7, 10, 10) + (6,) * len(grades) + (40,))
        sheet("Pupils", ["UPN", "Name", "Gender", "Attainment 8", "English", "Maths", "EBacc", "Open",
                         "English and maths 4+", "English and maths 5+", "EBacc entered", "EBacc APS", "Flags",
                         "Slots"],
              ([p["upn"], p["name"], p["gender"], p["attainment8"], p["english"], p["maths"], p["ebacc"], p["open"],
                p["english_maths_4"], p["english_maths_5"], p["ebacc_entered"], p["ebacc_aps"], "; ".join(p["flags"]),
                "; ".join(f"{s['element']}: {s['subject']} {s['grade']} ({s['points']:g})" for s in p["slots"])]
               for p in d["pupils"]), (15, 26, 8, 11, 8, 8, 8, 8, 10, 10, 10, 9, 40, 90))
    else:
        labels = [c["label"] for c in (d["subjects"][0]["cumulative"] if d["subjects"] else [])] or \
            ["A*" if g == "*" else f"A*-{g}" for g in KS5_GRADES]
        sheet("Subjects", ["Subject", "Row", "Entries", "APS per entry", "APS grade"] + [f"% {x}" for x in labels],
              (row for s in d["subjects"] for row in (
                  [s["subject"], "school", s["entries"], s["aps_per_entry"], s["aps_grade"]]
                  + [c["school"] for c in s["cumulative"]],
                  [s["subject"], "all schools", s["all_schools_entries"], s["all_schools_aps"], ""]
                  + [c["all_schools"] for c in s["cumulative"]],
                  [s["subject"], "national", None, None, ""] + [c["national"] for c in s["cumulative"]])),
              (36, 12, 8, 12, 9) + (8,) * len(labels))
        sheet("Pupils", ["UPN", "Name", "Gender", "A-level entries", "Points", "APS per entry", "Best three points",
                         "Grades"],
              ([p["upn"], p["name"], p["gender"], p["entries"], p["points"], p["aps_per_entry"],
                p["best_three_points"], "; ".join(f"{g['subject']} {g['grade']}" for g in p["grades"])]
               for p in d["pupils"]), (15, 26, 8, 10, 8, 10, 12, 80))
    columns = d["group_columns"]
    sheet("Pupil groups", ["Group", "Pupils"] + [c["title"] for c in columns]
          + [f"{c['title']}: compared with all schools' pupils of the group" for c in columns],
          ([g["label"], g["pupils"]] + ([x["value"] for x in g["cells"]] + [x["significance_words"] for x in g["cells"]]
                                        if not g["suppressed"] else ["fewer than 6 pupils: not shown"])
           for g in d["groups"]), (28, 8) + (14,) * (2 * len(columns)))
    book.close()
    return buffer.getvalue()


__all__ = ["viewer", "available", "dashboard", "group_options", "shape", "pdf", "workbook"]
