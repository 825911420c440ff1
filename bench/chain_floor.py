"""Benchmark: the job of bench/chain.py as a flat, hand-inlined pure-Python SimPy simulation.

How fast can the physics of ``bench/chain.py`` (``examples/chain.yaml`` with chain.py's
overrides: N nodes, 20 km links, meet-in-the-middle generation at 1 MHz, 10 memories per link
end, depolarizing memories with T = 1 s, swap-asap, real classical delays, min_fidelity 0,
2000 pairs) run in pure Python on SimPy with no framework at all: no plugins, no layers, no
objects beyond lists and one reused event per memory pair? That figure is meant as an upper
bound for any pure-Python design of qplane on this job (issue 19's target: 25 % of the
bare-SimPy floor in events per second); it is the fastest flat version written here, not a
proof.

Per link pair it does what the physics needs and nothing else:

- one SimPy-scheduled herald event: a reused event object (one per memory pair's side-a
  memory, ``_ok`` a class constant) pushed onto ``env._queue`` as qplane's kernel ``call_at``
  does, run by SimPy's own ``Environment.run``/``step``;
- the geometric number of attempts by inverse transform (as qplane's generation.py:
  ``k = 1 + int(log(1 - U) / log(1 - p))``), the herald at ``t_emit + herald_delay``;
- the true Bell-diagonal state (4 floats, Pauli order, aged lazily) and the network's estimate
  (the same formula, outcome 0), both aged and swapped in one pass per swap, the aging factors
  shared. By default the two measured qubits' depolarization is one factor
  ``K = exp(-(dt1 + dt2) / T)`` applied after the swap (depolarizing channels commute with the
  Bell measurement: ``x -> K x + (1 - K) / 4``); the ``qorder_*`` figures are the same run in
  qplane's order of operations (``qplane_physics.swap_after``'s: each qubit aged, then the swap;
  the floats differ from qplane's by rounding only: qplane's backend dates a fresh qubit by its
  emission, computed from the attempts, the estimate by the herald time minus the herald delay;
  here both use the latter);
- the random Bell outcome (``getrandbits(2)``) and the Pauli frame (XOR of the outcomes);
- for each end the time it knows every outcome (send time plus the path delay, the latest
  over the pair's swaps); one delivery event at the later of the two;
- freeing the measured memories and re-attempting them (the free queues of qplane's swapping
  policy, in the same order);
- delivery: the frame applied, the true fidelity and the estimate, both aged to now.

The link's success probability, cycle, herald delay, pair state, the memories' coherence
time and the classical path delays are read from qplane's own network (``qplane.build`` of
the same scenario, outside the timed region), and the random streams are qplane's (the same
names and seeds: ``link:A-B`` per link, ``backend`` for the Bell outcomes), with the events
pushed in qplane's order, so the run follows qplane's trajectory; each line checks that its mean
fidelity (within 1e-4 + 4 standard errors: qplane's is rounded) and its simulated end time
agree with qplane's (``bench/chain.py``'s ``run_chain``, run in the same process).

Prints JSON lines: first the bare-SimPy floor (``chain.py``'s ``simpy_floor``), then the same
for the flat loop's own kind of event doing nothing (``reused_event_floor``: what SimPy's
``run``/``step`` and the heap cost per event here, without a process), then one line per chain
length with the flat simulation's figures and qplane's from the same run (bench/README.md).

    .venv/bin/python bench/chain_floor.py [--nodes 9,17,33] [--pairs 2000] [--repeat 3]

It prints figures; it is not a timed test.
"""

from __future__ import annotations

import heapq
import json
import math
import random
import sys
import time
from collections import deque
from pathlib import Path

import simpy

sys.path.insert(0, str(Path(__file__).resolve().parent))

import qplane  # noqa: E402
from qplane.kernel import derive_seed  # noqa: E402

from chain import FLOOR_TIMEOUTS, SCENARIO, chain_parser, checked_lengths, overrides, run_chain, simpy_floor  # noqa: E402

DEFAULT_NODES = (9, 17, 33)


class _Ev:
    """A reused herald/delivery event: SimPy's ``step`` reads ``callbacks`` and ``_ok`` only.
    One per side-a memory (its memory pair has at most one herald in flight; the source
    end's memory carries the delivery of the end-to-end pair it holds)."""

    __slots__ = ("callbacks", "ma", "mb")
    _ok, _value = True, None


