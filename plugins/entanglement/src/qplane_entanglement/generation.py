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

Slotted generation: when a session has a ``gate`` (a time-slot scheduler such as ``tdma``), an
attempt is made only if its window ``[emission, emission + tau]`` fits in one of the session's
open slots. The attempts that fit in the rest of the slot are drawn at once (geometric draws are
memoryless, so a fresh draw after a slot's failed attempts is exact); then the generator waits
for the session's next slot. ``attempt_observer``, when set, sees every run of attempts.
"""

from __future__ import annotations

import math
from math import log as _log
from typing import Callable, Literal

from pydantic import BaseModel, ConfigDict, Field

from qplane.context import Context, HeraldCallback
from qplane.backend import StateBackend
from qplane.hal import LinkModel, Memory
from qplane.network import QuantumLink
from qplane.requests import Session



def herald_pair(
    backend: StateBackend, link: LinkModel, mem_a: Memory, mem_b: Memory, t_emit: float
) -> None:
    """Create a heralded pair in ``mem_a``/``mem_b``; both qubits have been stored since
    ``t_emit`` (the emission of the successful attempt), so storage noise covers the wait
    for the herald."""
    qa, qb = backend.create_pair(link.pair_state, mem_a.noise, mem_b.noise, t_emit, t_emit)
    mem_a.qubit = qa
    mem_b.qubit = qb


class HeraldedParams(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    mode: Literal["geometric", "per_attempt"] = Field(
        "geometric", description="geometric: one event per success; per_attempt: one event per attempt"
    )


class HeraldedLinkGenerator:
    """Attempts entanglement on one memory pair of a link until success."""

    def __init__(self, params: HeraldedParams, context: Context):
        self.params = params
        self.clock = context.clock
        self.backend = context.backend
        self.per_attempt = params.mode == "per_attempt"
        #: ``attempt_observer(session, link, t_first_emission, attempts, cycle)`` is called for
        #: every run of consecutive attempts scheduled (None: nothing observed; tests use it)
        self.attempt_observer: Callable[..., None] | None = None
        #: per link: (model, success probability, log(1 - p), cycle time, herald delay)
        self._consts: dict[QuantumLink, tuple] = {}
        self._herald_cb = self._herald  # (bound once, not per pair)

    def start(self, session: Session, link: QuantumLink, mem_a: Memory, mem_b: Memory, on_herald: HeraldCallback) -> None:
        """Start attempting on ``(mem_a, mem_b)`` for ``session``; ``on_herald(mem_a, mem_b,
        t_start)`` is called once both memories hold the heralded pair."""
        if not link.operational:  # photons would be lost: wait for the link to work again
            link.parked.append((session, mem_a, mem_b, on_herald))
            return
        env = self.clock
        rng = link.rng
        if rng is None:
            rng = link.rng = env.stream(f"link:{link.a}-{link.b}")
        model = link.model
        # the model's constants, cached per link while its model object stays the same (hot
        # path: one start per heralded pair; a live model change replaces the object)
        consts = self._consts.get(link)
        if consts is None or consts[0] is not model:
            p = model.success_probability
            consts = self._consts[link] = (model, p, math.log1p(-p) if 0.0 < p < 1.0 else 0.0,
                                           model.cycle_time, model.herald_delay)
        _, p, log_fail, cycle, herald_delay = consts
        t_start = env.now
        if p <= 0.0:
            return  # a link that can never herald: the request will time out
        if session.gate is not None:
            self._slotted(session, link, mem_a, mem_b, on_herald, rng, t_start)
            return
        if self.per_attempt:
            link.inflight[mem_a] = (session, mem_b, on_herald, t_start, None)
            self._attempt(session, link, mem_a, mem_b, on_herald, rng, t_start, herald_delay, link.epoch)
            return
        if p >= 1.0:
            k = 1
        else:
            k = 1 + int(_log(1.0 - rng.random()) / log_fail)
        t_emit = t_start + (k - 1) * cycle
        if self.attempt_observer is not None:
            self.attempt_observer(session, link, t_start, k, cycle)
        link.inflight[mem_a] = (session, mem_b, on_herald, t_start, k)
        env.call_at(t_emit - t_start + herald_delay, self._herald_cb, session, link, mem_a, mem_b, on_herald, k,
                    t_emit, t_start, link.epoch)

    def _attempt(self, session, link, mem_a, mem_b, on_herald, rng, t_start, delay, epoch) -> None:
        if self.attempt_observer is not None:
            self.attempt_observer(session, link, self.clock.now + delay - link.model.herald_delay, 1, link.model.cycle_time)

        def result() -> None:
            if not session.active or epoch != link.epoch:
                return
            link.stats.attempts += 1
            if rng.random() < link.model.success_probability:
                t_emit = self.clock.now - link.model.herald_delay
                self._herald(session, link, mem_a, mem_b, on_herald, 0, t_emit, t_start, epoch)
            else:
                self._attempt(session, link, mem_a, mem_b, on_herald, rng, t_start, link.model.cycle_time, epoch)

        self.clock.call_at(delay, result)

    def _slotted(self, session, link, mem_a, mem_b, on_herald, rng, t_start) -> None:
        """Attempt only inside the session's open slots (``session.gate``; see the module)."""
        if not session.active or mem_a.owner is not session or mem_b.owner is not session:
            return
        if not link.operational:
            link.parked.append((session, mem_a, mem_b, on_herald))
            return
        env, model, gate = self.clock, link.model, session.gate
        now = env.now
        cycle = model.cycle_time
        end = gate.open_until(now)
        fit = int((end - now) / cycle + 1e-9) if end is not None else 0  # whole windows left in the slot
        if fit <= 0:
            gate.wait(lambda: self._slotted(session, link, mem_a, mem_b, on_herald, rng, t_start))
            return
        p = model.success_probability
        if self.per_attempt:  # one attempt at a time: success now (k = 1) or try again next cycle
            fit, k = 1, (1 if rng.random() < p else 2)
        else:
            k = 1 if p >= 1.0 else 1 + int(math.log(1.0 - rng.random()) / math.log1p(-p))
        n = min(k, fit)
        if self.attempt_observer is not None:
            self.attempt_observer(session, link, now, n, cycle)
        link.inflight[mem_a] = (session, mem_b, on_herald, now, n)
        if k <= fit:
            t_emit = now + (k - 1) * cycle
            env.call_at(t_emit - now + model.herald_delay, self._herald, session, link, mem_a, mem_b, on_herald, k,
                        t_emit, t_start, link.epoch)
        else:
            env.call_at(fit * cycle, self._slot_failed, session, link, mem_a, mem_b, on_herald, rng, t_start, fit,
                        link.epoch)

    def _slot_failed(self, session, link, mem_a, mem_b, on_herald, rng, t_start, attempts, epoch) -> None:
        """``attempts`` slotted attempts all failed: count them and go on (next slot or now)."""
        if epoch != link.epoch:  # the link failed meanwhile: link_down counted and parked them
            return
        entry = link.inflight.get(mem_a)
        if entry is not None and entry[0] is session:
            del link.inflight[mem_a]
        if not session.active or mem_a.owner is not session or mem_b.owner is not session:
            return
        link.stats.attempts += attempts
        self._slotted(session, link, mem_a, mem_b, on_herald, rng, t_start)

    def link_down(self, link: QuantumLink) -> None:
        """``link`` stopped working (its epoch has moved on): the attempts in flight are void;
        their memory pairs wait in ``link.parked`` until :meth:`link_up`."""
        now = self.clock.now
        cycle = link.model.cycle_time
        for mem_a, (session, mem_b, on_herald, t_start, k) in link.inflight.items():
            if k is not None:  # geometric mode: count the attempts made before the failure
                link.stats.attempts += min(k, max(0, math.ceil((now - t_start) / cycle)))
            link.parked.append((session, mem_a, mem_b, on_herald))
        link.inflight.clear()

    def link_up(self, link: QuantumLink) -> None:
        """``link`` works again: the parked memory pairs start attempting now."""
        parked, link.parked = link.parked, []
        for session, mem_a, mem_b, on_herald in parked:
            if session.active and mem_a.owner is session and mem_b.owner is session:
                self.start(session, link, mem_a, mem_b, on_herald)

    def _herald(self, session, link, mem_a, mem_b, on_herald, attempts, t_emit, t_start, epoch) -> None:
        if epoch != link.epoch:  # the link failed meanwhile: link_down parked this pair
            return
        inflight = link.inflight
        entry = inflight.get(mem_a)
        if entry is not None and entry[0] is session:  # (the memory may serve another session by now)
            del inflight[mem_a]
        if not session.active or mem_a.owner is not session or mem_b.owner is not session:
            return
        stats = link.stats
        stats.attempts += attempts
        stats.pairs_generated += 1
        # (herald_pair inlined: one call less per pair)
        mem_a.qubit, mem_b.qubit = self.backend.create_pair(link.model.pair_state, mem_a.noise, mem_b.noise, t_emit, t_emit)
        on_herald(mem_a, mem_b, t_start)
