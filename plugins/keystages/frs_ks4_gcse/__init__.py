"""KS4 GCSE (9-1) results: one column per GCSE subject of the DfE KS4 list.

The catalogue (``data/ks4_gcse.csv``) is built from the DfE 2020 list by
``scripts/build_catalogues.py``: the boards' versions of a subject share one column, keyed by
(KS4 discount code, 4-digit subject code); docs/catalogues.md explains the grouping.
Valid results are 9 (highest) to 1 and U; Combined Science (double award) takes the DfE
two-digit codes 99, 98, 88 ... 11 and U, and 6-5, 6/5 and 6 5 are accepted as 65.
"""

from __future__ import annotations

import re
from typing import Any

from frs.catalogue import no_result_advice, parse_points, read_rows, split_list
from frs.keystage import Choices, Column, HeaderRow, KeyStage, KeyStagePlugin

PLUGIN = "ks4_gcse"

KEYSTAGE = KeyStage(
    id=PLUGIN, code="KS4G", key_stage=4, nc_year=11, title="KS4 GCSE",
    header_rows=(HeaderRow("discount_code", "Discount Code"), HeaderRow("subject_code", "Subject Code"),
                 HeaderRow("valid_results", "Valid Results")),
    filename_pattern="{year}_KS4_FRS-KS4G_{dfe}.xlsx",
    description="GCSE (9-1) results for Year 11. One column per subject (all exam boards share it); "
                "blank means no entry.",
)

FAIL_HINTS = {"FAIL": "U", "UNGRADED": "U", "UNCLASSIFIED": "U"}
LEGACY_GRADES = ("A*", "A+", "A", "B", "C", "D", "E", "F", "G")
LEGACY_ADVICE = ("this GCSE is graded 9 (highest) to 1, or U. Enter the number grade from the results; "
                 "letter grades belong to the old A*-G scale.")
DOUBLE_LEGACY_ADVICE = ("Combined Science is graded with two digits from 99 (9-9) to 11 (1-1), or U. Enter the "
                        "number grades from the results; letter grades belong to the old A*-G scale.")
# what Excel makes of "6-5" or "6/5" typed into a cell not formatted as text: a day-month date
DATE_TEXT = re.compile(r"(\d{4})-(\d{2})-(\d{2})(?: 00:00:00)?")
PAIR_SEPARATORS = ("-", "/", " ", "\u2013")  # hyphen, slash, space, en dash (Word's autocorrect)
#: what boards print after a grade without changing it: the partial-absence mark (5#)
GRADE_MARKS = "#"


class DoubleAwardGrades(Choices):
    """Combined Science grades: two digits, higher first ("65" is 6-5), equal or adjacent.

    The forms schools type for a pair (6-5, 6/5, 6 5, 6 - 5) are accepted and stored as the DfE
    code (65): the separators are dropped before the code is looked up, here and in the sheet's
    formulas alike. A reversed pair (5-6, 56) gets a hint, and so does a date Excel made out of 6-5.
    """

    def __init__(self, values: list[str]):
        pairs = [v for v in values if len(v) == 2 and v.isdigit()]
        # (typed() drops the separators; the aliases also document the forms accepted)
        aliases = {f"{v[0]}{sep}{v[1]}": v for v in pairs for sep in PAIR_SEPARATORS}
        labels = {v: f"Grade {v[0]}-{v[1]}" for v in pairs}
        labels.update({v: "Unclassified" for v in values if v == "U"})
        advice = dict.fromkeys(LEGACY_GRADES, DOUBLE_LEGACY_ADVICE)
        advice.update(no_result_advice())
        super().__init__(values, hints=FAIL_HINTS, aliases=aliases, labels=labels, advice=advice,
                         marks=GRADE_MARKS)
        self.pairs = frozenset(pairs)

    def typed(self, value: Any) -> str:
        text = super().typed(value)
        for sep in PAIR_SEPARATORS:
            text = text.replace(sep, "")
        return text

    def hint(self, text: str) -> str | None:
        found = super().hint(text)
        if found:
            return found
        digits = re.fullmatch(r"(\d)\s*[-/\u2013]?\s*(\d)", text.strip())
        if digits and digits[2] + digits[1] in self.pairs:  # reversed: 5-6 -> 65
            return digits[2] + digits[1]
        return None

    def advice(self, text: str) -> str | None:
        found = super().advice(text)
        if found:
            return found
        date = DATE_TEXT.fullmatch(text.strip())
        if date:
            day, month = int(date[3]), int(date[2])
            code = next((c for c in (f"{day}{month}", f"{month}{day}") if c in self.pairs), None)
            typed = f"{day}-{month}"
            if code:
                return (f'Excel has turned what was typed (probably {typed}) into a date. Type {code} (two digits, '
                        f'no dash) in a cell formatted as Text.')
            return ("Excel has turned what was typed into a date. Type the grade as two digits, e.g. 65 for 6-5, "
                    "in a cell formatted as Text.")
        if re.fullmatch(r"\d", text.strip()):
            return (f"Combined Science is a double award with two grades: enter both as two digits, e.g. "
                    f"{text.strip() * 2} for {text.strip()}-{text.strip()}.")
        if re.fullmatch(r"\d\s*[-/\u2013]?\s*\d", text.strip()):
            return ("Combined Science grades are two equal or adjacent grades, higher first "
                    "(99, 98, 88 ... 21, 11), or U.")
        return None

    def excel_typed(self, cell: str) -> str:
        # the separators are removed, as in typed(), so the sheet agrees with the upload: 6-5 is accepted
        typed = super().excel_typed(cell)
        for sep in PAIR_SEPARATORS:
            typed = f'SUBSTITUTE({typed},"{sep}","")'
        return typed

    def excel_invalid_formula(self, cell: str, valid_cell: str) -> str:
        return (f'AND(LEN(TRIM({cell}))>0,ISERROR(FIND(","&{self.excel_typed(cell)}&",",'
                f'","&SUBSTITUTE({valid_cell}," ","")&",")))')


