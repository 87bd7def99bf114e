"""The early PDF summary of a school's results (reportlab).

Made from the report dict of :func:`frs.analysis.service.school_report` (a stored result with its
comparisons), so the PDF, the JSON and the dashboards show the same numbers.

Readable in black and white: significance is written in words ("Sig. above" / "Sig. below"),
the light green / red shading only repeats it; chart bars are solid black (the school) against
white with a black outline (all schools), with the values printed on them.
"""

from __future__ import annotations

import functools
import io
from typing import Any, Mapping, NamedTuple, Sequence

from reportlab import rl_config
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.rl_accel import escapePDF, fp_str
from reportlab.lib.units import mm
from reportlab.lib.utils import simpleSplit
from reportlab.pdfbase import pdfmetrics
from reportlab.platypus import CondPageBreak, Flowable, KeepTogether, SimpleDocTemplate, Spacer

rl_config.invariant = 1  # no creation date or random id: the same report gives the same bytes
rl_config.shapeChecking = 0  # attribute checks cost a third of the time; our drawing is fixed

GREEN = colors.Color(0.80, 0.93, 0.80)
RED = colors.Color(0.98, 0.82, 0.82)
GRID = colors.Color(0.55, 0.55, 0.55)
HEAD = colors.Color(0.90, 0.90, 0.90)
DARK = colors.Color(0.3, 0.3, 0.3)
SCHOOL_FILL = colors.black
OTHER_FILL = colors.white
KS4_GRADES = ("9", "8", "7", "6", "5", "4", "3", "2", "1", "U")
KS5_GRADES = ("*", "A", "B", "C", "D", "E")
GRADE_LABEL = {"*": "A*"}

# widths of the same few strings ("12", "–", the headings) are asked for thousands of times
_width = functools.lru_cache(maxsize=4096)(pdfmetrics.stringWidth)
# a PDF number (reportlab's fp_str costs microseconds a call); cells of a column, and of a row, share their x, y
_number = functools.lru_cache(maxsize=8192)(fp_str)


@functools.lru_cache(maxsize=1024)
def _split(text: str, font: str, size: float, width: float) -> tuple[str, ...]:
    """``text`` wrapped to ``width``; the notes and subject names come back in every school's PDF."""
    return tuple(simpleSplit(text, font, size, width)) or ("",)


class Style(NamedTuple):
    font: str
    size: float
    leading: float
    space_before: float = 0.0
    space_after: float = 0.0
    grey: bool = False


TITLE = Style("Helvetica-Bold", 17, 21, 0, 2 * mm)
H2 = Style("Helvetica-Bold", 12.5, 15, 4 * mm, 1.5 * mm)
BODY = Style("Helvetica", 8.8, 11, 0, 1 * mm)
BODY_BOLD = Style("Helvetica-Bold", 8.8, 11, 0, 1 * mm)
SMALL = Style("Helvetica", 7.5, 9.2, 0, 0.8 * mm, grey=True)


class Text(Flowable):
    """Plain wrapped text (platypus paragraphs parse markup and cost ten times more per line)."""

    def __init__(self, text: str, style: Style):
        super().__init__()
        self.text, self.style = text, style
        self.spaceBefore, self.spaceAfter = style.space_before, style.space_after

    def wrap(self, available_width, available_height):
        self.lines = _split(self.text, self.style.font, self.style.size, available_width)
        self.width, self.height = available_width, len(self.lines) * self.style.leading
        return self.width, self.height

    def draw(self):
        lettering = Lettering(self.canv)
        lettering.look(self.style.font, self.style.size, DARK if self.style.grey else colors.black)
        y = self.height - self.style.size * 0.95
        for line in self.lines:
            lettering.show(0, y, line)
            y -= self.style.leading
        lettering.flush()


def Paragraph(text: str, style: Style) -> Text:  # noqa: N802  (reads like the platypus call it replaces)
    return Text(text, style)



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


def _sig_fill(colour: str | None):
    return {"green": GREEN, "red": RED}.get(colour or "")


# --------------------------------------------------------------------------- drawing


