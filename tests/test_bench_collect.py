"""The collection benchmark keeps working: a tiny national round on PostgreSQL and on SQLite."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "bench" / "collect.py"


@pytest.mark.parametrize("where", [[], ["--sqlite"]], ids=["postgresql", "sqlite"])
def test_collect_bench_reports_time_and_memory_for_a_tiny_round(where):
    out = subprocess.run([sys.executable, str(BENCH), "--schools", "2", "3", "--pupils", "4", "--json", *where],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    small, large = json.loads(out.stdout)
    assert (small["schools"], large["schools"]) == (2, 3)
    assert (large["uploads"], large["pupils"], large["results"]) == (6, 12, 108)  # 2 files, 9 entries per pupil
    for key in ("floor_s", "collect_s", "read_s", "collect_peak_mib", "read_peak_mib", "x_floor",
                "x_collect_peak_vs_smallest", "collect_results_per_s"):
        assert large[key] > 0
