"""Swap-as-soon-as-possible over a fixed path, with Pauli-frame bookkeeping and delivery.

For one admitted request (a :class:`qplane.northbound.Session`) the policy keeps every
allocated memory pair attempting link-level entanglement; a repeater that holds one qubit
entangled toward the source side and one toward the destination side performs a Bell-state
measurement at once. Each swap's outcome travels as a classical message along the path to both
end nodes (one event per message). A pair is delivered when it spans the path and both ends
have received every outcome of the swaps that built it; the destination then applies the
accumulated Pauli correction.

The control plane tracks each pair in a :class:`PairRecord`: its end memories, the span of
path positions it covers, the network's own estimate of its state (from link fidelities,
storage times and the nodes' error rates: what the network can know), and the outcomes heard
so far at each end. When a swap merges two records, messages addressed to the older ones are
forwarded to the merged record (``merged_into``), as an end node matches outcomes to its
qubit by the pair identifiers they carry.
"""

from __future__ import annotations

from collections import deque
from typing import Any

from pydantic import BaseModel, ConfigDict

from qplane import physics
from qplane.northbound import DeliveredPair, RequestStatus, Session
from qplane.southbound import Memory, purify_pairs


class AsapParams(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PairRecord:
    """What the control plane knows of one stored pair."""

    __slots__ = ("left", "right", "lo", "hi", "est", "t_left", "t_right", "t_attempt",
                 "known_src", "known_dst", "frame", "merged_into", "level")

    def __init__(self, left: Memory, right: Memory, lo: int, hi: int, est: list[float],
                 t_left: float, t_right: float, t_attempt: float):
        self.left = left
        self.right = right
        self.lo = lo
        self.hi = hi
        self.est = est  # Bell-diagonal estimate in Pauli order, noise applied up to t_left/t_right
        self.t_left = t_left
        self.t_right = t_right
        self.t_attempt = t_attempt  # start of the oldest link-level attempt in this pair
        self.known_src = 0
        self.known_dst = 0
        self.frame = 0  # XOR of the outcomes heard at the destination
        self.merged_into: PairRecord | None = None
        self.level = 0  # purification rounds survived

    def root(self) -> "PairRecord":
        r = self
        while r.merged_into is not None:
            r = r.merged_into
        node = self
        while node.merged_into is not None and node.merged_into is not r:  # path compression
            node.merged_into, node = r, node.merged_into
        return r


def _age_estimate(est: list[float], noise: Any, dt: float) -> list[float]:
    if dt <= 0.0 or noise is None:
        return est
    t = getattr(noise, "depolarizing_time", None)
    if t is not None:
        return physics.depolarize(est, physics.depolarizing_lambda(dt, t))
    return physics.pauli_channel(est, noise.pauli_probs(dt))


class _AsapState:
    """Per-session bookkeeping of :class:`AsapSwapPolicy`."""

    def __init__(self, policy: "AsapSwapPolicy", session: Session):
        sim = policy.sim
        self.policy = policy
        self.sim = sim
        self.env = sim.env
        self.session = session
        self.path = path = session.path
        self.hops = len(path) - 1
        net = sim.network
        self.network = net
        self.links = [net.link(u, v) for u, v in zip(path, path[1:])]
        self.devices = [net.nodes[n].device for n in path]
        self.pos = {n: i for i, n in enumerate(path)}
        delays = net.path_delays(path)
        self.delay_src = delays
        self.delay_dst = [delays[-1] - d for d in delays]
        self.free_a: list[deque[Memory]] = [deque() for _ in range(self.hops)]
        self.free_b: list[deque[Memory]] = [deque() for _ in range(self.hops)]
        self.toward_dst: list[deque[Memory]] = [deque() for _ in path]  # qubits whose pair extends to higher positions
        self.toward_src: list[deque[Memory]] = [deque() for _ in path]
        self.min_fidelity = session.handle.request.min_fidelity
        purification = sim.purification
        self.purify_protocol = purification.protocol
        self.purify_rounds = purification.rounds if purification.protocol else 0
        # per hop, per level: a link pair waiting for a partner of the same level
        self.purify_wait: list[list[PairRecord | None]] = [[None] * max(self.purify_rounds, 1) for _ in range(self.hops)]

    # link level --------------------------------------------------------------------
    def begin(self) -> None:
        for h, pairs in enumerate(self.session.allocation):
            for ma, mb in pairs:
                self._attempt(h, ma, mb)

    def _attempt(self, h: int, ma: Memory, mb: Memory) -> None:
        self.policy.generator.start(self.session, self.links[h], ma, mb,
                                    lambda a, b, t0, h=h: self._heralded(h, a, b, t0))

    def memory_freed(self, m: Memory) -> None:
        i = self.pos[m.node]
        if i + 1 <= self.hops and m.neighbor == self.path[i + 1]:
            h, mine, other = i, self.free_a[i], self.free_b[i]
        else:
            h, mine, other = i - 1, self.free_b[i - 1], self.free_a[i - 1]
        if other:
            o = other.popleft()
            if mine is self.free_a[h]:
                self._attempt(h, m, o)
            else:
                self._attempt(h, o, m)
        else:
            mine.append(m)

    def _heralded(self, h: int, ma: Memory, mb: Memory, t_attempt: float) -> None:
        link = self.links[h]
        model = link.model
        now = self.env.now
        t_emit = now - model.herald_delay
        rec = PairRecord(ma, mb, h, h + 1, physics.to_pauli_order(model.pair_state), t_emit, t_emit, t_attempt)
        ma.record = mb.record = rec
        if self.purify_rounds:
            self._purify_or_wait(h, rec)
        else:
            self._link_pair_ready(h, rec)

    # link purification (recurrence) ----------------------------------------------------
    def _purify_or_wait(self, h: int, rec: PairRecord) -> None:
        waiting = self.purify_wait[h]
        other = waiting[rec.level]
        if other is None:
            waiting[rec.level] = rec
            return
        waiting[rec.level] = None
        keep, sac = (other, rec)  # keep the older pair, sacrifice the fresh one
        now = self.env.now
        dev_a, dev_b = self.devices[h], self.devices[h + 1]
        # the network's estimate: age all four qubits, then the round's closed form
        est_k = _age_estimate(_age_estimate(keep.est, dev_a.memory_model, now - keep.t_left), dev_b.memory_model, now - keep.t_right)
        est_s = _age_estimate(_age_estimate(sac.est, dev_a.memory_model, now - sac.t_left), dev_b.memory_model, now - sac.t_right)
        oa, ob = dev_a.operations, dev_b.operations
        keep.est, _ = physics.purify(est_k, est_s, self.purify_protocol, (oa.gate_error, ob.gate_error),
                                     (oa.measurement_error, ob.measurement_error))
        keep.t_left = keep.t_right = now
        keep.t_attempt = min(keep.t_attempt, sac.t_attempt)
        ok = purify_pairs(self.sim.backend, dev_a, dev_b, (keep.left, keep.right), (sac.left, sac.right), now, self.purify_protocol)
        self.memory_freed(sac.left)
        self.memory_freed(sac.right)
        # each end sends its bit to the other; both know the result one link delay later
        net = self.network
        net.messages_sent += 1  # the two messages cross and arrive together: one event serves both
        net.send(self.env, self.links[h].length_km / net.speed, self._purified, h, keep, ok)

    def _purified(self, h: int, rec: PairRecord, ok: bool) -> None:
        if not self.session.active:
            return
        if not ok:
            self.sim.free_memory(rec.left)
            self.sim.free_memory(rec.right)
            return
        rec.level += 1
        if rec.level < self.purify_rounds:
            self._purify_or_wait(h, rec)
        else:
            self._link_pair_ready(h, rec)

    def _link_pair_ready(self, h: int, rec: PairRecord) -> None:
        ma, mb = rec.left, rec.right
        if self.hops == 1:
            self._deliver(rec)
            return
        if h > 0:
            self._offer_toward_dst(h, ma)
        if h + 1 < self.hops:
            self._offer_toward_src(h + 1, mb)

    # swapping ------------------------------------------------------------------------
    def _offer_toward_dst(self, i: int, m: Memory) -> None:
        q = self.toward_src[i]
        if q:
            self._swap(i, q.popleft(), m)
        else:
            self.toward_dst[i].append(m)

    def _offer_toward_src(self, i: int, m: Memory) -> None:
        q = self.toward_dst[i]
        if q:
            self._swap(i, m, q.popleft())
        else:
            self.toward_src[i].append(m)

    def _swap(self, i: int, m_src_side: Memory, m_dst_side: Memory) -> None:
        """Bell measurement at position ``i`` of a qubit whose pair reaches toward the source
        (record L, ``L.hi == i``) and one whose pair reaches toward the destination (R)."""
        now = self.env.now
        L: PairRecord = m_src_side.record
        R: PairRecord = m_dst_side.record
        device = self.devices[i]
        noise = device.memory_model
        ops = device.operations
        # the network's estimate: age the two measured qubits, swap, add its own error rates
        est_l = _age_estimate(L.est, noise, now - L.t_right)
        est_r = _age_estimate(R.est, noise, now - R.t_left)
        est = physics.swap_pauli_order(est_l, est_r)
        if ops.gate_error:
            est = physics.two_qubit_depolarize(est, ops.gate_error)
        if ops.measurement_error:
            e = ops.measurement_error
            est = physics.pauli_channel(est, ((1 - e) ** 2, e * (1 - e), e * (1 - e), e * e))
        outcome = device.bell_measurement(m_src_side, m_dst_side, now)
        rec = PairRecord(L.left, R.right, L.lo, R.hi, est, L.t_left, R.t_right, min(L.t_attempt, R.t_attempt))
        rec.known_src = L.known_src + R.known_src
        rec.known_dst = L.known_dst + R.known_dst
        rec.frame = L.frame ^ R.frame
        L.merged_into = R.merged_into = rec
        rec.left.record = rec.right.record = rec
        if ops.bsm_duration > 0.0:
            self.env.call_at(ops.bsm_duration, self._after_swap, i, m_src_side, m_dst_side, rec, outcome)
        else:
            self._after_swap(i, m_src_side, m_dst_side, rec, outcome)

    def _after_swap(self, i: int, m1: Memory, m2: Memory, rec: PairRecord, outcome: int) -> None:
        if not self.session.active:
            return
        net, env = self.network, self.env
        net.send(env, self.delay_src[i], self._outcome_at_src, rec)
        net.send(env, self.delay_dst[i], self._outcome_at_dst, rec, outcome)
        self.memory_freed(m1)
        self.memory_freed(m2)

    # delivery --------------------------------------------------------------------------
    def _outcome_at_src(self, rec: PairRecord) -> None:
        if not self.session.active:
            return
        root = rec.root()
        root.known_src += 1
        self._check(root)

    def _outcome_at_dst(self, rec: PairRecord, outcome: int) -> None:
        if not self.session.active:
            return
        root = rec.root()
        root.known_dst += 1
        root.frame ^= outcome
        self._check(root)

    def _check(self, rec: PairRecord) -> None:
        need = self.hops - 1
        if rec.lo == 0 and rec.hi == self.hops and rec.known_src == need and rec.known_dst == need:
            self._deliver(rec)

    def _deliver(self, rec: PairRecord) -> None:
        now = self.env.now
        src_dev, dst_dev = self.devices[0], self.devices[-1]
        left, right = rec.left, rec.right
        dst_dev.apply_pauli(right, rec.frame, now)
        fidelity = self.sim.backend.fidelity(left.qubit, right.qubit, now)
        est = _age_estimate(rec.est, src_dev.memory_model, now - rec.t_left)
        est = _age_estimate(est, dst_dev.memory_model, now - rec.t_right)
        left.record = right.record = None
        if est[0] < self.min_fidelity:
            self.session.handle.discarded += 1
            self.sim.free_memory(left)
            self.sim.free_memory(right)
            return
        self.sim.deliver(self.session, DeliveredPair(now, fidelity, est[0], now - rec.t_attempt, left, right))


class AsapSwapPolicy:
    """Swap as soon as a repeater holds a qubit toward each end of the path."""

    def __init__(self, params: AsapParams, sim: Any):
        self.params = params
        self.sim = sim
        self.generator = sim.link_generator

    def serve(self, session: Session) -> None:
        state = _AsapState(self, session)
        session.state = state
        need = state.purify_rounds + 1
        for h, pairs in enumerate(session.allocation):
            if len(pairs) < need:
                u, v = session.path[h], session.path[h + 1]
                self.sim.env.call_at(0.0, self.sim.finish, session.handle, RequestStatus.INSUFFICIENT_RESOURCES,
                                     f"{state.purify_rounds} purification round(s) need {need} memory pairs per link; "
                                     f"link {u}-{v} has {len(pairs)}")
                return
        state.begin()
