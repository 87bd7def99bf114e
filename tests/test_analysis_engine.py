"""The measures engine: pupil groups, what if, comparisons with all schools, canonical JSON, and the
measure hook a third party uses."""

from __future__ import annotations

import json

import pytest

from frs.analysis import engine, national, synthetic as syn
from frs.measures import Indicator, Measure, MeasureSet
from frs.registry import ContributionError, MeasureRegistry


@pytest.fixture(scope="module")
def cat(kernel):
    return syn.Catalogue(kernel, ("ks4_gcse", "ks4_nongcse"))


def maths(cat, grade):
    return cat.result("ks4_gcse", "Mathematics", grade)


def school(cat, n, grade="5", **chars):
    return [syn.pupil(f"P{i:03d}", [maths(cat, grade)], gender="Female" if i % 2 else "Male", **chars)
            for i in range(n)]


def test_gender_groups_always_others_only_when_the_source_gave_them(cat, kernel):
    result = engine.analyse_cohort(syn.cohort(school(cat, 14)), kernel.measures(4))
    assert {r["group"] for r in result["groups"]} == {"gender"}
    with_chars = engine.analyse_cohort(syn.cohort(school(cat, 14, disadvantaged=True, sen="K", eal=False)),
                                       kernel.measures(4))
    assert {r["group"] for r in with_chars["groups"]} == {"gender", "disadvantaged", "sen", "eal"}
    sen = next(r for r in with_chars["groups"] if r["group"] == "sen")
    assert (sen["label"], sen["pupils"]) == ("SEN support", 14)


def test_groups_under_six_pupils_are_suppressed_with_their_count(cat, kernel):
    pupils = school(cat, 10)[:5] + [syn.pupil(f"F{i}", [maths(cat, "7")], gender="Female") for i in range(6)]
    pupils = [p for p in pupils if p.gender == "Female"] + [syn.pupil("M1", [maths(cat, "2")], gender="Male")]
    result = engine.analyse_cohort(syn.cohort(pupils), kernel.measures(4))
    rows = {r["value"]: r for r in result["groups"]}
    assert rows["Male"]["suppressed"] is True and rows["Male"]["measures"] is None and rows["Male"]["pupils"] == 1
    assert rows["Female"]["suppressed"] is False and rows["Female"]["measures"]["attainment8"] > 0


def test_what_if_recomputes_with_chosen_pupils_left_out(cat, kernel):
    pupils = school(cat, 6, "8") + [syn.pupil("LOW", [maths(cat, "1")])]
    cohort = syn.cohort(pupils)
    full = engine.analyse_cohort(cohort, kernel.measures(4))
    without = engine.what_if(cohort, kernel.measures(4), ["LOW", "NOT-THERE"])
    assert without["measures"]["pupils"] == 6 and without["measures"]["attainment8"] == 16
    assert full["measures"]["attainment8"] < 16
    assert without["excluded"] == ["LOW"]
    stored = engine.what_if_stored(json.loads(engine.canonical_json(full)), kernel.measures(4), ["LOW"])
    assert stored["measures"]["attainment8"] == 16 and stored["measures"]["pupils"] == 6


def test_the_same_cohort_gives_byte_identical_json(cat, kernel):
    cohort = syn.SchoolMaker(kernel, pupils=40).make(3)
    shuffled = syn.cohort(list(reversed(cohort.pupils)), school_dfe=cohort.school_dfe, school_name=cohort.school_name)
    one = engine.canonical_json(engine.analyse_cohort(cohort, kernel.measures(4)))
    two = engine.canonical_json(engine.analyse_cohort(shuffled, kernel.measures(4)))
    assert one == two
    assert "2.3333333333333335" not in one  # floats are rounded


def test_canonical_json_rounds_floats_and_stores_what_json_cannot_hold_as_null():
    value = {"b": -0.0, "a": [1.0000004, 2.5, float("nan"), (1, 2), float("inf")], 3: {"x": 1e-9, "y": -1e-9},
             "c": 2 / 3, "d": [{"e": 7.0, "f": [True, None, "é"]}]}
    assert engine.canonical_json(value) == ('{"3":{"x":0.0,"y":0.0},"a":[1.0,2.5,null,[1,2],null],"b":0.0,'
                                            '"c":0.666667,"d":[{"e":7.0,"f":[true,null,"é"]}]}')
    assert value["a"][0] == 1.0000004 and value["a"][3] == (1, 2)  # the value itself is left as it was


