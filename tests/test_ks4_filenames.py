"""KS4 files must be uploaded under {year}_KS4_FRS-<code>_{DfE}.xlsx; the KS5 file name is free."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from conftest import cohort_template

from frs import config
from frs.cli import main
from frs.connectors import School
from frs.demo import fill_results
from frs.validation.engine import validate

SCHOOL = School("8881234", "Test Academy")
WRONG_NAME = "template.wrong-filename"


@pytest.fixture(scope="module")
def filled(kernel):
    """key stage id -> a filled, otherwise valid workbook"""
    out = {}
    for ks_id in ("ks4_gcse", "ks4_nongcse", "ks5_alevel"):
        ks = kernel.keystage(ks_id)
        out[ks_id] = fill_results(cohort_template(kernel, ks, SCHOOL, 5), kernel, ks, per_pupil=2)
    return out


def codes(report):
    return [i.code for i in report.issues]


@pytest.mark.parametrize("ks_id, name", [
    ("ks4_gcse", "2020_KS4_FRS-KS4G_8881234.xlsx"),
    ("ks4_nongcse", "2020_KS4_FRS-KS4GN_8881234.xlsx"),
    ("ks4_gcse", "uploads/2020_KS4_FRS-KS4G_8881234.xlsx"),  # a folder in front is not part of the name
])
def test_the_expected_name_passes(kernel, filled, ks_id, name):
    assert codes(validate(kernel, filled[ks_id], SCHOOL.dfe, filename=name)) == []


@pytest.mark.parametrize("ks_id, name, expected", [
    ("ks4_gcse", "2020_KS4_FRS-KS4G.xlsx", "2020_KS4_FRS-KS4G_8881234.xlsx"),             # no DfE number
    ("ks4_gcse", "2020_KS4_FRS-KS4G_8881235.xlsx", "2020_KS4_FRS-KS4G_8881234.xlsx"),     # another school's
    ("ks4_gcse", "2020_KS4_FRS-KS4GN_8881234.xlsx", "2020_KS4_FRS-KS4G_8881234.xlsx"),    # the other template
    ("ks4_nongcse", "2020_KS4_FRS-KS4G_8881234.xlsx", "2020_KS4_FRS-KS4GN_8881234.xlsx"),
    ("ks4_nongcse", "results.xlsx", "2020_KS4_FRS-KS4GN_8881234.xlsx"),
])
def test_a_wrong_name_fails_and_shows_the_expected_name(kernel, filled, ks_id, name, expected):
    report = validate(kernel, filled[ks_id], SCHOOL.dfe, filename=name)
    assert codes(report) == [WRONG_NAME]
    assert not report.valid
    assert expected in report.issues[0].message


def test_the_ks5_file_name_stays_free(kernel, filled):
    report = validate(kernel, filled["ks5_alevel"], SCHOOL.dfe, filename="year 13 results (final).xlsx")
    assert codes(report) == []


def test_frs_validate_rejects_a_misnamed_ks4_file(filled, tmp_path):
    path = tmp_path / "2020_KS4_FRS-KS4G.xlsx"
    path.write_bytes(filled["ks4_gcse"])
    result = CliRunner().invoke(main, ["--config", str(config.REPO_CONFIG), "validate", str(path),
                                       "--school", SCHOOL.dfe, "--json"])
    assert result.exit_code == 1, result.output
    report = json.loads(result.output)
    assert [i["code"] for i in report["issues"]] == [WRONG_NAME]
    assert "2020_KS4_FRS-KS4G_8881234.xlsx" in report["issues"][0]["message"]
