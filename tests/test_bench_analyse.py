"""The analysis benchmark keeps working: a tiny run prints every figure the notes quote."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[1] / "bench" / "analyse.py"


def test_a_tiny_analysis_benchmark_reports_time_memory_and_same_bytes():
    out = subprocess.run([sys.executable, str(BENCH), "--tiny", "--workers", "2", "--sqlite"], capture_output=True,
                         text=True, check=True)
    row = json.loads(out.stdout)
    assert (row["schools"], row["pupils_per_school"], row["pupils"]) == (6, 30, 180)
    assert row["same_bytes_on_rerun"] is True
    assert row["pdfs_stored"] == 6 and row["uploads_reports_available"] == 12  # a GCSE and a non-GCSE upload each
    for key in ("analysis_seconds", "baseline_read_all_cohorts_seconds", "peak_rss_mib_analysis_parent",
                "cpu_seconds_all_processes", "pdf_total_mb"):
        assert row[key] > 0
