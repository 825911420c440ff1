"""Benchmark: the repeater generations run by the engine (``protocols.repeater``), end to end.

One JSON line per (generation, nodes): a chain of ``nodes`` nodes 10 km apart (the hardware of
``examples/generations.yaml``: 7 memories per link end, pairs of fidelity 0.98, gate and
measurement error 1e-3) and one request for ``--pairs`` logical pairs from end to end, on the
stabilizer backend. Printed: delivered logical pairs per wall second (best of ``--repeat``),
per simulated second, the mean fidelity and the events. ``1g`` is heralded pairs and swapping;
``2g`` the Steane code by teleported CNOTs (its frames sampled from stim); ``3g`` one-way
qpc(3,3) photons, one logical qubit per microsecond.

    .venv/bin/python bench/generations.py [--nodes 5,17] [--pairs 300] [--repeat 3]

It prints figures; it is not a timed test.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import qplane

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "generations.yaml"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--nodes", default="5,17")
    ap.add_argument("--pairs", type=int, default=300)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    for nodes in (int(x) for x in args.nodes.split(",")):
        for gen in ("1g", "2g", "3g"):
            scenario = qplane.load_scenario(EXAMPLE, overrides=[
                f"protocols.repeater={gen}", f"topology.nodes={nodes}", f"requests.0.dst=n{nodes - 1}",
                f"requests.0.pairs={args.pairs}"])
            best, res = float("inf"), None
            for _ in range(args.repeat):
                sim = qplane.build(scenario)
                t0 = time.perf_counter()
                res = sim.run()
                best = min(best, time.perf_counter() - t0)
            r = res["requests"][0]
            print(json.dumps({"repeater": gen, "nodes": nodes, "status": r["status"], "delivered": r["delivered"],
                              "pairs_per_wall_s": round(r["delivered"] / best, 1), "rate_hz": r["rate_hz"],
                              "fidelity_mean": r["fidelity_mean"], "events": res["events"]}), flush=True)


if __name__ == "__main__":
    main()
