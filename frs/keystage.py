"""Public building blocks a key-stage plugin contributes: key stages, columns, value sets, rules.

A plugin author needs only this module, :mod:`frs.issues` and :func:`frs.hookimpl`.
Everything here is a plain dataclass or a small base class; methods added later always get
a default, so plugins written against an older frs keep working.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Iterable, Iterator, Mapping, Sequence

from .hookspecs import hookimpl
from .issues import ERROR, Issue, column_letter
from .text import not_ascii_message

if TYPE_CHECKING:  # pragma: no cover
    from .config import Round


def cell_text(value: Any) -> str:
    """A cell value as the text a person typed: 9.0 -> "9", None -> "", " a " -> "a"."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float):
        if math.isfinite(value) and value == int(value):
            return str(int(value))
        return repr(value)
    return str(value).strip()


# --------------------------------------------------------------------------- value sets

#: the longest formula Excel accepts in a data validation rule
EXCEL_VALIDATION_LIMIT = 255


class ValueSet:
    """What a column accepts. Subclass for anything that is not a list of codes.

    ``normalise`` turns a raw cell value into the stored code, or returns None when the value
    is not acceptable. ``hint`` may suggest the right code for a near-miss.
    """

    #: what each code means, shown on the guidance sheet (``{"*2": "Level 2 Distinction*"}``)
    labels: Mapping[str, str] = {}
    #: typed near-miss (upper-case) -> the code to enter instead; shown as tips in the template
    hints: Mapping[str, str] = {}
    #: typed value (upper-case) -> what to do instead, when no single code replaces it
    advices: Mapping[str, str] = {}
    #: every accepted raw value (strings, numbers, '' and None) when the set is small and closed:
    #: lets a whole clean column be screened with one set difference. None: check cell by cell.
    fast: frozenset | None = None

    def describe(self) -> str:
        """One-line description for the guidance sheet and the "Valid Results" header row."""
        raise NotImplementedError

    def normalise(self, value: Any) -> str | None:
        raise NotImplementedError

    def hint(self, text: str) -> str | None:
        return self.hints.get(text.strip().upper())

    def advice(self, text: str) -> str | None:
        """A sentence saying what to do instead, for a typed value no single code replaces
        ("X" for absent: leave blank; "Pass" where both P1 and P2 exist). Asked after ``hint``."""
        return self.advices.get(text.strip().upper())

    def dropdown(self) -> list[str] | None:
        """Values for an in-cell dropdown list, or None for no list."""
        return None

    def examples(self) -> list[Any]:
        """Some valid values, as a school would type them (demo data and the conformance kit
        use these to fill templates). Override when there is no dropdown."""
        return list(self.dropdown() or [])

    def excel_validation(self, cell: str) -> dict[str, Any] | None:
        """An xlsxwriter ``data_validation`` dict for the column, or None.

        ``cell`` is the relative reference of the first pupil cell of the column (e.g. ``L4``):
        a ``custom`` formula is written for that cell and Excel shifts it down the column.
        Messages (``input_message``, ``error_message``...) given here are kept; the template
        writer fills in the rest.
        """
        values = self.dropdown()
        if values is None:
            return None
        return {"validate": "list", "source": values, "ignore_blank": True}

    def excel_invalid_formula(self, cell: str, valid_cell: str) -> str | None:
        """A worksheet formula, true when ``cell`` holds a value this set rejects.

        ``valid_cell`` is the absolute reference of this column's "Valid Results" header cell.
        Used for conditional formatting in the template, so mistakes show as they are typed.
        """
        return None


