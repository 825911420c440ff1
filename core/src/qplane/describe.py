"""What the installed components take: the scenario's JSON Schema with every component's
parameters (``qplane schema scenario``) and one component's parameters (``qplane plugins --params``,
and the devkit's ``qplane describe``).

The scenario models type a component field as "a name or a mapping"; here every field of
:data:`qplane.components.FIELDS` (and every per-request protocol) becomes "one of the installed
names, or a mapping with the field's name key and that component's own parameters", read from a
:class:`~qplane.registry.Registry`. Each component's parameters are ``$defs/<kind>.<name>``, each
field's choice ``$defs/<kind>``.
"""

from __future__ import annotations

import copy
import json
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from .components import FIELDS, PER_REQUEST, ComponentField
from .registry import KINDS, Component, Registry

def scenario_schema(registry: Registry) -> dict[str, Any]:
    """The JSON Schema of a scenario with the parameters of every component of ``registry``."""
    from .requests import EntanglementRequest
    from .scenario import Scenario

    comps = {f.kind: registry.components(f.kind) for f in FIELDS}
    params = list(dict.fromkeys(c.params for cs in comps.values() for c in cs if _has_schema(c.params)))
    refs, top = models_json_schema([(m, "validation") for m in [Scenario, EntanglementRequest, *params]])
    defs = top["$defs"]
    ref = {m: _target(r) for (m, _), r in refs.items()}
    schema = defs.pop(ref[Scenario])
    for f in FIELDS:
        variants = []
        for c in comps[f.kind]:
            name = f"{c.kind}.{c.name}" + (f"@{c.plugin}" if f"{c.kind}.{c.name}" in defs else "")
            defs[name] = _variant(c, f, defs.get(ref.get(c.params), {}))
            variants.append({"$ref": f"#/$defs/{name}"})
        node = schema  # the model holding the field: follow the path's $refs
        for part in f.path.split(".")[:-1]:
            node = defs[_target(node["properties"][part])]
        old = node["properties"][f.leaf]
        types = {a.get("type") for a in old.get("anyOf", [old])}
        names = [{"type": "string", "enum": registry.names(f.kind)}] if "string" in types else []
        alts = names + variants  # none installed: no value is valid
        defs[f.kind] = {"title": KINDS[f.kind][1], **({"anyOf": alts} if alts else {"not": {}})}
        choice = {"$ref": f"#/$defs/{f.kind}"}
        node["properties"][f.leaf] = {**{k: old[k] for k in ("title", "description", "default") if k in old},
                                      "anyOf": [choice] + [{"type": "array", "items": choice}] * ("array" in types)
                                      + [{"type": "null"}] * ("null" in types)}  # traffic: a list; or null
    request = defs[ref[EntanglementRequest]]["properties"]
    request["protocols"]["anyOf"] = [{"type": "object", "additionalProperties": False, "properties": {
        key: {"$ref": f"#/$defs/{f.kind}"} for key, f in PER_REQUEST.items()}}, {"type": "null"}]
    text = json.dumps([schema, defs])
    for m in params:  # the models now copied into their components' $defs, unless something else uses them
        if f'"#/$defs/{ref[m]}"' not in text:
            defs.pop(ref[m], None)
    return {**schema, "$defs": defs}


def _target(prop: dict[str, Any]) -> str:
    """The ``$defs`` name a property refers to (directly, or as one member of ``anyOf``)."""
    return (prop.get("$ref") or next(a["$ref"] for a in prop.get("anyOf", ()) if "$ref" in a)).rsplit("/", 1)[-1]


def _has_schema(model: type[BaseModel]) -> bool:
    try:  # a plugin's model that has no JSON Schema leaves its components' parameters open
        model.model_json_schema()
        return True
    except Exception:
        return False


def _variant(c: Component, f: ComponentField, params: dict[str, Any]) -> dict[str, Any]:
    """The mapping form of component ``c`` in field ``f``: its name key, an optional plugin pin
    and its own parameters."""
    s = copy.deepcopy(params) or {"additionalProperties": True}
    s.update(type="object", title=f"{KINDS[c.kind][1]} {c.name}", description=c.description or s.get("description", ""))
    s["properties"] = {f.key: {"const": c.name, "description": f"the {KINDS[c.kind][1]}"},
                       "plugin": {"const": c.plugin, "description": "the plugin providing it (when several do)"},
                       **s.get("properties", {})}
    if c.name != f.implied_name():  # without the key, a mapping is the implied (or default) component
        s["required"] = [f.key, *s.get("required", [])]
    return s


def parameters(comp: Component) -> list[dict[str, Any]]:
    """One row per parameter of ``comp``: name, type, default (absent when required), description."""
    s = comp.params.model_json_schema() if _has_schema(comp.params) else {}
    required = set(s.get("required", ()))
    return [{"name": n, "type": _type(p), "required": n in required,
             **({} if n in required else {"default": p.get("default")}), "description": p.get("description", "")}
            for n, p in s.get("properties", {}).items()]


_BOUNDS = {"exclusiveMinimum": ">", "minimum": ">=", "exclusiveMaximum": "<", "maximum": "<="}


def _type(s: dict[str, Any]) -> str:
    """A short type from a JSON Schema: ``number > 0 | null``, ``"a" | "b"``, ``list[string]``."""
    if "anyOf" in s or "oneOf" in s:
        return " | ".join(_type(a) for a in s.get("anyOf", s.get("oneOf")))
    if "enum" in s or "const" in s:
        return " | ".join(json.dumps(v) for v in s.get("enum", [s.get("const")]))
    if "$ref" in s:
        return s["$ref"].rsplit("/", 1)[-1]
    t = s.get("type", "any")
    if t == "array":
        t = f"list[{_type(s.get('items', {}))}]"
    return ", ".join([t] + [f"{op} {s[k]}" for k, op in _BOUNDS.items() if k in s]).replace(", ", " ", 1)
