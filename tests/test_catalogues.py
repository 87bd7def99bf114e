"""scripts/build_catalogues.py rebuilds the committed catalogue files exactly from the reference lists."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
REFERENCE = REPO.parent / "shared" / "reference" / "data"  # ../shared beside the clone, in CI too
SCRIPT = REPO / "scripts" / "build_catalogues.py"
PLUGINS = REPO / "plugins" / "keystages"
CATALOGUES = ["frs_ks4_gcse/data/ks4_gcse.csv", "frs_ks4_nongcse/data/ks4_nongcse.csv",
              "frs_ks5_alevel/data/ks5_alevel.csv"]


@pytest.fixture(scope="module")
def builder():
    spec = importlib.util.spec_from_file_location("build_catalogues", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def reference_args(out_dir: Path) -> list[str]:
    return ["--gcse", str(REFERENCE / "ks4_gcse.csv"), "--nongcse", str(REFERENCE / "ks4_nongcse.csv"),
            "--alevel", str(REFERENCE / "ks5_alevel.csv"),
            "--discount-codes", str(REFERENCE / "ks4_discount_codes.csv"),
            "--points", str(REFERENCE / "ks4_grade_points.csv"), "--out-dir", str(out_dir)]


def test_reference_lists_are_there():
    # the byte-for-byte check below must never be skipped: a missing input is a failure
    for name in ("ks4_gcse.csv", "ks4_nongcse.csv", "ks5_alevel.csv", "ks4_discount_codes.csv", "ks4_grade_points.csv"):
        assert (REFERENCE / name).is_file(), f"reference list missing: {REFERENCE / name}"


def test_rebuild_gives_the_committed_files_byte_for_byte(builder, tmp_path):
    assert builder.main(reference_args(tmp_path)) == 0
    for name in CATALOGUES:
        assert (tmp_path / name).read_bytes() == (PLUGINS / name).read_bytes(), (
            f"{name} differs from what scripts/build_catalogues.py builds: re-run it (docs/catalogues.md)")


def test_the_script_runs_from_the_command_line_with_help(tmp_path):
    result = subprocess.run([sys.executable, str(SCRIPT), "--help"], capture_output=True, text=True, check=False)
    assert result.returncode == 0
    for option in ("--gcse", "--nongcse", "--alevel", "--discount-codes", "--points", "--out-dir"):
        assert option in result.stdout
    result = subprocess.run([sys.executable, str(SCRIPT), *reference_args(tmp_path)], capture_output=True,
                            text=True, check=False)
    assert result.returncode == 0, result.stderr
    assert all((tmp_path / name).is_file() for name in CATALOGUES)


def test_a_discount_code_not_in_the_dfe_list_stops_the_build(builder, tmp_path, capsys):
    gcse = (REFERENCE / "ks4_gcse.csv").read_text(encoding="utf-8").replace(",RH3,", ",ZZ9,")
    (tmp_path / "gcse.csv").write_text(gcse, encoding="utf-8")
    args = reference_args(tmp_path / "out")
    args[1] = str(tmp_path / "gcse.csv")
    assert builder.main(args) == 1
    assert "ZZ9" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()  # nothing half-written


def test_gcse_boards_with_different_grades_cannot_share_a_column(builder):
    rows = [{"subject": "Biology", "awarding_body": board, "qn_formatted": qn, "syllabus_ref": "",
             "ks4_discount_code_2020": "RH3", "original_4digit_discount_code": "1010", "tiered": "yes",
             "double_award": "False", "dfe_grade_codes": grades, "points": points}
            for board, qn, grades, points in (("AQA", "601/8752/9", "9|U", "9=9;U=0"),
                                              ("OCR", "601/8506/5", "*|U", "*=8.5;U=0"))]
    with pytest.raises(builder.CatalogueError, match="RH3/1010"):
        builder.gcse_rows(rows)


def test_subject_names_of_the_boards_are_reconciled(builder):
    for text in ("Art and Design (Art and Design (Fine Art))", "Art and Design (Art and Design: Fine Art)",
                 "Art and Design (Fine Art)"):
        assert builder.gcse_subject_name(text) == "Art and Design: Fine Art"
    assert builder.gcse_subject_name("Biology") == "Biology"
