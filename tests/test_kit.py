"""The conformance kit catches what it promises to catch.

A small in-process key-stage plugin ("toy") passes every check; each broken variant of it fails
exactly the check meant for its fault. The tests call the generated test methods directly
(``outcome``), and one run through pytester shows the opt-in pytest plugin end to end.
"""

from __future__ import annotations

import types

import pytest

from frs import hookimpl
from frs.issues import Issue
from frs.keystage import Choices, Column, HeaderRow, KeyStage, ResultsRule, Rule, cell_text
from frs.testing import CHECKS, SuiteConfig, get_keystage_test_class, make_kernel
from frs.testing.keystage_suite import KitRun

pytest_plugins = ["pytester"]

GRADES = Choices(["P", "M", "D"], hints={"PASS": "P"})


class EveryRowRule(Rule):
    """A toy cross-column rule: flags an "X" typed in the first result column."""

    code = "toy.x-typed"
    description = "No X in Alpha."

    def check(self, table):
        for row, value in enumerate(table.column_values("toy.alpha")):
            if cell_text(value) == "X":
                yield self.issue(table, row, "toy.alpha", "No X here.")


def toy_plugin(*, keystage=None, columns=None, rules=None) -> types.ModuleType:
    """A key-stage plugin module; each argument replaces one of its contributions."""
    module = types.ModuleType("toy_plugin")
    ks = keystage or KeyStage(id="toy", code="TOY", key_stage=3, nc_year=9, title="Toy awards",
                              header_rows=(HeaderRow("valid_results", "Valid Results"),),
                              description="A toy key stage for the kit's own tests.")
    cols = columns if columns is not None else [
        Column("toy.alpha", "Alpha", values=GRADES, help="Alpha award.",
               header_values={"valid_results": GRADES.describe()}),
        Column("toy.beta", "Beta", values=GRADES, help="Beta award.",
               header_values={"valid_results": GRADES.describe()}),
    ]
    rule_list = rules if rules is not None else [ResultsRule("toy.invalid-result"), EveryRowRule()]

    @hookimpl
    def register_keystages(registry):
        registry.add(ks)

    @hookimpl
    def register_template_columns(registry, keystage):
        if keystage.id == ks.id:
            for column in cols:
                registry.add(column)

    @hookimpl
    def register_rules(registry, keystage):
        if keystage.id == ks.id:
            for rule in rule_list:
                registry.add(rule)

    module.register_keystages = register_keystages
    module.register_template_columns = register_template_columns
    module.register_rules = register_rules
    return module


def plant(sheet, ctx):
    sheet[ctx.cell("toy.alpha", 0)] = "X"
    sheet[ctx.cell("toy.beta", 1)] = "Pass"


# one header row, column headers in row 2: the first pupil is in row 3
EXPECTED = {("toy.x-typed", 3, "L"), ("toy.invalid-result", 3, "L"), ("toy.invalid-result", 4, "M")}


def toy_class(module=None, **kwargs):
    kwargs.setdefault("invalid_fixture", plant)
    kwargs.setdefault("expected_issues", EXPECTED)
    kwargs.setdefault("config", SuiteConfig(year=2021))
    return get_keystage_test_class("toy", plugins={"toy": module or toy_plugin()}, **kwargs)


def outcome(test_class, check: str) -> tuple[str, str]:
    """Run one check of a generated class: ("passed" | "failed" | "skipped", message)."""
    kit = KitRun(test_class.kit_spec)
    try:
        getattr(test_class(), f"test_{check}")(kit)
    except (AssertionError, pytest.fail.Exception) as exc:
        return "failed", str(exc)
    except pytest.skip.Exception as exc:
        return "skipped", str(exc)
    return "passed", ""


def failing(test_class) -> dict[str, str]:
    results = {check: outcome(test_class, check) for check in CHECKS}
    return {check: message for check, (status, message) in results.items() if status == "failed"}


# --------------------------------------------------------------------------- a good plugin passes


def test_a_conforming_plugin_passes_every_check():
    assert failing(toy_class()) == {}


def test_the_generated_class_is_collected_and_the_base_is_not():
    cls = toy_class(name="TestToyKit")
    assert cls.__name__ == "TestToyKit" and cls.__test__ is True
    assert [n for n in dir(cls) if n.startswith("test_")] == sorted(f"test_{c}" for c in CHECKS)
    assert cls.__mro__[1].__test__ is False


def test_kit_kernel_enables_only_the_plugins_under_test(monkeypatch):
    monkeypatch.setenv("FRS_LOAD_PLUGINS", "ks5_alevel")  # operators' overrides do not reach the kit
    kernel = make_kernel({"toy": toy_plugin()}, year=2021)
    assert sorted(kernel.keystages) == ["toy"]
    assert set(kernel.sources) == {"blank"}
    assert kernel.round_for(kernel.keystage("toy")).year == 2021


# --------------------------------------------------------------------------- each fault, its check


