"""``qplane describe KIND NAME``: one component's plugin, description and parameters.

KIND is a registry kind (``router``) or a scenario field (``routing``, ``protocols.routing``);
the parameters are read from the component's own model (:func:`qplane.describe.parameters`),
as ``qplane plugins --params`` and ``qplane schema scenario`` read them.
"""

from __future__ import annotations

import argparse
import difflib
import json
from typing import Any

from qplane.cli import EXIT_OK, table
from qplane.components import FIELDS
from qplane.describe import parameters
from qplane.errors import QPlaneError
from qplane.registry import KINDS

#: what ``qplane describe KIND`` accepts besides a kind: a scenario field, by leaf or by path
FIELD_KINDS = {**{f.leaf: f.kind for f in FIELDS}, **{f.path: f.kind for f in FIELDS}}


def add_describe_command(sub: Any) -> None:
    p = sub.add_parser("describe", help="show a component's plugin, description and parameters")
    p.add_argument("kind", help="a kind (router, topology_manager, ...) or a scenario field (routing, link, ...)")
    p.add_argument("name", help="the component's name, e.g. shortest-path")
    p.add_argument("--json", action="store_true",
                   help="machine-readable output (a list when several plugins provide the name)")
    p.set_defaults(func=cmd_describe)


def cmd_describe(args: argparse.Namespace) -> int:
    registry = args.registry
    kind = resolve_kind(args.kind)
    field = next((f for f in FIELDS if f.kind == kind), None)
    found = [{"kind": kind, "name": c.name, "plugin": c.plugin, "description": c.description,
              "field": field.path if field else None, "key": field.key if field else None,
              "parameters": parameters(c)} for c in registry.components(kind) if c.name == args.name]
    if not found:
        registry.get(kind, args.name)  # raises: unknown, listing the installed names
    if args.json:
        print(json.dumps(found[0] if len(found) == 1 else found, indent=2))
        return EXIT_OK
    for d in found:
        print(f"{KINDS[kind][1]} {d['name']} (plugin {d['plugin']}): {d['description']}")
        if field is not None:
            print(f"scenario: {field.path}: {{{field.key}: {d['name']}, <parameters>}}")
        rows = [[r["name"], r["type"], "required" if r["required"] else json.dumps(r["default"]), r["description"]]
                for r in d["parameters"]]
        print(table(["parameter", "type", "default", "description"], rows) if rows else "no parameters")
    return EXIT_OK


def resolve_kind(kind: str) -> str:
    """The registry kind ``kind`` names: a kind (``router``) or a scenario field (``routing``,
    ``protocols.routing``)."""
    if kind in KINDS or kind in FIELD_KINDS:
        return FIELD_KINDS.get(kind, kind)
    close = difflib.get_close_matches(kind, [*KINDS, *FIELD_KINDS], n=1)
    hint = f"did you mean {close[0]!r}? " if close else ""
    raise QPlaneError(f"unknown kind {kind!r}; {hint}kinds: {', '.join(KINDS)}; "
                      f"or a scenario field: {', '.join(f.leaf for f in FIELDS)}")