class Choices(ValueSet):
    """A closed list of result codes, matched case-insensitively.

    ``hints`` maps typed near-misses (upper-case) to the code to use instead, e.g. ``{"A+": "*"}``.
    ``aliases`` maps accepted alternative spellings to their code; they are normalised silently
    (``{"A*": "*"}``: boards print A* where DfE data writes ``*``).
    ``advice`` maps typed values (upper-case) that no single code replaces to a sentence saying
    what to do instead (``{"X": "leave the cell blank when there is no result."}``).
    ``marks`` lists characters a board may print after a grade without changing it: ``"#"``, the
    partial-absence mark, so ``5#`` is stored as ``5``.
    """

    def __init__(self, values: Sequence[str], hints: Mapping[str, str] | None = None,
                 aliases: Mapping[str, str] | None = None, labels: Mapping[str, str] | None = None,
                 advice: Mapping[str, str] | None = None, marks: str = ""):
        self.values = tuple(values)
        self.hints = {k.upper(): v for k, v in (hints or {}).items()}
        self.advices = {k.upper(): v for k, v in (advice or {}).items()}
        self.aliases = {k.upper(): v for k, v in (aliases or {}).items()}
        self.marks = marks
        #: what each code means, for the guidance sheet (``*2`` -> "Level 2 Distinction*")
        self.labels = dict(labels or {})
        self._lookup: dict[str, str] = {v.upper(): v for v in self.values}
        self._lookup.update(self.aliases)
        # a mixed-type set lets whole columns be screened with one set difference (perf-notes)
        self.fast: frozenset = frozenset(self._fast_members())

    def _fast_members(self) -> Iterator[Any]:
        yield from ("", None)
        for v in self.values:
            yield v
            try:
                number = float(v)
            except ValueError:
                continue
            if math.isfinite(number):
                yield number
                if number == int(number):
                    yield int(number)

    def describe(self) -> str:
        return ", ".join(self.values)

    def typed(self, value: Any) -> str:
        """What is looked up: the text upper-cased, without marks (``5#`` -> ``5``)."""
        text = cell_text(value).upper()
        for mark in self.marks:
            text = text.replace(mark, "").strip()
        return text

    def normalise(self, value: Any) -> str | None:
        return self._lookup.get(self.typed(value))

    def dropdown(self) -> list[str] | None:
        # A list refuses what is not in it, so a set that also takes aliases or marked grades
        # (A*, 5#, 6-5) has no list: its rule is a formula accepting what the upload accepts.
        return None if self.aliases or self.marks else list(self.values)

    def examples(self) -> list[Any]:
        return list(self.values)

    def excel_validation(self, cell: str) -> dict[str, Any] | None:
        if self.dropdown() is not None:
            return super().excel_validation(cell)
        # the accepted codes are written into the formula; Excel allows 255 characters, which
        # the template tests check for every built-in column
        accepted = ",".join([v.upper() for v in self.values] + self.formula_aliases())
        typed = self.excel_typed(cell)
        return {"validate": "custom", "ignore_blank": True,
                "value": (f'=OR(LEN(TRIM({cell}))=0,AND(ISERROR(FIND(",",{cell})),'
                          f'ISNUMBER(FIND(","&{typed}&",",",{accepted},"))))')}

    def formula_aliases(self) -> list[str]:
        """The aliases a sheet formula must list: those :meth:`excel_typed` does not already
        turn into a code (a Combined Science ``6-5`` loses its dash there)."""
        return sorted(k for k in self.aliases if self.typed(k) == k and "," not in k and '"' not in k)

    def excel_typed(self, cell: str) -> str:
        """A formula giving :meth:`typed` of ``cell``."""
        typed = f"UPPER(TRIM({cell}))"
        for mark in self.marks:
            typed = f'TRIM(SUBSTITUTE({typed},"{mark}",""))'
        return typed

    def excel_invalid_formula(self, cell: str, valid_cell: str) -> str:
        # FIND has no wildcards, so "*" is a literal grade; the list in the header row is the
        # single source, so a formula never disagrees with what the school sees above it.
        # a typed comma would match across two codes ("A,B" inside ",A,B,C,"), so it is a mistake
        typed = self.excel_typed(cell)
        known = f'ISERROR(FIND(","&{typed}&",",","&UPPER(SUBSTITUTE({valid_cell}," ",""))&","))'
        aliases = self.formula_aliases()
        if aliases:
            known = f'AND({known},ISERROR(FIND(","&{typed}&",",",{",".join(aliases)},")))'
        return f'AND(LEN(TRIM({cell}))>0,OR(ISNUMBER(FIND(",",{cell})),{known}))'


# --------------------------------------------------------------------------- columns


@dataclass(frozen=True)
class HeaderRow:
    """One row above the column headers (e.g. "Discount Code", "Valid Results").

    ``key`` names the entry in each column's ``header_values``; ``label`` is written in the
    last pupil column so schools can read the row.
    """

    key: str
    label: str


@dataclass(frozen=True)
class Column:
    """One template column.

    ``id`` is stable and unique within a template (``upn``, ``ks5_alevel.1010``); ``header``
    is the text in the column-header row. Result columns carry ``values`` (what they accept)
    and ``header_values`` for the header rows above (``{"discount_code": "1010"}``).
    ``plugin`` is filled in by the registry: who contributed the column.
    """

    id: str
    header: str
    kind: str = "result"  # "pupil" | "result"
    values: ValueSet | None = None
    header_values: Mapping[str, str] = field(default_factory=dict)
    help: str = ""
    width: float = 6.0
    text: bool = False
    required: bool = False
    meta: Mapping[str, Any] = field(default_factory=dict)
    plugin: str = ""


