"""Writing a key stage's template workbook with xlsxwriter, in memory.

Layout (what the validator reads back): A1 the version tag, B1 the generation date; the key
stage's header rows in Excel rows 1..n, labelled in the last kernel pupil column; the column
headers at ``keystage.column_header_row``; pupils from ``keystage.first_pupil_row``.

Safety: every value that came from a school or an MIS is written with ``write_string``, so a
name such as ``=HYPERLINK(...)`` is stored as text, never as a formula.
"""

from __future__ import annotations

import datetime as dt
import io
from typing import Any, Sequence

import xlsxwriter

from .. import clock
from ..config import Round
from ..connectors import Pupil, School
from ..core import accepted_range
from ..issues import column_letter
from ..keystage import Column, KeyStage, cell_text, label_column
from ..upn import ALPHABET
from .layout import LINE_HEIGHT, MAX_LINES, lines_for, print_setup

GUIDANCE_SHEET = "Guidance"
LISTS_SHEET = "Lists"
VALID_RESULTS_KEY = "valid_results"
SPARE_ROWS = 100          # blank rows below the cohort for pupils the school adds
MIN_DATA_ROWS = 2000      # ... and never fewer than this in all: a large sixth form enters 1,000+ pupils
MAX_INLINE_LIST = 255     # Excel's limit on an inline dropdown list ("a,b,c")

# Excel's built-in "light red fill with dark red text", which schools recognise as "wrong"
MISTAKE_STYLE = {"bg_color": "#FFC7CE", "font_color": "#9C0006"}
HEADER_FILL = "#D9E1F2"
# guidance table columns: column, header/subject, what to enter, one per extra header row (discount
# code ...), valid results, meaning of codes; a key stage with fewer header rows gets the extra width
GUIDANCE_WIDTHS = (10, 30, 60)
GUIDANCE_EXTRA_WIDTH = 18
GUIDANCE_VALID_WIDTH, GUIDANCE_MEANING_WIDTH = 24, 40
def template_filename(keystage: KeyStage, round: Round | None, school: School) -> str:
    """The file name a school receives (and, with a pattern, must upload under)."""
    year = _year(round)
    return keystage.expected_filename(year, school.dfe) or f"{year}_{keystage.code}_{school.dfe}.xlsx"


def build_template(kernel, keystage: KeyStage, school: School, round: Round | None,
                   pupils: Sequence[Pupil], *, pupils_from: str | None = None) -> bytes:
    """The template workbook for ``school`` pre-filled with ``pupils``, as xlsx bytes.
    ``pupils_from`` (e.g. ``Cohort.describe()``) tells the school on the guidance sheet which
    source filled it and when that list was taken."""
    output = io.BytesIO()
    # the string conversions are off as a second guard: nothing typed by a person becomes a formula
    book = xlsxwriter.Workbook(output, {"in_memory": True, "strings_to_formulas": False,
                                        "strings_to_numbers": False, "strings_to_urls": False})
    writer = _TemplateWriter(book, keystage, kernel.columns(keystage), school, round, pupils,
                             max_rows=kernel.config.limits.max_rows)
    writer.pupils_from = pupils_from
    writer.write()
    book.close()
    return output.getvalue()


def _year(round: Round | None) -> int:
    return round.year if round is not None else clock.today().year


# --------------------------------------------------------------------------- formulas
# Conditional-format formulas: plain functions that Excel and LibreOffice both evaluate the
# same way (no array constants, no macros). Each is TRUE when the cell holds a mistake.


def upn_mistake_formula(cell: str) -> str:
    """TRUE when ``cell`` holds a UPN that is not 13 characters or whose check letter is wrong.

    Check letter (DfE UPN guide): digits 2-12 weighted 2..12, plus 13 x character 13 (a digit,
    or a letter's position in the alphabet without I, O, S), mod 23, indexes that alphabet.
    Anything that cannot be evaluated (a letter among the digits, I/O/S) is flagged too.
    """
    text = f"TRIM({cell})"
    upper = f"UPPER({text})"
    digits = "+".join(f"VALUE(MID({text},{k},1))*{k}" for k in range(2, 13))
    char13 = f"MID({upper},13,1)"
    char13_value = f'IFERROR(VALUE({char13}),FIND({char13},"{ALPHABET}")-1)'
    expected = f'MID("{ALPHABET}",MOD({digits}+{char13_value}*13,23)+1,1)'
    return f"AND(LEN({text})>0,IFERROR(OR(LEN({text})<>13,LEFT({upper},1)<>{expected}),TRUE))"


