"""Bulk template generation for every school held in the database."""

from __future__ import annotations

from click.testing import CliRunner

from frs.cli import main


def test_all_schools_writes_one_template_each_under_its_standard_name(tmp_path, monkeypatch):
    monkeypatch.setenv("FRS_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("FRS_DATABASE_URL", raising=False)
    runner = CliRunner()
    assert runner.invoke(main, ["db", "init"]).exit_code == 0
    for dfe, name in (("8011234", "Alpha School"), ("8015678", "Beta School")):
        assert runner.invoke(main, ["schools", "add", "--dfe", dfe, "--name", name]).exit_code == 0
    result = runner.invoke(main, ["template", "--all-schools", "--keystage", "ks4_gcse", "--output-dir",
                                  str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "2020_KS4_FRS-KS4G_8011234.xlsx", "2020_KS4_FRS-KS4G_8015678.xlsx"]


def test_all_schools_without_a_database_is_a_usage_error(tmp_path, monkeypatch):
    monkeypatch.setenv("FRS_HOME", str(tmp_path))
    monkeypatch.delenv("FRS_DATABASE_URL", raising=False)
    result = CliRunner().invoke(main, ["template", "--all-schools", "--keystage", "ks5_alevel", "--output-dir",
                                       str(tmp_path / "out")])
    assert result.exit_code == 2
    assert not (tmp_path / "frs.db").exists()
