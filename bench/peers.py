"""Benchmark: qplane against SimQN on the same repeater-chain job, in the same run.

The job is bench/peers/simqn_chain.py's (the SimQN side, run in SimQN's own environment): N nodes 20 km apart, 0.2 dB/km, direct links
(success eta(L) = 0.398, attempt period 2L/c), Werner pairs F0 = 0.99, one memory per link end,
memories depolarizing with T = 1 s, swap as soon as possible with ideal Bell measurements,
1 simulated second, delivery when the end nodes share a pair. SimQN passes swap outcomes
instantly; qplane runs the job twice: with ``classical: {instant: true}`` (the same
assumption, for a like-for-like figure) and with real classical delays (its default: what
the outcome messages cost).

SimQN runs from its own virtual environment, never qplane's: ``--simqn-python`` (default
``~/peers/simqn/bin/python``; create it with ``python3 -m venv ~/peers/simqn &&
~/peers/simqn/bin/pip install qns``). ``--simqn-script`` points at the SimQN job (default:
``bench/peers/simqn_chain.py``). Without SimQN the qplane figures are still printed.

Prints JSON lines: the bare-SimPy floor, then per N one line with wall seconds per delivered
pair for each, their ratio, pairs per simulated second and mean fidelity.

    .venv/bin/python bench/peers.py [--nodes 3,9,17,33] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import time
from pathlib import Path

import simpy

import qplane
from chain import compiled  # (bench/ is the script's folder: on the path)

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_SCRIPT = ROOT / "bench" / "peers" / "simqn_chain.py"
DEFAULT_PYTHON = Path(os.path.expanduser("~/peers/simqn/bin/python"))


def scenario(n: int, instant: bool, seed: int) -> dict:
    return {
        "name": f"peer-chain-{n}",
        "seed": seed,
        "duration": 1.0,
        "topology": {"builder": "chain", "nodes": n, "spacing_km": 20.0},
        "hardware": {
            "memory": {"count": 1, "coherence_time": 1.0},
            # SimQN's link: lossy fibre only (no detector or emission loss), period 2L/c
            "link": {"scheme": "direct", "emit_efficiency": 1.0, "detector_efficiency": 1.0,
                     "pair_fidelity": 0.99, "attempt_rate_hz": 1.0e9, "attenuation_db_per_km": 0.2},
        },
        "classical": {"instant": instant},
        "requests": [{"src": "n0", "dst": f"n{n - 1}", "rate": 1.0, "end": 1.0, "min_fidelity": 0.0}],
    }


def run_qplane(n: int, instant: bool, seed: int, repeat: int) -> dict:
    best = None
    for _ in range(repeat):
        sim = qplane.build(qplane.load_scenario(scenario(n, instant, seed)))
        res = sim.run()
        if best is None or res["wall_time_s"] < best["wall_time_s"]:
            best = res
    req = best["requests"][0]
    return {"wall_s": best["wall_time_s"], "pairs": req["delivered"], "fidelity": req["fidelity_mean"],
            "events": best["events"]}


def run_simqn(python: Path, script: Path, n: int, seed: int, repeat: int) -> dict | None:
    if not python.exists() or not script.exists():
        return None
    best = None
    for _ in range(repeat):
        out = subprocess.run([str(python), str(script), "--nodes", str(n), "--sim-seconds", "1.0", "--seed", str(seed)],
                             capture_output=True, text=True, timeout=600)
        if out.returncode != 0:
            return {"error": out.stderr.strip().splitlines()[-1] if out.stderr.strip() else f"exit {out.returncode}"}
        line = json.loads(out.stdout.strip().splitlines()[-1])
        if best is None or line["wall_seconds"] < best["wall_s"]:
            best = {"wall_s": line["wall_seconds"], "pairs": line["pairs_delivered"], "fidelity": line["mean_fidelity"],
                    "events": line["events_executed"]}
    return best


def simpy_floor(n: int = 300_000) -> float:
    env = simpy.Environment()

    def loop():
        for _ in range(n):
            yield env.timeout(0.001)

    env.process(loop())
    t0 = time.perf_counter()
    env.run()
    return n / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--nodes", default="3,9,17,33")
    ap.add_argument("--repeat", type=int, default=3, help="best of R runs for each figure")
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--simqn-python", type=Path, default=DEFAULT_PYTHON)
    ap.add_argument("--simqn-script", type=Path, default=DEFAULT_SCRIPT)
    args = ap.parse_args()
    qplane.run(scenario(2, True, 1))  # warm-up: imports and plugin discovery outside the figures
    print(json.dumps({"floor": "simpy", "events_per_s": round(simpy_floor()), "compiled": compiled()}), flush=True)
    for n in (int(x) for x in args.nodes.split(",")):
        inst = run_qplane(n, True, args.seed, args.repeat)
        real = run_qplane(n, False, args.seed, args.repeat)
        peer = run_simqn(args.simqn_python, args.simqn_script, n, args.seed, args.repeat)
        line = {
            "nodes": n,
            "qplane_instant": {**inst, "wall_s_per_pair": inst["wall_s"] / max(inst["pairs"], 1)},
            "qplane_delays": {**real, "wall_s_per_pair": real["wall_s"] / max(real["pairs"], 1)},
        }
        if peer is not None and "error" not in peer:
            line["simqn"] = {**peer, "wall_s_per_pair": peer["wall_s"] / max(peer["pairs"], 1)}
            line["speedup_vs_simqn"] = line["simqn"]["wall_s_per_pair"] / line["qplane_instant"]["wall_s_per_pair"]
            line["pairs_ratio_instant_vs_simqn"] = inst["pairs"] / max(peer["pairs"], 1)
            line["fidelity_diff_instant_vs_simqn"] = inst["fidelity"] - peer["fidelity"]
            line["cost_of_classical_delays"] = {
                "pairs_ratio": real["pairs"] / max(inst["pairs"], 1),
                "fidelity_diff": real["fidelity"] - inst["fidelity"],
            }
        elif peer is not None:
            line["simqn"] = peer
        print(json.dumps(line), flush=True)


if __name__ == "__main__":
    main()