def single_grades(values: list[str]) -> Choices:
    labels = {v: ("Unclassified" if v == "U" else f"Grade {v}") for v in values}
    advice = dict.fromkeys(LEGACY_GRADES, LEGACY_ADVICE)
    advice.update(no_result_advice())
    return Choices(values, hints=FAIL_HINTS, labels=labels, advice=advice, marks=GRADE_MARKS)


def qualifications(text: str) -> tuple[dict[str, str], ...]:
    """``"601/8088/2 AQA (8201)|..."`` -> the boards' qualifications grouped in a column."""
    out = []
    for entry in split_list(text):
        match = re.fullmatch(r"(\S+) (.+?)(?: \((.+)\))?", entry)
        qn_formatted, board, syllabus = match[1], match[2], match[3] or ""
        out.append({"qn": qn_formatted.replace("/", ""), "qn_formatted": qn_formatted,
                    "awarding_body": board, "syllabus_ref": syllabus})
    return tuple(out)


def tiered(text: str) -> bool | None:
    return {"yes": True, "no": False}.get(text)  # "unverified": not known


def help_text(row: dict[str, str], quals: tuple[dict[str, str], ...], double: bool) -> str:
    boards = ", ".join(dict.fromkeys(q["awarding_body"] for q in quals))
    about = (f"GCSE (9-1) {row['subject']}: KS4 discount code {row['ks4_discount_code']}, subject code "
             f"{row['subject_code']}; any board ({boards}).")
    if double:
        grades = ("Double award: enter both grades as two digits, higher first, e.g. 65 for 6-5 "
                  "(6-5, 6/5, 6 5 and 6 - 5 are accepted and stored as 65), or U.")
    else:
        grades = "Enter 9 (highest) to 1, or U."
    return f"{about} {grades} Leave blank when there is no result (not entered, absent or pending)."


def subject_column(row: dict[str, str]) -> Column:
    results = split_list(row["results"])
    double = row["double_award"] == "yes"
    values = DoubleAwardGrades(results) if double else single_grades(results)
    quals = qualifications(row["qualifications"])
    meta: dict[str, Any] = {
        "ks4_discount_code": row["ks4_discount_code"], "subject_code": row["subject_code"],
        "tiered": tiered(row["tiered"]), "double_award": double, "qualifications": quals,
        "points": parse_points(row["points"]),
    }
    return Column(
        id=f"{PLUGIN}.{row['ks4_discount_code']}-{row['subject_code']}", header=row["subject"], values=values,
        header_values={"discount_code": row["ks4_discount_code"], "subject_code": row["subject_code"],
                       "valid_results": values.describe()},
        help=help_text(row, quals, double),
        width=max(8.0, min(22.0, len(row["subject"]) * 0.9)),
        # text cells stop Excel turning 6-5 into the 6th of May
        text=double,
        meta=meta,
    )


def subject_columns() -> list[Column]:
    return [subject_column(row) for row in read_rows(__name__, "data/ks4_gcse.csv")]


plugin = KeyStagePlugin(KEYSTAGE, columns=subject_columns)
