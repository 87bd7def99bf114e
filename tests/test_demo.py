"""`frs demo`, the README's run command, works on a fresh instance folder and again on a used one."""

from __future__ import annotations

from click.testing import CliRunner

from frs.cli import main


def test_demo_runs_results_day_end_to_end_twice(tmp_path, monkeypatch):
    monkeypatch.setenv("FRS_HOME", str(tmp_path))
    monkeypatch.delenv("FRS_DATABASE_URL", raising=False)
    monkeypatch.setenv("FRS_NOW", "")  # the demo sets the clock itself; restored after the test
    for run in (1, 2):
        result = CliRunner().invoke(main, ["demo", "--pupils", "8"])
        assert result.exit_code == 0, result.output
        assert "ks5_alevel.invalid-result" in result.output and "pupil.upn-check-letter" in result.output
        assert "Status: Processing" in result.output
    assert (tmp_path / "frs.db").exists()
    assert (tmp_path / "demo" / "errors.xlsx").stat().st_size > 0
    assert "Overwritten" in result.output  # the second run's confirmed file replaced the first
