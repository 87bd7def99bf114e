"""KS2 (end of primary, NC year 6): test scaled scores and writing teacher assessment.

A worked third-party key-stage plugin for frs. It lives outside the ``frs`` package, installs
with pip, is found through the ``frs`` entry point ``ks2`` and uses only the public plugin API
(:mod:`frs.keystage`, :mod:`frs.issues`, :data:`frs.hookimpl`). It stretches the kernel beyond
dropdown grade lists: the three test columns take a scaled score from 80 to 120 *or* a test
outcome code, so they use a custom :class:`ScaledScore` value set instead of a list.

Columns (after the kernel's pupil columns):

- Reading, Grammar, punctuation and spelling (GPS) and Mathematics: a scaled score 80-120
  (100 is the expected standard), or one of the test outcome codes in :data:`TEST_CODES`;
- Writing: the teacher-assessment code in :data:`WRITING_CODES`.

The codes are the Standards and Testing Agency's (STA) result codes for the KS2 tests and the
writing teacher assessment (KS2 assessment and reporting arrangements and teacher assessment
guidance, 2023 onwards: pre-key stage standards 1-6 and the engagement model replace BLW; "U",
unable to access the test, replaces the earlier "T"). This is an example: check them against the
current arrangements before real use.
"""

from __future__ import annotations

import math
import re
from typing import Any, Iterator

from frs import hookimpl
from frs.issues import WARNING, Issue
from frs.measures import MEAN, PERCENT, RATIO, Indicator, Measure
from frs.keystage import (Choices, Column, HeaderRow, KeyStage, KeyStagePlugin, ResultsRule, Rule, Table,
                          ValueSet, cell_text)

PLUGIN = "ks2"  # the entry-point name: rule codes start with "ks2."

KEYSTAGE = KeyStage(
    id=PLUGIN, code="KS2", key_stage=2, nc_year=6, title="KS2 tests and writing",
    header_rows=(HeaderRow("assessment", "Assessment"), HeaderRow("valid_results", "Valid Results")),
    filename_pattern="{year}_KS2_FRS-KS2_{dfe}.xlsx",
    description="End of key stage 2 results for Year 6: the reading, grammar-punctuation-spelling and "
                "mathematics test results (scaled score 80 to 120, or a test code) and the writing "
                "teacher assessment. Blank means no result has been returned yet.",
)

LOWEST, HIGHEST = 80, 120

#: STA test result codes, for a pupil with no scaled score
TEST_CODES = {
    "A": "absent from the test",
    "B": "working below the overall standard of the test (not entered)",
    "F": "will take the test in a future year",
    "H": "result annulled: pupil cheating",
    "J": "just arrived: unable to access the test after recently arriving in England",
    "L": "left the school before the test",
    "M": "missing: the test result has not been returned",
    "N": "took the test but did not score enough marks for a scaled score",
    "P": "took the test in a previous year",
    "Q": "result annulled: maladministration",
    "U": "unable to access the test although working at its standard",
}

#: STA writing teacher-assessment codes
WRITING_CODES = {
    "GDS": "working at greater depth within the expected standard",
    "EXS": "working at the expected standard",
    "WTS": "working towards the expected standard",
    "PK6": "pre-key stage standard 6",
    "PK5": "pre-key stage standard 5",
    "PK4": "pre-key stage standard 4",
    "PK3": "pre-key stage standard 3",
    "PK2": "pre-key stage standard 2",
    "PK1": "pre-key stage standard 1",
    "EM": "assessed against the engagement model (not yet engaged in subject-specific study)",
    "A": "absent for long periods or recently arrived: not enough information to assess",
    "L": "left the school before the assessment was made",
    "F": "will complete key stage 2 in a future year",
    "P": "completed key stage 2 in a previous year",
}

# words schools type for a code, and codes of earlier years
TEST_HINTS = {"ABS": "A", "ABSENT": "A", "MISSING": "M", "BELOW": "B", "BLW": "B", "LEFT": "L",
              "T": "U", "UNABLE": "U", "CHEATING": "H", "MALADMINISTRATION": "Q"}
WRITING_HINTS = {"GD": "GDS", "GREATER DEPTH": "GDS", "EX": "EXS", "EXPECTED": "EXS", "WT": "WTS",
                 "WORKING TOWARDS": "WTS", "ABS": "A", "ABSENT": "A", "BLW": "EM", "ENGAGEMENT MODEL": "EM",
                 "LEFT": "L"}

_WHOLE = re.compile(r"^\d+$")
_NUMBER = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)$")


def _code_list(codes) -> str:
    return "," + ",".join(codes) + ","


