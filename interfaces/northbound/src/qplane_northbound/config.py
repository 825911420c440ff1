"""Configuration management: live changes of the links' hardware parameters, as numbered
versions.

Routes (added to the app by :func:`add_config_routes`):

* ``PATCH /links/{a}/{b}`` — a JSON object of link-model parameters (those of the link's
  scheme, e.g. ``{"pair_fidelity": 0.9}``; ``null`` removes an override, back to the
  scenario's value). The parameters the scenario gives the link (``hardware.link`` and its
  ``hardware.links`` entry), then the link's overrides, then the patch, are validated by the
  link component's own parameter model; an invalid value answers 422 naming the field
  (``loc: ["body", "pair_fidelity"]``) and changes nothing (no version). A valid patch builds a
  new link model with the component's factory and swaps it in on the simulation thread: the
  link generator reads the link's model on each attempt and at each herald, so a pair heralded
  after the change has the new physics (attempts already scheduled keep their drawn number of
  attempts). The scheme itself cannot change live.
* ``PATCH /nodes/{name}`` — ``{"memory": {...}, "operations": {...}}``: the node's memory-model
  parameters (its qubits stored from then on decay with them; the model and ``count`` cannot
  change live) and its operations (gate and measurement errors, BSM duration and success: the
  next swap uses them), validated by the memory model's own parameter model and by the
  scenario's operations model (422 naming the field, e.g. ``["body", "operations",
  "gate_error"]``); ``null`` removes an override. The swap goes through
  :meth:`qplane.context.Operator.set_node_model`.
* ``GET /config`` — the current version number and the effective per-link and per-node overrides.
* ``GET /config/history`` — the versions (oldest first): what changed, and when (simulated
  and wall time). Version 0 is the scenario as loaded; the service keeps version 0 and the
  last :data:`KEEP_VERSIONS` versions.
* ``POST /config/rollback`` ``{"version": N}`` — restore version N's overrides; the rollback
  is itself a new version (``kind: rollback``, ``rollback_to: N``). It restores hardware
  parameters of the links and nodes that exist now; it neither adds nor removes a node or a
  link (the topology changes of :mod:`qplane_northbound.topology_ops` are versions too, of kind
  ``topology``, recorded for the history).

Every mutating call needs the bearer token when the service has one.

The store also keeps the drift drills of :mod:`.health` (:meth:`ConfigStore.drift`,
:meth:`ConfigStore.end_drift`: a link's physical model off its configuration, with no version)
and gives each link's configured model (:meth:`ConfigStore.configured_model`, cached per
version), the health monitor's expectation. A patch or rollback that changes a link builds it
from its configuration, ending its drift.

The swap goes through :meth:`qplane.context.Operator.set_link_model`: the controller's views
(the ground truth's, and the topology manager's, which ``lldp`` refreshes or re-probes) carry the
new model at once, so routing ranks paths with it, and waiting requests are routed again.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable

from fastapi import Body, Depends, FastAPI, HTTPException
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from qplane.components import BY_PATH, split_ref
from qplane.errors import QPlaneError
from qplane.hal import Operations
from qplane.scenario import OperationsSpec

#: versions kept in the history besides version 0 (older ones cannot be rolled back to)
KEEP_VERSIONS = 1000


class ConfigRejected(QPlaneError):
    """A change the link's parameter model refused: ``errors`` in the API's 422 format."""

    def __init__(self, errors: list[dict[str, Any]]):
        self.errors = errors
        super().__init__("; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in errors))


class NotFound(QPlaneError):
    """No such link, node or version."""


class Conflict(QPlaneError):
    """The change does not apply to the network as it is (a removed element, a name in use)."""


def rejected(e: ValidationError, *loc: Any) -> ConfigRejected:
    """A parameter model's refusal in the API's 422 format, under ``body`` and ``loc``."""
    return ConfigRejected([{"type": err["type"], "loc": ["body", *loc, *err.get("loc", ())], "msg": err["msg"],
                            "input": err.get("input")} for err in e.errors()])


def refuse(loc: list[Any], value: Any, message: str, kind: str = "immutable") -> ConfigRejected:
    return ConfigRejected([{"type": kind, "loc": ["body", *loc], "input": value, "msg": message}])


@dataclass
class ConfigVersion:
    """One configuration version: what it changed and the overrides in effect after it."""

    version: int
    kind: str  # initial | patch | rollback
    sim_time_s: float
    wall_time: float
    changes: list[dict[str, Any]]
    overrides: dict[tuple[str, str], dict[str, Any]]
    rollback_to: int | None = None
    #: node -> {"memory": {...}, "operations": {...}} set live
    node_overrides: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        return {"version": self.version, "kind": self.kind, "sim_time_s": self.sim_time_s,
                "wall_time": self.wall_time, "rollback_to": self.rollback_to, "changes": self.changes}


class LinkOverrides(BaseModel):
    a: str
    b: str
    scheme: str = Field(description="the link's scheme (its link-model component)")
    overrides: dict[str, Any] = Field(description="parameters set live, over the scenario's")


class NodeOverrides(BaseModel):
    name: str
    memory: dict[str, Any] = Field(default_factory=dict, description="memory-model parameters set live")
    operations: dict[str, Any] = Field(default_factory=dict, description="operations set live")


class ConfigState(BaseModel):
    version: int = Field(description="the current configuration version (0: the scenario as loaded)")
    links: list[LinkOverrides] = Field(description="every link with live overrides")
    nodes: list[NodeOverrides] = Field(default_factory=list, description="every node with live overrides")


class ConfigChange(BaseModel):
    target: str = Field(description="what changed: `link` or `node`")
    action: str = Field("patch", description="`patch` (parameters), `add` or `remove` (the topology)")
    a: str | None = Field(None, description="a link's first end")
    b: str | None = Field(None, description="a link's second end")
    name: str | None = Field(None, description="a node's name")
    set: dict[str, Any] = Field(default_factory=dict, description="parameters set (a node's: `memory.x`, `operations.y`)")
    unset: list[str] = Field(default_factory=list, description="overrides removed (back to the scenario's values)")


class VersionInfo(BaseModel):
    version: int
    kind: str = Field(description="`initial` (the scenario), `patch`, `rollback` or `topology`")
    sim_time_s: float = Field(description="simulated time of the change, seconds")
    wall_time: float = Field(description="wall-clock time of the change (Unix seconds)")
    rollback_to: int | None = Field(None, description="for a rollback: the version restored")
    changes: list[ConfigChange]


class RollbackIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: int = Field(ge=0, description="the version to restore")


class ConfigStore:
    """The twin's configuration versions. Every method runs on the simulation thread (through
    the twin's :meth:`~qplane_northbound.twin.DigitalTwin.query`)."""

    def __init__(self, twin: Any):
        self.twin = twin
        self.versions: dict[int, ConfigVersion] = {
            0: ConfigVersion(0, "initial", 0.0, time.time(), [], {})}
        self.current = 0
        #: what the API added at run time: the base parameters it gave (in place of the scenario's)
        self.added_links: dict[frozenset[str], dict[str, Any]] = {}
        self.added_nodes: dict[str, dict[str, dict[str, Any]]] = {}
        #: drift drills (:mod:`.health`): link ends -> the parameters its physical model has over its
        #: configuration (no version: hardware that drifted); a PATCH or rollback of the link ends it
        self.drifts: dict[tuple[str, str], dict[str, Any]] = {}
        self._configured: tuple[int, dict[tuple[str, str], Any]] = (0, {})

    # ------------------------------------------------------------------ reading
    @property
    def overrides(self) -> dict[tuple[str, str], dict[str, Any]]:
        return self.versions[self.current].overrides

    @property
    def node_overrides(self) -> dict[str, dict[str, dict[str, Any]]]:
        return self.versions[self.current].node_overrides

    def state(self) -> dict[str, Any]:
        links = self.twin.sim.context.network.links
        return {"version": self.current,
                "links": [{"a": a, "b": b, "scheme": links[frozenset((a, b))].scheme, "overrides": dict(p)}
                          for (a, b), p in sorted(self.overrides.items())],
                "nodes": [{"name": n, **{k: dict(v) for k, v in p.items()}} for n, p in sorted(self.node_overrides.items())]}

    def history(self) -> list[dict[str, Any]]:
        return [v.summary() for _, v in sorted(self.versions.items())]

    # ------------------------------------------------------------------ the link model
    def removed(self) -> tuple[set[frozenset[str]], set[str]]:
        status = self.twin.sim.topology_status()
        return ({frozenset(k) for k in status.get("removed_links", ())}, set(status.get("removed_nodes", ())))

    def link(self, a: str, b: str) -> Any:
        link = self.twin.sim.context.network.links.get(frozenset((a, b)))
        if link is None:
            raise NotFound(f"no link {a}-{b} in the topology")
        if frozenset((a, b)) in self.removed()[0]:
            raise Conflict(f"link {a}-{b} was removed")
        return link

    def _scenario_raw(self, link: Any) -> dict[str, Any]:
        """The parameters the scenario gives ``link`` (``hardware.link``, then its own
        ``hardware.links`` entry; an entry with another scheme replaces the default), or those
        the API gave it when it was added."""
        hw, spec = self.twin.scenario.hardware, BY_PATH["hardware.link"]
        added = self.added_links.get(frozenset((link.a, link.b)))
        if added is not None:
            return dict(added)
        default_scheme = hw.link.get(spec.key, spec.default)
        raw = dict(hw.link)
        for ov in hw.links:
            if frozenset(ov.between) == frozenset((link.a, link.b)):
                extra = ov.model_extra or {}
                if extra.get(spec.key, default_scheme) != default_scheme:
                    raw = {}
                raw.update(extra)
        return raw

    def build_link_model(self, raw: dict[str, Any], length_km: float, loc: tuple[Any, ...] = ()) -> tuple[Any, str]:
        """A link model and its scheme from raw ``hardware.link``-style parameters
        (:class:`ConfigRejected` naming the field, under ``loc``, when its model refuses them)."""
        spec = BY_PATH["hardware.link"]
        name, raw = split_ref(raw, key=spec.key, default=spec.default)
        pin = raw.pop("plugin", None)
        try:
            component = self.twin.registry.get("link_model", name, plugin=pin)
        except QPlaneError as e:
            raise refuse([*loc, spec.key], name, str(e), "unknown") from None
        try:
            params = component.params.model_validate(raw)
        except ValidationError as e:
            raise rejected(e, *loc) from None
        try:
            return component.factory(params, length_km), component.name
        except Exception as e:  # noqa: BLE001 - a combination the model's factory refuses
            raise refuse(list(loc), None, f"link scheme {name!r} refused the parameters: {type(e).__name__}: {e}",
                         "rejected") from None

    def _build(self, link: Any, overrides: dict[str, Any]) -> Any:
        """A new model for ``link`` with ``overrides`` over its base parameters."""
        return self.build_link_model({**self._scenario_raw(link), **overrides}, link.length_km)[0]

    # ------------------------------------------------------------------ the node's hardware
    def node(self, name: str) -> Any:
        node = self.twin.sim.context.network.nodes.get(name)
        if node is None:
            raise NotFound(f"no node {name!r} in the topology")
        if name in self.removed()[1]:
            raise Conflict(f"node {name!r} was removed")
        return node

    def _node_raw(self, name: str) -> dict[str, dict[str, Any]]:
        """The memory and operations parameters the scenario (or the API, for a node it added)
        gives node ``name``, merged as the engine merges ``hardware.nodes``."""
        if name in self.added_nodes:
            return {k: dict(v) for k, v in self.added_nodes[name].items()}
        hw, spec = self.twin.scenario.hardware, BY_PATH["hardware.memory"]
        own = hw.nodes.get(name)
        memory = dict(hw.memory)
        if own is not None and own.memory is not None:
            same = own.memory.get(spec.key, hw.memory.get(spec.key, spec.default)) == hw.memory.get(spec.key, spec.default)
            memory = {**hw.memory, **own.memory} if same else dict(own.memory)
        ops = own.operations if own is not None and own.operations is not None else hw.operations
        return {"memory": memory, "operations": ops.model_dump()}

    def build_node_models(self, raw: dict[str, dict[str, Any]], loc: tuple[Any, ...] = ()) -> tuple[Any, Operations]:
        """The memory model and operations from raw parameters (``{"memory": ..., "operations": ...}``)."""
        spec = BY_PATH["hardware.memory"]
        name, mem = split_ref(raw.get("memory", {}), key=spec.key, default=spec.default)
        pin = mem.pop("plugin", None)
        try:
            component = self.twin.registry.get("memory_model", name, plugin=pin)
        except QPlaneError as e:
            raise refuse([*loc, "memory", spec.key], name, str(e), "unknown") from None
        try:
            memory_model = component.factory(component.params.model_validate(mem))
        except ValidationError as e:
            raise rejected(e, *loc, "memory") from None
        try:
            ops = OperationsSpec.model_validate(raw.get("operations", {}))
        except ValidationError as e:
            raise rejected(e, *loc, "operations") from None
        return memory_model, Operations(**ops.model_dump())

    def _build_node(self, name: str, overrides: dict[str, dict[str, Any]]) -> tuple[Any, Operations]:
        base = self._node_raw(name)
        return self.build_node_models({k: {**base[k], **overrides.get(k, {})} for k in ("memory", "operations")})

    def configured_model(self, a: str, b: str) -> Any:
        """The link's model as configured (the scenario's parameters and the current version's
        overrides), whatever its physical model is (a drift); cached per configuration version."""
        link = self.link(a, b)
        ends = (link.a, link.b)
        version, cache = self._configured
        if version != self.current:
            cache = {}
            self._configured = (self.current, cache)
        if ends not in cache:
            cache[ends] = self._build(link, self.overrides.get(ends, {}))
        return cache[ends]

    def _check_patch(self, patch: dict[str, Any]) -> None:
        """A link patch names parameters only (not the scheme or the plugin), at least one."""
        spec = BY_PATH["hardware.link"]
        for key in (spec.key, "plugin"):
            if key in patch:
                raise refuse([key], patch[key], f"the link's {key} cannot change live (only its parameters)")
        if not patch:
            raise refuse([], patch, "give at least one parameter of the link's model", "empty")

    def drift(self, a: str, b: str, params: dict[str, Any]) -> dict[str, Any]:
        """A drift drill: the link's physical model becomes its configured parameters with
        ``params`` over them (validated like a patch), with no configuration version."""
        link = self.link(a, b)
        self._check_patch(params)
        ends = (link.a, link.b)
        model = self._build(link, {**self.overrides.get(ends, {}), **params})
        self.twin.sim.set_link_model(*ends, model)
        self.drifts[ends] = dict(params)
        return {"a": link.a, "b": link.b, "drift": dict(params), "version": self.current}

    def end_drift(self, a: str, b: str) -> dict[str, Any]:
        """End a drift drill: the link's physical model is its configured one again."""
        link = self.link(a, b)
        ends = (link.a, link.b)
        if self.drifts.pop(ends, None) is not None:
            self.twin.sim.set_link_model(*ends, self.configured_model(*ends))
        return {"a": link.a, "b": link.b, "drift": None, "version": self.current}

    # ------------------------------------------------------------------ versions
    def record(self, kind: str, changes: list[dict[str, Any]], rollback_to: int | None = None,
               overrides: dict[tuple[str, str], dict[str, Any]] | None = None,
               node_overrides: dict[str, dict[str, dict[str, Any]]] | None = None) -> dict[str, Any]:
        """A new version (the overrides unchanged unless given)."""
        number = max(self.versions) + 1
        self.versions[number] = ConfigVersion(
            number, kind, self.twin.sim.now, time.time(), changes,
            self.overrides if overrides is None else overrides, rollback_to,
            self.node_overrides if node_overrides is None else node_overrides)
        self.current = number
        for old in sorted(v for v in self.versions if v != 0)[:-KEEP_VERSIONS]:
            del self.versions[old]
        return self.versions[number].summary()

    def _commit(self, kind: str, changed: dict[tuple[str, str], dict[str, Any]],
                changes: list[dict[str, Any]], rollback_to: int | None = None,
                changed_nodes: dict[str, dict[str, dict[str, Any]]] | None = None) -> dict[str, Any]:
        """Build every changed link's and node's model first (all or nothing), then swap them and
        record the version. ``changed``: link ends -> its new overrides (empty: none);
        ``changed_nodes``: node -> its new overrides."""
        links = self.twin.sim.context.network.links
        changed_nodes = changed_nodes or {}
        models = {ends: self._build(links[frozenset(ends)], params) for ends, params in changed.items()}
        node_models = {name: self._build_node(name, params) for name, params in changed_nodes.items()}
        for ends, model in models.items():
            self.twin.sim.set_link_model(*ends, model)  # the next attempt on, and the controller's views
            self.drifts.pop(ends, None)  # built from its configuration: a drift on it ends
        for name, (memory_model, operations) in node_models.items():
            self.twin.sim.set_node_model(name, memory_model, operations)
        overrides = {k: v for k, v in {**self.overrides, **changed}.items() if v}
        node_overrides = {k: v for k, v in {**self.node_overrides, **changed_nodes}.items() if any(v.values())}
        return self.record(kind, changes, rollback_to, overrides, node_overrides)

    # ------------------------------------------------------------------ changing
    def patch_link(self, a: str, b: str, patch: dict[str, Any]) -> dict[str, Any]:
        link = self.link(a, b)
        self._check_patch(patch)
        ends = (link.a, link.b)
        new, change = _merged(self.overrides.get(ends, {}), patch)
        return self._commit("patch", {ends: new}, [{"target": "link", "a": link.a, "b": link.b, **change}])

    def patch_node(self, name: str, patch: dict[str, Any]) -> dict[str, Any]:
        self.node(name)
        unknown = [k for k in patch if k not in ("memory", "operations")]
        if unknown or not patch or not all(isinstance(v, dict) and v for v in patch.values()):
            where = unknown[0] if unknown else next((k for k, v in patch.items() if not (isinstance(v, dict) and v)), None)
            raise refuse([where] if where else [], patch.get(where) if where else patch,
                         "give `memory` and/or `operations`, each an object of parameters to change", "invalid")
        spec = BY_PATH["hardware.memory"]
        for key in (spec.key, "plugin", "count"):
            if key in patch.get("memory", {}):
                raise refuse(["memory", key], patch["memory"][key],
                             f"the node's memory {key} cannot change live (only the model's other parameters)")
        current = self.node_overrides.get(name, {})
        new, change = {}, {"set": {}, "unset": []}
        for section in ("memory", "operations"):
            new[section], part = _merged(current.get(section, {}), patch.get(section, {}))
            change["set"].update({f"{section}.{k}": v for k, v in part["set"].items()})
            change["unset"] += [f"{section}.{k}" for k in part["unset"]]
        return self._commit("patch", {}, [{"target": "node", "name": name, **change}], changed_nodes={name: new})

    def rollback(self, version: int) -> dict[str, Any]:
        target = self.versions.get(version)
        if target is None:
            kept = sorted(self.versions)
            raise NotFound(f"no version {version} (kept: 0" + (f", {kept[1]}..{kept[-1]}" if len(kept) > 1 else "") + ")")
        removed_links, removed_nodes = self.removed()
        network = self.twin.sim.context.network
        changed: dict[tuple[str, str], dict[str, Any]] = {}
        changes = []
        for ends in sorted(set(self.overrides) | set(target.overrides)):
            old, new = self.overrides.get(ends, {}), target.overrides.get(ends, {})
            if old != new and frozenset(ends) in network.links and frozenset(ends) not in removed_links:
                changed[ends] = dict(new)
                changes.append({"target": "link", "a": ends[0], "b": ends[1], **_difference(old, new)})
        changed_nodes: dict[str, dict[str, dict[str, Any]]] = {}
        for name in sorted(set(self.node_overrides) | set(target.node_overrides)):
            old, new = self.node_overrides.get(name, {}), target.node_overrides.get(name, {})
            if old != new and name in network.nodes and name not in removed_nodes:
                changed_nodes[name] = {k: dict(v) for k, v in new.items()}
                diff = {"set": {}, "unset": []}
                for section in ("memory", "operations"):
                    d = _difference(old.get(section, {}), new.get(section, {}))
                    diff["set"].update({f"{section}.{k}": v for k, v in d["set"].items()})
                    diff["unset"] += [f"{section}.{k}" for k in d["unset"]]
                changes.append({"target": "node", "name": name, **diff})
        return self._commit("rollback", changed, changes, rollback_to=version, changed_nodes=changed_nodes)


