"""The template's own checks agree with the upload, as LibreOffice evaluates them.

Every built-in template (and the KS2 example plugin's) is generated, representative good and bad
values are typed into each kind of checked column, and for every value three verdicts are
compared: the cell's data-validation rule (the dropdown, or its formula), the red highlight
(conditional format) and ``frs validate``. LibreOffice does the evaluating: next to each value the
test writes two helper formulas, the validation rule and the highlight formula moved to that
cell, has ``soffice --headless`` recalculate the workbook into CSV, and reads the results back.
An Excel error (``#VALUE!``) in a validation rule counts as a refusal, as it does in LibreOffice.

LibreOffice is a Debian package: ``.ci/run`` installs it, so this test never skips.
"""

from __future__ import annotations

import csv
import io
import shutil
import subprocess
from dataclasses import dataclass
from typing import Any

import openpyxl
import pytest
from openpyxl.formula.translate import Translator
from openpyxl.utils import get_column_letter, range_boundaries

from frs.keystage import Choices
from frs.testing import make_kernel
from frs.testing.harness import KitContext

YEAR = 2021


@dataclass
class Case:
    """One row of the test sheet: ``values`` typed into columns (by column id); ``checked`` is
    the column whose verdicts are compared; ``good`` is what the upload must say."""

    checked: str
    values: dict[str, Any]
    good: bool
    row: int = 0


def result_cases(ctx: KitContext) -> list[Case]:
    """Good and bad values for one column of each kind of value set in the template."""
    cases = []
    seen = set()
    for column in ctx.result_columns:
        values = column.values
        kind = (type(values).__name__, values.describe())
        if values is None or kind in seen:
            continue
        seen.add(kind)
        good: list[Any] = list(values.examples())[:3] + [str(v).lower() for v in list(values.examples())[:2]]
        bad: list[Any] = ["Z", "A,B", "X", "#", "99999"]
        if isinstance(values, Choices):
            codes = list(values.values)
            good += [codes[-1], f"{codes[0]}#"]
            if values.dropdown() is None:  # a formula rule trims; a dropdown compares the cell as it is
                good.append(f" {codes[1]} ")
            bad += [f"{codes[0]}{codes[1]}" if len(codes) > 1 else "ZZ"]
            if "*" in codes:
                good.append("A*")
            if any(len(c) == 2 and c.isdigit() for c in codes):  # Combined Science
                good += ["6-5", "6 - 5", "6/5", "6 5", "65#"]
                bad += ["5-6", "6", "63", "6-5-4"]
        if column.plugin == "ks2" and "80 to 120" in values.describe():
            good += [80, 120, 105.0, "105", "a", "U", "q"]
            bad += [79, 121, 105.5, "105.5", "1e2", "0105", "EXS", "T"]
        cases += [Case(column.id, {column.id: v}, True) for v in good if values.normalise(v) is not None]
        cases += [Case(column.id, {column.id: v}, False) for v in bad if values.normalise(v) is None]
    return cases


def pupil_cases(ctx: KitContext) -> list[Case]:
    pupil = ctx.pupils[0]
    born = pupil.date_of_birth
    upn_bad_letter = ("B" if pupil.upn[0] != "B" else "C") + pupil.upn[1:]
    cases = [
        Case("upn", {"upn": pupil.upn}, True), Case("upn", {"upn": ctx.pupils[1].upn.lower()}, True),
        Case("upn", {"upn": "A123"}, False), Case("upn", {"upn": upn_bad_letter}, False),
        Case("gender", {"gender": "Female"}, True), Case("gender", {"gender": "male"}, True),
        Case("gender", {"gender": "Other"}, False),
    ]
    for checked in ("dob_day", "dob_month", "dob_year"):
        cases += [
            Case(checked, {"dob_day": born.day, "dob_month": born.month, "dob_year": born.year}, True),
            Case(checked, {"dob_day": 31, "dob_month": 2, "dob_year": born.year}, False),
            Case(checked, {"dob_day": born.day, "dob_month": born.month, "dob_year": born.year - 5}, False),
        ]
    return cases


def validation_formula(sheet, letter: str, row: int) -> str | None:
    """The data-validation rule of a cell as a formula for that cell (TRUE: accepted)."""
    cell = f"{letter}{row}"
    for dv in sheet.data_validations.dataValidation:
        for bounds in dv.sqref.ranges:
            min_col, min_row, max_col, max_row = range_boundaries(bounds.coord)
            if not (min_col <= openpyxl.utils.column_index_from_string(letter) <= max_col and min_row <= row <= max_row):
                continue
            if dv.type == "list":
                items = dv.formula1.strip('"').split(",")
                return "OR(" + ",".join(f'{cell}="{item}"' for item in items) + ")"
            origin = f"{get_column_letter(min_col)}{min_row}"
            return Translator("=" + dv.formula1, origin=origin).translate_formula(cell).lstrip("=")
    return None


