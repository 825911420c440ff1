"""Grid axes of parameter studies and ``--vary`` arms, and their labels.

Which lists of a raw scenario are sweep axes (a list where the schema expects a scalar, a name
or a component), how ``--vary PATH=V1,V2`` parses, and how points are named. Used by
:mod:`qplane.experiment`; see its docstring for the rules."""

from __future__ import annotations

import functools
import os
import types
import typing
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Mapping, Sequence

from pydantic import BaseModel

from .errors import ScenarioError, UnknownComponentError
from .requests import PER_REQUEST_PROTOCOLS
from .scenario import Protocols, Scenario, parse_set


# =============================================================================== grid axes


@dataclass
class Axis:
    """A dotted field path and the values it takes."""

    path: str
    values: list[Any]

    @property
    def parts(self) -> list[str]:
        return self.path.split(".")


#: scenario key under ``protocols`` -> component kind, where they differ (as in :mod:`qplane.sim`)
_PROTOCOL_KINDS = {"routing": "router", "scheduling": "scheduler"}

ParamLookup = Callable[[str, str], "type[BaseModel] | None"]


def _unwrap(ann: Any) -> list[Any]:
    """The alternatives of a (possibly Optional / Union / Annotated) annotation."""
    origin = typing.get_origin(ann)
    if origin is typing.Annotated:
        return _unwrap(typing.get_args(ann)[0])
    if origin is typing.Union or origin is types.UnionType:
        return [alt for a in typing.get_args(ann) for alt in _unwrap(a)]
    return [ann]


_LIST_TYPES = (list, tuple, set, frozenset)


def _expects_list(ann: Any) -> bool:
    import collections.abc as cabc

    for alt in _unwrap(ann):
        if alt in _LIST_TYPES:
            return True
        origin = typing.get_origin(alt)
        if origin in _LIST_TYPES or origin in (cabc.Sequence, cabc.MutableSequence, cabc.Set, cabc.Iterable):
            return True
    return False


def _model_of(ann: Any) -> type[BaseModel] | None:
    for alt in _unwrap(ann):
        if isinstance(alt, type) and issubclass(alt, BaseModel):
            return alt
    return None


def _item_model(ann: Any) -> type[BaseModel] | None:
    for alt in _unwrap(ann):
        args = typing.get_args(alt)
        if typing.get_origin(alt) in _LIST_TYPES and args:
            m = _model_of(args[0])
            if m is not None:
                return m
    return None


def _dict_value_model(ann: Any) -> type[BaseModel] | None:
    for alt in _unwrap(ann):
        if typing.get_origin(alt) is dict:
            args = typing.get_args(alt)
            if len(args) == 2:
                m = _model_of(args[1])
                if m is not None:
                    return m
    return None