def _merged(current: dict[str, Any], patch: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """``current`` overrides with ``patch`` applied (``None`` removes one), and the change."""
    unset = [k for k, v in patch.items() if v is None]
    new = {**{k: v for k, v in current.items() if k not in unset}, **{k: v for k, v in patch.items() if v is not None}}
    return new, {"set": {k: v for k, v in patch.items() if v is not None}, "unset": unset}


def _difference(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    return {"set": {k: v for k, v in new.items() if old.get(k) != v}, "unset": sorted(k for k in old if k not in new)}


def runner(twin: Any, wait: Callable[[Any], Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
    """``await run(fn, *args)``: ``fn(*args)`` on the simulation thread, its errors as HTTP
    answers (:class:`NotFound` 404, :class:`ConfigRejected` 422 naming the field, any other
    refusal of the engine's 409 with its reason)."""

    async def run(fn: Callable[..., Any], *args: Any) -> Any:
        try:
            return await wait(twin.query(lambda: fn(*args)))
        except NotFound as e:
            raise HTTPException(404, str(e)) from None
        except ConfigRejected as e:
            raise RequestValidationError(e.errors) from None
        except QPlaneError as e:  # Conflict, or what the engine refuses (a removed element ...)
            raise HTTPException(409, str(e)) from None

    return run


def add_config_routes(app: FastAPI, twin: Any, *, authorize: Callable[..., Awaitable[None]],
                      wait: Callable[[Any], Awaitable[Any]]) -> ConfigStore:
    """Add the configuration routes (see the module docstring) for ``twin`` to ``app``."""
    store = ConfigStore(twin)
    app.state.config = store
    unavailable = {503: {"description": "the twin is not running (starting, shutting down, or its simulation failed)"}}
    mutating = {401: {"description": "a bearer token is required for this call"}, **unavailable}

    run = runner(twin, wait)

    @app.patch("/links/{a}/{b}", response_model=VersionInfo, dependencies=[Depends(authorize)],
               summary="change a link's hardware parameters live (a new configuration version)",
               responses={**mutating, 404: {"description": "no such link"}, 409: {"description": "the link was removed"}})
    async def patch_link(a: str, b: str, body: dict[str, Any] = Body(
            ..., description="link-model parameters of the link's scheme (null: back to the scenario's value)",
            examples=[{"pair_fidelity": 0.9}])) -> Any:
        return await run(store.patch_link, a, b, body)

    @app.patch("/nodes/{name}", response_model=VersionInfo, dependencies=[Depends(authorize)],
               summary="change a node's memory and operation parameters live (a new configuration version)",
               responses={**mutating, 404: {"description": "no such node"}, 409: {"description": "the node was removed"}})
    async def patch_node(name: str, body: dict[str, Any] = Body(
            ..., description="`memory`: memory-model parameters (not its model or count); `operations`: gate_error, "
                             "measurement_error, bsm_duration, bsm_success (null: back to the scenario's value)",
            examples=[{"operations": {"gate_error": 0.01}, "memory": {"coherence_time": 0.5}}])) -> Any:
        return await run(store.patch_node, name, body)

    @app.get("/config", response_model=ConfigState, summary="the current configuration version and overrides",
             responses=unavailable)
    async def get_config() -> Any:
        return await run(store.state)

    @app.get("/config/history", response_model=list[VersionInfo], summary="the configuration versions",
             responses=unavailable)
    async def config_history() -> Any:
        return await run(store.history)

    @app.post("/config/rollback", response_model=VersionInfo, dependencies=[Depends(authorize)],
              summary="restore a configuration version (itself a new version)",
              responses={**mutating, 404: {"description": "no such version (or no longer kept)"}})
    async def rollback(body: RollbackIn) -> Any:
        return await run(store.rollback, body.version)

    return store
