"""The ``qplane compare``, ``qplane sweep`` and ``qplane draw`` commands (registered by :mod:`.plugin`).

Bad input raises :class:`~qplane.errors.QPlaneError` before any run starts, which the core CLI
prints as one line, ``qplane: error: ...``, exiting 2; failed runs exit 1, Ctrl-C 130."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from qplane.errors import QPlaneError
from qplane.cli import add_allow_large, warn_load_errors
from qplane.registry import Registry

EXIT_OK, EXIT_FAIL, EXIT_INTERRUPTED = 0, 1, 130


def _at_least_one(option: str) -> Any:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{option} takes a whole number (got {text!r})") from None
        if value < 1:
            raise argparse.ArgumentTypeError(f"{option} must be at least 1 (got {value})")
        return value
    return parse


def _experiment_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("scenario", help="scenario file (YAML or JSON)")
    p.add_argument("--vary", action="append", default=[], metavar="PATH=V1,V2,...",
                   help="an arm per value, e.g. protocols.purification=none,bbpssw,dejmps; several --vary "
                        "make their cartesian product; values are YAML scalars as in --set")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="PATH=VALUE",
                   help="override a field by dotted path before expanding (repeatable)")
    p.add_argument("--seeds", type=_at_least_one("--seeds"), metavar="K",
                   help="runs per arm and grid point, same K seeds for all (default: the scenario's repetitions)")
    p.add_argument("--seed", type=int, help="the seed the K run seeds derive from (default: the scenario's)")
    p.add_argument("--backend", help="replace the scenario's state backend")
    p.add_argument("--jobs", "-j", type=_at_least_one("--jobs"), metavar="J",
                   help="parallel workers (default: one per CPU)")
    p.add_argument("--executor", choices=("serial", "process", "dask"),
                   help="serial, process (a local pool; the default) or dask (a local Dask cluster, or "
                        "--scheduler's)")
    p.add_argument("--scheduler", metavar="tcp://HOST:PORT", help="send the runs to this Dask scheduler")
    p.add_argument("--out", metavar="DIR", help="output folder (default: <scenario name>-compare or -sweep in the "
                                                "current folder, the name made a safe file name)")
    p.add_argument("--no-plots", action="store_true", help="write no PNG/SVG plots")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--progress", dest="progress", action="store_true", default=None,
                   help="show the progress bar even when stderr is not a terminal")
    g.add_argument("--no-progress", dest="progress", action="store_false", help="never show the progress bar")
    p.add_argument("--dry-run", action="store_true", help="expand and validate every run, print the plan, run nothing")
    add_allow_large(p)


def add_compare(sub: Any) -> None:
    p = sub.add_parser("compare", help="run arms head to head on the same seeds: means, 95%% CIs, paired differences")
    _experiment_options(p)
    p.set_defaults(func=lambda args: cmd_experiment(args, "compare"))


def add_sweep(sub: Any) -> None:
    p = sub.add_parser("sweep", help="run a parameter study: every list-valued field's values x the seeds")
    _experiment_options(p)
    p.set_defaults(func=lambda args: cmd_experiment(args, "sweep"))


def add_draw(sub: Any) -> None:
    p = sub.add_parser("draw", help="draw a scenario's topology (link lengths), or a results file's link use and "
                                    "memory occupancy, as PNG or SVG")
    p.add_argument("source", metavar="SCENARIO|RESULTS", help="a scenario file, or a results file (qplane.results/2)")
    p.add_argument("-o", "--out", required=True, metavar="FILE.png|FILE.svg", help="the picture to write")
    p.add_argument("--request", type=int, metavar="N", help="highlight request N's paths (results files only)")
    p.set_defaults(func=cmd_draw)


def cmd_draw(args: argparse.Namespace) -> int:
    from .draw import draw

    out = draw(args.source, args.out, request=args.request, registry=getattr(args, "registry", None))
    print(f"drawn: {out}")
    return EXIT_OK


def cmd_experiment(args: argparse.Namespace, kind: str) -> int:
    from qplane.scenario import file_stem

    from .grid import count
    from .plan import make_plan
    from .run import execute

    if args.scheduler and args.executor not in (None, "dask"):
        raise QPlaneError(f"--scheduler sends the runs to a Dask cluster: it needs --executor dask (not {args.executor})")
    executor = args.executor or ("dask" if args.scheduler else "process")
    registry = getattr(args, "registry", None) or Registry()  # the CLI's, built once
    warn_load_errors(registry)
    plan = make_plan(kind, args.scenario, args.vary, seeds=args.seeds, seed=args.seed, overrides=args.overrides,
                     backend=args.backend, registry=registry, allow_large=args.allow_large)
    if args.dry_run:
        n_grid = len({p.grid_index for p in plan.points})
        n_arms = len({p.arm_index for p in plan.points})
        print(f"{args.scenario}: {count(n_grid, 'grid point')} x {count(n_arms, 'arm')} x "
              f"{count(len(plan.seeds), 'seed')} = {count(len(plan.points) * len(plan.seeds), 'run')}, every one valid")
        for a in plan.grid_axes:
            print(f"grid {a.path}: {count(len(a.values), 'value')}")
        for a in plan.arm_axes:
            print(f"arm  {a.path}: {count(len(a.values), 'value')}")
        print("seeds: " + ", ".join(str(s) for s in plan.seeds))
        return EXIT_OK
    results = execute(plan, executor=executor, jobs=args.jobs, scheduler=args.scheduler, progress=args.progress)
    print(results.table())
    out = Path(args.out) if args.out else Path(f"{file_stem(plan.name)}-{kind}")
    written = results.write(out, plots=not args.no_plots)
    print(f"results: {out}/ ({', '.join(p.name for p in written)})")
    if results.interrupted:
        print(f"qplane: interrupted: {len(results.runs)} of {count(results.planned, 'run')} finished; they are in {out}/",
              file=sys.stderr)
        return EXIT_INTERRUPTED
    if results.failures:
        print(f"qplane: {len(results.failures)} of {count(results.planned, 'run')} failed (see 'error' in {out}/runs.csv)",
              file=sys.stderr)
        return EXIT_FAIL
    return EXIT_OK
