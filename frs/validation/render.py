"""Ways to show a :class:`Report`: a console table, JSON, the error-list spreadsheet and an
annotated copy of the school's sheet.

Every value that came from a school's file is written to a spreadsheet as a string or number
cell, never as a formula, and the annotated copy is rebuilt from values: the upload itself is
never re-saved (it could carry links or parts the gate has not seen a reason to keep).
"""

from __future__ import annotations

import datetime as dt
import io
import json
import math
import shutil
from collections import defaultdict
from typing import Any, Sequence

from ..issues import Issue, Report, column_index, plural, visible
from ..keystage import label_column
from ..workbook.layout import LINE_HEIGHT, MAX_LINES, lines_for, print_setup

TABLE_COLUMNS = ("Row", "Column", "UPN", "Code", "Message")


def table(report: Report, width: int | None = None) -> str:
    """A plain-text table (row, column, UPN, code, message) with a summary line."""
    lines = []
    if report.issues:
        rows = [(str(i.row or ""), i.column or "", i.upn or "", _code(i), i.message) for i in report.issues]
        widths = [max(len(h), *(len(r[k]) for r in rows)) for k, h in enumerate(TABLE_COLUMNS[:-1])]
        width = width or shutil.get_terminal_size((120, 20)).columns
        head = "  ".join(h.ljust(w) for h, w in zip(TABLE_COLUMNS, widths)) + "  " + TABLE_COLUMNS[-1]
        lines += [head, "-" * min(len(head) + 40, width)]
        for r in rows:
            lines.append("  ".join(v.ljust(w) for v, w in zip(r, widths)) + "  " + r[-1])
        lines.append("")
    lines.append(summary(report))
    return "\n".join(lines)


def _code(issue: Issue) -> str:
    return issue.code if issue.is_error else f"{issue.code} (warning)"


def summary(report: Report) -> str:
    what = report.filename or "The file"
    errors, warnings = len(report.errors), len(report.warnings)
    pupils = plural(report.pupils, "pupil")
    if errors:
        return (f"{what}: {plural(errors, 'error')} and {plural(warnings, 'warning')} ({pupils}). "
                "Fix the errors and upload again.")
    if warnings:
        return f"{what} is valid ({pupils}), with {plural(warnings, 'warning')} to check."
    return f"{what} is valid ({pupils}): no errors."


def to_json(report: Report) -> str:
    return json.dumps(report.to_dict(), indent=2, default=str)


ERROR_LIST_HEADERS = ("Severity", "Sheet", "Row", "Column", "Column header", "UPN", "Value", "Code", "Message")


ERROR_LIST_WIDTHS = (9, 10, 6, 8, 22, 15, 16, 30, 90)
ERROR_LIST_WRAPPED = (4, 8)  # column header and message: wrapped, and the row made tall enough


def errors_xlsx(report: Report) -> bytes:
    """The downloadable error list: one row per issue, filterable, readable on paper too."""
    out = io.BytesIO()
    import xlsxwriter  # only when a workbook is written: `frs validate` without one starts faster

    book = xlsxwriter.Workbook(out, {"in_memory": True, "strings_to_formulas": False, "strings_to_urls": False})
    bold = book.add_format({"bold": True, "bg_color": "#DDEBF7", "border": 1, "text_wrap": True, "valign": "top"})
    wrap = book.add_format({"text_wrap": True, "valign": "top"})
    top = book.add_format({"valign": "top"})
    sheet = book.add_worksheet("Errors")
    sheet.write_string(0, 0, summary(report))
    for c, header in enumerate(ERROR_LIST_HEADERS):
        sheet.write_string(2, c, header, bold)
    for r, issue in enumerate(report.issues, 3):
        values = (issue.severity.capitalize(), issue.sheet, issue.row, issue.column, issue.header,
                  issue.upn, issue.value, issue.code, issue.message)
        for c, value in enumerate(values):
            if isinstance(value, int):
                sheet.write_number(r, c, value, top)
            elif value:
                sheet.write_string(r, c, str(value), wrap if c in ERROR_LIST_WRAPPED else top)
        lines = max(lines_for(str(values[c] or ""), ERROR_LIST_WIDTHS[c]) for c in ERROR_LIST_WRAPPED)
        if lines > 1:
            sheet.set_row(r, LINE_HEIGHT * min(lines, MAX_LINES))
    for c, w in enumerate(ERROR_LIST_WIDTHS):
        sheet.set_column(c, c, w)
    sheet.freeze_panes(3, 0)
    if report.issues:
        sheet.autofilter(2, 0, 2 + len(report.issues), len(ERROR_LIST_HEADERS) - 1)
    print_setup(sheet, (2, 2))
    book.close()
    return out.getvalue()


