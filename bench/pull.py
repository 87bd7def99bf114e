"""Benchmark: one Data Exchange pull against a fake Xporter on loopback, against the bare fetch.

    .venv/bin/python bench/pull.py [--pupils 1500] [--page-size 500] [--repeat 3] [--json]

In this one process and run it times, for the same school on the same loopback server:
  (a) the bare fetch: httpx getting the token and every Students page and decoding the JSON
      (the floor: what any client must do),
  (b) an frs full pull end to end (the same HTTP through PartnerHttp, every pupil re-validated,
      the cohort replaced in one SQLite transaction, the pull recorded),
  (c) an frs delta pull with no changes (what the nightly job costs once a list is held).
It prints the ratios (b)/(a) and (c)/(a); ratios, not milliseconds, carry between machines.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

from frs.config import Config
from frs.kernel import Kernel
from frs.services.data_exchange import DataExchange
from frs.storage import db
from frs.storage.files import FileStore
from frs.storage.service import OPERATOR, Service
from frs.testing.fake_partners import FakeXporter

SCHOOL = "8014000"


TLS = httpx.create_ssl_context()  # built once, as frs does: building one costs more than a small pull


def bare_fetch(server: FakeXporter, page_size: int) -> int:
    with httpx.Client(timeout=30, verify=TLS) as client:
        token = client.post(server.url + server.TOKEN_PATH, json={
            "relyingParty": server.relying_party, "thirdPartyId": "XporterOnDemand", "estab": SCHOOL,
            "password": server.password}).json()["token"]
        page, count, rows = 1, 1, 0
        while page <= count:
            body = client.get(f"{server.url}{server.API_PATH}/School/{SCHOOL}/Students/",
                              params={"page": page, "pageSize": page_size},
                              headers={"Authorization": f"Idaas {token}"}).json()
            rows += len(body["Students"])
            count = body["__pagination__"][0]["PageCount"]
            page += 1
        return rows


def timed(func, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        func()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pupils", type=int, default=1500)
    parser.add_argument("--page-size", type=int, default=500)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    with FakeXporter() as server, tempfile.TemporaryDirectory() as tmp:
        per_year = max(1, args.pupils // 7)
        students = []
        for n, year in enumerate(range(7, 14)):
            students += server.demo_students(SCHOOL, per_year, nc_year=year, exam_year=2021, first_serial=n * per_year + 1)
        server.add_school(SCHOOL, students)
        settings = server.settings(page_size=args.page_size, timeout=30.0)
        kernel = Kernel(Config(path=None, enabled=["blank", "data_exchange", "xporter"], strict=True,
                               plugin_settings={"xporter": settings}))
        service = Service(kernel, db.make_engine(f"sqlite:///{Path(tmp) / 'bench.db'}"), FileStore(Path(tmp)))
        service.init_db()
        service.add_school(SCHOOL, "Bench Academy")
        dx = DataExchange(service)
        dx.connect(OPERATOR, SCHOOL, "xporter")
        assert bare_fetch(server, args.page_size) == len(students)

        def full():
            from frs.storage.models_dx import DxConnection
            from sqlmodel import select

            with service._session(write=True) as s:  # forget the change token: a full pull each time
                for conn in s.exec(select(DxConnection)).all():
                    conn.delta_token = None
                    s.add(conn)
                s.commit()
            summary = dx.pull(SCHOOL)
            assert summary.ok and summary.pupils == len(students), (summary.reason, summary.rejected[:3])

        def delta():
            summary = dx.pull(SCHOOL)
            assert summary.ok and summary.mode == "delta", summary.reason

        bare_ms = timed(lambda: bare_fetch(server, args.page_size), args.repeat)
        full_ms = timed(full, args.repeat)
        full()
        delta_ms = timed(delta, args.repeat)
    row = {"pupils": len(students), "page_size": args.page_size, "bare_fetch_ms": round(bare_ms, 1),
           "frs_full_pull_ms": round(full_ms, 1), "frs_delta_pull_ms": round(delta_ms, 1),
           "x_full_vs_bare": round(full_ms / bare_ms, 2), "x_delta_vs_bare": round(delta_ms / bare_ms, 2)}
    if args.json:
        print(json.dumps(row))
    else:
        for key, value in row.items():
            print(f"{key:>18}: {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