def reused_event_floor(n: int = FLOOR_TIMEOUTS) -> dict:
    """Wall rate of ``n`` events of the flat loop's kind doing nothing: one reused :class:`_Ev`
    whose callback pushes it again 1 ms later (SimPy's ``run``/``step``, the heap push, the
    callback's frame; no process, no ``Timeout``)."""
    env = simpy.Environment()
    queue, eid, push = env._queue, env._eid, heapq.heappush
    left = [n]

    def again(ev):
        left[0] -= 1
        if left[0] > 0:
            ev.callbacks = CB
            push(queue, (env._now + 0.001, 1, next(eid), ev))

    CB = [again]
    ev = object.__new__(_Ev)
    ev.callbacks = CB
    push(queue, (0.0, 1, next(eid), ev))
    t0 = time.perf_counter()
    env.run()
    wall = time.perf_counter() - t0
    return {"floor": "simpy-reused-event", "events": n, "wall_s": round(wall, 4), "events_per_s": round(n / wall),
            "us_per_event": round(1e6 * wall / n, 3)}


def params(nodes: int, pairs: int) -> dict:
    """The chain's numbers, read from qplane's network of the same scenario (untimed)."""
    scenario = qplane.load_scenario(SCENARIO, overrides=overrides(nodes, pairs))
    sim = qplane.build(scenario)
    net = sim.network
    path = [f"n{i}" for i in range(nodes)]
    links = [net.link(u, v) for u, v in zip(path, path[1:])]
    models = [link.model for link in links]
    m = models[0]
    for other in models[1:]:  # the flat loop keeps one set of link constants: a uniform chain
        assert (other.success_probability, other.cycle_time, other.herald_delay, tuple(other.pair_state)) == \
            (m.success_probability, m.cycle_time, m.herald_delay, tuple(m.pair_state)), "links differ"
    depol = {net.nodes[n].device.memory_model.depolarizing_time for n in path}
    assert len(depol) == 1 and None not in depol, f"expected one depolarizing time, got {depol}"
    for n in path:
        ops = net.nodes[n].device.operations
        assert (ops.gate_error, ops.measurement_error, ops.bsm_duration, ops.bsm_success) == (0.0, 0.0, 0.0, 1.0), ops
    assert not sim.settings.classical_instant
    p = m.success_probability
    assert 0.0 < p < 1.0
    delays = net.path_delays(path)
    seed = scenario.seed
    return {
        "nodes": nodes, "pairs": pairs, "memories": int(scenario.hardware.memory["count"]),
        "p": p, "cycle": m.cycle_time, "herald_delay": m.herald_delay,
        "pair_state": list(m.pair_state), "T": depol.pop(),
        "delay_src": list(delays), "delay_dst": [delays[-1] - d for d in delays],
        "link_seeds": [derive_seed(seed, f"link:{link.a}-{link.b}") for link in links],
        "backend_seed": derive_seed(seed, "backend"),
    }