def label_column(columns: Sequence[Column]) -> int:
    """0-based index of the column holding the header-row labels: the last kernel pupil column.
    The template writer puts the labels there and the validator reads them from there."""
    return sum(1 for c in columns if c.plugin == "frs") - 1


# --------------------------------------------------------------------------- key stages


@dataclass(frozen=True)
class KeyStage:
    """A template kind: what a school downloads and uploads for one qualification family.

    ``id`` is what operators type (``--keystage ks5_alevel``) and names the rounds in config;
    ``code`` is the template code written into the file (``KS5A``).
    ``filename_pattern`` (optional) is enforced on upload; fields: ``{year}``, ``{dfe}``,
    ``{code}``, ``{key_stage}``.
    """

    id: str
    code: str
    key_stage: int
    nc_year: int
    title: str
    header_rows: tuple[HeaderRow, ...] = ()
    sheet_name: str = "Results"
    layout_version: int = 1
    filename_pattern: str | None = None
    description: str = ""
    plugin: str = ""

    @property
    def column_header_row(self) -> int:
        """Excel row number of the column headers: after the header rows (row 1 at least,
        since A1 always holds the version tag)."""
        return max(len(self.header_rows), 1) + 1

    @property
    def first_pupil_row(self) -> int:
        return self.column_header_row + 1

    def expected_filename(self, year: int, dfe: str) -> str | None:
        if not self.filename_pattern:
            return None
        return self.filename_pattern.format(year=year, dfe=dfe, code=self.code, key_stage=self.key_stage)

    def version_tag(self, year: int) -> str:
        """The text in cell A1 that identifies template kind, round and layout."""
        return f"FRS {self.code} {year} v{self.layout_version}"


# --------------------------------------------------------------------------- rules


@dataclass
class Table:
    """The school's sheet as read, with the positions a rule needs.

    ``rows`` holds pupil rows only (values as read); ``row_numbers[i]`` is the Excel row
    number of ``rows[i]``; ``index[column_id]`` is the 0-based sheet column of that column.
    """

    keystage: KeyStage
    columns: list[Column]
    rows: list[list[Any]]
    row_numbers: list[int]
    index: dict[str, int]
    sheet: str
    school_dfe: str
    round: "Round | None" = None
    #: True when the rows hold no booleans (frs's reader gives a boolean cell as the text "TRUE")
    no_booleans: bool = False

    _by_column: list[tuple[Any, ...]] | None = field(default=None, repr=False)

    def column_values(self, column_id: str) -> tuple[Any, ...]:
        """Every pupil's value in one column (rows are padded to the template width)."""
        if self._by_column is None:
            self._by_column = list(zip(*self.rows))  # one transpose serves every rule
        return self._by_column[self.index[column_id]]

    def cell(self, row: int, column_id: str) -> Any:
        r = self.rows[row]
        i = self.index[column_id]
        return r[i] if i < len(r) else None

    def upn(self, row: int) -> str | None:
        if "upn" not in self.index:
            return None
        return cell_text(self.cell(row, "upn")).upper() or None


class Rule:
    """A validation rule. Subclass and implement :meth:`check`.

    ``code`` is the rule's namespaced issue code (``<plugin>.<kebab-code>``); a rule that
    reports several codes lists them all in ``codes``. ``applies_to`` limits the rule to some
    key-stage ids (empty: every key stage it is registered for).
    """

    code: str = ""
    codes: tuple[str, ...] = ()
    severity: str = ERROR
    description: str = ""
    plugin: str = ""

    def all_codes(self) -> tuple[str, ...]:
        return self.codes or (self.code,)

    def check(self, table: Table) -> Iterable[Issue]:  # pragma: no cover - interface
        raise NotImplementedError

    def issue(self, table: Table, row: int | None, column_id: str | None, message: str, *,
              code: str | None = None, severity: str | None = None, value: Any = None) -> Issue:
        """Build an issue located at pupil row ``row`` (index into ``table.rows``)."""
        column = header = None
        if column_id is not None and column_id in table.index:
            column = column_letter(table.index[column_id])
            header = next((c.header for c in table.columns if c.id == column_id), None)
        return Issue(
            code=code or self.code,
            message=message,
            severity=severity or self.severity,
            sheet=table.sheet,
            row=table.row_numbers[row] if row is not None else None,
            column=column,
            header=header,
            upn=table.upn(row) if row is not None else None,
            value=None if value is None else cell_text(value),
            plugin=self.plugin,
        )


