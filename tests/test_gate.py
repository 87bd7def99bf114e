"""The upload gate: every hostile file is rejected with its own code, before any parser sees it,
and validating it never crashes or hangs the process (2 s, 256 MiB)."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from frs.config import Limits
from frs.workbook import gate
from frs.workbook.gate import UploadRejected, check_upload

import hostile

WINDOW = 85  # columns the caller allows, as the engine passes it
LIMITS = Limits()


def rejection(data: bytes, limits: Limits = LIMITS, max_columns: int = WINDOW) -> UploadRejected:
    with pytest.raises(UploadRejected) as caught:
        check_upload(data, limits, max_columns=max_columns)
    return caught.value


# Each hostile file and the code it must get. The same table drives the subprocess test.
CASES = {
    "empty": (hostile.empty, "upload.empty"),
    "old-xls": (lambda: hostile.ole2(encrypted=False), "upload.old-xls"),
    "encrypted": (lambda: hostile.ole2(encrypted=True), "upload.encrypted"),
    "csv": (hostile.csv_text, "upload.csv"),
    "html": (hostile.html_page, "upload.not-xlsx"),
    "pdf": (hostile.pdf, "upload.not-xlsx"),
    "truncated": (hostile.truncated, "upload.corrupt"),
    "ods": (hostile.ods_like, "upload.not-xlsx"),
    "docx": (hostile.docx_like, "upload.not-xlsx"),
    "deflate-bomb": (hostile.deflate_bomb, "upload.too-big-unzipped"),
    "ratio-bomb": (hostile.ratio_bomb, "upload.zip-bomb"),
    "overlap": (hostile.overlapping, "upload.zip-bomb"),
    "lying-size": (hostile.lying_size, "upload.corrupt"),
    "many-members": (hostile.many_members, "upload.too-many-parts"),
    "duplicate": (hostile.duplicate_names, "upload.duplicate-part"),
    "dotdot": (hostile.unsafe_name, "upload.unsafe-part-name"),
    "absolute": (lambda: hostile.unsafe_name("/etc/evil.xml"), "upload.unsafe-part-name"),
    "backslash": (lambda: hostile.unsafe_name("xl\\worksheets\\evil.xml"), "upload.unsafe-part-name"),
    "vba": (hostile.vba_project, "upload.macros"),
    "xlsm-type": (hostile.macro_content_type, "upload.macros"),
    "external-link": (hostile.external_link, "upload.external-links"),
    "embedding": (hostile.embedding, "upload.embedded-object"),
    "billion-laughs": (hostile.billion_laughs, "upload.dtd"),
    "xxe": (hostile.xxe, "upload.dtd"),
    "utf16": (hostile.utf16_part, "upload.unusual-encoding"),
    "many-strings": (hostile.too_many_strings, "upload.too-many-strings"),
    "XFD1048576": (lambda: hostile.far_cell("XFD1048576"), "upload.outside-template"),
    "A1048576": (lambda: hostile.far_cell("A1048576"), "upload.outside-template"),
    "prefixed-far": (hostile.prefixed_far_cell, "upload.outside-template"),
    "no-r": (hostile.unpositioned_cells, "upload.unpositioned-cells"),
    "piled-up": (hostile.piled_up_cells, "upload.too-many-cells"),
}


@pytest.mark.parametrize("name", CASES)
def test_hostile_file_gets_its_code(name):
    build, code = CASES[name]
    assert rejection(build()).code == code


def test_valid_workbooks_pass():
    check_upload(hostile.valid_workbook(), LIMITS, max_columns=WINDOW)
    check_upload(hostile.valid_workbook(rows=5000, columns=WINDOW), LIMITS, max_columns=WINDOW)


def test_openpyxl_workbook_passes():
    import openpyxl
    book = openpyxl.Workbook()
    book.active.append(["UPN", "Maths"])
    book.active.append(["A123456789012", "A"])
    out = io.BytesIO()
    book.save(out)
    check_upload(out.getvalue(), LIMITS, max_columns=WINDOW)


def test_too_large_names_the_limit():
    error = rejection(hostile.ZIP_MAGIC + bytes(2 * hostile.MIB), Limits(max_upload_bytes=hostile.MIB))
    assert error.code == "upload.too-large"
    assert "most we accept is 1 MB" in error.message


def test_window_edges():
    check_upload(hostile.far_cell("CG5000"), LIMITS, max_columns=WINDOW)  # last column, last row
    assert rejection(hostile.far_cell("CH1")).code == "upload.outside-template"
    assert rejection(hostile.far_cell("A5001")).code == "upload.outside-template"
    assert rejection(hostile.far_cell("AAA1")).code == "upload.outside-template"


def test_far_cell_after_legitimate_high_rows():
    rows = b'<row r="4000"><c r="CG4000"><v>1</v></c></row><row r="4001"><c r="A4001"><v>1</v></c>' \
           b'<c r="CH4001"><v>1</v></c></row>'
    error = rejection(hostile.with_sheet(rows))
    assert error.code == "upload.outside-template" and "CH4001" in error.message


def test_outside_template_names_the_cell():
    assert "XFD1048576" in rejection(hostile.far_cell("XFD1048576")).message


def test_malformed_reference_is_unpositioned():
    for ref in ("a1", "A0", "$A$1"):
        data = hostile.with_sheet(f'<row r="1"><c r="{ref}"><v>1</v></c></row>'.encode())
        assert rejection(data).code == "upload.unpositioned-cells", ref


def test_declared_sizes_over_cap_rejected_before_inflating():
    # 9 MiB declared against an 8 MiB cap; the ratio stays low, so only the size check fires
    data = hostile.repack(hostile.valid_workbook(), add=[("xl/media/noise.bin", os.urandom(9 * hostile.MIB))])
    assert rejection(data, Limits(max_unzipped_bytes=8 * hostile.MIB)).code == "upload.too-big-unzipped"


def test_capped_reader_counts_actual_bytes():
    """The stream stops at the cap whatever the directory says."""
    data = hostile.ratio_bomb()
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        info = zf.getinfo(hostile.SHEET)
        with pytest.raises(UploadRejected) as caught:
            gate.read_capped(zf, info, 2 * hostile.MIB, limits=Limits(max_ratio=10_000))
    assert caught.value.code == "upload.too-big-unzipped"


def test_rejection_becomes_an_issue():
    issue = rejection(hostile.csv_text()).to_issue()
    assert issue.code == "upload.csv" and issue.plugin == "frs" and issue.message


# ---------------------------------------------------------------- no crash, no hang

CHILD = r"""
import json, resource, sys, time
from frs.config import Config
from frs.kernel import Kernel
from frs.validation.engine import validate
kernel = Kernel(Config(path=None))
data = open(sys.argv[1], "rb").read()
limit = 256 * 1024 * 1024
resource.setrlimit(resource.RLIMIT_AS, (limit, limit))  # after imports: the budget is for the upload
start = time.perf_counter()
report = validate(kernel, data, "1231234", filename="upload.xlsx")
seconds = time.perf_counter() - start
print(json.dumps({"codes": [i.code for i in report.issues], "seconds": seconds}))
"""


@pytest.mark.parametrize("name", CASES)
def test_validate_survives_hostile_file(name, tmp_path: Path):
    build, code = CASES[name]
    upload = tmp_path / "upload.xlsx"
    upload.write_bytes(build())
    child = subprocess.run([sys.executable, "-c", CHILD, str(upload)], capture_output=True, text=True,
                           timeout=60, env={k: v for k, v in os.environ.items() if k != "FRS_LOAD_PLUGINS"})
    assert child.returncode == 0, child.stderr[-2000:]
    result = json.loads(child.stdout.strip().splitlines()[-1])
    assert result["codes"] == [code]
    assert result["seconds"] < 2.0


# ---------------------------------------------------------------------- text the validator must look at


@pytest.mark.parametrize("text, odd", [
    (b"<t>Smith</t>", False),
    (b"<t>Sm\x07ith</t>", True),
    (b"<t>Sm&#7;ith</t>", True),
    (b"<t>Sm&#x1F;ith</t>", True),
    (b"<t>Sm_x0007_ith</t>", True),
    (b"<t>Tom &amp; Jerry &#233;</t>", False),
    (b"<t>" + b"B" * 1001 + b"</t>", True),
    (b"<t>" + b"B" * 990 + b"</t>", False),
])
def test_gate_tells_the_validator_when_text_needs_a_closer_look(text, odd):
    from frs.workbook.gate import odd_text

    assert odd_text(b"<sst>" + text + b"</sst>", 1000, strings=True) is odd


# ---------------------------------------------------------------- the fast window scan

def sheet_xml(rows_xml: bytes) -> tuple[bytes, int, int]:
    xml = hostile.SHEET_HEAD + rows_xml + hostile.SHEET_TAIL
    return xml, xml.find(b"sheetData"), xml.rfind(b"sheetData")


def plainly_inside(rows_xml: bytes, max_rows: int, max_columns: int) -> bool:
    return gate.Window(max_rows, max_columns).plainly_inside(*sheet_xml(rows_xml))


def cell(ref: str, row: int) -> bytes:
    return f'<row r="{row}"><c r="{ref}" t="n"><v>1</v></c></row>'.encode()


# (max_rows, max_columns): one- to three-letter last columns, limits of every digit count
WINDOWS = [(9, 1), (10, 26), (99, 27), (100, 85), (999, 312), (1000, 702), (5000, 703), (1_048_576, 16_384)]


@pytest.mark.parametrize("max_rows,max_columns", WINDOWS)
def test_fast_scan_edges(max_rows, max_columns):
    """The generated patterns accept the last cell and reject one step beyond, both ways; the
    exact scan agrees."""
    last, beyond_column = gate.column_letter(max_columns - 1), gate.column_letter(max_columns)
    limits = Limits(max_rows=max_rows)
    for ref, row in ((f"{last}{max_rows}", max_rows), (f"A{max_rows}", max_rows), (f"{last}1", 1),
                     (f"A{max(max_rows // 10, 1)}", max(max_rows // 10, 1))):
        assert plainly_inside(cell(ref, row), max_rows, max_columns), ref
        check_upload(hostile.with_sheet(cell(ref, row)), limits, max_columns=max_columns)
    outside = [(f"A{max_rows + 1}", max_rows + 1), (f"{last}{max_rows + 1}", max_rows + 1)]
    if max_columns < 16_384:
        outside.append((f"{beyond_column}1", 1))
    for ref, row in outside:
        assert not plainly_inside(cell(ref, row), max_rows, max_columns), ref
        error = rejection(hostile.with_sheet(cell(ref, row)), limits, max_columns)
        assert error.code == "upload.outside-template" and ref in error.message


@pytest.mark.parametrize("rows_xml", [
    b'<row r="1"><c r="A1"><v>1</v></c><c><v>2</v></c></row>',  # a cell without r
    b'<row><c r="A1"><v>1</v></c></row>',  # a row without r
    b'<row r="1"><c s="1" r="A1"><v>1</v></c></row>',  # r not first
    b'<row r="1"><c r="A01"><v>1</v></c></row>',  # leading zero
    b'<row r="1"><c r="a1"><v>1</v></c></row>',  # lower case (calamine reads it as A1)
    b'<row r="1"><x:c xmlns:x="urn:x" r="A1"><v>1</v></x:c></row>',  # prefixed
    b"<row r=\"1\"><c r='A1'><v>1</v></c></row>",  # single quotes
])
def test_fast_scan_leaves_odd_layouts_to_the_exact_scan(rows_xml):
    assert not plainly_inside(rows_xml, 5000, WINDOW)


# calamine places a cell by its LAST r attribute, and quick-xml needs no space before it, takes
# spaces around "=", single quotes, and ">" inside a quoted value
@pytest.mark.parametrize("second_r", [b" r='XFD1048576'", b'\tr="XFD1048576"', b'r="XFD1048576"',
                                      b' r = "XFD1048576"', b' x="a>b" r="XFD1048576"',
                                      b' t="n" r="XFD1048576"'])
def test_second_r_attribute_is_checked(second_r):
    rows_xml = b'<row r="1"><c r="A1"' + second_r + b"><v>1</v></c></row>"
    assert not plainly_inside(rows_xml, 5000, WINDOW)
    error = rejection(hostile.with_sheet(rows_xml))
    assert error.code == "upload.outside-template" and "XFD1048576" in error.message


def test_writers_files_take_the_fast_path():
    """Files as openpyxl and xlsxwriter write them must not fall to the slow exact scan."""
    import openpyxl
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["UPN", "Maths", "Notes"])
    for n in range(2, 1200):  # rows of four digits too
        sheet.append([f"A{n:012d}", "A*", "O'Brien: 5 > 4 & more"])
    out = io.BytesIO()
    book.save(out)
    for data in (out.getvalue(), hostile.valid_workbook(rows=50, columns=WINDOW)):
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            xml = zf.read(hostile.SHEET)
        start, end = xml.find(b"sheetData"), xml.rfind(b"sheetData")
        assert gate.Window(LIMITS.max_rows, WINDOW).plainly_inside(xml, start, end)


# ---------------------------------------------------------------- text scans

@pytest.mark.parametrize("seed", range(20))
def test_long_run_check_matches_the_regex(seed):
    import random
    rng = random.Random(seed)
    limit = rng.choice([100, 999, 1000, 1001])
    pieces = [b"<t>" + b"x" * rng.choice([0, 5, limit - 1, limit, limit + 1, 3 * limit]) for _ in range(20)]
    part = (b"" if seed % 2 else b"y" * rng.randrange(3 * limit)) + b"".join(rng.sample(pieces, len(pieces)))
    assert gate.has_long_run(part, limit) == (gate.long_run_re(limit).search(part) is not None)


@pytest.mark.parametrize("text,odd", [(b"plain & simple_x", False), (b"bell\x07", True), (b"&#7;", True),
                                      (b"&#x1F;", True), (b"&#10;", False), (b"_x0007_", True),
                                      (b"_X0007_", False), (b"a_b &amp; _x0041_", False)])
def test_odd_text_finds_control_characters(text, odd):
    assert gate.odd_text(b"<si><t>" + text + b"</t></si>", 1000, strings=True) is odd


def test_member_longer_than_declared_is_corrupt():
    assert rejection(hostile.lying_size()).code == "upload.corrupt"
