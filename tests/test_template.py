"""The template writer and `frs template`: layout, dropdowns, protection, highlights, round trip."""

from __future__ import annotations

import datetime as dt
import io
import time

import openpyxl
import pytest
from click.testing import CliRunner

import frs.config
from frs import upn
from frs.catalogue import read_rows, split_list
from frs.cli import main
from frs.connectors import Pupil, PupilSource, School
from frs.core import cohort_range
from frs.kernel import Kernel
from frs.keystage import Choices, Column, HeaderRow, KeyStage
from frs.validation.engine import validate
from frs.workbook.inspect import dropdown_values, read_data_validations
from frs.workbook.template import (build_template, dob_mistake_formula, template_filename,
                                   upn_mistake_formula)

DFE = "1231234"
SCHOOL = School(DFE, "Test School")
FIRST_ROW = 4  # KS5: two header rows, column headers in row 3


class FakeSource(PupilSource):
    """A pupil source as an MIS connector would be: valid pupils of the 2021 Year 13 cohort."""

    name = "fake"

    def __init__(self, pupils):
        super().__init__()
        self.pupils = pupils

    def fetch_cohort(self, school, nc_year):
        return list(self.pupils)


def valid_pupils(n: int = 3) -> list[Pupil]:
    first, last = cohort_range(2021, 13)
    span = (last - first).days
    names = [("Ann", "Smith", "Female"), ("Bob", "Jones", "Male"), ("Cara", "O'Neill", "Female")]
    return [Pupil(upn.make("201", "1234", 3, i), *names[i % 3][:2], first + dt.timedelta(days=(i * 37) % span),
                  names[i % 3][2]) for i in range(n)]


@pytest.fixture(scope="module")
def kernel():
    return Kernel(frs.config.load())


@pytest.fixture(scope="module")
def ks(kernel):
    return kernel.keystage("ks5_alevel")


@pytest.fixture(scope="module")
def rnd(kernel, ks):
    return kernel.round_for(ks)


@pytest.fixture(scope="module")
def catalogue():
    return read_rows("frs_ks5_alevel", "data/ks5_alevel.csv")


@pytest.fixture(scope="module")
def data(kernel, ks, rnd):
    pupils = valid_pupils() + [Pupil(upn.make("201", "1234", 3, 9), '=HYPERLINK("http://evil.example","x")',
                                     "+SUM(1)", dt.date(2002, 12, 1), "F")]
    return build_template(kernel, ks, SCHOOL, rnd, FakeSource(pupils).fetch_cohort(SCHOOL, 13))


@pytest.fixture(scope="module")
def sheet(data):
    return openpyxl.load_workbook(io.BytesIO(data))["Results"]


def header_index(sheet, header: str) -> int:
    """1-based column number of ``header`` in the column-header row."""
    return next(c.column for c in sheet[3] if c.value == header)


def test_filename_follows_round_year_and_code(ks, rnd):
    assert template_filename(ks, rnd, SCHOOL) == "2021_KS5A_1231234.xlsx"


def test_version_tag_and_date_in_row_one(sheet):
    assert sheet["A1"].value == "FRS KS5A 2021 v2"
    assert sheet["B1"].value.startswith("Template date ")


def test_header_rows_carry_each_subjects_code_and_valid_results(sheet, catalogue):
    assert sheet["K1"].value == "Discount Code"
    assert sheet["K2"].value == "Valid Results"
    for offset, row in enumerate(catalogue):
        col = 12 + offset  # L onwards, in catalogue order
        assert sheet.cell(3, col).value == row["subject"]
        assert sheet.cell(1, col).value == row["discount_code"]
        assert sheet.cell(1, col).data_type == "s"  # "0010" must not lose its zeros
        assert sheet.cell(2, col).value == ", ".join(split_list(row["results"]))
    assert sheet.cell(3, 12 + len(catalogue)).value is None


def test_column_headers_and_pupil_rows(sheet):
    headers = [c.value for c in sheet[3]][:11]
    assert headers == ["Organisation", "DfE Number", "Key Stage", "NC Year", "UPN", "Forename", "Surname",
                       "Day", "Month", "Year", "Gender"]
    row = [c.value for c in sheet[FIRST_ROW]][:11]
    pupil = valid_pupils()[0]
    assert row == ["Test School", DFE, 5, 13, pupil.upn, "Ann", "Smith", pupil.date_of_birth.day,
                   pupil.date_of_birth.month, pupil.date_of_birth.year, "Female"]
    assert sheet.cell(FIRST_ROW, 2).data_type == "s"  # DfE number as text
    assert sheet.freeze_panes == "H4"


def test_hostile_names_from_a_source_are_strings_not_formulas(sheet):
    row = FIRST_ROW + 3
    forename, surname = sheet.cell(row, 6), sheet.cell(row, 7)
    assert forename.value == '=HYPERLINK("http://evil.example","x")' and forename.data_type == "s"
    assert surname.value == "+SUM(1)" and surname.data_type == "s"
    assert sheet.cell(row, 11).value == "Female"  # the MIS's "F" normalised


