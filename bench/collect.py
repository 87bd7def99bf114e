"""Benchmark: collecting a synthetic national KS4 round, and reading it back school by school.

    .venv/bin/python bench/collect.py [--schools 1000 3500] [--pupils 180] [--db postgresql://...] [--json]

For each school count, in a fresh PostgreSQL database (or SQLite with ``--sqlite``), it builds a
round as confirmed uploads would leave it: per school a GCSE upload (8 entries per pupil) and a
non-GCSE upload (1 entry per pupil), i.e. 9 entries per pupil; each school offers English, maths,
Combined Science and 20 of 40 option GCSEs (a pupil takes 4) and 6 other qualifications. The rows
are made by the storage layer's own ``_record_row`` (what ``Service.upload`` stores for a clean
file) and loaded with COPY; building 7,000 workbooks through ``Service.upload`` would take far longer than the collection
being measured, and validation has its own benchmark (bench/run.py).

Then, each in a fresh process (so peak RSS is the collection's own):
  (a) floor: one streamed read of every pupil record of the round, nothing written;
  (b) ``frs collect``: the collection with its per-school summaries and status updates;
  (c) ``iter_cohorts`` over the whole collection (what the analysis reads).
It prints seconds, rows per second, the ratio to the floor, and peak RSS; with two or more school
counts, the RSS ratio between the largest and the smallest (flat memory stays near 1.0).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

CONFIG = """
[service]
home = "{home}"
[plugins]
enabled = ["ks4_gcse", "ks4_nongcse"]
[[rounds]]
id = "ks4-2020"
key_stage = 4
year = 2020
opens = 2020-08-18T00:00:00
closes = 2020-09-04T17:00:00
reports_due = 2020-10-16
"""

CHILD = r"""
import json, sys, time
from frs import config
from frs.kernel import Kernel
from frs.storage.service import Service
what = sys.argv[1]
service = Service.from_kernel(Kernel(config.load()))
started = time.perf_counter()
out = {}
if what == "floor":
    from sqlalchemy import select
    from frs.storage.models import PupilRecord
    n = 0
    with service._session() as s:
        for row in s.execute(select(PupilRecord.upload_id, PupilRecord.row, PupilRecord.upn, PupilRecord.fields,
                                    PupilRecord.results).execution_options(yield_per=2000)):
            n += len(row[4])
    out["results"] = n
elif what == "collect":
    from frs.services.collections import collect
    summary = collect(service, "ks4-2020")
    out.update(summary.to_dict())
elif what == "read":
    from frs.services.collections import iter_cohorts, latest_collection
    n = pupils = schools = 0
    for cohort in iter_cohorts(service, latest_collection(service, "ks4-2020").id):
        schools += 1
        pupils += len(cohort.pupils)
        n += sum(len(p.results) for p in cohort.pupils)
    out.update(results=n, pupils=pupils, schools=schools)
