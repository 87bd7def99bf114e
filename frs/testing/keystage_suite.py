"""The key-stage conformance suite: the standard tests every key-stage plugin should pass.

:func:`get_keystage_test_class` turns a key stage into a pytest test class (the singer-sdk
``get_tap_test_class`` pattern). Each check is one test method named ``test_<check>``; a plugin
that cannot meet a check bypasses it *with a reason* (Airbyte's ``bypass_reason``), and the
reason is shown as the skip message. Checks (see :data:`CHECKS`):

- ``plugin_loads``: the plugins under test load and contribute the key stage;
- ``metadata``: id, code, title, key stage, NC year and description are set, the code survives
  the template's version tag, every plugin column has help and every rule a description;
- ``columns``: column ids and headers are unique and non-blank, header values name real header
  rows, and each column's "Valid Results" header cell says what its value set accepts;
- ``values``: each value set accepts its own examples and dropdown entries;
- ``template_round_trip``: the generated workbook reads back with the same tag, header rows,
  column headers and pupils, and the kernel reads it as an untouched template;
- ``dropdowns``: each column's dropdown lists exactly its valid results; a column without a
  dropdown but with an Excel validation has that validation;
- ``valid_fixture``: a filled template (the kit's, or the author's) gives no errors;
- ``invalid_fixture``: the author's invalid fixture gives exactly the expected
  ``(code, row, column)`` issues, including at least one of the plugin's own codes;
- ``rule_codes``: rule codes are ``<plugin>.kebab-case``, unique, and every result column is
  checked by a :class:`~frs.keystage.ResultsRule`;
- ``blank_template``: a template with no pupils validates without crashing (``template.no-pupils``);
- ``odd_values``: numbers, dates, booleans, long and non-ASCII text in every result cell make no
  rule crash, and every issue is located inside the sheet with a code its rule declares.
"""

from __future__ import annotations

import csv
import datetime as dt
import inspect
import io
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping

import pytest

from ..config import Round
from ..issues import Report, column_index, column_letter
from ..keystage import ResultsRule, Rule, ValueSet, cell_text
from ..registry import CODE_RE
from .harness import (BLANK_SOURCE, KitContext, PluginsSpec, describe_issues, issue_keys, make_kernel,
                      plugin_objects)

#: every check the suite runs, with what it is for; these are the names ``bypass`` accepts
CHECKS: dict[str, str] = {
    "plugin_loads": "the plugins under test load and contribute the key stage",
    "metadata": "key stage, columns and rules describe themselves",
    "columns": "column ids and headers are unique and the header rows are consistent",
    "values": "each value set accepts its own examples and dropdown entries",
    "template_round_trip": "the generated template reads back as written",
    "dropdowns": "each dropdown lists exactly the valid results",
    "valid_fixture": "a correctly filled template gives no errors",
    "invalid_fixture": "a wrongly filled template gives exactly the expected issues",
    "rule_codes": "rule codes are namespaced, unique, and every result column is checked",
    "blank_template": "a template with no pupils validates without crashing",
    "odd_values": "odd cell values crash no rule and every issue is located in the sheet",
}
#: the kernel's own issue namespaces, which a plugin's rules may not use
KERNEL_NAMESPACES = ("upload", "template", "pupil", "cell")

Edit = Callable[[Any, KitContext], None]
Fixture = Edit | str | Path | bytes | None
Expected = Iterable[tuple[str, int | None, str | None]] | str | Path | Callable[[KitContext], Iterable[tuple]]


