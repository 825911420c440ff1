"""Benchmark: scale — a 1000-node chain and a 1000-node Waxman mesh with 100 requests.

Prints one JSON line per case: wall seconds (build and run), events, events per second,
delivered pairs, requests completed, the process's peak RSS, and with ``--tracemalloc`` the
peak Python heap with its share per node (tracemalloc roughly doubles the run time, so the
timings of such a run are not comparable).

    .venv/bin/python bench/scale.py [--nodes 1000] [--cases chain,waxman] [--chain-pairs 5] [--requests 100]
                                    [--instant] [--tracemalloc]

It prints figures; it is not a timed test.
"""

from __future__ import annotations

import argparse
import json
import resource
import time
import tracemalloc

import qplane


def chain(n: int, pairs: int) -> dict:
    return {
        "name": f"scale-chain-{n}", "seed": 1, "duration": 60.0,
        "topology": {"builder": "chain", "nodes": n, "spacing_km": 20.0},
        "hardware": {"memory": {"count": 2, "coherence_time": None}, "link": {"scheme": "mim", "pair_fidelity": 0.999}},
        "requests": [{"src": "n0", "dst": f"n{n - 1}", "pairs": pairs, "min_fidelity": 0.0}],
    }


def waxman(n: int, requests: int) -> dict:
    return {
        "name": f"scale-waxman-{n}", "seed": 1, "duration": 60.0,
        "topology": {"builder": "waxman", "nodes": n, "seed": 7, "region_km": 500.0, "alpha": 0.05, "beta": 0.4, "max_length_km": 60.0},
        "hardware": {"memory": {"count": 2, "coherence_time": 0.1}, "link": {"scheme": "mim", "pair_fidelity": 0.97}},
        # one memory pair per hop per request, so that 100 requests share the mesh
        "protocols": {"routing": "min-cost", "scheduling": {"name": "fifo", "max_memories_per_link": 1}},
        "traffic": {"model": "poisson", "rate_hz": 4 * requests, "pairs": 10, "min_fidelity": 0.0,
                    "endpoints": "random", "max_requests": requests},
    }


def measure(sc: dict, heap: bool) -> dict:
    if heap:
        tracemalloc.start()
    t0 = time.perf_counter()
    sim = qplane.build(qplane.load_scenario(sc, allow_large=True))  # a scale benchmark: no size limits
    res = sim.run()
    wall = time.perf_counter() - t0
    reqs = res["requests"]
    n = len(sim.network.nodes)
    out = {
        "case": sc["name"], "nodes": n, "links": len(sim.network.links), "requests": len(reqs),
        "completed": sum(r["status"] == "completed" for r in reqs),
        "delivered": sum(r["delivered"] for r in reqs), "sim_time_s": res["sim_time_s"],
        "wall_s": round(wall, 3), "events": res["events"], "events_per_s": round(res["events"] / res["wall_time_s"]),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e3, 1),
    }
    if heap:
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        out["peak_heap_mb"] = round(peak / 1e6, 1)
        out["peak_heap_kb_per_node"] = round(peak / 1e3 / n, 1)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--nodes", type=int, default=1000)
    ap.add_argument("--cases", default="chain,waxman")
    ap.add_argument("--chain-pairs", type=int, default=5)
    ap.add_argument("--requests", type=int, default=100)
    ap.add_argument("--tracemalloc", action="store_true", help="also measure the peak Python heap (slower)")
    ap.add_argument("--instant", action="store_true",
                    help="classical: {instant: true} (swap outcomes known at once: the framework's own scaling)")
    args = ap.parse_args()
    for case in args.cases.split(","):
        sc = chain(args.nodes, args.chain_pairs) if case == "chain" else waxman(args.nodes, args.requests)
        if args.instant:
            sc["classical"] = {"instant": True}
        out = measure(sc, args.tracemalloc)
        out["wall_s_per_pair"] = round(out["wall_s"] / out["delivered"], 4) if out["delivered"] else None
        print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
