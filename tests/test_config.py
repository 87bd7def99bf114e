"""Config: the shipped rounds, and bad config failing at start-up with file, key and expectation."""

from __future__ import annotations

import datetime as dt

import pytest
from click.testing import CliRunner

from frs import clock, config
from frs.cli import main
from frs.config import LONDON, ConfigError


def write(tmp_path, text):
    path = tmp_path / "frs.toml"
    path.write_text(text)
    return path


def test_shipped_config_has_the_two_seed_rounds_in_london_time():
    cfg = config.load(config.REPO_CONFIG)
    ks4 = cfg.round_for(4)
    assert (ks4.year, ks4.opens, ks4.closes) == (2020, dt.datetime(2020, 8, 18, tzinfo=LONDON),
                                                 dt.datetime(2020, 9, 4, 17, 0, tzinfo=LONDON))
    ks5 = cfg.round_for(5)
    assert ks5.closes == dt.datetime(2021, 9, 3, 17, 0, tzinfo=LONDON)
    assert ks5.closes.weekday() == 4  # a Friday
    assert ks5.closes.utcoffset() == dt.timedelta(hours=1)  # British Summer Time
    assert ks5.mis_cutoff == dt.date(2021, 7, 16)


def test_round_choice_defaults_to_the_latest_of_the_key_stage(tmp_path):
    cfg = config.load(write(tmp_path, """
[[rounds]]
key_stage = 5
year = 2021
opens = 2021-08-10T00:00:00
closes = 2021-09-03T17:00:00
[[rounds]]
key_stage = 5
year = 2022
opens = 2022-08-09T00:00:00
closes = 2022-09-02T17:00:00
"""))
    assert cfg.round_for(5).year == 2022
    assert cfg.round_for(5, "ks5-2021").year == 2021
    with pytest.raises(ConfigError, match="no round 'ks5-1999'"):
        cfg.round_for(5, "ks5-1999")


@pytest.mark.parametrize("text, expected", [
    ("[plugins]\nenabeld = []\n", "unknown key plugins.enabeld"),
    ("[plugins]\nenabled = 'blank'\n", "plugins.enabled must be a list"),
    ("[plugins]\nstrict = 'yes'\n", "plugins.strict must be true or false"),
    ("[services]\n", "unknown key services"),
    ("[limits]\nmax_rows = -1\n", "limits.max_rows must be a positive whole number"),
    ("[[rounds]]\nkey_stage = 5\nyear = 2021\nopens = 2021-08-10T00:00:00\n", "rounds[1].closes is missing"),
    ("[[rounds]]\nkey_stage = 'five'\nyear = 2021\nopens = 2021-08-10T00:00:00\ncloses = 2021-09-03T17:00:00\n",
     "rounds[1].key_stage must be a whole number"),
    ("[[rounds]]\nkey_stage = 5\nyear = 2021\nopens = 'soon'\ncloses = 2021-09-03T17:00:00\n",
     "rounds[1].opens must be a date-time"),
    ("[[rounds]]\nkey_stage = 5\nyear = 2021\nopens = 2021-09-10T00:00:00\ncloses = 2021-09-03T17:00:00\n",
     "rounds[1].closes must be after"),
    ("[plugins.data_exchange]\ntoken = { env = 'FRS_TEST_UNSET_SECRET' }\n",
     "plugins.data_exchange.token is read from environment variable FRS_TEST_UNSET_SECRET"),
    ("[plugins\n", "not valid TOML"),
])
def test_bad_config_names_file_key_and_expectation(tmp_path, monkeypatch, text, expected):
    monkeypatch.delenv("FRS_TEST_UNSET_SECRET", raising=False)
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as err:
        config.load(path)
    assert str(path) in str(err.value)
    assert expected in str(err.value)


def test_secret_is_read_from_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("FRS_TEST_SECRET", "s3cret")
    cfg = config.load(write(tmp_path, "[plugins.data_exchange]\ntoken = { env = 'FRS_TEST_SECRET' }\n"))
    assert cfg.plugin_settings["data_exchange"]["token"] == "s3cret"


def test_cli_reports_bad_config_and_exits_2(tmp_path):
    path = write(tmp_path, "[plugins]\nenabeld = []\n")
    result = CliRunner().invoke(main, ["--config", str(path), "plugins"])
    assert result.exit_code == 2
    assert "unknown key plugins.enabeld" in result.output


def test_missing_config_file_is_an_error(tmp_path):
    result = CliRunner().invoke(main, ["--config", str(tmp_path / "nope.toml"), "plugins"])
    assert result.exit_code == 2
    assert "config file not found" in result.output


def test_frs_now_fixes_the_clock(monkeypatch):
    monkeypatch.setenv("FRS_NOW", "2021-09-03T16:59")
    assert clock.now() == dt.datetime(2021, 9, 3, 16, 59, tzinfo=LONDON)
    assert config.load(config.REPO_CONFIG).round_for(5).is_open(clock.now())
    monkeypatch.setenv("FRS_NOW", "2021-09-03T17:00")
    assert not config.load(config.REPO_CONFIG).round_for(5).is_open(clock.now())
    monkeypatch.setenv("FRS_NOW", "yesterday")
    with pytest.raises(ConfigError, match="FRS_NOW"):
        clock.now()


def test_settings_for_a_plugin_that_is_not_installed_stop_start_up(tmp_path):
    path = write(tmp_path, "[plugins]\nenabled = ['blank']\n[plugins.blnak]\nx = 1\n")
    result = CliRunner().invoke(main, ["--config", str(path), "plugins"])
    assert result.exit_code == 2
    assert "[plugins.blnak]" in result.output and "not installed" in result.output