@dataclass(frozen=True)
class SuiteConfig:
    """How the suite runs for one plugin.

    Args:
        year: exam year of the synthetic collection round (default: this year).
        rounds: real rounds to use instead (e.g. ``frs.config.load().rounds``).
        settings: ``{plugin: {key: value}}``, as the ``[plugins.<name>]`` tables of config.
        pupils: how many made-up pupils the templates hold (more when there are many columns,
            so that every result column gets results).
        per_pupil: results typed per pupil when the kit fills a template.
        seed: seed of the made-up pupils and results.
        bypass: ``{check: reason}`` for checks this plugin cannot meet; every reason must say
            why (it is printed as the skip message).
    """

    year: int | None = None
    rounds: tuple[Round, ...] = ()
    settings: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    pupils: int = 8
    per_pupil: int = 4
    seed: int = 1
    bypass: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name, reason in self.bypass.items():
            if name not in CHECKS:
                raise ValueError(f"bypass names unknown check {name!r}; the checks are: {', '.join(CHECKS)}")
            if not isinstance(reason, str) or not reason.strip():
                raise ValueError(f"bypass of check {name!r} has no reason: say why the plugin cannot meet "
                                 f"it, e.g. bypass={{{name!r}: 'no dropdowns: scores are typed'}}")


@dataclass(frozen=True)
class KitSpec:
    """Everything the factory was given, resolved."""

    keystage_id: str
    plugins: PluginsSpec
    config: SuiteConfig
    valid_fixture: Fixture
    invalid_fixture: Fixture
    expected_issues: Expected | None
    base_dir: Path


def get_keystage_test_class(keystage_id: str, *, plugins: PluginsSpec | None = None,
                            config: SuiteConfig | None = None, valid_fixture: Fixture = None,
                            invalid_fixture: Fixture = None, expected_issues: Expected | None = None,
                            bypass: Mapping[str, str] | None = None, name: str | None = None) -> type:
    """A pytest test class running the conformance suite on one key stage.

    Assign it to a module-level name starting with ``Test`` in a test module::

        from frs.testing import get_keystage_test_class

        TestKS2 = get_keystage_test_class("ks2", invalid_fixture=plant_mistakes, expected_issues=EXPECTED)

    Args:
        keystage_id: the key stage to test (``KeyStage.id``).
        plugins: the plugins to enable: installed plugin names (default ``[keystage_id]``), or
            ``{name: module}`` to register plugin objects in-process.
        config: a :class:`SuiteConfig`.
        valid_fixture: how to get a correctly filled workbook. ``None``: the kit fills a template
            with each column's ``ValueSet.examples()``. A callable ``edit(worksheet, ctx)`` is
            applied to that filled template (openpyxl). A path (relative to the calling test
            module) or bytes: an ``.xlsx`` of your own, made from the kit's template.
        invalid_fixture: the same forms; a callable edits the *valid* workbook to plant mistakes.
        expected_issues: what the invalid fixture must produce, exactly: ``(code, row, column)``
            tuples (Excel row number, column letter, None where the issue has none), a CSV path
            with columns ``code,row,column``, or a callable ``(ctx) -> tuples``.
        bypass: ``{check: reason}``, merged into ``config.bypass``.
        name: the class name (default ``Test<KEYSTAGE_ID>Conformance``).

    Returns:
        A test class; one test method per check in :data:`CHECKS`.
    """
    config = config or SuiteConfig()
    if bypass:
        config = SuiteConfig(**{**config.__dict__, "bypass": {**config.bypass, **bypass}})
    if (invalid_fixture is None) != (expected_issues is None):
        raise ValueError("give invalid_fixture and expected_issues together: the kit checks that the invalid "
                         "fixture produces exactly the expected issues")
    caller = Path(inspect.stack()[1].filename).resolve().parent
    spec = KitSpec(keystage_id=keystage_id, plugins=plugins if plugins is not None else [keystage_id],
                   config=config, valid_fixture=valid_fixture, invalid_fixture=invalid_fixture,
                   expected_issues=expected_issues, base_dir=caller)
    class_name = name or f"Test{keystage_id.upper()}Conformance"
    return type(class_name, (KeyStageTests,), {"kit_spec": spec, "__test__": True,
                                                "__doc__": f"frs conformance suite for key stage {keystage_id!r}."})


# --------------------------------------------------------------------------- one run of the suite


