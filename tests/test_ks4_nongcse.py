"""KS4 non-GCSE key stage: one column per DfE qualification, DfE grade codes with their meanings,
hints for what teachers type, points per qualification type, and an end-to-end validation."""

from __future__ import annotations

import io
import json

import openpyxl
import pytest
from click.testing import CliRunner
from conftest import keystage_fixtures, reference_rows

from frs import config
from frs.cli import main
from frs.connectors import School
from frs.demo import fill_results
from frs.validation.engine import validate
from frs.workbook.template import template_filename

SCHOOL = School("8881234", "Test Academy")
INVALID = "ks4_nongcse.invalid-result"
HSC = "BTEC L1/2 Tech Award Health and Social Care"
SPORT_FIRST = "BTEC L1/2 First Award Sport"


ks4, quals, letter, template = keystage_fixtures("ks4_nongcse", SCHOOL, columns_name="quals")




# --------------------------------------------------------------------------- the key stage


def test_plugin_is_listed_enabled_with_its_key_stage_and_rule():
    result = CliRunner().invoke(main, ["--config", str(config.REPO_CONFIG), "plugins", "--json"])
    assert result.exit_code == 0, result.output
    info = next(p for p in json.loads(result.output) if p["name"] == "ks4_nongcse")
    assert info["status"] == "enabled"
    assert info["contributes"]["keystages"] == ["ks4_nongcse"]
    assert info["contributes"]["rules"] == [INVALID]


def test_key_stage_metadata_and_header_rows(ks4):
    assert (ks4.code, ks4.key_stage, ks4.nc_year, ks4.title) == ("KS4GN", 4, 11, "KS4 non-GCSE")
    assert [h.key for h in ks4.header_rows] == ["discount_code", "subject", "qualification", "qan",
                                                "valid_results"]
    assert ks4.first_pupil_row == 7


def test_one_column_per_qualification_with_unique_ids_and_headers(quals):
    rows = reference_rows("ks4_nongcse.csv")
    assert len(quals) == len(rows) == 291
    assert len({c.id for c in quals.values()}) == 291
    assert {(c.meta["qn"], c.meta["syllabus_ref"]) for c in quals.values()} == \
        {(r["qn"], r["syllabus_ref"]) for r in rows}


def test_header_rows_carry_discount_code_subject_title_and_qan(quals):
    hsc = quals[HSC]
    assert hsc.header_values == {
        "discount_code": "PA1", "subject": "Health Studies",
        "qualification": "Pearson BTEC Level 1/Level 2 Tech Award in Health and Social Care",
        "qan": "60303955", "valid_results": "*2, D2, M2, P2, D1, M1, P1, U"}
    for column in quals.values():
        assert len(column.header_values["qan"]) == 8


def test_codes_carry_their_meaning_for_the_guidance_sheet(quals):
    labels = quals[HSC].values.labels
    assert labels["*2"] == "Level 2 Distinction*" and labels["P1"] == "Level 1 Pass"
    assert labels["U"] == "Unclassified (fail)"
    for column in quals.values():
        assert set(column.values.labels) == set(column.values.values), column.header
    assert "*2 = Level 2 Distinction*" in quals[HSC].help


def test_every_grade_has_points_from_its_qualification_type(quals):
    for column in quals.values():
        assert set(column.meta["points"]) == set(column.values.values), column.header
    # the same grade code is worth different points in different qualification types (domain.md §0.7)
    assert quals[HSC].meta["points"]["P1"] == 1.25
    assert quals[SPORT_FIRST].meta["points"]["P1"] == 1.75
    assert quals[HSC].meta["points"]["*2"] == 8.5
    as_chemistry = quals["AQA AS Chemistry"]
    assert as_chemistry.meta["points"] == {"A": 10.75, "B": 8.88, "C": 7.0, "D": 5.13, "E": 3.5, "U": 0.0}


def test_qualifications_missing_from_the_points_file_are_marked_inferred(quals):
    rsl = next(c for c in quals.values() if c.meta["qn"] == "60333054")  # RSL L1 Music Practitioners
    assert rsl.values.values == ("D", "M", "P", "U")
    assert rsl.meta["points_confidence"].startswith("inferred")


