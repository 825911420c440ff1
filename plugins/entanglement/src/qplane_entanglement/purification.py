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

from collections import deque
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

import qplane_physics as physics
from qplane.backend import Capability, StateBackend
from qplane.context import Context
from qplane.hal import Device, Memory

from .records import PairRecord


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


class PurifyingPath:
    """The purification rounds of a swapping policy's per-session state (mixed into
    :class:`qplane_entanglement.swapping._PathState`, whose attributes they use; here, beside
    the protocols, to keep the swapping module within 500 lines)."""

    __slots__ = ()

    # purification ---------------------------------------------------------------------
    def _fidelity_now(self, rec: PairRecord) -> float:
        now = self.clock.now
        est = _age_estimate(rec.est, self.devices[rec.lo].memory_model, now - rec.t_left)
        return _age_estimate(est, self.devices[rec.hi].memory_model, now - rec.t_right)[0]

    def _purified_enough(self, key: Any, rec: PairRecord) -> bool:
        if rec.level >= self.pur.rounds:
            return True
        if self.pur.until == "min_fidelity":
            target = self.e2e_target if key == "e2e" else self.link_target
            return self._fidelity_now(rec) >= target
        return False

    def _purify_or_wait(self, key: Any, rec: PairRecord) -> None:
        """``rec`` is a fresh pair (level 0) or one that just survived a round."""
        if self._purified_enough(key, rec):
            self._purification_done(key, rec)
            return
        if self.pur.scheme == "recurrence":
            waiting = self.pur_wait.setdefault(key, {})
            other = waiting.pop(rec.level, None)
            if other is None:
                waiting[rec.level] = rec
            else:
                self._purify_round(key, other, rec)  # keep the older pair, sacrifice the fresh one
            return
        # pumping: one kept pair, purified with fresh ones, one round at a time
        fresh = self.pur_fresh.setdefault(key, deque())
        kept = self.pur_wait.setdefault(key, {}).get(0)
        if rec.level == 0 and (kept is not None or self.pur_busy.get(key)):
            if kept is not None:
                del self.pur_wait[key][0]
                self._purify_round(key, kept, rec)
            else:
                fresh.append(rec)
            return
        # rec becomes (or stays) the kept pair
        if fresh:
            self._purify_round(key, rec, fresh.popleft())
        else:
            self.pur_wait[key][0] = rec

    def _purify_round(self, key: Any, keep: PairRecord, sac: PairRecord) -> None:
        now = self.clock.now
        dev_a, dev_b = self.devices[keep.lo], self.devices[keep.hi]
        # the network's estimate: age all four qubits, then the round's closed form
        est_k = _age_estimate(_age_estimate(keep.est, dev_a.memory_model, now - keep.t_left), dev_b.memory_model, now - keep.t_right)
        est_s = _age_estimate(_age_estimate(sac.est, dev_a.memory_model, now - sac.t_left), dev_b.memory_model, now - sac.t_right)
        oa, ob = dev_a.operations, dev_b.operations
        keep.est, _ = physics.purify(est_k, est_s, self.pur.protocol, (oa.gate_error, ob.gate_error),
                                     (oa.measurement_error, ob.measurement_error))
        keep.t_left = keep.t_right = now
        keep.t_attempt = min(keep.t_attempt, sac.t_attempt)
        keep.born = min(keep.born, sac.born)
        ok = purify_pairs(self.ctx.backend, dev_a, dev_b, (keep.left, keep.right), (sac.left, sac.right), now, self.pur.protocol)
        sac.alive = False
        if self.trace is not None:
            self.trace("purification", request=self.handle.id, pair=keep.id, sacrificed=sac.id,
                       nodes=[keep.left.node, keep.right.node], round=keep.level + 1, ok=ok,
                       scope="end-to-end" if key == "e2e" else "link", fidelity_estimated=keep.est[0])
        self.memory_freed(sac.left)
        self.memory_freed(sac.right)
        self.pur_busy[key] = self.pur_busy.get(key, 0) + 1
        # each end sends its bit to the other; both know the result one delay later
        net = self.network
        net.count_messages(1)  # the two messages cross and arrive together: one event serves both
        net.send(self.delay_src[keep.hi] - self.delay_src[keep.lo], self._purified, key, keep, ok)

    def _purified(self, key: Any, rec: PairRecord, ok: bool) -> None:
        if not self.session.active:
            return
        self.pur_busy[key] -= 1
        if not rec.alive:  # cut off while the result was on its way
            self._pumping_restart(key)
            return
        if not ok:
            self._lose(rec, "purification_failed")
            self._pumping_restart(key)
            return
        rec.level += 1
        self._purify_or_wait(key, rec)

    def _pumping_restart(self, key: Any) -> None:
        fresh = self.pur_fresh.get(key)
        if fresh:
            self._purify_or_wait(key, fresh.popleft())

    def _purification_done(self, key: Any, rec: PairRecord) -> None:
        if self.pur is not None and self.pur.scheme == "pumping":
            self._pumping_restart(key)
        if key == "e2e":
            self._deliver(rec)
        else:
            self._link_pair_ready(key, rec)
