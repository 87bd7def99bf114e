"""Issue 7 (results-day readiness): what real spreadsheets and the DfE's own codes do to the values.

No result is lost silently (error values, formulas without results, booleans, ambiguous XML);
codes are ASCII and text is NFC; one bad number never breaks a rule; names and sex codes as the
DfE allows them; what frs knows need not be typed; file-level problems are said once.
Every workbook is built here in code: a template filled as a school would, then patched as a
program, a browser or a careless copy would leave it.
"""

from __future__ import annotations

import io
import re
import zipfile

import openpyxl
import pytest
from click.testing import CliRunner
from conftest import KS5_OPEN_NOW, MANAGER, SCHOOL, cohort_template, found, make_ks5_workbook

import hostile
from frs import upn
from frs.cli import main
from frs.connectors import School, dfe_number
from frs.demo import fill_results
from frs.issues import WARNING, column_letter
from frs.validation import render
from frs.validation.engine import annotate, validate

THE_SCHOOL = School(SCHOOL, "Test Academy")
SHEET_PART = "xl/worksheets/sheet1.xml"


@pytest.fixture(scope="module")
def template(kernel, ks5):
    return cohort_template(kernel, ks5, THE_SCHOOL, 6)


def filled(kernel, ks5, template, edit=None):
    return fill_results(template, kernel, ks5, per_pupil=3, edit=edit)


def at(report, row, column):
    return {i.code for i in report.issues if (i.row, i.column) == (row, column)}


def patch(data: bytes, edit, part: str = SHEET_PART) -> bytes:
    """``data`` with one part's XML rewritten by ``edit(xml) -> xml``."""
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        xml = zf.read(part)
    return hostile.repack(data, replace={part: edit(xml)})


def set_cell(data: bytes, ref: str, cell_xml: bytes) -> bytes:
    """Replace cell ``ref`` of the Results sheet (which must exist) with ``cell_xml``."""
    def edit(xml):
        pattern = rb'<c r="' + ref.encode() + rb'"(?:\s[^>]*)?(?:/>|>.*?</c>)'
        new, n = re.subn(pattern, lambda _: cell_xml, xml, count=1, flags=re.S)
        if n == 0:  # an empty cell openpyxl did not write: add it to the end of its row
            row = re.fullmatch(r"[A-Z]+(\d+)", ref).group(1).encode()
            new, n = re.subn(rb'(<row r="' + row + rb'"[^>]*>.*?)(</row>)', lambda m: m.group(1) + cell_xml + m.group(2),
                             xml, count=1, flags=re.S)
        assert n == 1, ref
        return new
    return patch(data, edit)


def record_of(report, row):
    return next(r for r in report.records if r["row"] == row)


# =========================================================== 1. no result is ever lost silently


def test_error_values_are_reported_at_their_cells_never_read_as_blank(kernel, ks5, template, col):
    biology, upn_col = col["ks5_alevel.1010"], col["upn"]

    def edit(ws):
        ws[f"{biology}4"] = "#N/A"
        ws[f"{biology}5"] = "#DIV/0!"
        ws[f"{upn_col}6"] = "#REF!"
        ws[f"{biology}7"] = "=VLOOKUP(A7,A1:B2,2,FALSE)"  # openpyxl stores no result for it

    report = validate(kernel, filled(kernel, ks5, template, edit), SCHOOL)
    assert at(report, 4, biology) == {"template.error-cell"}
    assert at(report, 5, biology) == {"template.error-cell"}
    assert at(report, 6, upn_col) == {"template.error-cell"}  # not "Enter the pupil's UPN" as well
    assert at(report, 7, biology) == {"template.formula-no-value"}
    assert not report.valid


def test_error_value_inside_a_formula_cell_is_reported(kernel, ks5, template, col):
    biology = col["ks5_alevel.1010"]
    data = set_cell(filled(kernel, ks5, template), f"{biology}5",
                    f'<c r="{biology}5" t="e"><f>VLOOKUP(E5,X:Y,2,FALSE)</f><v>#N/A</v></c>'.encode())
    report = validate(kernel, data, SCHOOL)
    assert ("template.error-cell", 5, biology) in found(report)
    copy = annotate(kernel, data, report)
    ws = openpyxl.load_workbook(io.BytesIO(copy))["Results"]
    assert ws[f"{biology}5"].value == "#N/A" and ws[f"{biology}5"].data_type == "s"  # shown, as text