class ResultsRule(Rule):
    """Checks every result column of a key stage against its :class:`ValueSet`.

    Key-stage plugins register one, named for themselves
    (``ResultsRule("ks5_alevel.invalid-result")``). Only columns whose ``plugin`` is in
    ``owners`` (default: the rule's own plugin) are checked, so columns added by another
    plugin are checked by that plugin's rule.
    """

    description = "Each result is one of its column's valid results; blank means no entry."

    def __init__(self, code: str, owners: Iterable[str] | None = None):
        self.code = code
        self.owners = set(owners) if owners else None

    def check(self, table: Table) -> Iterator[Issue]:
        owners = self.owners or {self.plugin}
        for column in table.columns:
            if column.kind != "result" or column.values is None or column.plugin not in owners:
                continue
            values = table.column_values(column.id)
            try:
                distinct = set(values)
            except TypeError:
                distinct = None
            # True == 1 and False == 0 in Python: a boolean would hide in a set of grades, so a
            # column holding one is looked at cell by cell (the reader never hands one out)
            if distinct is None or not table.no_booleans and (1 in distinct or 0 in distinct) \
                    and bool in set(map(type, values)):
                for row, value in enumerate(values):
                    problem = self.problem(column, value)
                    if problem:
                        yield self.issue(table, row, column.id, problem, value=value)
                continue
            fast = column.values.fast
            if fast is not None and not (distinct - fast):
                continue  # the whole column is clean: the common case
            # each distinct value is judged once (a column holds a few grades many times over)
            bad = {value: problem for value in distinct if (problem := self.problem(column, value))}
            if bad:
                for row, value in enumerate(values):
                    if value in bad:
                        yield self.issue(table, row, column.id, bad[value], value=value)

    def problem(self, column: Column, value: Any) -> str | None:
        """What is wrong with ``value`` in ``column``, or None when it is a valid result or blank."""
        if value.__class__ is bool:
            text = "TRUE" if value else "FALSE"
        else:
            text = cell_text(value)
            if not text:
                return None
        if not text.isascii():  # grades are ASCII: "９" or "٩" only looks like 9
            return f'"{text}" is not a valid result for {column.header}. ' + not_ascii_message("result", text)
        if value.__class__ is not bool and column.values.normalise(value) is not None:
            return None
        return self.message(column, text)

    def message(self, column: Column, text: str) -> str:
        hint = column.values.hint(text) if column.values else None
        valid = column.values.describe() if column.values else ""
        if hint:
            return f'"{text}" is not a valid result for {column.header}: enter "{hint}" instead.'
        advice = column.values.advice(text) if column.values else None
        if advice:
            return f'"{text}" is not a valid result for {column.header}: {advice}'
        return f'"{text}" is not a valid result for {column.header}. Use one of: {valid}, or leave blank.'


# --------------------------------------------------------------------------- the common plugin


class KeyStagePlugin:
    """A ready-made plugin for the common case: one key stage with its own columns and rules.

    In the plugin's module::

        plugin = KeyStagePlugin(KEYSTAGE, columns=subject_columns)

    and point the entry point at it: ``ks5_ib = "frs_keystage_ks5_ib:plugin"``. ``columns`` is
    called when a kernel starts; ``rules`` (optional) returns the rules to register, by default one
    :class:`ResultsRule` named ``<plugin name>.invalid-result``. A plugin that needs more hooks
    implements them as functions instead (see docs/plugins.md).
    """

    def __init__(self, keystage: KeyStage, columns: Callable[[], Iterable[Column]],
                 rules: Callable[[], Iterable[Rule]] | None = None):
        self.keystage = keystage
        self.columns = columns
        self.rules = rules

    @hookimpl
    def register_keystages(self, registry) -> None:
        registry.add(self.keystage)

    @hookimpl
    def register_template_columns(self, registry, keystage: KeyStage) -> None:
        if keystage.id == self.keystage.id:
            for column in self.columns():
                registry.add(column)

    @hookimpl
    def register_rules(self, registry, keystage: KeyStage) -> None:
        if keystage.id == self.keystage.id:
            for rule in self.rules() if self.rules else [ResultsRule(f"{registry.plugin}.invalid-result")]:
                registry.add(rule)
