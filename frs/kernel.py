"""The Kernel owns one configuration and one plugin manager; there is no global one.

It asks every enabled plugin for its contributions, one plugin at a time, so a plugin that
raises is marked failed and dropped while the others keep working.
"""

from __future__ import annotations

import logging
from typing import Any, Callable

from . import __version__
from . import config as config_mod
from . import plugins as plugins_mod
from .config import Config, ConfigError, Round
from .connectors import PupilSource, School, SourceContext
from .keystage import Column, KeyStage, Rule
from .registry import (ColumnRegistry, JobRegistry, KeyStageRegistry, PartnerRegistry,
                       RuleRegistry, SourceRegistry)

log = logging.getLogger("frs.kernel")
KERNEL_PLUGIN = "frs"
#: the kernel's analysis, told of each collection through ``round_collected`` like any plugin
ANALYSIS_PLUGIN = "frs.analysis"
KERNEL_PARTS = (KERNEL_PLUGIN, ANALYSIS_PLUGIN)


class UnknownKeyStage(LookupError):
    pass


class Kernel:
    def __init__(self, config: Config | None = None, *, plugins: dict[str, object] | None = None):
        """``plugins`` registers extra plugin objects by name, as if installed (tests, embedding)."""
        from . import core  # the kernel's own pupil columns and rules, loaded like a plugin
        from .analysis import hooks as analysis_hooks  # the analysis after each collection

        self.config = config if config is not None else config_mod.load()
        self.added_plugins = tuple(plugins or ())  # not installed: another process cannot load them
        self.pm = plugins_mod.new_manager()
        kernel_parts = {KERNEL_PLUGIN: core, ANALYSIS_PLUGIN: analysis_hooks}
        for name, module in kernel_parts.items():
            self.pm.register(module, name=name)
        self.plugins = plugins_mod.load(self.pm, self.config.enabled, self.config.strict, plugins)
        for name, module in kernel_parts.items():
            self.plugins[name] = plugins_mod.PluginInfo(
                name=name, module=module.__name__, distribution="frs", version=__version__, status="enabled",
                hooks=plugins_mod.hook_names(self.pm, module), builtin=True)
        self._check_settings_names()
        self._collect()

    def _check_settings_names(self) -> None:
        """A settings table for a plugin that is not installed is almost always a typo."""
        for name in self.config.plugin_settings:
            if name not in self.plugins:
                known = ", ".join(sorted(n for n in self.plugins if n not in KERNEL_PARTS))
                raise ConfigError(f"{self.config.path or 'config'}: [plugins.{name}] has settings for a plugin "
                                  f"that is not installed (installed: {known})")

    # ------------------------------------------------------------------ contributions

    def _call_each(self, hook: str, make_registry: Callable[[str], Any],
                   per_plugin: Callable[[str], dict[str, Any]] | None = None, **kwargs: Any) -> None:
        """Call ``hook`` once per plugin with a registry bound to that plugin (and any arguments
        ``per_plugin`` gives for it, such as its own settings)."""
        for impl in getattr(self.pm.hook, hook).get_hookimpls():
            name = impl.plugin_name
            if self.plugins.get(name) and self.plugins[name].status == "failed":
                continue
            args = {"registry": make_registry(name), **kwargs, **(per_plugin(name) if per_plugin else {})}
            try:
                impl.function(**{k: v for k, v in args.items() if k in impl.argnames})
            except Exception as exc:
                self._fail(name, f"failed in {hook}: {type(exc).__name__}: {exc}")

    def _fail(self, name: str, reason: str) -> None:
        info = self.plugins[name]
        plugins_mod.fail(self.pm, info, reason, self.config.strict)
        # drop everything the plugin gave; a half-registered plugin is worse than none
        for store in (self.keystages, self._sources, self._jobs, self._partners):
            for key in [k for k, v in store.items() if v.plugin == name]:
                del store[key]
        for ks in list(self._columns):
            if ks not in self.keystages:
                self._columns.pop(ks, None)
                self._rules.pop(ks, None)
                continue
            for key in [k for k, v in self._columns[ks].items() if v.plugin == name]:
                del self._columns[ks][key]
            for key in [k for k, v in self._rules[ks].items() if v.plugin == name]:
                del self._rules[ks][key]

    def _collect(self) -> None:
        self.keystages: dict[str, KeyStage] = {}
        self._columns: dict[str, dict[str, Column]] = {}
        self._rules: dict[str, dict[str, Rule]] = {}
        self._sources: dict[str, PupilSource] = {}
        self._jobs: dict[str, Any] = {}
        self._partners: dict[str, Any] = {}
        self._call_each("register_keystages", lambda p: KeyStageRegistry(p, self.keystages, "key stage"))
        self._guard_codes()
        for ks in list(self.keystages.values()):
            self._columns[ks.id] = {}
            self._rules[ks.id] = {}
            self._call_each("register_template_columns",
                            lambda p: ColumnRegistry(p, self._columns[ks.id], "column"), keystage=ks)
            self._call_each("register_rules",
                            lambda p: RuleRegistry(p, self._rules[ks.id]), keystage=ks)
        def settings(p: str) -> dict[str, Any]:
            return {"settings": dict(self.config.plugin_settings.get(p, {}))}

        self._call_each("register_connectors", lambda p: SourceRegistry(p, self._sources, "pupil source"),
                        per_plugin=settings)
        self._call_each("register_partners", lambda p: PartnerRegistry(p, self._partners, "Data Exchange partner"),
                        per_plugin=settings)
        self._call_each("register_jobs", lambda p: JobRegistry(p, self._jobs, "job"), per_plugin=settings)
        for info in self.plugins.values():
            if info.status == "enabled":
                info.contributes = self._contributions_of(info.name)

    def _guard_codes(self) -> None:
        seen: dict[str, KeyStage] = {}
        for ks in list(self.keystages.values()):
            other = seen.get(ks.code)
            if other is not None:
                reason = (f"key stage {ks.id!r} uses template code {ks.code!r}, already used by "
                          f"key stage {other.id!r} of plugin {other.plugin!r}")
                self._fail(ks.plugin, reason)
            else:
                seen[ks.code] = ks

    def _contributions_of(self, name: str) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {
            "keystages": [k.id for k in self.keystages.values() if k.plugin == name],
            "columns": [], "rules": [],
            "connectors": [s.name for s in self._sources.values() if s.plugin == name],
            "jobs": [j.name for j in self._jobs.values() if j.plugin == name],
            "partners": [p.name for p in self._partners.values() if p.plugin == name],
        }
        for cols in self._columns.values():
            out["columns"] += [c.id for c in cols.values() if c.plugin == name and c.id not in out["columns"]]
        for rules in self._rules.values():
            out["rules"] += sorted({code for code, r in rules.items() if r.plugin == name} - set(out["rules"]))
        return {k: v for k, v in out.items() if v}

    # ------------------------------------------------------------------ queries

    def keystage(self, keystage_id: str) -> KeyStage:
        try:
            return self.keystages[keystage_id]
        except KeyError:
            known = ", ".join(sorted(self.keystages)) or "none enabled"
            raise UnknownKeyStage(f"unknown key stage {keystage_id!r}; enabled key stages: {known}") from None

    def keystage_by_code(self, code: str) -> KeyStage | None:
        return next((ks for ks in self.keystages.values() if ks.code == code), None)

    def columns(self, keystage: KeyStage) -> list[Column]:
        """Template columns in sheet order: the kernel's pupil columns, then each plugin's."""
        cols = list(self._columns.get(keystage.id, {}).values())
        return [c for c in cols if c.plugin == KERNEL_PLUGIN] + [c for c in cols if c.plugin != KERNEL_PLUGIN]

    def rules(self, keystage: KeyStage) -> list[Rule]:
        unique: dict[int, Rule] = {}
        for rule in self._rules.get(keystage.id, {}).values():
            unique.setdefault(id(rule), rule)
        return list(unique.values())

    def round_for(self, keystage: KeyStage, round_id: str | None = None) -> Round | None:
        return self.config.round_for(keystage.key_stage, round_id)

    @property
    def sources(self) -> dict[str, PupilSource]:
        return dict(self._sources)

    @property
    def jobs(self) -> dict[str, Any]:
        return dict(self._jobs)

    @property
    def partners(self) -> dict[str, Any]:
        """Data Exchange partners (frs.partners.Partner) by name."""
        return dict(self._partners)

    def select_source(self, school: School, keystage: KeyStage,
                      context: SourceContext | None = None) -> PupilSource | None:
        """The source that pre-fills ``school``'s template: among the sources available now (and
        allowed by the round, when it restricts them), the ``select_pupil_source`` hook decides."""
        context = context or SourceContext(config=self.config)
        allowed = getattr(context.round, "sources", None)
        candidates = [s for s in self._sources.values()
                      if (allowed is None or s.name in allowed) and s.is_available(school, context)]
        return self.pm.hook.select_pupil_source(school=school, keystage=keystage, candidates=candidates)

    def measures(self, key_stage: int):
        """The :class:`frs.measures.MeasureSet` every enabled plugin contributes for a key stage
        (collected on first use, once per key stage)."""
        from .measures import MeasureSet
        from .registry import MeasureRegistry

        cache = self.__dict__.setdefault("_measures", {})
        if key_stage not in cache:
            store: dict[str, Any] = {}
            for impl in self.pm.hook.register_measures.get_hookimpls():
                name = impl.plugin_name
                if self.plugins.get(name) and self.plugins[name].status == "failed":
                    continue
                registry = MeasureRegistry(name, store, key_stage)
                args = {"registry": registry, "key_stage": key_stage}
                try:
                    impl.function(**{k: v for k, v in args.items() if k in impl.argnames})
                except Exception as exc:
                    # drop the plugin's measures for this key stage; the others keep working
                    for key in [k for k, v in store.items() if v.plugin == name]:
                        del store[key]
                    log.error("plugin %s failed in register_measures: %s: %s", name, type(exc).__name__, exc)
                    if self.config.strict:
                        raise
            cache[key_stage] = MeasureSet(key_stage, list(store.values()))
        return cache[key_stage]

    def notify(self, hook: str, **kwargs: Any) -> None:
        """Call a notification hook; one plugin's exception never stops the others."""
        for impl in getattr(self.pm.hook, hook).get_hookimpls():
            try:
                impl.function(**{k: v for k, v in kwargs.items() if k in impl.argnames})
            except Exception:
                log.exception("plugin %s raised in %s (ignored)", impl.plugin_name, hook)

