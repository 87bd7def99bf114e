"""The early PDF summary of a school's results (reportlab).

Made from the report dict of :func:`frs.analysis.service.school_report` (a stored result with its
comparisons), so the PDF, the JSON and the dashboards show the same numbers.

Readable in black and white: significance is written in words ("Sig. above" / "Sig. below"),
the light green / red shading only repeats it; chart bars are solid black (the school) against
white with a black outline (all schools), with the values printed on them.
"""

from __future__ import annotations

import io
from typing import Any, Mapping, Sequence

from reportlab import rl_config
from reportlab.graphics.charts.barcharts import HorizontalBarChart
from reportlab.graphics.charts.legends import Legend
from reportlab.graphics.shapes import Drawing, String
from reportlab.lib import colors
from reportlab.lib.enums import TA_LEFT
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle, getSampleStyleSheet
from reportlab.lib.units import mm
from reportlab.platypus import (CondPageBreak, KeepTogether, Paragraph, SimpleDocTemplate, Spacer, Table,
                                TableStyle)

rl_config.invariant = 1  # no creation date or random id: the same report gives the same bytes

GREEN = colors.Color(0.80, 0.93, 0.80)
RED = colors.Color(0.98, 0.82, 0.82)
GRID = colors.Color(0.55, 0.55, 0.55)
HEAD = colors.Color(0.90, 0.90, 0.90)
SCHOOL_FILL = colors.black
OTHER_FILL = colors.white
KS4_GRADES = ("9", "8", "7", "6", "5", "4", "3", "2", "1", "U")
KS5_GRADES = ("*", "A", "B", "C", "D", "E")
GRADE_LABEL = {"*": "A*"}

_styles = getSampleStyleSheet()
TITLE = ParagraphStyle("frs-title", parent=_styles["Title"], fontSize=17, leading=21, alignment=TA_LEFT,
                       spaceAfter=2 * mm)
H2 = ParagraphStyle("frs-h2", parent=_styles["Heading2"], fontSize=12.5, leading=15, spaceBefore=4 * mm,
                    spaceAfter=1.5 * mm)
BODY = ParagraphStyle("frs-body", parent=_styles["BodyText"], fontSize=8.8, leading=11)
SMALL = ParagraphStyle("frs-small", parent=BODY, fontSize=7.5, leading=9.2, textColor=colors.Color(0.2, 0.2, 0.2))
CELL = ParagraphStyle("frs-cell", parent=BODY, fontSize=8, leading=9.5)


def _esc(text: Any) -> str:
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def fmt(value: Any, decimals: int = 1, percent: bool = False) -> str:
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int) and not percent:
        return f"{value:,}"
    text = f"{float(value):,.{decimals}f}"
    return text + ("%" if percent else "")


def _is_percent(row: Mapping[str, Any]) -> bool:
    return row["kind"] == "percent" or (row["kind"] == "ratio" and row.get("scale", 1) == 100)


def _sig_words(sig: str | None) -> str:
    return {"above": "Sig. above", "below": "Sig. below"}.get(sig or "", "Not sig.")


def _table(data: list[list[Any]], widths: Sequence[float], extra: Sequence[tuple] = (), header_rows: int = 1) -> Table:
    table = Table(data, colWidths=widths, repeatRows=header_rows, hAlign="LEFT")
    style = [("FONT", (0, 0), (-1, -1), "Helvetica", 8), ("FONT", (0, 0), (-1, header_rows - 1), "Helvetica-Bold", 8),
             ("BACKGROUND", (0, 0), (-1, header_rows - 1), HEAD), ("GRID", (0, 0), (-1, -1), 0.4, GRID),
             ("VALIGN", (0, 0), (-1, -1), "MIDDLE"), ("ALIGN", (1, 0), (-1, -1), "RIGHT"),
             ("TOPPADDING", (0, 0), (-1, -1), 2), ("BOTTOMPADDING", (0, 0), (-1, -1), 2)]
    table.setStyle(TableStyle(style + list(extra)))
    return table


