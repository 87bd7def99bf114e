"""The README's commands and the hints `frs demo` prints work as printed, on a fresh instance.

Every `.venv/bin/frs ...` line of the README's shell blocks is run by bash, in order, from a
folder laid out like the repository (`.venv` and `examples/` beside it), with only the
"fill in ks5.xlsx" step done for the operator. Then `frs demo` runs and the commands it suggests
are run exactly as it printed them.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from frs import config
from frs.connectors import School
from frs.demo import DemoSource, fill_results
from frs.kernel import Kernel
from frs.workbook.template import build_template

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"
FRS = Path(sys.prefix) / "bin" / "frs"


#: the README's walk-through sections, run here line by line; the later sections (daemon, portal,
#: Data Exchange) start long-running processes and have their own tests
WALKTHROUGH = ("## The two commands", "## Using it", "## Uploads, schools and users")


def readme_lines() -> list[str]:
    """The shell lines of the README's walk-through that run frs, set a variable, or mark the
    fill-in step."""
    text = README.read_text(encoding="utf-8")
    sections = re.split(r"(?m)^(?=## )", text)
    walkthrough = "".join(s for s in sections if s.startswith(WALKTHROUGH))
    blocks = re.findall(r"```sh\n(.*?)```", walkthrough, flags=re.S)
    lines = []
    for block in blocks:
        for raw in block.splitlines():
            line = raw.strip()
            if "fill in" in line and line.startswith("#"):
                lines.append("FILL-IN")
                continue
            for part in line.split("&&"):
                part = part.strip()
                if part.startswith((".venv/bin/frs ", "export ")):
                    lines.append(shlex.join(shlex.split(part, comments=True)))
    return lines


@pytest.fixture
def place(tmp_path, monkeypatch):
    """A folder that looks like the repository to the README's relative paths, and a clean env."""
    assert FRS.exists(), f"the frs console script is not at {FRS}: run scripts/setup.sh"
    (tmp_path / ".venv").symlink_to(Path(sys.prefix))
    (tmp_path / "examples").symlink_to(REPO / "examples")
    env = {k: v for k, v in os.environ.items() if not k.startswith("FRS_")}
    env["FRS_HOME"] = str(tmp_path / "home")
    # as on a fresh clone: the virtual environment is not activated, so `frs` alone is not on PATH
    venv_bin = (Path(sys.prefix) / "bin").resolve()
    env["PATH"] = os.pathsep.join(p for p in env.get("PATH", "").split(os.pathsep)
                                  if p and Path(p).resolve() != venv_bin)
    return tmp_path, env


def sh(line: str, cwd: Path, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", "-c", line], cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def fill_in(path: Path) -> None:
    """What the school does in Excel: its pupils and their results typed into the template."""
    kernel = Kernel(config.load(config.REPO_CONFIG))
    ks = kernel.keystage("ks5_alevel")
    rnd = kernel.round_for(ks)
    school = School("1231234", "Demo Academy")
    template = build_template(kernel, ks, school, rnd, DemoSource(rnd.year, 12).fetch_cohort(school, ks.nc_year))
    path.write_bytes(fill_results(template, kernel, ks))


def test_the_readme_names_the_commands_it_promises():
    lines = readme_lines()
    assert any(" demo" in l for l in lines) and any("schools import examples/gias-sample.csv" in l for l in lines)
    assert (REPO / "examples" / "gias-sample.csv").is_file()
    assert "FILL-IN" in lines


def test_every_readme_command_runs_as_printed_on_a_fresh_instance(place):
    cwd, env = place
    ran = []
    for line in readme_lines():
        if line.split()[-1] == "demo" or line.endswith(" demo"):
            continue  # the demo has its own test below, on its own instance
        if line == "FILL-IN":
            fill_in(cwd / "ks5.xlsx")
            continue
        if line.startswith("export "):
            name, _, value = line[len("export "):].partition("=")
            env[name] = value
            continue
        result = sh(line, cwd, env)
        assert result.returncode == 0, f"{line}\n{result.stdout}\n{result.stderr}"
        assert "Traceback" not in result.stderr and "Error:" not in result.stderr, f"{line}\n{result.stderr}"
        ran.append((line, result.stdout))
    outputs = dict(ran)
    assert len(ran) >= 15
    imported = next(out for line, out in ran if "schools import" in line)
    assert "6 added" in imported
    upload = next(out for line, out in ran if " upload ks5.xlsx" in line)
    assert "Awaiting confirmation" in upload
    assert (cwd / "back.xlsx").read_bytes() == (cwd / "ks5.xlsx").read_bytes()
    audit = next(out for line, out in ran if " audit " in line)
    for action in ("upload", "confirm", "download", "delete"):
        assert re.search(rf"\b{action}\s+ok\b", audit), audit
    assert outputs  # every line above ran


def test_the_demo_and_the_commands_it_suggests_work_as_printed(place):
    cwd, env = place
    demo = sh(".venv/bin/frs demo --pupils 6 --no-serve", cwd, env)
    assert demo.returncode == 0, demo.stderr
    hints = demo.stdout.split("\nTry:", 1)[1].split("\n\n", 1)[0].splitlines()
    commands = [h.strip() for h in hints if h.strip()]
    assert len(commands) == 3 and all(".venv/bin/frs " in c for c in commands), commands
    for command in commands:
        result = sh(command, cwd, env)
        assert "Traceback" not in result.stderr and "Error:" not in result.stderr, f"{command}\n{result.stderr}"
        if " validate " in command:  # the demo's file with three planted mistakes
            assert result.returncode == 1 and "ks5_alevel.invalid-result" in result.stdout
        else:
            assert result.returncode == 0, f"{command}\n{result.stdout}"
    assert "Processing" in sh(commands[1], cwd, env).stdout
