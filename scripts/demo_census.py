"""Write a DfE-style census extract (CSV) for one school, for trying the census fallback:

    .venv/bin/python scripts/demo_census.py instance/census 8014001 --pupils 18 --exam-year 2020
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from frs.connectors import dfe_number
from frs.demo import census_extract
from frs.testing.fake_partners import kit_pupils



def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folder", type=Path)
    parser.add_argument("dfe")
    parser.add_argument("--pupils", type=int, default=18, help="Year 11 pupils (default 18)")
    parser.add_argument("--exam-year", type=int, default=2020)
    args = parser.parse_args(argv)
    dfe = dfe_number(args.dfe)
    if dfe is None:
        parser.error(f"{args.dfe!r} is not a 7-digit DfE number")
    pupils = kit_pupils(dfe, args.pupils, nc_year=11, exam_year=args.exam_year, first_serial=200)
    args.folder.mkdir(parents=True, exist_ok=True)
    path = args.folder / f"census_{dfe}.csv"
    path.write_text(census_extract(dfe, pupils), encoding="utf-8")
    print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
