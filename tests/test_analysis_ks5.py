"""KS5 A-level measures: points per entry, best three, % A*-A / A*-B, cumulative grades per subject."""

from __future__ import annotations

import pytest

from frs.analysis import engine, synthetic as syn
from frs_ks5_measures import grade_for_points


@pytest.fixture(scope="module")
def cat(kernel):
    return syn.Catalogue(kernel, ("ks5_alevel",))


def a(cat, subject, grade):
    return cat.result("ks5_alevel", subject, grade)


@pytest.fixture(scope="module")
def result(kernel, cat):
    pupils = [
        syn.pupil("S1", [a(cat, "Mathematics", "*"), a(cat, "Physics", "A"), a(cat, "Chemistry", "B")]),
        syn.pupil("S2", [a(cat, "Mathematics", "C"), a(cat, "Physics", "U")]),
        syn.pupil("S3", [a(cat, "Mathematics", "E"), a(cat, "History", "B"), a(cat, "Psychology", "D"),
                         a(cat, "Sociology", "A")]),
    ]
    return engine.analyse_cohort(syn.cohort(pupils, key_stage=5, year=2021, keystages=("ks5_alevel",)),
                                 kernel.measures(5))


def test_the_catalogue_points_are_the_dfe_16_18_scale(cat):
    assert [a(cat, "Mathematics", g).points for g in ("*", "A", "B", "C", "D", "E", "U")] == [60, 50, 40, 30, 20, 10, 0]


def test_average_points_per_entry_counts_every_entry_u_included(result):
    # 60+50+40 + 30+0 + 10+40+20+50 = 300 over 9 entries
    assert result["measures"]["entries"] == 9
    assert result["measures"]["aps_per_entry"] == pytest.approx(300 / 9)


def test_best_three_divides_by_three_per_student_even_with_fewer_entries(result):
    # S1 150, S2 30 (only two), S3 50+40+20 = 110 -> 290 / 9
    assert result["measures"]["best_three"] == pytest.approx(290 / 9)


def test_percent_a_star_a_and_a_star_b_of_entries(result):
    assert result["measures"]["a_star_a"] == pytest.approx(100 * 3 / 9)
    assert result["measures"]["a_star_b"] == pytest.approx(100 * 5 / 9)


def test_cumulative_grades_per_subject_with_u_in_the_total(result):
    subjects = {s["subject"]: s for s in result["subjects"]}
    maths = subjects["Mathematics"]
    assert maths["entries"] == 3
    assert maths["cumulative"] == pytest.approx({"*": 100 / 3, "A": 100 / 3, "B": 100 / 3, "C": 200 / 3,
                                                 "D": 200 / 3, "E": 100.0})
    physics = subjects["Physics"]
    assert physics["cumulative"]["E"] == pytest.approx(50.0)  # the U is in the total
    assert physics["aps_per_entry"] == pytest.approx(25.0)


def test_results_sharing_a_discount_code_count_once_with_more_points(cat, kernel):
    maths = a(cat, "Mathematics", "C")
    again = type(maths)(**{**maths.__dict__, "column_id": "ks5_alevel.other", "grade": "A", "points": 50.0})
    result = engine.analyse_cohort(syn.cohort([syn.pupil("S", [maths, again])], key_stage=5, year=2021,
                                              keystages=("ks5_alevel",)), kernel.measures(5))
    assert result["measures"]["entries"] == 1 and result["measures"]["aps_per_entry"] == 50


@pytest.mark.parametrize("points,grade", [(33.77, "C+"), (30, "C"), (27.5, "C-"), (60, "A*"), (58, "A*-"),
                                          (10, "E"), (2, "U"), (None, None)])
def test_an_average_reads_as_a_grade(points, grade):
    assert grade_for_points(points) == grade