HEADER_FILL = "#D9E1F2"  # the template's header fill


def annotated_xlsx(rows: list[list[Any]], report: Report, sheet_name: str, freeze_rows: int = 0,
                   columns: Sequence[Any] | None = None) -> bytes:
    """A copy of the school's sheet (values only) with each bad cell highlighted and commented,
    plus an "Issues" sheet that links to every cell.

    ``freeze_rows`` header rows (the last one the column headers) keep the template's styling;
    ``columns`` (the template's :class:`~frs.keystage.Column` list) gives the template's widths."""
    out = io.BytesIO()
    import xlsxwriter  # only when a workbook is written: `frs validate` without one starts faster

    book = xlsxwriter.Workbook(out, {"in_memory": True, "strings_to_formulas": False, "strings_to_urls": False})
    error_fmt = book.add_format({"bg_color": "#FFC7CE", "font_color": "#9C0006", "border": 1})
    warn_fmt = book.add_format({"bg_color": "#FFEB9C", "font_color": "#9C5700", "border": 1})
    date_fmt = book.add_format({"num_format": "dd/mm/yyyy"})
    header = _HeaderStyles(book, freeze_rows, columns)
    by_cell: dict[tuple[int, int], list[Issue]] = defaultdict(list)
    for issue in report.issues:
        if issue.row and issue.column and (issue.sheet in (None, sheet_name)):
            by_cell[(issue.row - 1, column_index(issue.column))].append(issue)

    sheet = book.add_worksheet(sheet_name)
    for r, line in enumerate(rows):
        for c, value in enumerate(line):
            found = by_cell.get((r, c))
            fmt = (error_fmt if any(i.is_error for i in found) else warn_fmt) if found else header.format(r, c)
            _write_value(sheet, r, c, value, fmt, date_fmt)
    widths = [float(c.width) for c in columns or []]
    widths += _widths(rows)[len(widths):]
    for c, width in enumerate(widths):
        sheet.set_column(c, c, width)
    for r in range(min(freeze_rows, len(rows))):
        # wrapped header texts need their rows' height, as in the template (at most 6 lines)
        lines = max([lines_for(_text(v), widths[c]) for c, v in enumerate(rows[r])
                     if c < len(widths) and header.wraps(r, c)] or [1])
        if lines > 1:
            sheet.set_row(r, LINE_HEIGHT * min(lines, 6))
    if freeze_rows:
        sheet.freeze_panes(freeze_rows, 0)  # the header rows stay in view, as in the template
    for (r, c), found in by_cell.items():
        if r >= len(rows) or c >= len(rows[r]):
            _write_value(sheet, r, c, "", error_fmt if any(i.is_error for i in found) else warn_fmt, date_fmt)
        text = "\n".join(f"{i.severity.upper()} {i.code}: {i.message}" for i in found)
        sheet.write_comment(r, c, text, {"x_scale": 3, "y_scale": 2})
    print_setup(sheet, (0, freeze_rows - 1) if freeze_rows else None)

    issues = book.add_worksheet("Issues")
    bold = book.add_format({"bold": True, "bg_color": HEADER_FILL, "border": 1})
    wrap = book.add_format({"text_wrap": True, "valign": "top"})
    top = book.add_format({"valign": "top"})
    issue_widths = (16, 16, 16, 16, 100)
    for c, title in enumerate(("Cell", "Severity", "UPN", "Code", "Message")):
        issues.write_string(0, c, title, bold)
    for r, issue in enumerate(report.issues, 1):
        if issue.row and issue.column:
            ref = f"{issue.column}{issue.row}"
            issues.write_url(r, 0, f"internal:'{sheet_name}'!{ref}", string=ref)
        issues.write_string(r, 1, issue.severity, top)
        issues.write_string(r, 2, issue.upn or "", top)
        issues.write_string(r, 3, issue.code, top)
        issues.write_string(r, 4, issue.message, wrap)
        lines = lines_for(issue.message, issue_widths[4])
        if lines > 1:
            issues.set_row(r, LINE_HEIGHT * min(lines, MAX_LINES))
    for c, width in enumerate(issue_widths):
        issues.set_column(c, c, width)
    issues.freeze_panes(1, 0)
    print_setup(issues, (0, 0))
    book.close()
    return out.getvalue()


