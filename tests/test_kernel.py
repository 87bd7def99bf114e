"""The plugin kernel: allowlist, guarded loading, provenance, clashes, strict mode, `frs plugins`."""

from __future__ import annotations

import json
import types

import pytest
from click.testing import CliRunner

from frs import hookimpl
from frs.cli import main
from frs.config import Config
from frs.connectors import PupilSource
from frs.kernel import Kernel
from frs.keystage import Column, KeyStage, Rule
from frs.plugins import PluginError


def plugin(name: str, **hooks) -> types.ModuleType:
    module = types.ModuleType(name)
    for hook_name, func in hooks.items():
        setattr(module, hook_name, hookimpl(func))
    return module


def extra_keystage(registry):
    registry.add(KeyStage(id="ks_extra", code="KSX", key_stage=5, nc_year=13, title="Extra"))


class NoopRule(Rule):
    description = "does nothing"

    def __init__(self, code):
        self.code = code

    def check(self, table):
        return []


@pytest.fixture
def installed_entry_point(tmp_path, monkeypatch):
    """Install a fake distribution whose entry point names a module that cannot be imported."""
    dist = tmp_path / "frs_broken-0.3.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: frs-broken\nVersion: 0.3\n")
    (dist / "entry_points.txt").write_text("[frs]\nbroken = frs_module_that_does_not_exist\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    return "broken"


def test_builtins_load_through_entry_points_and_record_provenance():
    kernel = Kernel(Config(path=None, enabled=["blank", "ks5_alevel"]))
    assert kernel.plugins["ks5_alevel"].status == "enabled"
    assert kernel.plugins["ks5_alevel"].distribution == "frs"
    ks = kernel.keystage("ks5_alevel")
    assert ks.plugin == "ks5_alevel"
    columns = kernel.columns(ks)
    assert [c.id for c in columns[:11]] == ["organisation", "dfe_number", "key_stage", "nc_year", "upn", "forename",
                                           "surname", "dob_day", "dob_month", "dob_year", "gender"]
    assert {c.plugin for c in columns[:11]} == {"frs"}
    assert {c.plugin for c in columns[11:]} == {"ks5_alevel"}
    assert {r.plugin for r in kernel.rules(ks)} == {"frs", "ks5_alevel"}
    assert kernel.sources["blank"].plugin == "blank"


def test_allowlist_leaves_other_plugins_disabled_and_unimported():
    kernel = Kernel(Config(path=None, enabled=["blank"]))
    assert kernel.plugins["ks5_alevel"].status == "disabled"
    assert kernel.plugins["ks5_alevel"].hooks == []
    assert "ks5_alevel" not in kernel.keystages


def test_env_override_replaces_the_allowlist(monkeypatch, tmp_path):
    cfg = tmp_path / "frs.toml"
    cfg.write_text('[plugins]\nenabled = ["blank", "ks5_alevel"]\n')
    monkeypatch.setenv("FRS_LOAD_PLUGINS", "blank")
    from frs import config

    kernel = Kernel(config.load(cfg))
    assert kernel.plugins["ks5_alevel"].status == "disabled"
    monkeypatch.setenv("FRS_LOAD_PLUGINS", "")
    kernel = Kernel(config.load(cfg))
    assert kernel.plugins["blank"].status == "disabled"


def test_plugin_that_fails_to_import_is_reported_and_others_keep_working(installed_entry_point):
    kernel = Kernel(Config(path=None, enabled=["blank", "ks5_alevel", installed_entry_point]))
    info = kernel.plugins[installed_entry_point]
    assert info.status == "failed"
    assert "ModuleNotFoundError" in info.error
    assert info.version == "0.3"
    assert "ks5_alevel" in kernel.keystages


def test_strict_mode_makes_a_failure_fatal(installed_entry_point):
    with pytest.raises(PluginError, match="broken"):
        Kernel(Config(path=None, enabled=["blank", "ks5_alevel", installed_entry_point], strict=True))


def test_enabled_but_not_installed_is_a_failure():
    kernel = Kernel(Config(path=None, enabled=["blank", "no_such_plugin"]))
    assert kernel.plugins["no_such_plugin"].status == "failed"
    assert "not installed" in kernel.plugins["no_such_plugin"].error


def test_hook_that_raises_drops_all_of_that_plugins_contributions():
    def bad_rules(registry, keystage):
        raise RuntimeError("boom")

    bad = plugin("bad", register_keystages=extra_keystage, register_rules=bad_rules)
    kernel = Kernel(Config(path=None, enabled=["ks5_alevel"]), plugins={"bad": bad})
    assert kernel.plugins["bad"].status == "failed"
    assert "register_rules" in kernel.plugins["bad"].error
    assert "ks_extra" not in kernel.keystages
    assert "ks5_alevel" in kernel.keystages


def test_column_clash_names_both_plugins():
    def clashing_columns(registry, keystage):
        if keystage.id == "ks5_alevel":
            registry.add(Column(id="ks5_alevel.1010", header="Biology again"))

    other = plugin("other", register_template_columns=clashing_columns)
    kernel = Kernel(Config(path=None, enabled=["ks5_alevel"]), plugins={"other": other})
    error = kernel.plugins["other"].error
    assert kernel.plugins["other"].status == "failed"
    assert "'other'" in error and "'ks5_alevel'" in error


def test_template_code_clash_names_both():
    def same_code(registry):
        registry.add(KeyStage(id="ks5_copy", code="KS5A", key_stage=5, nc_year=13, title="Copy"))

    copy = plugin("copy", register_keystages=same_code)
    kernel = Kernel(Config(path=None, enabled=["ks5_alevel"]), plugins={"copy": copy})
    assert kernel.plugins["copy"].status == "failed"
    assert "KS5A" in kernel.plugins["copy"].error and "ks5_alevel" in kernel.plugins["copy"].error


def test_rule_codes_must_be_namespaced_by_the_plugin():
    def rules(registry, keystage):
        registry.add(NoopRule("ks5_alevel.stolen-code"))

    thief = plugin("thief", register_rules=rules)
    kernel = Kernel(Config(path=None, enabled=["ks5_alevel"]), plugins={"thief": thief})
    assert kernel.plugins["thief"].status == "failed"
    assert "must start with 'thief.'" in kernel.plugins["thief"].error


def test_misspelt_hook_fails_the_plugin():
    typo = plugin("typo", register_keystage=extra_keystage)
    kernel = Kernel(Config(path=None, enabled=["blank"]), plugins={"typo": typo})
    assert kernel.plugins["typo"].status == "failed"
    assert "register_keystage" in kernel.plugins["typo"].error


def test_notification_hook_exception_does_not_stop_the_others():
    seen = []

    def noisy(report, school, upload_id):
        raise RuntimeError("nope")

    def quiet(report, school, upload_id):
        seen.append(upload_id)

    kernel = Kernel(Config(path=None, enabled=[]), plugins={
        "noisy": plugin("noisy", upload_validated=noisy), "quiet": plugin("quiet", upload_validated=quiet)})
    kernel.notify("upload_validated", report=None, school=None, upload_id=7)
    assert seen == [7]


def test_source_selection_prefers_priority_and_can_be_overridden():
    class Census(PupilSource):
        name, priority = "census_test", 10

    def sources(registry, settings):
        registry.add(Census(settings))

    kernel = Kernel(Config(path=None, enabled=["blank", "ks5_alevel"]),
                    plugins={"census_test": plugin("census_test", register_connectors=sources)})
    from frs.connectors import School

    school, ks = School("1231234"), kernel.keystage("ks5_alevel")
    assert kernel.select_source(school, ks).name == "census_test"

    def always_blank(school, keystage, candidates):
        return next(c for c in candidates if c.name == "blank")

    kernel = Kernel(Config(path=None, enabled=["blank", "ks5_alevel"]), plugins={
        "census_test": plugin("census_test", register_connectors=sources),
        "picker": plugin("picker", select_pupil_source=always_blank)})
    assert kernel.select_source(school, ks).name == "blank"


def test_plugins_command_json_lists_every_installed_plugin(monkeypatch):
    monkeypatch.setenv("FRS_LOAD_PLUGINS", "blank")
    result = CliRunner().invoke(main, ["plugins", "--json"])
    assert result.exit_code == 0, result.output
    listed = {p["name"]: p for p in json.loads(result.output)}
    for item in listed.values():
        assert {"name", "status", "error", "hooks", "contributes"} <= set(item)
    assert listed["blank"]["status"] == "enabled"
    assert listed["blank"]["contributes"] == {"connectors": ["blank"]}
    assert listed["ks5_alevel"]["status"] == "disabled"


def test_plugins_command_text_shows_status_and_contributions():
    result = CliRunner().invoke(main, ["plugins"], env={"FRS_LOAD_PLUGINS": "blank,ks5_alevel"})
    assert result.exit_code == 0
    assert "ks5_alevel" in result.output and "[enabled]" in result.output
    assert "keystages: ks5_alevel" in result.output
