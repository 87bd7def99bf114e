"""The plugin contract. Every hook a plugin may implement is declared and documented here.

Plugins implement hooks with :data:`frs.hookimpl`::

    from frs import hookimpl

    @hookimpl
    def register_keystages(registry):
        registry.add(KeyStage(id="ks5_ib", code="KS5IB", key_stage=5, nc_year=13, title="IB"))

Contribution hooks (``register_*``) receive a registry bound to the calling plugin, so every
key stage, column, rule, source and job records which plugin gave it, and a clash names both
plugins. The kernel calls them one plugin at a time: a plugin whose hook raises is marked
failed and its contributions are dropped; the others keep working.

Evolution rules: arguments are only ever added (pluggy lets an implementation accept a subset
of them), never removed or renamed. ``frs.PLUGIN_API_VERSION`` is bumped when a hook is added.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:  # pragma: no cover
    from .connectors import PupilSource, School
    from .issues import Report
    from .keystage import KeyStage
    from .registry import (ColumnRegistry, JobRegistry, KeyStageRegistry, MeasureRegistry, PartnerRegistry,
                           RuleRegistry,
                           SourceRegistry)

hookspec = pluggy.HookspecMarker("frs")
#: decorate a plugin's hook implementations with this (re-exported as ``frs.hookimpl``)
hookimpl = pluggy.HookimplMarker("frs")


@hookspec
def register_keystages(registry: "KeyStageRegistry") -> None:
    """Contribute template kinds.

    Args:
        registry: call ``registry.add(KeyStage(...))`` once per key stage. The key stage's
            ``id`` must be unique across all plugins; its ``code`` is written into templates.

    Returns:
        Nothing; contributions go through the registry.

    Since: 1.
    """


@hookspec
def register_template_columns(registry: "ColumnRegistry", keystage: "KeyStage") -> None:
    """Contribute columns to a key stage's template.

    Called once per key stage, for every plugin. The kernel's pupil columns (Organisation
    ... Gender) always come first; then each plugin's columns in registration order. A plugin
    usually adds columns only for its own key stage (check ``keystage.id``), but may add
    columns to another plugin's key stage.

    Args:
        registry: call ``registry.add(Column(...))``. Column ids must be unique in the template.
        keystage: the key stage whose template is being built.

    Since: 1.
    """


@hookspec
def register_rules(registry: "RuleRegistry", keystage: "KeyStage") -> None:
    """Contribute validation rules for a key stage.

    Args:
        registry: call ``registry.add(rule)`` with a :class:`frs.keystage.Rule` instance.
            Every code the rule reports must start with ``<plugin name>.``.
        keystage: the key stage being validated.

    Since: 1.
    """


@hookspec
def register_connectors(registry: "SourceRegistry", settings: dict[str, Any]) -> None:
    """Contribute pupil sources (MIS connectors, census files, the blank template).

    Args:
        registry: call ``registry.add(source)`` with a :class:`frs.connectors.PupilSource`.
        settings: this plugin's ``[plugins.<name>]`` table from config (may be empty).

    Since: 1.
    """


@hookspec(firstresult=True)
def select_pupil_source(school: "School", keystage: "KeyStage",
                        candidates: "list[PupilSource]") -> "PupilSource | None":
    """Choose which source pre-fills a school's template.

    ``firstresult``: the first implementation returning a source wins. The kernel's default
    runs last and picks the highest-priority available candidate (Data Exchange, then census,
    then blank).

    Args:
        school: the school the template is for.
        keystage: the template kind.
        candidates: the enabled sources that report themselves available for the school
            (``PupilSource.is_available``) and that the round allows (``Round.sources``).

    Returns:
        A source from ``candidates``, or None to leave the choice to the next implementation.

    Since: 1.
    """


@hookspec
def register_partners(registry: "PartnerRegistry", settings: dict[str, Any]) -> None:
    """Contribute Data Exchange partners: the MIS integrators a school can authorise.

    Args:
        registry: call ``registry.add(partner)`` with a :class:`frs.partners.Partner`. Its
            ``name`` is what ``frs dx connect --partner`` takes, unique across plugins.
        settings: this plugin's ``[plugins.<name>]`` table from config (may be empty).

    Since: 3.
    """


@hookspec
def register_jobs(registry: "JobRegistry", settings: dict[str, Any]) -> None:
    """Contribute scheduled work (e.g. nightly MIS pulls). The kernel owns the scheduler.

    Args:
        registry: call ``registry.add(name, func, trigger=..., **trigger_args)``.
        settings: this plugin's ``[plugins.<name>]`` table from config (since 3).

    Since: 1.
    """


@hookspec
def upload_validated(report: "Report", school: "School", upload_id: Any) -> None:
    """Notification: an upload has been validated. Exceptions are logged, never fatal.

    Since: 1.
    """


@hookspec
def upload_confirmed(school: "School", keystage: "KeyStage", upload_id: Any) -> None:
    """Notification: an upload has been confirmed and is now the school's current file.

    Since: 1.
    """


@hookspec
def register_measures(registry: "MeasureRegistry", key_stage: int) -> None:
    """Contribute measures computed from a collected round (see :mod:`frs.measures`).

    Called once per plugin for each key stage number the analysis runs (4, 5, 2 ...).

    Args:
        registry: call ``registry.add(measure)`` with a :class:`frs.measures.Measure` whose
            ``key_stage`` is ``key_stage`` and whose id starts with ``<plugin name>.``.
        key_stage: the key stage number being analysed.

    Since: 2.
    """


@hookspec
def round_collected(round_id: str, upload_ids: list[Any], collection_id: int, service: Any) -> None:
    """Notification: a round's deadline collection is complete (committed). Exceptions are logged,
    never fatal: one plugin's failure never stops the others.

    Args:
        round_id: the round's id from config.
        upload_ids: the uploads collected (each school's current confirmed upload per template).
        collection_id: read the cohorts with
            ``frs.services.collections.iter_cohorts(service, collection_id)``, one school at a time.
        service: the service layer (``frs.storage.service.Service``) on the collection's database.

    Called once per collection: a daemon that dies before the plugins were told tells them on
    its next run. Since: 1 (``collection_id`` and ``service`` since 2).
    """
