"""The dashboard benchmark keeps working: a tiny run times every page over HTTP and the baselines."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[1] / "bench" / "dashboard.py"


def test_a_tiny_dashboard_benchmark_reports_percentiles_and_ratios():
    out = subprocess.run([sys.executable, str(BENCH), "--tiny", "--json"], capture_output=True, text=True,
                         timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    figures = json.loads(out.stdout)
    assert (figures["schools"], figures["pupils_per_school"]) == (4, 30)
    for page in ("dashboard_ks4", "dashboard_ks4_group", "pupils_page_ks4", "dashboard_ks5", "what_if_post",
                 "baseline_healthz", "baseline_school_home"):
        assert figures[page]["p50_ms"] > 0 and figures[page]["p95_ms"] >= figures[page]["p50_ms"]
    assert figures["x_healthz"] > 0 and figures["page_kb"] > 10
