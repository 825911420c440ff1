"""Traffic models beside ``poisson``: bursty (``onoff``), distance-weighted (``gravity``) and
concentrated (``hotspot``) demand. Each shares poisson's request fields (``pairs`` or ``rate``,
``min_fidelity``, ``deadline``, ``priority``, ``protocols``) and window (``rate_hz``, ``start``,
``horizon``, ``max_requests``), and draws everything from the model's own random stream.

``onoff`` — each of ``sources`` independent sources alternates ON and OFF periods of mean
``on_s`` and ``off_s`` seconds (``periods: exponential``, ``fixed`` or ``pareto`` with tail index
``shape``); while ON it emits Poisson arrivals at ``rate_hz``, while OFF nothing. A source starts
ON with probability ``on_s / (on_s + off_s)`` (``initially: random``; for exponential periods
this is the stationary process), or ``on`` / ``off``. Endpoints as poisson's (``endpoints``).
With exponential periods one source is an interrupted Poisson process: its inter-arrival times
are hyperexponential (see the tests).

``gravity`` — Poisson arrivals at ``rate_hz`` in all; the ordered pair (i, j), i != j, is drawn
with probability proportional to ``w_i w_j f(d_ij)``, where ``w`` are the node ``weights``
(default 1; 0 takes a node out), ``d_ij`` the shortest fibre distance between the nodes, and
``f(d) = exp(-d / scale_km)`` (``law: exponential``) or ``d ** -alpha`` (``law: power``).

``hotspot`` — Poisson arrivals at ``rate_hz``; with probability ``p_hot`` a request's
destination is one of the ``hotspots`` (listed nodes, or that many nodes drawn from the stream),
uniformly among them; otherwise it is one of the other nodes, uniformly. The source is any node
but the destination, uniformly.
"""

from __future__ import annotations

import bisect
import itertools
import math
import random
from typing import Annotated, Literal

from pydantic import Field, model_validator

from qplane.errors import ScenarioError
from qplane.requests import EntanglementRequest
from qplane.traffic import TrafficContext

from .traffic import MAX_REQUESTS, ArrivalParams, EndpointFields, check_nodes

#: a gravity model over more weighted nodes than this would tabulate millions of pairs
MAX_GRAVITY_NODES = 2000


class OnOffParams(ArrivalParams, EndpointFields):
    """``traffic: {model: onoff, rate_hz, on_s, off_s, ...}``."""

    on_s: float = Field(gt=0.0, allow_inf_nan=False, description="mean length of an ON period, seconds")
    off_s: float = Field(gt=0.0, allow_inf_nan=False, description="mean length of an OFF period, seconds")
    periods: Literal["exponential", "fixed", "pareto"] = Field(
        "exponential", description="distribution of the ON and OFF lengths (each with its mean on_s / off_s)")
    shape: float = Field(1.5, gt=1.0, allow_inf_nan=False,
                         description="tail index of 'periods: pareto' (> 1, so the mean is finite; smaller is burstier)")
    sources: int = Field(1, ge=1, le=10_000, description="independent ON/OFF sources, each at rate_hz while ON")
    initially: Literal["random", "on", "off"] = Field(
        "random", description="each source's first period: ON with probability on_s / (on_s + off_s), or always on/off")

    @model_validator(mode="after")
    def _check_onoff(self) -> "OnOffParams":
        if "shape" in self.model_fields_set and self.periods != "pareto":
            raise ValueError("'shape' is the tail index of 'periods: pareto'")
        return self

    def expected_size(self, context: TrafficContext) -> dict[str, tuple[float, str]]:
        """As poisson's for ``sources`` streams always ON (an upper estimate)."""
        size = super().expected_size(context)
        n = size["requests"][0] * self.sources
        n = min(n, self.max_requests) if self.max_requests is not None else n
        each = self.pairs if self.pairs is not None else self.rate * self.deadline  # type: ignore[operator]
        return {"requests": (n, "rate_hz"), "pairs": (n * each, size["pairs"][1])}

    def period(self, rng: random.Random, mean: float) -> float:
        """One ON or OFF length of the given mean."""
        if self.periods == "fixed":
            return mean
        if self.periods == "pareto":  # minimum mean (shape - 1) / shape gives the mean asked
            return mean * (self.shape - 1.0) / self.shape * rng.paretovariate(self.shape)
        return rng.expovariate(1.0 / mean)


