"""Public building blocks a connector plugin contributes: pupil sources and the pupils they return.

A source is asked two things, each with a :class:`SourceContext` that carries what the caller
has (the storage service with its database, the round, the config):

- :meth:`PupilSource.is_available` - can it supply this school now?
- :meth:`PupilSource.cohort` - the school's pupils of one NC year, as a :class:`Cohort` that
  also says where they came from and when that list was taken.

Simple sources that need no database implement only ``available_for(school)`` and
``fetch_cohort(school, nc_year)``; the defaults of the two context-taking methods call them.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any, Mapping


def dfe_number(text: str) -> str | None:
    """A DfE number (LAESTAB) as 7 digits, or None if ``text`` is not one.

    The forms 8012345, 801/2345 and 801-2345 all occur in DfE and MIS documents. Only the
    ASCII digits 0-9 count ("１２３" and "١٢٣" are digits to Python, not to the DfE); a no-break
    space is a space.
    """
    clean = text.strip().replace("/", "").replace("-", "").replace(" ", "").replace("\u00a0", "")
    return clean if len(clean) == 7 and clean.isascii() and clean.isdigit() else None


@dataclass(frozen=True)
class Setting:
    """One key of a plugin's ``[plugins.<name>]`` settings table.

    ``secret`` settings must come from the environment (``{ env = "VAR" }``) and are never
    written to a log line or an error message.
    """

    name: str
    help: str
    kind: type | tuple[type, ...] = str
    required: bool = False
    secret: bool = False
    default: Any = None


def check_settings(plugin: str, schema: "Mapping[str, Setting] | list[Setting]", settings: Mapping[str, Any]) -> dict[str, Any]:
    """``settings`` checked against ``schema``, defaults filled in; raises :class:`ValueError`
    naming ``[plugins.<plugin>]`` and the key for an unknown, missing or mistyped key."""
    specs = {s.name: s for s in (schema.values() if isinstance(schema, Mapping) else schema)}
    out: dict[str, Any] = {}
    for key in settings:
        if key not in specs:
            raise ValueError(f"[plugins.{plugin}] has an unknown key {key!r} "
                             f"(known keys: {', '.join(sorted(specs)) or 'none'})")
    for name, spec in specs.items():
        value = settings.get(name, spec.default)
        if value is None:
            if spec.required:
                hint = f'{name} = {{ env = "VAR" }}' if spec.secret else f"{name} = ..."
                raise ValueError(f"[plugins.{plugin}] needs {name!r} ({spec.help}); add `{hint}`")
            out[name] = None
            continue
        kinds = spec.kind if isinstance(spec.kind, tuple) else (spec.kind,)
        if float in kinds and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds):
            shown = "(hidden)" if spec.secret else repr(value)
            raise ValueError(f"[plugins.{plugin}] {name} must be {' or '.join(k.__name__ for k in kinds)}, "
                             f"got {shown}")
        out[name] = value
    return out


@dataclass(frozen=True)
class School:
    """The school a template or upload is for. ``dfe`` is the 7-digit DfE number (LAESTAB)."""

    dfe: str
    name: str = ""
    urn: str | None = None

    @property
    def la_code(self) -> str:
        return self.dfe[:3]

    @property
    def establishment_number(self) -> str:
        return self.dfe[3:]


@dataclass(frozen=True)
class Pupil:
    """One pupil of a cohort, as a source returns it (before any validation)."""

    upn: str
    forename: str
    surname: str
    date_of_birth: dt.date | None
    gender: str  # "Female" | "Male" | "" when unknown
    nc_year: int | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class SourceContext:
    """What the caller hands a source: ``service`` is the storage service
    (:class:`frs.storage.service.Service`) when a database is set up, else None; ``round`` the
    collection round the template is for; ``config`` the loaded :class:`frs.config.Config`."""

    service: Any = None
    round: Any = None  # frs.config.Round | None
    config: Any = None  # frs.config.Config | None

    def resolve(self, path: str) -> "Any":
        """A configured path: absolute as given, else relative to the folder that holds the
        ``config/`` folder (the same rule as ``service.home``), else to the current folder."""
        from pathlib import Path

        p = Path(path)
        if p.is_absolute():
            return p
        cfg_path = getattr(self.config, "path", None)
        return (Path(cfg_path).resolve().parent.parent / p) if cfg_path else p.resolve()


@dataclass(frozen=True)
class Cohort:
    """Pupils a source gave for one school and NC year, and where they came from.

    ``taken_at`` is when that list was taken (a pull's end, a census extract's date); ``origin``
    says from what, for a person (e.g. "Data Exchange (Groupcall Xporter)", "census file x.csv");
    ``problems`` are lines the caller should show (rows that could not be read, and why).
    """

    source: str
    pupils: list[Pupil]
    origin: str = ""
    taken_at: dt.datetime | None = None
    problems: list[str] = field(default_factory=list)

    def describe(self) -> str:
        """One line for people: which source filled the template and when that list was taken."""
        if not self.pupils and self.taken_at is None:
            return f"no pupils: {self.origin or self.source}"
        text = f"{len(self.pupils)} pupil{'s' if len(self.pupils) != 1 else ''} from {self.origin or self.source}"
        if self.taken_at is not None:
            from .config import LONDON

            text += f", list taken {self.taken_at.astimezone(LONDON):%d/%m/%Y %H:%M} (UK time)"
        return text


class PupilSource:
    """Where a template's pupils come from (an MIS API, a census file, nothing at all).

    Subclass, set ``name`` and ``description``, and implement :meth:`fetch_cohort` (or, for a
    source that needs the database or the round, :meth:`cohort` and :meth:`is_available`).
    ``settings`` are this plugin's ``[plugins.<name>]`` table from config; declare its keys in
    ``settings_schema`` (a list of :class:`Setting`) so that mistakes are refused at start-up.
    ``priority`` orders sources for the default selection: highest first.
    """

    name: str = ""
    description: str = ""
    priority: int = 0
    plugin: str = ""
    settings_schema: tuple[Setting, ...] = ()

    def __init__(self, settings: Mapping[str, Any] | None = None):
        self.settings = dict(settings or {})
        if self.settings_schema:
            self.settings = check_settings(self.plugin or self.name, self.settings_schema, self.settings)

    def available_for(self, school: School) -> bool:
        """True when this source can supply pupils for ``school`` right now."""
        return True

    def fetch_cohort(self, school: School, nc_year: int) -> list[Pupil]:  # pragma: no cover
        raise NotImplementedError

    def is_available(self, school: School, context: SourceContext) -> bool:
        """Like :meth:`available_for`, with the caller's database and round at hand."""
        return self.available_for(school)

    def unavailable_reason(self, school: School, context: SourceContext) -> str | None:
        """Why this source cannot serve ``school`` now (for messages), or None."""
        return None

    def cohort(self, school: School, nc_year: int, context: SourceContext) -> Cohort:
        """The school's pupils in ``nc_year`` with where they came from."""
        return Cohort(self.name, self.fetch_cohort(school, nc_year), origin=self.description or self.name)