def dob_mistake_formula(day: str, month: str, year: str, first: dt.date, last: dt.date) -> str:
    """TRUE when day/month/year are partly filled, not a real date, or outside first..last.

    DATE() rolls 31/2 over to 3 March (and reads years below 1900 as offsets), so the date
    built is compared back with what was typed.
    """
    date = f"DATE(VALUE({year}),VALUE({month}),VALUE({day}))"
    return (f"AND(LEN({day}&{month}&{year})>0,IFERROR(OR("
            f"DAY({date})<>VALUE({day}),MONTH({date})<>VALUE({month}),YEAR({date})<>VALUE({year}),"
            f"{date}<DATE({first.year},{first.month},{first.day}),"
            f"{date}>DATE({last.year},{last.month},{last.day})),TRUE))")


# --------------------------------------------------------------------------- the writer


class _TemplateWriter:
    pupils_from: str | None = None

    def __init__(self, book, keystage: KeyStage, columns: list[Column], school: School,
                 round: Round | None, pupils: Sequence[Pupil], *, max_rows: int):
        self.book, self.ks, self.columns, self.school = book, keystage, columns, school
        self.round, self.pupils = round, list(pupils)
        self.year = _year(round)
        self.index = {c.id: i for i, c in enumerate(columns)}
        self.label_col = label_column(columns)
        self.pupil_columns: list | None = None
        # 0-based rows from here on, as xlsxwriter counts them
        self.header_row = keystage.column_header_row - 1
        self.first = keystage.first_pupil_row - 1
        wanted = max(len(self.pupils) + SPARE_ROWS, MIN_DATA_ROWS)
        self.last = max(min(self.first + wanted, max_rows) - 1, self.first + len(self.pupils) - 1)
        self.sheet = book.add_worksheet(keystage.sheet_name)
        self.guidance = book.add_worksheet(GUIDANCE_SHEET)
        self.lists = None  # the hidden sheet for dropdown lists too long to write inline
        self.formats()

    def formats(self) -> None:
        add = self.book.add_format
        self.f_tag = add({"bold": True, "locked": True})
        self.f_locked = add({"locked": True})
        self.f_label = add({"bold": True, "locked": True, "align": "right", "bg_color": HEADER_FILL})
        self.f_header_value = add({"locked": True, "align": "center", "text_wrap": True, "valign": "top",
                                   "bg_color": HEADER_FILL})
        self.f_column_header = add({"bold": True, "text_wrap": True, "valign": "top", "locked": True,
                                    "bg_color": HEADER_FILL, "border": 1})
        self.f_data = add({"locked": False})
        self.f_text = add({"locked": False, "num_format": "@"})
        self.f_mistake = add(MISTAKE_STYLE)

    def data_format(self, column: Column):
        return self.f_text if column.text else self.f_data

    def write(self) -> None:
        self.layout()
        self.header_rows()
        self.column_headers()
        for offset, pupil in enumerate(self.pupils):
            self.pupil_row(self.first + offset, pupil)
        self.dropdowns()
        self.mistake_highlights()
        self.protect()
        print_setup(self.sheet, (0, self.header_row))
        guidance = _GuidanceWriter(self.book, self.guidance, self.ks, self.columns, self.school, self.round,
                                   self.year, self.first)
        guidance.pupils_from = self.pupils_from
        guidance.write()
        self.sheet.activate()

    # ------------------------------------------------------------------ results sheet

    def layout(self) -> None:
        # Column formats unlock every cell below the header rows and keep text columns as text,
        # spare rows included (a row format would override the "@" of the UPN column).
        # (Only the template's own columns: a format on columns beyond them would stretch the
        # sheet's dimension to column XFD.)
        for i, column in enumerate(self.columns):
            self.sheet.set_column(i, i, column.width, self.data_format(column))
        # header rows stay locked, including their empty cells
        for row in range(self.header_row):
            self.sheet.set_row(row, self.header_height(row), self.f_locked)
        self.sheet.set_row(self.header_row, LINE_HEIGHT * self.lines_needed(c.header for c in self.columns),
                           self.f_locked)
        freeze_col = self.index["surname"] + 1 if "surname" in self.index else 0
        self.sheet.freeze_panes(self.first, freeze_col)
        self.sheet.autofilter(self.header_row, 0, self.last, len(self.columns) - 1)

    def header_height(self, row: int) -> float | None:
        if row >= len(self.ks.header_rows):
            return None
        key = self.ks.header_rows[row].key
        texts = (c.header_values.get(key, "") for c in self.columns)
        return LINE_HEIGHT * self.lines_needed(texts)

    def lines_needed(self, texts) -> int:
        lines = 1
        for text, column in zip(texts, self.columns):
            lines = max(lines, lines_for(str(text), column.width))
        return min(lines, 6)

    def header_rows(self) -> None:
        self.sheet.write_string(0, 0, self.ks.version_tag(self.year), self.f_tag)
        self.sheet.write_string(0, 1, f"Template date {clock.today():%d/%m/%Y}", self.f_locked)
        for r, header_row in enumerate(self.ks.header_rows):
            if self.label_col >= 0:
                self.sheet.write_string(r, self.label_col, header_row.label, self.f_label)
            for i, column in enumerate(self.columns):
                value = column.header_values.get(header_row.key)
                if value is not None:
                    self.sheet.write_string(r, i, str(value), self.f_header_value)

    def column_headers(self) -> None:
        for i, column in enumerate(self.columns):
            self.sheet.write_string(self.header_row, i, column.header, self.f_column_header)

    def pupil_row(self, row: int, pupil: Pupil) -> None:
        if self.pupil_columns is None:  # result columns are the school's to fill
            self.pupil_columns = [(i, c, self.data_format(c)) for i, c in enumerate(self.columns)
                                  if c.kind != "result"]
        known = self.known_values(pupil)
        for i, column, fmt in self.pupil_columns:
            value = self.pupil_value(column, known[column.id] if column.id in known else pupil.extra.get(column.id))
            if value is None or value == "":
                continue
            if isinstance(value, int):
                self.sheet.write_number(row, i, value, fmt)
            else:
                self.sheet.write_string(row, i, value, fmt)

    def known_values(self, pupil: Pupil) -> dict[str, Any]:
        """The kernel's pupil columns; other plugins' pupil columns come from ``pupil.extra``."""
        born = pupil.date_of_birth
        return {
            "organisation": self.school.name,
            "dfe_number": self.school.dfe,
            "key_stage": self.ks.key_stage,
            "nc_year": self.ks.nc_year,
            "upn": pupil.upn,
            "forename": pupil.forename,
            "surname": pupil.surname,
            "dob_day": born.day if born else None,
            "dob_month": born.month if born else None,
            "dob_year": born.year if born else None,
            "gender": pupil.gender,
        }

    @staticmethod
    def pupil_value(column: Column, value: Any) -> int | str | None:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        text = cell_text(value)
        if column.values is not None and text:
            # an MIS's "F" becomes the template's "Female"; anything unknown is kept as given
            text = column.values.normalise(text) or column.values.hint(text) or text
        return text

    # ------------------------------------------------------------------ dropdowns and highlights

    def dropdowns(self) -> None:
        # Adjacent columns whose rules have the same shape (the same grade scale) share one
        # validation over the run, written for the run's first cell: Excel shifts the formula
        # along. One rule per run rather than per column keeps writing fast, as xlsxwriter
        # rewrites every rule's formula (a KS4 non-GCSE sheet has 291 columns but ~40 runs).
        runs: list[tuple[int, int, dict[str, Any]]] = []
        shape_of_run = None
        for i, column in enumerate(self.columns):
            validation = self.validation(column, f"{column_letter(i)}{self.first + 1}")
            shape = self.validation_shape(column, validation)
            if shape is not None and runs and shape == shape_of_run and runs[-1][1] == i - 1:
                runs[-1] = (runs[-1][0], i, runs[-1][2])
            elif validation is not None:
                runs.append((i, i, validation))
            shape_of_run = shape
        for start, end, validation in runs:
            self.sheet.data_validation(self.first, start, self.last, end, validation)

    def validation(self, column: Column, cell: str) -> dict[str, Any] | None:
        validation = column.values.excel_validation(cell) if column.values is not None else None
        if validation is None:
            return None
        validation = dict(validation)
        if validation.get("validate") == "list" and isinstance(validation.get("source"), list):
            validation["source"] = self.list_source(column, validation["source"])
        for key, value in self.validation_messages(column, validation.get("validate") == "list").items():
            validation.setdefault(key, value)  # a value set's own wording wins
        return validation

    @staticmethod
    def validation_shape(column: Column, validation: dict[str, Any] | None) -> Any:
        """What makes two columns' rules the same rule: a custom formula written for a stand-in
        cell, and the messages. Lists and other kinds are never merged."""
        if validation is None or validation.get("validate") != "custom" or column.values is None:
            return None
        shape = dict(validation, value=column.values.excel_validation("\x01")["value"])
        return sorted((k, str(v)) for k, v in shape.items())

    def list_source(self, column: Column, values: list[str]) -> list[str] | str:
        inline = ",".join(values)
        if len(inline) <= MAX_INLINE_LIST and not any("," in v or '"' in v for v in values):
            return values
        # too long (or not expressible) inline: list the values on a hidden sheet instead
        if self.lists is None:
            self.lists = self.book.add_worksheet(LISTS_SHEET)
            self.lists.hide()
            self.lists_used = 0
        col = self.lists_used
        self.lists_used += 1
        self.lists.write_string(0, col, column.header)
        for r, value in enumerate(values, start=1):
            self.lists.write_string(r, col, value)
        letter = column_letter(col)
        return f"={LISTS_SHEET}!${letter}$2:${letter}${len(values) + 1}"

    def validation_messages(self, column: Column, is_list: bool) -> dict[str, Any]:
        # "stop" rather than "warning": the upload rejects anything outside the list, so letting
        # a wrong value stay only moves the error to upload time. Blank is always allowed.
        # (no column header in them: columns with one grade scale share one rule, see dropdowns())
        valid = column.values.describe()
        tip = _hint_text(column)
        verb = "Choose from the list" if is_list else "Enter"
        message = f"{verb}: {valid}. Leave blank for no entry.{tip}"
        return {
            "input_title": "Valid entries" if column.kind != "result" else "Valid results",
            "input_message": _clip(message, 255),
            "error_type": "stop",
            "error_title": "Not a valid entry",
            "error_message": _clip(f"This column accepts only: {valid}, or blank.{tip}", 255),
        }

    def mistake_highlights(self) -> None:
        first, last = self.first + 1, self.last + 1  # Excel row numbers
        if "upn" in self.index:
            letter = column_letter(self.index["upn"])
            self.highlight(f"{letter}{first}:{letter}{last}", upn_mistake_formula(f"{letter}{first}"))
        if all(c in self.index for c in ("dob_day", "dob_month", "dob_year")):
            d, m, y = (column_letter(self.index[c]) for c in ("dob_day", "dob_month", "dob_year"))
            low, high = accepted_range(self.year, self.ks.nc_year)
            # column-absolute references, so one rule colours all three cells of a bad date
            formula = dob_mistake_formula(f"${d}{first}", f"${m}{first}", f"${y}{first}", low, high)
            self.highlight(" ".join(f"{c}{first}:{c}{last}" for c in (d, m, y)), formula)
        valid_row = next((r + 1 for r, h in enumerate(self.ks.header_rows) if h.key == VALID_RESULTS_KEY), None)
        if valid_row is None:
            return  # the formulas read each column's list from its "Valid Results" cell; the dropdowns still guard
        for start, end in self.result_runs():
            a, b = column_letter(start), column_letter(end)
            # The list reference is row-absolute and column-relative ("L$2"), so one rule over a run
            # of columns reads each column's own list; Excel evaluates the formula per cell.
            formula = self.columns[start].values.excel_invalid_formula(f"{a}{first}", f"{a}${valid_row}")
            self.highlight(f"{a}{first}:{b}{last}", formula)

    def result_runs(self) -> list[tuple[int, int]]:
        """Runs of adjacent result columns whose highlight formulas have the same shape.

        One rule per run rather than per column: a KS5 sheet has one rule instead of 64, which
        keeps the file small and the writing fast (xlsxwriter rewrites every rule's formula)."""
        runs: list[tuple[int, int]] = []
        shape_of_run = None
        for i, column in enumerate(self.columns):
            shape = None
            if column.kind == "result" and column.values is not None and VALID_RESULTS_KEY in column.header_values:
                shape = column.values.excel_invalid_formula("\x01", "\x02")
            if shape and runs and shape == shape_of_run and runs[-1][1] == i - 1:
                runs[-1] = (runs[-1][0], i)
            elif shape:
                runs.append((i, i))
            shape_of_run = shape
        return runs

    def highlight(self, cells: str, formula: str) -> None:
        """Colour ``cells`` (one range, or several separated by spaces) where ``formula`` is TRUE;
        ``formula`` is written for the first range's top-left cell."""
        options = {"type": "formula", "criteria": "=" + formula, "format": self.f_mistake}
        if " " in cells:
            options["multi_range"] = cells
        self.sheet.conditional_format(cells.split(" ")[0], options)

    def protect(self) -> None:
        # No password: protection stops accidental edits of the header rows, not a determined
        # user. Schools may still sort, filter, format and resize. (Deleting rows is not offered:
        # Excel allows it only when every cell of the row is unlocked, including those beyond the
        # template's columns; clearing a row's cells does the same job, as blank rows are skipped.)
        self.sheet.protect("", {
            "format_cells": True, "format_columns": True, "format_rows": True,
            "sort": True, "autofilter": True,
            "select_locked_cells": True, "select_unlocked_cells": True,
        })