def bar_chart(labels: Sequence[str], school: Sequence[float | None], others: Sequence[float | None], *,
              title: str, value_max: float | None = None, decimals: int = 1, other_label: str = "All schools",
              width: float = 170 * mm) -> Drawing:
    """Horizontal pairs of bars: the school (solid black) above all schools (white, outlined)."""
    rows = len(labels)
    bar_space = 11.5
    height = rows * 2 * bar_space + 42
    drawing = Drawing(width, height)
    chart = HorizontalBarChart()
    chart.x, chart.y = 95, 18
    chart.width, chart.height = width - 150, height - 42
    # reportlab draws the first category at the bottom: reverse so the list reads top-down
    chart.data = [[v or 0 for v in reversed(others)], [v or 0 for v in reversed(school)]]
    chart.categoryAxis.categoryNames = [lab[:26] for lab in reversed(labels)]
    chart.categoryAxis.labels.fontSize = 7.5
    chart.categoryAxis.labels.fontName = "Helvetica"
    chart.categoryAxis.labels.dx = -3
    chart.categoryAxis.labels.textAnchor = "end"
    chart.valueAxis.valueMin = 0
    top = value_max or max([v or 0 for v in list(school) + list(others)] + [1]) * 1.15
    chart.valueAxis.valueMax = top
    chart.valueAxis.labels.fontSize = 7
    chart.valueAxis.visibleGrid = True
    chart.valueAxis.gridStrokeColor = colors.Color(0.85, 0.85, 0.85)
    chart.bars[0].fillColor, chart.bars[0].strokeColor = OTHER_FILL, colors.black
    chart.bars[1].fillColor, chart.bars[1].strokeColor = SCHOOL_FILL, colors.black
    chart.bars.strokeWidth = 0.6
    chart.barSpacing = 1
    chart.groupSpacing = 5
    chart.barLabelFormat = f"%.{decimals}f"
    chart.barLabels.fontSize = 6.5
    chart.barLabels.boxAnchor = "w"
    chart.barLabels.dx = 2
    drawing.add(chart)
    legend = Legend()
    legend.x, legend.y = width - 52, height - 6
    legend.fontSize = 7
    legend.boxAnchor = "nw"
    legend.columnMaximum = 2
    legend.colorNamePairs = [(SCHOOL_FILL, "This school"), (OTHER_FILL, other_label)]
    legend.strokeColor = colors.black
    legend.strokeWidth = 0.6
    drawing.add(legend)
    drawing.add(String(0, height - 10, title, fontName="Helvetica-Bold", fontSize=8.5))
    return drawing


# --------------------------------------------------------------------------- sections


def _intro(report: Mapping[str, Any]) -> list[Any]:
    school, rnd = report["school"], report["round"]
    comparisons = report.get("comparisons") or {}
    stage = {4: "Key stage 4", 5: "Key stage 5 (A level)"}.get(rnd["key_stage"], f"Key stage {rnd['key_stage']}")
    out = [Paragraph(f"{_esc(stage)} results {rnd['year']}: early summary", TITLE),
           Paragraph(f"<b>{_esc(school.get('name') or '')}</b> (DfE {_esc(school['dfe'])}) &nbsp;·&nbsp; round "
                     f"{_esc(rnd['id'])} &nbsp;·&nbsp; collection {_esc(report.get('collection_id'))}", BODY)]
    n_schools = comparisons.get("all_schools_count")
    notes = [f"“All schools” are the {fmt(n_schools, 0)} schools of this collection "
             f"({fmt(comparisons.get('all_schools_pupils'), 0)} pupils). ",
             "“Sig. above” / “Sig. below”: the school's 95% confidence interval lies wholly above / below the "
             "all-schools figure (shaded green / red); otherwise not significantly different. "]
    if rnd["key_stage"] == 4 and rnd["year"] in (2020, 2021):
        notes.append(f"{rnd['year']} grades were teacher assessed (exams cancelled). ")
    out.append(Paragraph("".join(notes), SMALL))
    if report.get("excluded"):
        out.append(Paragraph(f"What if: {len(report['excluded'])} pupil(s) left out.", SMALL))
    return out