def simulate(P: dict, merged: bool = True) -> dict:
    """One run of the flat simulation; returns events, delivered pairs and fidelities. ``merged``:
    the aging of a swap's (or a delivery's) two qubits as one factor; otherwise in qplane's
    order of operations."""
    hops = P["nodes"] - 1
    M, pairs, T = P["memories"], P["pairs"], P["T"]
    log_fail, cycle, hd = math.log1p(-P["p"]), P["cycle"], P["herald_delay"]
    s = P["pair_state"]
    EST0 = [s[0], s[2], s[3], s[1]]  # Bell order -> Pauli order (I, X, Z, Y); never changed in place
    V0 = EST0  # the true state of a fresh pair: the same list (states are replaced, never mutated)
    DSRC, DDST = P["delay_src"], P["delay_dst"]
    RAND = [random.Random(sd).random for sd in P["link_seeds"]]
    getbits = random.Random(P["backend_seed"]).getrandbits
    log, exp, push, new = math.log, math.exp, heapq.heappush, object.__new__

    env = simpy.Environment(initial_time=0.0)
    queue = env._queue
    eid = env._eid

    # a memory: [record, its free queue, the other end's free queue, on side a?, hop, event,
    #            its link's random draw]
    # a record: [left memory, right memory, lo, hi, estimate, true state, t_left, t_right,
    #            src_at, dst_at, frame]  (t_left/t_right: the ends' times of their last aging)
    free_a = [deque() for _ in range(hops)]
    free_b = [deque() for _ in range(hops)]
    toward_dst = [deque() for _ in range(hops + 1)]
    toward_src = [deque() for _ in range(hops + 1)]
    acc = [0, 0.0, 0.0, 0.0, 0]  # delivered, sum F, sum F^2, sum estimate, events left in the queue

    def start(ma, mb, now):
        k = 1 + int(log(1.0 - ma[6]()) / log_fail)
        t_emit = now + (k - 1) * cycle
        ev = ma[5]
        ev.callbacks = HERALD
        ev.mb = mb
        push(queue, (now + (t_emit - now + hd), 1, next(eid), ev))

    def freed(m, now):
        other = m[2]
        if other:
            o = other.popleft()
            if m[3]:
                start(m, o, now)
            else:
                start(o, m, now)
        else:
            m[1].append(m)

    def swap(i, m1, m2, now):
        L, R = m1[0], m2[0]
        if merged:
            # both measured qubits' depolarization as one factor after the swap (depolarizing
            # channels commute with the Bell measurement and compose: K = exp(-(dt1 + dt2) / T);
            # for unit-trace states XOR-convolution maps x -> K x + (1 - K) / 4); the same state,
            # the floats within rounding of qplane's
            K = exp(-((now - L[7]) + (now - R[6])) / T)
            add = (1.0 - K) * 0.25
            a0, a1, a2, a3 = L[4]
            b0, b1, b2, b3 = R[4]
            est = [K * (a0 * b0 + a1 * b1 + a2 * b2 + a3 * b3) + add, K * (a0 * b1 + a1 * b0 + a2 * b3 + a3 * b2) + add,
                   K * (a0 * b2 + a1 * b3 + a2 * b0 + a3 * b1) + add, K * (a0 * b3 + a1 * b2 + a2 * b1 + a3 * b0) + add]
            o = getbits(2)  # the Bell outcome (equally likely for Bell-diagonal inputs)
            c0, c1, c2, c3 = L[5]
            v = R[5]
            d0, d1, d2, d3 = v[o], v[1 ^ o], v[2 ^ o], v[3 ^ o]
            val = [K * (c0 * d0 + c1 * d1 + c2 * d2 + c3 * d3) + add, K * (c0 * d1 + c1 * d0 + c2 * d3 + c3 * d2) + add,
                   K * (c0 * d2 + c1 * d3 + c2 * d0 + c3 * d1) + add, K * (c0 * d3 + c1 * d2 + c2 * d1 + c3 * d0) + add]
        else:
            # qplane's order: the measured qubits aged (true state and estimate: the same
            # factors), then swapped (``qplane_physics.swap_after``'s operations)
            lam = 1.0 - exp(-(now - L[7]) / T)
            keep, add = 1.0 - lam, lam * 0.25
            e, v = L[4], L[5]
            a0, a1, a2, a3 = keep * e[0] + add, keep * e[1] + add, keep * e[2] + add, keep * e[3] + add
            c0, c1, c2, c3 = keep * v[0] + add, keep * v[1] + add, keep * v[2] + add, keep * v[3] + add
            lam = 1.0 - exp(-(now - R[6]) / T)
            keep, add = 1.0 - lam, lam * 0.25
            e, v = R[4], R[5]
            b0, b1, b2, b3 = keep * e[0] + add, keep * e[1] + add, keep * e[2] + add, keep * e[3] + add
            o = getbits(2)  # the Bell outcome (equally likely for Bell-diagonal inputs)
            d0, d1, d2, d3 = keep * v[o] + add, keep * v[1 ^ o] + add, keep * v[2 ^ o] + add, keep * v[3 ^ o] + add
            est = [a0 * b0 + a1 * b1 + a2 * b2 + a3 * b3, a0 * b1 + a1 * b0 + a2 * b3 + a3 * b2,
                   a0 * b2 + a1 * b3 + a2 * b0 + a3 * b1, a0 * b3 + a1 * b2 + a2 * b1 + a3 * b0]
            val = [c0 * d0 + c1 * d1 + c2 * d2 + c3 * d3, c0 * d1 + c1 * d0 + c2 * d3 + c3 * d2,
                   c0 * d2 + c1 * d3 + c2 * d0 + c3 * d1, c0 * d3 + c1 * d2 + c2 * d1 + c3 * d0]
        src, dst = now + DSRC[i], now + DDST[i]  # the outcome reaches each end
        a, b, c, d = L[8], R[8], L[9], R[9]
        a, c = a if a >= b else b, c if c >= d else d
        src, dst = a if a >= src else src, c if c >= dst else dst
        left, right = L[0], R[1]
        rec = [left, right, L[2], R[3], est, val, L[6], R[7], src, dst, L[10] ^ R[10] ^ o]
        left[0] = right[0] = rec
        if rec[2] == 0 and rec[3] == hops:  # spans the chain: delivered once both ends know
            known = src if src >= dst else dst
            ev = left[5]  # (the source end's memory: no herald in flight while it holds a pair)
            ev.callbacks = DELIVER
            push(queue, (now + (known - now), 1, next(eid), ev))
        # the measured memories freed and attempting again (``freed``/``start`` inlined)
        other = m1[2]
        if other:
            o = other.popleft()
            if m1[3]:
                fa, fb = m1, o
            else:
                fa, fb = o, m1
            k = 1 + int(log(1.0 - fa[6]()) / log_fail)
            t_emit = now + (k - 1) * cycle
            ev = fa[5]
            ev.callbacks = HERALD
            ev.mb = fb
            push(queue, (now + (t_emit - now + hd), 1, next(eid), ev))
        else:
            m1[1].append(m1)
        other = m2[2]
        if other:
            o = other.popleft()
            if m2[3]:
                fa, fb = m2, o
            else:
                fa, fb = o, m2
            k = 1 + int(log(1.0 - fa[6]()) / log_fail)
            t_emit = now + (k - 1) * cycle
            ev = fa[5]
            ev.callbacks = HERALD
            ev.mb = fb
            push(queue, (now + (t_emit - now + hd), 1, next(eid), ev))
        else:
            m2[1].append(m2)

    def deliver(rec, now):
        if merged:  # both ends' depolarization as one factor (as in ``swap``)
            K = exp(-((now - rec[6]) + (now - rec[7])) / T)
            add = (1.0 - K) * 0.25
            f = K * rec[5][rec[10]] + add  # (the frame applied: its coefficient moves to Phi+)
            est = K * rec[4][0] + add
        else:
            # the frame corrected at the destination (its qubit aged first), then the fidelity (the
            # source's qubit aged); the estimate aged at both ends (source first), as qplane does
            lam_l = 1.0 - exp(-(now - rec[6]) / T)
            lam_r = 1.0 - exp(-(now - rec[7]) / T)
            keep_r, add_r, keep_l, add_l = 1.0 - lam_r, lam_r * 0.25, 1.0 - lam_l, lam_l * 0.25
            frame = rec[10]
            if frame:
                f = keep_l * (keep_r * rec[5][frame] + add_r) + add_l
            else:  # (no correction: qplane's device skips it, and the fidelity ages the source first)
                f = keep_r * (keep_l * rec[5][0] + add_l) + add_r
            est = keep_r * (keep_l * rec[4][0] + add_l) + add_r
        n = acc[0] = acc[0] + 1
        acc[1] += f
        acc[2] += f * f
        acc[3] += est
        left, right = rec[0], rec[1]
        left[0] = right[0] = None
        freed(left, now)
        freed(right, now)
        if n >= pairs:  # done: what is left in the queue is never processed
            acc[4] = len(queue)
            queue.clear()

    def on_herald(ev):
        now = env._now
        ma, mb = ev.ma, ev.mb
        h = ma[4]
        t = now - hd
        rec = ma[0] = mb[0] = [ma, mb, h, h + 1, EST0, V0, t, t, t, t, 0]
        if h > 0:
            q = toward_src[h]
            if q:
                swap(h, q.popleft(), ma, now)
            else:
                toward_dst[h].append(ma)
        if h + 1 < hops:
            q = toward_dst[h + 1]
            if q:
                swap(h + 1, mb, q.popleft(), now)
            else:
                toward_src[h + 1].append(mb)
        elif h == 0:  # a one-link chain: the link pair is the end-to-end pair
            deliver(rec, now)

    def on_deliver(ev):
        deliver(ev.ma[0], env._now)

    HERALD, DELIVER = [on_herald], [on_deliver]

    mems = []
    for h in range(hops):
        for _ in range(M):
            ev = new(_Ev)
            ma = [None, free_a[h], free_b[h], True, h, ev, RAND[h]]
            mb = [None, free_b[h], free_a[h], False, h, None, RAND[h]]
            ev.ma = ma
            mems.append((ma, mb))
    for ma, mb in mems:  # qplane's begin: every memory pair attempts, hop by hop
        start(ma, mb, 0.0)
    env.run()
    pushed = next(eid)
    n = acc[0]
    assert n == pairs, f"delivered {n} of {pairs}"
    mean = acc[1] / n
    var = max(acc[2] / n - mean * mean, 0.0)
    return {"events": pushed - acc[4], "delivered": n, "sim_time_s": env.now,
            "fidelity_mean": mean, "fidelity_stderr": math.sqrt(var / max(n - 1, 1)),
            "fidelity_estimated_mean": acc[3] / n}