def test_every_subject_has_a_validation_accepting_exactly_its_valid_results(data, catalogue):
    # A-level columns also take A* and the partial-absence mark (A#), which a list cannot
    # express: their rule is a formula listing the codes (tests/test_libreoffice.py evaluates
    # it). Adjacent columns with one scale share one rule, written for the first cell.
    found = dict(read_data_validations(data, "Results"))
    # Gender also takes the MIS and census codes F and M, so its rule is a formula too
    assert '",FEMALE,MALE,F,M,"' in found.pop("K4:K2003")
    last = openpyxl.utils.get_column_letter(11 + len(catalogue))
    assert list(found) == [f"L4:{last}2003"]  # every A level has the same grades
    formula = found[f"L4:{last}2003"]
    for row in catalogue:
        assert f'",{",".join(split_list(row["results"]))},A*,"' in formula
    assert "L4" in formula and len(formula) < 255


def test_validations_carry_input_message_and_stop_alert(sheet):
    validations = sheet.data_validations.dataValidation
    accounting = next(v for v in validations if str(v.sqref).startswith("L4:"))
    assert accounting.errorStyle in (None, "stop") and accounting.showErrorMessage
    assert "*, A, B, C, D, E, U" in accounting.prompt
    assert 'Write "*", not A+' in accounting.error


def test_text_columns_are_formatted_as_text(sheet):
    upn_col = header_index(sheet, "UPN")
    assert sheet.cell(FIRST_ROW, upn_col).number_format == "@"
    letter = openpyxl.utils.get_column_letter(upn_col)
    assert sheet.column_dimensions[letter].number_format == "@"  # spare rows too
    for header in ("DfE Number", "Forename", "Surname"):
        assert sheet.cell(FIRST_ROW, header_index(sheet, header)).number_format == "@"


def test_header_rows_locked_pupil_cells_unlocked_no_password(sheet):
    protection = sheet.protection
    assert protection.sheet and not protection.password
    # in OOXML a True attribute means "forbidden": sorting, filtering and formatting stay allowed
    assert not protection.sort and not protection.autoFilter
    assert not protection.formatCells and not protection.formatColumns and not protection.formatRows
    for ref in ("A1", "B1", "K1", "L1", "L2", "A3", "L3"):
        assert sheet[ref].protection.locked, ref
    for col in range(1, 12):
        assert not sheet.cell(FIRST_ROW, col).protection.locked
    for letter in ("E", "L", "BV"):  # spare rows take the column's unlocked format
        assert sheet.column_dimensions[letter].protection.locked is False


def test_mistake_highlights_cover_upn_dob_and_results(sheet, catalogue):
    rules = {str(cf.sqref): cf.rules[0].formula[0] for cf in sheet.conditional_formatting}
    assert rules["E4:E2003"] == upn_mistake_formula("E4")
    assert rules["H4:H2003 I4:I2003 J4:J2003"] == dob_mistake_formula(
        "$H4", "$I4", "$J4", dt.date(2001, 9, 1), dt.date(2004, 8, 31))
    # one rule over every subject column; "L$2" shifts so each column reads its own Valid Results cell
    last = openpyxl.utils.get_column_letter(11 + len(catalogue))
    assert rules[f"L4:{last}2003"] == Choices([], aliases={"A*": "*"}, marks="#").excel_invalid_formula("L4", "L$2")
    assert len(rules) == 3
    rule = next(iter(sheet.conditional_formatting)).rules[0]
    assert rule.dxf.fill.bgColor.rgb.endswith("FFC7CE") and rule.dxf.font.color.rgb.endswith("9C0006")


def test_upn_formula_is_built_from_the_upn_alphabet():
    formula = upn_mistake_formula("E4")
    assert f'"{upn.ALPHABET}"' in formula and "MOD(" in formula and "IFERROR(" in formula
    assert "{" not in formula  # no array constants: LibreOffice and Excel differ on them


def test_guidance_sheet_explains_every_column(data, kernel, ks):
    guidance = openpyxl.load_workbook(io.BytesIO(data))["Guidance"]
    texts = {c.value for row in guidance.iter_rows() for c in row if c.value is not None}
    assert all(c.data_type == "s" for row in guidance.iter_rows() for c in row if c.value is not None)
    for column in kernel.columns(ks):
        assert column.header in texts and column.help in texts
        if column.kind == "result":
            assert column.header_values["discount_code"] in texts
    assert "*, A, B, C, D, E, U" in texts
    assert any("red" in t for t in texts) and any(".xlsx" in t for t in texts)


