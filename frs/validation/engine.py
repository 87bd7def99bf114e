"""Validate one uploaded file: gate, read, structure, rows, cells -> a :class:`Report`.

Template errors come first and stop the run when the columns cannot be trusted, so a school
is not shown hundreds of cell errors caused by one moved column.
"""

from __future__ import annotations

import difflib
import re
from itertools import chain
from typing import Any, Iterable

from ..issues import CONTROL_CODES, ERROR, WARNING, Issue, Report, column_letter
from ..keystage import Column, KeyStage, Table, cell_text, label_column
from ..text import not_ascii_message
from ..workbook.gate import UploadRejected, check_upload
from ..workbook.reader import Workbook

TAG_RE = re.compile(r"^FRS (\S+) (\d{4}) v(\d+)$")
CONTROL_RE = re.compile("[" + re.escape("".join(map(chr, CONTROL_CODES))) + "]")
# a name as a browser saves a second download ("name (1).xlsx"), with any case of extension
COPY_SUFFIX_RE = re.compile(r"(.+?)(?: \(\d{1,3}\))?\.([A-Za-z]+)")
COLUMN_MARGIN = 10  # columns beyond the widest template the gate still lets through


def gate_window(kernel, keystage_id: str | None = None) -> int:
    """Columns the gate lets through: the template's own plus a margin (so a stray notes column
    gets a clear structure error, not a refusal); without a key stage, the widest template's."""
    if keystage_id:
        return len(kernel.columns(kernel.keystage(keystage_id))) + COLUMN_MARGIN
    widest = max((len(kernel.columns(ks)) for ks in kernel.keystages.values()), default=20)
    return widest + COLUMN_MARGIN


def validate(kernel, data: bytes, school_dfe: str, *, filename: str | None = None,
             keystage_id: str | None = None, round_id: str | None = None) -> Report:
    """Run every check on ``data`` for the school ``school_dfe``. Never raises on bad input."""
    report = Report(filename=filename)
    try:
        passed = check_upload(data, kernel.config.limits, max_columns=gate_window(kernel, keystage_id))
        book = Workbook(data, passed)
        keystage = _keystage(kernel, book, keystage_id, report)
        if keystage is None:
            return report
        report.keystage = keystage.id
        _Run(kernel, book, keystage, school_dfe, filename, round_id, report, passed.odd_text).run()
    except UploadRejected as exc:
        report.issues.append(exc.to_issue())
    report.issues.sort(key=Issue.sort_key)
    return report


def annotate(kernel, data: bytes, report: Report) -> bytes | None:
    """The annotated copy of the school's sheet, or None when the file never got past the gate
    or has no sheet to annotate."""
    from .render import annotated_xlsx

    if report.keystage is None or any(i.code.startswith("upload.") for i in report.issues):
        return None
    keystage = kernel.keystage(report.keystage)
    sheet = keystage.sheet_name
    book = Workbook(data)
    if sheet not in book.sheet_names:
        return None
    return annotated_xlsx(book.rows(sheet), report, sheet, freeze_rows=keystage.column_header_row,
                          columns=kernel.columns(keystage))


def _keystage(kernel, book: Workbook, keystage_id: str | None, report: Report) -> KeyStage | None:
    if keystage_id:
        return kernel.keystage(keystage_id)
    names = {ks.sheet_name for ks in kernel.keystages.values()}
    # the template's own sheet first; then any sheet, in case the school renamed it
    for sheet in sorted(book.sheet_names, key=lambda name: name not in names):
        rows = book.rows(sheet)
        match = TAG_RE.match(cell_text(rows[0][0])) if rows and rows[0] else None
        found = kernel.keystage_by_code(match.group(1)) if match else None
        if found:
            return found
    known = ", ".join(f"{ks.title} ({ks.code})" for ks in kernel.keystages.values())
    report.issues.append(Issue(
        code="template.unrecognised", sheet=None,
        message="This file is not one of our templates (cell A1 of its Results sheet does not name a template). "
                f"Download a template for your school and enter results in it. Templates: {known}."))
    return None


