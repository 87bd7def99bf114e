"""The Done-when journey at the command line: a fake Xporter on loopback and a census folder;
one school filled from Data Exchange, one from its census extract, one blank; a server killed
mid-pull leaves the earlier list in place and says why."""

from __future__ import annotations

import json

import openpyxl
import pytest
from click.testing import CliRunner

from frs.cli import main
from frs.testing.fake_partners import FakeXporter, kit_pupils

DX, CENSUS, BLANK = "8014000", "8014001", "8014002"
HEADER = "LEA,Estab,UPN,Surname,Forename,Middlenames,Sex,DOB,NCyearActual,EnrolStatus,FSMeligible,Language,SENProvision"


@pytest.fixture
def journey(tmp_path, monkeypatch):
    with FakeXporter(relying_party="rp-demo", password="pw-demo-123") as server:
        server.add_school(DX, server.demo_students(DX, 6, nc_year=11, exam_year=2020)
                          + server.demo_students(DX, 3, nc_year=10, exam_year=2020, first_serial=30))
        census = tmp_path / "census"
        census.mkdir()
        rows = [HEADER] + [f"801,4001,{p.upn},{p.surname},{p.forename},,{p.gender},"
                           f"{'/'.join(reversed(p.date_of_birth.split('-')))},11,C,0,ENG,N"
                           for p in kit_pupils(CENSUS, 4, exam_year=2020, first_serial=100)]
        (census / "autumn_2019.csv").write_text("\n".join(rows) + "\n")
        config = tmp_path / "frs.toml"
        config.write_text(f"""
[service]
home = "{tmp_path / 'instance'}"
[plugins]
enabled = ["blank", "ks4_gcse", "data_exchange", "xporter", "census"]
strict = true
[plugins.xporter]
token_url = "{server.url}{server.TOKEN_PATH}"
api_url = "{server.url}{server.API_PATH}"
relying_party = {{ env = "FRS_XPORTER_RELYING_PARTY" }}
password = {{ env = "FRS_XPORTER_PASSWORD" }}
backoff_base = 0.01
retries = 1
page_size = 4
[plugins.census]
folder = "{census}"
[[rounds]]
id = "ks4-2020"
key_stage = 4
year = 2020
opens = 2020-08-18T00:00:00
closes = 2020-09-04T17:00:00
""")
        monkeypatch.setenv("FRS_CONFIG", str(config))
        monkeypatch.setenv("FRS_XPORTER_RELYING_PARTY", "rp-demo")
        monkeypatch.setenv("FRS_XPORTER_PASSWORD", "pw-demo-123")
        monkeypatch.delenv("FRS_DATABASE_URL", raising=False)
        monkeypatch.delenv("FRS_HOME", raising=False)
        yield server, tmp_path


def run(*args, code=0):
    result = CliRunner().invoke(main, list(args))
    assert result.exit_code == code, (result.stdout, result.stderr)
    return result


def template_upns(path):
    book = openpyxl.load_workbook(path)
    sheet = book.worksheets[0]
    header = next((r for r in range(1, 12) if any(c.value == "UPN" for c in sheet[r])), None)
    column = next(c.column for c in sheet[header] if c.value == "UPN")
    upns = [sheet.cell(r, column).value for r in range(header + 1, header + 50)]
    guidance = " ".join(str(c.value) for row in book["Guidance"].iter_rows() for c in row if c.value)
    return [u for u in upns if u], guidance


def test_three_schools_three_sources_and_a_killed_pull(journey):
    server, tmp = journey
    run("db", "init")
    for dfe, name in ((DX, "Xporter School"), (CENSUS, "Census School"), (BLANK, "Blank School")):
        run("schools", "add", "--dfe", dfe, "--name", name)
    assert json.loads(run("dx", "status", "--school", DX, "--json").stdout)["state"] == "not connected"
    run("dx", "connect", "--school", DX, "--partner", "xporter")
    status = json.loads(run("dx", "enable", "--school", DX, "--json").stdout)
    assert (status["state"], status["partner"], status["mis_id"], status["last_pull"]) == ("enabled", "xporter", DX, None)

    pulled = run("pull", "--school", DX, "--json")
    [summary] = json.loads(pulled.stdout)
    assert summary["outcome"] == "completed" and summary["by_year"] == {"10": 3, "11": 6} and summary["pages"] == 3
    assert "Pulling" in pulled.stderr  # progress on stderr

    made = run("template", "--school", DX, "--keystage", "ks4_gcse", "-o", str(tmp / "dx.xlsx"))
    assert "6 pupils from Data Exchange (Groupcall Xporter on Demand), list taken" in made.stderr
    upns, guidance = template_upns(tmp / "dx.xlsx")
    year11 = {s["UPN"] for s in server.schools[DX] if s["YearGroup"] == "Year  11"}
    assert set(upns) == year11 and len(upns) == 6
    assert "Pupils filled in: 6 pupils from Data Exchange" in guidance

    made = run("template", "--school", CENSUS, "--keystage", "ks4_gcse", "-o", str(tmp / "census.xlsx"))
    assert "4 pupils from census file autumn_2019.csv" in made.stderr
    assert len(template_upns(tmp / "census.xlsx")[0]) == 4

    made = run("template", "--school", BLANK, "--keystage", "ks4_gcse", "-o", str(tmp / "blank.xlsx"))
    assert "no pupils: a blank template" in made.stderr
    assert template_upns(tmp / "blank.xlsx")[0] == []

    # the server dies mid-pull: the pull fails, says why, and the earlier list stays in use
    server.refuse_delta = True  # a full pull, so that it is cut off after its first page
    server.fault("kill", after_pages=server.pages_served + 1)
    failed = run("pull", "--school", DX, code=1)
    assert "failed" in failed.stdout and "could not reach" in failed.stdout and "kept" in failed.stdout
    status = json.loads(run("dx", "status", "--school", DX, "--json").stdout)
    assert "could not reach" in status["last_error"] and status["last_pull"] == summary["pulled_at"]
    made = run("template", "--school", DX, "--keystage", "ks4_gcse", "-o", str(tmp / "dx2.xlsx"))
    assert set(template_upns(tmp / "dx2.xlsx")[0]) == year11
    for secret in ("pw-demo-123", "rp-demo"):
        assert secret not in failed.stdout + failed.stderr + json.dumps(status)


def test_cli_refusals_and_usage(journey):
    run("db", "init")
    run("schools", "add", "--dfe", DX, "--name", "Xporter School")
    run("users", "add", "head@school.uk", "--school", DX, "--permission", "manage_data")
    refused = run("dx", "connect", "--school", DX, "--partner", "xporter", "--as", "head@school.uk", code=1)
    assert "Setup permission" in refused.stderr
    assert "Unknown Data Exchange partner" in run("dx", "connect", "--school", DX, "--partner", "sims", code=1).stderr
    assert run("pull", code=2).exit_code == 2
    assert "No school has Data Exchange enabled" in run("pull", "--all", code=1).stderr
    assert "has no Data Exchange connection" in run("pull", "--school", DX, "--json", code=1).stdout
    for command in (["dx", "--help"], ["dx", "connect", "--help"], ["pull", "--help"]):
        assert "Usage" in run(*command).stdout
