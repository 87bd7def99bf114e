"""End to end on KS5: generate a template, fill it as a school would, validate, and find each
planted mistake at its exact cell in the report, the JSON, the error list and the annotated copy."""

from __future__ import annotations

import io
import json

import openpyxl
import pytest
from click.testing import CliRunner
from conftest import cohort_template, found

from frs import config
from frs.cli import main
from frs.connectors import School
from frs.demo import fill_results
from frs.issues import column_letter
from frs.kernel import Kernel
from frs.validation import render
from frs.validation.engine import annotate, validate
from frs.workbook.template import build_template

SCHOOL = School("1231234", "Test Academy")


@pytest.fixture(scope="module")
def template(kernel, ks5):
    return cohort_template(kernel, ks5, SCHOOL, 12)


def filled(kernel, ks5, template, edit=None):
    return fill_results(template, kernel, ks5, per_pupil=3, edit=edit)


def test_filled_template_validates_clean(kernel, ks5, template):
    report = validate(kernel, filled(kernel, ks5, template), SCHOOL.dfe, filename="anything.xlsx")
    assert report.issues == []
    assert report.valid and report.pupils == 12 and report.keystage == "ks5_alevel"
    assert sum(len(r["results"]) for r in report.records) == 36


def test_results_typed_as_numbers_text_or_lower_case_are_accepted(kernel, ks5, template, col):
    def edit(ws):
        ws[f"{col['ks5_alevel.1010']}4"] = "a"
        ws[f"{col['ks5_alevel.1110']}4"] = " B "
        ws[f"{col['ks5_alevel.1210']}4"] = "*"

    report = validate(kernel, filled(kernel, ks5, template, edit), SCHOOL.dfe)
    assert report.valid, found(report)
    assert report.records[0]["results"]["ks5_alevel.1010"] == "A"


def test_planted_errors_are_found_at_their_cells(kernel, ks5, template, col):
    biology, chemistry, physics = col["ks5_alevel.1010"], col["ks5_alevel.1110"], col["ks5_alevel.1210"]

    def edit(ws):
        ws[f"{biology}5"] = "A+"
        ws[f"{chemistry}6"] = 5
        ws[f"{physics}7"] = "Z"
        ws["E8"] = "A" + ws["E8"].value[1:] if ws["E8"].value[0] != "A" else "B" + ws["E8"].value[1:]
        ws["K9"] = "X"

    report = validate(kernel, filled(kernel, ks5, template, edit), SCHOOL.dfe)
    assert found(report) == {
        ("ks5_alevel.invalid-result", 5, biology),
        ("ks5_alevel.invalid-result", 6, chemistry),
        ("ks5_alevel.invalid-result", 7, physics),
        ("pupil.upn-check-letter", 8, "E"),
        ("pupil.gender-invalid", 9, "K"),
    }
    hint = next(i for i in report.issues if i.row == 5)
    assert '"*"' in hint.message  # A* -> use *
    assert hint.plugin == "ks5_alevel" and hint.upn and hint.header == "Biology"
    assert not report.valid


def test_cli_table_json_error_list_and_annotated_copy_agree(kernel, ks5, template, col, tmp_path):
    biology = col["ks5_alevel.1010"]

    def edit(ws):
        ws[f"{biology}6"] = "A+"
        ws["F7"] = '=HYPERLINK("http://evil.example","x")'
        ws["F7"].data_type = "s"  # typed as text (e.g. with a leading apostrophe), so stored as a string

    path = tmp_path / "filled.xlsx"
    path.write_bytes(filled(kernel, ks5, template, edit))
    errors, marked = tmp_path / "errors.xlsx", tmp_path / "marked.xlsx"
    runner = CliRunner()
    result = runner.invoke(main, ["validate", str(path), "--school", SCHOOL.dfe, "--json",
                                  "--errors-xlsx", str(errors), "--annotated", str(marked)])
    assert result.exit_code == 1, result.output
    data = json.loads(result.output)
    assert data["valid"] is False
    issue = next(i for i in data["issues"] if i["code"] == "ks5_alevel.invalid-result")
    assert (issue["row"], issue["column"], issue["sheet"], issue["value"]) == (6, biology, "Results", "A+")
    for key in ("code", "severity", "sheet", "row", "column", "upn", "value", "message", "plugin"):
        assert key in issue

    table = runner.invoke(main, ["validate", str(path), "--school", SCHOOL.dfe])
    assert table.exit_code == 1
    line = next(l for l in table.output.splitlines() if "ks5_alevel.invalid-result" in l)
    assert line.split()[:2] == ["6", biology]

    sheet = openpyxl.load_workbook(errors)["Errors"]
    rows = [[c.value for c in r] for r in sheet.iter_rows(min_row=4)]
    assert ["Error", "Results", 6, biology] == rows[[r[7] for r in rows].index("ks5_alevel.invalid-result")][:4]
    formula_row = next(r for r in sheet.iter_rows(min_row=4) if (r[2].value, r[3].value) == (7, "F"))
    assert formula_row[6].data_type == "s"  # the hostile forename is text, never a live formula

    book = openpyxl.load_workbook(marked)
    cell = book["Results"][f"{biology}6"]
    assert cell.value == "A+" and cell.fill.fgColor.rgb.endswith("FFC7CE")
    assert "ks5_alevel.invalid-result" in cell.comment.text
    assert book["Results"]["F7"].data_type == "s"
    assert book["Results"]["C4"].comment is None
    assert any(r[3].value == "ks5_alevel.invalid-result" for r in book["Issues"].iter_rows(min_row=2))


