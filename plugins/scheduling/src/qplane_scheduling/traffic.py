"""Traffic models: requests generated instead of listed (``traffic:`` in a scenario).

``poisson`` — requests arrive as a Poisson process of rate ``rate_hz`` from ``start`` until
``horizon`` (default: the end of the run): inter-arrival times are exponential, drawn from the
model's own random stream, so the same seed gives the same requests. Each asks for ``pairs``
pairs (or a ``rate`` of pairs per second until its deadline) at ``min_fidelity``, between
endpoints drawn uniformly: two distinct nodes of the topology (``endpoints: random``) or one of
the listed pairs (``endpoints: [[a, b], ...]``). ``deadline`` makes each request's ``end`` its
arrival plus that many seconds; ``priority`` is one number, or a list to draw from uniformly.

The other models (``onoff``, ``gravity``, ``hotspot``: :mod:`.traffic_models`; ``replay``:
:mod:`.replay`) share this module's request fields (:class:`RequestFields`), arrival window
(:class:`ArrivalParams`) and endpoint choice (:class:`EndpointFields`).

The contract is :mod:`qplane.traffic`; this module only builds requests.
"""

from __future__ import annotations

import random
from typing import Any, Callable, Iterable, Literal, Sequence

from pydantic import BaseModel, ConfigDict, Field, model_validator

from qplane.errors import ScenarioError
from qplane.requests import EntanglementRequest
from qplane.traffic import TrafficContext

#: more requests than this from one model is almost surely a typo in rate_hz or horizon
MAX_REQUESTS = 1_000_000


