"""KS4 non-GCSE results: one column per qualification of the DfE KS4 list that is not a GCSE.

Technical awards (BTEC, Cambridge Nationals, NCFE, WJEC, City & Guilds ...), AS levels taken
early, FSMQs and graded music exams. The catalogue (``data/ks4_nongcse.csv``) is built by
``scripts/build_catalogues.py``. Valid results are the DfE grade codes of the qualification's
type (``*2`` = Level 2 Distinction*, ``P1`` = Level 1 Pass ...) plus U for a fail; what
teachers type instead (L2D*, "Distinction*", "Level 1 Pass") gets a hint with the code.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

from frs.catalogue import no_result_advice, parse_points, read_rows, split_list
from frs.keystage import Choices, Column, HeaderRow, KeyStage, KeyStagePlugin

PLUGIN = "ks4_nongcse"

KEYSTAGE = KeyStage(
    id=PLUGIN, code="KS4GN", key_stage=4, nc_year=11, title="KS4 non-GCSE", layout_version=2,
    header_rows=(HeaderRow("discount_code", "Discount Code"), HeaderRow("subject", "Subject"),
                 HeaderRow("qualification", "Qualification"), HeaderRow("qan", "QAN"),
                 HeaderRow("valid_results", "Valid Results")),
    filename_pattern="{year}_KS4_FRS-KS4GN_{dfe}.xlsx",
    description="Non-GCSE KS4 results for Year 11 (technical awards, AS levels, FSMQ, graded music). "
                "One column per qualification; enter the DfE grade code; blank means no entry.",
)

FAIL_HINTS = {"FAIL": "U"}
#: what boards print after a grade without changing it: the partial-absence mark (A#)
GRADE_MARKS = "#"

# spelled-out grade words and their short forms, longest first so "DISTINCTION*" wins over
# "DISTINCTION"; typed text and code labels are reduced to the same short form
WORDS = [("DISTINCTIONSTAR", "D*"), ("STARREDDISTINCTION", "D*"), ("DISTINCTION*", "D*"), ("DIST*", "D*"),
         ("DISTINCTION", "D"), ("DIST", "D"), ("MERIT", "M"), ("PASS", "P"),
         ("ADVANCEDCREDIT", "AC"), ("CREDIT", "C")]


def short_form(text: str) -> str:
    """"Level 2 Distinction*", "L2 Dist*", "l2d*", "D*2" -> "L2D*"; "Grade A" -> "A"."""
    key = re.sub(r"[\s\-_.]", "", text.upper())
    key = re.sub(r"^GRADE\d*(?=[A-Z*])", "", key)  # "Grade 8 Distinction", "Grade A"
    key = key.replace("LEVEL", "L")
    for word, short in WORDS:
        key = key.replace(word, short)
    key = re.sub(r"^(D\*|AC|[A-Z])L?(\d)$", r"L\2\1", key)  # D*2, D2 written the other way round
    return re.sub(r"^(\d)(D\*|AC|[A-Z])$", r"L\1\2", key)    # 2D*


class GradeCodes(Choices):
    """The DfE grade codes of one qualification, with hints for the ways teachers write them."""

    def __init__(self, values: list[str], labels: dict[str, str]):
        by_form: dict[str, str] = {}
        by_word: dict[str, list[str]] = {}
        for code in values:
            form = short_form(labels.get(code, code))
            by_form.setdefault(form, code)
            by_form.setdefault(short_form(code), code)
            by_word.setdefault(re.sub(r"^L\d", "", form), []).append(code)
        # "Distinction*" alone is clear when the qualification has one; "Pass" may not be
        for word, codes in by_word.items():
            if len(codes) == 1:
                by_form.setdefault(word, codes[0])
        self.by_form = {k: v for k, v in by_form.items() if k.upper() != v.upper()}
        self.ambiguous = {word: codes for word, codes in by_word.items() if len(codes) > 1}
        # the hints shown in the template are the level forms (L2D*, L1P); the rest are worked out
        shown = {k: v for k, v in self.by_form.items() if re.fullmatch(r"L\d.+", k)}
        advice = no_result_advice()
        # DfE data writes A* as "*"; where "*" is an A* (NCFE CACHE Level 2, some VRQs) the
        # board prints A*, so A* is accepted and stored as "*"
        aliases = {"A*": "*"} if labels.get("*", "").endswith("A*") else {}
        if "A" in values and "A*" not in values and not aliases:
            advice["A*"] = "this qualification has no A*: A is its highest grade."
        shown = {k: v for k, v in shown.items() if k not in aliases}
        super().__init__(values, hints={**shown, **FAIL_HINTS}, labels=labels, advice=advice, aliases=aliases,
                         marks=GRADE_MARKS)

    def hint(self, text: str) -> str | None:
        form = short_form(text)
        # "Grade A" reduces to the code itself
        return super().hint(text) or self.by_form.get(form) or self.normalise(form)

    def advice(self, text: str) -> str | None:
        found = super().advice(text)
        if found:
            return found
        codes = self.ambiguous.get(short_form(text))
        if codes:
            choices = " or ".join(f"{c} ({self.labels.get(c, c)})" for c in codes)
            return f"this grade exists at more than one level here: enter {choices}, for the level achieved."
        return None


@lru_cache(maxsize=None)
def grade_codes(results: tuple[str, ...], labels: tuple[str, ...]) -> GradeCodes:
    """One value set per grade scale: 291 qualifications share about 15 scales, and building the
    hint tables once per scale keeps kernel start-up fast."""
    return GradeCodes(list(results), dict(zip(results, labels)))


def column_id(row: dict[str, str]) -> str:
    # several syllabuses can share a QN (Art and Design endorsements): the syllabus tells them apart
    return f"{PLUGIN}.{row['qn']}" + (f"-{row['syllabus_ref']}" if row["syllabus_ref"] else "")


def help_text(row: dict[str, str], values: GradeCodes) -> str:
    codes = ", ".join(f"{c} = {values.labels[c]}" for c in values.values)
    return (f"{row['qualification']} (QAN {row['qn_formatted']}"
            + (f", syllabus {row['syllabus_ref']}" if row["syllabus_ref"] else "")
            + f", KS4 discount code {row['ks4_discount_code']}). Enter the DfE grade code: {codes}. "
            "Leave blank when there is no result.")


def qualification_column(row: dict[str, str]) -> Column:
    results = split_list(row["results"])
    values = grade_codes(tuple(results), tuple(split_list(row["labels"])))
    meta: dict[str, Any] = {
        "ks4_discount_code": row["ks4_discount_code"], "qn": row["qn"], "qn_formatted": row["qn_formatted"],
        "syllabus_ref": row["syllabus_ref"], "awarding_body": row["awarding_body"], "kind": row["kind"],
        "size": float(row["size"]) if row["size"] else None,
        "points": parse_points(row["points"]), "points_confidence": row["points_confidence"],
    }
    return Column(
        id=column_id(row), header=row["header"], values=values,
        header_values={"discount_code": row["ks4_discount_code"], "subject": row["subject"],
                       "qualification": row["qualification"], "qan": row["qn"],
                       "valid_results": values.describe()},
        help=help_text(row, values),
        width=max(10.0, min(24.0, len(row["header"]) * 0.5)),
        meta=meta,
    )


def qualification_columns() -> list[Column]:
    return [qualification_column(row) for row in read_rows(__name__, "data/ks4_nongcse.csv")]


plugin = KeyStagePlugin(KEYSTAGE, columns=qualification_columns)
