"""`frs demo`, the README's run command, works on a fresh instance folder and again on a used one,
and leaves accounts a new user can sign in with."""

from __future__ import annotations

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
