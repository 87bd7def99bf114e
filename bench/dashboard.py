"""Dashboard benchmark: how long a school's dashboard page takes over HTTP (target: under 200 ms).

    .venv/bin/python bench/dashboard.py                 # 50 schools of 180 pupils, 100 timed GETs
    .venv/bin/python bench/dashboard.py --tiny --json   # a smoke run
    .venv/bin/python bench/dashboard.py --database postgresql

It analyses a collection of synthetic KS4 schools (and a KS5 one) into a fresh instance (SQLite by
default, or a new PostgreSQL database that is dropped afterwards), starts `frs serve` on a random
loopback port, signs in through the sign-in form as an operator (who may see every school) and
as a member of one school, then times, with keep-alive clients:

- GET of the KS4 dashboard of schools picked in turn (the full page: headlines, elements, subjects,
  groups and every pupil with slots and flags);
- GET of the dashboard filtered to one pupil group (a recompute), and the what-if POST with five
  pupils left out;
- GET of the KS4 pupil list (every pupil with slots and flags, the what-if form) and the KS5 dashboard;
- as the baseline of the same run, GET /healthz (HTTP and the middleware alone) and the school
  home page (an ordinary portal page).

Prints p50 / p95 / max per page and the ratio of the dashboard's p50 to the baselines.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import re
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx

from frs.testing.serve import start_serve, stop_serve

ROOT = Path(__file__).resolve().parents[1]
PG_ADMIN = os.environ.get("FRS_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres")
PASSWORD = "bench password 1"
OPERATOR_EMAIL, MEMBER_EMAIL = "ops@bench.example", "member@bench.sch.uk"
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    k = max(0, min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1))))
    return ordered[k]



def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def build(url: str, home: Path, schools: int, pupils: int) -> dict:
    """The instance: schools analysed (KS4 and KS5), an operator, a member of the first school."""
    from frs import config
    from frs.analysis import runner, synthetic as syn
    from frs.kernel import Kernel
    from frs.services import accounts
    from frs.storage import db
    from frs.storage.files import FileStore
    from frs.storage.service import Service

    kernel = Kernel(config.load(config.REPO_CONFIG))
    engine = db.make_engine(url)
    svc = Service(kernel, engine, FileStore(home / "files"))
    svc.init_db()
    maker = syn.SchoolMaker(kernel, pupils=pupils, key_stage=4, year=2020)
    cohorts = [maker.make(i) for i in range(schools)]
    with_progress = {"last": 0}

    def progress(done, total):
        if done - with_progress["last"] >= max(1, total // 10) or done == total:
            with_progress["last"] = done
            log(f"  analysing KS4: {done}/{total}")

    started = time.perf_counter()
    runner.analyse_cohorts(svc, cohorts, collection_id=1, pdfs=False, progress=progress)
    analyse_s = time.perf_counter() - started
    ks5 = syn.SchoolMaker(kernel, pupils=max(pupils // 2, 10), key_stage=5, year=2021)
    ks5_cohorts = [ks5.make(i) for i in range(min(schools, 10))]
    ks5_cohorts[0] = dataclasses.replace(ks5_cohorts[0], school_dfe=cohorts[0].school_dfe)
    runner.analyse_cohorts(svc, ks5_cohorts, collection_id=2, pdfs=False)
    svc.add_school(cohorts[0].school_dfe, cohorts[0].school_name)
    svc.add_user(MEMBER_EMAIL, cohorts[0].school_dfe, ["member"])
    accounts.set_password(svc, MEMBER_EMAIL, PASSWORD)
    accounts.set_password(svc, OPERATOR_EMAIL, PASSWORD, operator=True)
    engine.dispose()
    return {"dfes": [c.school_dfe for c in cohorts], "analyse_s": analyse_s}


def sign_in(base: str, email: str) -> httpx.Client:
    client = httpx.Client(base_url=base, follow_redirects=False, timeout=60)
    page = client.get("/sign-in")
    response = client.post("/sign-in", data={"email": email, "password": PASSWORD,
                                             "csrf_token": _CSRF.search(page.text).group(1)})
    assert response.status_code == 303, response.text[:300]
    return client


def timed(client: httpx.Client, method: str, path: str, n: int, **kwargs) -> list[float]:
    out = []
    for i in range(n):
        target = path(i) if callable(path) else path
        started = time.perf_counter()
        response = client.request(method, target, **kwargs)
        out.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, (target, response.status_code, response.text[:300])
    return out


def summary(values: list[float]) -> dict:
    return {"p50_ms": round(statistics.median(values), 1), "p95_ms": round(percentile(values, 95), 1),
            "max_ms": round(max(values), 1), "n": len(values)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--schools", type=int, default=50, help="KS4 schools in the collection (default 50).")
    parser.add_argument("--pupils", type=int, default=180, help="Pupils per school (default 180).")
    parser.add_argument("--requests", type=int, default=100, help="Timed GETs of the dashboard (default 100).")
    parser.add_argument("--database", choices=("sqlite", "postgresql"), default="sqlite",
                        help="Where the instance keeps its data (default sqlite).")
    parser.add_argument("--tiny", action="store_true", help="A smoke run: 4 schools of 30 pupils, 10 requests.")
    parser.add_argument("--json", action="store_true", help="Print the figures as one JSON object.")
    args = parser.parse_args()
    if args.tiny:
        args.schools, args.pupils, args.requests = 4, 30, 10
    if args.schools < 1 or args.pupils < 1 or args.requests < 1:
        parser.error("--schools, --pupils and --requests must be at least 1")

    home = Path(tempfile.mkdtemp(prefix="frs-bench-dashboard-"))
    admin, pg_name = None, None
    if args.database == "postgresql":
        import psycopg

        pg_name = f"frs_bench_{uuid.uuid4().hex[:12]}"
        admin = psycopg.connect(PG_ADMIN, autocommit=True)
        admin.execute(f'CREATE DATABASE "{pg_name}"')
        url = PG_ADMIN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://") + f"/{pg_name}"
    else:
        url = f"sqlite:///{home / 'frs.db'}"
    server = None
    try:
        log(f"building {args.schools} schools of {args.pupils} pupils ({args.database}) ...")
        built = build(url, home, args.schools, args.pupils)
        env = {**os.environ, "FRS_HOME": str(home), "FRS_CONFIG": str(ROOT / "config" / "frs.toml"),
               "FRS_DATABASE_URL": url, "FRS_SECRET_KEY": "bench-secret"}
        env.pop("FRS_DATA_EXCHANGE", None)
        server, base = start_serve(env)
        operator, member = sign_in(base, OPERATOR_EMAIL), sign_in(base, MEMBER_EMAIL)
        dfes, first = built["dfes"], built["dfes"][0]
        n = args.requests
        log("warming up ...")
        timed(operator, "GET", lambda i: f"/reports/{dfes[i % len(dfes)]}/ks4-2020", min(5, n))
        timed(member, "GET", f"/school/{first}", 3)
        log(f"timing {n} dashboard GETs ...")
        size = len(operator.get(f"/reports/{first}/ks4-2020").content)
        results = {
            "dashboard_ks4": summary(timed(operator, "GET", lambda i: f"/reports/{dfes[i % len(dfes)]}/ks4-2020", n)),
            "dashboard_ks4_member": summary(timed(member, "GET", f"/reports/{first}/ks4-2020", max(n // 4, 3))),
            "dashboard_ks4_group": summary(timed(member, "GET", f"/reports/{first}/ks4-2020?group=gender:Female",
                                                 max(n // 4, 3))),
            "pupils_page_ks4": summary(timed(member, "GET", f"/reports/{first}/ks4-2020/pupils", max(n // 4, 3))),
            "dashboard_ks5": summary(timed(member, "GET", f"/reports/{first}/ks5-2021", max(n // 4, 3))),
        }
        page = member.get(f"/reports/{first}/ks4-2020").text
        upns = re.findall(r'name="exclude" type="checkbox" value="([^"]+)"', page)[:5]
        token = _CSRF.search(page).group(1)
        results["what_if_post"] = summary(timed(member, "POST", f"/reports/{first}/ks4-2020", max(n // 4, 3),
                                                data={"csrf_token": token, "exclude": upns}))
        results["baseline_healthz"] = summary(timed(member, "GET", "/healthz", n))
        results["baseline_school_home"] = summary(timed(member, "GET", f"/school/{first}", max(n // 4, 3)))
        p50 = results["dashboard_ks4"]["p50_ms"]
        figures = {"schools": args.schools, "pupils_per_school": args.pupils, "database": args.database,
                   "analyse_seconds": round(built["analyse_s"], 2), "page_kb": round(size / 1024, 1), **results,
                   "x_healthz": round(p50 / max(results["baseline_healthz"]["p50_ms"], 0.01), 1),
                   "x_school_home": round(p50 / max(results["baseline_school_home"]["p50_ms"], 0.01), 2),
                   "under_200ms_p95": results["dashboard_ks4"]["p95_ms"] < 200}
        if args.json:
            print(json.dumps(figures))
        else:
            print(f"{args.schools} schools x {args.pupils} pupils on {args.database}; KS4 page {figures['page_kb']} kB")
            for name, row in results.items():
                print(f"  {name:24s} p50 {row['p50_ms']:7.1f} ms   p95 {row['p95_ms']:7.1f} ms   "
                      f"max {row['max_ms']:7.1f} ms   (n={row['n']})")
            print(f"  dashboard p50 = {figures['x_healthz']} x /healthz, {figures['x_school_home']} x the school home "
                  f"page; p95 under 200 ms: {figures['under_200ms_p95']}")
        return 0
    finally:
        stop_serve(server)
        if admin is not None:
            admin.execute(f'DROP DATABASE IF EXISTS "{pg_name}" WITH (FORCE)')
            admin.close()


if __name__ == "__main__":
    sys.exit(main())
