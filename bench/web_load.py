"""Load benchmark: the JSON API under concurrent clients, against `frs serve --workers 2` on PostgreSQL.

    .venv/bin/python bench/web_load.py                      # 2,000 uploads of 450 pupils, 8 clients
    .venv/bin/python bench/web_load.py --tiny               # a smoke run (a few small uploads)
    .venv/bin/python bench/web_load.py --uploads 5000 --concurrency 16 --json

It creates a fresh PostgreSQL database (dropped afterwards), schools with a Manage Data user and an
API token each, and one filled 450-pupil KS5 file per school; starts `frs serve` on a random
loopback port with the clock inside the KS5 2021 round; then concurrent httpx clients (threads,
keep-alive) POST uploads to /api/v1/schools/{dfe}/uploads, every one validated and stored with its
pupil records (every ``--confirm-every``-th also confirmed in the same request). It reports
throughput, latency percentiles and errors, and, as the baseline of the same run, the same upload
done serially in this process through the service layer (no HTTP): the ratio says what HTTP,
multipart and two workers add or win. Bounded in count and time; loopback only.

The machine is shared, so wall-clock figures move with whatever else runs: the run also reports
the load average, the CPU time the workers, the PostgreSQL server processes and this client spent
per upload (steady whatever the load; their sum says what two idle cores could carry), and how
evenly the two workers shared the work. ``--py-spy FILE`` samples the workers while the load runs
and prints where their time went.
"""

from __future__ import annotations

import argparse
import json
import collections
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

from frs.testing.serve import start_serve, stop_serve

ROOT = Path(__file__).resolve().parents[1]
PG_ADMIN = os.environ.get("FRS_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres")
NOW = "2021-08-20T10:00"  # inside the repository config's KS5 2021 round
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    k = max(0, min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1))))
    return ordered[k]



