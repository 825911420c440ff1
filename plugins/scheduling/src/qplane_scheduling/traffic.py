"""Traffic models: requests generated instead of listed (``traffic:`` in a scenario).

``poisson`` — requests arrive as a Poisson process of rate ``rate_hz`` from ``start`` until
``horizon`` (default: the end of the run): inter-arrival times are exponential, drawn from the
model's own random stream, so the same seed gives the same requests. Each asks for ``pairs``
pairs (or a ``rate`` of pairs per second until its deadline) at ``min_fidelity``, between
endpoints drawn uniformly: two distinct nodes of the topology (``endpoints: random``) or one of
the listed pairs (``endpoints: [[a, b], ...]``). ``deadline`` makes each request's ``end`` its
arrival plus that many seconds; ``priority`` is one number, or a list to draw from uniformly.

The contract is :mod:`qplane.traffic`; this module only builds requests.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from qplane.errors import ScenarioError
from qplane.requests import EntanglementRequest
from qplane.traffic import TrafficContext

#: more requests than this from one model is almost surely a typo in rate_hz or horizon
MAX_REQUESTS = 1_000_000


class PoissonParams(BaseModel):
    """``traffic: {model: poisson, ...}``."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    rate_hz: float = Field(gt=0.0, allow_inf_nan=False, description="mean arrivals per second")
    pairs: int | None = Field(None, gt=0, description="pairs each request asks for")
    rate: float | None = Field(None, gt=0.0, allow_inf_nan=False,
                               description="pairs per second each request asks for until its deadline (needs 'deadline')")
    min_fidelity: float = Field(0.0, ge=0.0, le=1.0, description="each request's min_fidelity: pairs estimated below it are discarded")
    endpoints: Literal["random"] | list[tuple[str, str]] = Field(
        "random", description="'random' (two distinct nodes, uniformly) or a list of [src, dst] pairs to draw from")
    start: float = Field(0.0, ge=0.0, allow_inf_nan=False, description="arrivals start after this time")
    horizon: float | None = Field(None, gt=0.0, allow_inf_nan=False,
                                  description="no arrival at or after this time (default: the run's duration)")
    deadline: float | None = Field(None, gt=0.0, allow_inf_nan=False,
                                   description="each request's end is its arrival plus this many seconds")
    priority: int | list[int] = Field(0, description="priority of every request, or a list to draw from uniformly")
    max_requests: int | None = Field(None, ge=1, description="stop after this many arrivals")
    protocols: dict[str, Any] | None = Field(None, description="per-request protocols of every generated request")

    @model_validator(mode="after")
    def _check(self) -> "PoissonParams":
        if (self.pairs is None) == (self.rate is None):
            raise ValueError("give exactly one of 'pairs' and 'rate'")
        if self.rate is not None and self.deadline is None:
            raise ValueError("a 'rate' traffic needs a 'deadline' (how long each request is served)")
        if self.horizon is not None and self.horizon <= self.start:
            raise ValueError("'horizon' must be after 'start'")
        if isinstance(self.priority, list) and not self.priority:
            raise ValueError("'priority' list is empty")
        if isinstance(self.endpoints, list):
            if not self.endpoints:
                raise ValueError("'endpoints' list is empty")
            for i, (a, b) in enumerate(self.endpoints):
                if a == b:
                    raise ValueError(f"endpoints.{i}: src and dst are both {a!r}")
        return self

    def expected_size(self, context: TrafficContext) -> dict[str, tuple[float, str]]:
        """The requests expected, ``rate_hz x (horizon - start)`` (at most ``max_requests``),
        and the pairs they ask; the core holds both to its limits before generating."""
        horizon = self.horizon if self.horizon is not None else context.duration
        n = self.rate_hz * max(horizon - self.start, 0.0)
        n = min(n, self.max_requests) if self.max_requests is not None else n
        each = self.pairs if self.pairs is not None else self.rate * self.deadline  # type: ignore[operator]
        return {"requests": (n, "rate_hz"), "pairs": (n * each, "pairs" if self.pairs is not None else "rate")}


class PoissonTraffic:
    """Poisson arrivals, uniform endpoints (see the module)."""

    def __init__(self, params: PoissonParams):
        self.params = params

    def generate(self, context: TrafficContext) -> list[EntanglementRequest]:
        p = self.params
        nodes = list(context.nodes)
        if isinstance(p.endpoints, list):
            known = set(nodes)
            for i, pair in enumerate(p.endpoints):
                for j, node in enumerate(pair):
                    if node not in known:
                        shown = ", ".join(nodes[:6]) + (", ..." if len(nodes) > 6 else "")
                        raise ScenarioError(f"node {node!r} is not in the topology (nodes: {shown})",
                                            field=f"endpoints.{i}.{j}")
        elif len(nodes) < 2:
            raise ScenarioError("random endpoints need at least two nodes", field="endpoints")
        horizon = p.horizon if p.horizon is not None else context.duration
        expected = p.rate_hz * max(horizon - p.start, 0.0)
        if p.max_requests is None and expected > MAX_REQUESTS:
            raise ScenarioError(f"rate_hz x (horizon - start) = {expected:.3g} requests expected; "
                                f"more than {MAX_REQUESTS} (set max_requests to mean it)", field="rate_hz")
        rng = context.rng
        out: list[EntanglementRequest] = []
        t = p.start
        while p.max_requests is None or len(out) < p.max_requests:
            t += rng.expovariate(p.rate_hz)
            if t >= horizon:
                break
            if isinstance(p.endpoints, list):
                src, dst = p.endpoints[rng.randrange(len(p.endpoints))]
            else:
                i = rng.randrange(len(nodes))
                j = rng.randrange(len(nodes) - 1)
                src, dst = nodes[i], nodes[j + (j >= i)]
            priority = p.priority[rng.randrange(len(p.priority))] if isinstance(p.priority, list) else p.priority
            out.append(EntanglementRequest(
                src=src, dst=dst, min_fidelity=p.min_fidelity, pairs=p.pairs, rate=p.rate, start=t,
                end=(t + p.deadline) if p.deadline is not None else None, priority=priority,
                protocols=p.protocols,
            ))
        return out