class Lettering:
    """Text put on the canvas as literal PDF text operators (``canvas.addLiteral``, documented as
    low level): through reportlab's text objects, positioning and encoding each of a thousand table
    cells a page cost a third of the PDF. Font and colour are set through the canvas (text state
    persists from one text object to the next); nothing else may be drawn between ``look`` and
    ``flush``, which could change the fill colour."""

    def __init__(self, canvas):
        self.canvas, self.current, self.shown = canvas, None, []

    def look(self, font: str, size: float, colour) -> None:
        if (font, size, colour) != self.current:
            self.flush()
            self.canvas.setFont(font, size)
            self.canvas.setFillColor(colour)
            self.current = (font, size, colour)

    def show(self, x: float, y: float, text: str, align: str = "left") -> None:
        """``text`` on the baseline ``y``; ``x`` is where it starts, centres ("center") or ends ("right")."""
        font, size, _ = self.current
        if align != "left":
            x -= _width(text, font, size) / (1 if align == "right" else 2)
        operator = _show_operator(text, font)
        if operator:
            self.shown.append(f"1 0 0 1 {_number(x)} {_number(y)} Tm {operator}")
        else:  # a character outside the font's encoding: reportlab swaps in a symbol font
            self.canvas.drawString(x, y, text)

    def flush(self) -> None:
        if self.shown:
            self.canvas.addLiteral(f"BT {' '.join(self.shown)} ET")
            self.shown.clear()


@functools.lru_cache(maxsize=4096)
def _show_operator(text: str, font: str) -> str | None:
    """The PDF operator showing ``text`` in a standard font; None if it needs a substitute font."""
    face = pdfmetrics.getFont(font)
    pieces = pdfmetrics.unicode2T1(text, [face] + face.substitutionFonts)
    if len(pieces) != 1 or pieces[0][0] is not face:
        return None
    return f"({escapePDF(pieces[0][1])}) Tj"


class Cell:
    """A table cell: text with its look. Plain strings become right-aligned normal cells."""

    __slots__ = ("text", "bold", "italic", "fill", "align", "span", "grey")

    def __init__(self, text: Any, *, bold: bool = False, italic: bool = False, fill=None, align: str | None = None,
                 span: int = 1, grey: bool = False):
        self.text, self.bold, self.italic, self.fill = "" if text is None else str(text), bold, italic, fill
        self.align, self.span, self.grey = align, span, grey


PLAIN = Cell("")  # the look of a plain value in a grid


class _Row(NamedTuple):
    """A grid row measured once, relative to its top edge (a split reuses it)."""
    italic: bool  # its first cell is: an "all schools" line, kept with its subject
    height: float
    fills: list[tuple[float, float, Any]]  # (x, width, colour)
    rules: list[float]  # x of each vertical rule, the outer edges included
    texts: list[tuple[tuple[str, float, Any], float, float, str, str]]  # (look, x, y below the top, line, align)


