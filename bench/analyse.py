"""Benchmark: the analysis of a collected national KS4 round (measures, stored results, every PDF).

    .venv/bin/python bench/analyse.py                  # 3,500 schools x 180 pupils x 9 entries, PostgreSQL
    .venv/bin/python bench/analyse.py --sqlite         # the same on a SQLite file
    .venv/bin/python bench/analyse.py --tiny           # a smoke test: 6 schools x 30 pupils

The round is the one of ``bench/collect.py`` (the daemon's national benchmark): per school a GCSE
upload (8 entries per pupil) and a non-GCSE upload (1 entry), confirmed, then collected with
``frs collect``. What is timed is what the daemon runs after the collection: ``frs analyse`` of the
collection (``frs.analysis.runner.analyse``) with every school's measures stored, the all-schools
figures, every PDF summary stored and the uploads marked *Reports available*.

Each step runs in a fresh process. Printed: wall and CPU time of the analysis (its worker processes
included), per school; the baseline of the same run is the time to read every cohort of the
collection in one process (``iter_cohorts``, the analysis's input); resident memory of the analysis
(its own process and its workers, summed) at 10% and 45% of the steps (the measures pass) and at
55% and 95% (the PDF pass), so flat memory shows as the same figure early and late in each pass;
and whether analysing again stores the same bytes.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from collect import CONFIG as COLLECT_CONFIG, bench_database, build, drop_database  # noqa: E402  (the same round)

ANALYSE_CONFIG = COLLECT_CONFIG.replace('enabled = ["ks4_gcse", "ks4_nongcse"]',
                                        'enabled = ["ks4_gcse", "ks4_nongcse", "ks4_measures"]')

CHILD = r"""
import json, os, sys, threading, time, resource
from frs import config
from frs.kernel import Kernel
from frs.storage.service import Service
from frs.storage import db
what, workers = sys.argv[1], int(sys.argv[2])
service = Service.from_kernel(Kernel(config.load()))
out = {}

def rss_mib(pid):
    try:
        with open(f"/proc/{pid}/status") as handle:
            return int(next(l for l in handle if l.startswith("VmRSS")).split()[1]) / 1024
    except (OSError, StopIteration):
        return 0.0

def cpu():
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime

started, cpu_before = time.perf_counter(), cpu()
if what == "collect":
    from frs.services.collections import collect
    summary = collect(service, "ks4-2020")
    out["collection_id"] = summary.id
elif what == "read":
    from frs.services.collections import iter_cohorts, latest_collection
    n = 0
    for cohort in iter_cohorts(service, latest_collection(service, "ks4-2020").id):
        n += sum(len(p.results) for p in cohort.pupils)
    out["results"] = n
elif what == "analyse":
    import multiprocessing
    from frs.analysis.runner import analyse
    from frs.services.collections import latest_collection
    samples, state = [], {"done": 0, "total": 0}
    stop = threading.Event()

    def sample():
        while not stop.wait(1.0):
            parent = rss_mib(os.getpid())
            kids = sum(rss_mib(p.pid) for p in multiprocessing.active_children())
            samples.append((state["done"], state["total"], round(parent), round(kids)))

    def progress(done, total):
        state["done"], state["total"] = done, total
        if done % 500 == 0 or done == total:
            print(f"\r  analysed {done}/{total} steps", end="", file=sys.stderr, flush=True)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    summary = analyse(service, latest_collection(service, "ks4-2020").id, progress=progress, workers=workers)
    stop.set()
    print(file=sys.stderr)
    out.update(summary=summary, samples=samples)
    from sqlmodel import func, select
    from frs.storage.models import REPORTS_AVAILABLE, Upload
    from frs.storage.models_analysis import SchoolAnalysis
    with db.session(service.engine) as s:
        out["stored"] = [tuple(r) for r in s.exec(select(SchoolAnalysis.school_dfe, SchoolAnalysis.result_sha256,
                                                         SchoolAnalysis.pdf_sha256).order_by(SchoolAnalysis.school_dfe))]
        out["reports_available"] = s.exec(select(func.count()).select_from(Upload)
                                          .where(Upload.status == REPORTS_AVAILABLE)).one()
