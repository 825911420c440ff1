"""Benchmark: scale — a 1000-node chain and a 1000-node Waxman mesh with 100 requests.

Prints one JSON line per case: wall seconds (build and run), events, events per second,
delivered pairs, requests completed, the process's peak RSS, and with ``--tracemalloc`` the
peak Python heap with its share per node (tracemalloc roughly doubles the run time, so the
timings of such a run are not comparable).

With ``--steady K1,K2`` the chain is run twice, same seed, for K1 and for K2 pairs, and a third
line gives the marginal (steady-state) cost per delivered pair, (run(K2) - run(K1)) / (K2 - K1):
wall seconds, events, microseconds per link (wall, and the process's CPU time, which other work on
a shared machine does not inflate), and events per link, which is about 1.0 (one herald
per link per pair) once the start-up transient is over at K1 (a warning on stderr otherwise).

    .venv/bin/python bench/scale.py [--nodes 1000] [--cases chain,waxman] [--chain-pairs 5] [--requests 100]
                                    [--instant] [--tracemalloc] [--steady K1,K2]

It prints figures; it is not a timed test.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
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


def pair_counts(text: str) -> tuple[int, int]:
    """``--steady K1,K2``: two pair counts, 1 <= K1 < K2."""
    try:
        k1, k2 = (int(k) for k in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected two pair counts K1,K2, got {text!r}") from None
    if not 1 <= k1 < k2:
        raise argparse.ArgumentTypeError(f"expected 1 <= K1 < K2, got {text!r}")
    return k1, k2


#: events per link per marginal pair above which the transient is taken as not over at K1
TRANSIENT_LEFT = 1.1


def marginal(first: dict, second: dict) -> dict:
    """The cost per delivered pair between two runs of the same chain (K1 and K2 pairs).

    The first pairs of a long chain with real classical delays carry a start-up transient: while
    the end nodes wait for the swap outcomes to cross the chain, swap-asap builds nested segments
    in the middle, a stock of link pairs consumed later. Once it is consumed each delivered pair
    costs one herald per link, so ``marginal_events_per_pair_per_link`` near 1.0 says K1 is past it.
    """
    pairs = second["delivered"] - first["delivered"]
    links = second["links"]
    wall = (second["wall_s"] - first["wall_s"]) / pairs
    cpu = (second["cpu_s"] - first["cpu_s"]) / pairs
    events = (second["events"] - first["events"]) / pairs
    return {
        "case": second["case"] + "-marginal", "nodes": second["nodes"], "links": links,
        "k1": first["delivered"], "k2": second["delivered"],
        "marginal_wall_s_per_pair": round(wall, 5),
        "marginal_events_per_pair": round(events, 1),
        "marginal_us_per_link_per_pair": round(wall / links * 1e6, 2),
        "marginal_cpu_s_per_pair": round(cpu, 5),
        "marginal_cpu_us_per_link_per_pair": round(cpu / links * 1e6, 2),
        "marginal_events_per_pair_per_link": round(events / links, 3),
        "transient_over": events / links <= TRANSIENT_LEFT,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--nodes", type=int, default=1000)
    ap.add_argument("--cases", default="chain,waxman")
    ap.add_argument("--chain-pairs", type=int, default=5)
    ap.add_argument("--requests", type=int, default=100)
    ap.add_argument("--tracemalloc", action="store_true", help="also measure the peak Python heap (slower)")
    ap.add_argument("--instant", action="store_true",
                    help="classical: {instant: true} (swap outcomes known at once: the framework's own scaling)")
    ap.add_argument("--steady", type=pair_counts, metavar="K1,K2",
                    help="chain: run for K1 and for K2 pairs and print the marginal cost per pair between them")
    args = ap.parse_args()
    for case in args.cases.split(","):
        if case == "chain" and args.steady:
            measure(chain(5, 1), False)  # warm-up: the first run in a process also pays imports and plugin loading
            runs = []
            for k in args.steady:
                sc = chain(args.nodes, k)
                sc["duration"] = 1e6  # only a bound: the run ends when the request is served
                if args.instant:
                    sc["classical"] = {"instant": True}
                cpu = time.process_time()
                runs.append(measure(sc, args.tracemalloc))
                # this process's CPU seconds too: on a shared machine the wall time also counts others' work
                runs[-1]["cpu_s"] = round(time.process_time() - cpu, 3)
                runs[-1]["wall_s_per_pair"] = round(runs[-1]["wall_s"] / runs[-1]["delivered"], 4)
                print(json.dumps(runs[-1]), flush=True)
            out = marginal(*runs)
            print(json.dumps(out), flush=True)
            if not out["transient_over"]:
                print(f"scale.py: --steady: {out['marginal_events_per_pair_per_link']} events per link per pair "
                      f"(about 1.0 once the start-up transient is over): raise K1", file=sys.stderr)
            continue
        sc = chain(args.nodes, args.chain_pairs) if case == "chain" else waxman(args.nodes, args.requests)
        if args.instant:
            sc["classical"] = {"instant": True}
        out = measure(sc, args.tracemalloc)
        out["wall_s_per_pair"] = round(out["wall_s"] / out["delivered"], 4) if out["delivered"] else None
        print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