def test_missing_metadata_fails_the_metadata_check():
    no_help = Column("toy.alpha", "Alpha", values=GRADES, header_values={"valid_results": GRADES.describe()})

    class Undescribed(ResultsRule):
        description = ""

    module = toy_plugin(
        keystage=KeyStage(id="toy", code="TOY", key_stage=3, nc_year=9, title="Toy",
                          header_rows=(HeaderRow("valid_results", "Valid Results"),)),
        columns=[no_help], rules=[Undescribed("toy.invalid-result")])
    failed = failing(toy_class(module, bypass={"invalid_fixture": "toy variant without Beta"}))
    assert set(failed) == {"metadata"}
    assert "description is empty" in failed["metadata"]
    assert "'toy.alpha' has no help" in failed["metadata"]
    assert "Undescribed" in failed["metadata"]


def test_a_code_the_version_tag_cannot_carry_fails_the_metadata_check():
    module = toy_plugin(keystage=KeyStage(id="toy", code="TOY 1", key_stage=3, nc_year=9, title="Toy",
                                          description="Toy.", header_rows=(HeaderRow("valid_results", "Valid"),)))
    assert "metadata" in failing(toy_class(module))


def test_duplicate_headers_fail_the_columns_check():
    module = toy_plugin(columns=[
        Column("toy.alpha", "Alpha", values=GRADES, help="A.", header_values={"valid_results": GRADES.describe()}),
        Column("toy.beta", "Alpha", values=GRADES, help="B.", header_values={"valid_results": GRADES.describe()}),
    ])
    failed = failing(toy_class(module))
    assert "columns" in failed and "header 'Alpha' is used more than once" in failed["columns"]


def test_a_valid_results_header_that_disagrees_with_the_values_fails_the_columns_check():
    module = toy_plugin(columns=[
        Column("toy.alpha", "Alpha", values=GRADES, help="A.", header_values={"valid_results": "P, M"}),
        Column("toy.beta", "Beta", values=GRADES, help="B.", header_values={"valid_results": GRADES.describe()}),
    ])
    assert "columns" in failing(toy_class(module))


def test_examples_the_value_set_rejects_fail_the_values_check():
    class BadExamples(Choices):
        def examples(self):
            return ["P", "Q"]

    values = BadExamples(["P", "M", "D"])
    module = toy_plugin(columns=[Column("toy.alpha", "Alpha", values=values, help="A.",
                                        header_values={"valid_results": values.describe()})])
    failed = failing(toy_class(module, bypass={"invalid_fixture": "variant has one column"}))
    assert "values" in failed and "'Q'" in failed["values"]


def test_a_dropdown_that_lists_other_values_fails_the_dropdowns_check():
    class ShortList(Choices):
        def excel_validation(self, cell):
            return {"validate": "list", "source": ["P", "M"]}

    values = ShortList(["P", "M", "D"])
    module = toy_plugin(columns=[Column("toy.alpha", "Alpha", values=values, help="A.",
                                        header_values={"valid_results": values.describe()})])
    failed = failing(toy_class(module, bypass={"invalid_fixture": "variant has one column"}))
    assert set(failed) == {"dropdowns"}
    assert "['P', 'M']" in failed["dropdowns"]


def test_a_rule_that_rejects_good_results_fails_the_valid_fixture_check():
    class Grumpy(Rule):
        code = "toy.grumpy"
        description = "Rejects every pupil."

        def check(self, table):
            for row in range(len(table.rows)):
                yield self.issue(table, row, "toy.alpha", "No.")

    module = toy_plugin(rules=[ResultsRule("toy.invalid-result"), Grumpy()])
    failed = failing(toy_class(module, bypass={"invalid_fixture": "the rule under test flags every row"}))
    assert "valid_fixture" in failed and "toy.grumpy row 3 column L" in failed["valid_fixture"]


def test_an_invalid_fixture_must_give_exactly_the_expected_issues():
    expected = {("toy.x-typed", 3, "L"), ("toy.invalid-result", 5, "M")}
    failed = failing(toy_class(expected_issues=expected))
    assert set(failed) == {"invalid_fixture"}
    message = failed["invalid_fixture"]
    assert "('toy.invalid-result', 5, 'M')" in message          # expected, not reported
    assert "toy.invalid-result row 3 column L" in message        # reported, not expected
    assert "toy.invalid-result row 4 column M" in message


def test_an_invalid_fixture_must_exercise_the_plugins_own_rules():
    def only_kernel_mistakes(sheet, ctx):
        sheet[ctx.cell("gender", 0)] = "X"

    failed = failing(toy_class(invalid_fixture=only_kernel_mistakes,
                               expected_issues={("pupil.gender-invalid", 3, "K")}))
    assert "plugin's own codes" in failed["invalid_fixture"]


