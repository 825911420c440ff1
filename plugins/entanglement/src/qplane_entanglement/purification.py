"""Purification protocols: recurrence and pumping, on links or end to end.

A purification protocol is a named component whose object tells the swapping policy what to
do with pairs before they are used:

* ``protocol`` — the circuit the backend runs (:meth:`qplane.backend.StateBackend.purify`):
  ``bbpssw`` or ``dejmps``;
* ``scheme`` — ``recurrence`` (two pairs that have survived ``k`` rounds make one of level
  ``k+1``) or ``pumping`` (one kept pair is purified again and again with fresh pairs);
* ``rounds`` — the most rounds a pair goes through;
* ``until`` — ``rounds`` (always do them all) or ``min_fidelity``: stop as soon as the
  network's own fidelity estimate reaches the target (the request's ``min_fidelity``; on a link
  the per-link share of it, ``w_link = w_target ** (1 / links)`` with ``w = (4F - 1) / 3``, so
  that the swapped chain of Werner pairs would reach it), or when ``rounds`` is hit;
* ``scope`` — ``link`` (between the two ends of each link, before swapping) or
  ``end-to-end`` (between the request's end nodes, before delivery).

Each round: both nodes run the local circuit, measure the sacrificed pair and send their bit to
the other end; both know the result one classical delay later (L / c on a link, the path's
delay end to end). The sacrificed memories are free at once; the kept pair waits for the
result, decohering meanwhile, and is freed on failure.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

import qplane_physics as physics
from qplane.backend import Capability, StateBackend
from qplane.context import Context
from qplane.hal import Device, Memory


class NoParams(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class PurificationParams(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    rounds: int = Field(1, ge=1, le=8, description="the most purification rounds a pair goes through")
    scope: Literal["link", "end-to-end"] = Field("link", description="purify on each link, or between the end nodes")
    until: Literal["rounds", "min_fidelity"] = Field(
        "rounds", description="do every round, or stop once the network's estimate reaches the target")


class PumpingParams(PurificationParams):
    protocol: Literal["bbpssw", "dejmps"] = Field("dejmps", description="the circuit of each pumping step")


class NoPurification:
    """No purification: pairs are swapped and delivered as heralded."""

    protocol = None
    scheme = None
    rounds = 0
    scope = "link"
    until = "rounds"

    def __init__(self, params: NoParams, context: Context):
        self.params = params


class _Purification:
    protocol = ""
    scheme = "recurrence"
    requires_capabilities = frozenset({Capability.PURIFICATION})

    def __init__(self, params: PurificationParams, context: Context):
        self.params = params
        self.rounds = params.rounds
        self.scope = params.scope
        self.until = params.until

    def best_case(self, v: list[float], scope: str) -> list[float]:
        """The best state (Pauli order) ``rounds`` rounds can make of pairs in state ``v`` at
        ``scope`` with perfect operations and no waiting: an upper bound for admission."""
        if scope != self.scope:
            return v
        best, kept = v, v
        for _ in range(self.rounds):
            kept, _ = physics.purify(kept, kept if self.scheme == "recurrence" else v, self.protocol)
            if kept[0] > best[0]:
                best = kept
        return best

    def memory_pairs_needed(self) -> int:
        """Memory pairs per purified place (link, or each end) for the scheme to make progress:
        recurrence holds one waiting pair per level plus a fresh one; pumping a kept and a fresh."""
        return self.rounds + 1 if self.scheme == "recurrence" else 2


class Bbpssw(_Purification):
    """BBPSSW recurrence (Bennett et al., PRL 76, 722 (1996)): twirl both pairs to Werner form,
    bilateral CNOT, keep when the measured bits agree. On Werner pairs
    ``F' = (F² + ((1-F)/3)²) / N``, ``N = F² + 2F(1-F)/3 + 5((1-F)/3)²``."""

    protocol = "bbpssw"


class Dejmps(_Purification):
    """DEJMPS recurrence (Deutsch et al., PRL 77, 2818 (1996)): local rotations, bilateral CNOT,
    keep when the bits agree. On Bell-diagonal (A, B, C, D): ``A' = (A² + B²)/N``,
    ``B' = 2CD/N``, ``C' = (C² + D²)/N``, ``D' = 2AB/N``, ``N = (A + B)² + (C + D)²``."""

    protocol = "dejmps"


class Pumping(_Purification):
    """Entanglement pumping (Dür, Briegel, Cirac, Zoller, PRA 59, 169 (1999)): one kept pair is
    purified again and again with a fresh (unpurified) pair, with the BBPSSW or DEJMPS circuit.
    Needs only two memory pairs; its fixed point is below recurrence's."""

    scheme = "pumping"

    def __init__(self, params: PumpingParams, context: Context):
        super().__init__(params, context)
        self.protocol = params.protocol


def purify_pairs(
    backend: StateBackend,
    dev_a: Device,
    dev_b: Device,
    keep: tuple[Memory, Memory],
    sacrifice: tuple[Memory, Memory],
    now: float,
    protocol: str,
) -> bool:
    """One purification round between the devices of nodes A and B, each side with its own
    gate and measurement errors. The sacrificed memories are emptied; returns success."""
    ka, kb = keep
    sa, sb = sacrifice
    oa, ob = dev_a.operations, dev_b.operations
    ok = backend.purify(
        (ka.qubit, kb.qubit),
        (sa.qubit, sb.qubit),
        now,
        protocol,
        (oa.gate_error, ob.gate_error),
        (oa.measurement_error, ob.measurement_error),
    )
    sa.qubit = sb.qubit = None
    sa.record = sb.record = None
    return ok


def _age_estimate(est: list[float], noise: Any, dt: float) -> list[float]:
    """The estimate ``est`` (Pauli order) after ``dt`` seconds in a memory with ``noise`` (the
    swapping policies' bookkeeping; here beside the rounds that use it too)."""
    if dt <= 0.0 or noise is None:
        return est
    t = getattr(noise, "depolarizing_time", None)
    if t is not None:
        return physics.depolarize_after(est, dt, t)
    probs = noise.pauli_probs(dt)
    return est if probs[0] == 1.0 else physics.pauli_channel(est, probs)  # noiseless memories