class RequestFields(BaseModel):
    """What every generated request asks (shared by the traffic models of this plugin)."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    pairs: int | None = Field(None, gt=0, description="pairs each request asks for")
    rate: float | None = Field(None, gt=0.0, allow_inf_nan=False,
                               description="pairs per second each request asks for until its deadline (needs 'deadline')")
    min_fidelity: float = Field(0.0, ge=0.0, le=1.0, description="each request's min_fidelity: pairs estimated below it are discarded")
    deadline: float | None = Field(None, gt=0.0, allow_inf_nan=False,
                                   description="each request's end is its arrival plus this many seconds")
    priority: int | list[int] = Field(0, description="priority of every request, or a list to draw from uniformly")
    protocols: dict[str, Any] | None = Field(None, description="per-request protocols of every generated request")

    @model_validator(mode="after")
    def _check_request_fields(self) -> "RequestFields":
        if (self.pairs is None) == (self.rate is None):
            raise ValueError("give exactly one of 'pairs' and 'rate'")
        if self.rate is not None and self.deadline is None:
            raise ValueError("a 'rate' traffic needs a 'deadline' (how long each request is served)")
        if isinstance(self.priority, list) and not self.priority:
            raise ValueError("'priority' list is empty")
        return self

    def request(self, rng: random.Random, t: float, src: str, dst: str) -> EntanglementRequest:
        """The request arriving at ``t`` between ``src`` and ``dst`` (draws its priority from ``rng``
        when ``priority`` is a list)."""
        priority = self.priority[rng.randrange(len(self.priority))] if isinstance(self.priority, list) else self.priority
        return EntanglementRequest(
            src=src, dst=dst, min_fidelity=self.min_fidelity, pairs=self.pairs, rate=self.rate, start=t,
            end=(t + self.deadline) if self.deadline is not None else None, priority=priority,
            protocols=self.protocols,
        )


class ArrivalParams(RequestFields):
    """Request fields plus arrivals at ``rate_hz`` between ``start`` and ``horizon``."""

    rate_hz: float = Field(gt=0.0, allow_inf_nan=False, description="mean arrivals per second")
    start: float = Field(0.0, ge=0.0, allow_inf_nan=False, description="arrivals start after this time")
    horizon: float | None = Field(None, gt=0.0, allow_inf_nan=False,
                                  description="no arrival at or after this time (default: the run's duration)")
    max_requests: int | None = Field(None, ge=1, description="stop after this many arrivals")

    @model_validator(mode="after")
    def _check_window(self) -> "ArrivalParams":
        if self.horizon is not None and self.horizon <= self.start:
            raise ValueError("'horizon' must be after 'start'")
        return self

    def window(self, context: TrafficContext, streams: int = 1) -> tuple[float, float]:
        """``(start, horizon)``; refuses more than :data:`MAX_REQUESTS` expected arrivals (of
        ``streams`` processes at ``rate_hz``) unless ``max_requests`` is set."""
        horizon = self.horizon if self.horizon is not None else context.duration
        expected = streams * self.rate_hz * max(horizon - self.start, 0.0)
        if self.max_requests is None and expected > MAX_REQUESTS:
            raise ScenarioError(f"rate_hz x (horizon - start) = {expected:.3g} requests expected; "
                                f"more than {MAX_REQUESTS} (set max_requests to mean it)", field="rate_hz")
        return self.start, horizon

    def expected_size(self, context: TrafficContext) -> dict[str, tuple[float, str]]:
        """The requests expected, ``rate_hz x (horizon - start)`` (at most ``max_requests``; an
        upper estimate for a model that pauses), and the pairs they ask; the core holds both to
        its limits before generating."""
        horizon = self.horizon if self.horizon is not None else context.duration
        n = self.rate_hz * max(horizon - self.start, 0.0)
        n = min(n, self.max_requests) if self.max_requests is not None else n
        each = self.pairs if self.pairs is not None else self.rate * self.deadline  # type: ignore[operator]
        return {"requests": (n, "rate_hz"), "pairs": (n * each, "pairs" if self.pairs is not None else "rate")}

    def poisson_arrivals(self, context: TrafficContext,
                         pick: Callable[[random.Random], tuple[str, str]]) -> list[EntanglementRequest]:
        """Poisson arrivals at ``rate_hz`` in the window; each arrival's endpoints from ``pick``.
        Per arrival the stream gives, in this order: the gap, the endpoints, the priority."""
        start, horizon = self.window(context)
        rng = context.rng
        out: list[EntanglementRequest] = []
        t = start
        while self.max_requests is None or len(out) < self.max_requests:
            t += rng.expovariate(self.rate_hz)
            if t >= horizon:
                break
            src, dst = pick(rng)
            out.append(self.request(rng, t, src, dst))
        return out


def shown_nodes(nodes: Sequence[str]) -> str:
    """The first few node names, for an error message."""
    return ", ".join(nodes[:6]) + (", ..." if len(nodes) > 6 else "")


def check_nodes(names: Iterable[tuple[str, str]], nodes: Sequence[str]) -> None:
    """Every ``(field, node)`` names a node of the topology, or a :class:`ScenarioError` on that field."""
    known = set(nodes)
    for field, node in names:
        if node not in known:
            raise ScenarioError(f"node {node!r} is not in the topology (nodes: {shown_nodes(nodes)})", field=field)


def uniform_pair(rng: random.Random, nodes: Sequence[str]) -> tuple[str, str]:
    """Two distinct nodes, every ordered pair equally likely."""
    i = rng.randrange(len(nodes))
    j = rng.randrange(len(nodes) - 1)
    return nodes[i], nodes[j + (j >= i)]


class EndpointFields(BaseModel):
    """``endpoints``: uniform random pairs of nodes, or a list of pairs to draw from."""

    endpoints: Literal["random"] | list[tuple[str, str]] = Field(
        "random", description="'random' (two distinct nodes, uniformly) or a list of [src, dst] pairs to draw from")

    @model_validator(mode="after")
    def _check_endpoints(self) -> "EndpointFields":
        if isinstance(self.endpoints, list):
            if not self.endpoints:
                raise ValueError("'endpoints' list is empty")
            for i, (a, b) in enumerate(self.endpoints):
                if a == b:
                    raise ValueError(f"endpoints.{i}: src and dst are both {a!r}")
        return self

    def endpoint_picker(self, context: TrafficContext) -> Callable[[random.Random], tuple[str, str]]:
        """Checks the endpoints against the topology; returns the draw of one request's endpoints."""
        nodes = list(context.nodes)
        listed = self.endpoints
        if isinstance(listed, list):
            check_nodes(((f"endpoints.{i}.{j}", node) for i, pair in enumerate(listed) for j, node in enumerate(pair)),
                        nodes)
            return lambda rng: listed[rng.randrange(len(listed))]
        if len(nodes) < 2:
            raise ScenarioError("random endpoints need at least two nodes", field="endpoints")
        return lambda rng: uniform_pair(rng, nodes)


class PoissonParams(ArrivalParams, EndpointFields):
    """``traffic: {model: poisson, ...}``."""


class PoissonTraffic:
    """Poisson arrivals, uniform endpoints (see the module)."""

    def __init__(self, params: PoissonParams):
        self.params = params

    def generate(self, context: TrafficContext) -> list[EntanglementRequest]:
        return self.params.poisson_arrivals(context, self.params.endpoint_picker(context))