class _HeaderStyles:
    """The template's look for the header rows of the annotated copy: the version tag bold, the
    header-row labels bold on the right, the values centred and wrapped on the header fill, the
    column headers bold and wrapped with a border."""

    def __init__(self, book, header_rows: int, columns: Sequence[Any] | None):
        self.header_rows = header_rows
        self.label_col = label_column(columns) if columns else -1
        add = book.add_format
        self.tag = add({"bold": True})
        self.label = add({"bold": True, "align": "right", "bg_color": HEADER_FILL})
        self.value = add({"align": "center", "text_wrap": True, "valign": "top", "bg_color": HEADER_FILL})
        self.column_header = add({"bold": True, "text_wrap": True, "valign": "top", "bg_color": HEADER_FILL,
                                  "border": 1})

    def wraps(self, r: int, c: int) -> bool:
        return self.format(r, c) in (self.value, self.column_header)

    def format(self, r: int, c: int):
        if r >= self.header_rows:
            return None
        if r == self.header_rows - 1:
            return self.column_header
        if r == 0 and c <= 1:
            return self.tag if c == 0 else None  # A1 the version tag, B1 the template date
        return self.label if c == self.label_col else self.value


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def _widths(rows: list[list[Any]], sample: int = 300) -> list[float]:
    """Column widths that show the values (as Excel's autofit would, from the first rows)."""
    widths: list[float] = []
    for line in rows[:sample]:
        for c, value in enumerate(line):
            if c >= len(widths):
                widths.append(6.0)
            text = value if isinstance(value, str) else ("" if value in ("", None) else str(value))
            widths[c] = max(widths[c], min(len(text) * 1.1 + 2, 40.0))
    return widths


def _write_value(sheet, r: int, c: int, value: Any, fmt, date_fmt) -> None:
    if isinstance(value, bool):
        sheet.write_boolean(r, c, value, fmt)
    elif isinstance(value, (int, float)) and math.isfinite(value) and abs(value) < 2 ** 63:
        sheet.write_number(r, c, value, fmt)
    elif isinstance(value, (int, float)):  # xlsx cannot hold NaN or infinity: show it as text
        sheet.write_string(r, c, str(value), fmt)
    elif isinstance(value, (dt.datetime, dt.date)):
        sheet.write_datetime(r, c, value if isinstance(value, dt.datetime) else
                             dt.datetime.combine(value, dt.time()), fmt or date_fmt)
    elif value is None or value == "":
        if fmt is not None:
            sheet.write_blank(r, c, None, fmt)
    else:
        # control characters cannot be stored in xlsx XML: show them, never write them
        text = visible(str(value))
        sheet.write_string(r, c, text, fmt)