def _typed_by_target(mapping: dict[str, str]) -> dict[str, list[str]]:
    """{typed: target} -> {target: [typed, ...]}, so each target is explained once."""
    grouped: dict[str, list[str]] = {}
    for typed, target in mapping.items():
        grouped.setdefault(target, []).append(typed)
    return grouped


def _hint_text(column: Column) -> str:
    return "".join(f' Write "{code}", not {", ".join(typed)}.'
                   for code, typed in _typed_by_target(column.values.hints).items())


def _advice_text(column: Column) -> str:
    return " ".join(f"{', '.join(typed)}: {text[:1].upper()}{text[1:]}"
                    for text, typed in _typed_by_target(column.values.advices).items())


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit - 3] + "..."


# --------------------------------------------------------------------------- guidance sheet


class _GuidanceWriter:
    pupils_from: str | None = None

    def __init__(self, book, sheet, keystage: KeyStage, columns: list[Column], school: School,
                 round: Round | None, year: int, first_data_row: int):
        self.book, self.sheet, self.ks, self.columns = book, sheet, keystage, columns
        self.school, self.round, self.year = school, round, year
        self.first_pupil_row = first_data_row + 1
        self.row = 0
        extra = sum(1 for h in keystage.header_rows if h.key != VALID_RESULTS_KEY)
        self.widths = [*GUIDANCE_WIDTHS, *[GUIDANCE_EXTRA_WIDTH] * max(extra, 1), GUIDANCE_VALID_WIDTH,
                       GUIDANCE_MEANING_WIDTH]
        add = book.add_format
        self.f_title = add({"bold": True, "font_size": 14})
        self.f_heading = add({"bold": True, "font_size": 12})
        self.f_table_head = add({"bold": True, "bg_color": HEADER_FILL, "border": 1, "text_wrap": True,
                                 "valign": "top"})
        self.f_wrap = add({"text_wrap": True, "valign": "top"})

    def line(self, text: str, fmt=None) -> None:
        """A paragraph across the sheet's columns (merged, so it wraps at the page width)."""
        fmt = fmt or self.f_wrap
        self.sheet.merge_range(self.row, 0, self.row, len(self.widths) - 1, "", fmt)
        self.sheet.write_string(self.row, 0, text, fmt)
        lines = lines_for(text, sum(self.widths))
        if lines > 1:
            self.sheet.set_row(self.row, LINE_HEIGHT * min(lines, MAX_LINES))
        self.row += 1

    def gap(self) -> None:
        self.row += 1

    def write(self) -> None:
        ks = self.ks
        for col, width in enumerate(self.widths):
            self.sheet.set_column(col, col, width)
        self.line(f"{ks.title} results template: guidance", self.f_title)
        self.line(f"Template {ks.version_tag(self.year)}, made {clock.today():%d/%m/%Y}.")
        who = f"{self.school.name} (DfE number {self.school.dfe})" if self.school.name else \
            f"DfE number {self.school.dfe}"
        self.line(f"For {who}.")
        if self.pupils_from:
            self.line(f"Pupils filled in: {self.pupils_from}.")
        if self.round is not None:
            self.line(f"Uploads for {self.round.year} are accepted {self.round.describe_window()}.")
        self.gap()
        self.line("What this template is for", self.f_heading)
        if ks.description:
            self.line(ks.description)
        self.line(f"Enter your pupils' {ks.title} results on the {ks.sheet_name!r} sheet, save the file and "
                  "upload it. It is checked as soon as you upload it and every mistake is listed.")
        self.gap()
        self.line("How to fill it in", self.f_heading)
        for text in self.instructions():
            self.line(text)
        self.gap()
        self.pupil_table()
        self.gap()
        self.result_table()
        self.sheet.freeze_panes(1, 0)
        self.sheet.hide_gridlines(2)
        print_setup(self.sheet, (0, 0))

    def instructions(self) -> list[str]:
        return [
            f"1. One row per pupil, starting at row {self.first_pupil_row}. Pupils we already know of are "
            "filled in; add any that are missing in the empty rows below them.",
            "2. Type each result in its subject's column as printed on the results (selecting a cell shows "
            "what it accepts). A blank cell means the pupil has no entry for that subject.",
            "3. A cell that turns red holds a mistake (a UPN with a wrong check letter, a result that is "
            "not in the column's list, a date of birth that is not real or outside the year group). "
            "Correct it before you upload.",
            f"4. Do not rename, move or delete columns, and do not change rows 1 to {self.ks.column_header_row}: "
            "the upload is checked against them. Leave unused columns blank.",
            "5. You may sort and filter the pupil rows. To remove a pupil, clear all of their row's cells: "
            "blank rows are ignored.",
            "6. Save the file as an Excel workbook (.xlsx), keeping its name, and upload it.",
        ]

    def width(self, col: int) -> float:
        return self.widths[col] if col < len(self.widths) else GUIDANCE_EXTRA_WIDTH

    def table(self, heads: list[str], rows: list[list[str]]) -> None:
        for values, fmt in [(heads, self.f_table_head)] + [(values, self.f_wrap) for values in rows]:
            for col, text in enumerate(values):
                if text:
                    self.sheet.write_string(self.row, col, text, fmt)
            lines = max(lines_for(text, self.width(col)) for col, text in enumerate(values))
            if lines > 1:
                self.sheet.set_row(self.row, LINE_HEIGHT * min(lines, MAX_LINES))
            self.row += 1

    def pupil_table(self) -> None:
        self.line("Pupil columns", self.f_heading)
        rows = []
        for i, column in enumerate(self.columns):
            if column.kind == "result":
                continue
            valid = column.values.describe() if column.values is not None else ""
            rows.append([column_letter(i), column.header, column.help, valid])
        self.table(["Column", "Header", "What to enter", "Valid entries"], rows)

    def result_table(self) -> None:
        results = [(i, c) for i, c in enumerate(self.columns) if c.kind == "result"]
        if not results:
            return
        self.line("Result columns", self.f_heading)
        extra = [h for h in self.ks.header_rows if h.key != VALID_RESULTS_KEY]
        heads = (["Column", "Subject", "What to enter"] + [h.label for h in extra]
                 + ["Valid results", "Meaning of codes"])
        rows = []
        for i, column in results:
            values = column.values
            labels = values.labels
            meaning = "; ".join(f"{code} = {text}" for code, text in labels.items())
            rows.append([column_letter(i), column.header, column.help]
                        + [str(column.header_values.get(h.key, "")) for h in extra]
                        + [values.describe() if values is not None else "", meaning])
        self.table(heads, rows)
        tips = sorted({_hint_text(c).strip() for _, c in results} - {""})
        tips += sorted({_advice_text(c) for _, c in results} - {""})
        for tip in tips:
            self.line(tip)