class KitRun:
    """The kernel and workbooks one test class shares (built once per class)."""

    def __init__(self, spec: KitSpec):
        self.spec = spec
        cfg = spec.config
        self.kernel = make_kernel(spec.plugins, year=cfg.year, rounds=cfg.rounds, settings=cfg.settings)
        self.plugin_names = set(plugin_objects(spec.plugins))

    def load_problem(self) -> str | None:
        """Why the key stage cannot be tested, or None."""
        failed = [f"plugin {info.name!r} {info.error}" for name in sorted(self.plugin_names)
                  if (info := self.kernel.plugins.get(name)) is not None and info.status != "enabled"]
        if failed:
            return "; ".join(failed)
        if self.spec.keystage_id not in self.kernel.keystages:
            known = ", ".join(sorted(self.kernel.keystages)) or "none"
            return (f"no plugin contributed key stage {self.spec.keystage_id!r} (key stages found: {known}); "
                    f"check register_keystages in plugin(s) {', '.join(sorted(self.plugin_names))}")
        return None

    @cached_property
    def ctx(self) -> KitContext:
        problem = self.load_problem()
        if problem:
            pytest.fail(problem, pytrace=False)
        cfg = self.spec.config
        return KitContext(self.kernel, self.kernel.keystage(self.spec.keystage_id), pupil_count=cfg.pupils,
                          per_pupil=cfg.per_pupil, seed=cfg.seed)

    @property
    def owned(self) -> set[str]:
        """Plugins whose columns and rules the suite holds to account."""
        return self.plugin_names | {self.ctx.keystage.plugin}

    def own_rules(self) -> list[Rule]:
        return [r for r in self.kernel.rules(self.ctx.keystage) if r.plugin in self.owned]

    def workbook(self, fixture: Fixture, base: bytes | None) -> bytes:
        if isinstance(fixture, bytes):
            return fixture
        if isinstance(fixture, (str, Path)):
            return self.path(fixture).read_bytes()
        if base is None:
            return self.ctx.filled(fixture)
        return self.ctx.edited(base, fixture)

    def path(self, value: str | Path) -> Path:
        path = Path(value)
        return path if path.is_absolute() else self.spec.base_dir / path

    @cached_property
    def valid_data(self) -> bytes:
        return self.workbook(self.spec.valid_fixture, None)

    @cached_property
    def valid_report(self) -> Report:
        return self.ctx.validate(self.valid_data)

    def expected(self) -> set[tuple[str, int | None, str | None]]:
        given = self.spec.expected_issues
        if callable(given):
            given = given(self.ctx)
        elif isinstance(given, (str, Path)):
            with self.path(given).open(newline="", encoding="utf-8") as handle:
                given = [(r["code"], r.get("row") or None, r.get("column") or None) for r in csv.DictReader(handle)]
        return {(code, int(row) if row not in (None, "") else None, column or None) for code, row, column in given}


# --------------------------------------------------------------------------- the tests