class OnOffTraffic:
    """Bursty arrivals from ON/OFF sources (see the module)."""

    def __init__(self, params: OnOffParams):
        self.params = params

    def generate(self, context: TrafficContext) -> list[EntanglementRequest]:
        p = self.params
        pick = p.endpoint_picker(context)
        start, horizon = p.window(context, p.sources)
        cycles = p.sources * (horizon - start) / (p.on_s + p.off_s)
        if cycles > MAX_REQUESTS:
            raise ScenarioError(f"sources x (horizon - start) / (on_s + off_s) = {cycles:.3g} ON/OFF cycles; "
                                f"more than {MAX_REQUESTS} (are on_s and off_s in seconds?)", field="on_s")
        rng = context.rng
        times: list[float] = []
        for _ in range(p.sources):  # each source's periods and arrivals, one source after the other
            on = p.initially == "on" or (p.initially == "random" and rng.random() < p.on_s / (p.on_s + p.off_s))
            t = start
            while t < horizon:
                length = p.period(rng, p.on_s if on else p.off_s)
                if on:  # Poisson arrivals until the period ends (memoryless: the last gap is dropped)
                    end, a = min(t + length, horizon), t
                    while True:
                        a += rng.expovariate(p.rate_hz)
                        if a >= end:
                            break
                        times.append(a)
                t += length
                on = not on
        times.sort()
        if p.max_requests is not None:
            del times[p.max_requests:]
        out = []
        for t in times:
            src, dst = pick(rng)
            out.append(p.request(rng, t, src, dst))
        return out


class GravityParams(ArrivalParams):
    """``traffic: {model: gravity, rate_hz, weights, law, scale_km | alpha, ...}``."""

    weights: dict[str, Annotated[float, Field(ge=0.0, allow_inf_nan=False)]] = Field(
        default_factory=dict, description="weight w of each node named (the others weigh 1; 0 takes a node out)")
    law: Literal["exponential", "power"] = Field(
        "exponential", description="how demand falls with fibre distance d: exp(-d / scale_km), or d ** -alpha")
    scale_km: float = Field(100.0, gt=0.0, allow_inf_nan=False, description="distance scale of 'law: exponential'")
    alpha: float = Field(2.0, gt=0.0, allow_inf_nan=False, description="exponent of 'law: power'")

    @model_validator(mode="after")
    def _check_law(self) -> "GravityParams":
        if "scale_km" in self.model_fields_set and self.law != "exponential":
            raise ValueError("'scale_km' is the parameter of 'law: exponential'")
        if "alpha" in self.model_fields_set and self.law != "power":
            raise ValueError("'alpha' is the parameter of 'law: power'")
        return self

    def falloff(self, d: float) -> float:
        """``f(d)``: the demand between two nodes ``d`` km apart, relative to their weights."""
        if math.isinf(d):
            return 0.0
        return math.exp(-d / self.scale_km) if self.law == "exponential" else d ** -self.alpha

    def pair_weights(self, context: TrafficContext) -> tuple[list[tuple[str, str]], list[float]]:
        """Every ordered pair of distinct nodes with positive demand, and ``w_i w_j f(d_ij)``."""
        nodes = list(context.nodes)
        check_nodes(((f"weights.{name}", name) for name in self.weights), nodes)
        if context.distance_km is None:
            raise ScenarioError("gravity needs the fibre distances between nodes, which this runner does not give")
        weighted = [n for n in nodes if self.weights.get(n, 1.0) > 0]
        if len(weighted) > MAX_GRAVITY_NODES:
            raise ScenarioError(f"{len(weighted)} weighted nodes; gravity tabulates every pair, at most "
                                f"{MAX_GRAVITY_NODES} nodes (weight 0 takes a node out)", field="weights")
        pairs: list[tuple[str, str]] = []
        demand: list[float] = []
        for a, b in itertools.combinations(weighted, 2):
            d = context.distance_km(a, b)
            w = self.weights.get(a, 1.0) * self.weights.get(b, 1.0) * (self.falloff(d) if d > 0 else 0.0)
            if w > 0:
                pairs += [(a, b), (b, a)]
                demand += [w, w]
        if not pairs:
            raise ScenarioError("no two nodes of positive weight are joined by fibre: there is no demand",
                                field="weights")
        return pairs, demand


