"""Measures: what a plugin computes from a school's collected results (public API).

A measure plugin implements the ``register_measures(registry, key_stage)`` hook and adds
:class:`Measure` objects for the key stages it knows::

    from frs import hookimpl
    from frs.measures import Indicator, Measure

    class Entries(Measure):
        id = "my_plugin.entries"
        key_stage = 4
        title = "Entries per pupil"
        version = "1"
        indicators = (Indicator("entries_per_pupil", "Entries per pupil", "mean", pupil_key="entries"),)

        def pupil(self, pupil, context):
            return {"entries": len(pupil.results)}

    @hookimpl
    def register_measures(registry, key_stage):
        if key_stage == 4:
            registry.add(Entries())

A measure reads only :mod:`frs.results` (the collected cohort) and is a pure function of it:
the same cohort always gives the same values. The engine (``frs.analysis``) calls
:meth:`Measure.pupil` for every pupil of the cohort (a pupil with no results included), then
:meth:`Measure.school` and :meth:`Measure.tables` over all pupils' values. Because school figures
are worked out from pupil values, the engine can recompute them for a pupil group or with chosen
pupils left out ("what if") without calling the plugin's pupil code again.

:class:`Indicator` declares which school figures are means or percentages of pupil values; the
engine uses them for pupil groups, for comparisons with all schools (mean, percentile rank,
confidence interval) and with national figures, and the report lists them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, NamedTuple, Sequence

from .results import CollectedPupil, SchoolCohort

#: how an indicator summarises pupil values
MEAN = "mean"  # mean of a numeric pupil value over all pupils
PERCENT = "percent"  # percent (0-100) of pupils whose pupil value is true
RATIO = "ratio"  # sum of a pupil value over the sum of another (e.g. points per entry)
COUNT = "count"  # number of pupils (no pupil value)
KINDS = (MEAN, PERCENT, RATIO, COUNT)


@dataclass(frozen=True)
class Indicator:
    """A school-level figure worked out from pupil values.

    Attributes:
        key: its key in the report's ``measures`` (unique across all measures of a key stage).
        title: what a person reads ("Attainment 8").
        kind: ``mean``, ``percent``, ``ratio`` or ``count`` (see :data:`KINDS`).
        pupil_key: the pupil value it summarises (the numerator for ``ratio``).
        denominator: for ``ratio``, the pupil value summed below the line.
        decimals: how many decimals a report shows.
        headline: shown among the headlines (PDF, dashboard tiles).
        national: the key of the published national figure to compare with (default: ``key``).
        scale: a ratio is multiplied by this (100 makes "entries at A*-A over entries" a percentage).
    """

    key: str
    title: str
    kind: str
    pupil_key: str | None = None
    denominator: str | None = None
    decimals: int = 1
    headline: bool = False
    national: str | None = None
    scale: float = 1.0  # a ratio is multiplied by this (100 for a percentage of entries)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"indicator {self.key!r}: kind must be one of {', '.join(KINDS)}, not {self.kind!r}")
        if self.kind != COUNT and not self.pupil_key:
            raise ValueError(f"indicator {self.key!r}: a {self.kind} indicator needs pupil_key")
        if self.kind == RATIO and not self.denominator:
            raise ValueError(f"indicator {self.key!r}: a ratio indicator needs denominator")


@dataclass(frozen=True)
class MeasureContext:
    """What a measure may know besides the pupils: the school, the round and its rules year."""

    school_dfe: str
    round_id: str
    key_stage: int
    year: int
    collection_id: int | None = None
    cohort: SchoolCohort | None = None


class PupilScore(NamedTuple):
    """One pupil with the values every measure gave it (``values`` is read-only for measures)."""

    pupil: CollectedPupil
    values: Mapping[str, Any]


def pupil_value(values: Mapping[str, Any], key: str) -> Any:
    """A pupil value by key; ``"a.b"`` reads ``values["a"]["b"]``."""
    if "." not in key:
        return values.get(key)
    found: Any = values
    for part in key.split("."):
        if not isinstance(found, dict) and not isinstance(found, Mapping):
            return None
        found = found.get(part)
    return found


def _pupil_values(values: Sequence[Mapping[str, Any]], key: str) -> list[Any]:
    """:func:`pupil_value` for every pupil's values at once (the key is split once, not per pupil)."""
    if "." not in key:
        return [v.get(key) for v in values]
    found: list[Any] = list(values)
    for part in key.split("."):
        found = [f.get(part) if type(f) is dict or isinstance(f, Mapping) else None for f in found]
    return found