@pytest.mark.parametrize("keystage_id", ["ks2", "ks4_gcse", "ks4_nongcse", "ks5_alevel"])
def test_a_boolean_is_not_a_grade_in_any_key_stage(kernel, keystage_id):
    ks = kernel.keystage(keystage_id)
    columns = kernel.columns(ks)
    first = next(i for i, c in enumerate(columns) if c.kind == "result")
    letter = column_letter(first)

    def edit(ws):
        ws[f"{letter}{ks.first_pupil_row}"] = True  # TRUE typed into Excel is a boolean cell

    data = fill_results(cohort_template(kernel, ks, THE_SCHOOL, 3), kernel, ks, per_pupil=0, edit=edit)
    report = validate(kernel, data, SCHOOL, keystage_id=keystage_id)
    codes = at(report, ks.first_pupil_row, letter)
    assert codes and all(code.endswith("invalid-result") for code in codes)


def test_results_rule_itself_never_takes_a_boolean_for_a_grade(kernel):
    from frs.keystage import ResultsRule, Table

    ks = kernel.keystage("ks4_gcse")
    columns = kernel.columns(ks)
    index = {c.id: i for i, c in enumerate(columns)}
    first = next(i for i, c in enumerate(columns) if c.kind == "result")
    rows = [[""] * len(columns) for _ in range(3)]
    rows[0][first], rows[1][first], rows[2][first] = 1.0, True, 4.0  # 1 is a GCSE grade; True is not
    table = Table(keystage=ks, columns=columns, rows=rows, row_numbers=[4, 5, 6], index=index, sheet="Results",
                  school_dfe=SCHOOL)
    rule = next(r for r in kernel.rules(ks) if isinstance(r, ResultsRule))
    assert {(i.row, i.column) for i in rule.check(table)} == {(5, column_letter(first))}


def test_two_sheets_with_the_template_sheet_name_are_refused(kernel, ks5, template):
    data = patch(filled(kernel, ks5, template), lambda xml: xml.replace(b'name="Guidance"', b'name="Results"'),
                 part="xl/workbook.xml")
    report = validate(kernel, data, SCHOOL)
    assert [i.code for i in report.issues] == ["upload.duplicate-sheet"]


@pytest.mark.parametrize("how", ["written twice", "two positions", "inline with value"])
def test_ambiguous_cells_are_refused(kernel, ks5, template, col, how):
    biology = col["ks5_alevel.1010"]
    data = filled(kernel, ks5, template)
    if how == "written twice":
        data = patch(data, lambda xml: xml.replace(b'<c r="A5"', b'<c r="B5"><v>1</v></c><c r="A5"', 1)
                     .replace(b'<c r="B5"><v>1</v></c><c r="A5"', b'<c r="A5"><v>1</v></c><c r="A5"', 1))
    elif how == "two positions":
        data = set_cell(data, f"{biology}5", f'<c r="{biology}5" r="{biology}6" t="inlineStr"><is><t>A</t></is></c>'.encode())
    else:
        data = set_cell(data, f"{biology}5", f'<c r="{biology}5" t="inlineStr"><is><t>A</t></is><v>7</v></c>'.encode())
    report = validate(kernel, data, SCHOOL)
    assert [i.code for i in report.issues] == ["upload.ambiguous-cells"]


@pytest.mark.parametrize("index", [b"1.0", b" 1", b"-1", b"+1", b"0x1", b"99999"])
def test_shared_string_index_must_be_a_plain_number_in_range(kernel, index):
    data = hostile.with_sheet(b'<row r="1"><c r="A1" t="s"><v>' + index + b"</v></c></row>")
    report = validate(kernel, data, SCHOOL)
    assert [i.code for i in report.issues] == ["upload.ambiguous-cells"]


def test_a_plain_shared_string_workbook_still_reads(kernel):
    data = hostile.with_sheet(b'<row r="1"><c r="A1" t="s"><v>0</v></c><c r="B1" t="s"><v>1</v></c></row>')
    report = validate(kernel, data, SCHOOL)
    assert [i.code for i in report.issues] == ["template.unrecognised"]  # read, and not a template


