"""A past round for the demo, uploaded, collected and analysed: several made-up schools send KS4
(GCSE, some also non-GCSE) and KS5 files inside their round, then the round is collected after it
closes and the analysis (run by the collection's hook) gives every school its reports.

Results differ from school to school (each school has its own level, each pupil their own), so
the comparisons against all schools show something. Nothing here is real pupil data.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import os
import random
from typing import Callable, Iterator

from .connectors import School
from .demo import DemoSource

#: the past rounds: years with published national figures packaged, so the reports compare to them
PAST_ROUNDS = {
    "ks4-demo-results": dict(key_stage=4, year=2020, opens="2020-08-18T00:00:00", closes="2020-09-04T17:00:00",
                             reports_due="2020-10-16", upload_at="2020-08-25T10:00", collect_at="2020-09-07T09:00"),
    "ks5-demo-results": dict(key_stage=5, year=2021, opens="2021-08-10T00:00:00", closes="2021-09-03T17:00:00",
                             reports_due="2021-10-15", upload_at="2021-08-20T10:00", collect_at="2021-09-06T09:00"),
}

#: (DfE number, name, level): level shifts every pupil's grades up or down; LA 123 is made up
SCHOOLS = [("1231234", "Demo Academy", 0.8), ("1234001", "Hillside Community School", 1.3),
           ("1234002", "Riverside Academy", -0.9), ("1234003", "St Anne's Church of England School", 0.6),
           ("1234004", "Northgate High School", -1.6), ("1234005", "Meadowbank College", 0.2)]
#: schools that also send a non-GCSE file (BTEC awards)
NONGCSE_SCHOOLS = {"1231234", "1234002", "1234004"}

GCSE_CORE = ["English Language", "English Literature", "Mathematics"]
GCSE_LANGUAGES = ["French", "Spanish", "German"]
GCSE_HUMANITIES = ["History", "Geography"]
GCSE_OPTIONS = ["Art and Design: Fine Art", "Drama", "Computer Science", "Religious Studies", "Music", "Business",
                "Physical Education", "Food Preparation and Nutrition"]
BTECS = ["BTEC L1/2 Tech Award Health and Social Care", "BTEC L1/2 Tech Award Digital Information Technology"]
BTEC_GRADES = ["*2", "D2", "M2", "P2", "D1", "M1", "P1"]  # best first
A_LEVELS = ["Mathematics", "Further Mathematics", "Physics", "Chemistry", "Biology", "English Literature",
            "History", "Psychology", "Economics", "Geography", "Sociology"]
A_LEVEL_GRADES = ["*", "A", "B", "C", "D", "E"]  # best first


def manager_of(dfe: str) -> str:
    return f"data.manager@{dfe}.demo.example"


def round_config(today_rounds: str = "") -> str:
    """The TOML of the past rounds (appended to the demo config)."""
    return "".join(f"\n[[rounds]]\nid = \"{rid}\"\nkey_stage = {r['key_stage']}\nyear = {r['year']}\n"
                   f"opens = {r['opens']}\ncloses = {r['closes']}\nreports_due = {r['reports_due']}\n"
                   for rid, r in PAST_ROUNDS.items())


@contextlib.contextmanager
def clock_at(when: str) -> Iterator[None]:
    """The service clock fixed at ``when`` (FRS_NOW) for this block, then as it was."""
    before = os.environ.get("FRS_NOW")
    os.environ["FRS_NOW"] = when
    try:
        yield
    finally:
        if before is None:
            os.environ.pop("FRS_NOW", None)
        else:
            os.environ["FRS_NOW"] = before


def _typed(sheet, kernel, keystage, rows: list[dict[str, object]]) -> None:
    where = {c.header: i + 1 for i, c in enumerate(kernel.columns(keystage)) if c.kind == "result"}
    for n, results in enumerate(rows):
        for header, value in results.items():
            if header in where:
                sheet.cell(keystage.first_pupil_row + n, where[header]).value = value


def _save(kernel, keystage, template: bytes, rows: list[dict[str, object]]) -> bytes:
    import openpyxl

    book = openpyxl.load_workbook(io.BytesIO(template))
    _typed(book[keystage.sheet_name], kernel, keystage, rows)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _gcse_grade(rng: random.Random, ability: float) -> int | str:
    value = round(ability + rng.gauss(0, 0.9))
    if value < 1:
        return "U" if rng.random() < 0.5 else 1
    return min(9, value)


def gcse_rows(rng: random.Random, pupils: int, level: float) -> tuple[list[dict], list[dict]]:
    """Made-up GCSE and non-GCSE results: a pupil's grades centre on their ability."""
    gcse, nongcse = [], []
    for n in range(pupils):
        ability = 4.7 + level + rng.gauss(0, 1.4)
        results: dict[str, object] = {s: _gcse_grade(rng, ability) for s in GCSE_CORE}
        if ability > 6 and rng.random() < 0.6:
            results.update({s: _gcse_grade(rng, ability) for s in ("Biology", "Chemistry", "Physics")})
        else:
            first = max(1, min(9, round(ability + rng.gauss(0, 0.7))))
            second = max(1, min(9, first - rng.choice([0, 0, 1]))) if first > 1 else 1
            results["Combined Science"] = first * 10 + second
        if rng.random() < 0.35 + 0.1 * level:
            results[rng.choice(GCSE_LANGUAGES)] = _gcse_grade(rng, ability - 0.3)
        results[rng.choice(GCSE_HUMANITIES)] = _gcse_grade(rng, ability)
        for subject in rng.sample(GCSE_OPTIONS, 2):
            results[subject] = _gcse_grade(rng, ability + 0.2)
        gcse.append(results)
        if n == 0 or rng.random() < 0.4:  # the first always, so a non-GCSE file is never empty
            index = max(0, min(len(BTEC_GRADES) - 1, round(3.5 - (ability - 4.5) + rng.gauss(0, 1))))
            nongcse.append({rng.choice(BTECS): BTEC_GRADES[index]})
        else:
            nongcse.append({})
    return gcse, nongcse