def _numbers(values: Sequence[Mapping[str, Any]], key: str) -> list[float]:
    return [float(v or 0) for v in _pupil_values(values, key)]


def _column(indicator: Indicator, values: Sequence[Mapping[str, Any]]) -> tuple[list[float], list[float] | None]:
    """A (not count) indicator's numbers for every pupil's values: the pupil values (for a percentage
    1.0 or 0.0) and, for a ratio, the weights below the line."""
    if indicator.kind == PERCENT:
        return [1.0 if v else 0.0 for v in _pupil_values(values, indicator.pupil_key)], None
    if indicator.kind == RATIO:
        return _numbers(values, indicator.pupil_key), _numbers(values, indicator.denominator)
    return _numbers(values, indicator.pupil_key), None


def _summary(indicator: Indicator, values: Sequence[float], weights: Sequence[float] | None, n: int) -> float | None:
    """A (not count) indicator over ``n`` pupils from their numbers (see :func:`_column`)."""
    if n == 0:
        return None
    if indicator.kind == MEAN:
        return sum(values) / n
    if indicator.kind == PERCENT:
        return 100.0 * sum(values) / n
    top, bottom = sum(values), sum(weights)
    return top / bottom * indicator.scale if bottom else None


def summarise(indicator: Indicator, scores: Sequence[PupilScore]) -> float | int | None:
    """The indicator over these pupils; None when it cannot be worked out (no pupils, no entries)."""
    if indicator.kind == COUNT:
        return len(scores)
    return _summary(indicator, *_column(indicator, [s.values for s in scores]), len(scores))


class Measure:
    """A set of related pupil and school measures for one key stage. Subclass it.

    Class attributes:
        id: ``"<plugin>.<name>"``, unique.
        key_stage: the key stage number it is for (4, 5, 2 ...).
        title: for people.
        version: bump whenever a rule changes, so stored results say which rules made them.
        indicators: the school figures worked out from pupil values (see :class:`Indicator`).
    """

    id: str = ""
    key_stage: int = 0
    title: str = ""
    version: str = "1"
    indicators: tuple[Indicator, ...] = ()
    plugin: str = ""  # stamped by the registry

    def pupil(self, pupil: CollectedPupil, context: MeasureContext) -> Mapping[str, Any]:
        """Pupil-level values (JSON-able: numbers, strings, booleans, lists, dicts). Keys must be
        unique across the key stage's measures."""
        return {}

    def school(self, scores: Sequence[PupilScore], context: MeasureContext) -> Mapping[str, Any]:
        """School-level figures (plain numbers) for the report's ``measures``. The default works
        out every indicator from the pupils' values."""
        return {i.key: summarise(i, scores) for i in self.indicators}

    def tables(self, scores: Sequence[PupilScore], context: MeasureContext) -> Mapping[str, Any]:
        """Extra report sections, e.g. ``{"subjects": [...]}``. A list of rows that each have a
        ``subject`` and ``grade_counts`` ({grade: entries}) is compared with all schools."""
        return {}

    def describe(self) -> dict[str, Any]:
        return {"id": self.id, "key_stage": self.key_stage, "title": self.title, "version": self.version,
                "plugin": self.plugin, "indicators": [i.key for i in self.indicators]}


@dataclass
class MeasureSet:
    """The measures of one key stage, in registration order."""

    key_stage: int
    measures: list[Measure] = field(default_factory=list)

    @property
    def indicators(self) -> list[Indicator]:
        return [i for m in self.measures for i in m.indicators]

    @property
    def version(self) -> str:
        """The rules that made a result: every measure's id and version, sorted."""
        return ";".join(sorted(f"{m.id}@{m.version}" for m in self.measures))