class Grid(Flowable):
    """A ruled table drawn straight onto the canvas: platypus tables are several times slower, and
    every school of a national collection gets its PDF. The first column and the header wrap."""

    def __init__(self, rows: Sequence[Sequence[Any]], widths: Sequence[float], *, header_rows: int = 1,
                 font_size: float = 8.0):
        super().__init__()
        self.widths = list(widths)
        self.edges = [0.0]  # x of each column's left edge, and the right edge of the table
        for width in self.widths:
            self.edges.append(self.edges[-1] + width)
        self.header_rows = header_rows
        self.font_size = font_size
        self.leading = font_size * 1.2
        self.pad = 2.2
        self.rows = [self._measure(row, i < header_rows) for i, row in enumerate(rows)]

    @staticmethod
    def _font(cell: Cell, header: bool) -> str:
        if header or cell.bold:
            return "Helvetica-BoldOblique" if cell.italic else "Helvetica-Bold"
        return "Helvetica-Oblique" if cell.italic else "Helvetica"

    def _measure(self, cells: Sequence[Any], header: bool) -> _Row:
        size, pad, edges, columns = self.font_size, self.pad, self.edges, len(self.widths)
        baseline = pad + size * 0.92
        fills = [(0.0, edges[-1], HEAD)] if header else []
        rules, texts = [0.0, edges[-1]], []
        col, lines_max = 0, 1
        while col < len(cells):
            cell = cells[col]
            if isinstance(cell, Cell):
                text = cell.text
            else:
                text, cell = "" if cell is None else str(cell), PLAIN
            span = max(1, min(cell.span, columns - col))
            x, width = edges[col], edges[col + span] - edges[col]
            if cell.fill is not None:
                fills.append((x, width, cell.fill))
            if col > 0:
                rules.append(x)
            if text:
                font = self._font(cell, header)
                look = (font, size, DARK if cell.grey else colors.black)
                lines: Sequence[str] = (text,)
                if (col == 0 or header) and _width(text, font, size) > width - 2 * pad:
                    lines = _split(text, font, size, width - 2 * pad)
                    lines_max = max(lines_max, len(lines))
                align = cell.align or ("left" if col == 0 else "center" if span > 1 else "right")
                anchor = x + pad if align == "left" else x + width / 2 if align == "center" else x + width - pad
                for number, line in enumerate(lines):
                    texts.append((look, anchor, baseline + number * self.leading, line, align))
            col += span
        italic = isinstance(cells[0], Cell) and cells[0].italic
        return _Row(italic, lines_max * self.leading + 2 * pad, fills, rules, texts)

    def _part(self, rows: list[_Row]) -> Grid:
        part = Grid([], self.widths, header_rows=self.header_rows, font_size=self.font_size)  # measures nothing
        part.rows = rows
        return part

    def wrap(self, available_width, available_height):
        self.width = self.edges[-1]
        self.height = sum(row.height for row in self.rows)
        return self.width, self.height

    def split(self, available_width, available_height):
        used, cut = sum(row.height for row in self.rows[:self.header_rows]), self.header_rows
        while cut < len(self.rows) and used + self.rows[cut].height <= available_height:
            used += self.rows[cut].height
            cut += 1
        if cut <= self.header_rows or cut >= len(self.rows):
            return []
        # keep a subject's "all schools" line with its subject
        while cut > self.header_rows + 1 and self.rows[cut].italic:
            cut -= 1
        return [self._part(self.rows[:cut]), self._part(self.rows[:self.header_rows] + self.rows[cut:])]

    def draw(self):
        # fills first, then every rule in one path (a rule runs unbroken down the rows it divides), then the text
        c = self.canv
        tops, y = [], self.height
        for row in self.rows:
            tops.append(y)
            y -= row.height
            for x, width, colour in row.fills:
                c.setFillColor(colour)
                c.rect(x, y, width, row.height, stroke=0, fill=1)
        runs: dict[float, list[list[float]]] = {}
        rules = [(0, self.height, self.width, self.height)]
        for row, top in zip(self.rows, tops):
            bottom = top - row.height
            rules.append((0, bottom, self.width, bottom))
            for x in row.rules:
                segments = runs.setdefault(x, [])
                if segments and segments[-1][0] == top:
                    segments[-1][0] = bottom
                else:
                    segments.append([bottom, top])
        rules += [(x, bottom, x, top) for x, segments in runs.items() for bottom, top in segments]
        c.setLineWidth(0.4)
        c.setStrokeColor(GRID)
        c.lines(rules)
        lettering = Lettering(c)
        for row, top in zip(self.rows, tops):
            for look, x, below, line, align in row.texts:
                lettering.look(*look)
                lettering.show(x, top - below, line, align)
        lettering.flush()