class GravityTraffic:
    """Demand falling with distance (see the module)."""

    def __init__(self, params: GravityParams):
        self.params = params

    def generate(self, context: TrafficContext) -> list[EntanglementRequest]:
        pairs, demand = self.params.pair_weights(context)
        cum = list(itertools.accumulate(demand))
        total = cum[-1]

        def pick(rng: random.Random) -> tuple[str, str]:
            return pairs[min(bisect.bisect_right(cum, rng.random() * total), len(pairs) - 1)]

        return self.params.poisson_arrivals(context, pick)


class HotspotParams(ArrivalParams):
    """``traffic: {model: hotspot, rate_hz, hotspots, p_hot, ...}``."""

    hotspots: int | list[str] = Field(
        1, description="the hot-spot destinations, or how many of them to draw from the nodes (from the model's stream)")
    p_hot: float = Field(0.5, ge=0.0, le=1.0, allow_inf_nan=False,
                         description="fraction of the requests whose destination is a hot spot; the others go to another node")

    @model_validator(mode="after")
    def _check_hotspots(self) -> "HotspotParams":
        if isinstance(self.hotspots, int) and self.hotspots < 1:
            raise ValueError("'hotspots' must be at least 1 (a count) or a list of nodes")
        if isinstance(self.hotspots, list):
            if not self.hotspots:
                raise ValueError("'hotspots' list is empty")
            if len(set(self.hotspots)) < len(self.hotspots):
                raise ValueError("'hotspots' names a node twice")
        return self


class HotspotTraffic:
    """A few destinations draw a fraction of the requests (see the module)."""

    def __init__(self, params: HotspotParams):
        self.params = params

    def generate(self, context: TrafficContext) -> list[EntanglementRequest]:
        p = self.params
        nodes = list(context.nodes)
        if len(nodes) < 2:
            raise ScenarioError("hot-spot traffic needs at least two nodes")
        rng = context.rng
        if isinstance(p.hotspots, list):
            check_nodes(((f"hotspots.{i}", n) for i, n in enumerate(p.hotspots)), nodes)
            hot = list(p.hotspots)
        else:
            if p.hotspots > len(nodes):
                raise ScenarioError(f"{p.hotspots} hot spots asked; the topology has {len(nodes)} nodes",
                                    field="hotspots")
            hot = rng.sample(nodes, p.hotspots)
        hot_set = set(hot)
        cold = [n for n in nodes if n not in hot_set]
        if not cold and p.p_hot < 1.0:
            raise ScenarioError("every node is a hot spot: nowhere for the other requests to go (p_hot < 1)",
                                field="hotspots")

        def pick(rng: random.Random) -> tuple[str, str]:
            dst = hot[rng.randrange(len(hot))] if rng.random() < p.p_hot else cold[rng.randrange(len(cold))]
            i = rng.randrange(len(nodes) - 1)
            src = nodes[i]
            return (nodes[-1] if src == dst else src), dst

        return p.poisson_arrivals(context, pick)
