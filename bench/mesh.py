"""Benchmark: many requests competing on a mesh — a 200-node Waxman network, 50 requests
arriving over one simulated second.

Prints one JSON line per run: the network's size, how the requests ended, wall time, events,
events per wall second and the process's peak memory (``ru_maxrss``; with ``--tracemalloc``
also the Python heap's peak, in a separate run since tracing slows the run down). See
bench/README.md for the fields.

    .venv/bin/python bench/mesh.py                                   # fifo, shortest-path
    .venv/bin/python bench/mesh.py --scheduling edf --routing max-fidelity
    .venv/bin/python bench/mesh.py --all                             # every router x scheduler
    .venv/bin/python bench/mesh.py --nodes 500 --requests 100 --tracemalloc

It prints figures; it is not a timed test. Each run checks the memory inventory's invariants
after the run (nothing reserved, nothing stored) and that exactly ``--requests`` requests ran.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
import tracemalloc
from collections import Counter

import qplane
from qplane.registry import Registry
from qplane_engine.sim import build

ROUTERS = ("shortest-path", "min-cost", "max-fidelity", "k-shortest", "reactive")
SCHEDULERS = ("fifo", "priority", "edf", "round-robin", "tdma")


def scenario(nodes: int, requests: int, pairs: int, routing: str, scheduling: str, seed: int) -> dict:
    return {
        "name": f"waxman-{nodes}",
        "seed": seed,
        "duration": 1.0,
        "topology": {"builder": "waxman", "nodes": nodes, "region_km": 200.0, "beta": 0.8, "alpha": 0.2,
                     "max_length_km": 40.0, "seed": 1},
        "hardware": {
            "memory": {"count": 4, "coherence_time": 0.1},
            "link": {"scheme": "mim", "pair_fidelity": 0.98, "attempt_rate_hz": 1.0e6},
            "operations": {"gate_error": 0.002},
        },
        "protocols": {"routing": routing, "scheduling": scheduling, "cutoff": {"max_age": 0.02}},
        # 50 arrivals over the second: Poisson at a slightly higher rate, capped at the count
        "traffic": {"model": "poisson", "rate_hz": requests * 1.25, "horizon": 1.0, "max_requests": requests,
                    "pairs": pairs, "min_fidelity": 0.5, "deadline": 0.5, "priority": [0, 1, 2]},
    }


def run_once(sc: dict, registry: Registry, trace: bool = False) -> dict:
    scn = qplane.load_scenario(sc)
    if trace:
        tracemalloc.start()
    t0 = time.perf_counter()
    sim = build(scn, registry)
    built = time.perf_counter()
    res = sim.run()
    wall = time.perf_counter() - t0
    peak_heap = tracemalloc.get_traced_memory()[1] if trace else None
    if trace:
        tracemalloc.stop()
    sim.check_memory_invariants(final=True)
    reqs = res["requests"]
    return {
        "res": res,
        "build_s": built - t0,
        "wall_s": wall,
        "peak_heap_mb": peak_heap / 2**20 if peak_heap is not None else None,
        "statuses": dict(sorted(Counter(r["status"] for r in reqs).items())),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--nodes", type=int, default=200)
    ap.add_argument("--requests", type=int, default=50)
    ap.add_argument("--pairs", type=int, default=100, help="pairs each request asks for")
    ap.add_argument("--routing", default="shortest-path", choices=ROUTERS)
    ap.add_argument("--scheduling", default="fifo", choices=SCHEDULERS)
    ap.add_argument("--all", action="store_true", help="every router x scheduler")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--tracemalloc", action="store_true", help="also measure the Python heap's peak (a second run)")
    args = ap.parse_args(argv)

    registry = Registry()
    combos = [(r, s) for r in ROUTERS for s in SCHEDULERS] if args.all else [(args.routing, args.scheduling)]
    for routing, scheduling in combos:
        sc = scenario(args.nodes, args.requests, args.pairs, routing, scheduling, args.seed)
        out = run_once(sc, registry)
        res = out["res"]
        reqs = res["requests"]
        if len(reqs) != args.requests:
            print(f"expected {args.requests} requests, the traffic made {len(reqs)}", file=sys.stderr)
            return 1
        line = {
            "nodes": args.nodes,
            "links": len(res["links"]),
            "requests": len(reqs),
            "routing": routing,
            "scheduling": scheduling,
            "statuses": out["statuses"],
            "delivered": sum(r["delivered"] for r in reqs),
            "sim_time_s": round(res["sim_time_s"], 6),
            "wall_s": round(out["wall_s"], 3),
            "build_s": round(out["build_s"], 3),
            "events": res["events"],
            "events_per_s": round(res["events"] / out["wall_s"]),
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        }
        if args.tracemalloc:
            line["peak_heap_mb"] = round(run_once(sc, registry, trace=True)["peak_heap_mb"], 1)
        print(json.dumps(line), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
