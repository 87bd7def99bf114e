"""The kernel's own contributions: the pupil columns every template starts with, their rules,
and the default choice of pupil source. Registered like any plugin, under the name ``frs``."""

from __future__ import annotations

import datetime as dt
import math
import re
from collections import Counter
from typing import Any, Iterator

from . import upn as upn_mod
from .config import Round
from .connectors import PupilSource, dfe_number
from .hookspecs import hookimpl
from .issues import WARNING, Issue
from .keystage import Choices, Column, KeyStage, Rule, Table, cell_text
from .text import ascii_digits, not_ascii_message

MAX_NAME = 100  # the DfE's limit for a pupil's forename and surname
# M and F are what MIS and census exports hold: accepted, and stored as Male and Female
GENDERS = Choices(["Female", "Male"], hints={"GIRL": "Female", "BOY": "Male"}, aliases={"F": "Female", "M": "Male"})
# letters (any script, with combining accents) with spaces, hyphens, apostrophes and full stops
# anywhere ('t Hooft, O'Brien, Smith-Jones), and at least one letter; no digits or symbols
_NAME_OK = re.compile(r"^[\u0300-\u036f '’‘.\-]*+[^\W\d_](?:[^\W\d_]++|[\u0300-\u036f '’‘.\-]++)*+$")
# a letter outside Unicode's Latin blocks (Basic Latin, Latin-1, Extended A-E, IPA, Additional, ligatures)
_NOT_LATIN = re.compile("[^\\W\\d_\u0000-\u024f\u1e00-\u1eff\u2c60-\u2c7f\ua720-\ua7ff\uab30-\uab6f\ufb00-\ufb06"
                        "\u00aa\u00ba]")


def pupil_columns(keystage: KeyStage) -> list[Column]:
    return [
        Column("organisation", "Organisation", kind="pupil", width=24,
               help="The school's name. Pre-filled; leave as it is."),
        Column("dfe_number", "DfE Number", kind="pupil", width=11, text=True, required=True,
               help="The school's 7-digit DfE number (LA code + establishment number), e.g. 1231234."),
        Column("key_stage", "Key Stage", kind="pupil", width=9, required=True,
               help=f"Always {keystage.key_stage} in this template."),
        Column("nc_year", "NC Year", kind="pupil", width=8, required=True,
               help=f"National Curriculum year: always {keystage.nc_year} in this template."),
        Column("upn", "UPN", kind="pupil", width=16, text=True, required=True,
               help="Unique Pupil Number: 13 characters, a check letter then 12 digits "
                    "(a temporary UPN ends in a letter). Must be unique in the file."),
        Column("forename", "Forename", kind="pupil", width=16, text=True, required=True,
               help=f"Pupil's legal forename, up to {MAX_NAME} characters."),
        Column("surname", "Surname", kind="pupil", width=16, text=True, required=True,
               help=f"Pupil's legal surname, up to {MAX_NAME} characters."),
        Column("dob_day", "Day", kind="pupil", width=5, required=True, help="Day of birth (1-31)."),
        Column("dob_month", "Month", kind="pupil", width=6, required=True, help="Month of birth (1-12)."),
        Column("dob_year", "Year", kind="pupil", width=6, required=True, help="Year of birth, 4 digits."),
        Column("gender", "Gender", kind="pupil", values=GENDERS, width=8, required=True,
               help="Female or Male."),
    ]


def cohort_range(round_year: int, nc_year: int) -> tuple[dt.date, dt.date]:
    """Birth dates of pupils in NC year ``nc_year`` in the academic year ending in ``round_year``.

    England's school year runs 1 September to 31 August: Year 11 in 2019/20 were born
    1 Sep 2003 to 31 Aug 2004.
    """
    start = round_year - nc_year - 6
    return dt.date(start, 9, 1), dt.date(start + 1, 8, 31)


def accepted_range(round_year: int, nc_year: int) -> tuple[dt.date, dt.date]:
    """The cohort plus one year either side: pupils taught out of their year group (held back,
    accelerated, or summer-born and delayed) are real and are accepted with a warning."""
    first, last = cohort_range(round_year, nc_year)
    return first.replace(year=first.year - 1), last.replace(year=last.year + 1)