class Fractions(Measure):
    """Pupil values whose sums are exact (halves) and whose sums round (thirds), and a ratio."""

    id = "my_plugin.fractions"
    key_stage = 4
    indicators = (Indicator("value", "Value", "mean", pupil_key="value"),
                  Indicator("half", "Half", "mean", pupil_key="half"),
                  Indicator("per_entry", "Per entry", "ratio", pupil_key="value", denominator="entries"))

    def pupil(self, pupil, context):
        n = int(pupil.upn[1:])  # the first school's values are halves, the second's thirds
        return {"value": n / 2 if n < 40 else n / 3, "half": n / 2, "entries": n % 3}


def test_all_schools_sums_are_the_sums_of_pupil_after_pupil():
    """The same floats however they are worked out, so the figures do not depend on the workers."""
    measures = MeasureSet(4, [Fractions()])
    acc = engine.NationalAccumulator(measures)
    pupils = []
    for first in (0, 40):
        cohort = syn.cohort([syn.pupil(f"P{n:03d}") for n in range(first, first + 40)])
        scores = engine.score(cohort, measures)
        acc.add(engine.result_from_scores(cohort, measures, scores), scores)
        pupils += [s.values for s in scores]
    expected = []
    for key, weight in (("value", None), ("half", None), ("value", "entries")):
        n, s1, s2, x1, x2, xy = 0, 0.0, 0.0, 0.0, 0.0, 0.0
        for p in pupils:
            x = float(p[weight]) if weight else 1.0
            if x:
                y = p[key]
                n, s1, s2, x1, x2, xy = n + 1, s1 + y, s2 + y * y, x1 + x, x2 + x * x, xy + x * y
        expected.append([n, s1, s2, x1, x2, xy])
    assert acc.state()["stats"] == expected


def _national(kernel, cohorts):
    acc = engine.NationalAccumulator(kernel.measures(4))
    results = []
    for c in cohorts:
        scores = engine.score(c, kernel.measures(4))
        result = engine.result_from_scores(c, kernel.measures(4), scores)
        acc.add(result, scores)
        results.append(result)
    return acc.finish(), results


def test_comparison_with_all_schools_mean_percentile_and_significance(cat, kernel):
    cohorts = [syn.cohort(school(cat, 40, grade), school_dfe=f"80{i:05d}") for i, grade in
               enumerate(["2", "4", "5", "5", "5", "6", "8"])]
    # some spread inside each school so the interval has a width
    cohorts = [syn.cohort(list(c.pupils) + [syn.pupil("X1", [maths(cat, "4")]), syn.pupil("X2", [maths(cat, "6")])],
                          school_dfe=c.school_dfe) for c in cohorts]
    summary, results = _national(kernel, cohorts)
    low = engine.compare(results[0], summary, {})["all_schools"]["attainment8"]
    high = engine.compare(results[-1], summary, {})["all_schools"]["attainment8"]
    middle = engine.compare(results[3], summary, {})["all_schools"]["attainment8"]
    assert (low["significance"], low["colour"]) == ("below", "red")
    assert (high["significance"], high["colour"]) == ("above", "green")
    assert (middle["significance"], middle["colour"]) == ("not significant", None)
    assert low["percentile_rank"] == pytest.approx(100 * 0.5 / 7)
    assert high["percentile_rank"] == pytest.approx(100 * 6.5 / 7)
    assert low["ci_low"] < results[0]["measures"]["attainment8"] < low["ci_high"]
    assert summary["schools"] == 7


def test_significance_needs_the_whole_interval_on_one_side():
    assert engine.significance((1.0, 2.0), 0.5) == ("above", "green")
    assert engine.significance((0.5, 2.0), 0.5) == ("not significant", None)  # touching: not significant
    assert engine.significance((-2.0, -0.1), 0.0) == ("below", "red")
    assert engine.significance(None, 0.0) == ("not significant", None)