def connections_per_worker(port: int) -> dict[int, int]:
    """Open client connections each server process holds (from ss), to see how the load is shared."""
    try:
        out = subprocess.run(["ss", "-Htnp", "state", "established", f"( sport = :{port} )"], capture_output=True,
                             text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return {}
    counts: collections.Counter = collections.Counter()
    for line in out.splitlines():
        for pid in re.findall(r"pid=(\d+)", line)[:1]:
            counts[int(pid)] += 1
    return dict(counts)


TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used so far (0 once it has gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICK


def children(pid: int) -> list[int]:
    try:
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def backends(database: str) -> list[int]:
    """PostgreSQL server processes serving ``database`` (their title names it)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                title = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            if title.startswith("postgres: ") and f" {database} " in title:
                found.append(int(entry.name))
    return found


def summarise_stacks(path: Path, top: int = 25) -> str:
    """The functions the workers spent their samples in (py-spy's collapsed stacks): own and total."""
    own: collections.Counter = collections.Counter()
    total: collections.Counter = collections.Counter()
    samples = 0
    try:
        lines = path.read_text().splitlines()
    except OSError as exc:
        return f"py-spy wrote nothing ({exc})"
    for line in lines:
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        samples += n
        frames = [f.split(" (")[0] + " (" + f.split(" (")[1].split(":")[0] + ")" if " (" in f else f
                  for f in stack.split(";")[1:]]  # the first frame names the process
        if frames:
            own[frames[-1]] += n
        for frame in set(frames):
            total[frame] += n
    out = [f"py-spy: {samples} samples of the workers (idle waits included)", "  own%  total%  function"]
    for frame, n in own.most_common(top):
        out.append(f"  {100 * n / samples:5.1f} {100 * total[frame] / samples:6.1f}  {frame}")
    return "\n".join(out)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--uploads", type=int, default=2000, help="Uploads to send (default 2000).")
    parser.add_argument("--concurrency", type=int, default=8, help="Concurrent clients (default 8).")
    parser.add_argument("--pupils", type=int, default=450, help="Pupils per file (default 450).")
    parser.add_argument("--schools", type=int, default=10, help="Schools, one file and token each (default 10).")
    parser.add_argument("--workers", type=int, default=2, help="frs serve --workers (default 2).")
    parser.add_argument("--confirm-every", type=int, default=4, help="Confirm every n-th upload (0: never).")
    parser.add_argument("--baseline", type=int, default=30, help="Serial in-process uploads for the baseline.")
    parser.add_argument("--max-seconds", type=float, default=900, help="Stop sending after this long.")
    parser.add_argument("--tiny", action="store_true", help="Smoke run: 12 uploads of 20 pupils, 2 schools.")
    parser.add_argument("--json", action="store_true", help="Print the figures as JSON.")
    parser.add_argument("--py-spy", metavar="FILE", help="Sample the server's workers with py-spy (installed "
                        "separately) while the load runs; write collapsed stacks to FILE and print the top "
                        "functions.")
    args = parser.parse_args()
    py_spy = None
    if args.py_spy:
        py_spy = shutil.which("py-spy") or shutil.which("py-spy", path=str(Path(sys.executable).parent))
        if py_spy is None:
            parser.error("--py-spy needs py-spy installed (pip install py-spy)")
    if args.tiny:
        args.uploads, args.pupils, args.schools, args.concurrency, args.baseline = 12, 20, 2, 2, 2

    import psycopg
    from sqlalchemy.engine import make_url

    from frs import config
    from frs.connectors import School
    from frs.demo import demo_pupils, fill_results
    from frs.kernel import Kernel
    from frs.services import accounts
    from frs.storage.service import Service
    from frs.workbook.template import build_template

    name = f"frs_bench_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    url = make_url(PG_ADMIN).set(drivername="postgresql+psycopg", database=name).render_as_string(False)
    home = Path(tempfile.mkdtemp(prefix="frs-web-load-"))
    env = {**os.environ, "FRS_DATABASE_URL": url, "FRS_HOME": str(home), "FRS_NOW": NOW,
           "FRS_CONFIG": str(config.REPO_CONFIG)}
    os.environ.update({k: env[k] for k in ("FRS_DATABASE_URL", "FRS_HOME", "FRS_NOW", "FRS_CONFIG")})
    server = None
    try:
        kernel = Kernel(config.load(config.REPO_CONFIG))
        service = Service.from_kernel(kernel)
        service.init_db()
        ks = kernel.keystage("ks5_alevel")
        rnd = kernel.round_for(ks)
        schools = []
        print(f"Setting up {args.schools} schools with {args.pupils}-pupil files ...", file=sys.stderr)
        for n in range(args.schools):
            dfe = f"801{2000 + n:04d}"
            email = f"manager{n}@school{n}.example"
            service.add_school(dfe, f"Load School {n}")
            service.add_user(email, dfe, ["manage_data"])
            school = School(dfe, f"Load School {n}")
            template = build_template(kernel, ks, school, rnd, demo_pupils(school, ks.nc_year, rnd.year, args.pupils))
            data = fill_results(template, kernel, ks, per_pupil=4, seed=n)
            schools.append({"dfe": dfe, "email": email, "token": accounts.create_token(service, email), "data": data})
        size_kib = len(schools[0]["data"]) / 1024

        # baseline: the same uploads through the service layer, serially, in this process
        baseline_ms = []
        for i in range(args.baseline):
            s = schools[i % len(schools)]
            start = time.perf_counter()
            result = service.upload(s["email"], s["data"], "baseline.xlsx", school_dfe=s["dfe"])
            baseline_ms.append((time.perf_counter() - start) * 1000)
            assert result.upload.status == "Awaiting confirmation", result.report.issues[:3]
        service.engine.dispose()

        server, base = start_serve(env, "--workers", str(args.workers))

        spy = None
        if args.py_spy:
            spy = subprocess.Popen([py_spy, "record", "--pid", str(server.pid), "--subprocesses", "--nonblocking",
                                    "--rate", "200", "--format", "raw", "--output", args.py_spy],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
            time.sleep(1)  # let it attach before the load starts

        local = threading.local()
        latencies: list[float] = []
        failures: list[str] = []
        lock = threading.Lock()
        stop_at = time.monotonic() + args.max_seconds

        def one(i: int) -> None:
            if time.monotonic() > stop_at:
                return
            client = getattr(local, "client", None)
            if client is None:
                client = local.client = httpx.Client(base_url=base, timeout=60)
            s = schools[i % len(schools)]
            confirm = bool(args.confirm_every) and i % args.confirm_every == 0
            data = {"confirm": "true", "accept_terms": "true"} if confirm else {}
            start = time.perf_counter()
            try:
                response = client.post(f"/api/v1/schools/{s['dfe']}/uploads", data=data,
                                       files={"file": (f"results_{i}.xlsx", s["data"], XLSX)},
                                       headers={"Authorization": f"Bearer {s['token']}"})
                elapsed = (time.perf_counter() - start) * 1000
                body = response.json()
                ok = response.status_code == 201 and body["status"] in ("Awaiting confirmation", "Processing") \
                    and not body.get("confirm_refused")
                problem = None if ok else f"{response.status_code} {str(body)[:200]}"
            except Exception as exc:  # a transport failure is an error of the run, counted not raised
                elapsed, problem = (time.perf_counter() - start) * 1000, f"{type(exc).__name__}: {exc}"
            with lock:
                latencies.append(elapsed)
                if problem:
                    failures.append(problem)
                done = len(latencies)
            if done % max(1, args.uploads // 20) == 0:
                print(f"  {done}/{args.uploads} uploads", file=sys.stderr)

        load_before = os.getloadavg()[0]
        workers = [pid for pid in children(server.pid) if b"resource_tracker" not in _cmdline(pid)]
        with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
            sessions_before = admin.execute("SELECT sessions FROM pg_stat_database WHERE datname = %s",
                                            (name,)).fetchone()[0]
        cpu_before = {pid: cpu_seconds(pid) for pid in [*workers, *backends(name)]}
        client_before = time.process_time()
        print(f"Sending {args.uploads} uploads with {args.concurrency} clients to frs serve --workers "
              f"{args.workers} ...", file=sys.stderr)
        started = time.perf_counter()
        spread: dict[int, int] = {}

        def look_at_connections() -> None:  # once the load is under way, without holding it up
            time.sleep(2)
            spread.update(connections_per_worker(int(base.rsplit(":", 1)[1])))

        threading.Thread(target=look_at_connections, daemon=True).start()
        with ThreadPoolExecutor(args.concurrency) as pool:
            list(pool.map(one, range(args.uploads)))
        wall = time.perf_counter() - started
        load_after = os.getloadavg()[0]
        client_cpu = time.process_time() - client_before
        # backends that ended during the run (pool overflow) are missed: the session count says how many
        worker_cpu = sum(cpu_seconds(pid) - cpu_before.get(pid, 0.0) for pid in workers)
        database_cpu = sum(cpu_seconds(pid) - cpu_before.get(pid, 0.0) for pid in backends(name))
        with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
            new_sessions = admin.execute("SELECT sessions FROM pg_stat_database WHERE datname = %s",
                                         (name,)).fetchone()[0] - sessions_before
        if spy is not None:
            spy.send_signal(signal.SIGINT)
            try:
                spy.wait(60)
            except subprocess.TimeoutExpired:
                spy.kill()
            print(summarise_stacks(Path(args.py_spy)), file=sys.stderr)
        sent = len(latencies)
        throughput = sent / wall
        serial = 1000 / statistics.median(baseline_ms)
        figures = {
            "uploads": sent, "errors": len(failures), "concurrency": args.concurrency, "workers": args.workers,
            "pupils": args.pupils, "file_kib": round(size_kib, 1), "seconds": round(wall, 2),
            "uploads_per_s": round(throughput, 2),
            "p50_ms": round(percentile(latencies, 50), 1), "p95_ms": round(percentile(latencies, 95), 1),
            "p99_ms": round(percentile(latencies, 99), 1), "max_ms": round(max(latencies), 1),
            "baseline_serial_ms": round(statistics.median(baseline_ms), 1),
            "baseline_uploads_per_s": round(serial, 2),
            "x_baseline": round(throughput / serial, 2),
            "connections_per_worker": sorted(spread.values(), reverse=True),
            "cpu_ms_per_upload": {"workers": round(1000 * worker_cpu / max(sent, 1), 1),
                                  "postgresql": round(1000 * database_cpu / max(sent, 1), 1),
                                  "client": round(1000 * client_cpu / max(sent, 1), 1)},
            "cpu_share_per_worker": [round(cpu_seconds(pid) - cpu_before.get(pid, 0.0), 1) for pid in workers],
            "database_sessions_opened": new_sessions,
            "load_before": round(load_before, 2), "load_after": round(load_after, 2),
        }
        if args.json:
            print(json.dumps(figures))
        else:
            print(f"{sent} uploads of {args.pupils} pupils ({size_kib:.0f} KiB) in {wall:.1f} s with "
                  f"{args.concurrency} clients, frs serve --workers {args.workers}, PostgreSQL:")
            print(f"  throughput {throughput:.1f} uploads/s  (serial in-process baseline {serial:.1f}/s: "
                  f"x{throughput / serial:.2f})")
            print(f"  latency p50 {figures['p50_ms']:.0f} ms  p95 {figures['p95_ms']:.0f} ms  "
                  f"p99 {figures['p99_ms']:.0f} ms  max {figures['max_ms']:.0f} ms")
            print(f"  client connections held by each worker: {sorted(spread.values(), reverse=True)}; CPU seconds "
                  f"used by each worker: {figures['cpu_share_per_worker']}")
            cpu = figures["cpu_ms_per_upload"]
            total = sum(cpu.values())
            print(f"  CPU ms per upload: workers {cpu['workers']}, PostgreSQL {cpu['postgresql']}, client "
                  f"{cpu['client']} (total {total:.0f}: two idle cores would allow about {2000 / total:.0f} "
                  f"uploads/s); new database sessions during the run: {new_sessions}")
            print(f"  errors {len(failures)}" + (f"  first: {failures[0]}" if failures else ""))
            print(f"  load average (1 min) {load_before:.1f} before, {load_after:.1f} after: other work on this "
                  f"machine; compare runs by their ratio to the baseline")
        return 1 if failures else 0
    finally:
        stop_serve(server)
        with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
