"""The results of a run: a versioned JSON document (``"schema": "qplane.results/2"``).

The models here are the schema (``qplane schema results`` prints it); :func:`summarize`
computes the per-request figures docs/design.md defines ("The results file").
"""

from __future__ import annotations

import math
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from .requests import RequestHandle, RequestStatus

#: version 2 (from 1): one name per figure -- ``time_to_first_pair_s`` dropped (it was ``wait_s``),
#: ``path`` dropped (it was ``paths[0]``); the ``interrupted`` status (Ctrl-C)
SCHEMA = "qplane.results/2"


class RequestResult(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: int
    src: str
    dst: str
    status: str
    reason: str = ""
    protocols: dict[str, str] = Field(default_factory=dict, description="component kind -> name serving this request")
    pairs_requested: int | None
    rate_requested_hz: float | None
    min_fidelity: float
    delivered: int
    discarded: int = Field(description="pairs dropped because the network's estimate was below min_fidelity")
    losses: dict[str, int] = Field(default_factory=dict, description="stored pairs lost, by cause: cutoff, swap_failed, purification_failed, node_failed")
    reroutes: int = Field(0, description="times its path was replaced after a failure")
    rate_hz: float | None = Field(description="delivered / time served (start to completion, end or end of run)")
    fidelity_mean: float | None
    fidelity_stderr: float | None
    fidelity_estimated_mean: float | None
    latency_mean_s: float | None = Field(description="per pair: delivery time minus the start of its oldest link-level attempt")
    latency_p50_s: float | None
    latency_p95_s: float | None
    completion_time_s: float | None
    paths: list[list[str]] | None = Field(
        None, description="the node paths it was last routed over: one for a single-path router, several for a "
        "multipath one (paths[0] first); after a re-route, the new path; null when never routed or path-free (reactive)")
    wait_s: float | None = Field(None, description="time to the first pair: first delivery minus start (null: none delivered)")
    queued_s: float = Field(0.0, description="seconds it waited for memories (routed but holding none), preemptions included")
    preemptions: int = Field(0, description="times the scheduler took its memories back before it finished")
    served_fraction: float = Field(0.0, description="min(1, delivered / pairs), or min(1, rate_hz / rate) for a rate request")
    sla_met: bool = Field(False, description="completed (all pairs, or the rate until end) by its end, with a mean fidelity of at least min_fidelity")


class NodeResult(BaseModel):
    """Memory utilisation of one node over the run."""

    model_config = ConfigDict(extra="forbid")
    name: str
    memories: int = Field(description="memories of the node, all links together")
    reserved_mean: float = Field(description="time-averaged fraction reserved by sessions (exact)")
    reserved_peak: float = Field(description="largest fraction reserved at once")
    occupied_mean: float | None = Field(description="time-averaged fraction holding a qubit (sampled; null unless sampling was on)")
    occupied_peak: float | None = Field(description="largest sampled fraction holding a qubit")


class LinkResult(BaseModel):
    model_config = ConfigDict(extra="forbid")
    a: str
    b: str
    length_km: float
    scheme: str
    success_probability: float
    cycle_time_s: float
    attempts: int
    pairs_generated: int


class Results(BaseModel):
    model_config = ConfigDict(extra="forbid")
    schema_: str = Field(SCHEMA, alias="schema")
    name: str
    scenario: dict[str, Any]
    seed: int
    backend: str
    sim_time_s: float
    wall_time_s: float
    events: int
    classical_messages: int
    requests: list[RequestResult]
    links: list[LinkResult]
    nodes: list[NodeResult] = Field(default_factory=list, description="per-node memory utilisation")
    memory_timeline: list[list[float]] = Field(
        default_factory=list,
        description="[t, fraction of all memories reserved, fraction holding a qubit] at each occupancy sample "
        "(empty unless sampling was on)")
    topology: dict[str, Any] = Field(default_factory=dict, description="topology management: failures, detection latency, re-routes, discovery")
    plugins: dict[str, str | None]
    extra: dict[str, Any] = Field(default_factory=dict)


def _percentile(sorted_values: list[float], q: float) -> float:
    """Linear-interpolation percentile (numpy's default) of sorted values."""
    if len(sorted_values) == 1:
        return sorted_values[0]
    pos = (len(sorted_values) - 1) * q
    lo = math.floor(pos)
    hi = min(lo + 1, len(sorted_values) - 1)
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (pos - lo)


def _mean_stderr(values: list[float]) -> tuple[float | None, float | None]:
    n = len(values)
    if n == 0:
        return None, None
    mean = math.fsum(values) / n
    if n < 2:
        return mean, None
    var = math.fsum((v - mean) ** 2 for v in values) / (n - 1)
    return mean, math.sqrt(var / n)


def summarize(handle: RequestHandle, run_end: float) -> RequestResult:
    req = handle.request
    pairs = handle.delivered
    fids = [p.fidelity for p in pairs]
    fmean, fse = _mean_stderr(fids)
    est_mean, _ = _mean_stderr([p.fidelity_estimated for p in pairs])
    lats = sorted(p.latency for p in pairs)
    lat_mean, _ = _mean_stderr(lats)
    stop = handle.finished_at if handle.finished_at is not None else run_end
    if req.end is not None:
        stop = min(stop, req.end)
    served = stop - req.start
    if handle.status in (RequestStatus.NO_PATH, RequestStatus.FIDELITY_UNREACHABLE) or served <= 0:
        rate = None
    else:
        rate = handle.delivered_count / served
    completed = handle.status == RequestStatus.COMPLETED and handle.finished_at is not None
    return RequestResult(
        id=handle.id,
        src=req.src,
        dst=req.dst,
        status=handle.status.value,
        reason=handle.reason,
        protocols=dict(handle.protocol_names),
        pairs_requested=req.pairs,
        rate_requested_hz=req.rate,
        min_fidelity=req.min_fidelity,
        delivered=handle.delivered_count,
        discarded=handle.discarded,
        losses=dict(sorted(handle.losses.items())),
        reroutes=handle.reroutes,
        rate_hz=rate,
        fidelity_mean=fmean,
        fidelity_stderr=fse,
        fidelity_estimated_mean=est_mean,
        latency_mean_s=lat_mean,
        latency_p50_s=_percentile(lats, 0.5) if lats else None,
        latency_p95_s=_percentile(lats, 0.95) if lats else None,
        completion_time_s=(handle.finished_at - req.start) if completed else None,
        paths=_paths(handle),
        wait_s=(pairs[0].time - req.start) if pairs else None,
        queued_s=handle.queued_s,
        preemptions=handle.preemptions,
        served_fraction=_served_fraction(handle, rate),
        sla_met=_sla_met(handle, fmean),
    )


def _paths(handle: RequestHandle) -> list[list[str]] | None:
    """Its fixed paths; a path replaced after a failure is served alone."""
    if handle.path is None:
        return None
    if handle.paths and handle.paths[0] == handle.path:
        return [list(p) for p in handle.paths]
    return [list(handle.path)]


def _served_fraction(handle: RequestHandle, rate: float | None) -> float:
    req = handle.request
    if req.pairs is not None:
        return min(1.0, handle.delivered_count / req.pairs)
    return min(1.0, (rate or 0.0) / req.rate) if req.rate else 0.0


def _sla_met(handle: RequestHandle, fidelity_mean: float | None) -> bool:
    """All pairs (or the rate) delivered by ``end``, at ``min_fidelity`` on average."""
    req = handle.request
    if handle.status != RequestStatus.COMPLETED or handle.finished_at is None or fidelity_mean is None:
        return False
    if req.end is not None and handle.finished_at > req.end + 1e-12:
        return False
    return fidelity_mean >= req.min_fidelity - 1e-12


def assemble(sim: Any) -> dict[str, Any]:
    """The results dictionary of a finished :class:`qplane.sim.Simulation`."""
    sc = sim.scenario
    links = [LinkResult(a=l.a, b=l.b, length_km=l.length_km, scheme=l.scheme,
                        success_probability=l.model.success_probability, cycle_time_s=l.model.cycle_time,
                        attempts=l.stats.attempts, pairs_generated=l.stats.pairs_generated)
             for l in sim.network.links.values()]
    resolved = sim.assembler.resolved
    used_plugins = sorted({r.component.plugin for r in resolved.values()})
    infos = getattr(sim.registry.pm, "qplane_load_report", None)
    versions = {p: (infos.plugins[p].version if infos and p in infos.plugins else None) for p in used_plugins}
    occupancy = sim.inventory.occupancy
    res = Results(
        schema=SCHEMA,
        name=sc.name,
        scenario=sc.model_dump(mode="json"),
        seed=sc.seed,
        backend=resolved["backend"].component.name,
        sim_time_s=sim.env.now,
        wall_time_s=sim.wall_time,
        events=sim.env.events_processed,
        classical_messages=sim.network.messages_sent,
        requests=[summarize(h, sim.env.now) for h in sim.handles],
        links=links,
        nodes=sim.inventory.utilisation(),
        memory_timeline=occupancy.timeline if occupancy else [],
        topology={k: v for k, v in sim.topology_status().items() if k != "ready"},
        plugins=versions,
    )
    return res.model_dump(mode="json", by_alias=True)