def _headlines(report: Mapping[str, Any]) -> list[Any]:
    comparisons = report.get("comparisons") or {}
    all_schools, national = comparisons.get("all_schools") or {}, comparisons.get("national") or {}
    rows = [["Measure", "School", "All schools", "Percentile", "95% CI", "vs all schools", "National"]]
    shading = []
    sources = {}
    for row in report.get("indicators", ()):
        if not row.get("headline"):
            continue
        key, decimals, pct = row["key"], row.get("decimals", 1), _is_percent(row)
        value = report["measures"].get(key)
        cmp_ = all_schools.get(key) or {}
        pub = national.get(key)
        ci = (f"{fmt(cmp_.get('ci_low'), decimals)} to {fmt(cmp_.get('ci_high'), decimals)}"
              if cmp_.get("ci_low") is not None else "–")
        if pub:
            sources.setdefault(pub["source"], len(sources) + 1)
        rows.append([Paragraph(_esc(row["title"]), CELL), fmt(value, decimals if row["kind"] != "count" else 0, pct),
                     fmt(cmp_.get("mean"), decimals, pct), fmt(cmp_.get("percentile_rank"), 0),
                     ci if row["kind"] != "count" else "–",
                     _sig_words(cmp_.get("significance")) if row["kind"] != "count" else "–",
                     (fmt(pub["value"], decimals, pub["unit"] == "percent") + f" [{sources[pub['source']]}]")
                     if pub else "–"])
        colour = cmp_.get("colour")
        if colour:
            shading.append(("BACKGROUND", (5, len(rows) - 1), (5, len(rows) - 1), GREEN if colour == "green" else RED))
            shading.append(("FONT", (5, len(rows) - 1), (5, len(rows) - 1), "Helvetica-Bold", 8))
    out: list[Any] = [Paragraph("Headlines", H2),
                      _table(rows, [52 * mm, 17 * mm, 19 * mm, 16 * mm, 25 * mm, 21 * mm, 22 * mm], shading)]
    p8 = report.get("progress8")
    if isinstance(p8, Mapping):
        if p8.get("calculated"):
            text = (f"Progress 8 (estimate): {fmt(p8.get('value'), 2)} over {p8.get('pupils')} pupils with KS2 data; "
                    f"{p8.get('pupils_without_ks2')} without. Estimates: {_esc(p8.get('source', ''))}.")
        else:
            text = f"Progress 8: not calculated. {_esc(p8.get('reason', ''))}"
        out.append(Spacer(1, 1.5 * mm))
        out.append(Paragraph(text, BODY))
    for source, number in sources.items():
        out.append(Paragraph(f"[{number}] National: {_esc(source)}", SMALL))
    return out


def _elements(report: Mapping[str, Any]) -> list[Any]:
    all_schools = (report.get("comparisons") or {}).get("all_schools") or {}
    keys = [("attainment8_english", "English"), ("attainment8_maths", "Maths"), ("attainment8_ebacc", "EBacc"),
            ("attainment8_open", "Open"), ("attainment8_open_gcse", "Open: GCSE"),
            ("attainment8_open_nongcse", "Open: other quals")]
    present = [(k, t) for k, t in keys if k in report["measures"]]
    if not present:
        return []
    chart = bar_chart([t for _, t in present], [report["measures"].get(k) for k, _ in present],
                      [(all_schools.get(k) or {}).get("mean") for k, _ in present],
                      title="Attainment 8 by element (mean points per pupil)", decimals=2)
    rows = [["Element", "School", "All schools", "vs all schools"]]
    shading = []
    for key, title in present + [("ebacc_slots_filled", "EBacc slots filled"), ("open_slots_filled", "Open slots filled")]:
        cmp_ = all_schools.get(key) or {}
        rows.append([title, fmt(report["measures"].get(key), 2), fmt(cmp_.get("mean"), 2),
                     _sig_words(cmp_.get("significance"))])
        if cmp_.get("colour"):
            shading.append(("BACKGROUND", (3, len(rows) - 1), (3, len(rows) - 1),
                            GREEN if cmp_["colour"] == "green" else RED))
    return [KeepTogether([Paragraph("Attainment 8 elements", H2), chart,
                          _table(rows, [45 * mm, 22 * mm, 22 * mm, 24 * mm], shading)])]


