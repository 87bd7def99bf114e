"""A fake Groupcall Xporter on Demand on loopback, for trying Data Exchange without a real MIS.

It serves the STS token call and the Students endpoint in the shape of the recorded Xporter
replies (frs/testing/data/), for the recorded school (estab 3281101: no UPN consent scope, so
every pupil is reported) and for the demo schools you name, whose pupils have UPNs:

    .venv/bin/python scripts/fake_xporter.py --port 8765 --school 8014000:25 --exam-year 2020

It prints the [plugins.xporter] settings and the two environment variables to use. Stop it
with Ctrl-C (doing that during a pull shows a pull that fails and keeps the list held before).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from frs.connectors import dfe_number
from frs.testing.fake_partners import FakeXporter, recorded_xporter_students


CONFIG = """# written by scripts/fake_xporter.py: Data Exchange against a fake Xporter on loopback
[service]
home = "{home}"

[plugins]
enabled = ["blank", "ks4_gcse", "ks4_nongcse", "ks5_alevel", "data_exchange", "xporter", "census"]

[plugins.data_exchange]
schedule = "0 2 * * *"

[plugins.xporter]
token_url = "{url}{token}"
api_url = "{url}{api}"
relying_party = {{ env = "FRS_XPORTER_RELYING_PARTY" }}
password = {{ env = "FRS_XPORTER_PASSWORD" }}
page_size = 10
backoff_base = 0.5
retries = 2

[plugins.census]
folder = "{census}"

[[rounds]]
id = "ks4-2020"
key_stage = 4
year = 2020
opens = 2020-08-18T00:00:00
closes = 2020-09-04T17:00:00
"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=8765, help="port on 127.0.0.1 (0: any free port)")
    parser.add_argument("--school", action="append", default=[], metavar="DFE[:COUNT]",
                        help="a demo school and how many Year 11 pupils it has (default 20); repeatable")
    parser.add_argument("--exam-year", type=int, default=2020, help="the summer the Year 11 pupils sit exams")
    parser.add_argument("--relying-party", default="frs-demo")
    parser.add_argument("--password", default="demo-password")
    parser.add_argument("--page-delay", type=float, default=0.0,
                        help="seconds each page takes, so a pull can be watched or interrupted")
    parser.add_argument("--write-config", metavar="FILE",
                        help="also write a config file for trying it: this server, a census folder, the KS4 2020 "
                             "round, and a database under ./instance-dx")
    parser.add_argument("--census-folder", default="instance-dx/census", help="census folder for --write-config")
    args = parser.parse_args(argv)
    server = FakeXporter(args.port, relying_party=args.relying_party, password=args.password)
    server.page_delay = args.page_delay
    server.add_school("3281101", recorded_xporter_students())
    for item in args.school:
        dfe, _, count = item.partition(":")
        if dfe_number(dfe) is None or (count and not count.isdigit()):
            parser.error(f"--school {item!r}: give a 7-digit DfE number, optionally :COUNT")
        dfe = dfe_number(dfe)
        server.add_school(dfe, server.demo_students(dfe, int(count or 20), nc_year=11, exam_year=args.exam_year)
                          + server.demo_students(dfe, 5, nc_year=10, exam_year=args.exam_year, first_serial=500))
    server.start()
    print(f"fake Xporter on {server.url} (schools: {', '.join(server.schools)})\n")
    print("[plugins.xporter]")
    print(f'token_url = "{server.url}{server.TOKEN_PATH}"')
    print(f'api_url = "{server.url}{server.API_PATH}"')
    print('relying_party = { env = "FRS_XPORTER_RELYING_PARTY" }')
    print('password = { env = "FRS_XPORTER_PASSWORD" }\n')
    print(f"export FRS_XPORTER_RELYING_PARTY={args.relying_party} FRS_XPORTER_PASSWORD={args.password}", flush=True)
    if args.write_config:
        target = Path(args.write_config)
        partial = target.with_name(target.name + ".part")  # whole or not at all, for whoever waits for it
        partial.write_text(CONFIG.format(url=server.url, token=server.TOKEN_PATH, api=server.API_PATH,
                                         census=Path(args.census_folder).resolve(),
                                         home=Path("instance-dx").resolve()), encoding="utf-8")
        partial.replace(target)
        print(f"\nwrote {args.write_config}: export FRS_CONFIG={Path(args.write_config).resolve()}", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
