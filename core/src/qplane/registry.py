"""The registry of named components.

A scenario selects every protocol, model and backend by name; the registry maps
``(kind, name)`` to the component's factory and its pydantic parameter model, and records
which plugin registered it. An unknown name is an error that lists the installed names; a
name registered twice is an error that names both plugins.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import pluggy
from pydantic import BaseModel, ConfigDict, ValidationError

from .errors import PluginError, ScenarioError, UnknownComponentError
from .plugins import make_plugin_manager

#: kind → (registration hook, what the kind is called in messages)
KINDS: dict[str, tuple[str, str]] = {
    "backend": ("qplane_register_backends", "backend"),
    "topology": ("qplane_register_topology_builders", "topology builder"),
    "link_model": ("qplane_register_link_models", "link scheme"),
    "memory_model": ("qplane_register_memory_models", "memory model"),
    "router": ("qplane_register_routers", "router"),
    "scheduler": ("qplane_register_schedulers", "scheduler"),
    "link_generation": ("qplane_register_link_generators", "link-generation protocol"),
    "swapping": ("qplane_register_swap_policies", "swapping policy"),
    "purification": ("qplane_register_purification", "purification protocol"),
    "cutoff": ("qplane_register_cutoff_policies", "cutoff policy"),
    "application": ("qplane_register_applications", "application"),
    "command": ("qplane_register_commands", "command"),
}


class NoParams(BaseModel):
    """Parameter model of a component that takes no parameters."""

    model_config = ConfigDict(extra="forbid")


@dataclass(frozen=True)
class BuildContext:
    """What a topology builder may need besides its parameters."""

    base_dir: Path = Path(".")


@dataclass(frozen=True)
class Component:
    kind: str
    name: str
    factory: Callable[..., Any]
    params: type[BaseModel]
    plugin: str
    description: str = ""

    def validate(self, raw: dict[str, Any], field: str) -> BaseModel:
        """Validate ``raw`` parameters; errors name ``field`` and the parameter."""
        try:
            return self.params.model_validate(raw)
        except ValidationError as e:
            raise scenario_error_from_validation(e, prefix=field) from e


def scenario_error_from_validation(e: ValidationError, prefix: str = "") -> ScenarioError:
    """Turn a pydantic error into a one-line :class:`ScenarioError` naming the field."""
    lines = []
    first_field = None
    for err in e.errors():
        loc = ".".join(str(p) for p in err.get("loc", ()) if not _is_union_tag(p))
        field = ".".join(p for p in (prefix, loc) if p)
        msg = err.get("msg", "invalid")
        if msg.startswith("Value error, "):
            msg = msg[len("Value error, "):]
        if err.get("type") == "extra_forbidden":
            msg = "unknown field"
        elif "input" in err and err.get("type") not in ("missing",):
            inp = err["input"]
            if isinstance(inp, (int, float, str, bool)) or inp is None:
                msg = f"{msg} (got {inp!r})"
        if first_field is None:
            first_field = field
            lines.append(msg)
        else:
            lines.append(f"{field}: {msg}")
    return ScenarioError("; ".join(lines), field=first_field or prefix or None)


def _is_union_tag(p: Any) -> bool:
    # pydantic puts the union member's type name into the location; users never wrote it
    return isinstance(p, str) and (p.startswith("function-") or p in ("str", "dict[str,any]"))


class Registry:
    """Named components by kind, filled from the registration hooks of a plugin manager."""

    def __init__(self, pm: pluggy.PluginManager | None = None):
        self.pm = pm if pm is not None else make_plugin_manager()
        self._components: dict[str, dict[str, Component]] = {k: {} for k in KINDS}
        self.errors: dict[str, str] = {}
        # each impl is called on its own (so one plugin's failure is its own), which bypasses
        # pluggy's hook-call monitoring: trace here what QPLANE_TRACE_PLUGINS promises
        hooktrace = self.pm.trace.root.get("hook")
        for kind, (hook_name, _) in KINDS.items():
            hook = getattr(self.pm.hook, hook_name)
            for impl in hook.get_hookimpls():
                register = self._register_callback(kind, impl.plugin_name)
                hooktrace(hook_name, {"plugin": impl.plugin_name, "register": register})
                try:
                    impl.function(register=register)
                except PluginError:
                    raise
                except Exception as e:  # a plugin broken at registration is named, not fatal
                    msg = f"{hook_name}: {type(e).__name__}: {e}"
                    prev = self.errors.get(impl.plugin_name)
                    self.errors[impl.plugin_name] = f"{prev}; {msg}" if prev else msg
        from .backend import INSTALLED_BACKENDS, backend_capabilities

        INSTALLED_BACKENDS.clear()
        for comp in self.components("backend"):
            INSTALLED_BACKENDS[comp.name] = backend_capabilities(comp.factory) or frozenset()

    def _register_callback(self, kind: str, plugin: str) -> Callable[..., None]:
        def register(
            name: str,
            factory: Callable[..., Any],
            params: type[BaseModel] = NoParams,
            description: str = "",
        ) -> None:
            existing = self._components[kind].get(name)
            if existing is not None and existing.plugin != plugin:
                raise PluginError(
                    f"{KINDS[kind][1]} {name!r} is registered by both plugin "
                    f"{existing.plugin!r} and plugin {plugin!r}"
                )
            doc = description or (factory.__doc__ or "").strip().splitlines()[0:1]
            if isinstance(doc, list):
                doc = doc[0] if doc else ""
            self._components[kind][name] = Component(kind, name, factory, params, plugin, doc)

        return register

    def names(self, kind: str) -> list[str]:
        return sorted(self._components[kind])

    def components(self, kind: str) -> list[Component]:
        return [self._components[kind][n] for n in self.names(kind)]

    def get(self, kind: str, name: str, field: str | None = None) -> Component:
        try:
            return self._components[kind][name]
        except KeyError:
            installed = ", ".join(self.names(kind)) or "none"
            raise UnknownComponentError(
                f"unknown {KINDS[kind][1]} {name!r}; installed: {installed}", field=field
            ) from None
