"""Reading a workbook's data validations (dropdowns) without loading the whole workbook.

python-calamine and openpyxl's read-only mode do not expose data validations, and a full
openpyxl load costs ~60x more (perf-notes, "What the fast readers expose"). So this parses
only the ``<dataValidations>`` block of one sheet, with defusedxml. Used by the tests and the
plugin conformance kit to check that each column offers exactly its valid results.
"""

from __future__ import annotations

import io
import posixpath
import re
import zipfile

from defusedxml import ElementTree

_NS_REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_BLOCK = re.compile(rb"<(?:\w+:)?dataValidations\b.*?</(?:\w+:)?dataValidations>", re.S)
_ROOT_TAG = re.compile(rb"<(?![?!])[\w:]+\b([^>]*)>")
_XMLNS = re.compile(rb"""\sxmlns(?::\w+)?\s*=\s*("[^"]*"|'[^']*')""")
_RANGE = re.compile(r"^=?(?:'((?:[^']|'')+)'|([\w.]+))!\$?([A-Z]+)\$?(\d+)(?::\$?([A-Z]+)\$?(\d+))?$")


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def sheet_part(archive: zipfile.ZipFile, sheet_name: str) -> str:
    """The zip member holding the worksheet named ``sheet_name`` (via xl/workbook.xml and its rels)."""
    book = ElementTree.fromstring(archive.read("xl/workbook.xml"))
    rel_id = None
    for element in book.iter():
        if _local(element.tag) == "sheet" and element.get("name") == sheet_name:
            rel_id = element.get(f"{{{_NS_REL}}}id")
            break
    if rel_id is None:
        raise KeyError(f"no sheet named {sheet_name!r}")
    rels = ElementTree.fromstring(archive.read("xl/_rels/workbook.xml.rels"))
    for element in rels.iter():
        if _local(element.tag) == "Relationship" and element.get("Id") == rel_id:
            target = element.get("Target", "")
            # targets are relative to xl/ unless they start with "/"
            return target.lstrip("/") if target.startswith("/") else posixpath.normpath(posixpath.join("xl", target))
    raise KeyError(f"sheet {sheet_name!r} has no part in the package")


def read_data_validations(data: bytes, sheet_name: str) -> list[tuple[str, str]]:
    """``(sqref, formula1)`` for each data validation on the sheet, in file order."""
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        xml = archive.read(sheet_part(archive, sheet_name))
    block = _BLOCK.search(xml)
    if block is None:
        return []
    # the block is parsed on its own, so re-declare the root's namespaces around it
    root = _ROOT_TAG.search(xml)
    declarations = b"".join(m.group(0) for m in _XMLNS.finditer(root.group(1))) if root else b""
    tree = ElementTree.fromstring(b"<frs-wrap" + declarations + b">" + block.group(0) + b"</frs-wrap>")
    found = []
    for element in tree.iter():
        if _local(element.tag) != "dataValidation":
            continue
        formula = next((_formula_text(child) for child in element if _local(child.tag) == "formula1"), "")
        found.append((element.get("sqref", ""), formula))
    return found


def _formula_text(element) -> str:
    # Excel 2010's x14 form wraps the formula in <xm:f>
    inner = next((child for child in element if _local(child.tag) == "f"), None)
    return (inner.text if inner is not None else element.text) or ""


def dropdown_values(formula1: str, data: bytes | None = None) -> list[str]:
    """The choices of a list validation.

    An inline list ``"a,b,c"`` is split; a range on another sheet (``Lists!$A$2:$A$8``) is read
    from ``data`` when given. Anything else (a formula, a defined name) gives ``[]``.
    """
    text = formula1.strip()
    if len(text) >= 2 and text[0] == text[-1] == '"':
        return text[1:-1].replace('""', '"').split(",")
    match = _RANGE.match(text)
    if match is None or data is None:
        return []
    return _range_values(data, match)


def _range_values(data: bytes, match: re.Match) -> list[str]:
    from python_calamine import CalamineWorkbook

    from ..issues import column_index
    from ..keystage import cell_text

    sheet = (match.group(1) or "").replace("''", "'") or match.group(2)
    col1, row1 = column_index(match.group(3)), int(match.group(4)) - 1
    col2 = column_index(match.group(5)) if match.group(5) else col1
    row2 = int(match.group(6)) - 1 if match.group(6) else row1
    rows = CalamineWorkbook.from_filelike(io.BytesIO(data)).get_sheet_by_name(sheet).to_python(
        skip_empty_area=False)
    values = []
    for r in range(row1, row2 + 1):
        line = rows[r] if r < len(rows) else []
        for c in range(col1, col2 + 1):
            text = cell_text(line[c]) if c < len(line) else ""
            if text:
                values.append(text)
    return values