class ScaledScore(ValueSet):
    """A KS2 test result: a whole-number scaled score from 80 to 120, or a test outcome code.

    Accepts the score as a number (Excel stores a typed 105 as 105.0) or as text ("105", as in a
    text-formatted cell; digits only, no leading zero, as Excel's TEXT(VALUE(...),"0") gives it
    back, so the sheet's formulas and the upload agree); codes are matched case-insensitively. There is no dropdown (41 scores
    and 7 codes would make a poor list): the template gets a custom Excel validation and a red
    highlight formula instead.
    """

    def __init__(self, codes: dict[str, str] = TEST_CODES, hints: dict[str, str] | None = None):
        self.codes = dict(codes)
        self.hints = {k.upper(): v for k, v in (hints or {}).items()}
        #: what each code means, for the guidance sheet
        self.labels = {f"{LOWEST}-{HIGHEST}": "scaled score (100 is the expected standard)", **self.codes}
        # values that are certainly valid, so the results rule can screen a clean column in one step
        self.fast = frozenset([None, "", *self.codes, *range(LOWEST, HIGHEST + 1),
                               *(float(n) for n in range(LOWEST, HIGHEST + 1)),
                               *(str(n) for n in range(LOWEST, HIGHEST + 1))])

    def describe(self) -> str:
        return f"{LOWEST} to {HIGHEST}, " + ", ".join(self.codes)

    def normalise(self, value: Any) -> str | None:
        if isinstance(value, bool):
            return None
        text = cell_text(value).upper()
        if text in self.codes:
            return text
        if _WHOLE.match(text) and str(int(text)) == text and LOWEST <= int(text) <= HIGHEST:
            return text
        return None

    def hint(self, text: str) -> str | None:
        return self.hints.get(text.strip().upper())

    def advice(self, text: str) -> str | None:
        text = text.strip().upper()
        if _NUMBER.match(text):
            number = float(text)
            if number != math.floor(number):
                return f"scaled scores are whole numbers from {LOWEST} to {HIGHEST}: enter the score as reported."
            return (f"scaled scores run from {LOWEST} to {HIGHEST}. Enter the scaled score, not the raw mark; "
                    "for a pupil who took the test without a scaled score enter N, below the standard "
                    "of the test B.")
        if text in WRITING_CODES:
            return (f"{text} is a writing teacher-assessment code; the test columns take a scaled score from "
                    f"{LOWEST} to {HIGHEST} or a test code ({', '.join(self.codes)}).")
        return None

    def examples(self) -> list[Any]:
        return [LOWEST, 94, 100, 108, HIGHEST, "104", "A", "b"]

    def _valid_formula(self, cell: str) -> str:
        # One formula for number and text cells: TRIM turns a number into its text, and a whole
        # score reads back the same through TEXT(VALUE(..),"0"), which 105.5, "1e2" and "0105" do
        # not. IFERROR, not AND, guards VALUE: AND evaluates every argument, so a code such as "A"
        # would make the whole rule #VALUE! and the sheet would refuse it.
        text = f"TRIM({cell})"
        score = (f'IFERROR(AND({text}=TEXT(VALUE({text}),"0"),VALUE({text})>={LOWEST},'
                 f'VALUE({text})<={HIGHEST}),FALSE)')
        code = (f'AND(ISERROR(FIND(",",{text})),'
                f'ISNUMBER(FIND(","&UPPER({text})&",","{_code_list(self.codes)}")))')
        return f"OR({score},{code})"

    def excel_validation(self, cell: str) -> dict[str, Any]:
        return {"validate": "custom", "value": f"=OR(LEN(TRIM({cell}))=0,{self._valid_formula(cell)})",
                "ignore_blank": True,
                "error_message": f"Enter a scaled score from {LOWEST} to {HIGHEST} (whole number) or a test "
                                 f"code: {', '.join(self.codes)}."}

    def excel_invalid_formula(self, cell: str, valid_cell: str) -> str:
        return f"AND(LEN(TRIM({cell}))>0,NOT({self._valid_formula(cell)}))"


class WritingAssessment(Choices):
    """Writing teacher-assessment codes; a number typed here is most likely a misplaced test score."""

    def advice(self, text: str) -> str | None:
        if _NUMBER.match(text.strip()):
            return ("writing is teacher assessed, not tested: enter a code (" + ", ".join(self.values)
                    + "), not a score.")
        return super().advice(text)


SCALED_SCORE = ScaledScore(hints=TEST_HINTS)
WRITING = WritingAssessment(list(WRITING_CODES), hints=WRITING_HINTS, labels=WRITING_CODES)

TESTS = (("reading", "Reading"), ("gps", "Grammar, punctuation and spelling"), ("maths", "Mathematics"))