class _Run:
    def __init__(self, kernel, book: Workbook, keystage: KeyStage, school_dfe: str, filename: str | None,
                 round_id: str | None, report: Report, odd_text: bool = True):
        self.kernel, self.book, self.ks, self.report = kernel, book, keystage, report
        self.school_dfe, self.filename = school_dfe, filename
        self.round = kernel.round_for(keystage, round_id)
        self.columns: list[Column] = kernel.columns(keystage)
        self.sheet = keystage.sheet_name
        self.odd_text = odd_text  # the gate saw text that needs a cell-by-cell look

    def add(self, code: str, message: str, *, row: int | None = None, col: int | None = None,
            value: Any = None, severity: str = ERROR, header: str | None = None) -> None:
        self.report.issues.append(Issue(
            code=code, message=message, severity=severity, sheet=self.sheet, row=row,
            column=column_letter(col) if col is not None else None, header=header,
            value=None if value is None else cell_text(value), plugin="frs"))

    # ------------------------------------------------------------------ steps

    def run(self) -> None:
        self.check_filename()
        if self.sheet not in self.book.sheet_names:
            self.missing_sheet()
            return
        rows = self.book.rows(self.sheet)
        self.check_unreadable()
        if not self.check_tag(rows) or not self.check_columns(rows):
            return self.one_issue_per_unreadable_cell()
        self.check_header_rows(rows)
        table = self.table(rows)
        if table is not None:
            self.report.pupils = len(table.rows)
            self.run_rules(table)
            self.report.records_factory = lambda: records(table)
        self.one_issue_per_unreadable_cell()

    def missing_sheet(self) -> None:
        """No sheet of the template's name: say which sheet it became, when one carries our tag."""
        wanted = self.ks.sheet_name
        renamed = None
        for name in self.book.sheet_names:
            rows = self.book.rows(name)
            match = TAG_RE.match(cell_text(rows[0][0])) if rows and rows[0] else None
            if match and match.group(1) == self.ks.code:
                renamed = name
                break
        self.sheet = None
        if renamed is not None:
            self.add("template.renamed-sheet", f"The sheet {wanted!r} was renamed to {renamed!r}. Rename it back to "
                     f"{wanted!r} (right-click the sheet tab > Rename), save and upload again.", value=renamed)
            return
        found = ", ".join(self.book.sheet_names) or "none"
        self.add("template.wrong-sheet", f"The workbook has no sheet named {wanted!r} (it has: {found}). Enter "
                 f"results in the template's {wanted!r} sheet without renaming it.")

    UNREADABLE = {
        "error": ("template.error-cell", "This cell shows {shown}: a formula or lookup failed, so there is no {what} "
                                         "to read. Type the {what} instead."),
        "no-value": ("template.formula-no-value", "This cell holds a formula with no saved result, so there is no "
                                                  "{what} to read. Type the {what} instead (or open the file in "
                                                  "Excel, which calculates formulas, and save it again)."),
        "number": ("template.bad-number", "This cell holds a number that cannot be stored ({shown}). Type the "
                                          "{what} again."),
        "value": ("template.unreadable-cell", "This cell holds a value that cannot be read ({shown}). Type the "
                                              "{what} again."),
    }

    def check_unreadable(self) -> None:
        """Every cell the reader could not turn into a value, reported at its cell (never read as blank)."""
        self.unreadable_cells: set[tuple[int, str]] = set()
        for r, c, value in self.book.unreadable(self.sheet):
            column = self.columns[c] if c < len(self.columns) else None
            what = ("grade" if column.kind == "result" else column.header.lower()) if column else "value"
            code, message = self.UNREADABLE[value.kind]
            self.add(code, message.format(shown=str(value), what=what), row=r + 1, col=c, value=value,
                     header=column.header if column else None)
            self.unreadable_cells.add((r + 1, column_letter(c)))

    def one_issue_per_unreadable_cell(self) -> None:
        """Drop what rules said about a cell that could not be read: its own issue says it all."""
        cells = self.unreadable_cells
        if cells:
            own = {code for code, _ in self.UNREADABLE.values()}
            self.report.issues[:] = [i for i in self.report.issues
                                     if i.code in own or i.sheet != self.sheet or (i.row, i.column) not in cells]

    def check_filename(self) -> None:
        if self.round is None or not self.filename:
            return
        expected = self.ks.expected_filename(self.round.year, self.school_dfe)
        name = self.filename.replace("\\", "/").rsplit("/", 1)[-1]
        if not expected or name == expected:
            return
        stem, _, extension = expected.rpartition(".")
        variant = COPY_SUFFIX_RE.fullmatch(name)
        if variant and variant.group(1) == stem and variant.group(2).lower() == extension.lower():
            # a browser's second download ("... (1).xlsx") or an upper-case extension: the same file
            self.add("template.filename-variant", f"The file name is {name}; it should be {expected}. We accepted it "
                     "(it looks like a second download of the same file or a renamed extension); rename it next "
                     "time.", value=self.filename, severity=WARNING)
        else:
            self.add("template.wrong-filename", f"The file name should be {expected} (your school's DfE number "
                     f"and the {self.ks.code} template code); it is {self.filename}. Check that this is your "
                     f"school's {self.ks.title} file, then rename it.", value=self.filename)

    def check_tag(self, rows: list[list[Any]]) -> bool:
        tag = cell_text(rows[0][0]) if rows and rows[0] else ""
        expected = self.ks.version_tag(self.round.year if self.round else 0)
        match = TAG_RE.match(tag)
        if not match:
            self.add("template.not-a-template", f"Cell A1 should read {expected!r}: this sheet is not an unchanged "
                     "template. Download a fresh template and copy the results into it.", row=1, col=0, value=tag)
            return False
        code, year, version = match.group(1), int(match.group(2)), int(match.group(3))
        if code != self.ks.code:
            other = self.kernel.keystage_by_code(code)
            what = f"the {other.title} template" if other else f"a {code} template"
            self.add("template.wrong-keystage", f"This is {what}, not the {self.ks.title} template. Upload it as "
                     f"{other.title if other else code} results, or use the {self.ks.title} template.",
                     row=1, col=0, value=tag)
            return False
        if (self.round and year != self.round.year) or version != self.ks.layout_version:
            self.add("template.wrong-version", f"This template is {tag!r}; the current one is {expected!r}. "
                     "Download the current template and copy the results into it.", row=1, col=0, value=tag)
            return False
        return True

    def check_columns(self, rows: list[list[Any]]) -> bool:
        header_index = self.ks.column_header_row - 1
        actual = [cell_text(v) for v in rows[header_index]] if len(rows) > header_index else []
        while actual and not actual[-1]:
            actual.pop()
        expected = [c.header for c in self.columns]
        if actual == expected:
            return True
        row = self.ks.column_header_row
        before = len(self.report.issues)
        moved: list[str] = []
        matcher = difflib.SequenceMatcher(a=expected, b=actual, autojunk=False)
        for op, e1, e2, a1, a2 in matcher.get_opcodes():
            if op == "equal":
                continue
            gone = [h for h in expected[e1:e2] if h not in actual]
            moved += [h for h in expected[e1:e2] if h in actual]
            added = [(a1 + k, h) for k, h in enumerate(actual[a1:a2]) if h not in expected]
            for k in range(min(len(gone), len(added))):  # a header in place of another: renamed
                col, text = added[k]
                self.add("template.renamed-column", f"Column {column_letter(col)} should be headed {gone[k]!r} but "
                         f"reads {text!r}. Put the header back as it was in the template.", row=row, col=col,
                         value=text, header=gone[k])
            for name in gone[len(added):]:
                col = expected.index(name)
                self.add("template.missing-column", f"Column {name!r} is missing (it belongs in column "
                         f"{column_letter(col)}). Do not delete template columns; leave unused ones blank.",
                         row=row, col=col, header=name)
            for col, text in added[len(gone):]:
                label = repr(text) if text else "with no header"
                self.add("template.extra-column", f"Column {column_letter(col)} {label} is not in the template. "
                         "Remove it: results go only in the template's own columns.", row=row, col=col, value=text)
        for name in moved:
            col = actual.index(name)
            self.add("template.reordered-columns", f"Column {name!r} has moved to column {column_letter(col)}; "
                     f"it belongs in column {column_letter(expected.index(name))}. Put the columns back in the "
                     "template's order.", row=row, col=col, header=name)
        return len(self.report.issues) == before

    def check_header_rows(self, rows: list[list[Any]]) -> None:
        label_col = label_column(self.columns)
        for r, header_row in enumerate(self.ks.header_rows):
            line = rows[r] if r < len(rows) else []

            def at(i: int) -> str:
                return cell_text(line[i]) if i < len(line) else ""

            if label_col >= 0 and at(label_col) != header_row.label:
                self.add("template.changed-header-row", f"Cell {column_letter(label_col)}{r + 1} should read "
                         f"{header_row.label!r}. Do not change the template's header rows.",
                         row=r + 1, col=label_col, value=at(label_col))
            for i, column in enumerate(self.columns):
                want = column.header_values.get(header_row.key)
                if want is None or (i < len(line) and line[i] == want):
                    continue  # the usual case: the cell is exactly as the template wrote it
                if at(i).replace(" ", "") != want.replace(" ", ""):
                    found = "" if at(i).isascii() else " " + not_ascii_message(header_row.label, at(i))
                    self.add("template.changed-header-row", f"{header_row.label} for {column.header} should be "
                             f"{want!r}, not {at(i)!r}. Do not change the template's header rows.{found}",
                             row=r + 1, col=i, value=at(i), header=column.header)

    def table(self, rows: list[list[Any]]) -> Table | None:
        width = len(self.columns)
        start = self.ks.first_pupil_row - 1
        pupil_rows, numbers = [], []
        limit = self.kernel.config.limits.max_cell_chars
        lines = []
        known = self.known_values()
        first_known, last_known = (min(known), max(known) + 1) if known else (0, 0)
        contiguous = last_known - first_known == len(known)
        telling = last_known if last_known < width else 0  # a pupil's first own cell (the UPN)
        for n, line in enumerate(rows[start:], start + 1):
            cells = line[:width]
            if len(line) > width and _filled(line[width:]):
                self.outside(line, width, n)
            if not any(cells) and not _filled(cells):  # any() stops at a pupil's first value
                continue
            if known and contiguous and (len(cells) <= telling or cells[telling] == "" or cells[telling] is None) and \
                    not (_filled(cells[:first_known]) or _filled(cells[last_known:])):
                continue  # only what frs fills in itself (Organisation, DfE number...): not a pupil
            if len(cells) < width:
                cells = cells + [""] * (width - len(cells))
            pupil_rows.append(cells)
            numbers.append(n)
            lines.append(line)
        if self.odd_text:
            self.check_cells(lines, numbers, limit)
        for i, value in known.items():  # left blank: frs knows what goes there
            if value == "":
                continue
            for cells in pupil_rows:
                if cells[i] == "" or cells[i] is None:
                    cells[i] = value
        if not pupil_rows:
            self.add("template.no-pupils", "The template has no pupils in it. Enter one row per pupil, starting at "
                     f"row {self.ks.first_pupil_row}, then upload it again.")
            return None
        result_cols = [i for i, c in enumerate(self.columns) if c.kind == "result"]
        if result_cols and not any(r[i] != "" and r[i] is not None for r in pupil_rows for i in result_cols):
            self.add("template.no-results", "There are pupils but no results in the file: it looks like the "
                     "untouched template. Enter the results, save, and upload again.")
            return None
        index = {c.id: i for i, c in enumerate(self.columns)}
        return Table(keystage=self.ks, columns=self.columns, rows=pupil_rows, row_numbers=numbers, index=index,
                     sheet=self.sheet, school_dfe=self.school_dfe, round=self.round, no_booleans=True)

    def known_values(self) -> dict[int, Any]:
        """Pupil columns whose value frs knows for every pupil (0-based column -> value): a school
        may leave them blank, and they are filled in on reading."""
        values = {"dfe_number": self.school_dfe, "key_stage": self.ks.key_stage, "nc_year": self.ks.nc_year,
                  "organisation": ""}
        return {i: values[c.id] for i, c in enumerate(self.columns) if c.plugin == "frs" and c.id in values}

    def outside(self, line: list[Any], width: int, n: int) -> None:
        col = next(i for i in range(width, len(line)) if line[i] != "" and line[i] is not None)
        self.add("template.data-outside-columns", f"Cell {column_letter(col)}{n} holds data outside the template's "
                 "columns. Remove it: results go only in the template's own columns.", row=n, col=col, value=line[col])

    def check_cells(self, lines: list[list[Any]], numbers: list[int], limit: int) -> None:
        texts = [v for v in chain.from_iterable(lines) if v.__class__ is str]
        if not CONTROL_RE.search("".join(texts)) and max(map(len, texts), default=0) <= limit:
            return  # the usual case, decided in one pass
        for line, n in zip(lines, numbers):
            for col, value in enumerate(line):
                if not isinstance(value, str):
                    continue
                if CONTROL_RE.search(value):
                    self.add("cell.control-characters", "This cell holds invisible control characters (often from "
                             "copying out of another system). Retype the value.", row=n, col=col,
                             value=value)
                elif len(value) > limit:
                    self.add("cell.too-long", f"This cell holds {len(value)} characters; no value in the template "
                             f"needs more than {limit}.", row=n, col=col, value=value[:50])

    def run_rules(self, table: Table) -> None:
        for rule in self.kernel.rules(self.ks):
            try:
                self.report.extend(_limited(rule.check(table)))
            except Exception as exc:  # a broken plugin rule must not hide the other findings
                self.report.issues.append(Issue(
                    code="template.rule-failed", plugin=rule.plugin,
                    message=f"Check {type(rule).__name__} of plugin {rule.plugin!r} failed ({type(exc).__name__}: "
                            f"{exc}). This is a fault in the service, not in your file: tell the service desk."))


