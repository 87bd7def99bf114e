"""Reading cell values with python-calamine, only ever after the gate has passed the bytes.

calamine reads an error value (#N/A) as an empty cell, skips a formula that has no stored
result, keeps the last of two cells written at one position, and reads a shared-string index
such as "1.0" as string 0. So the reader never hands out a value it cannot vouch for:

* a cell it cannot turn into a value (an error, a formula with no result, a number that is NaN,
  infinite or beyond 2^63) becomes an :class:`Unreadable` in the rows, which the validator
  reports at its cell;
* a workbook that could be read two ways (two sheets of one name, a cell written twice, an
  inline string that also carries a value, a shared-string index that is not a plain number)
  is refused with an ``upload.*`` code;
* a boolean is read as the text the cell shows (TRUE), so no rule mistakes it for 1;
* text is NFC-normalised, with no-break spaces as spaces (:func:`frs.text.clean`).

Deciding this costs a few C-speed scans of the sheet the gate already inflated (:func:`~frs.workbook.gate.sheet_facts`)
and a count over calamine's rows; the cell-by-cell read of the sheet's XML runs only for a
sheet that needs it.
"""

from __future__ import annotations

import io
import math
import posixpath
import re
import zipfile
from typing import Any
from xml.etree import ElementTree
from xml.parsers import expat

from python_calamine import CalamineWorkbook

from ..issues import column_index
from ..text import clean
from .gate import BOOK_PARTS, SAVE_AS, Passed, UploadRejected, plain_text, sheet_facts

BIGGEST = 2 ** 63  # the largest magnitude a stored number may have (a 64-bit integer)
PLAIN_INDEX_RE = re.compile(r"0|[1-9][0-9]*")
NUMBER_RE = re.compile(r"-?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]+)?")  # as Excel writes one
REF_RE = re.compile(r"([A-Z]{1,3})([1-9][0-9]*)")
MAIN_NS = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
REL_NS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
PACKAGE_REL_NS = "http://schemas.openxmlformats.org/package/2006/relationships"


class Unreadable(str):
    """Stands in the rows for a cell whose value could not be read.

    Its text is what the cell shows (``#N/A``), so a rule that looks at it sees an invalid
    value; ``kind`` says why: ``"error"`` (an Excel error value), ``"no-value"`` (a formula
    with no stored result), ``"number"`` (NaN, infinity, beyond 2^63, or no number at all) or
    ``"value"`` (a boolean that is neither 0 nor 1).
    """

    kind: str

    def __new__(cls, shown: str, kind: str) -> "Unreadable":
        self = super().__new__(cls, shown)
        self.kind = kind
        return self


def ambiguous(sheet: str, what: str) -> UploadRejected:
    return UploadRejected("upload.ambiguous-cells",
                          f"The sheet {sheet!r} could be read in more than one way: {what}. Excel never writes "
                          "that, so the file was not read rather than guessed at. " + SAVE_AS)


