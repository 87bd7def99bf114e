"""The benchmark keeps working: a tiny run prints every figure the issue notes quote."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[1] / "bench" / "run.py"


def test_bench_reports_ratios_and_memory_for_a_small_run():
    out = subprocess.run([sys.executable, str(BENCH), "--pupils", "15", "--repeat", "1", "--keystage", "ks5_alevel",
                          "--json"], capture_output=True, text=True, check=True)
    (row,) = json.loads(out.stdout)
    assert row["keystage"] == "ks5_alevel" and row["pupils"] == 15
    for key in ("openpyxl_ms", "calamine_ms", "frs_validate_ms", "gate_ms", "frs_peak_mib", "x_faster_than_openpyxl",
                "x_calamine", "template_write_ms",
                # start-up (issue 7): whole processes, and validate against an openpyxl-only process
                "python_ms", "frs_version_ms", "frs_help_ms", "plugin_discovery_ms", "validate_process_ms",
                "openpyxl_process_ms", "x_validate_process_vs_openpyxl", "x_version_vs_python", "x_help_vs_python"):
        assert row[key] > 0