# =========================================================== 2. ASCII where the DfE means ASCII


FULL_WIDTH = str.maketrans("0123456789", "０１２３４５６７８９")
ARABIC_INDIC = str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩")


def test_dfe_number_accepts_ascii_digits_only():
    assert dfe_number("1231234") == "1231234" and dfe_number("123\u00a01234") == "1231234"
    assert dfe_number("1231234".translate(FULL_WIDTH)) is None
    assert dfe_number("1231234".translate(ARABIC_INDIC)) is None
    assert dfe_number("¹²³¹²³⁴") is None


def test_non_ascii_digits_in_codes_are_refused_at_their_cells(kernel, ks5, template, col):
    def edit(ws):
        ws["E4"] = ws["E4"].value.translate(FULL_WIDTH)  # a UPN with full-width digits
        ws["B5"] = SCHOOL.translate(FULL_WIDTH)  # the school's own DfE number, full width
        ws["J6"] = str(int(ws["J6"].value)).translate(ARABIC_INDIC)  # a year of birth
        ws["E7"] = ws["E8"].value.translate(ARABIC_INDIC)  # another pupil's UPN, disguised

    report = validate(kernel, filled(kernel, ks5, template, edit), SCHOOL)
    assert ("pupil.upn-not-ascii", 4, "E") in found(report)
    assert at(report, 5, "B") == {"pupil.dfe-number-format"}
    assert at(report, 6, "J") == {"pupil.dob-invalid"}
    assert ("pupil.upn-not-ascii", 7, "E") in found(report)
    message = next(i.message for i in report.issues if i.code == "pupil.upn-not-ascii" and i.row == 4)
    assert "fullwidth digit" in message  # says what was found


def test_a_full_width_discount_code_is_refused_saying_what_was_found(kernel, ks5, template, col):
    biology = col["ks5_alevel.1010"]

    def edit(ws):
        ws[f"{biology}1"] = str(ws[f"{biology}1"].value).translate(FULL_WIDTH)

    report = validate(kernel, filled(kernel, ks5, template, edit), SCHOOL)
    issue = next(i for i in report.issues if (i.row, i.column) == (1, biology))
    assert issue.code == "template.changed-header-row" and "fullwidth digit" in issue.message


def test_non_ascii_digits_are_not_grades(kernel):
    ks = kernel.keystage("ks2")
    first = next(i for i, c in enumerate(kernel.columns(ks)) if c.kind == "result")
    letter = column_letter(first)

    def edit(ws):
        ws[f"{letter}{ks.first_pupil_row}"] = "105".translate(ARABIC_INDIC)

    data = fill_results(cohort_template(kernel, ks, THE_SCHOOL, 2), kernel, ks, per_pupil=0, edit=edit)
    report = validate(kernel, data, SCHOOL, keystage_id="ks2")
    assert at(report, ks.first_pupil_row, letter) == {"ks2.invalid-result"}


def test_text_is_nfc_normalised_and_no_break_spaces_are_spaces(kernel, ks5, template):
    def edit(ws):
        ws["F4"] = "Zoe\u0308"  # a Mac's decomposed ë
        ws["G4"] = "Van\u00a0Dijk"
        ws["F5"] = "Zo\u00eb"

    report = validate(kernel, filled(kernel, ks5, template, edit), SCHOOL)
    assert report.valid, report.issues
    assert record_of(report, 4)["forename"] == "Zo\u00eb" == record_of(report, 5)["forename"]
    assert record_of(report, 4)["surname"] == "Van Dijk"


# =========================================================== 3. one bad number never breaks a rule


@pytest.mark.parametrize("raw", [b"NaN", b"INF", b"-inf", b"1e400", b"99999999999999999999999", b""])
def test_nan_infinity_and_huge_numbers_are_the_cells_own_error(kernel, ks5, template, col, raw):
    biology = col["ks5_alevel.1010"]

    def edit(ws):
        ws["K5"] = "X"  # another mistake, which must still be reported

    data = filled(kernel, ks5, template, edit)
    for ref in ("H4", "J6", f"{biology}7"):  # day of birth, year of birth, a result
        data = set_cell(data, ref, b'<c r="' + ref.encode() + b'"><v>' + raw + b"</v></c>")
    report = validate(kernel, data, SCHOOL)
    codes = {i.code for i in report.issues}
    assert "template.rule-failed" not in codes
    assert at(report, 4, "H") == {"template.bad-number"}
    assert at(report, 6, "J") == {"template.bad-number"}
    assert at(report, 7, biology) == {"template.bad-number"}
    assert ("pupil.gender-invalid", 5, "K") in found(report)
    assert render.errors_xlsx(report)
    copy = annotate(kernel, data, report)
    assert openpyxl.load_workbook(io.BytesIO(copy))["Results"]["H4"].value  # written, and shown


