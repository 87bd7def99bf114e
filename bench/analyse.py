"""Benchmark: the analysis of a national collection (measures, stored results, PDFs).

    .venv/bin/python bench/analyse.py                  # 3,500 schools x 180 pupils x 9 entries
    .venv/bin/python bench/analyse.py --tiny           # a smoke test: 6 schools x 30 pupils
    .venv/bin/python bench/analyse.py --database-url postgresql+psycopg://postgres@127.0.0.1/frs_bench

The collection tables are not part of this branch, so synthetic SchoolCohort objects (built from
the real template catalogues, deterministic per school) are fed straight into the runner
(``frs.analysis.service.analyse_cohorts``), which stores every school's result in the database
and every PDF in the reports file store, exactly as ``frs analyse`` does after a collection.

Printed: wall time of each pass, per school and per PDF; the baseline in the same run is the time
to build the same cohorts without analysing them (ratio = analysis / building the input). Memory:
resident size sampled every few hundred schools during the run (flat = it does not grow with the
number of schools) and the peak.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from frs.analysis import engine, synthetic  # noqa: E402
from frs.analysis import service as analysis  # noqa: E402
from frs.kernel import Kernel  # noqa: E402
from frs.storage import db  # noqa: E402
from frs.storage.files import FileStore  # noqa: E402
from frs.storage.service import Service  # noqa: E402


def rss_mb() -> tuple[float, float]:
    fields = {}
    with open("/proc/self/status") as handle:
        for line in handle:
            key, _, value = line.partition(":")
            fields[key] = value.strip()
    return int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024


def _cpu() -> float:
    """CPU seconds of this process and its finished worker processes (the machine is shared: wall
    time depends on what else runs; CPU time does not)."""
    import resource

    me, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + children.ru_utime + children.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--schools", type=int, default=3500)
    parser.add_argument("--pupils", type=int, default=180)
    parser.add_argument("--entries", type=int, default=9)
    parser.add_argument("--key-stage", type=int, choices=(4, 5), default=4)
    parser.add_argument("--workers", type=int, default=min(2, os.cpu_count() or 1), help="PDF processes")
    parser.add_argument("--database-url", help="default: a new SQLite file in a temporary folder")
    parser.add_argument("--tiny", action="store_true", help="6 schools x 30 pupils: a smoke test")
    parser.add_argument("--no-pdf", action="store_true")
    args = parser.parse_args()
    if args.tiny:
        args.schools, args.pupils = 6, 30
    kernel = Kernel()
    year = 2020 if args.key_stage == 4 else 2021
    maker = synthetic.SchoolMaker(kernel, key_stage=args.key_stage, year=year, pupils=args.pupils,
                                  entries=args.entries)

    # baseline: building the same cohorts, nothing else
    sample = min(args.schools, 200)
    started = time.perf_counter()
    for index in range(sample):
        maker.make(index)
    build_per_school = (time.perf_counter() - started) / sample

    with tempfile.TemporaryDirectory(prefix="frs-bench-") as tmp:
        url = args.database_url or f"sqlite:///{tmp}/frs.db"
        service = Service(kernel, db.make_engine(url), FileStore(Path(tmp) / "files"))
        service.init_db()
        samples: list[tuple[int, float]] = []
        marks: dict[str, float] = {}

        def cohorts():
            for index in range(args.schools):
                if index % max(1, args.schools // 7) == 0:
                    samples.append((index, rss_mb()[0]))
                yield maker.make(index)

        def progress(done: int, total: int) -> None:
            if done == args.schools and "pass1" not in marks:
                marks["pass1"] = time.perf_counter()
            if done % 250 == 0 or done == total:
                print(f"\r  {done}/{total}", end="", file=sys.stderr, flush=True)

        cpu_before = _cpu()
        started = time.perf_counter()
        summary = analysis.analyse_cohorts(service, cohorts(), collection_id=1, progress=progress,
                                           pdfs=not args.no_pdf, workers=args.workers, total=args.schools)
        total = time.perf_counter() - started
        cpu = _cpu() - cpu_before
        print(file=sys.stderr)
        pass1 = marks.get("pass1", started + total) - started
        pass2 = total - pass1
        reports = Path(tmp) / "reports"
        pdf_bytes = sum(p.stat().st_size for p in reports.rglob("*") if p.is_file()) if reports.exists() else 0
        # one PDF alone, in this process, for the time per PDF without parallelism
        report = analysis.school_report(service, maker.make(0).school_dfe, summary["round_id"])
        one = time.perf_counter()
        for _ in range(10):
            analysis.render_pdf(report)
        per_pdf = (time.perf_counter() - one) / 10
        # the same collection gives the same bytes
        again = engine.canonical_json(engine.analyse_cohort(maker.make(0), kernel.measures(args.key_stage)))
        same = report["analysis"]["result_sha256"] == __import__("hashlib").sha256(again.encode()).hexdigest()
        db_size = Path(tmp, "frs.db").stat().st_size / 1e6 if not args.database_url else None
    current, peak = rss_mb()
    out = {
        "schools": args.schools, "pupils_per_school": args.pupils, "entries_per_pupil": args.entries,
        "key_stage": args.key_stage, "workers": args.workers, "database": "postgresql" if args.database_url else "sqlite",
        "total_seconds": round(total, 1), "under_5_minutes": total < 300,
        "pass1_measures_and_store_seconds": round(pass1, 1), "pass2_compare_and_pdf_seconds": round(pass2, 1),
        "ms_per_school": round(1000 * total / args.schools, 1),
        "cpu_seconds_all_processes": round(cpu, 1),
        "cpu_seconds_over_2_cores": round(cpu / 2, 1),
        "load_average_1min_at_end": os.getloadavg()[0],
        "ms_per_pdf_single_process": round(1000 * per_pdf, 1),
        "baseline_build_cohort_ms": round(1000 * build_per_school, 1),
        "ratio_analysis_to_building_input": round(total / args.schools / build_per_school, 2),
        "pdf_total_mb": round(pdf_bytes / 1e6, 1), "db_mb": round(db_size, 1) if db_size else None,
        "rss_mb_samples": [(i, round(m)) for i, m in samples], "rss_mb_end": round(current),
        "peak_rss_mb": round(peak), "same_bytes_on_rerun": same,
    }
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
