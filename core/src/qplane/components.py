"""Which scenario field selects which kind of component: the one table of it.

A scenario names a component either as a string (``routing: shortest-path``) or as a mapping
whose *name key* gives the name and whose other keys are the component's parameters
(``link_generation: {name: heralded, mode: per_attempt}``, ``topology: {builder: chain,
nodes: 5}``). The scenario model, the engine, the parameter-study grid, ``--set`` and the
northbound service all read this table; none keeps its own copy.

This module imports nothing of qplane: every other module may use it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class ComponentField:
    """One scenario field that selects a component.

    * ``path``: the dotted scenario path (``protocols.routing``);
    * ``kind``: the registry kind (``router``);
    * ``key``: the key that names the component when the field is a mapping (``name``,
      ``builder``, ``scheme``, ``model``);
    * ``default``: the component used when the field is absent (None: the field is required,
      or optional with nothing in its place);
    * ``implied``: the name a mapping without its ``key`` means (``{max_age: 0.1}`` is the
      cutoff policy ``age``); None: the mapping must name it, unless ``default`` applies;
    * ``request_key``: the key under a request's ``protocols`` that replaces this field for
      that request, or None when it cannot be chosen per request;
    * ``many``: the field may hold a list of components (``traffic``).
    """

    path: str
    kind: str
    key: str = "name"
    default: str | None = None
    implied: str | None = None
    request_key: str | None = None
    many: bool = False

    @property
    def leaf(self) -> str:
        """The field's own name, the last part of its path."""
        return self.path.rsplit(".", 1)[-1]

    def implied_name(self) -> str | None:
        """The name a mapping that omits ``key`` stands for: ``implied``, else ``default``."""
        return self.implied if self.implied is not None else self.default


#: every component field of a scenario, in the order the engine builds them
FIELDS: tuple[ComponentField, ...] = (
    ComponentField("backend", "backend", default="fidelity"),
    ComponentField("topology", "topology", key="builder"),
    ComponentField("hardware.memory", "memory_model", key="model", default="depolarizing"),
    ComponentField("hardware.link", "link_model", key="scheme", default="mim"),
    ComponentField("protocols.routing", "router", default="shortest-path", request_key="routing"),
    ComponentField("protocols.scheduling", "scheduler", default="fifo"),
    ComponentField("protocols.link_generation", "link_generation", default="heralded"),
    ComponentField("protocols.swapping", "swapping", default="asap", request_key="swapping"),
    ComponentField("protocols.repeater", "repeater", default="1g", request_key="repeater"),
    ComponentField("protocols.purification", "purification", default="none", request_key="purification"),
    ComponentField("protocols.cutoff", "cutoff", default="none", implied="age", request_key="cutoff"),
    ComponentField("protocols.application", "application", default="consume", request_key="application"),
    ComponentField("protocols.topology_manager", "topology_manager", default="oracle"),
    ComponentField("traffic", "traffic", key="model", many=True),
)

BY_PATH: dict[str, ComponentField] = {f.path: f for f in FIELDS}

#: the fields a request may replace: ``request.protocols`` key -> field
PER_REQUEST: dict[str, ComponentField] = {f.request_key: f for f in FIELDS if f.request_key}

#: ``protocols.<leaf>`` -> field, for the protocol fields
PROTOCOLS: dict[str, ComponentField] = {f.leaf: f for f in FIELDS if f.path.startswith("protocols.")}


def split_ref(ref: Any, key: str = "name", default: str | None = None) -> tuple[str, dict[str, Any]]:
    """``"asap"`` -> ``("asap", {})``; ``{name: asap, x: 1}`` -> ``("asap", {"x": 1})``.

    A mapping without ``key`` takes ``default``; with neither, :class:`ValueError` says what
    is missing (callers turn it into a scenario error naming the field)."""
    if isinstance(ref, str):
        return ref, {}
    params = dict(ref)
    name = params.pop(key, default)
    if not isinstance(name, str):
        raise ValueError(f"needs '{key}: NAME'")
    return name, params
