"""Benchmark: end-to-end validation of a filled template against plain openpyxl and bare calamine.

    .venv/bin/python bench/run.py [--pupils 450] [--repeat 15] [--keystage ks5_alevel ...]

For each key stage it builds a template for a made-up school, types results into every result
column (as a school would, with openpyxl) and then times, in this one process and run:
  (a) openpyxl.load_workbook of the file (the anchor),
  (b) a bare python-calamine read of the results sheet (the floor to stay near),
  (c) frs validation end to end (gate + calamine read + structure + every rule), and the
      upload gate alone, to show where the time goes,
  (d) writing the template itself (xlsxwriter),
  (e) start-up, as whole processes: `frs --version` and `frs --help` against a bare
      `python -c pass`, and `frs validate FILE` against a process that only runs
      openpyxl.load_workbook on the same file (issue 7 asks for validate to be the faster one).
Peak memory is the VmHWM of a fresh process that imports frs and validates the file once.
Ratios, not milliseconds, are what carry between machines; no target is asserted here.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

from frs import config
from frs.connectors import School
from frs.demo import demo_pupils, fill_results
from frs.kernel import Kernel
from frs.validation.engine import gate_window, validate
from frs.workbook.gate import check_upload
from frs.workbook.template import build_template

SCHOOL = School("1231234", "Benchmark Academy")

CHILD = r"""
import sys, time
from frs import config
from frs.kernel import Kernel
from frs.validation.engine import validate
data = open(sys.argv[1], "rb").read()
kernel = Kernel(config.load())
report = validate(kernel, data, sys.argv[2], keystage_id=sys.argv[3])
assert report.valid, [i.code for i in report.issues][:5]
print([l for l in open("/proc/self/status") if l.startswith("VmHWM")][0].split()[1])
"""

CALAMINE_CHILD = r"""
import io, sys
from python_calamine import CalamineWorkbook
data = open(sys.argv[1], "rb").read()
CalamineWorkbook.from_filelike(io.BytesIO(data)).get_sheet_by_name(sys.argv[2]).to_python(skip_empty_area=False)
print([l for l in open("/proc/self/status") if l.startswith("VmHWM")][0].split()[1])
"""


def median_ms(func, repeat: int) -> float:
    func()  # warm
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        func()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def peak_mib(code: str, *args: str) -> float:
    out = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, check=True)
    return int(out.stdout.strip().splitlines()[-1]) / 1024


OPENPYXL_CHILD = "import sys, openpyxl; openpyxl.load_workbook(sys.argv[1])"
FRS = os.path.join(os.path.dirname(sys.executable), "frs")  # the installed console script


def process_ms(argv: list[str], repeat: int) -> float:
    """Median wall time of a whole process, start to exit (what an operator waits for)."""
    def run():
        subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
    return median_ms(run, repeat)


DISCOVERY_CHILD = r"""
import time
start = time.perf_counter()
import importlib.metadata as md
from frs.plugins import discover
discover()
print((time.perf_counter() - start) * 1000)
"""


def startup(repeat: int) -> dict:
    python_ms = process_ms([sys.executable, "-c", "pass"], repeat)
    # entry-point discovery scans every installed distribution: part of each command that loads plugins
    discovery_ms = statistics.median(
        float(subprocess.run([sys.executable, "-c", DISCOVERY_CHILD], capture_output=True, text=True,
                             check=True).stdout) for _ in range(repeat))
    version_ms = process_ms([FRS, "--version"], repeat)
    help_ms = process_ms([FRS, "--help"], repeat)
    return {"python_ms": python_ms, "frs_version_ms": version_ms, "frs_help_ms": help_ms,
            "plugin_discovery_ms": round(discovery_ms, 1),
            "x_version_vs_python": round(version_ms / python_ms, 2), "x_help_vs_python": round(help_ms / python_ms, 2)}


def bench(kernel: Kernel, keystage_id: str, pupils: int, repeat: int) -> dict:
    import openpyxl
    from python_calamine import CalamineWorkbook

    ks = kernel.keystage(keystage_id)
    rnd = kernel.round_for(ks)
    cohort = demo_pupils(SCHOOL, ks.nc_year, rnd.year, pupils)
    template = build_template(kernel, ks, SCHOOL, rnd, cohort)
    results = sum(1 for c in kernel.columns(ks) if c.kind == "result")
    data = fill_results(template, kernel, ks, per_pupil=max(4, -(-results // pupils) * 2))
    filename = ks.expected_filename(rnd.year, SCHOOL.dfe)
    report = validate(kernel, data, SCHOOL.dfe, filename=filename)
    assert report.valid and report.pupils == pupils, [i.to_dict() for i in report.issues][:5]

    def calamine():
        CalamineWorkbook.from_filelike(io.BytesIO(data)).get_sheet_by_name(ks.sheet_name).to_python(
            skip_empty_area=False)

    row = {
        "keystage": keystage_id, "pupils": pupils, "result_columns": results, "xlsx_kib": round(len(data) / 1024, 1),
        "openpyxl_ms": median_ms(lambda: openpyxl.load_workbook(io.BytesIO(data)), max(3, repeat // 3)),
        "calamine_ms": median_ms(calamine, repeat),
        "frs_validate_ms": median_ms(lambda: validate(kernel, data, SCHOOL.dfe, filename=filename), repeat),
        "gate_ms": median_ms(lambda: check_upload(data, kernel.config.limits, max_columns=gate_window(kernel)), repeat),
        "template_write_ms": median_ms(lambda: build_template(kernel, ks, SCHOOL, rnd, cohort), max(3, repeat // 3)),
    }
    with tempfile.NamedTemporaryFile(suffix=".xlsx") as tmp:
        tmp.write(data)
        tmp.flush()
        row["frs_peak_mib"] = round(peak_mib(CHILD, tmp.name, SCHOOL.dfe, keystage_id), 1)
        row["calamine_peak_mib"] = round(peak_mib(CALAMINE_CHILD, tmp.name, ks.sheet_name), 1)
        runs = max(3, repeat // 3)
        row["validate_process_ms"] = process_ms([FRS, "validate", tmp.name, "--school", SCHOOL.dfe, "--keystage",
                                                 keystage_id], runs)
        row["openpyxl_process_ms"] = process_ms([sys.executable, "-c", OPENPYXL_CHILD, tmp.name], runs)
    row["x_validate_process_vs_openpyxl"] = round(row["validate_process_ms"] / row["openpyxl_process_ms"], 2)
    row["x_faster_than_openpyxl"] = round(row["openpyxl_ms"] / row["frs_validate_ms"], 1)
    row["x_calamine"] = round(row["frs_validate_ms"] / row["calamine_ms"], 2)
    return row


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pupils", type=int, default=450, help="pupils in the workbook (default 450)")
    parser.add_argument("--repeat", type=int, default=15, help="timed runs per measurement (median is shown)")
    parser.add_argument("--keystage", action="append", help="key stage id (default: every enabled key stage)")
    parser.add_argument("--json", action="store_true", help="print the rows as JSON")
    args = parser.parse_args(argv)

    kernel = Kernel(config.load())
    print("timing start-up ...", file=sys.stderr)
    started = startup(max(3, args.repeat))
    rows = []
    for ks_id in args.keystage or sorted(kernel.keystages):
        print(f"benchmarking {ks_id} ...", file=sys.stderr)
        rows.append({**bench(kernel, ks_id, args.pupils, args.repeat), **started})
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    head = ("key stage", "pupils x cols", "openpyxl ms", "calamine ms", "frs ms", "of which gate", "vs openpyxl",
            "vs calamine", "peak MiB", "calamine MiB", "template ms")
    print("  ".join(f"{h:>13}" for h in head))
    for r in rows:
        cells = (r["keystage"], f"{r['pupils']}x{r['result_columns']}", f"{r['openpyxl_ms']:.1f}",
                 f"{r['calamine_ms']:.1f}", f"{r['frs_validate_ms']:.1f}", f"{r['gate_ms']:.1f}",
                 f"{r['x_faster_than_openpyxl']}x faster",
                 f"{r['x_calamine']}x", f"{r['frs_peak_mib']}", f"{r['calamine_peak_mib']}",
                 f"{r['template_write_ms']:.1f}")
        print("  ".join(f"{c:>13}" for c in cells))
    print(f"\nStart-up (whole processes, median): python -c pass {started['python_ms']:.0f} ms; "
          f"frs --version {started['frs_version_ms']:.0f} ms ({started['x_version_vs_python']}x python); "
          f"frs --help {started['frs_help_ms']:.0f} ms ({started['x_help_vs_python']}x python); "
          f"plugin discovery (importlib.metadata entry points) {started['plugin_discovery_ms']:.0f} ms")
    for r in rows:
        print(f"  frs validate process, {r['keystage']}: {r['validate_process_ms']:.0f} ms against "
              f"{r['openpyxl_process_ms']:.0f} ms for a process that only opens the file with openpyxl "
              f"({r['x_validate_process_vs_openpyxl']}x; below 1 is faster)")
    print("\nAims (issue 2): >= 10x faster than openpyxl, within 2x of bare calamine, peak < 64 MiB.")
    print("Aims (issue 7): frs --version and --help under 100 ms; a validate process faster than openpyxl's.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
