"""KS4 GCSE key stage: the DfE subject list as columns, Combined Science's two-digit grades,
hints for what schools type, points, and a generated template that validates end to end."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from click.testing import CliRunner
from conftest import keystage_fixtures, reference_rows

from frs import config
from frs.cli import main
from frs.connectors import School
from frs.core import cohort_range
from frs.demo import fill_results
from frs.validation.engine import validate
from frs.workbook.template import template_filename

SCHOOL = School("8881234", "Test Academy")  # 888: Lancashire, a real LA code
INVALID = "ks4_gcse.invalid-result"


ks4, subjects, letter, template = keystage_fixtures("ks4_gcse", SCHOOL, columns_name="subjects")




def issues(report):
    return {(i.code, i.row, i.column) for i in report.issues}


# --------------------------------------------------------------------------- the key stage


def test_plugin_is_listed_enabled_with_its_key_stage_and_rule():
    result = CliRunner().invoke(main, ["--config", str(config.REPO_CONFIG), "plugins", "--json"])
    assert result.exit_code == 0, result.output
    info = next(p for p in json.loads(result.output) if p["name"] == "ks4_gcse")
    assert info["status"] == "enabled"
    assert info["contributes"]["keystages"] == ["ks4_gcse"]
    assert info["contributes"]["rules"] == [INVALID]


def test_key_stage_metadata_and_header_rows(ks4, kernel):
    assert (ks4.code, ks4.key_stage, ks4.nc_year, ks4.title) == ("KS4G", 4, 11, "KS4 GCSE")
    assert [h.key for h in ks4.header_rows] == ["discount_code", "subject_code", "valid_results"]
    assert ks4.expected_filename(2020, SCHOOL.dfe) == "2020_KS4_FRS-KS4G_8881234.xlsx"
    assert kernel.round_for(ks4).id == "ks4-2020"


def test_one_column_per_discount_code_and_subject_code(subjects):
    groups = {(r["ks4_discount_code_2020"], r["original_4digit_discount_code"]) for r in reference_rows("ks4_gcse.csv")}
    assert len(subjects) == len(groups) == 59
    keys = {(c.meta["ks4_discount_code"], c.meta["subject_code"]) for c in subjects.values()}
    assert keys == groups
    assert len({c.id for c in subjects.values()}) == len(subjects)


def test_every_board_qualification_lands_in_exactly_one_column(subjects):
    grouped = [(q["qn"], q["syllabus_ref"]) for c in subjects.values() for q in c.meta["qualifications"]]
    assert sorted(grouped) == sorted((r["qn"], r["syllabus_ref"]) for r in reference_rows("ks4_gcse.csv"))


def test_boards_share_a_subject_column_and_art_endorsements_are_separate(subjects):
    biology = subjects["Biology"]
    assert biology.header_values == {"discount_code": "RH3", "subject_code": "1010",
                                     "valid_results": "9, 8, 7, 6, 5, 4, 3, 2, 1, U"}
    assert {q["awarding_body"] for q in biology.meta["qualifications"]} == {"AQA", "OCR", "Pearson Edexcel",
                                                                           "WJEC Eduqas"}
    art = {h: c.meta["subject_code"] for h, c in subjects.items() if h.startswith("Art and Design")}
    assert len(art) == 7 and len(set(art.values())) == 7
    assert subjects["Art and Design: Photography"].meta["ks4_discount_code"] == "KJ1"
    assert subjects["Art and Design: Fine Art"].meta["ks4_discount_code"] == "JA2"


def test_meta_carries_tiering_double_award_and_points(subjects):
    assert subjects["Mathematics"].meta["tiered"] is True
    assert subjects["History"].meta["tiered"] is False
    assert subjects["Latin"].meta["tiered"] is None  # unverified in the DfE data
    assert subjects["Combined Science"].meta["double_award"] is True
    assert subjects["Biology"].meta["points"]["9"] == 9 and subjects["Biology"].meta["points"]["U"] == 0
    assert subjects["Combined Science"].meta["points"]["65"] == 5.5
    for column in subjects.values():
        assert set(column.meta["points"]) == set(column.values.values), column.header


# --------------------------------------------------------------------------- values and hints


def test_nine_to_one_subjects_accept_numbers_as_typed(subjects):
    english = subjects["English Language"].values
    assert [english.normalise(v) for v in (9, 9.0, "4", " u ")] == ["9", "9", "4", "U"]
    assert english.normalise("A*") is None and english.normalise("10") is None


def test_combined_science_takes_equal_or_adjacent_pairs(subjects):
    science = subjects["Combined Science"].values
    assert science.values == ("99", "98", "88", "87", "77", "76", "66", "65", "55", "54", "44", "43", "33",
                              "32", "22", "21", "11", "U")
    assert science.labels["65"] == "Grade 6-5"


@pytest.mark.parametrize("typed", ["65", 65, 65.0, "6-5", "6/5", "6 5", "6\u20135"])
def test_combined_science_typed_forms_are_stored_as_the_dfe_code(subjects, typed):
    assert subjects["Combined Science"].values.normalise(typed) == "65"


def test_combined_science_mistakes_get_a_hint_or_advice(subjects):
    science = subjects["Combined Science"].values
    for reversed_form in ("5-6", "56", "5/6"):
        assert science.normalise(reversed_form) is None
        assert science.hint(reversed_form) == "65"
    assert science.normalise("63") is None and science.hint("63") is None and science.advice("63")
    assert science.hint("6") is None and "66" in science.advice("6")
    # Excel's date for 6-5 typed in a General cell (6 May) points to 65
    assert "65" in science.advice(str(dt.datetime(2020, 5, 6)))


def test_letter_grades_and_non_grade_codes_are_explained(subjects):
    biology = subjects["Biology"].values
    for typed in ("A*", "C", "g"):
        assert biology.normalise(typed) is None and biology.hint(typed) is None
        assert "9" in biology.advice(typed)
    for typed in ("X", "ABS", "q", "Pending"):
        assert biology.normalise(typed) is None and "blank" in biology.advice(typed)
    assert biology.hint("Fail") == "U"


def test_guidance_text_says_how_to_type_combined_science(subjects):
    assert "65" in subjects["Combined Science"].help and "6-5" in subjects["Combined Science"].help
    assert subjects["Combined Science"].text  # formatted as text so Excel keeps 6-5 as typed
    assert "RH3" in subjects["Biology"].help and "1010" in subjects["Biology"].help


# --------------------------------------------------------------------------- end to end


def test_generated_template_has_the_header_rows_and_pupils_of_the_cohort(kernel, ks4, template, letter):
    import io

    import openpyxl

    sheet = openpyxl.load_workbook(io.BytesIO(template))[ks4.sheet_name]
    biology = letter["Biology"]
    assert sheet["A1"].value == "FRS KS4G 2020 v1"
    assert [sheet[f"{biology}{r}"].value for r in (1, 2, 4)] == ["RH3", "1010", "Biology"]
    first, last = cohort_range(2020, 11)
    born = dt.date(sheet["J5"].value, sheet["I5"].value, sheet["H5"].value)
    assert first <= born <= last


def test_filled_template_validates_clean(kernel, ks4, template):
    data = fill_results(template, kernel, ks4, per_pupil=8)
    report = validate(kernel, data, SCHOOL.dfe, filename=template_filename(ks4, kernel.round_for(ks4), SCHOOL))
    assert report.issues == []
    assert report.pupils == 20 and sum(len(r["results"]) for r in report.records) == 160


def test_planted_results_are_reported_at_their_cells(kernel, ks4, template, letter):
    science, biology, maths, history = (letter[h] for h in ("Combined Science", "Biology", "Mathematics",
                                                            "History"))
    first = ks4.first_pupil_row

    def edit(ws):
        ws[f"{science}{first}"] = "6-5"                 # accepted, stored as 65
        ws[f"{science}{first + 1}"] = "5-6"             # reversed
        ws[f"{science}{first + 2}"] = dt.datetime(2020, 5, 6)  # Excel's date for 6-5
        ws[f"{biology}{first + 3}"] = "A*"
        ws[f"{maths}{first + 4}"] = "X"
        ws[f"{history}{first + 5}"] = 10

    report = validate(kernel, fill_results(template, kernel, ks4, per_pupil=8, edit=edit), SCHOOL.dfe)
    assert issues(report) == {(INVALID, first + 1, science), (INVALID, first + 2, science),
                              (INVALID, first + 3, biology), (INVALID, first + 4, maths),
                              (INVALID, first + 5, history)}
    assert report.records[0]["results"]["ks4_gcse.RA1E-1370"] == "65"
    reversed_issue = next(i for i in report.issues if i.row == first + 1)
    assert reversed_issue.header == "Combined Science" and '"65"' in reversed_issue.message