# --------------------------------------------------------------------------- hints


@pytest.mark.parametrize("typed, code", [
    ("L2D*", "*2"), ("L2 Distinction*", "*2"), ("Level 2 Distinction*", "*2"), ("Distinction*", "*2"),
    ("D*2", "*2"), ("l1p", "P1"), ("L1 Pass", "P1"), ("L2M", "M2"), ("Fail", "U"),
])
def test_typed_forms_get_a_hint_with_the_dfe_code(quals, typed, code):
    values = quals[HSC].values
    assert values.normalise(typed) is None
    assert values.hint(typed) == code


def test_an_ambiguous_word_is_explained_with_the_choices(quals):
    values = quals[HSC].values
    assert values.hint("Pass") is None
    advice = values.advice("Pass")
    assert "P1" in advice and "P2" in advice
    # where the word has one code only, it gets the code
    assert quals[SPORT_FIRST].values.hint("Merit") == "M2"


def test_hints_follow_each_qualification_type(quals):
    assert quals["City & Guilds L2 Technical Award Engineering"].values.hint("Distinction*") == "*"
    assert quals["NCFE L1 Technical Award Graphic Design"].values.hint("Distinction*") == "D*"
    assert quals["AQA AS Chemistry"].values.hint("Grade A") == "A"
    assert "A" in quals["AQA AS Chemistry"].values.advice("A*")
    assert "blank" in quals[HSC].values.advice("ABS")


def test_codes_are_accepted_in_any_case(quals):
    assert quals[HSC].values.normalise("d2") == "D2"
    assert quals[HSC].values.normalise(" *2 ") == "*2"


# --------------------------------------------------------------------------- end to end


def test_generated_template_shows_the_header_rows(ks4, template, letter):
    sheet = openpyxl.load_workbook(io.BytesIO(template))[ks4.sheet_name]
    col = letter[HSC]
    assert sheet["A1"].value == "FRS KS4GN 2020 v2"
    assert [sheet[f"{col}{r}"].value for r in (1, 4, 6)] == ["PA1", "60303955", HSC]
    assert [sheet[f"K{r}"].value for r in range(1, 6)] == ["Discount Code", "Subject", "Qualification", "QAN",
                                                           "Valid Results"]


def test_filled_template_validates_clean(kernel, ks4, template):
    data = fill_results(template, kernel, ks4, per_pupil=15)
    report = validate(kernel, data, SCHOOL.dfe, filename=template_filename(ks4, kernel.round_for(ks4), SCHOOL))
    assert report.issues == []
    assert report.pupils == 20 and sum(len(r["results"]) for r in report.records) == 300


def test_planted_results_are_reported_at_their_cells(kernel, ks4, template, letter):
    hsc, sport, chemistry = letter[HSC], letter[SPORT_FIRST], letter["AQA AS Chemistry"]
    first = ks4.first_pupil_row

    def edit(ws):
        ws[f"{hsc}{first}"] = "l2d*"
        ws[f"{hsc}{first + 1}"] = "Pass"
        ws[f"{sport}{first + 2}"] = "M1"     # First Awards have no Level 1 merit
        ws[f"{chemistry}{first + 3}"] = "A*"
        ws[f"{chemistry}{first + 4}"] = "b"  # accepted: case does not matter

    report = validate(kernel, fill_results(template, kernel, ks4, per_pupil=15, edit=edit), SCHOOL.dfe)
    assert {(i.code, i.row, i.column) for i in report.issues} == {
        (INVALID, first, hsc), (INVALID, first + 1, hsc), (INVALID, first + 2, sport),
        (INVALID, first + 3, chemistry)}
    first_issue = next(i for i in report.issues if i.row == first)
    assert first_issue.header == HSC and '"*2"' in first_issue.message
    chemistry_id = next(c.id for c in kernel.columns(ks4) if c.header == "AQA AS Chemistry")
    assert report.records[4]["results"][chemistry_id] == "B"
