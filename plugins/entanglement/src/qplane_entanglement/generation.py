"""Heralded link generation on one memory pair: attempt until a herald says success.

With per-attempt success probability ``p`` and cycle ``tau`` (from the link's hardware model)
the number of attempts until success is geometric, ``P(k) = (1-p)^(k-1) p``. In the default
``geometric`` mode the generator draws ``k`` once (inverse transform,
``k = 1 + floor(ln U / ln(1-p))``) and schedules only the herald of the successful attempt:
one event per pair, none per failed attempt. The ``per_attempt`` mode schedules every attempt's
herald and draws a Bernoulli each time; it exists to validate that both give the same
statistics (a test compares them).

Timing: attempt ``j`` (1-based) emits at ``t0 + (j-1) tau`` and its herald reaches both ends
``herald_delay`` later; the pair's qubits have been stored since that emission.
"""

from __future__ import annotations

import math
from typing import Any, Callable, Literal

from pydantic import BaseModel, ConfigDict, Field

from qplane.southbound import Memory, herald_pair


class HeraldedParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    mode: Literal["geometric", "per_attempt"] = Field(
        "geometric", description="geometric: one event per success; per_attempt: one event per attempt"
    )


HeraldCallback = Callable[[Memory, Memory, float], None]


class HeraldedLinkGenerator:
    """Attempts entanglement on one memory pair of a link until success."""

    def __init__(self, params: HeraldedParams, sim: Any):
        self.params = params
        self.sim = sim
        self.env = sim.env
        self.backend = sim.backend
        self.per_attempt = params.mode == "per_attempt"

    def start(self, session: Any, link: Any, mem_a: Memory, mem_b: Memory, on_herald: HeraldCallback) -> None:
        """Start attempting on ``(mem_a, mem_b)`` for ``session``; ``on_herald(mem_a, mem_b,
        t_start)`` is called once both memories hold the heralded pair."""
        env = self.env
        rng = env.stream(f"link:{link.a}-{link.b}")
        model = link.model
        p = model.success_probability
        t_start = env.now
        if p <= 0.0:
            return  # a link that can never herald: the request will time out
        if self.per_attempt:
            self._attempt(session, link, mem_a, mem_b, on_herald, rng, t_start, model.herald_delay)
            return
        if p >= 1.0:
            k = 1
        else:
            k = 1 + int(math.log(1.0 - rng.random()) / math.log1p(-p))
        t_emit = t_start + (k - 1) * model.cycle_time
        env.call_at(t_emit - t_start + model.herald_delay, self._herald, session, link, mem_a, mem_b, on_herald, k, t_emit, t_start)

    def _attempt(self, session, link, mem_a, mem_b, on_herald, rng, t_start, delay) -> None:
        def result(_ev: Any) -> None:
            if not session.active:
                return
            link.stats.attempts += 1
            if rng.random() < link.model.success_probability:
                t_emit = self.env.now - link.model.herald_delay
                self._herald(session, link, mem_a, mem_b, on_herald, 0, t_emit, t_start)
            else:
                self._attempt(session, link, mem_a, mem_b, on_herald, rng, t_start, link.model.cycle_time)

        self.env.timeout(delay).callbacks.append(result)

    def _herald(self, session, link, mem_a, mem_b, on_herald, attempts, t_emit, t_start) -> None:
        if not session.active or mem_a.owner is not session or mem_b.owner is not session:
            return
        link.stats.attempts += attempts
        link.stats.pairs_generated += 1
        herald_pair(self.backend, link.model, mem_a, mem_b, t_emit)
        on_herald(mem_a, mem_b, t_start)
