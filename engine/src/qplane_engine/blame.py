"""Which plugin is at fault: an exception raised during a run, mapped to the plugin whose code
raised it (the deepest traceback frame in a plugin's modules).

The run loop (:meth:`qplane_engine.sim.Simulation.run`) turns such an exception into one
:class:`qplane.errors.PluginError` line naming the plugin; errors with no plugin code on their
traceback (the core's, the engine's, a library's called by them) pass as they are.
"""

from __future__ import annotations

import types
from pathlib import Path
from typing import Any

from qplane.registry import KINDS, Registry

#: modules whose frames never make a plugin the culprit: the core's, the engine's, and the
#: conformance kits' (they wrap a component's calls to watch them; the component under test is
#: to blame)
NEVER_BLAMED = ("qplane.", "qplane_engine.", "qplane_devkit.conformance")


def plugin_modules(registry: Registry) -> tuple[dict[str, str], dict[str, str]]:
    """``(module -> plugin, package -> plugin)`` for every registered plugin: the modules of the
    plugin object, of its hook implementations and of its components' factories. A package
    shared by several plugins is left out (their modules still match exactly)."""
    found: dict[str, set[str]] = {}  # module -> plugins

    def add(module: Any, plugin: str) -> None:
        if not isinstance(module, str) or not module or module in ("builtins", "qplane", "qplane_engine"):
            return
        if module.startswith(NEVER_BLAMED):
            return  # the core's and the engine's frames are never a plugin's, nor the kits' watchers
        found.setdefault(module, set()).add(plugin)

    pm = registry.pm
    for name, obj in pm.list_name_plugin():
        if obj is None:
            continue
        add(obj.__name__ if isinstance(obj, types.ModuleType) else type(obj).__module__, name)
        for caller in pm.get_hookcallers(obj) or []:
            for impl in caller.get_hookimpls():
                if impl.plugin is obj:
                    add(getattr(impl.function, "__module__", None), name)
    for kind in KINDS:
        for comp in registry.components(kind):
            add(getattr(comp.factory, "__module__", None), comp.plugin)
    exact = {m: next(iter(p)) for m, p in found.items() if len(p) == 1}
    packages: dict[str, set[str]] = {}
    for module, plugins in found.items():
        package = module.rpartition(".")[0] or module
        packages.setdefault(package, set()).update(plugins)
    prefix = {pkg: next(iter(p)) for pkg, p in packages.items() if len(p) == 1 and pkg not in ("__main__",)}
    return exact, prefix


def plugin_of_module(module: str, modules: tuple[dict[str, str], dict[str, str]]) -> str | None:
    """The plugin whose code ``module`` is, or None (the core, the engine, a library, unknown);
    ``modules`` is :func:`plugin_modules`'s answer."""
    exact, prefix = modules
    if module in exact:
        return exact[module]
    parts = module.split(".")
    for i in range(len(parts), 0, -1):
        plugin = prefix.get(".".join(parts[:i]))
        if plugin is not None:
            return plugin
    return None


def plugin_at_fault(registry: Registry, error: BaseException) -> tuple[str, str] | None:
    """``(plugin, where)`` for the deepest frame of ``error``'s traceback that runs a plugin's
    code (``where`` is ``file:line in function``), or None when no plugin code is on the
    traceback."""
    modules = plugin_modules(registry)
    frames = []
    tb = error.__traceback__
    while tb is not None:
        frames.append(tb.tb_frame)
        tb = tb.tb_next
    for frame in reversed(frames):
        module = frame.f_globals.get("__name__", "")
        plugin = plugin_of_module(module, modules) if isinstance(module, str) else None
        if plugin is not None:
            code = frame.f_code
            short = "/".join(Path(code.co_filename).parts[-2:]) if code.co_filename else module
            return plugin, f"{short}:{frame.f_lineno} in {code.co_name}"
    return None
