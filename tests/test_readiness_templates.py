"""Results-day readiness (issue 7): grade scales as the boards award them, and workbooks that read
well on screen and on paper.

The agreement of the templates' own checks with the validator, as LibreOffice evaluates them,
is in tests/test_libreoffice.py.
"""

from __future__ import annotations

import csv
import importlib.util
import io
from pathlib import Path

import openpyxl
import pytest

from frs.testing import make_kernel
from frs.testing.harness import KitContext
from frs.validation.engine import annotate
from frs.validation.render import errors_xlsx

REPO = Path(__file__).resolve().parents[1]
REFERENCE = REPO.parent / "shared" / "reference" / "data"
YEAR = 2021


def context(plugin: str, **options) -> KitContext:
    kernel = make_kernel([plugin], year=YEAR)
    return KitContext(kernel, kernel.keystage(plugin), **options)


def columns_by_qn(ctx: KitContext) -> dict[str, object]:
    return {c.meta.get("qn"): c for c in ctx.result_columns}


@pytest.fixture(scope="module")
def nongcse():
    return context("ks4_nongcse")


@pytest.fixture(scope="module")
def gcse():
    return context("ks4_gcse")


@pytest.fixture(scope="module")
def alevel():
    return context("ks5_alevel")


# --------------------------------------------------------------------------- item 5: grade scales


@pytest.mark.parametrize("qn", ["60332931", "60332943"])  # 603/3293/1 and 603/3294/3
def test_ncfe_cache_level_2_is_graded_a_star_to_d_with_dfe_points(nongcse, qn):
    column = columns_by_qn(nongcse)[qn]
    values = column.values
    assert list(values.values) == ["*", "A", "B", "C", "D", "U"]
    # the DfE 2019 points of NCFE CACHE's Level 2 Award in Child Development and Care (600/6644/1)
    assert column.meta["points"] == {"*": 7.0, "A": 6.25, "B": 5.5, "C": 4.75, "D": 4.0, "U": 0.0}
    assert column.meta["points_confidence"].startswith("inferred") and "60066441" in column.meta["points_confidence"]
    assert values.normalise("A*") == "*" and values.normalise("b") == "B" and values.normalise("C#") == "C"
    for btec_style in ("D2", "*2", "P1", "Level 2 Distinction"):
        assert values.normalise(btec_style) is None


def test_wjec_vocational_awards_use_the_wjec_scale_of_the_dfe_points_file(nongcse):
    wjec = [c for c in nongcse.result_columns if c.meta["kind"] == "WJEC Level 1/2 Vocational Award"]
    assert len(wjec) == 7
    for column in wjec:
        assert list(column.values.values) == ["*2", "D2", "M2", "P2", "P1", "U"], column.header
        assert column.meta["points"]["P1"] == 1.75
    inferred = {c.meta["qn"] for c in wjec if c.meta["points_confidence"].startswith("inferred")}
    assert inferred == {"60330685", "60327054"}


