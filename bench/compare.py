"""Benchmark: a 4-arm x 8-seed ``qplane compare`` on the 5-node chain, serial against the
local process pool.

Prints JSON lines on stdout: one per executor (wall seconds of the runs, runs per second, the
sum of the runs' own wall times) and a last line with the speed-up of the pool over serial.
See bench/README.md.

    .venv/bin/python bench/compare.py [--pairs 1000] [--seeds 8] [--jobs N] [--repeat 1]

It prints figures; it is not a timed test. It checks that both executors gave the same
results (everything but the runs' wall times) and that every run completed its request.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

from qplane_experiment.plan import make_plan
from qplane_experiment.run import execute

ROOT = Path(__file__).resolve().parent.parent
SCENARIO = ROOT / "examples" / "chain.yaml"
ARMS = "protocols.purification=none,bbpssw,dejmps,{name: pumping, rounds: 2}"


def comparable(res) -> list:
    return [(r["point"], r["seed"], {k: v for k, v in r["results"].items() if k != "wall_time_s"}) for r in res.runs]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pairs", type=int, default=1000, help="pairs requested per run (default 1000)")
    ap.add_argument("--seeds", type=int, default=8)
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="process-pool workers (default: CPUs)")
    ap.add_argument("--repeat", type=int, default=1, help="best of R timings per executor")
    args = ap.parse_args()

    overrides = [f"requests.0.pairs={args.pairs}", "requests.0.min_fidelity=0", "duration=1000"]
    t0 = time.perf_counter()
    plan = make_plan("compare", SCENARIO, [ARMS], seeds=args.seeds, overrides=overrides)
    plan_s = time.perf_counter() - t0
    runs = len(plan.points) * len(plan.seeds)

    walls: dict[str, float] = {}
    reference = None
    for executor, jobs in (("serial", None), ("process", args.jobs)):
        best = None
        for _ in range(args.repeat):
            res = execute(plan, executor=executor, jobs=jobs, progress=False)
            assert not res.failures, res.failures[0]["error"]
            assert all(r["results"]["requests"][0]["status"] == "completed" for r in res.runs)
            if best is None or res.wall_s < best.wall_s:
                best = res
        if reference is None:
            reference = comparable(best)
        else:
            assert comparable(best) == reference, "executors disagree"
        walls[executor] = best.wall_s
        print(json.dumps({
            "executor": executor,
            "workers": best.provenance["workers"],
            "arms": len(plan.points),
            "seeds": len(plan.seeds),
            "runs": runs,
            "pairs_per_run": args.pairs,
            "wall_s": round(best.wall_s, 3),
            "runs_per_s": round(runs / best.wall_s, 2),
            "sum_run_wall_s": round(sum(r["results"]["wall_time_s"] for r in best.runs), 3),
            "plan_s": round(plan_s, 3),
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
        }))
    print(json.dumps({"speedup_process_over_serial": round(walls["serial"] / walls["process"], 2),
                      "identical_results": True}))


if __name__ == "__main__":
    main()
