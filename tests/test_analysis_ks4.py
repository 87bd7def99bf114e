"""KS4 measures exactly as reports.md §1: the hand-checked pupils of §1.7, every (QAN, grade) of the
DfE points data, one test per rule of §1.2-§1.5, Progress 8, and properties."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given, settings, strategies as st

from frs.analysis import engine, synthetic as syn
from frs_ks4_measures import counted_entries, pupil_measures, prior_group

from conftest import reference_rows


@pytest.fixture(scope="module")
def cat(kernel):
    return syn.Catalogue(kernel, ("ks4_gcse", "ks4_nongcse"))


@pytest.fixture(scope="module")
def ks4(kernel):
    return kernel.measures(4)


def g(cat, subject, grade, **extra):
    return cat.result("ks4_gcse", subject, grade, **extra)


def pupil_of(results, year=2020):
    return pupil_measures(results, year)


def slots(m, element):
    return [(s[1], s[3]) for s in m["slots"] if s[0] == element]


# --------------------------------------------------------------------------- §1.7 hand-checked pupils


def test_school1_pupil1_matches_the_hand_checked_values(cat):
    m = pupil_of([g(cat, "English Language", "4"), g(cat, "English Literature", "3"), g(cat, "Mathematics", "3"),
                  g(cat, "Combined Science", "43"), g(cat, "Drama", "3"), g(cat, "Music", "U")], 2019)
    assert m["attainment8"] == 27
    assert m["attainment8_elements"] == {"english": 8, "maths": 6, "ebacc": 7, "open": 6}
    assert slots(m, "ebacc") == [("Combined Science", 3.5), ("Combined Science", 3.5)]
    assert sorted(p for _, p in slots(m, "open")) == [0, 3, 3]
    assert round(m["ebacc_aps"], 2) == 2.33
    assert (m["english_maths_4"], m["english_maths_5"], m["ebacc_entered"]) == (False, False, False)


def test_school2_pupil_b1_matches_the_hand_checked_values(cat):
    french_2018 = g(cat, "French", "5", result_date=dt.date(2018, 7, 1))
    french_2019 = g(cat, "French", "6", result_date=dt.date(2019, 7, 1))
    m = pupil_of([g(cat, "English Language", "5"), g(cat, "English Literature", "6"), g(cat, "Mathematics", "7"),
                  g(cat, "Combined Science", "77"), g(cat, "Spanish", "9"), g(cat, "Religious Studies", "6"),
                  french_2019, french_2018], 2019)
    assert m["attainment8"] == 65
    assert slots(m, "english") == [("English Literature", 12)]
    assert slots(m, "maths") == [("Mathematics", 14)]
    assert sorted(p for _, p in slots(m, "ebacc")) == [7, 7, 9]
    assert sorted(slots(m, "open")) == [("English Language", 5), ("French", 5), ("Religious Studies", 6)]
    assert m["ebacc_aps"] == pytest.approx(6.0)
    assert (m["english_maths_4"], m["english_maths_5"], m["ebacc_entered"]) == (True, True, False)


def test_progress8_with_the_stand_in_2019_estimates(cat, ks4):
    p1 = syn.pupil("A", [g(cat, "English Language", "4"), g(cat, "English Literature", "3"), g(cat, "Mathematics", "3"),
                         g(cat, "Combined Science", "43"), g(cat, "Drama", "3"), g(cat, "Music", "U")],
                   ks2={"fine_level": 4.0})
    b1 = syn.pupil("B", [g(cat, "English Language", "5"), g(cat, "English Literature", "6"), g(cat, "Mathematics", "7"),
                         g(cat, "Combined Science", "77"), g(cat, "Spanish", "9"), g(cat, "Religious Studies", "6"),
                         g(cat, "French", "5")], ks2={"fine_level": 5.0})
    none = syn.pupil("C", [g(cat, "Mathematics", "5")])
    result = engine.analyse_cohort(syn.cohort([p1, b1, none], year=2019), ks4)
    by_upn = {p["upn"]: p for p in result["pupils"]}
    assert round(by_upn["A"]["progress8"], 2) == -0.35
    assert round(by_upn["B"]["progress8"], 2) == 1.57
    assert by_upn["C"]["progress8"] is None
    assert result["progress8"]["calculated"] is True
    assert (result["progress8"]["pupils"], result["progress8"]["pupils_without_ks2"]) == (2, 1)


@pytest.mark.parametrize("year", [2020, 2021])
def test_progress8_is_not_calculated_for_2020_and_2021_with_the_reason(cat, ks4, year):
    p = syn.pupil("A", [g(cat, "Mathematics", "5")], ks2={"fine_level": 4.5})
    result = engine.analyse_cohort(syn.cohort([p], year=year), ks4)
    assert result["progress8"]["calculated"] is False
    assert str(year) in result["progress8"]["reason"]
    assert "progress8" not in result["measures"]


def test_progress8_without_an_estimates_table_says_so(cat, ks4):
    result = engine.analyse_cohort(syn.cohort([syn.pupil("A", [g(cat, "Mathematics", "5")])], year=2023), ks4)
    assert result["progress8"] == {"calculated": False, "reason": "No Progress 8 estimates table is held for 2023."}


def test_prior_attainment_groups():
    assert [prior_group(x) for x in (1.0, 2.2, 2.6, 2.85, 4.0, 4.37, 5.9)] == \
        ["1.5", "2.0", "2.5", "2.8", "4.0", "4.3", "5.8"]


# --------------------------------------------------------------------------- every (QAN, grade)


def _points_rows():
    for name in ("ks4_gcse.csv", "ks4_nongcse.csv"):
        for row in reference_rows(name):
            if row.get("points_confidence", "official") != "official":
                continue  # not the DfE's points: the catalogue corrects inferred scales (docs/catalogues.md)
            for pair in filter(None, row["points"].split(";")):
                grade, _, value = pair.partition("=")
                yield name, row["qn"], row.get("syllabus_ref", ""), row["subject"] if name == "ks4_gcse.csv" else "", \
                    grade, float(value)


def test_every_qan_and_grade_of_the_dfe_points_data_scores_its_points(cat):
    by_qn = {}
    for column_id, column in cat.columns.items():
        meta = column.meta or {}
        for q in meta.get("qualifications", ()):
            by_qn.setdefault((q["qn"], ""), column_id)
            by_qn.setdefault((q["qn"], q.get("syllabus_ref") or ""), column_id)
        if meta.get("qn"):
            by_qn[(meta["qn"], meta.get("syllabus_ref") or "")] = column_id
            by_qn.setdefault((meta["qn"], ""), column_id)
    checked = 0
    for name, qn, syllabus, _, grade, points in _points_rows():
        column_id = by_qn.get((qn, syllabus)) or by_qn.get((qn, ""))
        assert column_id, f"{name}: QN {qn} has no template column"
        keystage = cat.keystage_of[column_id]
        result = cat.result(keystage, column_id, grade)
        (entry,) = counted_entries([result], 2019)
        assert entry.points == points, (qn, grade)
        m = pupil_measures([result], 2019)
        weight = 2 if entry.info.pillar == "maths" or entry.info.double else 1
        assert m["attainment8"] == pytest.approx(points * weight), (qn, grade)
        checked += 1
    assert checked > 1500  # every official (QN, grade) pair of the GCSE and non-GCSE points data


# --------------------------------------------------------------------------- §1.2 which results count


def test_a_grade_without_dfe_points_does_not_count(cat):
    result = g(cat, "Mathematics", "5")
    unknown = type(result)(**{**result.__dict__, "grade": "Q", "points": None})
    assert pupil_of([unknown])["attainment8"] == 0


def _sharing_code(cat):
    """A GCSE column and a non-GCSE column with the same KS4 discount code."""
    gcse = {(c.meta or {}).get("ks4_discount_code"): c for c in cat.columns.values()
            if cat.keystage_of[c.id] == "ks4_gcse"}
    for c in cat.columns.values():
        meta = c.meta or {}
        if cat.keystage_of[c.id] == "ks4_nongcse" and meta.get("ks4_discount_code") in gcse and meta.get("points") \
                and "D2" in meta["points"]:
            return gcse[meta["ks4_discount_code"]], c
    raise AssertionError("no shared discount code in the catalogues")


def test_a_gcse_and_a_non_gcse_sharing_a_discount_code_discount_each_other_2020_more_points(cat):
    gcse_column, other = _sharing_code(cat)
    low_gcse = cat.result("ks4_gcse", gcse_column.id, "3")
    tech = cat.result("ks4_nongcse", other.id, "D2")  # 7 points
    (entry,) = counted_entries([low_gcse, tech], 2020)
    assert entry.result.column_id == other.id
    high_gcse = cat.result("ks4_gcse", gcse_column.id, "9")
    (entry,) = counted_entries([high_gcse, tech], 2020)
    assert entry.result.column_id == gcse_column.id


def test_2019_the_first_entry_counts_even_with_fewer_points(cat):
    first = g(cat, "French", "4", result_date=dt.date(2018, 6, 1))
    later = g(cat, "French", "8", result_date=dt.date(2019, 6, 1))
    (entry,) = counted_entries([later, first], 2019)
    assert entry.points == 4
    (entry,) = counted_entries([later, first], 2020)  # 2020: the entry with more points
    assert entry.points == 8


def test_2019_entries_on_the_same_date_keep_more_points(cat):
    gcse_column, other = _sharing_code(cat)
    results = [cat.result("ks4_gcse", gcse_column.id, "3"), cat.result("ks4_nongcse", other.id, "D2")]
    (entry,) = counted_entries(results, 2019)
    assert entry.points == 7


def test_2019_an_as_level_beats_a_gcse_with_the_same_code(cat):
    as_maths = next(c for c in cat.columns.values() if cat.keystage_of[c.id] == "ks4_nongcse"
                    and str((c.meta or {}).get("kind", "")).startswith("AS level")
                    and (c.meta or {}).get("ks4_discount_code") == "RB1")
    gcse = g(cat, "Mathematics", "9", result_date=dt.date(2019, 6, 1))
    as_level = cat.result("ks4_nongcse", as_maths.id, "E", result_date=dt.date(2019, 8, 1))
    (entry,) = counted_entries([gcse, as_level], 2019)
    assert entry.result.column_id == as_maths.id


# --------------------------------------------------------------------------- §1.3 Attainment 8


def test_english_is_double_weighted_only_when_both_were_taken(cat):
    only_lang = pupil_of([g(cat, "English Language", "6")])
    assert only_lang["attainment8_elements"]["english"] == 6
    assert only_lang["english_double_weighted"] is False
    both = pupil_of([g(cat, "English Language", "6"), g(cat, "English Literature", "U")])  # U is taken
    assert both["attainment8_elements"]["english"] == 12


def test_literature_higher_than_language_doubles_and_language_goes_to_open(cat):
    m = pupil_of([g(cat, "English Language", "4"), g(cat, "English Literature", "7")])
    assert slots(m, "english") == [("English Literature", 14)]
    assert slots(m, "open") == [("English Language", 4)]


def test_maths_is_always_double_weighted(cat):
    assert pupil_of([g(cat, "Mathematics", "U")])["attainment8_elements"]["maths"] == 0
    assert pupil_of([g(cat, "Mathematics", "5")])["attainment8_elements"]["maths"] == 10


def test_three_single_sciences_and_computer_science_best_three_to_ebacc_fourth_to_open(cat):
    m = pupil_of([g(cat, "Biology", "7"), g(cat, "Chemistry", "6"), g(cat, "Physics", "5"),
                  g(cat, "Computer Science", "8")])
    assert sorted(slots(m, "ebacc")) == [("Biology", 7), ("Chemistry", 6), ("Computer Science", 8)]
    assert slots(m, "open") == [("Physics", 5)]


def test_ancient_history_fills_an_ebacc_slot(cat):
    assert slots(pupil_of([g(cat, "Ancient History", "6")]), "ebacc") == [("Ancient History", 6)]


def test_combined_science_takes_two_ebacc_slots_at_its_mean(cat):
    m = pupil_of([g(cat, "Combined Science", "65"), g(cat, "History", "4")])
    assert sorted(slots(m, "ebacc")) == [("Combined Science", 5.5), ("Combined Science", 5.5), ("History", 4)]
    assert m["ebacc_slots_filled"] == 3


def test_non_gcse_qualifications_only_fill_open_slots(cat):
    tech = next(c for c in cat.columns.values() if cat.keystage_of[c.id] == "ks4_nongcse"
                and "Tech Award" in c.header and (c.meta or {}).get("points", {}).get("*2"))
    m = pupil_of([cat.result("ks4_nongcse", tech.id, "*2")])
    assert slots(m, "open") == [(tech.header, 8.5)]
    assert m["attainment8_elements"]["ebacc"] == 0
    assert m["open_nongcse"] == 8.5 and m["open_gcse"] == 0


def test_the_four_elements_add_up_to_attainment8(cat):
    m = pupil_of([g(cat, "English Language", "5"), g(cat, "English Literature", "6"), g(cat, "Mathematics", "7"),
                  g(cat, "Geography", "6"), g(cat, "Drama", "5"), g(cat, "Spanish", "3")])
    assert sum(m["attainment8_elements"].values()) == m["attainment8"]


def test_a_pupil_with_no_results_is_in_the_cohort_with_attainment8_zero(cat, ks4):
    result = engine.analyse_cohort(syn.cohort([syn.pupil("A", [g(cat, "Mathematics", "6")]), syn.pupil("B", [])]), ks4)
    assert result["measures"]["pupils"] == 2
    empty = next(p for p in result["pupils"] if p["upn"] == "B")
    assert empty["attainment8"] == 0 and empty["ebacc_aps"] == 0
    assert result["measures"]["attainment8"] == 6


def test_a_school_that_sent_only_its_gcse_template_gets_its_measures(cat, ks4):
    result = engine.analyse_cohort(syn.cohort([syn.pupil("A", [g(cat, "Mathematics", "6")])],
                                              keystages=("ks4_gcse",)), ks4)
    assert result["measures"]["attainment8"] == 12 and result["keystages"] == ["ks4_gcse"]


# --------------------------------------------------------------------------- §1.4 thresholds and EBacc entry


def test_english_and_maths_thresholds(cat):
    m = pupil_of([g(cat, "English Language", "3"), g(cat, "English Literature", "4"), g(cat, "Mathematics", "4")])
    assert (m["english_maths_4"], m["english_maths_5"]) == (True, False)
    m = pupil_of([g(cat, "English Language", "5"), g(cat, "Mathematics", "5")])  # one English is enough
    assert (m["english_maths_4"], m["english_maths_5"]) == (True, True)
    m = pupil_of([g(cat, "English Language", "9"), g(cat, "Mathematics", "3")])
    assert m["english_maths_4"] is False


BASE = (("English Language", "4"), ("English Literature", "4"), ("Mathematics", "4"), ("History", "4"),
        ("French", "U"))


def test_ebacc_entry_with_combined_science_and_a_u_in_a_language(cat):
    m = pupil_of([g(cat, s, gr) for s, gr in BASE] + [g(cat, "Combined Science", "44")])
    assert m["ebacc_entered"] is True


@pytest.mark.parametrize("missing", ["English Literature", "Mathematics", "History", "French"])
def test_ebacc_entry_needs_every_pillar(cat, missing):
    m = pupil_of([g(cat, s, gr) for s, gr in BASE if s != missing] + [g(cat, "Combined Science", "44")])
    assert m["ebacc_entered"] is False


def test_ebacc_science_needs_combined_science_or_three_single_sciences(cat):
    two = pupil_of([g(cat, s, gr) for s, gr in BASE] + [g(cat, "Biology", "5"), g(cat, "Physics", "5")])
    assert two["ebacc_entered"] is False
    three = pupil_of([g(cat, s, gr) for s, gr in BASE] + [g(cat, "Biology", "5"), g(cat, "Physics", "5"),
                                                           g(cat, "Computer Science", "4")])
    assert three["ebacc_entered"] is True


# --------------------------------------------------------------------------- §1.5 EBacc APS


def test_ebacc_aps_english_pillar_needs_both_english_gcses(cat):
    one = pupil_of([g(cat, "English Language", "6")])
    assert one["ebacc_aps"] == 0
    both = pupil_of([g(cat, "English Language", "6"), g(cat, "English Literature", "3")])
    assert both["ebacc_aps"] == pytest.approx(6 / 6)


def test_ebacc_aps_combined_science_counts_in_both_science_pillars(cat):
    assert pupil_of([g(cat, "Combined Science", "65")])["ebacc_aps"] == pytest.approx(11 / 6)


def test_ebacc_aps_single_sciences_count_only_when_three_are_taken(cat):
    assert pupil_of([g(cat, "Biology", "9"), g(cat, "Chemistry", "9")])["ebacc_aps"] == 0
    three = pupil_of([g(cat, "Biology", "9"), g(cat, "Chemistry", "8"), g(cat, "Physics", "2")])
    assert three["ebacc_aps"] == pytest.approx(17 / 6)


def test_ebacc_aps_humanity_and_language_take_the_best(cat):
    m = pupil_of([g(cat, "History", "3"), g(cat, "Geography", "7"), g(cat, "French", "2"), g(cat, "Spanish", "8")])
    assert m["ebacc_aps"] == pytest.approx(15 / 6)


# --------------------------------------------------------------------------- properties

GCSE_SUBJECTS = ("English Language", "English Literature", "Mathematics", "Biology", "Chemistry", "Physics",
                 "Computer Science", "History", "Geography", "French", "Spanish", "Drama", "Music", "Religious Studies",
                 "Art and Design: Fine Art", "Business")
GRADES = ("U", "1", "2", "3", "4", "5", "6", "7", "8", "9")
PAIRS = ("U", "11", "21", "22", "32", "33", "43", "44", "54", "55", "65", "66", "76", "77", "87", "88", "98", "99")

pupil_results = st.tuples(
    st.dictionaries(st.sampled_from(GCSE_SUBJECTS), st.sampled_from(GRADES), max_size=len(GCSE_SUBJECTS)),
    st.one_of(st.none(), st.sampled_from(PAIRS)),
    st.lists(st.sampled_from(("P1", "M1", "D1", "P2", "M2", "D2", "*2")), max_size=2))


def _build(cat, chosen):
    gcses, combined, techs = chosen
    results = [g(cat, s, gr) for s, gr in sorted(gcses.items())]
    if combined:
        results.append(g(cat, "Combined Science", combined))
    tech_columns = [c for c in cat.columns.values() if cat.keystage_of[c.id] == "ks4_nongcse"
                    and "Tech Award" in c.header and set((c.meta or {}).get("points") or ()) >= {"P1", "*2"}]
    for column, grade in zip(tech_columns[::7], techs):
        results.append(cat.result("ks4_nongcse", column.id, grade))
    return results


@settings(max_examples=150, deadline=None)
@given(chosen=pupil_results)
def test_no_pupil_scores_above_90_and_the_elements_add_up(cat, chosen):
    m = pupil_of(_build(cat, chosen))
    assert 0 <= m["attainment8"] <= 90
    assert sum(m["attainment8_elements"].values()) == pytest.approx(m["attainment8"])
    assert 0 <= m["ebacc_aps"] <= 9


@settings(max_examples=150, deadline=None)
@given(chosen=pupil_results, data=st.data())
def test_a_better_grade_never_lowers_a_score(cat, chosen, data):
    gcses, combined, techs = chosen
    if not gcses:
        return
    subject = data.draw(st.sampled_from(sorted(gcses)))
    current = GRADES.index(gcses[subject])
    better = data.draw(st.sampled_from(GRADES[current:]))
    before = pupil_of(_build(cat, chosen))
    after = pupil_of(_build(cat, ({**gcses, subject: better}, combined, techs)))
    for key in ("attainment8", "ebacc_aps"):
        assert after[key] >= before[key] - 1e-9
    for key in ("english_maths_4", "english_maths_5", "ebacc_entered"):
        assert after[key] >= before[key]


def test_a_pupil_carries_the_flags_a_pupil_list_shows(cat):
    m = pupil_of([g(cat, "English Language", "6")])
    assert {"English single-weighted", "no maths", "EBacc not entered", "EBacc slots not filled"} <= set(m["flags"])
    assert pupil_of([])["flags"][0] == "no results"


def test_ebacc_achieved_needs_every_pillar_at_the_grade(cat):
    at_4 = [g(cat, s, "4") for s in ("English Language", "English Literature", "Mathematics", "History", "French")]
    m = pupil_of(at_4 + [g(cat, "Combined Science", "44")])
    assert (m["ebacc_achieved_4"], m["ebacc_achieved_5"]) == (True, False)
    m = pupil_of(at_4 + [g(cat, "Combined Science", "43")])  # 4-3 is below 4-4
    assert (m["ebacc_entered"], m["ebacc_achieved_4"]) == (True, False)
    m = pupil_of(at_4 + [g(cat, "Biology", "4"), g(cat, "Chemistry", "4"), g(cat, "Physics", "1")])
    assert m["ebacc_achieved_4"] is True  # two of the single sciences at 4
