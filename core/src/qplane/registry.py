"""The registry of named components.

A scenario selects every protocol, model and backend by name; the registry maps
``(kind, name)`` to the component's factory and its pydantic parameter model, and records
which plugin registered it. An unknown name is an error that lists the installed names.

Two plugins may register the same name for the same kind (a third-party plugin offering its
own ``shortest-path``, say): both are kept, and selecting that name is an error naming every
plugin that provides it (:class:`AmbiguousComponentError`) unless the scenario pins one with a
``plugin`` key beside the name, ``routing: {name: shortest-path, plugin: routing}``. A pin is
checked even when the name is unambiguous.
"""

from __future__ import annotations

import difflib
import json
import typing
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
    "repeater": ("qplane_register_repeaters", "repeater generation"),
    "purification": ("qplane_register_purification", "purification protocol"),
    "cutoff": ("qplane_register_cutoff_policies", "cutoff policy"),
    "topology_manager": ("qplane_register_topology_managers", "topology manager"),
    "application": ("qplane_register_applications", "application"),
    "traffic": ("qplane_register_traffic_models", "traffic model"),
    "command": ("qplane_register_commands", "command"),
}


class AmbiguousComponentError(UnknownComponentError, PluginError):
    """A scenario selects a name that several plugins register and does not pin one.

    The name alone does not identify a component, hence an :class:`UnknownComponentError`
    (code that asks "does this name resolve?" treats both alike); it is also a
    :class:`PluginError` because the installed plugins collide. The message names every
    plugin providing the name and shows the pin that resolves it."""


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
            raise scenario_error_from_validation(e, prefix=field, model=self.params) from e


def scenario_error_from_validation(e: ValidationError, prefix: str = "",
                                   model: type[BaseModel] | None = None) -> ScenarioError:
    """Turn a pydantic error into a one-line :class:`ScenarioError` naming the field.

    ``model`` is the model that was validated: an unknown field's message then lists the
    fields valid there and suggests the closest."""
    lines = []
    first_field = None
    seen: set[str] = set()
    for err in e.errors():
        loc = ".".join(str(p) for p in err.get("loc", ()) if not _is_union_tag(p))
        field = ".".join(p for p in (prefix, loc) if p)
        if field in seen:  # the alternatives of a union: one line per field is enough
            continue
        seen.add(field)
        msg = err.get("msg", "invalid")
        if msg.startswith("Value error, "):
            msg = msg[len("Value error, "):]
        if err.get("type") == "extra_forbidden":
            msg = _unknown_field(model, err.get("loc", ()))
        elif isinstance(err.get("input"), list) and field and str(err.get("type")).endswith("_type"):
            # a list where one value is expected (not a list field's own bound): a parameter study
            msg = (f"a list of values ({_shown(err['input'])}) makes this a parameter study: "
                   f"run it with `qplane sweep` (or give one value, e.g. --set {field}=...)")
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


def _shown(values: list[Any], most: int = 6) -> str:
    """A list as JSON, its first ``most`` items only, nested lists and mappings elided."""
    items = ["[...]" if isinstance(v, (list, tuple)) else "{...}" if isinstance(v, dict)
             else json.dumps(v, default=str)[:40] for v in values[:most]]
    return "[" + ", ".join(items + (["..."] if len(values) > most else [])) + "]"


def _unknown_field(model: type[BaseModel] | None, loc: tuple[Any, ...]) -> str:
    """``unknown field 'routng'; did you mean 'routing'? valid fields: ...``, from the fields of
    the model found by following ``loc`` (list indexes, mapping keys, union tags are skipped)."""
    models = [model] if model is not None else []
    for p in loc[:-1]:
        f = next((m.model_fields[p] for m in models if isinstance(p, str) and p in m.model_fields), None)
        models = _models_in(f.annotation) if f is not None else models
    bad = str(loc[-1]) if loc else ""
    valid = list(dict.fromkeys(f.alias or n for m in models for n, f in m.model_fields.items()))
    if not models:
        return f"unknown field {bad!r}"
    if not valid:
        return f"unknown field {bad!r} (takes no parameters)"
    close = difflib.get_close_matches(bad, valid, n=1)
    hint = f"did you mean {close[0]!r}? " if close else ""
    return f"unknown field {bad!r}; {hint}valid fields: {', '.join(valid)}"


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    # the models a field holds: itself, or inside Optional/Union/list/dict
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [m for a in typing.get_args(annotation) for m in _models_in(a)]


def _is_union_tag(p: Any) -> bool:
    # pydantic puts the union member's type name into the location; users never wrote it
    return isinstance(p, str) and (p.startswith("function-") or p in ("str", "dict[str,any]"))