def _ks4_subjects(report: Mapping[str, Any]) -> list[Any]:
    subjects = report.get("subjects") or []
    if not subjects:
        return []
    cmp_subjects = (report.get("comparisons") or {}).get("subjects") or {}
    out: list[Any] = [CondPageBreak(60 * mm), Paragraph("Subjects", H2),
                      Paragraph("Entries, average points and the percentage of results at each grade (GCSE "
                                "Combined Science per award). Second line of each subject: all schools of the "
                                "collection. Residual: mean points in the subject minus the same pupils' mean "
                                "over all their subjects.", SMALL)]
    header = ["Subject", "Entries", "Avg pts", "Resid."] + [f"{g}" for g in KS4_GRADES] + ["9-4 %", "Nat. 4+"]
    rows = [header]
    extra = []
    for row in subjects:
        counts = row.get("grade_counts") or {}
        awards = _awards(counts)
        school_pct = [_grade_percent(counts, g, awards) for g in KS4_GRADES] if row.get("gcse") else [None] * 10
        cmp_ = cmp_subjects.get(row["subject"]) or {}
        national_4 = ((cmp_.get("national") or {}).get("grade_4_or_above") or {}).get("value")
        rows.append([Paragraph(_esc(row["subject"]), CELL), fmt(row["entries"], 0), fmt(row["average_points"], 2),
                     fmt(row.get("residual"), 2)] + [fmt(v, 0) if v is not None else "" for v in school_pct]
                    + [fmt(row.get("grade_4_or_above"), 1), fmt(national_4, 1) if national_4 is not None else ""])
        other = (cmp_.get("all_schools") or {})
        if other and row.get("gcse"):
            other_counts = {g: p for g, p in (other.get("grade_percent") or {}).items()}
            other_awards = _awards(other_counts)
            pct = [_grade_percent(other_counts, g, other_awards) for g in KS4_GRADES]
            at4 = sum(v for g, v in zip(KS4_GRADES, pct) if g in ("9", "8", "7", "6", "5", "4") and v is not None)
            rows.append([Paragraph("<i>all schools</i>", CELL), fmt(other.get("entries"), 0), "", ""]
                        + [fmt(v, 0) if v is not None else "" for v in pct] + [fmt(at4, 1), ""])
            extra.append(("TEXTCOLOR", (0, len(rows) - 1), (-1, len(rows) - 1), colors.Color(0.25, 0.25, 0.25)))
            extra.append(("FONT", (1, len(rows) - 1), (-1, len(rows) - 1), "Helvetica-Oblique", 7.5))
            extra.append(("LINEABOVE", (0, len(rows) - 1), (-1, len(rows) - 1), 0.2, colors.Color(0.8, 0.8, 0.8)))
    widths = [38 * mm, 12 * mm, 12 * mm, 11 * mm] + [8.2 * mm] * 10 + [12 * mm, 12 * mm]
    out.append(_table(rows, widths, extra))
    gcse = [r for r in subjects if r.get("gcse") and r.get("grade_4_or_above") is not None]
    gcse = sorted(gcse, key=lambda r: (-r["entries"], r["subject"]))[:14]
    if gcse:
        others = []
        for r in gcse:
            other = (cmp_subjects.get(r["subject"]) or {}).get("all_schools") or {}
            pct = [_grade_percent(other.get("grade_percent") or {}, g, _awards(other.get("grade_percent") or {}))
                   for g in ("9", "8", "7", "6", "5", "4")]
            others.append(sum(v for v in pct if v is not None) if other else None)
        out.append(Spacer(1, 3 * mm))
        out.append(bar_chart([r["subject"] for r in gcse], [r["grade_4_or_above"] for r in gcse], others,
                             title="Grade 4 or above (% of results), largest GCSE entries", value_max=100))
    return out


def _awards(counts: Mapping[str, float]) -> float:
    return sum(n * (2 if len(g) == 2 and g.isdigit() else 1) for g, n in counts.items()) or 0


def _grade_percent(counts: Mapping[str, float], grade: str, awards: float) -> float | None:
    """Percent of awards at ``grade``; a Combined Science pair "65" is one award at 6 and one at 5."""
    if not awards:
        return None
    total = 0.0
    for g, n in counts.items():
        if len(g) == 2 and g.isdigit():
            total += n * ((g[0] == grade) + (g[1] == grade))
        elif g == grade:
            total += n
    return 100.0 * total / awards


def _ks5_subjects(report: Mapping[str, Any]) -> list[Any]:
    subjects = report.get("subjects") or []
    if not subjects:
        return []
    cmp_subjects = (report.get("comparisons") or {}).get("subjects") or {}
    out: list[Any] = [CondPageBreak(60 * mm), Paragraph("Subjects", H2),
                      Paragraph("Cumulative percentage of entries at each grade or above (U counted in the total). "
                                "Second line: all schools of the collection; third line, where held: published "
                                "national figures (JCQ, England).", SMALL)]
    rows = [["Subject", "Entries", "APS", "Grade"] + ["A*" if g == "*" else f"A*-{g}" for g in KS5_GRADES]]
    extra = []
    for row in subjects:
        rows.append([Paragraph(_esc(row["subject"]), CELL), fmt(row["entries"], 0), fmt(row["aps_per_entry"], 2),
                     row.get("aps_grade") or ""] + [fmt(row["cumulative"].get(g), 1) for g in KS5_GRADES])
        cmp_ = cmp_subjects.get(row["subject"]) or {}
        other = cmp_.get("all_schools") or {}
        if other:
            pct = other.get("grade_percent") or {}
            running, cumulative = 0.0, []
            for g in KS5_GRADES:
                running += pct.get(g, 0.0)
                cumulative.append(running)
            aps = sum(pct.get(g, 0.0) * p for g, p in zip(KS5_GRADES, (60, 50, 40, 30, 20, 10))) / 100
            rows.append([Paragraph("<i>all schools</i>", CELL), fmt(other.get("entries"), 0), fmt(aps, 2), ""]
                        + [fmt(v, 1) for v in cumulative])
            extra.append(("FONT", (1, len(rows) - 1), (-1, len(rows) - 1), "Helvetica-Oblique", 7.5))
        nat = cmp_.get("national") or {}
        if nat:
            rows.append([Paragraph("<i>national (JCQ)</i>", CELL), "", "", ""]
                        + [fmt((nat.get(f"cumulative_{g}") or {}).get("value"), 1) for g in KS5_GRADES])
            extra.append(("FONT", (1, len(rows) - 1), (-1, len(rows) - 1), "Helvetica-Oblique", 7.5))
    out.append(_table(rows, [46 * mm, 13 * mm, 13 * mm, 12 * mm] + [15 * mm] * 6, extra))
    ranked = sorted(subjects, key=lambda r: (-r["entries"], r["subject"]))[:14]
    others = []
    for r in ranked:
        pct = ((cmp_subjects.get(r["subject"]) or {}).get("all_schools") or {}).get("grade_percent") or {}
        others.append(sum(pct.get(g, 0.0) for g in ("*", "A", "B")) if pct else None)
    out.append(Spacer(1, 3 * mm))
    out.append(bar_chart([r["subject"] for r in ranked], [r["cumulative"].get("B") for r in ranked], others,
                         title="A*-B (% of entries), largest subjects", value_max=100))
    return out


