"""The KS2 plugin's own tests beyond the kit: scaled scores, hints, and loading through config."""

import importlib.metadata as md

import pytest

import frs.config
from frs.kernel import Kernel
from frs_keystage_ks2 import SCALED_SCORE, WRITING, ScaledScore

pytest_plugins = ["frs.testing.pytest_plugin"]


@pytest.mark.parametrize("typed, stored", [
    (80, "80"), (120.0, "120"), ("105", "105"), (" 99 ", "99"), ("a", "A"), ("n", "N"), ("u", "U"), ("Q", "Q"),
])
def test_scores_and_codes_are_accepted_as_typed(typed, stored):
    assert SCALED_SCORE.normalise(typed) == stored


@pytest.mark.parametrize("typed", [79, 121, 0, 105.5, "105.5", "1e2", "-90", "EXS", "", True, "A1", "0105",
                                   "+100", "X", "T"])
def test_everything_else_is_refused(typed):
    assert SCALED_SCORE.normalise(typed) is None


def test_near_misses_get_a_code_or_advice():
    assert SCALED_SCORE.hint("Absent") == "A"
    assert SCALED_SCORE.hint("T") == "U"  # the code of earlier years
    assert "80 to 120" in SCALED_SCORE.advice("79")
    assert "80 to 120" in SCALED_SCORE.advice("121")
    assert "whole numbers" in SCALED_SCORE.advice("105.5")
    assert "teacher-assessment code" in SCALED_SCORE.advice("GDS")
    assert WRITING.hint("ex") == "EXS"
    assert WRITING.hint("BLW") == "EM"
    assert "not a score" in WRITING.advice("104")


def test_scaled_scores_have_no_dropdown_but_an_excel_validation():
    assert SCALED_SCORE.dropdown() is None
    validation = SCALED_SCORE.excel_validation("L4")
    assert validation["validate"] == "custom" and len(validation["value"]) <= 255  # Excel's formula limit
    assert "L4" in validation["value"]
    assert "L4" in SCALED_SCORE.excel_invalid_formula("L4", "L$2")


def test_a_narrower_score_set_keeps_its_own_codes():
    mtc = ScaledScore(codes={"A": "absent"})
    assert mtc.normalise("B") is None and mtc.describe() == "80 to 120, A"


def test_installed_through_the_frs_entry_point():
    (entry,) = [ep for ep in md.entry_points(group="frs") if ep.name == "ks2"]
    assert entry.value == "frs_keystage_ks2:plugin" and entry.dist.name == "frs-keystage-ks2"


def test_enabled_by_config_like_any_plugin(tmp_path, monkeypatch):
    monkeypatch.delenv("FRS_LOAD_PLUGINS", raising=False)
    path = tmp_path / "frs.toml"
    path.write_text('[plugins]\nenabled = ["ks2"]\n[[rounds]]\nkey_stage = 2\nyear = 2022\n'
                    'opens = 2022-07-05T00:00:00\ncloses = 2022-07-29T17:00:00\n', encoding="utf-8")
    kernel = Kernel(frs.config.load(path))
    assert kernel.plugins["ks2"].status == "enabled"
    assert kernel.round_for(kernel.keystage("ks2")).year == 2022
    path.write_text('[plugins]\nenabled = ["ks5_alevel"]\n', encoding="utf-8")
    assert Kernel(frs.config.load(path)).plugins["ks2"].status == "disabled"


def test_the_guidance_sheet_explains_the_codes(frs_kernel_factory, frs_kit_context):
    import io

    import openpyxl

    ctx = frs_kit_context(frs_kernel_factory(["ks2"], year=2022), "ks2", pupil_count=1)
    guidance = openpyxl.load_workbook(io.BytesIO(ctx.template()))["Guidance"]
    text = " ".join(str(c) for row in guidance.iter_rows(values_only=True) for c in row if c)
    assert "B = working below the overall standard of the test" in text
    assert "GDS = working at greater depth" in text


def test_the_ks2_measure_computes_the_expected_standard_from_collected_results():
    from frs.analysis import engine
    from frs.results import CollectedPupil, Result, SchoolCohort

    kernel = Kernel(frs.config.parse({"plugins": {"enabled": ["ks2"], "strict": True}}))

    def pupil(upn, reading, maths, writing):
        results = tuple(Result(keystage="ks2", column_id=f"ks2.{key}", subject=key, grade=grade, points=None)
                        for key, grade in (("reading", reading), ("maths", maths), ("writing", writing)) if grade)
        return CollectedPupil(upn=upn, forename="A", surname="B", gender="Female", date_of_birth=None, nc_year=6,
                              results=results)

    cohort = SchoolCohort(school_dfe="1231234", school_name="Primary", round_id="ks2-2022", key_stage=2, year=2022,
                          collection_id=1, keystages=("ks2",), upload_ids=(),
                          pupils=(pupil("A", "112", "115", "GDS"), pupil("B", "101", "99", "EXS"),
                                  pupil("C", "A", "104", "WTS"), pupil("D", "", "", "")))
    result = engine.analyse_cohort(cohort, kernel.measures(2))
    assert result["measures"]["pupils"] == 4
    assert result["measures"]["rwm_expected"] == 25.0 and result["measures"]["rwm_high"] == 25.0
    assert result["measures"]["reading_average"] == (112 + 101) / 2  # the absent pupil has no score
    assert result["rules_version"] == "ks2.expected_standard@1"