def test_a_missing_invalid_fixture_fails_unless_bypassed_with_a_reason():
    no_fixture = get_keystage_test_class("toy", plugins={"toy": toy_plugin()})
    status, message = outcome(no_fixture, "invalid_fixture")
    assert status == "failed" and "bypass" in message
    bypassed = get_keystage_test_class("toy", plugins={"toy": toy_plugin()},
                                       bypass={"invalid_fixture": "toy has no mistakes to plant"})
    assert outcome(bypassed, "invalid_fixture") == (
        "skipped", "invalid_fixture bypassed by the plugin's SuiteConfig: toy has no mistakes to plant")


def test_a_bypass_needs_a_reason_and_a_real_check_name():
    with pytest.raises(ValueError, match="no reason"):
        SuiteConfig(bypass={"dropdowns": " "})
    with pytest.raises(ValueError, match="unknown check 'dropdown'"):
        SuiteConfig(bypass={"dropdown": "typo"})
    with pytest.raises(ValueError, match="together"):
        get_keystage_test_class("toy", invalid_fixture=plant)


def test_a_rule_code_outside_the_plugins_namespace_is_reported_clearly():
    class Stray(EveryRowRule):
        code = "grades.x-typed"

    failed = failing(toy_class(toy_plugin(rules=[ResultsRule("toy.invalid-result"), Stray()])))
    assert "rule_codes" in failed
    assert "rule code 'grades.x-typed' must start with 'toy.'" in failed["rule_codes"]
    assert "plugin_loads" in failed  # the kernel refused the plugin, so nothing else can run


def test_result_columns_no_rule_checks_fail_the_rule_codes_check():
    failed = failing(toy_class(toy_plugin(rules=[EveryRowRule()]),
                               expected_issues={("toy.x-typed", 3, "L")},
                               invalid_fixture=lambda sheet, ctx: sheet.__setitem__(ctx.cell("toy.alpha", 0), "X")))
    assert set(failed) == {"rule_codes"} and "no ResultsRule" in failed["rule_codes"]


def test_a_rule_that_crashes_on_odd_values_fails_the_odd_values_check():
    class Fragile(Rule):
        code = "toy.fragile"
        description = "Assumes every value is text."

        def check(self, table):
            for value in table.column_values("toy.beta"):
                value.upper()  # a number or a date is not text
            return []

    failed = failing(toy_class(toy_plugin(rules=[ResultsRule("toy.invalid-result"), EveryRowRule(), Fragile()])))
    assert set(failed) == {"odd_values"} and "template.rule-failed" in failed["odd_values"]


def test_an_issue_code_no_rule_declares_fails():
    class Undeclared(EveryRowRule):
        def check(self, table):
            for issue in super().check(table):
                yield Issue(**{**issue.to_dict(), "code": "toy.surprise"})

    failed = failing(toy_class(toy_plugin(rules=[ResultsRule("toy.invalid-result"), Undeclared()]),
                               expected_issues={("toy.surprise", 3, "L"), *EXPECTED} - {("toy.x-typed", 3, "L")}))
    assert set(failed) == {"invalid_fixture"} and "no rule declares" in failed["invalid_fixture"]


# --------------------------------------------------------------------------- fixtures as files


def test_fixtures_and_expected_issues_may_be_files(tmp_path):
    good = toy_class()
    kit = KitRun(good.kit_spec)
    (tmp_path / "valid.xlsx").write_bytes(kit.valid_data)
    (tmp_path / "invalid.xlsx").write_bytes(kit.ctx.edited(kit.valid_data, plant))
    (tmp_path / "expected.csv").write_text(
        "code,row,column\ntoy.x-typed,3,L\ntoy.invalid-result,3,L\ntoy.invalid-result,4,M\n", encoding="utf-8")
    from_files = toy_class(valid_fixture=tmp_path / "valid.xlsx", invalid_fixture=str(tmp_path / "invalid.xlsx"),
                           expected_issues=tmp_path / "expected.csv")
    assert failing(from_files) == {}


# --------------------------------------------------------------------------- through pytest


def test_the_opt_in_pytest_plugin_runs_the_suite(pytester):
    pytester.makepyfile(test_ks2_kit="""
        from frs.testing import get_keystage_test_class, SuiteConfig

        pytest_plugins = ["frs.testing.pytest_plugin"]

        TestKS5 = get_keystage_test_class("ks5_alevel", config=SuiteConfig(year=2021),
                                          bypass={"invalid_fixture": "covered in test_kit_builtins"})

        def test_fixtures(frs_kernel_factory, frs_kit_context, frs_school):
            kernel = frs_kernel_factory(["ks5_alevel"], year=2021)
            ctx = frs_kit_context(kernel, "ks5_alevel", pupil_count=2)
            assert ctx.school == frs_school
            assert not ctx.validate(ctx.filled()).errors
    """)
    result = pytester.runpytest("-ra", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=len(CHECKS) - 1 + 1, skipped=1)
    result.stdout.fnmatch_lines(["SKIPPED*invalid_fixture bypassed by the plugin's SuiteConfig: covered in*"])
