"""Registries handed to the ``register_*`` hooks, each bound to the plugin that is calling.

They stamp every contribution with its plugin, check it, and refuse a clash with a message
naming both plugins.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any, Callable

from .connectors import PupilSource
from .keystage import Column, KeyStage, Rule

CODE_RE = re.compile(r"^[a-z][a-z0-9_]*\.[a-z0-9]+(-[a-z0-9]+)*$")
MEASURE_ID_RE = re.compile(r"^[a-z][a-z0-9_]*\.[a-z0-9_]+$")


class ContributionError(Exception):
    """A plugin contributed something invalid or clashing; names the plugin(s) at fault."""


class _Bound:
    def __init__(self, plugin: str, store: dict[str, Any], kind: str):
        self.plugin = plugin
        self._store = store
        self._kind = kind

    def _put(self, key: str, item: Any) -> None:
        if key in self._store:
            other = self._store[key].plugin
            raise ContributionError(
                f"{self._kind} {key!r} from plugin {self.plugin!r} clashes with the one "
                f"from plugin {other!r}; disable one of the two plugins")
        self._store[key] = item


class KeyStageRegistry(_Bound):
    def add(self, keystage: KeyStage) -> KeyStage:
        if not isinstance(keystage, KeyStage):
            raise ContributionError(f"plugin {self.plugin!r} registered {keystage!r}, not a KeyStage")
        keystage = dataclasses.replace(keystage, plugin=self.plugin)
        self._put(keystage.id, keystage)
        return keystage


class ColumnRegistry(_Bound):
    def add(self, column: Column) -> Column:
        if not isinstance(column, Column):
            raise ContributionError(f"plugin {self.plugin!r} registered {column!r}, not a Column")
        if not column.header.strip():
            raise ContributionError(f"plugin {self.plugin!r}: column {column.id!r} has a blank header")
        column = dataclasses.replace(column, plugin=self.plugin)
        self._put(column.id, column)
        return column


class RuleRegistry(_Bound):
    def __init__(self, plugin: str, store: dict[str, Any], kind: str = "rule code"):
        super().__init__(plugin, store, kind)

    def add(self, rule: Rule) -> Rule:
        if not isinstance(rule, Rule):
            raise ContributionError(f"plugin {self.plugin!r} registered {rule!r}, not a Rule")
        rule.plugin = self.plugin
        for code in rule.all_codes():
            if not CODE_RE.match(code or ""):
                raise ContributionError(
                    f"plugin {self.plugin!r}: rule code {code!r} must look like "
                    f"'{self.plugin}.kebab-case-name'")
            if self.plugin != "frs" and not code.startswith(self.plugin + "."):
                raise ContributionError(
                    f"plugin {self.plugin!r}: rule code {code!r} must start with '{self.plugin}.'")
            self._put(code, rule)
        return rule


class SourceRegistry(_Bound):
    def add(self, source: PupilSource) -> PupilSource:
        if not isinstance(source, PupilSource) or not source.name:
            raise ContributionError(f"plugin {self.plugin!r} registered {source!r}, not a named PupilSource")
        source.plugin = self.plugin
        self._put(source.name, source)
        return source


class PartnerRegistry(_Bound):
    def add(self, partner: Any) -> Any:
        from .partners import Partner

        if not isinstance(partner, Partner) or not partner.name:
            raise ContributionError(f"plugin {self.plugin!r} registered {partner!r}, not a named Partner")
        partner.plugin = self.plugin
        self._put(partner.name, partner)
        return partner


@dataclasses.dataclass
class Job:
    name: str
    func: Callable[..., Any]
    trigger: str
    trigger_args: dict[str, Any]
    plugin: str


class JobRegistry(_Bound):
    def add(self, name: str, func: Callable[..., Any], trigger: str = "interval", **trigger_args: Any) -> Job:
        job = Job(name, func, trigger, trigger_args, self.plugin)
        self._put(name, job)
        return job


class MeasureRegistry(_Bound):
    """Handed to ``register_measures``: ``registry.add(measure)``."""

    def __init__(self, plugin: str, store: dict[str, Any], key_stage: int, kind: str = "measure"):
        super().__init__(plugin, store, kind)
        self.key_stage = key_stage

    def add(self, measure: Any) -> Any:
        from .measures import Measure

        if not isinstance(measure, Measure):
            raise ContributionError(f"plugin {self.plugin!r} registered {measure!r}, not a frs.measures.Measure")
        if not MEASURE_ID_RE.match(measure.id or "") or not measure.id.startswith(self.plugin + "."):
            raise ContributionError(f"plugin {self.plugin!r}: measure id {measure.id!r} must look like "
                                    f"'{self.plugin}.name'")
        if measure.key_stage != self.key_stage:
            raise ContributionError(f"plugin {self.plugin!r}: measure {measure.id!r} is for key stage "
                                    f"{measure.key_stage}, but was registered for key stage {self.key_stage}")
        measure.plugin = self.plugin
        self._put(measure.id, measure)
        return measure