def highlight_formula(sheet, letter: str, row: int) -> str | None:
    """The red-highlight formula of a cell, moved to that cell (TRUE: shown red)."""
    col = openpyxl.utils.column_index_from_string(letter)
    for rng in sheet.conditional_formatting:
        ranges = list(rng.sqref.ranges)
        if any(range_boundaries(r.coord)[0] <= col <= range_boundaries(r.coord)[2]
               and range_boundaries(r.coord)[1] <= row <= range_boundaries(r.coord)[3] for r in ranges):
            min_col, min_row, _, _ = range_boundaries(ranges[0].coord)
            origin = f"{get_column_letter(min_col)}{min_row}"
            formula = rng.rules[0].formula[0]
            return Translator("=" + formula, origin=origin).translate_formula(f"{letter}{row}").lstrip("=")
    return None


def fill(ctx: KitContext, cases: list[Case], helpers: bool) -> bytes:
    book = openpyxl.load_workbook(io.BytesIO(ctx.template(pupils=[])))
    sheet = book[ctx.sheet_name]
    width = len(ctx.columns)
    for n, case in enumerate(cases):
        case.row = ctx.row(n)
        for column_id, value in case.values.items():
            sheet[ctx.cell(column_id, n)] = value
        if helpers:
            letter = ctx.letter(case.checked)
            rule = validation_formula(sheet, letter, case.row)
            shown = highlight_formula(sheet, letter, case.row)
            sheet.cell(case.row, width + 2).value = f"={rule}" if rule else "no rule"
            sheet.cell(case.row, width + 3).value = f"={shown}" if shown else "no highlight"
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


KEYSTAGES = [("ks4_gcse", "ks4_gcse"), ("ks4_nongcse", "ks4_nongcse"), ("ks5_alevel", "ks5_alevel"), ("ks2", "ks2")]


@pytest.fixture(scope="module")
def evaluated(tmp_path_factory):
    """{keystage: (ctx, cases, report, helper values per row)} with LibreOffice run once for all."""
    soffice = shutil.which("soffice") or shutil.which("libreoffice")
    assert soffice, "LibreOffice is not installed: .ci/run installs it (apt-get install libreoffice-calc)"
    folder = tmp_path_factory.mktemp("libreoffice")
    runs = {}
    for keystage, plugin in KEYSTAGES:
        ctx = KitContext(make_kernel([plugin], year=YEAR), make_kernel([plugin], year=YEAR).keystage(keystage))
        cases = pupil_cases(ctx) + result_cases(ctx)
        report = ctx.validate(fill(ctx, cases, helpers=False))
        (folder / f"{keystage}.xlsx").write_bytes(fill(ctx, cases, helpers=True))
        runs[keystage] = (ctx, cases, report)
    profile = folder / "profile"  # a private profile: no clash with a LibreOffice already running
    subprocess.run([soffice, f"-env:UserInstallation={profile.as_uri()}", "--headless", "--convert-to", "csv",
                    "--outdir", str(folder / "out"), *(str(folder / f"{k}.xlsx") for k, _ in KEYSTAGES)],
                   check=True, capture_output=True, timeout=120)
    result = {}
    for keystage, (ctx, cases, report) in runs.items():
        text = (folder / "out" / f"{keystage}.csv").read_text(encoding="utf-8", errors="replace")
        rows = list(csv.reader(io.StringIO(text)))
        width = len(ctx.columns)
        helper = {case.row: (rows[case.row - 1][width + 1], rows[case.row - 1][width + 2]) for case in cases}
        result[keystage] = (ctx, cases, report, helper)
    return result


@pytest.mark.parametrize("keystage", [k for k, _ in KEYSTAGES])
def test_dropdown_highlight_and_validator_agree(evaluated, keystage):
    ctx, cases, report, helper = evaluated[keystage]
    errors = {(i.row, i.column) for i in report.issues if i.is_error}
    dob = ("dob_day", "dob_month", "dob_year")
    problems = []
    for case in cases:
        letter = ctx.letter(case.checked)
        if case.checked in dob:  # the date is one check over three cells
            refused = any((case.row, ctx.letter(c)) in errors for c in dob)
        else:
            refused = (case.row, letter) in errors
        rule, shown = helper[case.row]
        value = case.values[case.checked]
        verdicts = {
            "frs validate": not refused,
            "validation rule": rule == "TRUE" if rule != "no rule" else None,
            "red highlight": shown != "TRUE" if shown != "no highlight" else None,
        }
        if verdicts["frs validate"] != case.good:
            problems.append(f"{case.checked} {value!r}: frs validate says {'valid' if not refused else 'invalid'}, "
                            f"expected {'valid' if case.good else 'invalid'}")
        for name in ("validation rule", "red highlight"):
            if verdicts[name] is not None and verdicts[name] != verdicts["frs validate"]:
                problems.append(f"{case.checked} {value!r} ({letter}{case.row}): {name} gives "
                                f"{rule if name == 'validation rule' else shown}, frs validate "
                                f"{'accepts' if not refused else 'refuses'} it")
    assert not problems, "\n".join(problems)
    assert {"upn", "gender", "dob_day"} <= {c.checked for c in cases}


def test_every_result_column_tested_has_a_rule_and_a_highlight(evaluated):
    for keystage, (ctx, cases, _, helper) in evaluated.items():
        results = {c.id for c in ctx.result_columns}
        tested = [case for case in cases if case.checked in results]
        assert tested, keystage
        for case in tested:
            rule, shown = helper[case.row]
            assert rule != "no rule" and shown != "no highlight", (keystage, case.checked)