class _AxisFinder:
    """Walks a raw scenario dictionary beside the schema and collects the list-valued fields."""

    def __init__(self, root: dict[str, Any], lookup: ParamLookup):
        self.root = root
        self.lookup = lookup
        self.axes: list[Axis] = []

    def add(self, path: tuple[str, ...], values: list[Any]) -> None:
        self.axes.append(Axis(".".join(path), list(values)))

    def model(self, data: Any, model: type[BaseModel], path: tuple[str, ...]) -> None:
        if not isinstance(data, dict):
            return
        for key, value in data.items():
            p = path + (str(key),)
            if self.component_field(p, value):
                continue
            if p in (("repetitions",), ("seed",)):
                continue  # one number each (the run seeds derive from them): a list is a plain error
            info = model.model_fields.get(str(key))
            if info is None:
                continue  # an unknown field: validation names it
            self.value(value, info.annotation, p)

    def value(self, value: Any, ann: Any, path: tuple[str, ...]) -> None:
        if isinstance(value, list):
            if _expects_list(ann):
                item = _item_model(ann)
                if item is not None:
                    for i, v in enumerate(value):
                        p = path + (str(i),)
                        if not self.component_field(p, v):
                            self.model(v, item, p)
                return
            self.add(path, value)
        elif isinstance(value, dict):
            m = _model_of(ann)
            if m is not None:
                self.model(value, m, path)
                return
            dm = _dict_value_model(ann)
            if dm is not None:
                for k, v in value.items():
                    self.model(v, dm, path + (str(k),))

    def component_field(self, path: tuple[str, ...], value: Any) -> bool:
        """Handle ``path`` if it holds a component reference; True when handled."""
        hw = self.root.get("hardware") if isinstance(self.root.get("hardware"), dict) else {}
        n = len(path)
        if path == ("backend",):
            self.component(value, "backend", "name", None, path)
        elif path == ("topology",):
            self.component(value, "topology", "builder", None, path)
        elif path == ("hardware", "memory"):
            self.component(value, "memory_model", "model", "depolarizing", path)
        elif path == ("hardware", "link"):
            self.component(value, "link_model", "scheme", "mim", path)
        elif n == 2 and path[0] == "protocols" and path[1] in Protocols.model_fields:
            kind = _PROTOCOL_KINDS.get(path[1], path[1])  # the kind is the key but for these two
            self.component(value, kind, "name", "age" if kind == "cutoff" else None, path)
        elif n == 4 and path[:2] == ("hardware", "nodes") and path[3] == "memory":
            mem = hw.get("memory")
            default = mem.get("model", "depolarizing") if isinstance(mem, dict) else "depolarizing"
            self.component(value, "memory_model", "model", default, path)
        elif n == 3 and path[:2] == ("hardware", "links") and path[2].isdigit():
            link = hw.get("link")
            default = link.get("scheme", "mim") if isinstance(link, dict) else "mim"
            self.component(value, "link_model", "scheme", default, path, skip=("between",))
        elif path == ("traffic",) and isinstance(value, list):  # several traffic models: not a sweep
            for i, item in enumerate(value):
                self.component(item, "traffic", "model", None, path + (str(i),), choice=False)
        elif path == ("traffic",):
            self.component(value, "traffic", "model", None, path)
        elif n == 3 and path[0] == "requests" and path[2] == "protocols":
            if isinstance(value, list):
                self.add(path, value)
            elif isinstance(value, dict):
                for key, ref in value.items():
                    kind = PER_REQUEST_PROTOCOLS.get(str(key))
                    if kind is not None:
                        self.component(ref, kind, "name", "age" if kind == "cutoff" else None, path + (str(key),))
        else:
            return False
        return True

    def component(self, value: Any, kind: str, key: str, default: str | None, path: tuple[str, ...],
                  skip: tuple[str, ...] = (), choice: bool = True) -> None:
        if isinstance(value, list):
            if choice:
                self.add(path, value)  # a choice between components
            return
        if not isinstance(value, dict):
            return
        name = value.get(key, default)
        if isinstance(name, list):
            self.add(path + (key,), name)
        if not any(isinstance(v, (list, dict)) for k, v in value.items() if k != key and k not in skip):
            return  # only scalars: nothing to look up (and no registry to build)
        names = name if isinstance(name, list) else [name]
        models = [self.lookup(kind, n) if isinstance(n, str) else None for n in names]
        for k, v in value.items():
            if k == key or k in skip:
                continue
            anns = [m.model_fields[k].annotation for m in models if m is not None and k in m.model_fields]
            if not anns:
                continue  # the component (or the parameter) is unknown: its validation says so
            if any(_expects_list(a) for a in anns):
                self.value(v, anns[0], path + (str(k),))
            elif isinstance(v, (list, dict)):
                self.value(v, anns[0], path + (str(k),))


@functools.lru_cache(maxsize=4)
def _installed_param_models(autoload: str, allowed: str) -> dict[tuple[str, str], type[BaseModel]]:
    """Parameter models of the installed components (entry points; cached per environment)."""
    from .backend import INSTALLED_BACKENDS
    from .registry import KINDS, Registry

    saved = dict(INSTALLED_BACKENDS)  # building a registry refreshes this global: keep the caller's
    try:
        registry = Registry()
    finally:
        INSTALLED_BACKENDS.clear()
        INSTALLED_BACKENDS.update(saved)
    return {(kind, c.name): c.params for kind in KINDS for c in registry.components(kind)}


def _registry_lookup(registry: Any | None) -> ParamLookup:
    if registry is not None:
        def lookup(kind: str, name: str) -> type[BaseModel] | None:
            try:
                return registry.get(kind, name).params
            except (UnknownComponentError, KeyError):
                return None
        return lookup

    def lazy(kind: str, name: str) -> type[BaseModel] | None:
        models = _installed_param_models(os.environ.get("QPLANE_DISABLE_PLUGIN_AUTOLOAD", ""),
                                         os.environ.get("QPLANE_PLUGINS", ""))
        return models.get((kind, name))
    return lazy