def a_level_rows(rng: random.Random, pupils: int, level: float) -> list[dict]:
    rows = []
    for _ in range(pupils):
        ability = 2.3 - level * 0.8 + rng.gauss(0, 1.2)  # index into A* .. E, lower is better
        results = {}
        for subject in rng.sample(A_LEVELS, 3):
            index = round(ability + rng.gauss(0, 0.8))
            results[subject] = "U" if index > 5 else A_LEVEL_GRADES[max(0, index)]
        rows.append(results)
    return rows


def already_collected(service) -> set[str]:
    from .services import collections

    return {c.round_id for c in collections.collections(service) if c.round_id in PAST_ROUNDS}


def play_past_rounds(kernel, service_for: Callable, pupils: int, echo: Callable[[str], None],
                     progress: Callable[[str], Callable[[int, int], None]]) -> list[str]:
    """Upload every demo school's files in the past rounds, then collect them (the analysis runs
    from the collection's hook). ``service_for(kernel)`` opens a service on the demo database.
    Rounds already collected are left alone, so running the demo again changes nothing here.
    Returns the ids of the rounds collected now."""
    from .analysis.hooks import analysis_options
    from .kernel import Kernel
    from .services import collections
    from .workbook.template import build_template, template_filename

    past = [r for r in kernel.config.rounds if r.id in PAST_ROUNDS]
    # only the past rounds, so an upload lands in the round open at the time set on the clock
    # (an upload goes to the latest round of its key stage, which today is the open demo round)
    past_kernel = Kernel(dataclasses.replace(kernel.config, rounds=past))
    service = service_for(past_kernel)
    done = []
    try:
        todo = [r for r in past if r.id not in already_collected(service)]
        for dfe, name, _ in SCHOOLS:
            service.add_school(dfe, name)
            service.add_user(manager_of(dfe), dfe, ["manage_data"])
        for rnd in todo:
            spec = PAST_ROUNDS[rnd.id]
            keystages = ["ks4_gcse", "ks4_nongcse"] if rnd.key_stage == 4 else ["ks5_alevel"]
            keystages = [k for k in keystages if k in past_kernel.keystages]
            with clock_at(spec["upload_at"]):
                for dfe, name, level in SCHOOLS:
                    rng = random.Random(f"{rnd.id}-{dfe}")
                    school = School(dfe, name)
                    if rnd.key_stage == 4:
                        gcse, nongcse = gcse_rows(rng, pupils, level)
                        rows = {"ks4_gcse": gcse, "ks4_nongcse": nongcse if dfe in NONGCSE_SCHOOLS else None}
                    else:
                        rows = {"ks5_alevel": a_level_rows(rng, pupils, level)}
                    for ks_id in keystages:
                        if rows.get(ks_id) is None:
                            continue
                        ks = past_kernel.keystage(ks_id)
                        cohort = DemoSource(rnd.year, pupils).fetch_cohort(school, ks.nc_year)
                        data = _save(past_kernel, ks, build_template(past_kernel, ks, school, rnd, cohort),
                                     rows[ks_id])
                        result = service.upload(manager_of(dfe), data, template_filename(ks, rnd, school),
                                                confirm=True, accept_terms=True)
                        if result.report.errors:  # made-up results must pass: a failure here is a bug
                            raise RuntimeError(f"demo file {ks_id} of {dfe} has errors: "
                                               + "; ".join(i.code for i in result.report.errors[:5]))
            echo(f"   {rnd.id}: {len(SCHOOLS)} schools uploaded and confirmed their files "
                 f"({rnd.describe_window()}); collecting and analysing ...")
            with clock_at(spec["collect_at"]), analysis_options(progress=progress(f"analysing {rnd.id}")):
                summary = collections.collect(service, rnd.id, progress=progress(f"collecting {rnd.id}"))
            echo(f"   {rnd.id}: collected {summary.schools} schools, {summary.pupils} pupils, "
                 f"{summary.results} results.")
            done.append(rnd.id)
    finally:
        service.engine.dispose()
    return done
