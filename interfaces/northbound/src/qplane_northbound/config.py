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
* ``GET /config`` — the current version number and the effective per-link overrides.
* ``GET /config/history`` — the versions (oldest first): what changed, and when (simulated
  and wall time). Version 0 is the scenario as loaded; the service keeps version 0 and the
  last :data:`KEEP_VERSIONS` versions.
* ``POST /config/rollback`` ``{"version": N}`` — restore version N's overrides; the rollback
  is itself a new version (``kind: rollback``, ``rollback_to: N``).

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
from dataclasses import dataclass
from typing import Any, Awaitable, Callable

from fastapi import Body, Depends, FastAPI, HTTPException
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from qplane.components import BY_PATH, split_ref
from qplane.errors import QPlaneError

#: versions kept in the history besides version 0 (older ones cannot be rolled back to)
KEEP_VERSIONS = 1000


class ConfigRejected(QPlaneError):
    """A change the link's parameter model refused: ``errors`` in the API's 422 format."""

    def __init__(self, errors: list[dict[str, Any]]):
        self.errors = errors
        super().__init__("; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in errors))


class NotFound(QPlaneError):
    """No such link or version."""


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

    def summary(self) -> dict[str, Any]:
        return {"version": self.version, "kind": self.kind, "sim_time_s": self.sim_time_s,
                "wall_time": self.wall_time, "rollback_to": self.rollback_to, "changes": self.changes}


class LinkOverrides(BaseModel):
    a: str
    b: str
    scheme: str = Field(description="the link's scheme (its link-model component)")
    overrides: dict[str, Any] = Field(description="parameters set live, over the scenario's")


class ConfigState(BaseModel):
    version: int = Field(description="the current configuration version (0: the scenario as loaded)")
    links: list[LinkOverrides] = Field(description="every link with live overrides")


class ConfigChange(BaseModel):
    target: str = Field(description="what changed: `link`")
    a: str
    b: str
    set: dict[str, Any] = Field(description="parameters set")
    unset: list[str] = Field(description="overrides removed (back to the scenario's values)")


class VersionInfo(BaseModel):
    version: int
    kind: str = Field(description="`initial` (the scenario), `patch` or `rollback`")
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
        #: drift drills (:mod:`.health`): link ends -> the parameters its physical model has over its
        #: configuration (no version: hardware that drifted); a PATCH or rollback of the link ends it
        self.drifts: dict[tuple[str, str], dict[str, Any]] = {}
        self._configured: tuple[int, dict[tuple[str, str], Any]] = (0, {})

    # ------------------------------------------------------------------ reading
    @property
    def overrides(self) -> dict[tuple[str, str], dict[str, Any]]:
        return self.versions[self.current].overrides

    def state(self) -> dict[str, Any]:
        links = self.twin.sim.context.network.links
        return {"version": self.current,
                "links": [{"a": a, "b": b, "scheme": links[frozenset((a, b))].scheme, "overrides": dict(p)}
                          for (a, b), p in sorted(self.overrides.items())]}

    def history(self) -> list[dict[str, Any]]:
        return [v.summary() for _, v in sorted(self.versions.items())]

    # ------------------------------------------------------------------ the link model
    def _link(self, a: str, b: str) -> Any:
        link = self.twin.sim.context.network.links.get(frozenset((a, b)))
        if link is None:
            raise NotFound(f"no link {a}-{b} in the topology")
        return link

    def _scenario_raw(self, link: Any) -> dict[str, Any]:
        """The parameters the scenario gives ``link`` (``hardware.link``, then its own
        ``hardware.links`` entry; an entry with another scheme replaces the default)."""
        hw, spec = self.twin.scenario.hardware, BY_PATH["hardware.link"]
        default_scheme = hw.link.get(spec.key, spec.default)
        raw = dict(hw.link)
        for ov in hw.links:
            if frozenset(ov.between) == frozenset((link.a, link.b)):
                extra = ov.model_extra or {}
                if extra.get(spec.key, default_scheme) != default_scheme:
                    raw = {}
                raw.update(extra)
        return raw

    def _build(self, link: Any, overrides: dict[str, Any]) -> Any:
        """A new model for ``link`` with ``overrides`` over the scenario's parameters
        (:class:`ConfigRejected` naming the field when its parameter model refuses them)."""
        spec = BY_PATH["hardware.link"]
        name, raw = split_ref(self._scenario_raw(link), key=spec.key, default=spec.default)
        pin = raw.pop("plugin", None)
        component = self.twin.registry.get("link_model", name, plugin=pin)
        try:
            params = component.params.model_validate({**raw, **overrides})
        except ValidationError as e:
            errors = [{"type": err["type"], "loc": ["body", *err.get("loc", ())], "msg": err["msg"],
                       "input": err.get("input")} for err in e.errors()]
            raise ConfigRejected(errors) from None
        try:
            return component.factory(params, link.length_km)
        except Exception as e:  # noqa: BLE001 - a combination the model's factory refuses
            raise ConfigRejected([{"type": "rejected", "loc": ["body"], "input": None,
                                   "msg": f"link scheme {name!r} refused the parameters: {type(e).__name__}: {e}"}]) from None

    def configured_model(self, a: str, b: str) -> Any:
        """The link's model as configured (the scenario's parameters and the current version's
        overrides), whatever its physical model is (a drift); cached per configuration version."""
        link = self._link(a, b)
        ends = (link.a, link.b)
        version, cache = self._configured
        if version != self.current:
            cache = {}
            self._configured = (self.current, cache)
        if ends not in cache:
            cache[ends] = self._build(link, self.overrides.get(ends, {}))
        return cache[ends]

    def _check_patch(self, patch: dict[str, Any]) -> None:
        spec = BY_PATH["hardware.link"]
        for key in (spec.key, "plugin"):
            if key in patch:
                raise ConfigRejected([{"type": "immutable", "loc": ["body", key], "input": patch[key],
                                       "msg": f"the link's {key} cannot change live (only its parameters)"}])
        if not patch:
            raise ConfigRejected([{"type": "empty", "loc": ["body"], "input": patch,
                                   "msg": "give at least one parameter of the link's model"}])

    def drift(self, a: str, b: str, params: dict[str, Any]) -> dict[str, Any]:
        """A drift drill: the link's physical model becomes its configured parameters with
        ``params`` over them (validated like a patch), with no configuration version."""
        link = self._link(a, b)
        self._check_patch(params)
        ends = (link.a, link.b)
        model = self._build(link, {**self.overrides.get(ends, {}), **params})
        self.twin.sim.set_link_model(*ends, model)
        self.drifts[ends] = dict(params)
        return {"a": link.a, "b": link.b, "drift": dict(params), "version": self.current}

    def end_drift(self, a: str, b: str) -> dict[str, Any]:
        """End a drift drill: the link's physical model is its configured one again."""
        link = self._link(a, b)
        ends = (link.a, link.b)
        if self.drifts.pop(ends, None) is not None:
            self.twin.sim.set_link_model(*ends, self.configured_model(*ends))
        return {"a": link.a, "b": link.b, "drift": None, "version": self.current}

    def _commit(self, kind: str, changed: dict[tuple[str, str], dict[str, Any]],
                changes: list[dict[str, Any]], rollback_to: int | None = None) -> dict[str, Any]:
        """Build every changed link's model first (all or nothing), then swap them and record
        the version. ``changed``: link ends -> its new overrides (empty: none)."""
        links = self.twin.sim.context.network.links
        models = {ends: self._build(links[frozenset(ends)], params) for ends, params in changed.items()}
        for ends, model in models.items():
            self.twin.sim.set_link_model(*ends, model)  # the next attempt on, and the controller's views
            self.drifts.pop(ends, None)  # built from its configuration: a drift on it ends
        overrides = {k: v for k, v in {**self.overrides, **changed}.items() if v}
        number = max(self.versions) + 1
        self.versions[number] = ConfigVersion(number, kind, self.twin.sim.now, time.time(), changes, overrides,
                                              rollback_to)
        self.current = number
        for old in sorted(v for v in self.versions if v != 0)[:-KEEP_VERSIONS]:
            del self.versions[old]
        return self.versions[number].summary()

    # ------------------------------------------------------------------ changing
    def patch_link(self, a: str, b: str, patch: dict[str, Any]) -> dict[str, Any]:
        link = self._link(a, b)
        self._check_patch(patch)
        ends = (link.a, link.b)
        current = dict(self.overrides.get(ends, {}))
        unset = [k for k, v in patch.items() if v is None]
        new = {**{k: v for k, v in current.items() if k not in unset},
               **{k: v for k, v in patch.items() if v is not None}}
        change = {"target": "link", "a": link.a, "b": link.b,
                  "set": {k: v for k, v in patch.items() if v is not None}, "unset": unset}
        return self._commit("patch", {ends: new}, [change])

    def rollback(self, version: int) -> dict[str, Any]:
        target = self.versions.get(version)
        if target is None:
            kept = sorted(self.versions)
            raise NotFound(f"no version {version} (kept: 0" + (f", {kept[1]}..{kept[-1]}" if len(kept) > 1 else "") + ")")
        changed: dict[tuple[str, str], dict[str, Any]] = {}
        changes = []
        for ends in sorted(set(self.overrides) | set(target.overrides)):
            old, new = self.overrides.get(ends, {}), target.overrides.get(ends, {})
            if old != new:
                changed[ends] = dict(new)
                changes.append({"target": "link", "a": ends[0], "b": ends[1],
                                "set": {k: v for k, v in new.items() if old.get(k) != v},
                                "unset": sorted(k for k in old if k not in new)})
        return self._commit("rollback", changed, changes, rollback_to=version)


def add_config_routes(app: FastAPI, twin: Any, *, authorize: Callable[..., None],
                      wait: Callable[[Any], Awaitable[Any]]) -> ConfigStore:
    """Add the configuration routes (see the module docstring) for ``twin`` to ``app``."""
    store = ConfigStore(twin)
    app.state.config = store
    unavailable = {503: {"description": "the twin is not running (starting, shutting down, or its simulation failed)"}}
    mutating = {401: {"description": "a bearer token is required for this call"}, **unavailable}

    async def run(fn: Callable[..., Any], *args: Any) -> Any:
        try:
            return await wait(twin.query(lambda: fn(*args)))
        except NotFound as e:
            raise HTTPException(404, str(e)) from None
        except ConfigRejected as e:
            raise RequestValidationError(e.errors) from None

    @app.patch("/links/{a}/{b}", response_model=VersionInfo, dependencies=[Depends(authorize)],
               summary="change a link's hardware parameters live (a new configuration version)",
               responses={**mutating, 404: {"description": "no such link"}})
    async def patch_link(a: str, b: str, body: dict[str, Any] = Body(
            ..., description="link-model parameters of the link's scheme (null: back to the scenario's value)",
            examples=[{"pair_fidelity": 0.9}])) -> Any:
        return await run(store.patch_link, a, b, body)

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