def test_clean_file_exits_zero(kernel, ks5, template, tmp_path):
    path = tmp_path / "ok.xlsx"
    path.write_bytes(filled(kernel, ks5, template))
    result = CliRunner().invoke(main, ["validate", str(path), "--school", SCHOOL.dfe])
    assert result.exit_code == 0, result.output
    assert "valid" in result.output


def test_other_schools_file_is_an_error(kernel, ks5, template):
    report = validate(kernel, filled(kernel, ks5, template), "8012345")
    assert {i.code for i in report.issues} == {"pupil.dfe-number-other-school"}
    assert len(report.errors) == 1  # issue 7: one file-level error, not one per pupil


# -------------------------------------------------------------------------- structure


def shift_left_from(ws, column):
    ws.delete_cols(openpyxl.utils.column_index_from_string(column))


def test_missing_column(kernel, ks5, template, col):
    report = validate(kernel, filled(kernel, ks5, template, lambda ws: shift_left_from(ws, col["ks5_alevel.1010"])),
                      SCHOOL.dfe)
    assert found(report) == {("template.missing-column", 3, col["ks5_alevel.1010"])}


def test_extra_column(kernel, ks5, template, col):
    last = kernel.columns(ks5)[-1]
    extra = column_letter(len(kernel.columns(ks5)))

    def edit(ws):
        ws[f"{extra}3"] = "Notes"
        ws[f"{extra}4"] = "resit"

    report = validate(kernel, filled(kernel, ks5, template, edit), SCHOOL.dfe)
    assert found(report) == {("template.extra-column", 3, extra)}
    assert last.header


def test_inserted_column_in_the_middle_is_extra(kernel, ks5, template, col):
    where = col["ks5_alevel.1010"]

    def edit(ws):
        ws.insert_cols(openpyxl.utils.column_index_from_string(where))
        ws[f"{where}3"] = "Predicted"

    report = validate(kernel, filled(kernel, ks5, template, edit), SCHOOL.dfe)
    assert found(report) == {("template.extra-column", 3, where)}


def test_renamed_column(kernel, ks5, template, col):
    where = col["ks5_alevel.1010"]
    report = validate(kernel, filled(kernel, ks5, template, lambda ws: ws.__setitem__(f"{where}3", "Biol")), SCHOOL.dfe)
    assert found(report) == {("template.renamed-column", 3, where)}


def test_reordered_columns(kernel, ks5, template, col):
    a, b = col["ks5_alevel.1010"], col["ks5_alevel.3210"]

    def edit(ws):
        for row in range(1, ws.max_row + 1):
            ws[f"{a}{row}"].value, ws[f"{b}{row}"].value = ws[f"{b}{row}"].value, ws[f"{a}{row}"].value

    report = validate(kernel, filled(kernel, ks5, template, edit), SCHOOL.dfe)
    assert {code for code, _, _ in found(report)} == {"template.reordered-columns"}
    assert ("template.reordered-columns", 3, a) in found(report)


def test_changed_discount_code_and_label(kernel, ks5, template, col):
    where = col["ks5_alevel.1010"]

    def edit(ws):
        ws[f"{where}1"] = "1011"
        ws["K2"] = "Results"

    report = validate(kernel, filled(kernel, ks5, template, edit), SCHOOL.dfe)
    assert found(report) == {("template.changed-header-row", 1, where), ("template.changed-header-row", 2, "K")}


def test_wrong_sheet(kernel, ks5, template):
    def edit(ws):
        ws.title = "Sheet1"

    report = validate(kernel, filled(kernel, ks5, template, edit), SCHOOL.dfe, keystage_id="ks5_alevel")
    assert {i.code for i in report.issues} == {"template.renamed-sheet"}  # issue 7: a renamed sheet is named as such


def test_untouched_template_without_pupils(kernel, ks5):
    blank = build_template(kernel, ks5, SCHOOL, kernel.round_for(ks5), [])
    report = validate(kernel, blank, SCHOOL.dfe)
    assert {i.code for i in report.issues} == {"template.no-pupils"}


def test_pupils_but_no_results(kernel, ks5, template):
    report = validate(kernel, template, SCHOOL.dfe)
    assert {i.code for i in report.issues} == {"template.no-results"}