def test_a_nan_written_by_openpyxl_is_reported_at_its_cell(kernel, ks5, template, col):
    def edit(ws):
        ws["I5"] = float("nan")  # openpyxl writes an empty number, which calamine cannot parse

    report = validate(kernel, filled(kernel, ks5, template, edit), SCHOOL)
    assert found(report) == {("template.bad-number", 5, "I")}
    assert report.pupils == 6


def test_duplicate_upn_issue_shows_the_duplicated_upn(kernel, ks5, template):
    def edit(ws):
        ws["E7"] = ws["E5"].value

    data = filled(kernel, ks5, template, edit)
    wb = openpyxl.load_workbook(io.BytesIO(data))
    duplicated = wb["Results"]["E5"].value
    report = validate(kernel, data, SCHOOL)
    issue = next(i for i in report.issues if i.code == "pupil.upn-duplicate")
    assert (issue.row, issue.column, issue.value) == (7, "E", duplicated)


# =========================================================== 4. names and sex codes as the DfE allows


@pytest.mark.parametrize("name", ["'t Hooft", "O'Brien", "Smith-Jones", "Zoë", "Ægir Þórsson", "Nguyễn", "A" * 100,
                                  "D’Arcy", "-Jones"])
def test_latin_names_are_accepted(kernel, ks5, template, name):
    def edit(ws):
        ws["G4"] = name

    report = validate(kernel, filled(kernel, ks5, template, edit), SCHOOL)
    assert at(report, 4, "G") == set()


@pytest.mark.parametrize("name, code", [("Smith2", "pupil.name-invalid"), ("Sm!th", "pupil.name-invalid"),
                                        ("'", "pupil.name-invalid"), ("A" * 101, "pupil.name-too-long")])
def test_digits_symbols_and_overlong_names_are_errors(kernel, ks5, template, name, code):
    def edit(ws):
        ws["G4"] = name

    report = validate(kernel, filled(kernel, ks5, template, edit), SCHOOL)
    assert at(report, 4, "G") == {code}


@pytest.mark.parametrize("name", ["Дмитрий", "王芳", "محمد"])
def test_names_in_other_scripts_are_a_warning(kernel, ks5, template, name):
    def edit(ws):
        ws["F4"] = name

    report = validate(kernel, filled(kernel, ks5, template, edit), SCHOOL)
    assert at(report, 4, "F") == {"pupil.name-not-latin"}
    assert report.valid and all(i.severity == WARNING for i in report.issues)


def test_sex_codes_m_and_f_are_accepted_as_male_and_female(kernel, ks5, template):
    def edit(ws):
        ws["K4"], ws["K5"], ws["K6"], ws["K7"] = "M", "f", "m", "F"

    report = validate(kernel, filled(kernel, ks5, template, edit), SCHOOL)
    assert report.issues == []
    assert [record_of(report, r)["gender"] for r in (4, 5, 6, 7)] == ["Male", "Female", "Male", "Female"]


# =========================================================== 7. what frs knows need not be typed


def test_known_pupil_columns_may_be_left_blank_and_are_filled_in(kernel, ks5, template, col):
    def edit(ws):
        for row in range(4, 10):
            for letter in ("A", "B", "C", "D"):
                ws[f"{letter}{row}"] = None
        for letter, value in (("B", SCHOOL), ("C", 5), ("D", 13)):  # a spare row, only pre-filled
            ws[f"{letter}12"] = value

    report = validate(kernel, filled(kernel, ks5, template, edit), SCHOOL)
    assert report.issues == [] and report.pupils == 6
    record = record_of(report, 4)
    assert (record["dfe_number"], record["key_stage"], record["nc_year"]) == (SCHOOL, "5", "13")


