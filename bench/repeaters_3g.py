"""Benchmark: one-way (third-generation) repeater chains (issue 16).

Prints one JSON line per chain length (default 5 and 17 nodes, so 4 and 16 links): a logical
qubit in ``--code`` sent down links of ``--link-km`` (0.2 dB/km), each repeater decoding the
erasures and forwarding at once (``qplane_repeaters.third_gen.ThirdGenChain``). Figures:

* ``hop_probability`` and ``success_closed_form`` (``P`` and ``P^N``, the exact sum over the
  code's correctable erasure patterns) beside the Monte Carlo's ``success`` (with ``stderr``);
* ``rate_closed_form`` and ``rate_simulated``: delivered logical qubits per *simulated* second,
  ``P^N / op_time_s``;
* ``stim_delivered_per_wall_s``: delivered logical qubits per *wall* second of the stim Monte
  Carlo of the chain (encoded state, erasures, logical Bell measurement at every repeater, the
  final check of the logical Bell pair with the source); ``table_delivered_per_wall_s``: the
  same with each hop decided from the code's table of correctable patterns (vectorized);
* ``photons_per_delivered`` (simulated and closed form) and ``qubits_per_node``.

    .venv/bin/python bench/repeaters_3g.py [--nodes 5,17] [--code "qpc(3,3)"] [--link-km 2]
        [--op-time 1e-6] [--shots 2000] [--table-shots 200000] [--repeat 3]

It prints figures; it is not a timed test. Best (highest) of ``--repeat`` batches of each
(the machine may be shared).
"""

from __future__ import annotations

import argparse
import json
import time

from qplane_repeaters.third_gen import ThirdGenChain


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--nodes", default="5,17")
    ap.add_argument("--code", default="qpc(3,3)")
    ap.add_argument("--link-km", type=float, default=2.0)
    ap.add_argument("--op-time", type=float, default=1e-6)
    ap.add_argument("--shots", type=int, default=2000)
    ap.add_argument("--table-shots", type=int, default=200_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()
    ThirdGenChain(args.code, 1, args.link_km, seed=0).simulate(10, "stim")  # warm-up: tables, tableaux
    for nodes in (int(x) for x in args.nodes.split(",")):
        chain = ThirdGenChain(args.code, nodes - 1, args.link_km, op_time_s=args.op_time, seed=args.seed)
        best = {"stim": 0.0, "table": 0.0}
        samples = {}
        for _ in range(args.repeat):
            for method, shots in (("stim", args.shots), ("table", args.table_shots)):
                t0 = time.perf_counter()
                s = chain.simulate(shots, method)
                wall = time.perf_counter() - t0
                assert s.wrong == 0, "a delivered logical qubit was not the logical Bell pair"
                best[method] = max(best[method], s.delivered / wall)
                samples[method] = s
        s = samples["stim"]
        print(json.dumps({
            "nodes": nodes, "links": nodes - 1, "code": chain.code.name, "link_km": args.link_km,
            "eta": round(chain.eta, 6), "hop_probability": round(chain.hop_probability(), 6),
            "success_closed_form": round(chain.success_probability(), 6),
            "success": round(s.fraction, 4), "stderr": round(s.stderr, 4),
            "success_table": round(samples["table"].fraction, 5), "stderr_table": round(samples["table"].stderr, 5),
            "rate_closed_form": round(chain.rate()), "rate_simulated": round(s.rate),
            "stim_delivered_per_wall_s": round(best["stim"]), "table_delivered_per_wall_s": round(best["table"]),
            "photons_per_delivered": round(samples["table"].photons_per_delivered, 2),
            "photons_per_delivered_closed_form": round(chain.photons_per_delivered(), 2),
            "qubits_per_node": chain.qubits_per_node(),
        }))


if __name__ == "__main__":
    main()