def test_old_version_of_the_template(kernel, ks5, template):
    report = validate(kernel, filled(kernel, ks5, template, lambda ws: ws.__setitem__("A1", "FRS KS5A 2020 v1")),
                      SCHOOL.dfe)
    assert found(report) == {("template.wrong-version", 1, "A")}


def test_a1_cleared_is_not_recognised(kernel, ks5, template):
    data = filled(kernel, ks5, template, lambda ws: ws.__setitem__("A1", None))
    assert {i.code for i in validate(kernel, data, SCHOOL.dfe).issues} == {"template.unrecognised"}
    assert found(validate(kernel, data, SCHOOL.dfe, keystage_id="ks5_alevel")) == {("template.not-a-template", 1, "A")}


def test_template_of_another_key_stage(kernel, ks5, template):
    data = filled(kernel, ks5, template, lambda ws: ws.__setitem__("A1", "FRS KS4G 2020 v1"))
    assert found(validate(kernel, data, SCHOOL.dfe, keystage_id="ks5_alevel")) == {("template.wrong-keystage", 1, "A")}


def test_data_outside_the_columns(kernel, ks5, template):
    outside = column_letter(len(kernel.columns(ks5)) + 2)
    data = filled(kernel, ks5, template, lambda ws: ws.__setitem__(f"{outside}6", "see me"))
    assert found(validate(kernel, data, SCHOOL.dfe)) == {("template.data-outside-columns", 6, outside)}


def test_control_characters_and_overlong_text(kernel, ks5, template, col):
    import zipfile

    physics = col["ks5_alevel.1210"]

    def edit(ws):
        ws[f"{physics}6"] = "B" * 1200
        ws["G7"] = "Zzmarker"

    data = filled(kernel, ks5, template, edit)
    # openpyxl refuses to write control characters, but other tools do: plant one as Excel escapes it
    src, out = zipfile.ZipFile(io.BytesIO(data)), io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for item in src.infolist():
            dst.writestr(item, src.read(item).replace(b"Zzmarker", b"Zz_x0007_marker"))
    report = validate(kernel, out.getvalue(), SCHOOL.dfe)
    assert ("cell.too-long", 6, physics) in found(report)
    assert ("cell.control-characters", 7, "G") in found(report)
    annotated = openpyxl.load_workbook(io.BytesIO(annotate(kernel, out.getvalue(), report)))
    assert annotated["Results"]["G7"].value == "Zz?marker"


def test_a_crashing_plugin_rule_is_reported_not_raised(ks5, template):
    import types

    from frs import hookimpl
    from frs.config import Config
    from frs.keystage import Rule

    class Broken(Rule):
        code = "crashy.boom"
        description = "raises"

        def check(self, table):
            raise ZeroDivisionError("oops")

    module = types.ModuleType("crashy")
    module.register_rules = hookimpl(lambda registry, keystage: registry.add(Broken()))
    kernel = Kernel(Config(path=None, enabled=["ks5_alevel"], rounds=config.load(config.REPO_CONFIG).rounds),
                    plugins={"crashy": module})
    data = fill_results(template, kernel, ks5)
    report = validate(kernel, data, SCHOOL.dfe)
    assert [(i.code, i.plugin) for i in report.issues] == [("template.rule-failed", "crashy")]


def test_error_list_of_a_rejected_upload_is_still_a_spreadsheet(kernel):
    report = validate(kernel, b"UPN,Surname\n", SCHOOL.dfe, filename="results.csv")
    book = openpyxl.load_workbook(io.BytesIO(render.errors_xlsx(report)))
    assert book["Errors"]["H4"].value == report.issues[0].code
    assert annotate(kernel, b"UPN,Surname\n", report) is None


def test_a_huge_file_is_refused_without_reading_it_all(tmp_path, kernel):
    path = tmp_path / "huge.xlsx"
    with open(path, "wb") as handle:  # sparse: 2 GB on paper, nothing on disk
        handle.write(b"PK\x03\x04")
        handle.truncate(2 * 1024 ** 3)
    result = CliRunner().invoke(main, ["validate", str(path), "--school", SCHOOL.dfe, "--json"])
    assert result.exit_code == 1
    assert [i["code"] for i in json.loads(result.output)["issues"]] == ["upload.too-large"]


def test_with_a_known_key_stage_the_gate_window_is_that_templates_width(kernel, ks5, template):
    far = column_letter(len(kernel.columns(ks5)) + 15)  # inside the widest template's window, not KS5's
    data = filled(kernel, ks5, template, lambda ws: ws.__setitem__(f"{far}6", "x"))
    assert {i.code for i in validate(kernel, data, SCHOOL.dfe, keystage_id="ks5_alevel").issues} == {
        "upload.outside-template"}
    assert found(validate(kernel, data, SCHOOL.dfe)) == {("template.data-outside-columns", 6, far)}