# =========================================================== 8. file-level problems are said once


def test_another_schools_file_is_one_file_level_error(kernel, ks5, template):
    report = validate(kernel, filled(kernel, ks5, template), "8012345")
    assert found(report) == {("pupil.dfe-number-other-school", None, None)}


def test_one_row_of_another_school_is_reported_at_its_cell(kernel, ks5, template):
    def edit(ws):
        ws["B5"] = "8012345"

    report = validate(kernel, filled(kernel, ks5, template, edit), SCHOOL)
    assert found(report) == {("pupil.dfe-number-other-school", 5, "B")}


@pytest.mark.parametrize("keystage_id", [None, "ks5_alevel"])
def test_a_renamed_results_sheet_is_named_as_such(kernel, ks5, template, keystage_id):
    def edit(ws):
        ws.title = "Sheet1"

    report = validate(kernel, filled(kernel, ks5, template, edit), SCHOOL, keystage_id=keystage_id)
    assert [(i.code, i.value) for i in report.issues] == [("template.renamed-sheet", "Sheet1")]
    assert "'Results' was renamed to 'Sheet1'" in report.issues[0].message


@pytest.mark.parametrize("suffix", [" (1).xlsx", ".XLSX", " (12).Xlsx"])
def test_a_browsers_second_download_or_upper_case_extension_is_accepted_for_ks4(kernel, suffix):
    ks = kernel.keystage("ks4_gcse")
    data = fill_results(cohort_template(kernel, ks, THE_SCHOOL, 3), kernel, ks, per_pupil=2)
    expected = ks.expected_filename(kernel.round_for(ks).year, SCHOOL)
    name = expected[:-len(".xlsx")] + suffix
    report = validate(kernel, data, SCHOOL, filename=name)
    assert [(i.code, i.severity) for i in report.issues] == [("template.filename-variant", WARNING)]
    assert report.valid
    other = validate(kernel, data, SCHOOL, filename="results (1).xlsx")
    assert [i.code for i in other.issues] == ["template.wrong-filename"]


@pytest.mark.parametrize("data", [hostile.ods_like(), hostile.ole2(encrypted=False)])
def test_ods_and_xls_messages_tell_libreoffice_users_what_to_click(kernel, data):
    report = validate(kernel, data, SCHOOL)
    assert [i.code for i in report.issues] in (["upload.not-xlsx"], ["upload.old-xls"])
    assert "Excel 2007-365 (.xlsx)" in report.issues[0].message and "LibreOffice" in report.issues[0].message


def test_frs_validate_prints_a_refused_files_reason_once(tmp_path):
    path = tmp_path / "results.ods"
    path.write_bytes(hostile.ods_like())
    result = CliRunner().invoke(main, ["validate", str(path), "--school", SCHOOL], catch_exceptions=False)
    assert result.exit_code == 1
    assert (result.stdout + result.stderr).count("OpenDocument spreadsheet") == 1


@pytest.fixture
def cli(db_url, config_file, tmp_path, monkeypatch):
    monkeypatch.setenv("FRS_CONFIG", str(config_file))
    monkeypatch.setenv("FRS_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("FRS_DATABASE_URL", db_url)
    monkeypatch.setenv("FRS_NOW", KS5_OPEN_NOW)
    runner = CliRunner()

    def run(*args):
        result = runner.invoke(main, [str(a) for a in args], catch_exceptions=False)
        return result.exit_code, result.stdout, result.stderr

    return run


def test_frs_upload_prints_a_refused_files_reason_once(cli, tmp_path):
    cli("db", "init")
    cli("schools", "add", "--dfe", SCHOOL, "--name", "Test School")
    cli("users", "add", MANAGER, "--school", SCHOOL, "--permission", "manage_data")
    path = tmp_path / "results.ods"
    path.write_bytes(hostile.ods_like())
    code, out, err = cli("upload", path, "--as", MANAGER)
    assert code == 1 and "nothing was stored" in err
    assert (out + err).count("OpenDocument spreadsheet") == 1


def test_clean_ks5_workbook_still_validates_clean(kernel):
    report = validate(kernel, make_ks5_workbook(kernel, pupils=4), SCHOOL)
    assert report.issues == [] and upn.valid(report.records[0]["upn"])
