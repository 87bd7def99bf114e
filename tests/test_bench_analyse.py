"""The analysis benchmark keeps working: a tiny run prints every figure the notes quote."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[1] / "bench" / "analyse.py"


def test_a_tiny_analysis_benchmark_reports_time_memory_and_same_bytes():
    out = subprocess.run([sys.executable, str(BENCH), "--tiny", "--workers", "1"], capture_output=True, text=True,
                         check=True)
    row = json.loads(out.stdout)
    assert (row["schools"], row["pupils_per_school"]) == (6, 30)
    assert row["same_bytes_on_rerun"] is True
    for key in ("total_seconds", "ms_per_pdf_single_process", "baseline_build_cohort_ms", "peak_rss_mb",
                "cpu_seconds_all_processes", "pdf_total_mb"):
        assert row[key] > 0