class Workbook:
    """Sheet names and lazily read sheet values of one uploaded workbook.

    ``passed`` is what the gate learnt about the bytes; without it (a file read again after
    validation) the reader scans the sheet itself.
    """

    def __init__(self, data: bytes, passed: Passed | None = None):
        self._data = data
        self._passed = passed
        try:
            self._book = CalamineWorkbook.from_filelike(io.BytesIO(data))
            self.sheet_names: list[str] = list(self._book.sheet_names)
        except (KeyboardInterrupt, SystemExit):
            raise
        except BaseException as exc:  # calamine raises several types, and a Rust panic is a BaseException
            raise UploadRejected("upload.unreadable",
                                 "The workbook could not be read (it may be damaged). Open it in Excel, "
                                 f"save it again as .xlsx and upload that copy. ({type(exc).__name__})") from None
        self._rows: dict[str, list[list[Any]]] = {}
        self._unreadable: dict[str, list[tuple[int, int, Unreadable]]] = {}
        self._parts: dict[str, str] | None = None

    def rows(self, sheet: str) -> list[list[Any]]:
        """All rows of ``sheet``, indexed from A1 (blank cells are ''). Read once, then cached."""
        if sheet in self._rows:
            return self._rows[sheet]
        folded = sheet.casefold()
        if sum(1 for name in self.sheet_names if name.casefold() == folded) > 1:
            raise UploadRejected("upload.duplicate-sheet",
                                 f"The workbook has more than one sheet named {sheet!r}, so we cannot tell which "
                                 "holds the results. Delete or rename the extra one (right-click its tab), save "
                                 "and upload again.")
        found: list[tuple[int, int, Any]] = []
        part = self._part(sheet)
        facts, plain = None, False
        if part:
            # scan the XML the gate inflated, then let it go before calamine allocates its own
            # (kept alive, it slows calamine down measurably)
            xml = self._passed.sheets.pop(part, None) if self._passed else None
            if self._passed:
                self._passed.sheets.clear()
            if xml is None:
                xml = self._read_part(part)
            facts = sheet_facts(xml)
            plain = self._passed is not None and self._passed.plain_strings and plain_text(xml)
            del xml
        try:
            rows = self._book.get_sheet_by_name(sheet).to_python(skip_empty_area=False)
        except (KeyboardInterrupt, SystemExit):
            raise
        except BaseException as exc:  # as above: a panic inside calamine must not take the worker down
            if "shared strings" in str(exc):
                raise ambiguous(sheet, "a cell refers to a text that is not in the workbook") from None
            # calamine gives up on the whole sheet for one number or boolean it cannot parse: read
            # the sheet without those cells, and report each at its cell
            rows = self._without_unparsable_cells(sheet, part, found) if part else None
            if rows is None:
                raise UploadRejected("upload.unreadable",
                                     f"Sheet {sheet!r} could not be read (it may be damaged). Open the file in "
                                     f"Excel, save it again as .xlsx and upload that copy. ({type(exc).__name__})"
                                     ) from None
            self._passed = None  # the gate's facts describe the sheet as it was
            facts, plain = sheet_facts(self._read_part(part)), False
        if facts is not None:
            filled = sum(map(len, rows)) - sum(map(list.count, rows, [""] * len(rows)))
            if facts.look or facts.values != filled:
                found += read_closely(sheet, self._read_part(part))
        if facts is None or facts.numbers or not plain:
            found += tidy(rows, numbers=facts is None or facts.numbers, text=not plain)
        placed = {(r, c): value for r, c, value in found}  # one finding per cell, the last word wins
        for (r, c), value in placed.items():
            while len(rows) <= r:
                rows.append([""] * (len(rows[0]) if rows else 0))
            line = rows[r]
            if len(line) <= c:
                line.extend([""] * (c + 1 - len(line)))
            line[c] = value
        self._unreadable[sheet] = [(r, c, value) for (r, c), value in placed.items() if isinstance(value, Unreadable)]
        self._rows[sheet] = rows
        return rows

    def unreadable(self, sheet: str) -> list[tuple[int, int, Unreadable]]:
        """The cells of ``sheet`` that could not be read: (0-based row, 0-based column, stand-in)."""
        self.rows(sheet)
        return self._unreadable[sheet]

    # ------------------------------------------------------------------ parts

    def _part(self, sheet: str) -> str | None:
        """The zip member holding ``sheet``'s XML, from the workbook and its relationships."""
        if self._parts is None:
            self._parts = {}
            try:
                known = self._passed.book_parts if self._passed else {}
                if all(name in known for name in BOOK_PARTS):
                    book_xml, rels_xml = (known[name] for name in BOOK_PARTS)
                else:
                    with zipfile.ZipFile(io.BytesIO(self._data)) as zf:
                        book_xml, rels_xml = (zf.read(name) for name in BOOK_PARTS)
                book, rels = ElementTree.fromstring(book_xml), ElementTree.fromstring(rels_xml)
            except (KeyError, zipfile.BadZipFile, ElementTree.ParseError):
                return None
            targets = {rel.get("Id"): rel.get("Target", "") for rel in rels.iter(f"{{{PACKAGE_REL_NS}}}Relationship")}
            for entry in book.iter(f"{{{MAIN_NS}}}sheet"):
                target = targets.get(entry.get(f"{{{REL_NS}}}id"))
                if target:
                    path = target.lstrip("/") if target.startswith("/") else posixpath.normpath("xl/" + target)
                    self._parts.setdefault(entry.get("name", ""), path)
        return self._parts.get(sheet)

    def _without_unparsable_cells(self, sheet: str, part: str, found: list) -> list[list[Any]] | None:
        """The sheet's rows read from a copy without the cells calamine cannot parse (which are
        added to ``found``), or None when no such cell explains the failure."""
        xml = self._read_part(part)
        spans: list[tuple[int, int]] = []
        found += read_closely(sheet, xml, unparsable=spans)
        if not spans:
            return None
        kept, at = [], 0
        for start, end in spans:
            kept += [xml[at:start]]
            at = end
        kept.append(xml[at:])
        out = io.BytesIO()
        with zipfile.ZipFile(io.BytesIO(self._data)) as source, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as copy:
            for info in source.infolist():
                body = b"".join(kept) if info.filename.lower() == part.lower() else source.read(info)
                copy.writestr(info.filename, body)
        self._data = out.getvalue()
        try:
            self._book = CalamineWorkbook.from_filelike(io.BytesIO(self._data))
            return self._book.get_sheet_by_name(sheet).to_python(skip_empty_area=False)
        except (KeyboardInterrupt, SystemExit):
            raise
        except BaseException:
            return None

    def _read_part(self, part: str) -> bytes:
        with zipfile.ZipFile(io.BytesIO(self._data)) as zf:
            name = next((n for n in zf.namelist() if n.lower() == part.lower()), part)
            return zf.read(name)


