"""Benchmark: the repeater chain of examples/chain.yaml at growing lengths.

Prints JSON lines on stdout: first the bare-SimPy floor (trivial timeouts per wall second,
measured in this process), then one line per chain length with wall time, events, events
per second and delivered pairs per wall second.  See bench/README.md for the fields.

    .venv/bin/python bench/chain.py [--nodes 2,3,5] [--pairs 2000] [--repeat 3] [--trace]

``--trace`` runs each chain with its protocol-event trace written (``qplane run --trace``) to a
temporary file, deleted afterwards; its lines add ``trace_events`` (the lines written).

It prints figures; it is not a timed test.  Each run asserts that its request completed
with every pair delivered (min_fidelity 0, so nothing is discarded).
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from pathlib import Path

import simpy

import qplane

ROOT = Path(__file__).resolve().parent.parent
SCENARIO = ROOT / "examples" / "chain.yaml"
DEFAULT_NODES = (2, 3, 5, 9, 17, 33)
DEFAULT_PAIRS = 2000
DURATION_S = 1000.0  # simulated; a 2000-pair request on 33 nodes finishes in under 1 s
FLOOR_TIMEOUTS = 300_000


def simpy_floor(n: int = FLOOR_TIMEOUTS) -> dict:
    """Wall rate of ``n`` trivial ``env.timeout(0.001)`` events yielded by one process."""

    def loop(env: simpy.Environment):
        for _ in range(n):
            yield env.timeout(0.001)

    env = simpy.Environment()
    env.process(loop(env))
    t0 = time.perf_counter()
    env.run()
    wall = time.perf_counter() - t0
    return {
        "floor": "simpy",
        "timeouts": n,
        "wall_s": round(wall, 4),
        "events_per_s": round(n / wall),
        "simpy": simpy.__version__,
        "python": platform.python_version(),
        "compiled": compiled(),
    }


def compiled() -> dict:
    """Which hot modules run compiled (mypyc, when the install had a C compiler; README)."""
    import qplane_physics
    from qplane_backend_fidelity import backend

    return {"physics": qplane_physics.COMPILED, "backend_fidelity": backend.COMPILED}


def overrides(nodes: int, pairs: int) -> list[str]:
    return [
        f"topology.nodes={nodes}",
        f"requests.0.dst=n{nodes - 1}",
        f"requests.0.pairs={pairs}",
        "requests.0.min_fidelity=0",
        f"duration={DURATION_S}",
        "hardware.memory.coherence_time=1.0",
    ]


def run_chain(nodes: int, pairs: int, trace: bool = False) -> dict:
    """One timed build+run of the chain (traced: the trace written to a temporary file, timed
    with the run); asserts that the request completed in full."""
    scenario = qplane.load_scenario(SCENARIO, overrides=overrides(nodes, pairs))
    with tempfile.TemporaryDirectory(prefix="qplane-bench-") as tmp:
        path = Path(tmp) / "trace.jsonl" if trace else None
        t0 = time.perf_counter()
        results = qplane.build(scenario, trace=path).run()
        wall = time.perf_counter() - t0
        trace_events = sum(1 for _ in path.open()) if path is not None else None

    reqs = results["requests"]
    assert reqs, f"{nodes} nodes: no request in the results"
    for r in reqs:
        assert r["status"] == "completed", f"{nodes} nodes: request {r['id']} {r['status']}: {r['reason']}"
        assert r["delivered"] == r["pairs_requested"], f"{nodes} nodes: request {r['id']} delivered {r['delivered']}/{r['pairs_requested']}"
        assert r["discarded"] == 0, f"{nodes} nodes: request {r['id']} discarded {r['discarded']} pairs"
    assert results["sim_time_s"] < DURATION_S, f"{nodes} nodes: the run reached its duration"

    delivered = sum(r["delivered"] for r in reqs)
    events = results["events"]
    return {
        "nodes": nodes,
        "pairs": delivered,
        "sim_time_s": round(results["sim_time_s"], 6),
        "wall_s": round(wall, 4),
        "run_wall_s": round(results["wall_time_s"], 4),
        "events": events,
        "events_per_s": round(events / wall),
        "pairs_per_wall_s": round(delivered / wall, 1),
        "wall_s_per_pair": float(f"{wall / delivered:.3g}"),
        "fidelity_mean": round(reqs[0]["fidelity_mean"], 4),
        **({"trace_events": trace_events} if trace else {}),
    }


def chain_parser(doc: str, repeat_help: str, nodes: tuple[int, ...] = DEFAULT_NODES) -> argparse.ArgumentParser:
    """The options ``chain.py`` and ``chain_floor.py`` share: ``--nodes``, ``--pairs``, ``--repeat``."""
    ap = argparse.ArgumentParser(description=doc.splitlines()[0])
    ap.add_argument("--nodes", default=",".join(map(str, nodes)),
                    help="comma-separated chain lengths (default: %(default)s)")
    ap.add_argument("--pairs", type=int, default=DEFAULT_PAIRS,
                    help="pairs requested per run (default: %(default)s)")
    ap.add_argument("--repeat", type=int, default=1, help=repeat_help + " (default: %(default)s)")
    return ap


def checked_lengths(ap: argparse.ArgumentParser, args: argparse.Namespace) -> list[int]:
    """The chain lengths of ``--nodes``, once ``--nodes``, ``--pairs`` and ``--repeat`` are
    checked (a one-line usage error otherwise; ``chain_floor.py`` takes the same options)."""
    try:
        lengths = [int(x) for x in args.nodes.split(",") if x.strip()]
    except ValueError:
        ap.error(f"--nodes: expected comma-separated integers, got {args.nodes!r}")
    if not lengths or min(lengths) < 2:
        ap.error("--nodes: every chain needs at least 2 nodes")
    if args.pairs < 1 or args.repeat < 1:
        ap.error("--pairs and --repeat must be at least 1")
    return lengths


def main(argv: list[str] | None = None) -> int:
    ap = chain_parser(__doc__, "runs per length; the line shown is the fastest")
    ap.add_argument("--floor-timeouts", type=int, default=FLOOR_TIMEOUTS,
                    help="timeouts in the bare-SimPy floor (default: %(default)s; 0 skips it)")
    ap.add_argument("--trace", action="store_true",
                    help="write each run's protocol-event trace (to a temporary file) and time it with the run")
    args = ap.parse_args(argv)
    lengths = checked_lengths(ap, args)

    if args.floor_timeouts > 0:
        floor = min((simpy_floor(args.floor_timeouts) for _ in range(args.repeat)), key=lambda d: d["wall_s"])
        print(json.dumps(floor), flush=True)

    # Warm-up (untimed): plugin discovery, lazy imports and first-call caches would
    # otherwise land in the first length's figures.
    run_chain(2, 10)

    for n in lengths:
        best = min((run_chain(n, args.pairs, args.trace) for _ in range(args.repeat)), key=lambda d: d["wall_s"])
        print(json.dumps(best), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