def _groups(report: Mapping[str, Any]) -> list[Any]:
    groups = report.get("groups") or []
    if not groups:
        return []
    headline = [row for row in report.get("indicators", ()) if row.get("headline") and row["kind"] != "count"][:5]
    cmp_groups = (report.get("comparisons") or {}).get("groups") or {}
    rows = [["Group", "Pupils"] + [Paragraph(f"<b>{_esc(r['title'])}</b>", CELL) for r in headline]]
    shading = []
    for g in groups:
        if g.get("suppressed"):
            rows.append([g["label"], fmt(g["pupils"], 0)] + ["fewer than 6 pupils: not shown"] + [""] * (len(headline) - 1))
            shading.append(("SPAN", (2, len(rows) - 1), (-1, len(rows) - 1)))
            shading.append(("ALIGN", (2, len(rows) - 1), (-1, len(rows) - 1), "CENTER"))
            continue
        cells = [g["label"], fmt(g["pupils"], 0)]
        comparison = cmp_groups.get(f"{g['group']}:{g['value']}") or {}
        for col, r in enumerate(headline, start=2):
            value = (g.get("measures") or {}).get(r["key"])
            cmp_ = comparison.get(r["key"]) or {}
            mark = {"above": " (+)", "below": " (-)"}.get(cmp_.get("significance"), "")
            cells.append(fmt(value, r.get("decimals", 1), _is_percent(r)) + mark)
            if cmp_.get("colour"):
                shading.append(("BACKGROUND", (col, len(rows)), (col, len(rows)),
                                GREEN if cmp_["colour"] == "green" else RED))
        rows.append(cells)
    width = (170 * mm - 60 * mm) / max(len(headline), 1)
    return [CondPageBreak(50 * mm), Paragraph("Pupil groups", H2),
            Paragraph("(+) / (-): significantly above / below all schools' pupils of the same group (95%). Groups "
                      "of fewer than 6 pupils are not shown.", SMALL),
            _table(rows, [42 * mm, 18 * mm] + [width] * len(headline), shading)]


def render(report: Mapping[str, Any]) -> bytes:
    """The PDF bytes of a school's report."""
    buffer = io.BytesIO()
    school = report["school"]
    doc = SimpleDocTemplate(buffer, pagesize=A4, leftMargin=15 * mm, rightMargin=15 * mm, topMargin=14 * mm,
                            bottomMargin=14 * mm, title=f"Results summary {school['dfe']} {report['round']['id']}",
                            author="frs", subject="Early results summary", creator="frs")
    story = _intro(report) + _headlines(report)
    if report["round"]["key_stage"] == 4:
        story += _elements(report) + _ks4_subjects(report)
    else:
        story += _ks5_subjects(report) if report["round"]["key_stage"] == 5 else []
    story += _groups(report)

    def footer(canvas, doc_):
        canvas.saveState()
        canvas.setFont("Helvetica", 7)
        canvas.drawString(15 * mm, 8 * mm, f"frs · {school['dfe']} · {report['round']['id']} · rules "
                                           f"{report.get('rules_version', '')}"[:150])
        canvas.drawRightString(A4[0] - 15 * mm, 8 * mm, f"page {doc_.page}")
        canvas.restoreState()

    doc.build(story, onFirstPage=footer, onLaterPages=footer)
    return buffer.getvalue()