class Bars(Flowable):
    """Horizontal pairs of bars: the school (solid black) above the comparison (white, outlined),
    each with its value printed, so the chart reads the same in black and white."""

    def __init__(self, labels: Sequence[str], school: Sequence[float | None], others: Sequence[float | None], *,
                 title: str, value_max: float | None = None, decimals: int = 1, other_label: str = "All schools",
                 width: float = 175 * mm, label_width: float = 38 * mm):
        super().__init__()
        self.labels, self.school, self.others = list(labels), list(school), list(others)
        self.title, self.decimals, self.other_label = title, decimals, other_label
        self.value_max = value_max or max([v or 0 for v in self.school + self.others] + [1]) * 1.12
        self.chart_width, self.label_width = width, label_width
        self.bar = 7.0
        self.group = 2 * self.bar + 4.0

    def wrap(self, available_width, available_height):
        self.width = self.chart_width
        self.height = 32 + len(self.labels) * self.group + 12
        return self.width, self.height

    def draw(self):
        # the shapes, then all the text (nothing overlaps, so the order does not show)
        c = self.canv
        top = self.height
        legend_x = self.label_width  # the legend has its own line under the title
        c.setLineWidth(0.6)
        c.setStrokeColor(colors.black)
        for offset, fill in enumerate((SCHOOL_FILL, OTHER_FILL)):
            c.setFillColor(fill)
            c.rect(legend_x + offset * 78, top - 21, 9, 6, stroke=1, fill=1)
        x0 = self.label_width
        plot = self.width - x0 - 28
        y_top = top - 28
        y_bottom = y_top - len(self.labels) * self.group
        scale = plot / self.value_max
        step = _step(self.value_max)
        ticks, tick = [], 0.0
        while tick <= self.value_max + 1e-9:
            ticks.append(tick)
            tick += step
        c.setLineWidth(0.4)
        c.setStrokeColor(colors.Color(0.85, 0.85, 0.85))
        c.lines([(x0 + tick * scale, y_bottom, x0 + tick * scale, y_top) for tick in ticks])
        c.setStrokeColor(colors.black)
        c.line(x0, y_bottom, x0, y_top)
        c.setLineWidth(0.6)
        labels, values = [], []  # (y, label), (x, y, value)
        y = y_top - 2
        for label, mine, other in zip(self.labels, self.school, self.others):
            labels.append((y - self.bar - 2.5, label[:32]))
            for value, fill in ((mine, SCHOOL_FILL), (other, OTHER_FILL)):
                y -= self.bar
                if value is not None:
                    c.setFillColor(fill)
                    c.rect(x0, y, max(value * scale, 0.5), self.bar, stroke=1, fill=1)
                    values.append((x0 + max(value * scale, 0.5) + 2, y + 1.6, f"{value:.{self.decimals}f}"))
            y -= self.group - 2 * self.bar
        lettering = Lettering(c)
        lettering.look("Helvetica-Bold", 8.5, colors.black)
        lettering.show(0, top - 9, self.title)
        lettering.look("Helvetica", 7.5, colors.black)
        for offset, label in enumerate(("This school", self.other_label)):
            lettering.show(legend_x + offset * 78 + 12, top - 20.5, label)
        for y, label in labels:
            lettering.show(x0 - 3, y, label, "right")
        lettering.look("Helvetica", 6.5, colors.black)
        for tick in ticks:
            lettering.show(x0 + tick * scale, y_bottom - 8, f"{tick:g}", "center")
        lettering.look("Helvetica", 6.3, colors.black)
        for x, y, value in values:
            lettering.show(x, y, value)
        lettering.flush()


def _step(top: float) -> float:
    for step in (0.5, 1, 2, 5, 10, 20, 25, 50, 100, 200, 500, 1000):
        if top / step <= 6:
            return float(step)
    return top / 5


# --------------------------------------------------------------------------- sections


def _intro(report: Mapping[str, Any]) -> list[Any]:
    school, rnd = report["school"], report["round"]
    comparisons = report.get("comparisons") or {}
    stage = {4: "Key stage 4", 5: "Key stage 5 (A level)"}.get(rnd["key_stage"], f"Key stage {rnd['key_stage']}")
    out = [Paragraph(f"{stage} results {rnd['year']}: early summary", TITLE),
           Paragraph(f"{school.get('name') or ''} (DfE {school['dfe']})  ·  round {rnd['id']}  ·  collection "
                     f"{report.get('collection_id')}", BODY_BOLD)]
    count = comparisons.get("all_schools_count") or 0
    notes = [f"“All schools” are the {fmt(count, 0)} school{'' if count == 1 else 's'} of this collection "
             f"({fmt(comparisons.get('all_schools_pupils'), 0)} pupils). ",
             "“Sig. above” / “Sig. below”: the school's 95% confidence interval lies wholly above / below the "
             "all-schools figure (also shaded green / red); otherwise not significantly different. "]
    if rnd["key_stage"] == 4 and rnd["year"] in (2020, 2021):
        notes.append(f"{rnd['year']} grades were teacher assessed (exams cancelled). ")
    out.append(Paragraph("".join(notes), SMALL))
    if report.get("excluded"):
        out.append(Paragraph(f"What if: {len(report['excluded'])} pupil(s) left out.", SMALL))
    return out