class Registry:
    """Named components by kind, filled from the registration hooks of a plugin manager."""

    def __init__(self, pm: pluggy.PluginManager | None = None):
        self.pm = pm if pm is not None else make_plugin_manager()
        #: kind -> name -> plugin -> component (several plugins may provide one name)
        self._providers: dict[str, dict[str, dict[str, Component]]] = {k: {} for k in KINDS}
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
        self._check_unknown_hooks()
        from .backend import INSTALLED_BACKENDS, backend_capabilities

        INSTALLED_BACKENDS.clear()
        for comp in self.components("backend"):
            INSTALLED_BACKENDS[comp.name] = backend_capabilities(comp.factory) or frozenset()

    def _check_unknown_hooks(self) -> None:
        """A ``@hookimpl`` whose name is no qplane hook (``qplane_register_router``, say) would
        never be called: name it as the plugin's error instead of ignoring it silently."""
        for name, obj in self.pm.list_name_plugin():
            if obj is None:
                continue
            for caller in self.pm.get_hookcallers(obj) or []:
                if caller.spec is not None:
                    continue
                if any(i.plugin is obj and not i.optionalhook for i in caller.get_hookimpls()):
                    msg = f"{caller.name}: not a qplane hook (misspelt? the hooks are in qplane.hookspecs)"
                    prev = self.errors.get(name)
                    self.errors[name] = f"{prev}; {msg}" if prev else msg

    def _register_callback(self, kind: str, plugin: str) -> Callable[..., None]:
        def register(
            name: str,
            factory: Callable[..., Any],
            params: type[BaseModel] = NoParams,
            description: str = "",
        ) -> None:
            if not isinstance(name, str) or not name:
                raise TypeError(f"register(name, ...) needs a non-empty string name (got {name!r})")
            doc = description or (factory.__doc__ or "").strip().splitlines()[0:1]
            if isinstance(doc, list):
                doc = doc[0] if doc else ""
            # a plugin registering one name twice replaces its own entry; another plugin's
            # entry for the same name is kept beside it (selecting the name then needs a pin)
            self._providers[kind].setdefault(name, {})[plugin] = Component(kind, name, factory, params, plugin, doc)

        return register

    def names(self, kind: str) -> list[str]:
        return sorted(self._providers[kind])

    def components(self, kind: str) -> list[Component]:
        """Every component of ``kind``, by name, then by plugin (a name several plugins
        provide appears once per plugin)."""
        return [c for n in self.names(kind) for _, c in sorted(self._providers[kind][n].items())]

    def providers(self, kind: str, name: str) -> list[str]:
        """The plugins that register ``name`` as a component of ``kind``, sorted."""
        return sorted(self._providers[kind].get(name, {}))

    def conflicts(self) -> list[tuple[str, str, list[str]]]:
        """``(kind, name, plugins)`` for every name that several plugins register."""
        return [(kind, name, sorted(by_plugin)) for kind in KINDS
                for name, by_plugin in sorted(self._providers[kind].items()) if len(by_plugin) > 1]

    def get(self, kind: str, name: str, field: str | None = None, plugin: str | None = None, *,
            plugin_field: str | None = None, key: str = "name") -> Component:
        """The component ``name`` of ``kind``; ``plugin`` pins the plugin that provides it.

        Raises :class:`UnknownComponentError` (listing the installed names) for an unknown
        name or a pin to a plugin that does not provide it, and
        :class:`AmbiguousComponentError` (naming every provider) when several plugins provide
        ``name`` and nothing pins one. ``field`` / ``plugin_field`` are the scenario fields the
        name and the pin came from; ``key`` is the name's key there (for the hint)."""
        what = KINDS[kind][1]
        by_plugin = self._providers[kind].get(name)
        if not by_plugin:
            installed = ", ".join(self.names(kind)) or "none"
            raise UnknownComponentError(
                f"unknown {what} {name!r}; installed: {installed}{self._failed_hint()}", field=field
            )
        if plugin is not None:
            if not isinstance(plugin, str):
                raise ScenarioError(f"'plugin' names the plugin that provides {name!r} (got {plugin!r})",
                                    field=plugin_field or field)
            comp = by_plugin.get(plugin)
            if comp is None:
                raise UnknownComponentError(
                    f"plugin {plugin!r} does not provide {what} {name!r}; "
                    f"provided by: {', '.join(_quoted(sorted(by_plugin)))}{self._failed_hint()}",
                    field=plugin_field or field,
                )
            return comp
        if len(by_plugin) == 1:
            return next(iter(by_plugin.values()))
        plugins = sorted(by_plugin)
        raise AmbiguousComponentError(
            f"{what} {name!r} is registered by {_both(plugins)}; pin one, e.g. "
            f"{{{key}: {name}, plugin: {plugins[0]}}}",
            field=field,
        )

    def _failed_hint(self) -> str:
        from .plugins import load_errors

        failed = sorted({**load_errors(self.pm), **self.errors})
        return f" (plugins that failed to load: {', '.join(_quoted(failed))})" if failed else ""


def _quoted(names: list[str]) -> list[str]:
    return [repr(n) for n in names]


def _both(plugins: list[str]) -> str:
    quoted = _quoted(plugins)
    if len(quoted) == 2:
        return f"both plugin {quoted[0]} and plugin {quoted[1]}"
    return "plugins " + ", ".join(quoted[:-1]) + f" and {quoted[-1]}"
