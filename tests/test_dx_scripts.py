"""The scripts a new user tries Data Exchange with, and the pull benchmark, keep working."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]


def test_pull_bench_prints_its_ratios():
    out = subprocess.run([sys.executable, str(ROOT / "bench" / "pull.py"), "--pupils", "28", "--page-size", "10",
                          "--repeat", "1", "--json"], capture_output=True, text=True, check=True)
    row = json.loads(out.stdout)
    assert row["pupils"] == 28 and row["x_full_vs_bare"] > 0 and row["x_delta_vs_bare"] > 0


def test_fake_xporter_script_serves_and_writes_a_config(tmp_path):
    proc = subprocess.Popen([sys.executable, str(ROOT / "scripts" / "fake_xporter.py"), "--port", "0", "--school",
                             "8014000:3", "--write-config", "dx.toml"], cwd=tmp_path, stdout=subprocess.PIPE,
                            text=True)
    try:
        deadline = time.monotonic() + 30
        while not (tmp_path / "dx.toml").exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        config = tomllib.loads((tmp_path / "dx.toml").read_text())
        token = httpx.post(config["plugins"]["xporter"]["token_url"], json={
            "relyingParty": "frs-demo", "thirdPartyId": "XporterOnDemand", "estab": "8014000",
            "password": "demo-password"}).json()["token"]
        body = httpx.get(config["plugins"]["xporter"]["api_url"] + "/School/8014000/Students/",
                         headers={"Authorization": f"Idaas {token}"}).json()
        assert sum(s["YearGroup"] == "Year  11" for s in body["Students"]) == 3
    finally:
        proc.terminate()
        proc.wait()
    assert "census" in config["plugins"]["census"]["folder"]
    out = subprocess.run([sys.executable, str(ROOT / "scripts" / "demo_census.py"), str(tmp_path / "c"), "8014001",
                          "--pupils", "4"], capture_output=True, text=True, check=True)
    assert len(Path(out.stdout.strip()).read_text().splitlines()) == 5