def _headlines(report: Mapping[str, Any]) -> list[Any]:
    comparisons = report.get("comparisons") or {}
    all_schools, national = comparisons.get("all_schools") or {}, comparisons.get("national") or {}
    rows: list[list[Any]] = [["Measure", "School", "All schools", "Percentile", "95% CI", "vs all schools",
                              "National"]]
    sources: dict[str, int] = {}
    for row in report.get("indicators", ()):
        if not row.get("headline"):
            continue
        key, decimals, pct = row["key"], row.get("decimals", 1), _is_percent(row)
        value = report["measures"].get(key)
        cmp_ = all_schools.get(key) or {}
        pub = national.get(key)
        if pub:
            sources.setdefault(pub["source"], len(sources) + 1)
        count = row["kind"] == "count"
        ci = (f"{fmt(cmp_.get('ci_low'), decimals)} to {fmt(cmp_.get('ci_high'), decimals)}"
              if cmp_.get("ci_low") is not None else "–")
        colour = cmp_.get("colour")
        rows.append([row["title"], fmt(value, 0 if count else decimals, pct), fmt(cmp_.get("mean"), decimals, pct),
                     fmt(cmp_.get("percentile_rank"), 0), "–" if count else ci,
                     Cell("–" if count else _sig_words(cmp_.get("significance")), fill=_sig_fill(colour),
                          bold=bool(colour)),
                     (fmt(pub["value"], decimals, pub["unit"] == "percent") + f" [{sources[pub['source']]}]")
                     if pub else "–"])
    out: list[Any] = [Paragraph("Headlines", H2),
                      Grid(rows, [56 * mm, 17 * mm, 19 * mm, 16 * mm, 25 * mm, 21 * mm, 24 * mm])]
    p8 = report.get("progress8")
    if isinstance(p8, Mapping):
        if p8.get("calculated"):
            text = (f"Progress 8 (estimate): {fmt(p8.get('value'), 2)} over {p8.get('pupils')} pupils with KS2 data; "
                    f"{p8.get('pupils_without_ks2')} without. Estimates: {p8.get('source', '')}.")
        else:
            text = f"Progress 8: not calculated. {p8.get('reason', '')}"
        out += [Spacer(1, 1.5 * mm), Paragraph(text, BODY)]
    for source, number in sources.items():
        out.append(Paragraph(f"[{number}] National: {source}", SMALL))
    return out


ELEMENTS = (("attainment8_english", "English"), ("attainment8_maths", "Maths"), ("attainment8_ebacc", "EBacc"),
            ("attainment8_open", "Open"), ("attainment8_open_gcse", "Open: GCSEs"),
            ("attainment8_open_nongcse", "Open: other qualifications"))


def _elements(report: Mapping[str, Any]) -> list[Any]:
    all_schools = (report.get("comparisons") or {}).get("all_schools") or {}
    present = [(k, t) for k, t in ELEMENTS if k in report["measures"]]
    if not present:
        return []
    chart = Bars([t for _, t in present], [report["measures"].get(k) for k, _ in present],
                 [(all_schools.get(k) or {}).get("mean") for k, _ in present],
                 title="Attainment 8 by element (mean points per pupil; English and maths double-weighted)",
                 decimals=2)
    rows: list[list[Any]] = [["Element", "School", "All schools", "vs all schools"]]
    for key, title in present + [("ebacc_slots_filled", "EBacc slots filled (of 3)"),
                                 ("open_slots_filled", "Open slots filled (of 3)")]:
        cmp_ = all_schools.get(key) or {}
        rows.append([title, fmt(report["measures"].get(key), 2), fmt(cmp_.get("mean"), 2),
                     Cell(_sig_words(cmp_.get("significance")), fill=_sig_fill(cmp_.get("colour")),
                          bold=bool(cmp_.get("colour")))])
    return [KeepTogether([Paragraph("Attainment 8 elements", H2), chart, Spacer(1, 2 * mm),
                          Grid(rows, [56 * mm, 22 * mm, 22 * mm, 24 * mm])])]


def _grade_percents(counts: Mapping[str, float], grades: Sequence[str]) -> list[float | None]:
    """Percent of awards at each of ``grades``; a Combined Science pair "65" is one award at 6 and one at 5."""
    at, awards = dict.fromkeys(grades, 0.0), 0
    for g, n in counts.items():
        halves = g if len(g) == 2 and g.isdigit() else (g,)
        awards += n * len(halves)
        for grade in set(halves):
            if grade in at:
                at[grade] += n * halves.count(grade)
    if not awards:
        return [None] * len(grades)
    return [100.0 * at[grade] / awards for grade in grades]


