"""Which lists of a raw scenario are lists of values (the axes of a parameter study).

A list where the schema expects one value (a scalar, a name or a component:
``spacing_km: [10, 20]``, ``purification: [none, dejmps]``) makes a scenario a parameter study;
a list the schema declares (``requests``, ``hardware.links``, ``between``) does not, and is
walked into. A component's parameters are checked against that component's own model. The core
refuses such values with a pointer to ``qplane sweep`` (through the validation error); this
module finds them all, for :mod:`qplane_experiment.grid`.
"""

from __future__ import annotations

import collections.abc as cabc
import functools
import os
import types
import typing
from typing import Any, Callable, Union

from pydantic import BaseModel

from qplane import components
from qplane.scenario import Scenario


#: ``(kind, name)`` -> that component's parameter model (None: not installed)
ParamLookup = Callable[[str, str], "type[BaseModel] | None"]


def find_value_lists(data: dict[str, Any], lookup: ParamLookup | None = None) -> list[tuple[str, list[Any]]]:
    """Every list of a raw scenario mapping where the schema expects one value, as ``(dotted
    path, values)`` in the order of the file: a list where a model field expects a scalar, a
    name or a component (``spacing_km: [10, 20]``, ``purification: [none, dejmps]``), never a
    list the schema declares (``requests``, ``hardware.links``, ``between``), which is walked
    into instead. A component's parameters are checked against its own parameter model, found
    with ``lookup`` (default: the installed plugins), only when one of them is a list or mapping.

    ``qplane sweep`` makes these lists the axes of its grid."""
    found: list[tuple[str, list[Any]]] = []
    if not isinstance(data, dict):
        return found
    lookup = lookup or _installed_param_model
    hw = data.get("hardware") if isinstance(data.get("hardware"), dict) else {}

    def walk(value: Any, ann: Any, path: tuple[str, ...]) -> None:
        ref = _component_field(hw, path)
        if ref is not None:
            component(value, path, *ref)
        elif isinstance(value, list):
            declared, item = _container(ann, _SEQUENCES, 0)
            if not declared:
                found.append((".".join(path), value))
            elif item is not None:
                for i, v in enumerate(value):
                    walk(v, item, path + (str(i),))
        elif isinstance(value, dict):
            model = _model_in(ann)
            for k, v in value.items():
                p = path + (str(k),)
                if model is None:  # a mapping of models (hardware.nodes) or of component references
                    walk(v, _container(ann, (dict,), 1)[1], p)
                elif str(k) in model.model_fields and p not in (("seed",), ("repetitions",)):
                    walk(v, model.model_fields[str(k)].annotation, p)  # unknown fields: validation names them

    def component(value: Any, path: tuple[str, ...], kind: str, key: str, default: str | None,
                  skip: tuple[str, ...], many: bool) -> None:
        if isinstance(value, list):
            if many:  # several models (traffic): not a choice
                for i, item in enumerate(value):
                    if isinstance(item, dict):
                        component(item, path + (str(i),), kind, key, default, skip, False)
            else:  # a choice between components
                found.append((".".join(path), value))
            return
        if not isinstance(value, dict):
            return
        name = value.get(key, default)
        if isinstance(name, list):
            found.append((".".join(path + (key,)), name))
        params = {k: v for k, v in value.items() if k != key and k not in skip and isinstance(v, (list, dict))}
        if not params:
            return  # only scalars: nothing to look up
        models = [m for n in (name if isinstance(name, list) else [name]) if isinstance(n, str)
                  for m in [lookup(kind, n)] if m is not None]
        for k, v in params.items():
            anns = [m.model_fields[k].annotation for m in models if k in m.model_fields]
            if anns:  # else the component (or the parameter) is unknown: its validation says so
                walk(v, anns[0], path + (str(k),))

    walk(data, Scenario, ())
    return found


def _component_field(hw: dict[str, Any], path: tuple[str, ...]) -> tuple[Any, ...] | None:
    """``(kind, name key, default name, keys that are no parameters, many)`` of the component
    selected at ``path``, or None."""
    f, skip, scenario_wide = components.BY_PATH.get(".".join(path)), (), None
    if f is None and len(path) == 4 and path[:2] == ("hardware", "nodes") and path[3] == "memory":
        f, scenario_wide = components.BY_PATH["hardware.memory"], hw.get("memory")  # its model by default
    elif f is None and len(path) == 3 and path[:2] == ("hardware", "links") and path[2].isdigit():
        f, skip, scenario_wide = components.BY_PATH["hardware.link"], ("between",), hw.get("link")
    elif f is None and len(path) == 4 and path[0] == "requests" and path[2] == "protocols":
        f = components.PER_REQUEST.get(path[3])
    if f is None:
        return None
    default = f.implied_name()
    if isinstance(scenario_wide, dict):
        default = scenario_wide.get(f.key, default)
    return f.kind, f.key, default, skip, f.many


def _alternatives(ann: Any) -> list[Any]:
    """The alternatives of a (possibly Optional / Union / Annotated) annotation."""
    origin = typing.get_origin(ann)
    if origin is typing.Annotated:
        return _alternatives(typing.get_args(ann)[0])
    if origin is Union or origin is types.UnionType:
        return [alt for a in typing.get_args(ann) for alt in _alternatives(a)]
    return [ann]


def _model_in(ann: Any) -> type[BaseModel] | None:
    return next((a for a in _alternatives(ann) if isinstance(a, type) and issubclass(a, BaseModel)), None)


_SEQUENCES = (list, tuple, set, frozenset, cabc.Sequence, cabc.MutableSequence, cabc.Set, cabc.Iterable)


def _container(ann: Any, origins: tuple[Any, ...], arg: int) -> tuple[bool, type[BaseModel] | None]:
    """Whether ``ann`` allows a container of one of ``origins`` (``list``, ``dict``), and the
    model of that container's ``arg``-th type argument (its items, its values) if it is one."""
    for alt in _alternatives(ann):
        if (typing.get_origin(alt) or alt) in origins:
            args = typing.get_args(alt)
            return True, _model_in(args[arg]) if len(args) > arg else None
    return False, None


def _installed_param_model(kind: str, name: str) -> type[BaseModel] | None:
    models = _installed_param_models(os.environ.get("QPLANE_DISABLE_PLUGIN_AUTOLOAD", ""),
                                     os.environ.get("QPLANE_PLUGINS", ""))
    return models.get((kind, name))


@functools.lru_cache(maxsize=4)
def _installed_param_models(autoload: str, allowed: str) -> dict[tuple[str, str], type[BaseModel]]:
    """Parameter models of the installed components (entry points; cached per environment)."""
    from qplane.backend import INSTALLED_BACKENDS
    from qplane.registry import KINDS, Registry

    saved = dict(INSTALLED_BACKENDS)  # building a registry refreshes this global: keep the caller's
    try:
        registry = Registry()
    finally:
        INSTALLED_BACKENDS.clear()
        INSTALLED_BACKENDS.update(saved)
    return {(kind, c.name): c.params for kind in KINDS for c in registry.components(kind)}