def run_floor(P: dict, merged: bool = True) -> dict:
    t0 = time.perf_counter()
    out = simulate(P, merged)
    out["wall_s"] = time.perf_counter() - t0
    return out


def main(argv: list[str] | None = None) -> int:
    ap = chain_parser(__doc__, "runs per length of each (flat, flat in qplane's order, qplane), interleaved; "
                               "the fastest of each shown", DEFAULT_NODES)
    args = ap.parse_args(argv)
    lengths = checked_lengths(ap, args)

    floor = min((simpy_floor() for _ in range(args.repeat)), key=lambda d: d["wall_s"])
    print(json.dumps(floor), flush=True)
    floor_rate = floor["events_per_s"]
    reused = min((reused_event_floor() for _ in range(args.repeat)), key=lambda d: d["wall_s"])
    print(json.dumps({**reused, "pct_of_floor": round(100.0 * reused["events_per_s"] / floor_rate, 1)}), flush=True)

    # warm-up (untimed): qplane's plugin discovery and lazy imports, the flat loop's first call
    run_chain(2, 10)
    simulate(params(3, 10))
    simulate(params(3, 10), merged=False)

    for n in lengths:
        P = params(n, args.pairs)
        flat = order = qp = None
        for _ in range(args.repeat):  # interleaved: all three see the same load
            f = run_floor(P)
            flat = f if flat is None or f["wall_s"] < flat["wall_s"] else flat
            f = run_floor(P, merged=False)
            order = f if order is None or f["wall_s"] < order["wall_s"] else order
            q = run_chain(n, args.pairs)
            qp = q if qp is None or q["wall_s"] < qp["wall_s"] else qp
        for f in (flat, order):  # the same physics: qplane's fidelity and end time
            tol = 1e-4 + 4 * f["fidelity_stderr"]
            assert abs(f["fidelity_mean"] - qp["fidelity_mean"]) <= tol, \
                f"{n} nodes: flat fidelity {f['fidelity_mean']} against qplane's {qp['fidelity_mean']}"
            assert abs(f["sim_time_s"] - qp["sim_time_s"]) <= 1e-6, \
                f"{n} nodes: flat end time {f['sim_time_s']} against qplane's {qp['sim_time_s']}"
        rate = flat["events"] / flat["wall_s"]
        print(json.dumps({
            "nodes": n,
            "pairs": flat["delivered"],
            "events": flat["events"],
            "events_per_pair": round(flat["events"] / flat["delivered"], 2),
            "wall_s": round(flat["wall_s"], 4),
            "events_per_s": round(rate),
            "pct_of_floor": round(100.0 * rate / floor_rate, 1),
            "us_per_event": round(1e6 * flat["wall_s"] / flat["events"], 3),
            "sim_time_s": round(flat["sim_time_s"], 6),
            "fidelity_mean": round(flat["fidelity_mean"], 4),
            "fidelity_stderr": float(f"{flat['fidelity_stderr']:.3g}"),
            "fidelity_estimated_mean": round(flat["fidelity_estimated_mean"], 4),
            "qorder_us_per_event": round(1e6 * order["wall_s"] / order["events"], 3),
            "qorder_pct_of_floor": round(100.0 * order["events"] / order["wall_s"] / floor_rate, 1),
            "qorder_fidelity_mean": round(order["fidelity_mean"], 4),
            "qplane_events": qp["events"],
            "qplane_events_per_pair": round(qp["events"] / qp["pairs"], 2),
            "qplane_wall_s": qp["wall_s"],
            "qplane_run_wall_s": qp["run_wall_s"],
            "qplane_events_per_s": qp["events_per_s"],
            "qplane_pct_of_floor": round(100.0 * qp["events_per_s"] / floor_rate, 1),
            "qplane_us_per_event": round(1e6 * qp["wall_s"] / qp["events"], 3),
            "qplane_sim_time_s": qp["sim_time_s"],
            "qplane_fidelity_mean": qp["fidelity_mean"],
            "qplane_over_flat_us_per_event": round(qp["wall_s"] / qp["events"] / (flat["wall_s"] / flat["events"]), 2),
        }), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
