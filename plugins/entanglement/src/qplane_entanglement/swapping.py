"""Swapping over a fixed path — ``asap`` and ``nested`` — with Pauli-frame bookkeeping,
purification, cutoffs and delivery.

For one admitted request (a :class:`qplane.requests.Session`) the policy keeps every
allocated memory pair attempting link-level entanglement. A repeater that holds a qubit
entangled toward the source side and one toward the destination side performs a Bell-state
measurement — at once under ``asap``; under ``nested`` only when the two pairs span the
segments of its level of the doubling scheme. Each swap's outcome travels as a classical
message along the path to both end nodes. A pair is delivered when it spans the path and both
ends have received every outcome of the swaps that built it; the destination then applies the
accumulated Pauli correction.

An end node acts on a pair only once it holds all of that pair's outcomes, so the model does
not schedule an event per message: each :class:`PairRecord` carries, for each end, the time
its last outcome arrives there (the latest over its swaps of the send time plus the path
delay), and the pair's end-to-end record schedules one event at the later of the two. For
lossless classical channels this is the same timing as one event per message, with work and
memory that do not grow with the messages in flight; the messages are still counted in
``classical_messages``. With ``classical: {instant: true}`` the delays are zero.

The control plane tracks each pair in a :class:`PairRecord`: its end memories, the span of
path positions it covers, the network's own estimate of its state (from link fidelities,
storage times and the nodes' error rates: what the network can know), its Pauli frame (the
XOR of its swaps' reported outcomes) and when each end knows it. ``merged_into`` links a
record to the one a swap merged it into (cutoff timers follow it).

A Bell-state measurement fails with probability ``1 - operations.bsm_success`` (linear
optics: 1/2); the failure travels with the outcome messages and the end nodes discard the pair
instead of delivering it. A cutoff policy discards a pair whose oldest qubit has been stored
longer than ``max_age`` (both ends discard at that moment; an idealization of each node
timing out its own qubit).
"""

from __future__ import annotations

from collections import deque
from functools import partial
from typing import Any

from pydantic import BaseModel, ConfigDict

import qplane_physics as physics
from qplane.context import TRACE, Context
from qplane.requests import DeliveredPair, RequestStatus, Session
from qplane.hal import Memory

from .purification import PurifyingPath, _age_estimate, purify_pairs  # noqa: F401 - purify_pairs: importable from here too
from .records import PairRecord
from .tracing import pair_ids

_new = object.__new__  # (records made without their ``__init__`` frame on the hot path)



