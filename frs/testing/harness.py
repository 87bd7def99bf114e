"""What the conformance kit and the pytest fixtures stand on: a kernel holding only the plugins
under test, and workbooks made from a key stage's real template.

Nothing here reads ``config/frs.toml`` or ``FRS_LOAD_PLUGINS``: a plugin's tests give the same
answer on an author's laptop, in their CI and in ours.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from functools import cached_property
from typing import Any, Callable, Iterable, Mapping

from .. import clock
from ..config import LONDON, Config, Round
from ..connectors import Pupil, School
from ..demo import demo_pupils, fill_results
from ..issues import Report, column_letter
from ..kernel import Kernel
from ..keystage import Column, KeyStage

#: the made-up school every kit workbook is for
KIT_SCHOOL = School("1231234", "Conformance Kit School")
#: the pupil source the kit always enables, for blank templates
BLANK_SOURCE = "blank"

PluginsSpec = Iterable[str] | Mapping[str, object]


def make_kernel(plugins: PluginsSpec, *, year: int | None = None, rounds: Iterable[Round] = (),
                settings: Mapping[str, Mapping[str, Any]] | None = None, strict: bool = False) -> Kernel:
    """A fresh :class:`~frs.kernel.Kernel` with only ``plugins`` (and the blank source) enabled.

    Args:
        plugins: installed plugin names (entry points in group ``frs``) to enable, or a mapping
            ``{name: module_or_object}`` registered in-process as if installed (for a plugin
            that is not packaged yet, or a test double).
        year: exam year of the synthetic round made for each key stage that ``rounds`` does not
            cover (default: this year, from :func:`frs.clock.today`).
        rounds: collection rounds to use instead of synthetic ones.
        settings: ``[plugins.<name>]`` tables, as config would give them.
        strict: make a plugin failure raise instead of marking the plugin failed.
    """
    if isinstance(plugins, str):
        plugins = [plugins]  # a lone name, not its letters
    objects = dict(plugins) if isinstance(plugins, Mapping) else {}
    names = [] if objects else list(plugins)
    config = Config(path=None, enabled=[*names, BLANK_SOURCE], strict=strict,
                    plugin_settings={k: dict(v) for k, v in (settings or {}).items()}, rounds=list(rounds))
    kernel = Kernel(config, plugins=objects or None)
    year = year or clock.today().year
    for keystage in kernel.keystages.values():
        if kernel.round_for(keystage) is None:
            # the key stage is known only once its plugin has loaded, hence a round added afterwards
            config.rounds.append(synthetic_round(keystage.key_stage, year))
    return kernel


def synthetic_round(key_stage: int, year: int) -> Round:
    """A collection round open all of ``year`` (validation needs the year; the dates do not matter)."""
    return Round(id=f"ks{key_stage}-{year}-kit", key_stage=key_stage, year=year,
                 opens=dt.datetime(year, 1, 1, tzinfo=LONDON), closes=dt.datetime(year, 12, 31, 17, tzinfo=LONDON))


def plugin_objects(plugins: PluginsSpec) -> list[str]:
    """The plugin names in a ``plugins`` argument of :func:`make_kernel`."""
    if isinstance(plugins, str):
        return [plugins]
    return list(plugins.keys()) if isinstance(plugins, Mapping) else list(plugins)


@dataclass
class KitContext:
    """One key stage's template under test, and where things are in it.

    Fixture callables receive it: ``edit(sheet, ctx)`` writes ``sheet[ctx.cell("ks2.reading", 0)]``;
    ``expected(ctx)`` returns ``{("ks2.invalid-result", ctx.row(0), ctx.letter("ks2.reading"))}``.
    """

    kernel: Kernel
    keystage: KeyStage
    pupil_count: int = 8
    per_pupil: int = 4
    seed: int = 1
    school: School = KIT_SCHOOL

    @cached_property
    def columns(self) -> list[Column]:
        return self.kernel.columns(self.keystage)

    @cached_property
    def result_columns(self) -> list[Column]:
        return [c for c in self.columns if c.kind == "result"]

    @property
    def round(self) -> Round | None:
        return self.kernel.round_for(self.keystage)

    @property
    def year(self) -> int:
        return self.round.year if self.round else clock.today().year

    @property
    def sheet_name(self) -> str:
        return self.keystage.sheet_name

    @property
    def filename(self) -> str:
        from ..workbook.template import template_filename

        return template_filename(self.keystage, self.round, self.school)

    def letter(self, column_id: str) -> str:
        """The Excel column letter of a column id (``"upn"`` -> ``"E"``)."""
        index = next((i for i, c in enumerate(self.columns) if c.id == column_id), None)
        if index is None:
            raise KeyError(f"no column {column_id!r} in the {self.keystage.id} template")
        return column_letter(index)

    def row(self, pupil: int) -> int:
        """The Excel row number of the ``pupil``-th pupil (0-based)."""
        return self.keystage.first_pupil_row + pupil

    def cell(self, column_id: str, pupil: int) -> str:
        """The cell reference of a pupil's value in a column (``"L4"``)."""
        return f"{self.letter(column_id)}{self.row(pupil)}"

    @cached_property
    def pupils(self) -> list[Pupil]:
        """Valid made-up pupils; enough of them that every result column gets results."""
        columns = len([c for c in self.result_columns if c.values is not None])
        count = max(self.pupil_count, math.ceil(columns / max(self.per_pupil, 1)))
        return demo_pupils(self.school, self.keystage.nc_year, self.year, count, self.seed)

    def template(self, pupils: list[Pupil] | None = None) -> bytes:
        """The key stage's template for the kit school, pre-filled with ``pupils`` (default: the kit's)."""
        from ..workbook.template import build_template

        pupils = self.pupils if pupils is None else pupils
        return build_template(self.kernel, self.keystage, self.school, self.round, pupils)

    def filled(self, edit: Callable[[Any, "KitContext"], None] | None = None) -> bytes:
        """The template with results typed in as a school would (each column's ``examples()``),
        then ``edit(worksheet, ctx)`` applied."""
        return fill_results(self.template(), self.kernel, self.keystage, per_pupil=self.per_pupil,
                            seed=self.seed, edit=self._bind(edit))

    def edited(self, data: bytes, edit: Callable[[Any, "KitContext"], None]) -> bytes:
        """``data`` with ``edit(worksheet, ctx)`` applied to its results sheet (openpyxl)."""
        return fill_results(data, self.kernel, self.keystage, per_pupil=0, edit=self._bind(edit))

    def _bind(self, edit):
        return None if edit is None else (lambda sheet: edit(sheet, self))

    def validate(self, data: bytes, *, filename: str | None = None) -> Report:
        """Validate ``data`` as an upload by the kit school, under the template's own file name."""
        from ..validation.engine import validate

        return validate(self.kernel, data, self.school.dfe, filename=filename or self.filename,
                        keystage_id=self.keystage.id)


def issue_keys(report: Report) -> set[tuple[str, int | None, str | None]]:
    """``{(code, row, column)}`` of a report: what a plugin's fixture tests compare."""
    return {(i.code, i.row, i.column) for i in report.issues}


def describe_issues(issues) -> str:
    """Issues as lines for a test failure message."""
    return "\n".join(f"  {i.code} row {i.row} column {i.column} ({i.severity}): {i.message}" for i in issues) or "  none"
