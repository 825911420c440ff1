"""The plugin manager: discovers plugins through the ``qplane`` entry-point group.

Built on demand by :func:`make_plugin_manager`, never at import time. Environment variables:

* ``QPLANE_DISABLE_PLUGIN_AUTOLOAD=1`` — load no entry points (tests register plugins by hand);
* ``QPLANE_PLUGINS=a,b`` — load only the named entry points;
* ``QPLANE_TRACE_PLUGINS=1`` — print every hook call to stderr.

A plugin that fails to import is recorded in ``pm.qplane_load_errors`` (name → error line) and
the others keep working.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from importlib import metadata

import pluggy

from . import hookspecs

ENTRY_POINT_GROUP = "qplane"


@dataclass
class PluginInfo:
    """What the core knows of one loaded plugin."""

    name: str
    distribution: str | None = None
    version: str | None = None
    module: str | None = None


@dataclass
class LoadReport:
    plugins: dict[str, PluginInfo] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)


def _entry_points() -> list[metadata.EntryPoint]:
    return sorted(metadata.entry_points(group=ENTRY_POINT_GROUP), key=lambda ep: ep.name)


def make_plugin_manager(extra_plugins: list[object] | None = None) -> pluggy.PluginManager:
    """Create a plugin manager with qplane's hook specs and every installed plugin loaded.

    ``extra_plugins`` are registered after the entry points (modules or objects with
    ``@hookimpl`` functions); tests and notebooks use this to add a plugin without installing it.
    """
    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    report = LoadReport()
    pm.qplane_load_report = report  # type: ignore[attr-defined]

    if os.environ.get("QPLANE_DISABLE_PLUGIN_AUTOLOAD", "") not in ("", "0"):
        allowed: set[str] | None = set()
    elif os.environ.get("QPLANE_PLUGINS"):
        allowed = {p.strip() for p in os.environ["QPLANE_PLUGINS"].split(",") if p.strip()}
    else:
        allowed = None

    for ep in _entry_points():
        if allowed is not None and ep.name not in allowed:
            continue
        if pm.has_plugin(ep.name):
            continue
        dist = getattr(ep, "dist", None)
        info = PluginInfo(
            name=ep.name,
            distribution=dist.metadata["Name"] if dist is not None else None,
            version=dist.version if dist is not None else None,
            module=ep.value,
        )
        try:
            plugin = ep.load()
            pm.register(plugin, name=ep.name)
        except Exception as e:  # a broken plugin must not take the others down
            one_line = "; ".join(l.strip() for l in str(e).strip().splitlines() if l.strip())  # pluggy's run long
            report.errors[ep.name] = f"{type(e).__name__}: {one_line}"
            continue
        report.plugins[ep.name] = info

    for plugin in extra_plugins or []:
        if pm.is_registered(plugin):
            continue
        base = getattr(plugin, "__name__", None) or type(plugin).__name__
        name, n = base, 1
        while pm.has_plugin(name) or name in report.errors:
            n += 1
            name = f"{base}-{n}"
        pm.register(plugin, name=name)
        report.plugins[name] = PluginInfo(name=name, module=base)

    if os.environ.get("QPLANE_TRACE_PLUGINS", "") not in ("", "0"):
        pm.trace.root.setwriter(sys.stderr.write)
        pm.enable_tracing()
    return pm


def load_errors(pm: pluggy.PluginManager) -> dict[str, str]:
    """Plugins that failed to load: name → one-line error."""
    return dict(getattr(pm, "qplane_load_report", LoadReport()).errors)


def plugin_infos(pm: pluggy.PluginManager) -> dict[str, PluginInfo]:
    return dict(getattr(pm, "qplane_load_report", LoadReport()).plugins)