class KeyStageTests:
    """The standard tests; :func:`get_keystage_test_class` makes a concrete subclass."""

    __test__ = False  # only the generated subclasses are collected
    kit_spec: KitSpec

    @pytest.fixture(scope="class")
    @classmethod
    def frs_kit(cls) -> KitRun:
        return KitRun(cls.kit_spec)

    def check(self, name: str) -> None:
        reason = self.kit_spec.config.bypass.get(name)
        if reason:
            pytest.skip(f"{name} bypassed by the plugin's SuiteConfig: {reason}")

    # ------------------------------------------------------------------ plugins and metadata

    def test_plugin_loads(self, frs_kit: KitRun) -> None:
        self.check("plugin_loads")
        problem = frs_kit.load_problem()
        assert problem is None, problem
        keystage = frs_kit.ctx.keystage
        assert keystage.plugin in frs_kit.plugin_names, (
            f"key stage {keystage.id!r} comes from plugin {keystage.plugin!r}, not from the plugins under test "
            f"({', '.join(sorted(frs_kit.plugin_names))})")

    def test_metadata(self, frs_kit: KitRun) -> None:
        self.check("metadata")
        from ..validation.engine import TAG_RE

        ctx = frs_kit.ctx
        ks = ctx.keystage
        problems = [f"KeyStage.{attr} is empty" for attr in ("id", "code", "title", "description")
                    if not str(getattr(ks, attr) or "").strip()]
        for attr in ("key_stage", "nc_year"):
            value = getattr(ks, attr)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                problems.append(f"KeyStage.{attr} must be a positive whole number, not {value!r}")
        match = TAG_RE.match(ks.version_tag(ctx.year))
        if not match or match.group(1) != ks.code:
            problems.append(f"KeyStage.code {ks.code!r} cannot be read back from the version tag "
                            f"{ks.version_tag(ctx.year)!r}: use letters and digits, no spaces")
        keys = [h.key for h in ks.header_rows]
        problems += [f"header row key {k!r} is used twice" for k in sorted({k for k in keys if keys.count(k) > 1})]
        problems += [f"header row {h.key!r} has no label" for h in ks.header_rows if not h.label.strip()]
        if ks.filename_pattern:
            try:
                name = ks.expected_filename(ctx.year, ctx.school.dfe)
            except (KeyError, IndexError, ValueError) as exc:
                problems.append(f"filename_pattern {ks.filename_pattern!r} does not format: {exc!r} (fields: "
                                "{year}, {dfe}, {code}, {key_stage})")
            else:
                if not name.lower().endswith(".xlsx"):
                    problems.append(f"filename_pattern gives {name!r}, which is not an .xlsx name")
        for column in ctx.columns:
            if column.plugin not in frs_kit.owned:
                continue
            if not column.help.strip():
                problems.append(f"column {column.id!r} has no help text (shown on the guidance sheet)")
            if column.kind == "result" and not isinstance(column.values, ValueSet):
                problems.append(f"result column {column.id!r} has no ValueSet: nothing says what it accepts")
            elif column.values is not None and not column.values.describe().strip():
                problems.append(f"column {column.id!r}: its ValueSet.describe() is empty")
        for rule in frs_kit.own_rules():
            if not (rule.description or "").strip():
                problems.append(f"rule {type(rule).__name__} ({', '.join(rule.all_codes())}) has no description")
        assert not problems, "metadata problems:\n  " + "\n  ".join(problems)

    def test_columns(self, frs_kit: KitRun) -> None:
        self.check("columns")
        ctx = frs_kit.ctx
        problems = []
        for attr in ("id", "header"):
            values = [getattr(c, attr) for c in ctx.columns]
            for value in sorted({v for v in values if values.count(v) > 1}):
                owners = sorted({c.plugin for c in ctx.columns if getattr(c, attr) == value})
                problems.append(f"column {attr} {value!r} is used more than once (plugins: {', '.join(owners)})")
        keys = {h.key for h in ctx.keystage.header_rows}
        for column in ctx.columns:
            if not column.header.strip():
                problems.append(f"column {column.id!r} has a blank header")
            if column.kind not in ("pupil", "result"):
                problems.append(f"column {column.id!r} has kind {column.kind!r}; use 'pupil' or 'result'")
            unknown = sorted(set(column.header_values) - keys)
            if unknown:
                problems.append(f"column {column.id!r} has header values for {unknown}, which are not header rows "
                                f"of the key stage ({sorted(keys)}): they would never be written")
            if column.kind == "result" and column.values is not None and "valid_results" in keys:
                shown, accepted = column.header_values.get("valid_results"), column.values.describe()
                if shown != accepted:
                    problems.append(f"column {column.id!r}: its Valid Results header reads {shown!r} but its values "
                                    f"describe themselves as {accepted!r} (the template's highlights read this cell)")
        assert not problems, "column problems:\n  " + "\n  ".join(problems)

    def test_values(self, frs_kit: KitRun) -> None:
        self.check("values")
        problems = []
        seen: set[int] = set()
        for column in frs_kit.ctx.columns:
            values = column.values
            if values is None or id(values) in seen:
                continue
            seen.add(id(values))
            examples = values.examples()
            if column.kind == "result" and not examples:
                problems.append(f"column {column.id!r}: ValueSet.examples() is empty, so no template can be "
                                "filled in for it; override examples() when there is no dropdown")
            for example in examples:
                if values.normalise(example) is None:
                    problems.append(f"column {column.id!r}: its own example {example!r} is rejected by normalise()")
            for entry in values.dropdown() or []:
                if values.normalise(entry) != entry:
                    problems.append(f"column {column.id!r}: dropdown entry {entry!r} normalises to "
                                    f"{values.normalise(entry)!r}, not to itself")
        assert not problems, "value set problems:\n  " + "\n  ".join(problems)

    # ------------------------------------------------------------------ the workbook

    def test_template_round_trip(self, frs_kit: KitRun) -> None:
        self.check("template_round_trip")
        import openpyxl

        from ..keystage import label_column

        ctx = frs_kit.ctx
        ks = ctx.keystage
        data = ctx.template()
        book = openpyxl.load_workbook(io.BytesIO(data))
        assert ks.sheet_name in book.sheetnames, f"the template has no {ks.sheet_name!r} sheet: {book.sheetnames}"
        sheet = book[ks.sheet_name]
        assert cell_text(sheet["A1"].value) == ks.version_tag(ctx.year)
        label_at = label_column(ctx.columns) + 1
        for r, header_row in enumerate(ks.header_rows, start=1):
            assert cell_text(sheet.cell(r, label_at).value) == header_row.label, f"row {r} label"
            for i, column in enumerate(ctx.columns, start=1):
                if header_row.key in column.header_values:
                    got = cell_text(sheet.cell(r, i).value)
                    assert got == cell_text(column.header_values[header_row.key]), (
                        f"{header_row.label} of {column.id!r} (cell {column_letter(i - 1)}{r}) reads {got!r}")
        headers = [cell_text(sheet.cell(ks.column_header_row, i).value) for i in range(1, len(ctx.columns) + 1)]
        assert headers == [c.header for c in ctx.columns]
        upn_at = ctx.columns.index(next(c for c in ctx.columns if c.id == "upn")) + 1
        upns = [cell_text(sheet.cell(ctx.row(n), upn_at).value) for n in range(len(ctx.pupils))]
        assert upns == [p.upn for p in ctx.pupils]
        # the kernel reads its own untouched template as exactly that
        report = ctx.validate(data)
        assert {i.code for i in report.issues} == {"template.no-results"}, describe_issues(report.issues)

    def test_dropdowns(self, frs_kit: KitRun) -> None:
        self.check("dropdowns")
        from ..workbook.inspect import dropdown_values, read_data_validations

        ctx = frs_kit.ctx
        data = ctx.template()
        by_column: dict[str, list[str]] = {}
        first_cell: dict[str, str] = {}  # a rule over several columns is written for its first cell
        for sqref, formula in read_data_validations(data, ctx.sheet_name):
            for letter in _columns_of(sqref):
                by_column.setdefault(letter, []).append(formula)
                first_cell[letter] = sqref.split()[0].split(":")[0].replace("$", "")
        problems = []
        for column in ctx.columns:
            if column.values is None:
                continue
            letter = ctx.letter(column.id)
            found = by_column.get(letter, [])
            wanted = column.values.dropdown()
            validation = column.values.excel_validation(
                first_cell.get(letter, f"{letter}{ctx.keystage.first_pupil_row}"))
            if wanted is not None:
                if len(found) != 1:
                    problems.append(f"column {letter} ({column.id}) should have one dropdown, has {len(found)}")
                elif dropdown_values(found[0], data) != list(wanted):
                    problems.append(f"column {letter} ({column.id}) dropdown lists {dropdown_values(found[0], data)}, "
                                    f"not its valid results {list(wanted)}")
            elif validation is not None:
                if not found:
                    problems.append(f"column {letter} ({column.id}) has no data validation, though its ValueSet "
                                    f"gives one ({validation.get('validate')})")
                elif validation.get("validate") == "custom" and found[0] != str(validation.get("value", "")).lstrip("="):
                    problems.append(f"column {letter} ({column.id}) validation formula is {found[0]!r}, not the "
                                    f"ValueSet's {validation.get('value')!r}")
        assert not problems, "dropdown problems:\n  " + "\n  ".join(problems)

    # ------------------------------------------------------------------ validation

    def test_valid_fixture(self, frs_kit: KitRun) -> None:
        self.check("valid_fixture")
        ctx = frs_kit.ctx
        report = frs_kit.valid_report
        assert report.keystage == ctx.keystage.id, describe_issues(report.issues)
        assert not report.errors, "the valid fixture has errors:\n" + describe_issues(report.errors)
        assert report.pupils > 0, "the valid fixture holds no pupils"
        filled = _filled_columns(frs_kit)
        empty = [c.id for c in ctx.result_columns if c.values is not None and c.id not in filled]
        if frs_kit.spec.valid_fixture is None or callable(frs_kit.spec.valid_fixture):
            assert not empty, f"the kit's filled template has no results in {empty}"

    def test_invalid_fixture(self, frs_kit: KitRun) -> None:
        self.check("invalid_fixture")
        spec = frs_kit.spec
        if spec.invalid_fixture is None:
            pytest.fail("no invalid fixture: pass invalid_fixture= and expected_issues= (a workbook with planted "
                        "mistakes and the exact (code, row, column) issues it must give), or "
                        "bypass={'invalid_fixture': 'why'}", pytrace=False)
        ctx = frs_kit.ctx
        report = ctx.validate(frs_kit.workbook(spec.invalid_fixture, frs_kit.valid_data))
        expected, actual = frs_kit.expected(), issue_keys(report)
        missing = sorted(expected - actual, key=_key_order)
        unexpected = [i for i in report.issues if (i.code, i.row, i.column) not in expected]
        assert not missing and not unexpected, (
            "the invalid fixture's issues differ from expected_issues.\n"
            f"expected but not reported: {missing or 'none'}\n"
            f"reported but not expected:\n{describe_issues(unexpected)}")
        own = [code for code, _, _ in expected if code.split(".")[0] in frs_kit.owned]
        assert own, ("expected_issues holds none of the plugin's own codes: plant at least one mistake that the "
                     "plugin's rules catch")
        _assert_provenance(frs_kit, report)

    def test_rule_codes(self, frs_kit: KitRun) -> None:
        self.check("rule_codes")
        problem = frs_kit.load_problem()
        assert problem is None, f"the kernel refused the plugin: {problem}"
        ctx = frs_kit.ctx
        problems = []
        owners: dict[str, list[str]] = {}
        for rule in frs_kit.kernel.rules(ctx.keystage):
            for code in rule.all_codes():
                owners.setdefault(code, []).append(f"{rule.plugin}:{type(rule).__name__}")
        for rule in frs_kit.own_rules():
            codes = rule.all_codes()
            if not any(codes):
                problems.append(f"rule {type(rule).__name__} declares no code")
            for code in codes:
                if not CODE_RE.match(code or ""):
                    problems.append(f"rule code {code!r} is not '<plugin>.kebab-case'")
                elif not code.startswith(rule.plugin + ".") or code.split(".")[0] in KERNEL_NAMESPACES:
                    problems.append(f"rule code {code!r} must start with '{rule.plugin}.'")
                if len(owners.get(code, [])) > 1:
                    problems.append(f"rule code {code!r} is declared by {', '.join(owners[code])}")
        checked = set()
        for rule in frs_kit.kernel.rules(ctx.keystage):
            if isinstance(rule, ResultsRule):
                checked |= rule.owners or {rule.plugin}
        unchecked = [c.id for c in ctx.result_columns if c.values is not None and c.plugin not in checked]
        if unchecked:
            problems.append(f"no ResultsRule checks the result columns of plugin(s) "
                            f"{sorted({c.plugin for c in ctx.result_columns if c.id in unchecked})} "
                            f"(e.g. {unchecked[0]!r}): register ResultsRule('<plugin>.invalid-result')")
        assert not problems, "rule code problems:\n  " + "\n  ".join(problems)

    def test_blank_template(self, frs_kit: KitRun) -> None:
        self.check("blank_template")
        ctx = frs_kit.ctx
        pupils = frs_kit.kernel.sources[BLANK_SOURCE].fetch_cohort(ctx.school, ctx.keystage.nc_year)
        report = ctx.validate(ctx.template(pupils))
        assert {i.code for i in report.issues} == {"template.no-pupils"}, describe_issues(report.issues)

    def test_odd_values(self, frs_kit: KitRun) -> None:
        self.check("odd_values")
        ctx = frs_kit.ctx
        letters = [ctx.letter(c.id) for c in ctx.result_columns]

        def odd(sheet, ctx):
            for n in range(len(ctx.pupils)):
                for k, letter in enumerate(letters):
                    sheet[f"{letter}{ctx.row(n)}"] = ODD_VALUES[(n + k) % len(ODD_VALUES)]

        report = ctx.validate(ctx.edited(frs_kit.valid_data, odd))
        crashed = [i for i in report.issues if i.code == "template.rule-failed"]
        assert not crashed, "rules crashed on odd values:\n" + describe_issues(crashed)
        assert report.keystage == ctx.keystage.id, describe_issues(report.issues)
        last_row = ctx.row(len(ctx.pupils) - 1)
        outside = [i for i in report.issues if i.plugin in frs_kit.owned and (
            i.row is not None and not ctx.keystage.first_pupil_row <= i.row <= last_row
            or i.column is not None and column_index(i.column) >= len(ctx.columns))]
        assert not outside, "issues located outside the pupil rows and template columns:\n" + describe_issues(outside)
        _assert_provenance(frs_kit, report)