def _ks4_subjects(report: Mapping[str, Any]) -> list[Any]:
    subjects = report.get("subjects") or []
    if not subjects:
        return []
    cmp_subjects = (report.get("comparisons") or {}).get("subjects") or {}
    out: list[Any] = [CondPageBreak(60 * mm), Paragraph("Subjects", H2),
                      Paragraph("Entries, average points, residual and the percentage of results at each grade "
                                "(Combined Science per award). The italic line under each GCSE is all schools of "
                                "the collection. Residual: mean points in the subject minus the same pupils' mean "
                                "over all their subjects. Nat. 4+: JCQ England, where published.", SMALL),
                      Spacer(1, 1.5 * mm)]
    rows: list[list[Any]] = [["Subject", "Entries", "Avg pts", "Resid."] + list(KS4_GRADES) + ["4+ %", "Nat. 4+"]]
    for row in subjects:
        counts = row.get("grade_counts") or {}
        cmp_ = cmp_subjects.get(row["subject"]) or {}
        national_4 = ((cmp_.get("national") or {}).get("grade_4_or_above") or {}).get("value")
        if row.get("gcse"):
            grades = [fmt(v, 0) for v in _grade_percents(counts, KS4_GRADES)]
        else:
            shown = "  ".join(f"{g}: {n}" for g, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))
            grades = [Cell(shown, span=10, align="center", grey=True)] + [""] * 9
        rows.append([row["subject"], fmt(row["entries"], 0), fmt(row["average_points"], 2),
                     fmt(row.get("residual"), 2)] + grades
                    + [fmt(row.get("grade_4_or_above"), 1) if row.get("gcse") else "",
                       fmt(national_4, 1) if national_4 is not None else ""])
        other = cmp_.get("all_schools") or {}
        if other and row.get("gcse"):
            percent = other.get("grade_percent") or {}
            pct = _grade_percents(percent, KS4_GRADES)
            at4 = sum(v for g, v in zip(KS4_GRADES, pct) if g in "987654" and g != "U" and v is not None)
            rows.append([Cell("  all schools", italic=True, grey=True),
                         Cell(fmt(other.get("entries"), 0), italic=True, grey=True), "", ""]
                        + [Cell(fmt(v, 0), italic=True, grey=True) for v in pct]
                        + [Cell(fmt(at4, 1), italic=True, grey=True), ""])
    out.append(Grid(rows, [42 * mm, 12 * mm, 12 * mm, 11 * mm] + [7.6 * mm] * 10 + [11 * mm, 12 * mm]))
    gcse = sorted((r for r in subjects if r.get("gcse") and r.get("grade_4_or_above") is not None),
                  key=lambda r: (-r["entries"], r["subject"]))[:14]
    if gcse:
        others = []
        for r in gcse:
            percent = ((cmp_subjects.get(r["subject"]) or {}).get("all_schools") or {}).get("grade_percent") or {}
            pct = _grade_percents(percent, "987654")
            others.append(sum(v for v in pct if v is not None) if percent else None)
        out += [Spacer(1, 4 * mm), KeepTogether([Bars([r["subject"] for r in gcse], [r["grade_4_or_above"] for r in gcse],
                                                      others, value_max=100,
                                                      title="Grade 4 or above (% of results), largest GCSE entries")])]
    return out


