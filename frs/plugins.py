"""Finding and loading plugins: one entry-point group (``frs``), an allowlist, guarded loading."""

from __future__ import annotations

import importlib.metadata as md
import logging
from dataclasses import dataclass, field
from typing import Any

import pluggy

from . import hookspecs

log = logging.getLogger("frs.plugins")
GROUP = "frs"


class PluginError(Exception):
    """A plugin failed to load or register and strict mode is on."""


@dataclass
class PluginInfo:
    name: str
    module: str = ""
    distribution: str | None = None
    version: str | None = None
    status: str = "enabled"  # enabled | disabled | failed
    error: str | None = None
    hooks: list[str] = field(default_factory=list)
    contributes: dict[str, list[str]] = field(default_factory=dict)
    builtin: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name, "module": self.module, "distribution": self.distribution,
            "version": self.version, "status": self.status, "error": self.error,
            "hooks": self.hooks, "contributes": self.contributes, "builtin": self.builtin,
        }


def new_manager() -> pluggy.PluginManager:
    pm = pluggy.PluginManager("frs")
    pm.add_hookspecs(hookspecs)
    return pm


def discover() -> list[md.EntryPoint]:
    seen: dict[str, md.EntryPoint] = {}
    for ep in md.entry_points(group=GROUP):
        seen.setdefault(ep.name, ep)  # the same dist can be visible twice on sys.path
    return sorted(seen.values(), key=lambda ep: ep.name)


def hook_names(pm: pluggy.PluginManager, plugin: object) -> list[str]:
    return sorted(caller.name for caller in (pm.get_hookcallers(plugin) or []))


def register(pm: pluggy.PluginManager, name: str, obj: object, info: PluginInfo) -> None:
    """Register one plugin object, refusing hook implementations that match no hookspec."""
    unknown = [attr for attr in dir(obj)
               if pm.parse_hookimpl_opts(obj, attr) is not None
               and getattr(getattr(pm.hook, attr, None), "spec", None) is None]
    if unknown:
        raise PluginError(f"implements unknown hook(s) {', '.join(unknown)}; see docs/plugins.md for the hook names")
    pm.register(obj, name=name)
    info.hooks = hook_names(pm, obj)


def load(pm: pluggy.PluginManager, enabled: list[str] | None, strict: bool,
         extra: dict[str, object] | None = None) -> dict[str, PluginInfo]:
    """Load every installed plugin that config enables; record the others and any failure."""
    infos: dict[str, PluginInfo] = {}
    for ep in discover():
        dist = getattr(ep, "dist", None)
        info = PluginInfo(name=ep.name, module=ep.value,
                          distribution=dist.name if dist else None,
                          version=dist.version if dist else None,
                          builtin=bool(dist and dist.name == "frs"))
        infos[ep.name] = info
        if enabled is not None and ep.name not in enabled:
            info.status = "disabled"
            continue
        try:
            register(pm, ep.name, ep.load(), info)
        except Exception as exc:  # one broken plugin must not take the others down
            fail(pm, info, f"failed to load: {type(exc).__name__}: {exc}", strict)
    for name, obj in (extra or {}).items():
        info = infos[name] = PluginInfo(name=name, module=getattr(obj, "__name__", repr(obj)))
        try:
            register(pm, name, obj, info)
        except Exception as exc:
            fail(pm, info, f"failed to load: {type(exc).__name__}: {exc}", strict)
    for name in enabled or []:
        if name not in infos:
            info = infos[name] = PluginInfo(name=name)
            fail(pm, info, "enabled in config but not installed (pip install the package that provides it, "
                           "or remove it from plugins.enabled)", strict)
    return infos


def fail(pm: pluggy.PluginManager, info: PluginInfo, reason: str, strict: bool) -> None:
    info.status = "failed"
    info.error = reason
    info.contributes = {}
    plugin = pm.get_plugin(info.name)
    if plugin is not None:
        pm.unregister(plugin)
    log.warning("plugin %s %s", info.name, reason)
    if strict:
        raise PluginError(f"plugin {info.name!r} {reason}")