def columns() -> list[Column]:
    result = [
        Column(id=f"{PLUGIN}.{key}", header=header, values=SCALED_SCORE, width=14,
               header_values={"assessment": "Test", "valid_results": SCALED_SCORE.describe()},
               help=f"KS2 {header.lower()} test: the scaled score ({LOWEST}-{HIGHEST}) from the results, "
                    "or a test code when there is no score.")
        for key, header in TESTS
    ]
    result.append(Column(
        id=f"{PLUGIN}.writing", header="Writing", values=WRITING, width=12,
        header_values={"assessment": "Teacher assessment", "valid_results": WRITING.describe()},
        help="KS2 writing teacher assessment: GDS, EXS or WTS, a pre-key stage standard (PK1-PK6), EM for "
             "the engagement model, or A, L, F, P."))
    return result


class TestsMissingRule(Rule):
    """A cross-column check: writing has been assessed but no test result is in."""

    code = f"{PLUGIN}.tests-missing"
    severity = WARNING
    description = ("A pupil with a writing assessment has a result or code for each test; three blank "
                   "tests usually mean a row was not finished.")

    def check(self, table: Table) -> Iterator[Issue]:
        tests = [table.column_values(f"{PLUGIN}.{key}") for key, _ in TESTS]
        writing = table.column_values(f"{PLUGIN}.writing")
        for row, assessed in enumerate(writing):
            if cell_text(assessed) and not any(cell_text(column[row]) for column in tests):
                yield self.issue(
                    table, row, f"{PLUGIN}.reading",
                    "This pupil has a writing assessment but no reading, grammar-punctuation-spelling or "
                    "mathematics result. Enter each test's scaled score, or its code (A absent, B working "
                    "below the standard of the test, M missing ...).")


def rules() -> list[Rule]:
    return [ResultsRule(f"{PLUGIN}.invalid-result"), TestsMissingRule()]


# --------------------------------------------------------------------------- a measure

EXPECTED_SCORE = 100
HIGH_SCORE = 110
WRITING_EXPECTED = ("EXS", "GDS")


class ExpectedStandard(Measure):
    """KS2 headline measures from the collected results: reading, writing and maths at the
    expected standard (scaled score 100+ in reading and maths, EXS or GDS in writing), the high
    standard, and the average scaled scores of pupils with a score. A measure plugin as any third
    party writes one: it reads only the collected results (frs.results) through the frs.measures
    building blocks."""

    id = f"{PLUGIN}.expected_standard"
    key_stage = 2
    title = "KS2 reading, writing and maths"
    version = "1"
    indicators = (
        Indicator("pupils", "Pupils at the end of KS2", "count", decimals=0, headline=True),
        Indicator("rwm_expected", "Reading, writing and maths at the expected standard (%)", PERCENT,
                  "rwm_expected", headline=True),
        Indicator("rwm_high", "Reading, writing and maths at the higher standard (%)", PERCENT, "rwm_high",
                  headline=True),
        Indicator("reading_average", "Average reading scaled score", RATIO, "reading_score",
                  denominator="reading_scored", headline=True),
        Indicator("maths_average", "Average maths scaled score", RATIO, "maths_score", denominator="maths_scored",
                  headline=True),
        Indicator("writing_expected", "Writing at the expected standard (%)", MEAN, "writing_at_expected"),
    )

    def pupil(self, pupil, context):
        by_column = {r.column_id: r.grade for r in pupil.results}
        scores = {}
        for key in ("reading", "maths"):
            grade = by_column.get(f"{PLUGIN}.{key}", "")
            scores[key] = int(grade) if grade.isdigit() else None
        writing = by_column.get(f"{PLUGIN}.writing")
        expected = all(s is not None and s >= EXPECTED_SCORE for s in scores.values()) and writing in WRITING_EXPECTED
        high = all(s is not None and s >= HIGH_SCORE for s in scores.values()) and writing == "GDS"
        return {
            "rwm_expected": expected, "rwm_high": high,
            "reading_score": scores["reading"] or 0, "reading_scored": int(scores["reading"] is not None),
            "maths_score": scores["maths"] or 0, "maths_scored": int(scores["maths"] is not None),
            "writing_at_expected": 100.0 if writing in WRITING_EXPECTED else 0.0,
        }


class KS2Plugin(KeyStagePlugin):
    """The key stage's columns and rules (from KeyStagePlugin) plus its measures."""

    @hookimpl
    def register_measures(self, registry, key_stage):
        if key_stage == 2:
            registry.add(ExpectedStandard())


plugin = KS2Plugin(KEYSTAGE, columns=columns, rules=rules)