def test_published_national_figures_come_with_their_source(cat, kernel):
    summary, results = _national(kernel, [syn.cohort(school(cat, 8))])
    comparisons = engine.compare(results[0], summary, national.figures(4, 2020))
    assert comparisons["national"]["attainment8"]["value"] == 50.2
    assert "DfE" in comparisons["national"]["attainment8"]["source"]
    assert comparisons["subjects"]["Mathematics"]["national"]["grade_4_or_above"]["value"] == 77.1


def test_a_loaded_national_figure_replaces_the_packaged_one():
    loaded = national.parse("key_stage,year,measure,group,subject,value,unit,source\n"
                            "4,2020,attainment8,,,51.0,points,Operator's table\n")
    figures = national.figures(4, 2020, loaded)
    assert figures[(4, 2020, "attainment8", "", "")]["value"] == 51.0


@pytest.mark.parametrize("line,problem", [
    ("9,2020,attainment8,,,50,points,src", "key_stage"),
    ("4,20x0,attainment8,,,50,points,src", "year"),
    ("4,2020,Attainment 8,,,50,points,src", "measure"),
    ("4,2020,attainment8,gender:Other,,50,points,src", "group"),
    ("4,2020,attainment8,,,fifty,points,src", "value"),
    ("4,2020,english_maths_4,,,120,percent,src", "percent"),
    ("4,2020,attainment8,,,50,pts,src", "unit"),
    ("4,2020,attainment8,,,50,points,", "source"),
    ("4,2020,attainment8,,,50,points", "columns"),
])
def test_a_bad_national_figures_line_is_named(line, problem):
    with pytest.raises(national.NationalFileError) as caught:
        national.parse("key_stage,year,measure,group,subject,value,unit,source\n" + line + "\n")
    ((number, message),) = caught.value.problems
    assert number == 2 and problem in message


def test_the_packaged_national_figures_parse():
    rows = national.packaged()
    assert {(r["key_stage"], r["year"]) for r in rows} >= {(4, 2019), (4, 2020), (5, 2019), (5, 2021)}
    assert all(r["source"] for r in rows)


# --------------------------------------------------------------------------- the hook


class Entries(Measure):
    id = "my_plugin.entries"
    key_stage = 4
    title = "Entries"
    indicators = (Indicator("entries_per_pupil", "Entries per pupil", "mean", pupil_key="entries"),)

    def pupil(self, pupil, context):
        return {"entries": len(pupil.results)}


def test_a_third_party_measure_joins_the_report(cat, kernel):
    measures = MeasureSet(4, list(kernel.measures(4).measures) + [Entries()])
    result = engine.analyse_cohort(syn.cohort(school(cat, 3)), measures)
    assert result["measures"]["entries_per_pupil"] == 1
    assert "my_plugin.entries@1" in result["rules_version"]


def test_the_registry_refuses_a_measure_named_for_another_plugin_or_key_stage():
    with pytest.raises(ContributionError, match="must look like"):
        MeasureRegistry("other", {}, 4).add(Entries())
    with pytest.raises(ContributionError, match="key stage 4"):
        MeasureRegistry("my_plugin", {}, 5).add(Entries())
    with pytest.raises(ContributionError, match="not a frs.measures.Measure"):
        MeasureRegistry("my_plugin", {}, 4).add(object())


def test_the_built_in_and_example_measures_are_registered_through_the_hook(kernel):
    assert {m.id for m in kernel.measures(4).measures} == {"ks4_measures.attainment8", "ks4_measures.progress8"}
    assert {m.plugin for m in kernel.measures(5).measures} == {"ks5_measures"}
    assert {m.id for m in kernel.measures(2).measures} == {"ks2.expected_standard"}


def test_an_indicator_needs_what_it_summarises():
    with pytest.raises(ValueError):
        Indicator("x", "X", "mean")
    with pytest.raises(ValueError):
        Indicator("x", "X", "ratio", pupil_key="a")
    with pytest.raises(ValueError):
        Indicator("x", "X", "median", pupil_key="a")


def test_a_percentage_interval_stays_between_0_and_100():
    national = {"mean": 50.0, "sd": 50.0}
    low, high = engine.interval(engine.PERCENT, 98.0, 6, national)
    assert 0.0 < low < 98.0 and high == 100.0
    low, high = engine.interval(engine.PERCENT, 2.0, 6, national)
    assert low == 0.0 and 2.0 < high < 100.0