def _ks5_subjects(report: Mapping[str, Any]) -> list[Any]:
    subjects = report.get("subjects") or []
    if not subjects:
        return []
    cmp_subjects = (report.get("comparisons") or {}).get("subjects") or {}
    out: list[Any] = [CondPageBreak(60 * mm), Paragraph("Subjects", H2),
                      Paragraph("Cumulative percentage of entries at each grade or above (U counted in the total). "
                                "Italic lines: all schools of the collection, then the published national figures "
                                "(JCQ, England) where held.", SMALL), Spacer(1, 1.5 * mm)]
    rows: list[list[Any]] = [["Subject", "Entries", "APS", "Grade"] + ["A*" if g == "*" else f"A*-{g}"
                                                                       for g in KS5_GRADES]]
    for row in subjects:
        rows.append([row["subject"], fmt(row["entries"], 0), fmt(row["aps_per_entry"], 2), row.get("aps_grade") or ""]
                    + [fmt(row["cumulative"].get(g), 1) for g in KS5_GRADES])
        cmp_ = cmp_subjects.get(row["subject"]) or {}
        other = cmp_.get("all_schools") or {}
        if other:
            pct = other.get("grade_percent") or {}
            running, cumulative = 0.0, []
            for g in KS5_GRADES:
                running += pct.get(g, 0.0)
                cumulative.append(running)
            aps = sum(pct.get(g, 0.0) * p for g, p in zip(KS5_GRADES, (60, 50, 40, 30, 20, 10))) / 100
            rows.append([Cell("  all schools", italic=True, grey=True),
                         Cell(fmt(other.get("entries"), 0), italic=True, grey=True),
                         Cell(fmt(aps, 2), italic=True, grey=True), ""]
                        + [Cell(fmt(v, 1), italic=True, grey=True) for v in cumulative])
        nat = cmp_.get("national") or {}
        if nat:
            rows.append([Cell("  national (JCQ)", italic=True, grey=True), "", "", ""]
                        + [Cell(fmt((nat.get(f"cumulative_{g}") or {}).get("value"), 1), italic=True, grey=True)
                           for g in KS5_GRADES])
    out.append(Grid(rows, [50 * mm, 14 * mm, 14 * mm, 12 * mm] + [14.5 * mm] * 6))
    ranked = sorted(subjects, key=lambda r: (-r["entries"], r["subject"]))[:14]
    others = []
    for r in ranked:
        pct = ((cmp_subjects.get(r["subject"]) or {}).get("all_schools") or {}).get("grade_percent") or {}
        others.append(sum(pct.get(g, 0.0) for g in ("*", "A", "B")) if pct else None)
    out += [Spacer(1, 4 * mm), KeepTogether([Bars([r["subject"] for r in ranked],
                                                  [r["cumulative"].get("B") for r in ranked], others, value_max=100,
                                                  title="A*-B (% of entries), largest subjects")])]
    return out


def _groups(report: Mapping[str, Any]) -> list[Any]:
    groups = report.get("groups") or []
    if not groups:
        return []
    headline = [row for row in report.get("indicators", ()) if row.get("headline") and row["kind"] != "count"][:5]
    cmp_groups = (report.get("comparisons") or {}).get("groups") or {}
    rows: list[list[Any]] = [["Group", "Pupils"] + [r["title"] for r in headline]]
    for g in groups:
        if g.get("suppressed"):
            rows.append([g["label"], fmt(g["pupils"], 0),
                         Cell("fewer than 6 pupils: not shown", span=len(headline), align="center", grey=True)]
                        + [""] * (len(headline) - 1))
            continue
        cells: list[Any] = [g["label"], fmt(g["pupils"], 0)]
        comparison = cmp_groups.get(f"{g['group']}:{g['value']}") or {}
        for r in headline:
            value = (g.get("measures") or {}).get(r["key"])
            cmp_ = comparison.get(r["key"]) or {}
            mark = {"above": " (+)", "below": " (-)"}.get(cmp_.get("significance") or "", "")
            cells.append(Cell(fmt(value, r.get("decimals", 1), _is_percent(r)) + mark,
                              fill=_sig_fill(cmp_.get("colour")), bold=bool(cmp_.get("colour"))))
        rows.append(cells)
    width = (178 * mm - 58 * mm) / max(len(headline), 1)
    return [CondPageBreak(45 * mm), Paragraph("Pupil groups", H2),
            Paragraph("(+) / (-): significantly above / below all schools' pupils of the same group (95% confidence; "
                      "also shaded green / red). Groups of fewer than 6 pupils are not shown.", SMALL),
            Spacer(1, 1.5 * mm), Grid(rows, [40 * mm, 18 * mm] + [width] * len(headline))]


def render(report: Mapping[str, Any]) -> bytes:
    """The PDF bytes of a school's report (see :func:`frs.analysis.service.school_report`)."""
    buffer = io.BytesIO()
    school = report["school"]
    doc = SimpleDocTemplate(buffer, pagesize=A4, leftMargin=15 * mm, rightMargin=15 * mm, topMargin=14 * mm,
                            bottomMargin=14 * mm, title=f"Results summary {school['dfe']} {report['round']['id']}",
                            author="frs", subject="Early results summary", creator="frs")
    story = _intro(report) + _headlines(report)
    if report["round"]["key_stage"] == 4:
        story += _elements(report) + _ks4_subjects(report)
    elif report["round"]["key_stage"] == 5:
        story += _ks5_subjects(report)
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