out["seconds"] = time.perf_counter() - started
out["peak_mib"] = int([l for l in open("/proc/self/status") if l.startswith("VmHWM")][0].split()[1]) / 1024
print(json.dumps(out))
"""


def build(url: str, config_path: Path, schools: int, pupils: int) -> float:
    """Schools, users and two confirmed uploads per school with their pupil records."""
    import datetime as dt

    from sqlalchemy import insert

    from frs import config, upn
    from frs.kernel import Kernel
    from frs.storage import db
    from frs.storage.models import PROCESSING, School, Upload, User
    from frs.storage.service import _record_row

    started = time.perf_counter()
    kernel = Kernel(config.load(config_path))
    engine = db.make_engine(url)
    db.init_db(engine)
    gcse = [c for c in kernel.columns(kernel.keystage("ks4_gcse")) if c.kind == "result"]
    nongcse = [c for c in kernel.columns(kernel.keystage("ks4_nongcse")) if c.kind == "result"]
    core = [c for c in gcse if c.header in ("English Language", "English Literature", "Mathematics",
                                            "Combined Science")]
    options = [c for c in gcse if c not in core and "Science" not in c.header][:40]
    grades = {c.id: [str(g) for g in c.values.examples()] for c in gcse + nongcse}
    rng = random.Random(2020)
    now = dt.datetime(2020, 9, 1, 12, tzinfo=dt.timezone.utc)
    with db.session(engine, write=True) as s:
        s.add(User(id=1, email="bench@example.org", created_at=now))
        s.flush()
        s.execute(insert(School), [{"id": n + 1, "dfe": f"{100 + n // 9000:03d}{n % 9000 + 1000:04d}",
                                    "name": f"Bench School {n + 1}"} for n in range(schools)])
        uploads = []
        for n in range(schools):
            for k, ks in enumerate(("ks4_gcse", "ks4_nongcse")):
                uploads.append({"id": 2 * n + k + 1, "school_id": n + 1, "keystage": ks, "round_id": "ks4-2020",
                                "filename": f"{ks}.xlsx", "sha256": "0" * 64, "size": 1, "status": PROCESSING,
                                "is_current": True, "pupils": pupils, "uploaded_at": now, "uploaded_by_id": 1,
                                "confirmed_at": now, "confirmed_by_id": 1})
        s.execute(insert(Upload), uploads)
        s.commit()
    raw = engine.raw_connection()
    try:
        cur = raw.cursor()
        columns = ("upload_id", "row", "upn", "fields", "results")
        for n in range(schools):
            dfe = f"{100 + n // 9000:03d}{n % 9000 + 1000:04d}"
            rows = []
            # what a school offers: 20 of the 40 option GCSEs and 6 other qualifications (a school
            # enters its pupils for a handful of vocational awards, not for the whole catalogue)
            offer, vocational = rng.sample(options, 20), rng.sample(nongcse, 6)
            for p in range(pupils):
                code = upn.make("801", f"{(n * 7 + p // 1000) % 10000:04d}", 5, p % 1000)
                fields = {"organisation": f"Bench School {n + 1}", "dfe_number": dfe, "key_stage": "4",
                          "nc_year": "11", "upn": code, "forename": "Alex", "surname": f"Pupil{p}",
                          "dob_day": str(1 + p % 28), "dob_month": str(1 + p % 12), "dob_year": "2004",
                          "gender": "Female" if p % 2 else "Male"}
                chosen = core + rng.sample(offer, 4)
                gcse_results = {c.id: rng.choice(grades[c.id]) for c in chosen}
                extra = rng.choice(vocational)
                for k, results in enumerate((gcse_results, {extra.id: rng.choice(grades[extra.id])})):
                    rec = _record_row(2 * n + k + 1, {**fields, "row": 6 + p, "results": results})
                    rows.append((rec["upload_id"], rec["row"], rec["upn"], json.dumps(rec["fields"]),
                                 json.dumps(rec["results"])))
            if engine.dialect.name == "postgresql":
                with cur.copy(f"COPY pupilrecord ({', '.join(columns)}) FROM STDIN") as copy:
                    for r in rows:
                        copy.write_row(r)
            else:
                cur.executemany("INSERT INTO pupilrecord (upload_id, row, upn, fields, results) VALUES (?,?,?,?,?)",
                                rows)
        raw.commit()
        if engine.dialect.name == "postgresql":
            cur.execute("ANALYZE")
            raw.commit()
    finally:
        raw.close()
        engine.dispose()
    return time.perf_counter() - started


def child(what: str, env: dict) -> dict:
    out = subprocess.run([sys.executable, "-c", CHILD, what], env=env, capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(f"{what} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout)


def bench_database(home: Path, admin_url: str, sqlite: bool) -> tuple[str, str | None]:
    """A fresh database for one benchmark run: (its URL, the PostgreSQL database to drop after)."""
    if sqlite:
        return f"sqlite:///{home / 'frs.db'}", None
    import psycopg
    from sqlalchemy.engine import make_url

    name = f"frs_bench_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    return make_url(admin_url).set(drivername="postgresql+psycopg", database=name).render_as_string(
        hide_password=False), name


def drop_database(admin_url: str, name: str | None) -> None:
    if name:
        import psycopg

        with psycopg.connect(admin_url, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def run_one(args, schools: int) -> dict:
    home = Path(tempfile.mkdtemp(prefix="frs-bench-collect-"))
    config_path = home / "frs.toml"
    config_path.write_text(CONFIG.format(home=home), encoding="utf-8")
    url, drop = bench_database(home, args.db, args.sqlite)
    try:
        built = build(url, config_path, schools, args.pupils)
        env = {**os.environ, "FRS_CONFIG": str(config_path), "FRS_DATABASE_URL": url,
               "FRS_NOW": "2020-09-04T17:00:01"}
        floor = child("floor", env)
        collected = child("collect", env)
        read = child("read", env)
    finally:
        if not args.keep:
            drop_database(args.db, drop)
    results = collected["results"]
    assert results == floor["results"] == read["results"], (floor, collected, read)
    return {"schools": schools, "pupils_per_school": args.pupils, "uploads": collected["uploads"],
            "pupils": collected["pupils"], "results": results, "build_s": round(built, 1),
            "floor_s": round(floor["seconds"], 2), "collect_s": round(collected["seconds"], 2),
            "read_s": round(read["seconds"], 2),
            "collect_results_per_s": round(results / collected["seconds"]),
            "x_floor": round(collected["seconds"] / floor["seconds"], 2),
            "floor_peak_mib": round(floor["peak_mib"], 1), "collect_peak_mib": round(collected["peak_mib"], 1),
            "read_peak_mib": round(read["peak_mib"], 1),
            "database": "sqlite" if args.sqlite else "postgresql"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--schools", type=int, nargs="+", default=[1000, 3500])
    parser.add_argument("--pupils", type=int, default=180)
    parser.add_argument("--db", default=os.environ.get("FRS_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres"),
                        help="PostgreSQL admin URL; a fresh database is made and dropped per run")
    parser.add_argument("--sqlite", action="store_true", help="Use a SQLite file instead of PostgreSQL")
    parser.add_argument("--keep", action="store_true", help="Keep the databases")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    rows = [run_one(args, n) for n in sorted(args.schools)]
    if len(rows) > 1:
        for row in rows:
            row["x_collect_peak_vs_smallest"] = round(row["collect_peak_mib"] / rows[0]["collect_peak_mib"], 2)
            row["x_read_peak_vs_smallest"] = round(row["read_peak_mib"] / rows[0]["read_peak_mib"], 2)
    if args.json:
        print(json.dumps(rows, indent=2))
        return
    for row in rows:
        print(f"{row['database']}: {row['schools']} schools, {row['uploads']} uploads, {row['pupils']} pupils, "
              f"{row['results']} results (built in {row['build_s']} s)")
        print(f"  floor (stream every pupil record)  {row['floor_s']:8.2f} s  peak {row['floor_peak_mib']:6.1f} MiB")
        print(f"  frs collect (+ summaries)          {row['collect_s']:8.2f} s  peak {row['collect_peak_mib']:6.1f} MiB"
              f"  {row['x_floor']}x the floor, {row['collect_results_per_s']} results/s")
        print(f"  iter_cohorts (whole round)         {row['read_s']:8.2f} s  peak {row['read_peak_mib']:6.1f} MiB")
        if "x_collect_peak_vs_smallest" in row:
            print(f"  peak RSS vs {rows[0]['schools']} schools: collect {row['x_collect_peak_vs_smallest']}x, "
                  f"read {row['x_read_peak_vs_smallest']}x")


if __name__ == "__main__":
    main()
