"""Write a DfE-style census extract (CSV) for one school, for trying the census fallback:

    .venv/bin/python scripts/demo_census.py instance/census 8014001 --pupils 18 --exam-year 2020
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from frs.connectors import dfe_number
from frs.testing.fake_partners import kit_pupils

HEADER = "LEA,Estab,UPN,Surname,Forename,Middlenames,Sex,DOB,NCyearActual,EnrolStatus,FSMeligible,Language,SENProvision"


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
    lines = [HEADER]
    for p in kit_pupils(dfe, args.pupils, nc_year=11, exam_year=args.exam_year, first_serial=200):
        y, m, d = p.date_of_birth.split("-")
        lines.append(f"{dfe[:3]},{dfe[3:]},{p.upn},{p.surname},{p.forename},,{p.gender},{d}/{m}/{y},11,C,0,ENG,N")
    args.folder.mkdir(parents=True, exist_ok=True)
    path = args.folder / f"census_{dfe}.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