class SwapParams(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


AsapParams = SwapParams


class _PathState(PurifyingPath):
    """Per-session bookkeeping of a swapping policy (its purification rounds: :class:`PurifyingPath`)."""

    # Slots, not an instance dict: every handler reads several of these per event. CPython 3.11
    # shares one key table among a class's instances only while they have fewer than 30
    # attributes (its shared-key limit; measured: reads of an instance with 30 or more are
    # 5-10 % slower): the tracer and the pair-id counter took this class from 29 to 31 and every
    # untraced chain 3-5 % slower (bench/README.md). Slots have no such cliff.
    __slots__ = ("policy", "ctx", "clock", "session", "handle", "path", "hops", "network", "links", "devices", "pos",
                 "delay_src", "delay_dst", "free_a", "free_b", "toward_dst", "toward_src", "min_fidelity", "instant",
                 "bsm_rng", "trace", "ids", "max_age", "pur", "pur_link", "pur_e2e", "pur_wait", "pur_fresh",
                 "pur_busy", "link_target", "e2e_target", "generator", "heralds", "link_est", "wants_dst", "wants_src",
                 "where")

    def __init__(self, policy: "SwapPolicy", session: Session):
        ctx = policy.ctx
        self.policy = policy
        self.ctx = ctx
        self.clock = ctx.clock
        self.session = session
        self.handle = session.handle
        self.path = path = session.path
        self.hops = len(path) - 1
        net = ctx.network
        self.network = net
        self.links = [net.link(u, v) for u, v in zip(path, path[1:])]
        self.devices = [net.nodes[n].device for n in path]
        self.pos = {n: i for i, n in enumerate(path)}
        delays = net.path_delays(path)
        self.delay_src = delays
        self.delay_dst = [delays[-1] - d for d in delays]
        # first-in first-out queues as plain lists (``pop(0)``): they hold a few memories at most,
        # and an empty deque costs 624 bytes where a list costs 56 (four per position of a path:
        # 25 MB on a 10,000-node chain, and caches are what large networks run short of)
        self.free_a: list[list[Memory]] = [[] for _ in range(self.hops)]
        self.free_b: list[list[Memory]] = [[] for _ in range(self.hops)]
        self.toward_dst: list[list[Memory]] = [[] for _ in path]  # qubits whose pair extends to higher positions
        self.toward_src: list[list[Memory]] = [[] for _ in path]
        self.min_fidelity = session.handle.request.min_fidelity
        self.instant = ctx.settings.classical_instant
        # each node's stream of Bell-measurement failures, made at its first use (a stream holds
        # 2.5 kB of generator state, and linear-optics failures are not in every scenario)
        self.bsm_rng: list[Any] = [None] * len(path)
        self.trace = policy.trace  # the protocol-event tracer (None: untraced); pair ids when traced
        self.ids = pair_ids(ctx.services) if self.trace is not None else None
        protocols = session.handle.protocols
        self.max_age = getattr(protocols["cutoff"], "max_age", None)
        pur = protocols["purification"]
        self.pur = pur if pur.protocol else None
        self.pur_link = self.pur is not None and pur.scope == "link"
        self.pur_e2e = self.pur is not None and pur.scope == "end-to-end"
        # purification slots: key (hop index, or "e2e") -> level -> waiting record
        self.pur_wait: dict[Any, dict[int, PairRecord]] = {}
        self.pur_fresh: dict[Any, deque[PairRecord]] = {}
        self.pur_busy: dict[Any, int] = {}  # rounds in flight per key (pumping: at most one)
        self.link_target = self.e2e_target = 1.0
        # hot-path constants: one herald callback per hop (not a closure per attempt), per hop the
        # model and its pair estimate (a shared list: estimates are replaced, never changed in
        # place), the policy's span tests (None: the base class's "always", not called)
        self.generator = policy.generator
        self.heralds = [partial(self._heralded, h) for h in range(self.hops)]
        self.link_est: list[tuple[Any, list[float]] | None] = [None] * self.hops
        cls = type(policy)
        self.wants_dst = None if cls.wants_toward_dst is SwapPolicy.wants_toward_dst else policy.wants_toward_dst
        self.wants_src = None if cls.wants_toward_src is SwapPolicy.wants_toward_src else policy.wants_toward_src
        self.where: dict[Memory, tuple] = {}  # memory -> (its free queue, the other end's, on side a?, link, herald callback)
        if self.pur is not None and pur.until == "min_fidelity":
            w_target = max(physics.werner_parameter(self.min_fidelity), 0.0)
            self.e2e_target = self.min_fidelity
            self.link_target = physics.werner_fidelity(w_target ** (1 / self.hops)) if self.pur_link else 1.0

    # link level ------------------------------------------------------------------------
    def begin(self) -> None:
        for h, pairs in enumerate(self.session.allocation):
            for ma, mb in pairs:
                link, herald = self.links[h], self.heralds[h]
                self.where[ma] = (self.free_a[h], self.free_b[h], True, link, herald)
                self.where[mb] = (self.free_b[h], self.free_a[h], False, link, herald)
                self._attempt(h, ma, mb)

    def _attempt(self, h: int, ma: Memory, mb: Memory) -> None:
        self.generator.start(self.session, self.links[h], ma, mb, self.heralds[h])

    def memory_freed(self, m: Memory) -> None:
        mine, other, side_a, link, herald = self.where[m]  # (the allocation's memories, located once in begin)
        if other:  # (``_attempt`` inlined)
            o = other.pop(0)
            if side_a:
                self.generator.start(self.session, link, m, o, herald)
            else:
                self.generator.start(self.session, link, o, m, herald)
        else:
            mine.append(m)

    def _heralded(self, h: int, ma: Memory, mb: Memory, t_attempt: float) -> None:
        model = self.links[h].model
        now = self.clock.now
        t_emit = now - model.herald_delay
        cached = self.link_est[h]
        if cached is None or cached[0] is not model:
            cached = self.link_est[h] = (model, physics.to_pauli_order(model.pair_state))
        rec = _new(PairRecord)  # (``PairRecord(ma, mb, h, h + 1, est, t_emit, t_emit, t_attempt, t_emit)`` without its frame)
        rec.left, rec.right, rec.lo, rec.hi, rec.est, rec.t_left, rec.t_right, rec.t_attempt, rec.born = ma, mb, h, h + 1, cached[1], t_emit, t_emit, t_attempt, t_emit
        rec.src_at, rec.dst_at, rec.frame, rec.merged_into, rec.level, rec.alive, rec.failed = t_emit, t_emit, 0, None, 0, True, False
        ma.record = mb.record = rec
        if self.trace is not None:
            rec.id = next(self.ids)
            self.trace("herald", request=self.handle.id, pair=rec.id, nodes=[ma.node, mb.node],
                       fidelity_estimated=rec.est[0], emitted=t_emit)
        if self.max_age is not None:
            self.clock.call_at(t_emit + self.max_age - now, self._cutoff, rec)
        if self.pur_link:
            self._purify_or_wait(h, rec)
        elif self.hops == 1:
            self._e2e_ready(rec)
        else:  # (``_link_pair_ready`` inlined: every link pair of a longer path comes this way)
            wants = self.wants_dst
            if h > 0 and (wants is None or wants(self, h, h + 1)):
                q = self.toward_src[h]
                if q:
                    self._swap(h, q.pop(0), ma)
                else:
                    self.toward_dst[h].append(ma)
            wants = self.wants_src
            if h + 1 < self.hops and (wants is None or wants(self, h + 1, h)):
                q = self.toward_dst[h + 1]
                if q:
                    self._swap(h + 1, mb, q.pop(0))
                else:
                    self.toward_src[h + 1].append(mb)

    def _link_pair_ready(self, h: int, rec: PairRecord) -> None:
        if self.hops == 1:
            self._e2e_ready(rec)
            return
        wants = self.wants_dst  # (the offers inlined: every link pair comes this way)
        if h > 0 and (wants is None or wants(self, h, h + 1)):
            q = self.toward_src[h]
            if q:
                self._swap(h, q.pop(0), rec.left)
            else:
                self.toward_dst[h].append(rec.left)
        wants = self.wants_src
        if h + 1 < self.hops and (wants is None or wants(self, h + 1, h)):
            q = self.toward_dst[h + 1]
            if q:
                self._swap(h + 1, rec.right, q.pop(0))
            else:
                self.toward_src[h + 1].append(rec.right)

    # swapping ------------------------------------------------------------------------------
    def _offer_toward_dst(self, i: int, m: Memory) -> None:
        q = self.toward_src[i]
        if q:
            self._swap(i, q.pop(0), m)
        else:
            self.toward_dst[i].append(m)

    def _offer_toward_src(self, i: int, m: Memory) -> None:
        q = self.toward_dst[i]
        if q:
            self._swap(i, m, q.pop(0))
        else:
            self.toward_src[i].append(m)

    def _swap(self, i: int, m_src_side: Memory, m_dst_side: Memory) -> None:
        """Bell measurement at position ``i`` of a qubit whose pair reaches toward the source
        (record L, ``L.hi == i``) and one whose pair reaches toward the destination (R)."""
        now = self.clock.now
        L: PairRecord = m_src_side.record
        R: PairRecord = m_dst_side.record
        device = self.devices[i]
        noise = device.memory_model
        ops = device.operations
        # the network's estimate: age the two measured qubits, swap, add its own error rates
        dt_l, dt_r, t = now - L.t_right, now - R.t_left, getattr(noise, "depolarizing_time", None)
        if t is not None and dt_l > 0.0 and dt_r > 0.0:  # (depolarizing memories: _age_estimate inlined)
            est = physics.swap_after(L.est, dt_l, t, R.est, dt_r, t)  # (aged and swapped in one call)
        else:
            est = physics.swap_pauli_order(_age_estimate(L.est, noise, dt_l), _age_estimate(R.est, noise, dt_r))
        if ops.gate_error:
            est = physics.two_qubit_depolarize(est, ops.gate_error)
        if ops.measurement_error:
            e = ops.measurement_error
            est = physics.pauli_channel(est, ((1 - e) ** 2, e * (1 - e), e * (1 - e), e * e))
        outcome = device.bell_measurement(m_src_side, m_dst_side, now)
        ta, tb, ba, bb = L.t_attempt, R.t_attempt, L.born, R.born  # (min and max below without the builtins' calls)
        rec = _new(PairRecord)  # (``PairRecord(L.left, R.right, L.lo, R.hi, est, ...)`` without its frame; src_at/dst_at below)
        rec.left, rec.right, rec.lo, rec.hi, rec.est, rec.t_left, rec.t_right = L.left, R.right, L.lo, R.hi, est, L.t_left, R.t_right
        rec.t_attempt, rec.born = ta if ta <= tb else tb, ba if ba <= bb else bb
        rec.frame, rec.merged_into, rec.level, rec.alive, rec.failed = 0, None, 0, True, False
        # the outcome leaves when the measurement is done and travels along the path to each end
        duration = ops.bsm_duration
        sent = now + duration
        src, dst = (sent, sent) if self.instant else (sent + self.delay_src[i], sent + self.delay_dst[i])
        a, b, c, d = L.src_at, R.src_at, L.dst_at, R.dst_at
        a, c = a if a >= b else b, c if c >= d else d
        rec.src_at, rec.dst_at = a if a >= src else src, c if c >= dst else dst
        rec.frame = L.frame ^ R.frame ^ outcome
        rec.failed = L.failed or R.failed or (ops.bsm_success < 1.0 and self._bsm_failed(i, ops.bsm_success))
        L.merged_into = R.merged_into = rec
        if self.trace is not None:  # ok: False when this or an earlier measurement in it failed
            rec.id = next(self.ids)
            self.trace("swap", request=self.handle.id, pair=rec.id, node=self.path[i], consumed=[L.id, R.id],
                       nodes=[rec.left.node, rec.right.node], outcome=outcome, ok=not rec.failed,
                       fidelity_estimated=est[0])
        L.alive = R.alive = False
        rec.left.record = rec.right.record = rec
        if duration > 0.0:
            self.clock.call_at(duration, self._after_swap, i, m_src_side, m_dst_side, rec, outcome)
        elif self.policy.reoffer or (rec.lo == 0 and rec.hi == self.hops) or not self.session.active:
            self._after_swap(i, m_src_side, m_dst_side, rec, outcome)
        else:  # (``_after_swap`` inlined for most swaps: a pair short of the path, no re-offer)
            if not self.instant:
                self.network.count_messages(2)  # the outcome, to each end (see the module docstring)
            for m in (m_src_side, m_dst_side):  # (``memory_freed`` inlined)
                mine, other, side_a, link, herald = self.where[m]
                if other:
                    o = other.pop(0)
                    if side_a:
                        self.generator.start(self.session, link, m, o, herald)
                    else:
                        self.generator.start(self.session, link, o, m, herald)
                else:
                    mine.append(m)

    def _bsm_failed(self, i: int, success: float) -> bool:
        rng = self.bsm_rng[i]
        if rng is None:
            rng = self.bsm_rng[i] = self.clock.stream(f"bsm:{self.path[i]}")
        return rng.random() >= success

    def _after_swap(self, i: int, m1: Memory, m2: Memory, rec: PairRecord, outcome: int) -> None:
        if not self.session.active:
            return
        if not self.instant:
            self.network.count_messages(2)  # the outcome, to each end (see the module docstring)
        if rec.lo == 0 and rec.hi == self.hops:  # spans the path: ready once both ends know
            known = max(rec.src_at, rec.dst_at)
            now = self.clock.now
            if known > now:
                self.clock.call_at(known - now, self._outcomes_known, rec)
            else:
                self._outcomes_known(rec)
        self.memory_freed(m1)
        self.memory_freed(m2)
        if self.policy.reoffer and rec.alive:
            # the merged pair may now span the segment its end nodes wait for
            if 0 < rec.lo and self.policy.wants_toward_dst(self, rec.lo, rec.hi):
                self._offer_toward_dst(rec.lo, rec.left)
            if rec.hi < self.hops and rec.alive and self.policy.wants_toward_src(self, rec.hi, rec.lo):
                self._offer_toward_src(rec.hi, rec.right)

    # delivery ----------------------------------------------------------------------------
    def _outcomes_known(self, rec: PairRecord) -> None:
        if self.session.active and rec.alive:
            self._e2e_ready(rec)

    def _e2e_ready(self, rec: PairRecord) -> None:
        """Both ends hold the pair and know its frame (or know a swap in it failed)."""
        if rec.failed:
            self._lose(rec, "swap_failed")
            return
        self.devices[-1].apply_pauli(rec.right, rec.frame, self.clock.now)
        rec.frame = 0
        if self.pur_e2e:
            self._purify_or_wait("e2e", rec)
        else:
            self._deliver(rec)

    def _deliver(self, rec: PairRecord) -> None:
        now = self.clock.now
        left, right = rec.left, rec.right
        fidelity = self.ctx.backend.fidelity(left.qubit, right.qubit, now)
        est = self._fidelity_now(rec)
        rec.alive = False
        left.record = right.record = None
        if est < self.min_fidelity:
            if self.trace is not None:
                self.trace("discard", request=self.handle.id, pair=rec.id, nodes=[left.node, right.node],
                           reason="below_min_fidelity", fidelity=fidelity, fidelity_estimated=est)
            self.handle.discarded += 1
            self.ctx.inventory.free(left)
            self.ctx.inventory.free(right)
            return
        if self.trace is not None:
            self.trace("delivery", request=self.handle.id, pair=rec.id, nodes=[left.node, right.node],
                       fidelity=fidelity, fidelity_estimated=est, latency=now - rec.t_attempt)
        self.ctx.sessions.deliver(self.session, DeliveredPair(now, fidelity, est, now - rec.t_attempt, now - rec.born, left, right))

    # losses --------------------------------------------------------------------------------
    def qubit_lost(self, m: Memory) -> None:
        """The node holding ``m`` failed: its qubit is gone, and with it the pair (the other
        end's qubit is discarded too)."""
        rec = m.record
        if rec is not None and rec.alive:
            self._lose(rec, "node_failed")

    def _cutoff(self, rec: PairRecord) -> None:
        if not self.session.active:
            return
        root = rec.root()
        if root.alive and self.clock.now - root.born >= self.max_age - 1e-12:
            if self.trace is not None:
                self.trace("cutoff", request=self.handle.id, pair=root.id, nodes=[root.left.node, root.right.node],
                           age=self.clock.now - root.born, max_age=self.max_age)
            self._lose(root, "cutoff")

    def _lose(self, rec: PairRecord, why: str) -> None:
        """Discard a stored pair: both end memories are freed and the loss is counted."""
        rec.alive = False
        if self.trace is not None:
            self.trace("discard", request=self.handle.id, pair=rec.id, nodes=[rec.left.node, rec.right.node],
                       reason=why)
        losses = self.handle.losses
        losses[why] = losses.get(why, 0) + 1
        for m, queues in ((rec.left, self.toward_dst), (rec.right, self.toward_src)):
            q = queues[self.pos[m.node]]
            if m in q:
                q.remove(m)
            m.record = None
            self.ctx.inventory.free(m)
        for key, waiting in self.pur_wait.items():
            for level, r in list(waiting.items()):
                if r is rec:
                    del waiting[level]
            fresh = self.pur_fresh.get(key)
            if fresh and rec in fresh:
                fresh.remove(rec)


class SwapPolicy:
    """Base of the path swapping policies: which pairs a repeater may swap."""

    #: re-examine the ends of a merged pair (policies whose choice depends on span)
    reoffer = False

    def __init__(self, params: SwapParams, context: Context):
        self.params = params
        self.ctx = context
        self.generator = context.link_generation
        self.trace = context.services.get(TRACE)  # the protocol-event tracer, None when off

    def wants_toward_dst(self, state: _PathState, i: int, hi: int) -> bool:
        """May node ``i`` swap a qubit whose pair spans ``[i, hi]``?"""
        return True

    def wants_toward_src(self, state: _PathState, i: int, lo: int) -> bool:
        """May node ``i`` swap a qubit whose pair spans ``[lo, i]``?"""
        return True

    def serve(self, session: Session) -> None:
        state = _PathState(self, session)
        session.state = state
        pur = state.pur
        need = pur.memory_pairs_needed() if pur is not None else 1
        checks = range(len(session.allocation)) if state.pur_link else ((0, len(session.allocation) - 1) if state.pur_e2e else ())
        for h in checks:
            pairs = session.allocation[h]
            if len(pairs) < need:
                u, v = session.path[h], session.path[h + 1]
                self.ctx.clock.call_at(0.0, self.ctx.sessions.finish, session.handle, RequestStatus.INSUFFICIENT_RESOURCES,
                                     f"{pur.scheme} purification with {pur.rounds} round(s) needs {need} memory pairs "
                                     f"per {'link' if state.pur_link else 'end link'}; link {u}-{v} has {len(pairs)}")
                return
        state.begin()


class AsapSwapPolicy(SwapPolicy):
    """Swap as soon as a repeater holds a qubit toward each end of the path."""


class NestedSwapPolicy(SwapPolicy):
    """Nested (doubling) swapping: over a chain of ``2^k`` links, level-1 repeaters (odd
    positions) join single links, level-2 repeaters (positions 2 mod 4) join pairs spanning two
    links, and so on: the repeater at position ``i`` swaps only a pair spanning
    ``[i - s, i]`` with one spanning ``[i, i + s]``, ``s = i & -i`` (its lowest set bit).
    Chains whose length is not a power of two clip the right segment at the destination.
    With Werner links of fidelity F this composes the swap formula level by level."""

    reoffer = True

    def wants_toward_dst(self, state: _PathState, i: int, hi: int) -> bool:
        return hi == min(state.hops, i + (i & -i))

    def wants_toward_src(self, state: _PathState, i: int, lo: int) -> bool:
        return lo == i - (i & -i)
