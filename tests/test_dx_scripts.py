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


def journey_lines() -> list[str]:
    """The shell lines of the README's Data Exchange journey (its ```bash block), continuations joined."""
    import re

    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text[text.index("## Pupil lists: Data Exchange, census, blank"):]
    block = re.search(r"```bash\n(.*?)```", section, flags=re.S).group(1)
    return [line.strip() for line in block.replace("\\\n", " ").splitlines()
            if line.strip() and not line.strip().startswith("#")]


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_the_readme_data_exchange_journey_runs_as_printed(tmp_path):
    """Each line as the README prints it (the fake server on a free port instead of 8765)."""
    import os
    import re
    import shlex

    (tmp_path / ".venv").symlink_to(Path(sys.prefix))
    (tmp_path / "scripts").symlink_to(ROOT / "scripts")
    env = {k: v for k, v in os.environ.items() if not k.startswith("FRS_")}
    port = str(free_port())
    server = None
    outputs = []
    try:
        for line in journey_lines():
            line = re.sub(r"\s+#.*$", "", line).replace("8765", port)
            if line.startswith(".venv/bin/python scripts/fake_xporter.py"):
                server = subprocess.Popen(shlex.split(line.rstrip("&")), cwd=tmp_path, env=env,
                                          stdout=subprocess.DEVNULL)
                deadline = time.monotonic() + 30
                while not (tmp_path / "dx.toml").exists() and time.monotonic() < deadline:
                    time.sleep(0.1)
                continue
            if line.startswith("export "):
                for item in shlex.split(line[len("export "):].replace("$PWD", str(tmp_path))):
                    name, _, value = item.partition("=")
                    env[name] = value
                continue
            if "kill <fake server PID>" in line:  # the pull, with the server killed while it runs
                pull = subprocess.Popen(shlex.split(line.split("&")[0]), cwd=tmp_path, env=env,
                                        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                time.sleep(float(re.search(r"sleep ([0-9.]+)", line).group(1)))  # as printed
                server.terminate()
                server.wait()
                out, err = pull.communicate(timeout=120)
                assert pull.returncode == 1 and "failed" in out and "kept" in out, (out, err)
                outputs.append((line, out))
                continue
            result = subprocess.run(shlex.split(line), cwd=tmp_path, env=env, capture_output=True, text=True,
                                    timeout=300)
            assert result.returncode == 0, (line, result.stdout, result.stderr)
            assert "Traceback" not in result.stderr, (line, result.stderr)
            outputs.append((line, result.stdout + result.stderr))
    finally:
        if server is not None and server.poll() is None:
            server.terminate()
            server.wait()
    said = "\n".join(out for _, out in outputs)
    assert "25 pupils from Data Exchange (Groupcall Xporter on Demand)" in said
    assert "18 pupils from census file census_8014001.csv" in said
    assert "school 8014002: no pupils: a blank template" in said
    assert "could not reach" in outputs[-2][1]  # dx status names the last error
    assert said.count("25 pupils from Data Exchange") == 2  # the list held before is still used
