"""The web load benchmark keeps working: a tiny run against `frs serve --workers 2` on PostgreSQL."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[1] / "bench" / "web_load.py"


def test_web_load_bench_smoke_run_reports_throughput_latency_and_errors():
    out = subprocess.run([sys.executable, str(BENCH), "--tiny", "--json"], capture_output=True, text=True,
                         timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    figures = json.loads(out.stdout)
    assert figures["uploads"] == 12 and figures["errors"] == 0 and figures["workers"] == 2
    for key in ("uploads_per_s", "p50_ms", "p95_ms", "p99_ms", "baseline_uploads_per_s", "x_baseline"):
        assert figures[key] > 0
    assert figures["cpu_ms_per_upload"]["workers"] > 0 and len(figures["cpu_share_per_worker"]) == 2