def test_every_scale_not_read_from_a_dfe_file_is_marked_inferred_with_its_source(nongcse):
    points = {}
    with open(REFERENCE / "ks4_grade_points.csv", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            points.setdefault(row["example_qn"], set()).add(row["dfe_grade_code"])
    reference = {}
    with open(REFERENCE / "ks4_nongcse.csv", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            reference[row["qn"]] = row["points_confidence"]
    marked = 0
    for column in nongcse.result_columns:
        confidence = column.meta["points_confidence"]
        if reference[column.meta["qn"]].startswith("official"):
            assert confidence.startswith("official"), column.header
        else:
            marked += 1
            assert confidence.startswith("inferred (") and confidence != "inferred (as given in the reference list)", (
                column.header, confidence)
    assert marked == 24


def test_history_of_art_is_an_a_level_column(alevel):
    (column,) = [c for c in alevel.result_columns if c.header == "History of Art"]
    assert column.id == "ks5_alevel.3830" and column.meta["ks4_discount_code"] == "JA33"
    assert list(column.values.values) == ["*", "A", "B", "C", "D", "E", "U"]
    assert column.meta["points"]["*"] == 60.0
    headers = [c.header for c in alevel.result_columns]
    assert headers.index("History of Art") == headers.index("History") + 1


def test_the_builder_adds_history_of_art_only_when_the_list_lacks_it(tmp_path):
    spec = importlib.util.spec_from_file_location("build_catalogues", REPO / "scripts" / "build_catalogues.py")
    builder = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(builder)
    row = {"subject": "History", "discount_code_4digit": "4010", "ks4_alpha_discount_code": "DB",
           "grades": "A*|A|U", "points_16_18_a_level": "A*=60;A=50;U=0"}
    assert [r["subject"] for r in builder.alevel_rows([row])] == ["History", "History of Art"]
    both = builder.alevel_rows([row, *builder.ALEVEL_SUPPLEMENT])
    assert [r["subject"] for r in both] == ["History", "History of Art"]


@pytest.mark.parametrize("typed, stored", [("A*", "*"), ("a*", "*"), ("A#", "A"), ("*#", "*"), (" b# ", "B")])
def test_a_level_takes_a_star_as_printed_and_the_partial_absence_mark(alevel, typed, stored):
    values = alevel.result_columns[0].values
    assert values.normalise(typed) == stored


@pytest.mark.parametrize("typed", ["A+", "#", "A##B", "AB"])
def test_a_level_still_refuses_what_is_not_a_grade(alevel, typed):
    assert alevel.result_columns[0].values.normalise(typed) is None


def test_gcse_takes_the_partial_absence_mark_and_combined_science_with_spaces(gcse):
    maths = next(c for c in gcse.result_columns if c.header == "Mathematics")
    science = next(c for c in gcse.result_columns if c.meta["double_award"])
    assert maths.values.normalise("5#") == "5" and maths.values.normalise("U#") == "U"
    for typed in ("6 - 5", "6-5", "6 -5", "6/5", "6 5", "65", "65#", "6-5#"):
        assert science.values.normalise(typed) == "65", typed
    for typed in ("5-6", "6", "63", "6-5-4"):
        assert science.values.normalise(typed) is None, typed


def test_the_validator_accepts_the_printed_forms_at_their_cells(alevel, gcse):
    def edit(sheet, ctx):
        first = ctx.result_columns[0].id
        sheet[ctx.cell(first, 0)], sheet[ctx.cell(first, 1)] = "A*", "B#"

    report = alevel.validate(alevel.filled(edit))
    assert not [i for i in report.issues if i.is_error], report.issues
    record = report.records[0]["results"]
    assert record[alevel.result_columns[0].id] == "*"

    science = next(c for c in gcse.result_columns if c.meta["double_award"])
    report = gcse.validate(gcse.filled(lambda sheet, ctx: sheet.__setitem__(ctx.cell(science.id, 0), "6 - 5")))
    assert not [i for i in report.issues if i.is_error], report.issues
    assert report.records[0]["results"][science.id] == "65"


def test_ks2_example_uses_the_sta_codes():
    from frs_keystage_ks2 import SCALED_SCORE, TEST_CODES, WRITING, WRITING_CODES

    assert set(TEST_CODES) == set("ABFHJLMNPQU")
    assert set(WRITING_CODES) == {"GDS", "EXS", "WTS", "PK1", "PK2", "PK3", "PK4", "PK5", "PK6", "EM",
                                  "A", "L", "F", "P"}
    assert SCALED_SCORE.normalise("X") is None and SCALED_SCORE.hint("T") == "U"
    assert WRITING.normalise("BLW") is None and WRITING.hint("BLW") == "EM"


def test_catalogue_docs_match_the_code(alevel, nongcse):
    docs = (REPO / "docs" / "catalogues.md").read_text(encoding="utf-8")
    assert f"| {len(alevel.result_columns)} A-level subjects |" in docs
    assert f"| {len(nongcse.result_columns)} qualifications |" in docs
    assert "History of Art" in docs and "603/3293/1" in docs and "6 - 5" in docs
    assert "maps `X` to `U`" not in docs  # the KS5 plugin refuses X like the KS4 ones


# --------------------------------------------------------------------------- item 7: on screen and on paper


def print_setup_of(sheet) -> tuple:
    setup = sheet.page_setup
    return (setup.orientation, sheet.sheet_properties.pageSetUpPr.fitToPage, setup.fitToWidth,
            setup.fitToHeight)


def assert_printable(sheet, title_rows: str) -> None:
    orientation, fit, wide, tall = print_setup_of(sheet)
    assert orientation == "landscape" and fit, sheet.title
    assert int(wide or 1) == 1 and int(tall) == 0, sheet.title  # one page wide, as many long as needed
    assert sheet.print_title_rows == title_rows, sheet.title


def wrapped_rows_have_heights(sheet, widths: dict[str, float], min_row: int = 1) -> int:
    """Every row holding a wrapped text longer than its column gets the height its lines need;
    returns how many such rows there were."""
    checked = 0
    merged = {}
    for rng in sheet.merged_cells.ranges:  # a paragraph merged across the sheet wraps at the whole width
        merged[(rng.min_row, rng.min_col)] = sum(widths.get(openpyxl.utils.get_column_letter(c), 8.43)
                                                 for c in range(rng.min_col, rng.max_col + 1))
    for row in sheet.iter_rows(min_row=min_row):
        for cell in row:
            if not isinstance(cell.value, str) or not cell.alignment.wrap_text:
                continue
            width = merged.get((cell.row, cell.column), widths.get(cell.column_letter, 8.43))
            if len(cell.value) * 1.1 > width * 2:  # needs three lines or more
                height = sheet.row_dimensions[cell.row].height
                assert height is not None and height >= 45, (sheet.title, cell.coordinate, height)
                checked += 1
    return checked


def widths_of(sheet) -> dict[str, float]:
    widths = {}
    for key, dim in sheet.column_dimensions.items():
        for index in range(dim.min or 0, (dim.max or 0) + 1):
            widths[openpyxl.utils.get_column_letter(index)] = dim.width
    return widths


@pytest.mark.parametrize("plugin", ["ks4_gcse", "ks4_nongcse", "ks5_alevel"])
def test_template_prints_landscape_one_page_wide_with_header_rows_repeated(plugin):
    ctx = context(plugin, pupil_count=3)
    book = openpyxl.load_workbook(io.BytesIO(ctx.template()))
    header = ctx.keystage.column_header_row
    assert_printable(book[ctx.sheet_name], f"$1:${header}")
    assert_printable(book["Guidance"], "$1:$1")


@pytest.mark.parametrize("plugin", ["ks4_nongcse", "ks5_alevel"])
def test_guidance_rows_are_as_tall_as_their_wrapped_text(plugin):
    ctx = context(plugin, pupil_count=1)
    guidance = openpyxl.load_workbook(io.BytesIO(ctx.template()))["Guidance"]
    assert wrapped_rows_have_heights(guidance, widths_of(guidance)) >= 1


@pytest.fixture(scope="module")
def upload_with_mistakes(nongcse):
    first = nongcse.result_columns[0].id

    def edit(sheet, ctx):
        sheet[ctx.cell(first, 0)] = "Distinction"  # a long message: the grade exists at two levels
        sheet[ctx.cell("upn", 1)] = "A123"

    data = nongcse.filled(edit)
    return data, nongcse.validate(data)


def test_error_list_prints_well_and_its_messages_have_room(upload_with_mistakes):
    _, report = upload_with_mistakes
    sheet = openpyxl.load_workbook(io.BytesIO(errors_xlsx(report)))["Errors"]
    assert_printable(sheet, "$3:$3")
    assert wrapped_rows_have_heights(sheet, widths_of(sheet), min_row=4) >= 1


def test_annotated_copy_keeps_the_template_look_and_prints_well(nongcse, upload_with_mistakes):
    data, report = upload_with_mistakes
    book = openpyxl.load_workbook(io.BytesIO(annotate(nongcse.kernel, data, report)))
    template = openpyxl.load_workbook(io.BytesIO(nongcse.template()))[nongcse.sheet_name]
    sheet = book[nongcse.sheet_name]
    header = nongcse.keystage.column_header_row
    assert_printable(sheet, f"$1:${header}")
    assert_printable(book["Issues"], "$1:$1")
    first = nongcse.letter(nongcse.result_columns[0].id)
    for ref in (f"{first}1", f"{first}{header}", f"K{header - 1}", "A1"):
        mine, theirs = sheet[ref], template[ref]
        assert mine.value == theirs.value, ref
        assert mine.font.b == theirs.font.b, ref
        assert mine.fill.fgColor.rgb == theirs.fill.fgColor.rgb, ref
        assert bool(mine.alignment.wrap_text) == bool(theirs.alignment.wrap_text), ref
    assert sheet.column_dimensions[first].width == pytest.approx(template.column_dimensions[first].width, abs=0.1)
    for row in range(1, header + 1):
        assert sheet.row_dimensions[row].height == template.row_dimensions[row].height, row
    # the wrongly typed cell is still marked
    cell = sheet[f"{first}{nongcse.row(0)}"]
    assert cell.fill.fgColor.rgb.endswith("FFC7CE") and cell.comment is not None
    assert wrapped_rows_have_heights(book["Issues"], widths_of(book["Issues"]), min_row=2) >= 1


@pytest.mark.parametrize("plugin", ["ks4_gcse", "ks4_nongcse", "ks5_alevel", "ks2"])
def test_every_validation_formula_fits_excels_limit(plugin):
    from frs.keystage import EXCEL_VALIDATION_LIMIT
    from frs.workbook.inspect import read_data_validations

    ctx = context(plugin, pupil_count=1)
    formulas = [formula for _, formula in read_data_validations(ctx.template(), ctx.sheet_name)]
    assert formulas and max(len(f) for f in formulas) <= EXCEL_VALIDATION_LIMIT