out["seconds"] = time.perf_counter() - started
out["cpu_seconds"] = cpu() - cpu_before
out["peak_mib"] = int([l for l in open("/proc/self/status") if l.startswith("VmHWM")][0].split()[1]) / 1024
print(json.dumps(out))
"""


def child(what: str, env: dict, workers: int = 1) -> dict:
    out = subprocess.run([sys.executable, "-c", CHILD, what, str(workers)], env=env, stdout=subprocess.PIPE,
                         text=True)
    if out.returncode != 0:
        raise SystemExit(f"{what} failed (its error is above)")
    return json.loads(out.stdout)


def at_share(samples: list, share: float) -> tuple[int, int] | None:
    """(parent, workers) resident MiB at the first sample past ``share`` of the steps."""
    for done, total, parent, kids in samples:
        if total and done >= share * total:
            return parent, kids
    return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--schools", type=int, default=3500)
    parser.add_argument("--pupils", type=int, default=180)
    parser.add_argument("--workers", type=int, default=min(4, os.cpu_count() or 1),
                        help="analysis processes (frs analyse's default: the CPUs, at most 4)")
    parser.add_argument("--db", default=os.environ.get("FRS_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres"),
                        help="PostgreSQL admin URL; a fresh database is made and dropped")
    parser.add_argument("--sqlite", action="store_true", help="use a SQLite file instead of PostgreSQL")
    parser.add_argument("--tiny", action="store_true", help="6 schools x 30 pupils: a smoke test")
    args = parser.parse_args()
    if args.tiny:
        args.schools, args.pupils = 6, 30

    home = Path(tempfile.mkdtemp(prefix="frs-bench-analyse-"))
    collect_config, analyse_config = home / "collect.toml", home / "frs.toml"
    collect_config.write_text(COLLECT_CONFIG.format(home=home), encoding="utf-8")
    analyse_config.write_text(ANALYSE_CONFIG.format(home=home), encoding="utf-8")
    url, drop = bench_database(home, args.db, args.sqlite)
    env = {**os.environ, "FRS_DATABASE_URL": url, "FRS_NOW": "2020-09-04T17:00:01"}
    try:
        print(f"building {args.schools} schools x {args.pupils} pupils ...", file=sys.stderr)
        built = build(url, collect_config, args.schools, args.pupils)
        # collected with no measure enabled, so the collection's own hook does not analyse it
        collected = child("collect", {**env, "FRS_CONFIG": str(collect_config)})
        env["FRS_CONFIG"] = str(analyse_config)
        read = child("read", env)
        first = child("analyse", env, args.workers)
        again = child("analyse", env, args.workers) if args.tiny else None
    finally:
        drop_database(args.db, drop)
    schools = first["summary"]["schools"]
    reports = home / "reports"
    pdf_bytes = sum(p.stat().st_size for p in reports.rglob("*.pdf")) if reports.exists() else 0
    pdf_bytes = pdf_bytes or sum(p.stat().st_size for p in reports.rglob("*") if p.is_file())
    # steps: the first half is the measures pass, the second the PDF pass; flat memory means the
    # same figure early and late within each pass
    rss = {f"{int(100 * share)}%": at_share(first["samples"], share) for share in (0.1, 0.45, 0.55, 0.95)}
    out = {
        "database": "sqlite" if args.sqlite else "postgresql", "schools": schools,
        "pupils_per_school": args.pupils, "entries_per_pupil": 9, "pupils": first["summary"]["pupils"],
        "workers": args.workers, "cpus": os.cpu_count(), "build_seconds": round(built, 1),
        "collect_seconds": round(collected["seconds"], 1),
        "analysis_seconds": round(first["seconds"], 1), "under_5_minutes": first["seconds"] < 300,
        "ms_per_school": round(1000 * first["seconds"] / schools, 1),
        "cpu_seconds_all_processes": round(first["cpu_seconds"], 1),
        "cpu_ms_per_school": round(1000 * first["cpu_seconds"] / schools, 1),
        "baseline_read_all_cohorts_seconds": round(read["seconds"], 1),
        "ratio_analysis_to_reading_its_input": round(first["seconds"] / read["seconds"], 2),
        "pdfs_stored": sum(1 for row in first["stored"] if row[2]),
        "uploads_reports_available": first["reports_available"],
        "pdf_total_mb": round(pdf_bytes / 1e6, 1),
        "rss_mib_parent_and_workers_by_steps_done": rss,
        "peak_rss_mib_analysis_parent": round(first["peak_mib"]),
        "load_average_1min_at_end": round(os.getloadavg()[0], 2),
    }
    if again is not None:
        out["same_bytes_on_rerun"] = again["stored"] == first["stored"]
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
