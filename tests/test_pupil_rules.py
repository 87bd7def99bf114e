"""The kernel's pupil rules, run on rows as the reader returns them (floats, strings, '')."""

from __future__ import annotations

import pytest

from frs import upn
from frs.config import Config, Round
from frs.core import accepted_range, cohort_range
from frs.issues import WARNING
from frs.kernel import Kernel
from frs.keystage import Table

ROUND = Round(id="ks5-2021", key_stage=5, year=2021, opens=None, closes=None)  # only the year is read
SCHOOL = "1231234"
GOOD = upn.make("801", "2000", 15, 1)
GOOD2 = upn.make("909", "4001", 14, 2)


@pytest.fixture(scope="module")
def kernel():
    return Kernel(Config(path=None, enabled=["ks5_alevel"]))


def pupil(**changes):
    row = {"organisation": "Test School", "dfe_number": SCHOOL, "key_stage": 5.0, "nc_year": 13.0, "upn": GOOD,
           "forename": "Amy", "surname": "O'Neill-Smith", "dob_day": 1.0, "dob_month": 3.0, "dob_year": 2003.0,
           "gender": "Female"}
    row.update(changes)
    return row


def run(kernel, *pupils, round_=ROUND):
    ks = kernel.keystage("ks5_alevel")
    columns = kernel.columns(ks)
    index = {c.id: i for i, c in enumerate(columns)}
    rows = [[p.get(c.id, "") for c in columns] for p in pupils]
    table = Table(keystage=ks, columns=columns, rows=rows, row_numbers=list(range(4, 4 + len(rows))), index=index,
                  sheet="Results", school_dfe=SCHOOL, round=round_)
    issues = []
    for rule in kernel.rules(ks):
        issues.extend(rule.check(table))
    return {(i.code, i.row, i.column) for i in issues}, issues


def test_a_good_pupil_has_no_issues(kernel):
    found, _ = run(kernel, pupil(), pupil(upn=GOOD2, dob_day="28", dob_month="2", dob_year="2003"))
    assert found == set()


# -------------------------------------------------------------------------- UPN


def test_check_letter_matches_the_dfe_worked_examples():
    assert upn.check_letter("H801200001001") == "H"
    assert upn.check_letter("G80120000101A") == "G"  # temporary: final A counts as 0
    assert upn.problems("h801200001001 ") == []


@pytest.mark.parametrize("value, expected", [
    ("A801200001001", ["check-letter"]),
    ("H813E00000121", ["check-letter", "digits"]),
    ("G80120000101S", ["char13"]),  # I, O, S: only the char-13 problem
    ("H000200001001", ["check-letter", "la-code"]),
    ("H80120000100", ["length"]),
    ("BADCODE", ["length"]),
    ("I801200001001", ["check-letter"]),
])
def test_upn_problems_are_all_reported_together(value, expected):
    assert upn.problems(value) == expected


def test_remainders_20_to_22_use_x_y_z():
    # public implementations get these wrong (swapped X/Y, or no Y/Z): build one of each
    seen = {}
    for serial in range(200):
        made = upn.make("801", "2000", 15, serial)
        seen.setdefault(made[0], made)
    for letter in "XYZ":
        assert upn.problems(seen[letter]) == []


def test_abolished_and_welsh_la_codes_are_accepted():
    for la in ("909", "928", "660", "701"):
        assert upn.problems(upn.make(la, "1234", 10, 5)) == []


@pytest.mark.parametrize("value, codes", [
    ("", {"pupil.upn-missing"}),
    ("A801200001001", {"pupil.upn-check-letter"}),
    ("H813E00000121", {"pupil.upn-check-letter", "pupil.upn-digits"}),
    ("H80120000100", {"pupil.upn-length"}),
    ("G80120000101S", {"pupil.upn-char13"}),
])
def test_upn_rule_codes(kernel, value, codes):
    found, _ = run(kernel, pupil(upn=value))
    assert found == {(code, 4, "E") for code in codes}


def test_temporary_upn_is_a_warning(kernel):
    temp = "G80120000101A"
    found, issues = run(kernel, pupil(upn=temp))
    assert found == {("pupil.upn-temporary", 4, "E")}
    assert issues[0].severity == WARNING


def test_duplicate_upn_reported_on_the_later_row_only(kernel):
    found, issues = run(kernel, pupil(), pupil(upn=GOOD2), pupil(upn=GOOD.lower()))
    assert found == {("pupil.upn-duplicate", 6, "E")}
    assert issues[0].upn == GOOD


def test_duplicate_check_skips_upns_with_other_errors(kernel):
    found, _ = run(kernel, pupil(upn="A801200001001"), pupil(upn="A801200001001"))
    assert {code for code, _, _ in found} == {"pupil.upn-check-letter"}


# -------------------------------------------------------------------------- other pupil columns


@pytest.mark.parametrize("changes, expected", [
    ({"dfe_number": "123123"}, ("pupil.dfe-number-format", "B")),
    ({"key_stage": 4.0}, ("pupil.wrong-key-stage", "C")),
    ({"nc_year": "12"}, ("pupil.wrong-nc-year", "D")),
    ({"forename": ""}, ("pupil.name-missing", "F")),
    ({"surname": "X" * 101}, ("pupil.name-too-long", "G")),
    ({"surname": "Smith2"}, ("pupil.name-invalid", "G")),
    ({"forename": 12.0}, ("pupil.name-invalid", "F")),
    ({"gender": "Girl"}, ("pupil.gender-invalid", "K")),
    ({"gender": ""}, ("pupil.gender-invalid", "K")),
    ({"dob_day": ""}, ("pupil.dob-missing", "H")),
    ({"dob_month": 13.0}, ("pupil.dob-invalid", "I")),
    ({"dob_year": "03"}, ("pupil.dob-invalid", "J")),
    ({"dob_day": 30.0, "dob_month": 2.0}, ("pupil.dob-invalid", "H")),
    ({"dob_year": 2010.0}, ("pupil.dob-out-of-cohort", "J")),
    ({"dob_year": 2004.0}, ("pupil.dob-outside-year-group", "J")),
])
def test_pupil_column_codes_and_cells(kernel, changes, expected):
    found, _ = run(kernel, pupil(**changes))
    assert found == {(expected[0], 4, expected[1])}


def test_dfe_number_accepts_common_display_forms(kernel):
    found, _ = run(kernel, pupil(dfe_number="123/1234"), pupil(upn=GOOD2, dfe_number="123-1234"))
    assert found == set()


def test_names_with_accents_hyphens_and_apostrophes_are_fine(kernel):
    found, _ = run(kernel, pupil(forename="Zoë Anne", surname="D'Arcy-Öztürk"))
    assert found == set()


def test_cohort_boundaries():
    first, last = cohort_range(2020, 11)  # Year 11 in 2019/20
    assert (first.isoformat(), last.isoformat()) == ("2003-09-01", "2004-08-31")
    first, last = accepted_range(2021, 13)
    assert (first.isoformat(), last.isoformat()) == ("2001-09-01", "2004-08-31")


def test_without_a_round_the_age_check_is_skipped(kernel):
    found, _ = run(kernel, pupil(dob_year=1990.0), round_=None)
    assert found == set()
