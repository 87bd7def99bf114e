"""Made-up cohorts and filled templates for the demo, the benchmark, tests and the conformance kit.

Everything is deterministic for a given seed, and nothing here is real pupil data.
"""

from __future__ import annotations

import datetime as dt
import io
import random
from typing import Any, Callable

from . import upn as upn_mod
from .connectors import Pupil, PupilSource, School
from .core import cohort_range

FORENAMES = ["Amelia", "Noah", "Olivia", "Muhammad", "Isla", "George", "Ava", "Leo", "Freya", "Arthur", "Zoë",
             "Oscar", "Aisha", "Harry", "Sienna", "Jack", "Maryam", "Theo", "Grace", "Kacper"]
SURNAMES = ["Smith", "Jones", "Taylor", "Brown", "Williams", "Wilson", "Johnson", "Davies", "Patel", "O'Brien",
            "Robinson", "Wright", "Thompson", "Evans", "Walker", "Khan", "Nowak", "Hughes", "Edwards", "Green-Ali"]


def demo_pupils(school: School, nc_year: int, year: int, count: int, seed: int = 1) -> list[Pupil]:
    """``count`` pupils with valid, unique UPNs and birth dates inside the cohort of ``year``."""
    rng = random.Random(f"{school.dfe}-{nc_year}-{year}-{seed}")
    first, last = cohort_range(year, nc_year)
    span = (last - first).days
    # pupils keep the UPN of the LA that allocated it; made-up schools (LA 123) borrow a real LA
    la = school.la_code if school.la_code in upn_mod.la_codes() else "801"
    pupils = []
    for n in range(count):
        born = first + dt.timedelta(days=rng.randrange(span + 1))
        upn = upn_mod.make(la, school.establishment_number, (year - nc_year + 1) % 100, n % 1000)
        if n >= 1000:  # keep UPNs unique for very large demo cohorts
            upn = upn_mod.make(la, f"{(int(school.establishment_number) + n // 1000) % 10000:04d}",
                               (year - nc_year + 1) % 100, n % 1000)
        pupils.append(Pupil(upn=upn, forename=rng.choice(FORENAMES), surname=rng.choice(SURNAMES),
                            date_of_birth=born, gender=rng.choice(["Female", "Male"]), nc_year=nc_year))
    return pupils


class DemoSource(PupilSource):
    """A pupil source that makes up a cohort (for demos and benchmarks, never for real schools)."""

    name = "demo"
    description = "Made-up pupils for demonstrations."

    def __init__(self, year: int, count: int = 30, seed: int = 1):
        super().__init__({})
        self.year, self.count, self.seed = year, count, seed

    def fetch_cohort(self, school: School, nc_year: int) -> list[Pupil]:
        return demo_pupils(school, nc_year, self.year, self.count, self.seed)


def fill_results(data: bytes, kernel, keystage, per_pupil: int = 4, seed: int = 1,
                 edit: Callable[[Any], None] | None = None) -> bytes:
    """Type results into a template the way a school would (openpyxl, then save).

    Each pupil gets ``per_pupil`` results in columns taken in turn, so every result column
    gets some. ``edit(worksheet)`` may then change cells, e.g. to plant mistakes.
    """
    import openpyxl

    rng = random.Random(seed)
    book = openpyxl.load_workbook(io.BytesIO(data))
    sheet = book[keystage.sheet_name]
    columns = kernel.columns(keystage)
    results = [(i, c) for i, c in enumerate(columns) if c.kind == "result" and c.values is not None]
    row = keystage.first_pupil_row
    turn = 0
    while sheet.cell(row=row, column=5).value:  # column E holds the UPN
        for _ in range(min(per_pupil, len(results))):
            i, column = results[turn % len(results)]
            turn += 1
            value = rng.choice(column.values.examples())
            if isinstance(value, str) and value.isdigit():
                value = int(value)  # Excel stores a typed 9 as a number
            sheet.cell(row=row, column=i + 1).value = value
        row += 1
    if edit is not None:
        edit(sheet)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


CENSUS_HEADER = ("LEA,Estab,UPN,Surname,Forename,Middlenames,Sex,DOB,NCyearActual,EnrolStatus,FSMeligible,"
                 "Language,SENProvision")


def census_extract(dfe: str, pupils) -> str:
    """A DfE-style census extract (CSV, dates day/month/year) of made-up pupils of one school;
    ``pupils`` are :class:`frs.testing.fake_partners.KitPupil`."""
    lines = [CENSUS_HEADER]
    for p in pupils:
        y, m, d = p.date_of_birth.split("-")
        lines.append(f"{dfe[:3]},{dfe[3:]},{p.upn},{p.surname},{p.forename},,{p.gender},{d}/{m}/{y},"
                     f"{p.nc_year},C,0,ENG,N")
    return "\n".join(lines) + "\n"


def write_demo_census(config, dfe: str, exam_year: int, count: int):
    """Put a census extract of ``count`` Year 11 and ``count`` Year 13 pupils for school ``dfe``
    into the census source's folder, so templates from the portal come pre-filled. Returns its
    path, or None when the census source is not configured. An existing extract is kept."""
    from .connectors import SourceContext
    from .testing.fake_partners import kit_pupils

    settings = config.plugin_settings.get("census")
    if settings is None or (config.enabled is not None and "census" not in config.enabled):
        return None
    folder = SourceContext(config=config).resolve(settings.get("folder", "instance/census"))
    path = folder / f"census_{dfe}.csv"
    if not path.exists():
        pupils = (kit_pupils(dfe, count, nc_year=11, exam_year=exam_year, first_serial=200)
                  + kit_pupils(dfe, count, nc_year=13, exam_year=exam_year, first_serial=600))
        folder.mkdir(parents=True, exist_ok=True)
        path.write_text(census_extract(dfe, pupils), encoding="utf-8")
    return path