def find_axes(data: dict[str, Any], registry: Any | None = None) -> list[Axis]:
    """The grid axes of a raw scenario dictionary: every list where the schema (or the chosen
    component's parameter model, looked up in ``registry`` or the installed plugins) expects
    one value. In the order they appear in the file."""
    if not isinstance(data, dict):
        return []
    finder = _AxisFinder(data, _registry_lookup(registry))
    finder.model(data, Scenario, ())
    return finder.axes


def reject_parameter_lists(data: dict[str, Any], source: str) -> None:
    """Raise the error a single run gives for a parameter study (used by ``load_scenario``)."""
    axes = find_axes(data)
    if axes:
        names = ", ".join(a.path for a in axes)
        raise ScenarioError(
            f"a list of values ({_fmt_value(axes[0].values)}) makes this a parameter study "
            f"({names}): run it with `qplane sweep` (or give one value, e.g. --set {axes[0].path}=...)",
            field=axes[0].path,
            source=source,
        )


# =============================================================================== --vary


def _split_values(raw: str) -> list[str]:
    """Split ``a,{name: b, rounds: 2},[1, 2]`` on the commas outside brackets and quotes."""
    out, depth, quote, cur = [], 0, "", []
    for ch in raw:
        if quote:
            if ch == quote:
                quote = ""
        elif ch in "'\"":
            quote = ch
        elif ch in "[{(":
            depth += 1
        elif ch in "]})":
            depth -= 1
        elif ch == "," and depth == 0:
            out.append("".join(cur).strip())
            cur = []
            continue
        cur.append(ch)
    out.append("".join(cur).strip())
    return out


def parse_vary(spec: str) -> Axis:
    """``"protocols.purification=none,bbpssw,dejmps"`` → an :class:`Axis` with three values.

    The path is a ``--set`` path; each value is a YAML scalar (or flow mapping, e.g.
    ``{name: dejmps, rounds: 2}``), split on the commas outside brackets and quotes. A single
    YAML flow sequence (``[10, 20]``) gives its items."""
    if "=" not in spec:
        raise ScenarioError(f"--vary {spec!r}: expected dotted.path=value1,value2,...")
    path, _, raw = spec.partition("=")
    values = []
    parts: list[str] = []
    for piece in _split_values(raw):
        try:
            parts, value = parse_set(f"{path}={piece}")
        except ScenarioError as e:
            raise ScenarioError(e.message.replace("--set", "--vary")) from e
        values.append(value)
    if len(values) == 1 and isinstance(values[0], list):
        values = values[0]
    if not values:
        raise ScenarioError(f"--vary {spec!r}: no values")
    return Axis(".".join(parts), values)


def _vary_axes(vary: Mapping[str, Any] | Sequence[str] | None) -> list[Axis]:
    if vary is None:
        return []
    if isinstance(vary, str):
        vary = [vary]
    if isinstance(vary, Mapping):
        axes = [Axis(str(k), list(v) if isinstance(v, (list, tuple)) else [v]) for k, v in vary.items()]
    else:
        axes = [parse_vary(s) if isinstance(s, str) else s for s in vary]
    seen: set[str] = set()
    for a in axes:
        if not a.values:
            raise ScenarioError(f"--vary {a.path}: no values", field=a.path)
        if a.path in seen:
            raise ScenarioError(f"--vary {a.path} given twice: put every value in one --vary", field=a.path)
        seen.add(a.path)
    return axes


# =============================================================================== labels


def _fmt_value(v: Any) -> str:
    if isinstance(v, dict):
        name = next((v[k] for k in ("name", "builder", "scheme", "model") if k in v), None)
        rest = ", ".join(f"{k}={_fmt_value(x)}" for k, x in v.items() if x is not name)
        return f"{name}({rest})" if name is not None else "{" + rest + "}"
    if isinstance(v, list):
        return "[" + ", ".join(_fmt_value(x) for x in v) + "]"
    if v is None:
        return "null"
    if isinstance(v, float):
        return format(v, "g")
    return str(v)


def short_names(paths: Iterable[str]) -> dict[str, str]:
    """The last part of each dotted path, or more of it where two would be the same."""
    paths = list(paths)
    out = {}
    for p in paths:
        parts = p.split(".")
        for k in range(1, len(parts) + 1):
            cand = ".".join(parts[-k:])
            if sum(1 for q in paths if q == cand or q.endswith("." + cand)) == 1:
                out[p] = cand
                break
        else:
            out[p] = p
    return out


def _label(values: Mapping[str, Any], names: Mapping[str, str]) -> str:
    return ", ".join(f"{names[p]}={_fmt_value(v)}" for p, v in values.items())
