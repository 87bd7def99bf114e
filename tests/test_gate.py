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
