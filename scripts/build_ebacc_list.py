"""Build plugins/measures/frs_ks4_measures/data/ebacc_quals.csv from the DfE "EBacc Quals.xlsx".

Usage: python scripts/build_ebacc_list.py "path/to/EBacc Quals.xlsx"

One row per (QN, pillar) with the years the QN counts. The science pillar also names the single
science (biology, chemistry, physics, computer_science) or ``combined`` for a double award, since
the EBacc science rules count distinct single sciences.
"""

from __future__ import annotations

import csv
import re
import sys
from pathlib import Path

import openpyxl

SHEETS = {"English": "english_language", "English Literature": "english_literature", "Maths": "maths",
          "Science": "science", "Humanities": "humanities", "Languages": "language"}
YEARS = range(2016, 2022)
OUT = Path(__file__).resolve().parent.parent / "plugins/measures/frs_ks4_measures/data/ebacc_quals.csv"
SOURCE = ('DfE "Qualifications counting in the English Baccalaureate" (Oct 2019), sheet {sheet} '
          '[copy: chrisateen/Progress8 "EBacc Quals.xlsx"]')


def science_subject(title: str, indicator: str) -> str:
    if indicator == "Double":
        return "combined"
    for word, subject in (("Biolog", "biology"), ("Chemi", "chemistry"), ("Physics", "physics"),
                          ("Comput", "computer_science")):
        if word in title:
            return subject
    return indicator.lower()  # core / additional (legacy, count in no year we analyse)


def humanity(title: str) -> str:
    return "geography" if "Geograph" in title else "history"


def main(path: str) -> None:
    wb = openpyxl.load_workbook(path, read_only=True)
    rows = []
    for sheet, pillar in SHEETS.items():
        data = list(wb[sheet].iter_rows(values_only=True))
        start = next(i for i, r in enumerate(data) if r[0] == "QN")
        header = data[start]
        for raw in data[start + 1:]:
            if raw[0] is None or not re.fullmatch(r"\d{7}[\dX]", str(raw[0])):
                continue
            rec = dict(zip(header, raw))
            title = rec["Qualification Title"]
            years = [str(y) for y in YEARS if rec.get(y) == "Y"]
            kind = ""
            if pillar == "science":
                kind = science_subject(title, rec.get("Indicator Type") or "")
            elif pillar == "humanities":
                kind = humanity(title)
            rows.append({"qn": str(raw[0]), "pillar": pillar, "subject": kind, "title": title,
                         "qualification_type": rec["Qualification Type"], "years": "|".join(years),
                         "source": SOURCE.format(sheet=sheet)})
    rows.sort(key=lambda r: (r["pillar"], r["qn"]))
    with OUT.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    print(f"{len(rows)} rows -> {OUT}")


if __name__ == "__main__":
    main(sys.argv[1])