@hookimpl
def register_template_columns(registry, keystage):
    for column in pupil_columns(keystage):
        registry.add(column)


@hookimpl
def register_rules(registry, keystage):
    for rule in (DfeNumberRule(), KeyStageRule(), UpnRule(), NameRule(), DateOfBirthRule(), GenderRule()):
        registry.add(rule)


@hookimpl(trylast=True)
def select_pupil_source(school, keystage, candidates: list[PupilSource]):
    return max(candidates, key=lambda s: s.priority, default=None)


# --------------------------------------------------------------------------- rules


def _whole_number(value: Any) -> int | None:
    """A whole number as typed (9, 9.0, "9"), or None: never a boolean, NaN, infinity, or digits
    other than 0-9 (int("٣") is 3 in Python)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        if isinstance(value, float) and not math.isfinite(value):
            return None
        return int(value) if value == int(value) else None
    text = cell_text(value)
    return int(text) if ascii_digits(text) and len(text) < 19 else None


def _is_latin(text: str) -> bool:
    """True when every letter of ``text`` is a Latin letter (accents included)."""
    return _NOT_LATIN.search(text) is None


class DfeNumberRule(Rule):
    codes = ("pupil.dfe-number-format", "pupil.dfe-number-other-school")
    description = "DfE number is 7 digits and is the uploading school's."

    def check(self, table: Table) -> Iterator[Issue]:
        own = {table.school_dfe, float(table.school_dfe)}
        others: list[tuple[int, Any, str]] = []
        values = table.column_values("dfe_number")
        for row, value in enumerate(values):
            if value in own:
                continue
            raw = cell_text(value)
            text = dfe_number(raw)
            if not raw:
                yield self.issue(table, row, "dfe_number", f"Enter your school's DfE number, {table.school_dfe} (or "
                                 "leave the cell blank: it is filled in for you).", code="pupil.dfe-number-format")
            elif text is None:
                found = f" {not_ascii_message('DfE number', raw)}" if not raw.isascii() else ""
                yield self.issue(table, row, "dfe_number", f"DfE number must be 7 digits, e.g. {table.school_dfe}."
                                 + found, code="pupil.dfe-number-format", value=value)
            elif text != table.school_dfe:
                others.append((row, value, text))
        if others and len(others) == len(values) and len({text for _, _, text in others}) == 1:
            # every pupil names the same other school: the file is another school's, say so once
            text = others[0][2]
            yield self.issue(table, None, None, f"This file is for the school with DfE number {text}, not yours "
                             f"({table.school_dfe}). Upload your own school's file.",
                             code="pupil.dfe-number-other-school", value=text)
            return
        for row, value, text in others:
            yield self.issue(table, row, "dfe_number",
                             f"DfE number {text} is not your school's ({table.school_dfe}): this row may belong "
                             "to another school's file. Check the pupil, and enter your school's DfE number.",
                             code="pupil.dfe-number-other-school", value=value)


class KeyStageRule(Rule):
    codes = ("pupil.wrong-key-stage", "pupil.wrong-nc-year")
    description = "Key stage and NC year are the ones the template is for."

    def check(self, table: Table) -> Iterator[Issue]:
        ks = table.keystage
        for column_id, expected, code, label in (("key_stage", ks.key_stage, "pupil.wrong-key-stage", "Key Stage"),
                                                 ("nc_year", ks.nc_year, "pupil.wrong-nc-year", "NC Year")):
            for row, value in enumerate(table.column_values(column_id)):
                if value != expected and _whole_number(value) != expected:
                    yield self.issue(table, row, column_id,
                                     f"{label} must be {expected} in the {ks.title} template.", code=code, value=value)


class UpnRule(Rule):
    codes = ("pupil.upn-missing", "pupil.upn-not-ascii", "pupil.upn-length", "pupil.upn-check-letter", "pupil.upn-la-code",
             "pupil.upn-digits", "pupil.upn-char13", "pupil.upn-temporary", "pupil.upn-duplicate")
    description = "UPN has the DfE format and check letter, a known LA code, and is unique in the file."

    MESSAGES = {
        upn_mod.LENGTH: ("pupil.upn-length", "UPN must be 13 characters: a letter, 11 digits, then a digit "
                                             "or letter. Copy it from your MIS."),
        upn_mod.CHECK_LETTER: ("pupil.upn-check-letter", "UPN check letter (character 1) is wrong: the UPN is "
                                                         "mistyped. Copy it again from your MIS."),
        upn_mod.LA_CODE: ("pupil.upn-la-code", "UPN characters 2-4 are not a recognised local authority code."),
        upn_mod.DIGITS: ("pupil.upn-digits", "UPN characters 5-12 must all be digits (check for a letter O "
                                             "typed for a zero)."),
        upn_mod.CHAR13: ("pupil.upn-char13", "UPN character 13 must be a digit or a letter other than I, O or S."),
    }

    def check(self, table: Table) -> Iterator[Issue]:
        clean: dict[int, str] = {}
        for row, value in enumerate(table.column_values("upn")):
            if value.__class__ is str and upn_mod.valid(value) and value[12].isdigit():
                clean[row] = value  # the usual case: a permanent UPN typed exactly
                continue
            text = cell_text(value).upper()
            if not text:
                yield self.issue(table, row, "upn", "Enter the pupil's UPN.", code="pupil.upn-missing")
                continue
            if not text.isascii():  # a full-width or Arabic-Indic digit is no UPN digit
                yield self.issue(table, row, "upn", not_ascii_message("UPN", text), code="pupil.upn-not-ascii",
                                 value=value)
                continue
            found = upn_mod.problems(text)
            for problem in found:
                code, message = self.MESSAGES[problem]
                yield self.issue(table, row, "upn", message, code=code, value=value)
            if found:
                continue
            clean[row] = text
            if upn_mod.is_temporary(text):
                yield self.issue(table, row, "upn", "This is a temporary UPN (it ends in a letter): replace it "
                                 "with the pupil's permanent UPN if they have one.",
                                 code="pupil.upn-temporary", severity=WARNING, value=value)
        counts = Counter(clean.values())
        first: dict[str, int] = {}
        for row, text in clean.items():
            if counts[text] > 1:
                if text not in first:
                    first[text] = table.row_numbers[row]
                    continue
                yield self.issue(table, row, "upn", f"UPN {text} is also used in row {first[text]}: each pupil "
                                 "appears once. Remove the duplicate row or correct the UPN.",
                                 code="pupil.upn-duplicate", value=text)


class NameRule(Rule):
    codes = ("pupil.name-missing", "pupil.name-too-long", "pupil.name-invalid", "pupil.name-not-latin")
    description = (f"Forename and surname are letters, spaces, hyphens and apostrophes, at most {MAX_NAME} "
                   "characters; a name in a script other than Latin is a warning.")

    def check(self, table: Table) -> Iterator[Issue]:
        for column_id, label in (("forename", "forename"), ("surname", "surname")):
            for row, value in enumerate(table.column_values(column_id)):
                if value.__class__ is str and len(value) <= MAX_NAME and _NAME_OK.match(value) \
                        and (value.isascii() or _is_latin(value)):
                    continue
                text = cell_text(value)
                if not text:
                    yield self.issue(table, row, column_id, f"Enter the pupil's {label}.", code="pupil.name-missing")
                elif len(text) > MAX_NAME:
                    yield self.issue(table, row, column_id, f"The {label} is {len(text)} characters long; the "
                                     f"limit is {MAX_NAME}.", code="pupil.name-too-long", value=value)
                elif not isinstance(value, str) or not _NAME_OK.match(text):
                    yield self.issue(table, row, column_id, f"The {label} must be letters, with spaces, hyphens "
                                     "or apostrophes (no digits or symbols).",
                                     code="pupil.name-invalid", value=value)
                elif not _is_latin(text):
                    yield self.issue(table, row, column_id, f"The {label} is not written in Latin letters. The "
                                     "DfE's systems expect the name as on the pupil's census record (usually in "
                                     "Latin letters): check it.", code="pupil.name-not-latin", severity=WARNING,
                                     value=value)


class DateOfBirthRule(Rule):
    codes = ("pupil.dob-missing", "pupil.dob-invalid", "pupil.dob-out-of-cohort", "pupil.dob-outside-year-group")
    description = ("Day, Month and Year form a real date; the pupil was born in the cohort's academic year "
                   "(one year either side is accepted with a warning).")

    def check(self, table: Table) -> Iterator[Issue]:
        rnd: Round | None = table.round
        limits = None
        if rnd is not None:
            limits = (cohort_range(rnd.year, table.keystage.nc_year), accepted_range(rnd.year, table.keystage.nc_year))
        days, months, years = (table.column_values(c) for c in ("dob_day", "dob_month", "dob_year"))
        usual = limits[0] if limits else (dt.date(1900, 1, 1), dt.date(2100, 12, 31))
        for row in range(len(table.rows)):
            if self.usual(days[row], months[row], years[row], usual):
                continue
            parts = {}
            bad = False
            for column_id, value, low, high, label in (("dob_day", days[row], 1, 31, "Day"),
                                                       ("dob_month", months[row], 1, 12, "Month"),
                                                       ("dob_year", years[row], 1900, 2100, "Year")):
                number = _whole_number(value)
                if cell_text(value) == "":
                    yield self.issue(table, row, column_id, f"Enter the {label.lower()} of birth.",
                                     code="pupil.dob-missing")
                    bad = True
                elif number is None or not low <= number <= high:
                    expected = "a 4-digit year" if label == "Year" else f"a whole number from {low} to {high}"
                    text = cell_text(value)
                    found = "" if text.isascii() else " " + not_ascii_message(f"{label.lower()} of birth", text)
                    yield self.issue(table, row, column_id, f"{label} of birth must be {expected}.{found}",
                                     code="pupil.dob-invalid", value=value)
                    bad = True
                else:
                    parts[column_id] = number
            if bad:
                continue
            try:
                born = dt.date(parts["dob_year"], parts["dob_month"], parts["dob_day"])
            except ValueError:
                yield self.issue(table, row, "dob_day", f"{parts['dob_day']}/{parts['dob_month']}/{parts['dob_year']} "
                                 "is not a real date.", code="pupil.dob-invalid", value=days[row])
                continue
            if limits is None:
                continue
            (first, last), (lowest, highest) = limits
            if not lowest <= born <= highest:
                yield self.issue(table, row, "dob_year",
                                 f"Born {born:%d/%m/%Y}: pupils in NC year {table.keystage.nc_year} in {rnd.year} "
                                 f"were born between {first:%d/%m/%Y} and {last:%d/%m/%Y} (one year either side "
                                 "is accepted). Check the date of birth.", code="pupil.dob-out-of-cohort",
                                 value=years[row])
            elif not first <= born <= last:
                yield self.issue(table, row, "dob_year",
                                 f"Born {born:%d/%m/%Y}: outside the usual year group ({first:%d/%m/%Y} to "
                                 f"{last:%d/%m/%Y}). Fine if the pupil is taught out of year group; otherwise "
                                 "check the date.", code="pupil.dob-outside-year-group", severity=WARNING,
                                 value=years[row])


    @staticmethod
    def usual(day: Any, month: Any, year: Any, cohort: tuple[dt.date, dt.date]) -> bool:
        """The common case in one step: three whole numbers making a date inside the cohort."""
        if not (day.__class__ is float and month.__class__ is float and year.__class__ is float):
            return False
        if day % 1 or month % 1 or year % 1:
            return False
        try:
            return cohort[0] <= dt.date(int(year), int(month), int(day)) <= cohort[1]
        except ValueError:
            return False


class GenderRule(Rule):
    code = "pupil.gender-invalid"
    description = "Gender is Female or Male (M and F, in any case, are accepted and stored as Male and Female)."

    def check(self, table: Table) -> Iterator[Issue]:
        for row, value in enumerate(table.column_values("gender")):
            if value not in GENDERS.values and GENDERS.normalise(value) is None:
                text = cell_text(value)
                hint = GENDERS.hint(text)
                tail = f' Enter "{hint}".' if hint else ""
                yield self.issue(table, row, "gender", f"Gender must be Female or Male.{tail}", value=value)
