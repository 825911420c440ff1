"""Dynamic topology: nodes and links added and removed while the network runs.

Routes (added by :func:`add_topology_routes`; each needs the bearer token when the service
has one, and each change is a configuration version of kind ``topology``):

* ``POST /nodes`` ``{"name": ..., "memory": {...}, "operations": {...}}`` — a new node, with
  the scenario's ``hardware.memory`` and ``hardware.operations`` under the given parameters
  (validated by the memory model's and the operations' own models: 422 naming the field). It
  has no link yet: it joins the network with its first ``POST /links``.
* ``POST /links`` ``{"a": ..., "b": ..., "length_km": ..., "link": {...}}`` — a new fibre
  between two nodes, with the scenario's ``hardware.link`` under ``link`` (which may name
  another ``scheme``); memories at both ends (their memory model's ``count``). The topology
  manager discovers it its own way — the oracle at once, ``lldp`` through hellos over the new
  fibre and the ends' reports to the controller — and routing uses it from then on.
* ``DELETE /links/{a}/{b}`` — the fibre is removed: a failure that never ends. The topology
  manager detects it like any failure (``lldp``: missed heartbeats), and requests using it
  re-route or end ``failed`` with the reason.
* ``DELETE /nodes/{name}`` — the node is removed, with its links: a node failure that never
  ends (its qubits are lost).

A removed node or link stays in ``GET /topology`` (``removed: true``) and in the results, and
cannot come back: ``POST .../up`` answers 409, and its name is not reused. The engine's side is
:mod:`qplane_engine.management` (through :class:`qplane.context.Operator`).
"""

from __future__ import annotations

from typing import Any, Awaitable, Callable

from fastapi import Depends, FastAPI
from pydantic import BaseModel, ConfigDict, Field

from .config import ConfigStore, VersionInfo, refuse, runner


class NodeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200, description="the new node's name (not in use, never removed)")
    memory: dict[str, Any] = Field(default_factory=dict, description="memory-model parameters over hardware.memory")
    operations: dict[str, Any] = Field(default_factory=dict, description="operations over hardware.operations")


class LinkIn(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    a: str = Field(description="one end (an existing node)")
    b: str = Field(description="the other end")
    length_km: float = Field(gt=0.0, description="fibre length")
    link: dict[str, Any] = Field(default_factory=dict, description="link-model parameters over hardware.link "
                                                                   "(`scheme` may name another model)")


class TopologyChanges:
    """The topology operations, on the simulation thread (through ``twin.query``)."""

    def __init__(self, twin: Any, store: ConfigStore):
        self.twin = twin
        self.store = store

    def add_node(self, body: NodeIn) -> dict[str, Any]:
        sim, store = self.twin.sim, self.store
        if body.name in sim.context.network.nodes or body.name in store.removed()[1]:
            raise refuse(["name"], body.name, f"node {body.name!r} is already in the topology"
                         + (" (removed: names are not reused)" if body.name in store.removed()[1] else ""), "in_use")
        hw = self.twin.scenario.hardware
        raw = {"memory": {**hw.memory, **body.memory}, "operations": {**hw.operations.model_dump(), **body.operations}}
        memory_model, operations = store.build_node_models(raw)
        sim.add_node(body.name, memory_model, operations)
        store.added_nodes[body.name] = raw
        return store.record("topology", [{"target": "node", "action": "add", "name": body.name,
                                          "set": {**{f"memory.{k}": v for k, v in body.memory.items()},
                                                  **{f"operations.{k}": v for k, v in body.operations.items()}}}])

    def add_link(self, body: LinkIn) -> dict[str, Any]:
        sim, store = self.twin.sim, self.store
        nodes = sim.context.network.nodes
        for end in ("a", "b"):
            name = getattr(body, end)
            if name not in nodes:
                raise refuse([end], name, f"node {name!r} is not in the topology", "unknown_node")
        hw = self.twin.scenario.hardware
        raw = {**hw.link, **body.link}
        if "scheme" in body.link and body.link["scheme"] != hw.link.get("scheme", "mim"):
            raw = dict(body.link)  # another scheme starts afresh, as in hardware.links
        model, scheme = store.build_link_model(raw, body.length_km, ("link",))
        sim.add_link(body.a, body.b, body.length_km, model, scheme)
        store.added_links[frozenset((body.a, body.b))] = raw
        return store.record("topology", [{"target": "link", "action": "add", "a": body.a, "b": body.b,
                                          "set": {"length_km": body.length_km, **body.link}}])

    def remove_link(self, a: str, b: str) -> dict[str, Any]:
        link = self.store.link(a, b)
        self.twin.sim.remove_link(link.a, link.b)
        overrides = {k: v for k, v in self.store.overrides.items() if frozenset(k) != frozenset((a, b))}
        return self.store.record("topology", [{"target": "link", "action": "remove", "a": link.a, "b": link.b}],
                                 overrides=overrides)

    def remove_node(self, name: str) -> dict[str, Any]:
        self.store.node(name)
        self.twin.sim.remove_node(name)
        overrides = {k: v for k, v in self.store.overrides.items() if name not in k}
        nodes = {k: v for k, v in self.store.node_overrides.items() if k != name}
        return self.store.record("topology", [{"target": "node", "action": "remove", "name": name}],
                                 overrides=overrides, node_overrides=nodes)


def add_topology_routes(app: FastAPI, twin: Any, store: ConfigStore, *, authorize: Callable[..., Awaitable[None]],
                        wait: Callable[[Any], Awaitable[Any]]) -> TopologyChanges:
    """Add the dynamic-topology routes (see the module docstring) to ``app``."""
    ops = TopologyChanges(twin, store)
    run = runner(twin, wait)
    mutating = {401: {"description": "a bearer token is required for this call"},
                503: {"description": "the twin is not running (starting, shutting down, or its simulation failed)"}}

    @app.post("/nodes", status_code=201, response_model=VersionInfo, dependencies=[Depends(authorize)],
              summary="add a node (no link yet: it joins with its first POST /links)", responses=mutating)
    async def add_node(body: NodeIn) -> Any:
        return await run(ops.add_node, body)

    @app.post("/links", status_code=201, response_model=VersionInfo, dependencies=[Depends(authorize)],
              summary="add a link between two nodes (the topology manager discovers it)",
              responses={**mutating, 409: {"description": "the link exists, or was removed"}})
    async def add_link(body: LinkIn) -> Any:
        return await run(ops.add_link, body)

    @app.delete("/links/{a}/{b}", response_model=VersionInfo, dependencies=[Depends(authorize)],
                summary="remove a link (a failure that never ends)",
                responses={**mutating, 404: {"description": "no such link"}, 409: {"description": "already removed"}})
    async def remove_link(a: str, b: str) -> Any:
        return await run(ops.remove_link, a, b)

    @app.delete("/nodes/{name}", response_model=VersionInfo, dependencies=[Depends(authorize)],
                summary="remove a node and its links (a node failure that never ends)",
                responses={**mutating, 404: {"description": "no such node"}, 409: {"description": "already removed"}})
    async def remove_node(name: str) -> Any:
        return await run(ops.remove_node, name)

    return ops


__all__ = ["LinkIn", "NodeIn", "TopologyChanges", "add_topology_routes"]
