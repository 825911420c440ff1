"""The results of a run: a versioned JSON document (``"schema": "qplane.results/1"``).

The models here are the schema (``qplane schema results`` prints it); :func:`summarize`
computes the per-request figures DESIGN.md defines ("What the results mean").
"""

from __future__ import annotations

import math
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from .northbound import RequestHandle, RequestStatus

SCHEMA = "qplane.results/1"


class RequestResult(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: int
    src: str
    dst: str
    status: str
    reason: str = ""
    path: list[str] | None
    protocols: dict[str, str] = Field(default_factory=dict, description="component kind -> name serving this request")
    pairs_requested: int | None
    rate_requested_hz: float | None
    min_fidelity: float
    delivered: int
    discarded: int = Field(description="pairs dropped because the network's estimate was below min_fidelity")
    losses: dict[str, int] = Field(default_factory=dict, description="stored pairs lost, by cause: cutoff, swap_failed, purification_failed")
    rate_hz: float | None = Field(description="delivered / time served (start to completion, end or end of run)")
    fidelity_mean: float | None
    fidelity_stderr: float | None
    fidelity_estimated_mean: float | None
    latency_mean_s: float | None = Field(description="per pair: delivery time minus the start of its oldest link-level attempt")
    latency_p50_s: float | None
    latency_p95_s: float | None
    time_to_first_pair_s: float | None
    completion_time_s: float | None


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
        rate = len(pairs) / served
    completed = handle.status == RequestStatus.COMPLETED and handle.finished_at is not None
    return RequestResult(
        id=handle.id,
        src=req.src,
        dst=req.dst,
        status=handle.status.value,
        reason=handle.reason,
        path=handle.path,
        protocols=dict(handle.protocol_names),
        pairs_requested=req.pairs,
        rate_requested_hz=req.rate,
        min_fidelity=req.min_fidelity,
        delivered=len(pairs),
        discarded=handle.discarded,
        losses=dict(sorted(handle.losses.items())),
        rate_hz=rate,
        fidelity_mean=fmean,
        fidelity_stderr=fse,
        fidelity_estimated_mean=est_mean,
        latency_mean_s=lat_mean,
        latency_p50_s=_percentile(lats, 0.5) if lats else None,
        latency_p95_s=_percentile(lats, 0.95) if lats else None,
        time_to_first_pair_s=(pairs[0].time - req.start) if pairs else None,
        completion_time_s=(handle.finished_at - req.start) if completed else None,
    )
