"""Benchmark: second-generation (2G) repeater chains of qplane_repeaters at 5 and 17 nodes.

Prints JSON lines on stdout, one per (code, nodes): build time of the stim circuit, wall time
of sampling and decoding, and delivered logical pairs (samples of the chain) per wall second,
with the logical error rate measured on the way.  See bench/README.md for the fields.

    .venv/bin/python bench/repeaters.py [--nodes 5,17] [--shots 100000] [--codes steane,repetition]

It prints figures; it is not a timed test.  The sanity check: the logical error rate is
below one half (the decoding is doing something).
"""

from __future__ import annotations

import argparse
import json
import platform
import time

import stim

from qplane_repeaters.second_gen import SecondGenChain

PAIR_FIDELITY = 0.99
GATE_ERROR = 1e-3
MEASUREMENT_ERROR = 1e-3
SEED = 7


def run(code: str, nodes: int, shots: int) -> dict:
    t0 = time.perf_counter()
    chain = SecondGenChain(code, nodes - 1, pair_fidelity=PAIR_FIDELITY, gate_error=GATE_ERROR,
                           measurement_error=MEASUREMENT_ERROR, seed=SEED)
    t1 = time.perf_counter()
    frames = chain.sample_frames(shots)
    t2 = time.perf_counter()
    assert frames["error_rate"] < 0.5, frames
    return {
        "generation": "2g", "code": code, "nodes": nodes, "shots": shots,
        "physical_qubits": chain.num_qubits, "pairs_per_logical_pair": chain.pairs_per_logical_pair,
        "build_s": round(t1 - t0, 4), "sample_s": round(t2 - t1, 4),
        "logical_pairs_per_s": round(shots / (t2 - t0)),
        "logical_error_rate": frames["error_rate"], "x_error_rate": frames["x_error_rate"],
        "z_error_rate": frames["z_error_rate"],
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--nodes", default="5,17")
    ap.add_argument("--shots", type=int, default=100_000)
    ap.add_argument("--codes", default="steane,repetition")
    args = ap.parse_args()
    print(json.dumps({"stim": stim.__version__, "python": platform.python_version(),
                      "pair_fidelity": PAIR_FIDELITY, "gate_error": GATE_ERROR,
                      "measurement_error": MEASUREMENT_ERROR}))
    for code in args.codes.split(","):
        for nodes in (int(x) for x in args.nodes.split(",")):
            print(json.dumps(run(code, nodes, args.shots)), flush=True)


if __name__ == "__main__":
    main()