def _filled(cells: list[Any]) -> bool:
    """True when any cell holds something (counted in C: this runs for every row of the sheet)."""
    return cells.count("") + cells.count(None) < len(cells)


def _limited(issues: Iterable[Issue], limit: int = 100_000) -> list[Issue]:
    out = []
    for issue in issues:
        out.append(issue)
        if len(out) >= limit:
            break
    return out


def records(table: Table) -> list[dict[str, Any]]:
    """Pupil rows as plain values for storage: pupil fields by column id, results by column id.

    A school's columns repeat a few values (grades, its DfE number, months, Male/Female) across
    hundreds of pupils, so each column remembers what it made of a value: one look-up per cell
    instead of re-deriving the text. Equal values give equal text (9 and 9.0 both give "9"); a
    boolean, which equals 1 but reads TRUE, is kept apart unless the table has none."""
    out = []
    index = table.index
    key = (lambda v: v) if table.no_booleans else (lambda v: (v.__class__, v))
    plain = [(c.id, index[c.id], {}) for c in table.columns if c.kind != "result" and not c.values]
    # pupil columns with a value set (Gender) are stored as their code: "M" as "Male"
    coded = [(c.id, index[c.id], c.values, {}) for c in table.columns if c.kind != "result" and c.values]
    results_at = [(c.id, index[c.id], c.values, {}) for c in table.columns if c.kind == "result" and c.values]
    positions = [i for _cid, i, _values, _seen in results_at]
    contiguous = positions == list(range(positions[0], positions[0] + len(positions))) if positions else False
    for row, n in zip(table.rows, table.row_numbers):
        record: dict[str, Any] = {"row": n}
        for cid, i, seen in plain:
            value = row[i]
            k = key(value)
            text = seen.get(k)
            if text is None:
                text = seen[k] = cell_text(value)
            record[cid] = text
        for cid, i, values, seen in coded:
            value = row[i]
            k = key(value)
            text = seen.get(k)
            if text is None:
                text = seen[k] = values.normalise(value) or cell_text(value)
            record[cid] = text
        results = {}
        if contiguous:  # the usual layout: find the few filled result cells of the row in one pass
            first = positions[0]
            filled = [j for j, v in enumerate(row[first:first + len(positions)]) if v != "" and v is not None]
        else:
            filled = [j for j, i in enumerate(positions) if row[i] != "" and row[i] is not None]
        for j in filled:
            cid, i, values, seen = results_at[j]
            value = row[i]
            k = key(value)
            text = seen.get(k)
            if text is None:
                text = seen[k] = values.normalise(value) or cell_text(value)
            results[cid] = text
        record["results"] = results
        out.append(record)
    return out
