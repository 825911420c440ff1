"""Benchmark: GHZ fusion at a hub on the stabilizer backend (issue 15).

Prints one JSON line: for ``--parties`` parties (default 20, hub not a party), Werner pairs of
fidelity ``--fidelity`` made on the backend, then

* ``fusions_per_wall_s``: GHZ fusions (``qplane_engine.ghz.fuse_ghz``: the hub's CNOTs and
  measurements) per wall second, pair creation excluded — the fusion alone;
* ``states_per_wall_s``: whole states per wall second: create the pairs, fuse, apply the
  parties' corrections, compute the GHZ fidelity (no network, no event loop);
* ``fidelity_mean`` (with its standard error) against ``fidelity_closed_form``
  (:func:`qplane_physics.ghz_fidelity_depolarized`), a sanity check;
* ``network``: the whole run, end to end: a star of ``--parties`` leaves 10 km from a switch,
  one GHZ request for ``--states`` states shared by every leaf, simulated by the engine (link
  attempts, heralds, the hub's fusion, the corrections' classical messages, the fidelity):
  ``states_per_wall_s`` of the run and its ``fidelity_mean``.

    .venv/bin/python bench/ghz.py [--parties 20] [--states 500] [--fidelity 0.99] [--backend stabilizer]

It prints figures; it is not a timed test. The best of ``--repeat`` batches (the machine may be
shared).
"""

from __future__ import annotations

import argparse
import json
import math
import random
import time

import qplane
import qplane_physics as physics
from qplane.registry import Registry
from qplane_engine.ghz import apply_ghz_corrections, fuse_ghz


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--parties", type=int, default=20)
    ap.add_argument("--states", type=int, default=500)
    ap.add_argument("--fidelity", type=float, default=0.99)
    ap.add_argument("--backend", default="stabilizer")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    comp = Registry().get("backend", args.backend)
    b = comp.factory(comp.validate({}, "backend"), random.Random(1))
    state = physics.werner(args.fidelity)

    def make() -> list:
        return [b.create_pair(state, None, None, 0.0, 0.0) for _ in range(args.parties)]

    fuse_best = whole_best = float("inf")
    values: list[float] = []
    for _ in range(args.repeat):
        batches = [make() for _ in range(args.states)]
        t0 = time.perf_counter()
        outcomes = [fuse_ghz(b, [h for h, _ in pairs], 0.0, False) for pairs in batches]
        fuse_best = min(fuse_best, time.perf_counter() - t0)
        for pairs, (x_flips, z_flip) in zip(batches, outcomes):
            apply_ghz_corrections(b, [p for _, p in pairs], x_flips, z_flip, 0.0)
            values.append(b.ghz_fidelity([p for _, p in pairs], 0.0))
        t0 = time.perf_counter()
        for _ in range(args.states):
            pairs = make()
            x_flips, z_flip = fuse_ghz(b, [h for h, _ in pairs], 0.0, False)
            parties = [p for _, p in pairs]
            apply_ghz_corrections(b, parties, x_flips, z_flip, 0.0)
            b.ghz_fidelity(parties, 0.0)
        whole_best = min(whole_best, time.perf_counter() - t0)
    n = len(values)
    mean = sum(values) / n
    se = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1) / n)
    w = physics.werner_parameter(args.fidelity)
    print(json.dumps({
        "backend": args.backend, "parties": args.parties, "states": args.states,
        "fusions_per_wall_s": round(args.states / fuse_best, 1),
        "states_per_wall_s": round(args.states / whole_best, 1),
        "fidelity_mean": round(mean, 4), "fidelity_stderr": round(se, 4),
        "fidelity_closed_form": round(physics.ghz_fidelity_depolarized(args.parties, w), 4),
        "network": network(args),
    }))


def network(args: argparse.Namespace) -> dict:
    """The engine's run of a GHZ request on a star (best wall time of ``--repeat``)."""
    leaves = [f"n{i}" for i in range(1, args.parties + 1)]
    scenario = qplane.load_scenario({
        "name": "ghz-bench", "seed": 1, "duration": 60.0, "backend": args.backend,
        "topology": {"builder": "star", "leaves": args.parties, "spacing_km": 10.0},
        "hardware": {"memory": {"count": 1, "coherence_time": None},
                     "link": {"scheme": "mim", "pair_fidelity": args.fidelity}},
        "requests": [{"parties": leaves, "states": args.states}],
    }, allow_large=True)
    best, result = float("inf"), None
    for _ in range(args.repeat):
        sim = qplane.build(scenario)
        t0 = time.perf_counter()
        result = sim.run()
        best = min(best, time.perf_counter() - t0)
    r = result["requests"][0]
    return {"states": r["delivered"], "status": r["status"], "states_per_wall_s": round(r["delivered"] / best, 1),
            "events": result["events"], "fidelity_mean": round(r["fidelity_mean"], 4)}


if __name__ == "__main__":
    main()
