"""`frs demo`, the README's run command, works on a fresh instance folder and again on a used one,
and leaves accounts a new user can sign in with."""

from __future__ import annotations

import os

from click.testing import CliRunner

from frs.cli import main


def test_demo_runs_results_day_end_to_end_twice(tmp_path, monkeypatch):
    monkeypatch.setenv("FRS_HOME", str(tmp_path))
    monkeypatch.delenv("FRS_DATABASE_URL", raising=False)
    monkeypatch.delenv("FRS_CONFIG", raising=False)
    monkeypatch.setenv("FRS_NOW", "")  # the demo opens its own round today; no clock is needed
    for run in (1, 2):
        result = CliRunner().invoke(main, ["demo", "--pupils", "8", "--no-serve"])
        assert result.exit_code == 0, result.output
        assert "ks5_alevel.invalid-result" in result.output and "pupil.upn-check-letter" in result.output
        assert "Status: Processing" in result.output
    assert (tmp_path / "frs.db").exists()
    assert (tmp_path / "demo" / "errors.xlsx").stat().st_size > 0
    assert "Overwritten" in result.output  # the second run's confirmed file replaced the first
    assert "http://127.0.0.1:8000/" in result.output
    assert "already collected and analysed by an earlier run" in result.output  # the second run


def test_demo_school_has_reports_of_a_collected_round_of_several_schools(tmp_path, monkeypatch):
    """After the demo, the demo school's report for the past KS4 round has its measures and a
    comparison against all the demo schools; a second run neither fails nor collects again."""
    from frs import config
    from frs.analysis.service import school_report
    from frs.cli.demo_cmd import SCHOOL_DFE
    from frs.demo_results import SCHOOLS
    from frs.kernel import Kernel
    from frs.services import collections
    from frs.storage.service import Service

    monkeypatch.setenv("FRS_HOME", str(tmp_path))
    monkeypatch.delenv("FRS_DATABASE_URL", raising=False)
    monkeypatch.delenv("FRS_CONFIG", raising=False)
    monkeypatch.setenv("FRS_NOW", "")
    for run in (1, 2):
        result = CliRunner().invoke(main, ["demo", "--pupils", "6", "--no-serve"])
        assert result.exit_code == 0, result.output
    assert "/school/1231234/reports" in result.output
    service = Service.from_kernel(Kernel(config.load(tmp_path / "demo" / "frs-demo.toml")))
    try:
        done = [c for c in collections.collections(service) if c.round_id.endswith("-demo-results")]
        assert sorted(c.round_id for c in done) == ["ks4-demo-results", "ks5-demo-results"]  # once each
        assert all(c.schools == len(SCHOOLS) for c in done)
        ks4 = school_report(service, SCHOOL_DFE, "ks4-demo-results")
        assert ks4["measures"]["pupils"] == 6 and ks4["measures"]["attainment8"] > 0
        against = ks4["comparisons"]["all_schools"]["attainment8"]
        assert against["schools"] == len(SCHOOLS) and against["mean"] > 0
        assert ks4["comparisons"]["national"]["attainment8"]["value"] > 0  # 2020's published figure
        ks5 = school_report(service, SCHOOL_DFE, "ks5-demo-results")
        assert ks5["measures"]["entries"] == 18 and ks5["comparisons"]["all_schools"]["aps_per_entry"]["mean"] > 0
        assert os.environ.get("FRS_NOW") == ""  # the demo put the clock back
    finally:
        service.engine.dispose()


def test_demo_accounts_can_sign_in(tmp_path, monkeypatch):
    from frs import config
    from frs.cli.demo_cmd import DEMO_PASSWORDS
    from frs.kernel import Kernel
    from frs.services import accounts
    from frs.storage.service import Service

    monkeypatch.setenv("FRS_HOME", str(tmp_path))
    monkeypatch.delenv("FRS_DATABASE_URL", raising=False)
    monkeypatch.delenv("FRS_CONFIG", raising=False)
    monkeypatch.setenv("FRS_NOW", "")
    assert CliRunner().invoke(main, ["demo", "--pupils", "3", "--no-serve"]).exit_code == 0
    cfg = config.load(tmp_path / "demo" / "frs-demo.toml")
    service = Service.from_kernel(Kernel(cfg))
    for email, password in DEMO_PASSWORDS.items():
        assert accounts.sign_in(service, email, password).email == email
    assert any(r["open"] for r in service.rounds())  # uploading works today
    service.engine.dispose()


def test_demo_templates_come_from_a_pupil_source(tmp_path, monkeypatch):
    """The portal's "Get template" for the demo school is pre-filled from a census extract."""
    monkeypatch.setenv("FRS_HOME", str(tmp_path))
    monkeypatch.delenv("FRS_DATABASE_URL", raising=False)
    monkeypatch.delenv("FRS_CONFIG", raising=False)
    monkeypatch.setenv("FRS_NOW", "")
    assert CliRunner().invoke(main, ["demo", "--pupils", "6", "--no-serve"]).exit_code == 0
    monkeypatch.setenv("FRS_CONFIG", str(tmp_path / "demo" / "frs-demo.toml"))
    for keystage in ("ks4_gcse", "ks5_alevel"):
        out = tmp_path / f"{keystage}.xlsx"
        result = CliRunner().invoke(main, ["template", "--school", "1231234", "--keystage", keystage,
                                           "--output", str(out)])
        assert result.exit_code == 0, result.output
        assert "6 pupils from census file census_1231234.csv" in result.output