def test_round_trip_fill_as_a_school_validates_clean(kernel, ks, rnd):
    data = build_template(kernel, ks, SCHOOL, rnd, FakeSource(valid_pupils()).fetch_cohort(SCHOOL, 13))
    book = openpyxl.load_workbook(io.BytesIO(data))
    sheet = book["Results"]
    sheet.cell(FIRST_ROW, 12, "A")
    sheet.cell(FIRST_ROW, 13, "*")
    sheet.cell(FIRST_ROW + 1, 12, "B")
    sheet.cell(FIRST_ROW + 2, 20, "U")
    out = io.BytesIO()
    book.save(out)
    report = validate(kernel, out.getvalue(), DFE, filename=template_filename(ks, rnd, SCHOOL))
    assert report.issues == [] and report.valid
    assert report.pupils == 3


def test_choices_labels_and_long_lists_go_to_guidance_and_hidden_sheet():
    """A plugin's long code list (over Excel's 255-character inline limit) moves to a hidden sheet."""
    codes = [f"CODE{i:03d}" for i in range(40)]
    long = Choices(codes, labels={"CODE000": "Distinction*"})
    keystage = KeyStage(id="demo", code="DEMO", key_stage=4, nc_year=11, title="Demo",
                        header_rows=(HeaderRow("valid_results", "Valid Results"),))

    class Stub:
        config = frs.config.Config(path=None)

        def columns(self, _ks):
            return [Column("upn", "UPN", kind="pupil", text=True, plugin="frs"),
                    Column("forename", "Forename", kind="pupil", text=True, plugin="frs"),
                    Column("surname", "Surname", kind="pupil", text=True, plugin="frs"),
                    Column("demo.x", "Thing", values=long, header_values={"valid_results": long.describe()},
                           plugin="demo")]

    data = build_template(Stub(), keystage, SCHOOL, None, [])
    book = openpyxl.load_workbook(io.BytesIO(data))
    assert book["Lists"].sheet_state == "hidden"
    (sqref, formula), = read_data_validations(data, "Results")
    assert sqref == "D3:D2002" and dropdown_values(formula, data) == codes
    texts = {c.value for row in book["Guidance"].iter_rows() for c in row}
    assert "CODE000 = Distinction*" in texts


def test_cli_writes_one_template(tmp_path):
    out = tmp_path / "t.xlsx"
    result = CliRunner().invoke(main, ["template", "--school", DFE, "--keystage", "ks5_alevel",
                                       "--output", str(out), "--school-name", "Test School"])
    assert result.exit_code == 0, result.output
    assert str(out) in result.output
    sheet = openpyxl.load_workbook(out)["Results"]
    assert sheet["A1"].value == "FRS KS5A 2021 v2"


def test_cli_bulk_writes_each_school_under_its_standard_name(tmp_path):
    schools = tmp_path / "schools.txt"
    schools.write_text("# school list\n1231234, Test School\n\n1231235\n", encoding="utf-8")
    result = CliRunner().invoke(main, ["template", "--schools-file", str(schools), "--keystage", "ks5_alevel",
                                       "--output-dir", str(tmp_path / "out"), "--source", "blank"])
    assert result.exit_code == 0, result.output
    written = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert written == ["2021_KS5A_1231234.xlsx", "2021_KS5A_1231235.xlsx"]
    assert openpyxl.load_workbook(tmp_path / "out" / written[0])["Results"]["A4"].value is None  # blank source


@pytest.mark.parametrize("args, needle", [
    (["--school", "12312", "--keystage", "ks5_alevel", "-o", "x.xlsx"], "not 7 digits"),
    (["--school", DFE, "--keystage", "nope", "-o", "x.xlsx"], "ks5_alevel"),
    (["--school", DFE, "--keystage", "ks5_alevel", "--source", "nope", "-o", "x.xlsx"], "blank"),
    (["--school", DFE, "--school", "1231235", "--keystage", "ks5_alevel", "-o", "x.xlsx"], "--output-dir"),
    (["--keystage", "ks5_alevel", "-o", "x.xlsx"], "--school"),
])
def test_cli_usage_errors_exit_2_with_the_fix(tmp_path, args, needle):
    result = CliRunner().invoke(main, ["template", *args])
    assert result.exit_code == 2
    assert needle in result.output


def test_450_pupil_template_builds_quickly(kernel, ks, rnd, capsys):
    pupils = [Pupil(upn.make("201", "1234", 3, i % 1000), "Ann", "Smith", dt.date(2002, 10, 1), "Female")
              for i in range(450)]
    build_template(kernel, ks, SCHOOL, rnd, pupils)  # warm up imports
    start = time.perf_counter()
    data = build_template(kernel, ks, SCHOOL, rnd, pupils)
    elapsed = time.perf_counter() - start
    with capsys.disabled():
        print(f"\n450-pupil KS5 template: {elapsed * 1000:.0f} ms, {len(data) // 1024} KiB")
    assert elapsed < 2.0