def tidy(rows: list[list[Any]], *, numbers: bool, text: bool) -> list[tuple[int, int, Any]]:
    """Booleans as the text the cell shows, NaN/infinity/huge numbers as :class:`Unreadable`,
    text NFC-normalised: the replacements, as (row, column, value)."""
    out = []
    for r, line in enumerate(rows):
        for c, value in enumerate(line):
            kind = value.__class__
            if kind is str:
                if text and not value.isascii():
                    tidied = clean(value)
                    if tidied != value:
                        out.append((r, c, tidied))
            elif not numbers:
                continue
            elif kind is bool:
                out.append((r, c, "TRUE" if value else "FALSE"))
            elif kind is float or kind is int:
                if kind is float and not math.isfinite(value) or abs(value) >= BIGGEST:
                    shown = "NaN" if value != value else ("infinity" if math.isinf(value) else f"{value:g}")
                    out.append((r, c, Unreadable(shown, "number")))
    return out


def read_closely(sheet: str, xml: bytes, unparsable: list[tuple[int, int]] | None = None
                 ) -> list[tuple[int, int, Unreadable]]:
    """Every cell of one worksheet's XML, one by one: refuses what could be read two ways and
    returns the cells calamine could not turn into values. ``unparsable``, when given, collects
    the byte spans of cells calamine cannot parse at all (an empty number, a boolean 2)."""
    found: list[tuple[int, int, Unreadable]] = []
    seen: set[tuple[int, int]] = set()
    state: dict[str, Any] = {"cell": None, "text": None}

    def local(name: str) -> str:
        return name.rsplit("}", 1)[-1]

    def start(name: str, attrs: dict[str, str]) -> None:
        tag = local(name)
        if tag == "c":
            ref = REF_RE.fullmatch(attrs.get("r", ""))
            if ref is None:
                raise ambiguous(sheet, "a cell has no proper position")
            position = (int(ref.group(2)) - 1, column_index(ref.group(1)))
            if position in seen:
                raise ambiguous(sheet, f"cell {ref.group(0)} is written twice")
            seen.add(position)
            state["cell"] = {"ref": ref.group(0), "at": position, "t": attrs.get("t", "n"), "v": None, "f": False,
                             "start": parser.CurrentByteIndex}
        elif state["cell"] is not None:
            if tag == "v":
                state["text"] = []
            elif tag == "f":
                state["cell"]["f"] = True

    def data(text: str) -> None:
        if state["text"] is not None:
            state["text"].append(text)

    def end(name: str) -> None:
        tag, cell = local(name), state["cell"]
        if cell is None:
            return
        if tag == "v":
            cell["v"] = "".join(state["text"] or [])
            state["text"] = None
        elif tag == "c":
            state["cell"] = None
            kind, value = cell["t"], cell["v"]
            if kind == "e":
                found.append((*cell["at"], Unreadable((value or "#ERROR").strip() or "#ERROR", "error")))
            elif kind == "inlineStr" and value is not None:
                raise ambiguous(sheet, f"cell {cell['ref']} holds both a text and a value")
            elif kind == "s" and (value is None or PLAIN_INDEX_RE.fullmatch(value) is None):
                raise ambiguous(sheet, f"cell {cell['ref']} refers to its text in a way Excel never writes")
            elif cell["f"] and (value is None or value == "" and kind not in ("str", "inlineStr")):
                found.append((*cell["at"], Unreadable("(formula with no value)", "no-value")))
                if value is not None and unparsable is not None:
                    unparsable.append((cell["start"], xml.index(b">", parser.CurrentByteIndex) + 1))
            elif value is not None and (kind == "n" and not NUMBER_RE.fullmatch(value)
                                        or kind == "b" and value not in ("0", "1")):
                shown = value.strip()[:20] or "(empty)"
                found.append((*cell["at"], Unreadable(shown, "number" if kind == "n" else "value")))
                if unparsable is not None:
                    unparsable.append((cell["start"], xml.index(b">", parser.CurrentByteIndex) + 1))

    parser = expat.ParserCreate(namespace_separator="}")
    parser.StartElementHandler, parser.EndElementHandler, parser.CharacterDataHandler = start, end, data
    try:
        parser.Parse(xml, True)
    except expat.ExpatError as exc:
        if "duplicate attribute" in str(exc):
            raise ambiguous(sheet, "a cell has two positions") from None
        raise ambiguous(sheet, f"its XML is not well formed ({expat.ErrorString(exc.code)})") from None
    return found