# (no text starting with "=": openpyxl would write it as a formula, which a school's typing never is)
ODD_VALUES: tuple[Any, ...] = (-1, 0, 3.5, 1e15, True, "  x  ", "Zoë", "?" * 300, "None", "+1",
                               dt.datetime(2021, 6, 5), "1/2", "٣")


def _assert_provenance(frs_kit: KitRun, report: Report) -> None:
    """Issues with a plugin's codes carry that plugin's name and a code one of its rules declares."""
    declared = {code for rule in frs_kit.own_rules() for code in rule.all_codes()}
    wrong = [i for i in report.issues if i.code.split(".")[0] in frs_kit.owned
             and (i.code not in declared or i.plugin != i.code.split(".")[0])]
    assert not wrong, ("issues whose code no rule declares (list every code in Rule.codes) or whose plugin is "
                       "not the code's owner:\n" + describe_issues(wrong))


def _filled_columns(frs_kit: KitRun) -> set[str]:
    return {column for record in frs_kit.valid_report.records for column in record["results"]}


def _columns_of(sqref: str) -> list[str]:
    """Column letters covered by a validation's ``sqref`` ("L4:M503 O4:O503" -> L, M, O)."""
    letters = []
    for part in sqref.split():
        first, _, last = part.partition(":")
        start = column_index(first.rstrip("0123456789").lstrip("$"))
        end = column_index((last or first).rstrip("0123456789").lstrip("$"))
        letters += [column_letter(i) for i in range(start, end + 1)]
    return letters


def _key_order(key: tuple[str, int | None, str | None]) -> tuple:
    code, row, column = key
    return (row or 0, column or "", code)


__all__ = ["CHECKS", "SuiteConfig", "KitSpec", "KitRun", "KeyStageTests", "get_keystage_test_class"]
