"""The results of a run, computed: the per-request figures docs/design.md defines ("The
results file") and the whole document, validated by the models of :mod:`qplane.results`."""

from __future__ import annotations

import math
from typing import Any

from qplane.requests import RequestHandle, RequestStatus
from qplane.results import SCHEMA, LinkResult, RequestResult, Results


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


def summarize(handle: RequestHandle, run_end: float, paths: list[list[str]] | None = None) -> RequestResult:
    """One request's figures; ``paths``: a GHZ request's, its legs' paths."""
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
        parties=req.parties,
        pairs_requested=req.states if req.parties else req.pairs,
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
        paths=paths if paths is not None else _paths(handle),
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
    count = req.states if req.parties else req.pairs
    if count is not None:
        return min(1.0, handle.delivered_count / count)
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
    """The results dictionary of a finished :class:`qplane_engine.sim.Simulation`."""
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
        requests=[summarize(h, sim.env.now, sim.multipartite.paths(h) or sim.virtual.paths(h)) for h in sim.handles],
        links=links,
        nodes=sim.inventory.utilisation(),
        memory_timeline=occupancy.timeline if occupancy else [],
        topology={k: v for k, v in sim.topology_status().items() if k != "ready"},
        plugins=versions,
    )
    return res.model_dump(mode="json", by_alias=True)
