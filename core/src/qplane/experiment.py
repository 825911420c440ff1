"""Experiments: one scenario turned into many runs — head-to-head comparisons and parameter
studies — run on an executor and summarised with confidence intervals.

``qplane compare`` and ``qplane sweep`` (and :func:`compare` / :func:`sweep` in Python) share
this one runner. An experiment is

* **grid axes** — fields of the scenario given as a list of values (OMNeT++-style parameter
  studies, ``topology: {spacing_km: [10, 20, 40]}``), found by :func:`find_axes`;
* **arms** — ``--vary PATH=V1,V2`` options (several make a cartesian product); ``compare``
  with no ``--vary`` uses the scenario's lists as its arms;
* **seeds** — ``K`` run seeds derived from the scenario seed (:func:`derive_seeds`), the same
  K for every grid point and every arm (common random numbers), so differences between arms
  are paired seed by seed.

Which lists are grid axes: a list where the schema expects a scalar, a name or a component
(``spacing_km: [10, 20]``, ``purification: [none, dejmps]``); never a list the schema itself
declares (``requests``, ``hardware.links``, ``between``, or a component parameter whose
model declares a list) — those are walked into instead, so ``requests.0.pairs: [10, 100]``
is an axis. A component's parameters are checked against that component's own model, found
in the registry. A value of an axis may not itself contain an axis.

Every run is a pure function :func:`run_one` of (scenario dictionary, seed) returning the
results dictionary, built with a fresh :class:`~qplane.registry.Registry` in the worker, so
the ``serial``, ``process`` and ``dask`` executors give identical results (all but
``wall_time_s``). Every grid point × arm is validated (components resolved, parameters
checked) before any run starts.

Per run, metrics are aggregated over the run's requests (:func:`run_metrics`); across seeds
each point gets a mean and a Student-t 95% confidence interval (:func:`mean_ci`), and each
arm a paired difference against the first arm at the same grid point.

The grid and ``--vary`` rules live in :mod:`qplane.grid`, the statistics in
:mod:`qplane.stats`; their public names are re-exported here.

This module must not change how a single run works (:mod:`qplane.sim`) nor the results
schema (:mod:`qplane.results`); it only composes them.
"""

from __future__ import annotations

import contextlib
import copy
import csv
import functools
import importlib.util
import itertools
import json
import math
import os
import platform
import signal
import sys
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Mapping, Sequence

import numpy as np
from pydantic import ValidationError

from .errors import QPlaneError, ScenarioError
from .scenario import Scenario, apply_overrides, apply_set, scenario_error_from_validation

EXPERIMENT_SCHEMA = "qplane.experiment/1"
EXECUTORS = ("serial", "process", "dask")

#: metrics of a run, aggregated over its requests (see :func:`run_metrics`):
#: name -> (what it is, unit)
METRICS: dict[str, tuple[str, str]] = {
    "rate_hz": ("delivered pairs per second served, mean over requests", "pairs/s"),
    "fidelity_mean": ("mean fidelity of every delivered pair (pairs-weighted over requests)", ""),
    "latency_mean_s": ("mean pair latency of every delivered pair (pairs-weighted over requests)", "s"),
    "served_fraction": ("delivered/requested pairs (or achieved/asked rate), mean over requests", ""),
    "completed_fraction": ("fraction of requests completed", ""),
    "fidelity_estimated_mean": ("the network's own fidelity estimate, pairs-weighted mean", ""),
    "delivered": ("pairs delivered, all requests", "pairs"),
}
#: the metrics the terminal tables and the plots show
MAIN_METRICS = ("rate_hz", "fidelity_mean", "latency_mean_s", "served_fraction")


from .stats import CONFIDENCE, _betacf, _betai, _t_upper_tail, t_quantile, Estimate, mean_ci  # noqa: E402,F401
from .grid import Axis, find_axes, _split_values, parse_vary, _vary_axes, _fmt_value, short_names, _label  # noqa: E402,F401

# =============================================================================== seeds


def derive_seeds(base_seed: int, count: int) -> list[int]:
    """``count`` distinct 32-bit run seeds from ``base_seed``: seed ``i`` is the first word of
    ``SeedSequence(base_seed, spawn_key=(i,))`` (what ``SeedSequence.spawn`` gives its i-th
    child), skipping repeats. Every arm and grid point runs with the same list."""
    if count < 1:
        raise QPlaneError(f"--seeds must be at least 1 (got {count})")
    seeds: list[int] = []
    seen: set[int] = set()
    i = 0
    while len(seeds) < count:
        word = np.random.SeedSequence(entropy=base_seed, spawn_key=(i,)).generate_state(1, dtype=np.uint32)[0]
        i += 1
        if int(word) not in seen:
            seen.add(int(word))
            seeds.append(int(word))
    return seeds


# =============================================================================== metrics


def run_metrics(results: Mapping[str, Any]) -> dict[str, float | None]:
    """The figures of one run, aggregated over its requests.

    * ``rate_hz`` — mean over requests of the request's ``rate_hz``; a request that was never
      served (no path, fidelity unreachable) counts as 0;
    * ``fidelity_mean``, ``fidelity_estimated_mean``, ``latency_mean_s`` — pairs-weighted:
      the mean over every delivered pair of the run (``None`` when none was delivered);
    * ``served_fraction`` — mean over requests of ``min(1, delivered / pairs)`` for a pairs
      request and ``min(1, rate_hz / rate)`` for a rate request;
    * ``completed_fraction`` — the fraction of requests that ended ``completed``;
    * ``delivered`` — pairs delivered over all requests;
    * ``distance_km`` — mean end-to-end path length of the requests that had a path.
    """
    reqs = list(results.get("requests") or [])
    out: dict[str, float | None] = {k: None for k in METRICS}
    out["distance_km"] = None
    if not reqs:
        return out
    n = len(reqs)
    out["rate_hz"] = math.fsum(r.get("rate_hz") or 0.0 for r in reqs) / n
    delivered = sum(int(r.get("delivered") or 0) for r in reqs)
    out["delivered"] = float(delivered)
    for key in ("fidelity_mean", "fidelity_estimated_mean", "latency_mean_s"):
        weighted = [(r["delivered"], r[key]) for r in reqs if r.get("delivered") and r.get(key) is not None]
        total = sum(w for w, _ in weighted)
        out[key] = math.fsum(w * v for w, v in weighted) / total if total else None
    served = []
    for r in reqs:
        if r.get("pairs_requested"):
            served.append(min(1.0, (r.get("delivered") or 0) / r["pairs_requested"]))
        elif r.get("rate_requested_hz"):
            served.append(min(1.0, (r.get("rate_hz") or 0.0) / r["rate_requested_hz"]))
        else:
            served.append(0.0)
    out["served_fraction"] = math.fsum(served) / n
    out["completed_fraction"] = sum(r.get("status") == "completed" for r in reqs) / n
    lengths = {frozenset((lk["a"], lk["b"])): lk["length_km"] for lk in results.get("links") or []}
    dists = []
    for r in reqs:
        path = r.get("path")
        if path and len(path) > 1:
            try:
                dists.append(math.fsum(lengths[frozenset((u, v))] for u, v in zip(path, path[1:])))
            except KeyError:
                pass
    out["distance_km"] = math.fsum(dists) / len(dists) if dists else None
    return out


# =============================================================================== the plan


@dataclass
class Point:
    """One grid point × one arm: a complete scenario (all but its seed)."""

    index: int
    grid_index: int
    arm_index: int
    grid: dict[str, Any]
    arm: dict[str, Any]
    grid_label: str
    arm_label: str
    data: dict[str, Any] = field(repr=False)
    scenario: dict[str, Any] = field(repr=False)
    #: the scenario file and this point's values, for messages
    source: str = ""
    #: fibre attenuation (dB/km) and attempt rate (Hz) of the default link, for reference curves
    link: dict[str, float | None] = field(default_factory=dict, repr=False)

    @property
    def params(self) -> dict[str, Any]:
        return {**self.grid, **self.arm}


@dataclass
class Plan:
    kind: str
    name: str
    source: str
    base_dir: str
    base_seed: int
    seeds: list[int]
    grid_axes: list[Axis]
    arm_axes: list[Axis]
    points: list[Point]
    plugins: list[Any] | None = None


def _read_source(scenario: Any) -> tuple[dict[str, Any], str, Path]:
    from .scenario import read_scenario_source, scenario_base_dir, scenario_source

    if isinstance(scenario, Scenario):
        return scenario.model_dump(mode="json"), scenario_source(scenario), scenario_base_dir(scenario)
    return read_scenario_source(scenario)


def _validate(data: dict[str, Any], source: str, base_dir: Path, registry: Any) -> tuple[Scenario, Any]:
    """Schema and every component's parameters, as ``qplane validate`` does."""
    from .sim import build

    try:
        scenario = Scenario.model_validate(data)
    except ValidationError as e:
        raise scenario_error_from_validation(e).with_source(source) from e
    scenario._source = source
    scenario._base_dir = base_dir
    return scenario, build(scenario, registry)


def _link_reference(sim: Any) -> dict[str, float | None]:
    r = sim.resolved.get("link_model")
    params = getattr(r, "params", None)
    return {
        "attenuation_db_per_km": getattr(params, "attenuation_db_per_km", None),
        "attempt_rate_hz": getattr(params, "attempt_rate_hz", None),
    }


def make_plan(
    kind: str,
    scenario: Any,
    vary: Mapping[str, Any] | Sequence[str] | None = None,
    *,
    seeds: int | None = None,
    seed: int | None = None,
    overrides: Sequence[str] | None = None,
    backend: str | None = None,
    registry: Any | None = None,
    plugins: list[Any] | None = None,
) -> Plan:
    """Expand ``scenario`` into grid points × arms and validate every one (nothing runs)."""
    from .plugins import make_plugin_manager
    from .registry import Registry

    if kind not in ("compare", "sweep"):
        raise ValueError(f"kind must be 'compare' or 'sweep', not {kind!r}")
    data, source, base_dir = _read_source(scenario)
    apply_overrides(data, source, overrides, seed, backend)
    registry = registry if registry is not None else Registry(make_plugin_manager(plugins))

    arm_axes = _vary_axes(vary)
    file_axes = find_axes(data, registry)
    varied = {a.path for a in arm_axes}
    # --vary replaces a list the file gives for the same field (or one inside it)
    file_axes = [a for a in file_axes if not any(a.path == v or a.path.startswith(v + ".") for v in varied)]
    if kind == "compare" and not arm_axes:
        arm_axes, grid_axes = file_axes, []
        if not arm_axes:
            raise ScenarioError("nothing to compare: give --vary PATH=VALUE1,VALUE2 (or list values in the scenario)",
                                source=source)
    else:
        grid_axes = file_axes
    for a in grid_axes + arm_axes:
        if not a.values:
            raise ScenarioError("an empty list of values", field=a.path, source=source)

    base_seed = data.get("seed", 0)
    if isinstance(base_seed, bool) or not isinstance(base_seed, int) or base_seed < 0:
        raise ScenarioError(f"a non-negative integer (got {base_seed!r})", field="seed", source=source)
    reps = data.get("repetitions", 1)
    if seeds is None:
        if isinstance(reps, bool) or not isinstance(reps, int) or reps < 1:
            raise ScenarioError(f"a whole number of seeds, at least 1 (got {reps!r})", field="repetitions", source=source)
        seeds = reps
    if isinstance(seeds, bool) or not isinstance(seeds, int) or seeds < 1:
        raise QPlaneError(f"--seeds must be at least 1 (got {seeds!r})")
    run_seeds = derive_seeds(base_seed, seeds)

    names = short_names([a.path for a in grid_axes + arm_axes])
    grid_combos = list(itertools.product(*(a.values for a in grid_axes)))
    arm_combos = list(itertools.product(*(a.values for a in arm_axes)))
    points: list[Point] = []
    for gi, gvals in enumerate(grid_combos):
        for ai, avals in enumerate(arm_combos):
            grid = {a.path: v for a, v in zip(grid_axes, gvals)}
            arm = {a.path: v for a, v in zip(arm_axes, avals)}
            d = copy.deepcopy(data)
            what = ", ".join(x for x in (_label(grid, names), _label(arm, names)) if x)
            label = f"{source} [{what}]" if what else source
            try:
                for path, v in itertools.chain(grid.items(), arm.items()):
                    apply_set(d, path.split("."), copy.deepcopy(v))
            except ScenarioError as e:
                raise e.with_source(label) from e
            d["seed"] = run_seeds[0]
            nested = find_axes(d, registry)
            if nested:
                raise ScenarioError("a value of a list of values may not itself be a list of values",
                                    field=nested[0].path, source=label)
            sc, sim = _validate(d, label, base_dir, registry)
            points.append(Point(
                index=len(points), grid_index=gi, arm_index=ai, grid=grid, arm=arm,
                grid_label=_label(grid, names), arm_label=_label(arm, names), data=d,
                scenario=sc.model_dump(mode="json"), source=label, link=_link_reference(sim),
            ))
    return Plan(kind=kind, name=str(data.get("name", "scenario")), source=source, base_dir=str(base_dir),
                base_seed=base_seed, seeds=run_seeds, grid_axes=grid_axes, arm_axes=arm_axes,
                points=points, plugins=plugins)


# =============================================================================== one run


@dataclass
class RunTask:
    """Everything a worker needs for one run (picklable)."""

    index: int
    point: int
    seed_index: int
    seed: int
    scenario: dict[str, Any]
    source: str
    base_dir: str
    plugins: list[Any] | None = None


def run_one(task: RunTask) -> dict[str, Any]:
    """Run one scenario with one seed in a fresh registry: a pure function of the task.

    Returns ``{"index", "ok": True, "results"}`` or ``{"index", "ok": False, "error",
    "traceback"}``: an exception in the run is reported, not raised."""
    from .plugins import make_plugin_manager
    from .registry import Registry
    from .sim import build

    try:
        data = copy.deepcopy(task.scenario)
        data["seed"] = task.seed
        scenario = Scenario.model_validate(data)
        scenario._source = task.source
        scenario._base_dir = Path(task.base_dir)
        registry = Registry(make_plugin_manager(task.plugins))
        results = build(scenario, registry).run()
        return {"index": task.index, "ok": True, "results": results}
    except Exception as e:  # a failed run is data: reported with its arm and seed, the others go on
        msg = str(e) if isinstance(e, QPlaneError) else f"{type(e).__name__}: {e}"
        return {"index": task.index, "ok": False, "error": msg, "traceback": traceback.format_exc()}


# =============================================================================== executors


def _ignore_sigint() -> None:
    # Ctrl-C goes to the whole process group: the parent alone decides what stops
    signal.signal(signal.SIGINT, signal.SIG_IGN)


@contextlib.contextmanager
def _sigint_ignored() -> Iterator[None]:
    try:
        previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    except ValueError:  # not the main thread: nothing to do
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


class _SerialExecutor:
    """Runs each task in this process when its result is asked for (so Ctrl-C and the
    progress bar behave exactly as with a pool)."""

    name = "serial"

    def __init__(self) -> None:
        self.workers = 1

    class _Deferred:
        def __init__(self, task: RunTask):
            self.task = task

    def submit(self, task: RunTask) -> Any:
        return self._Deferred(task)

    def as_completed(self, handles: list[Any]) -> Iterator[tuple[Any, dict[str, Any]]]:
        for h in handles:
            yield h, _outcome(lambda: run_one(h.task))

    def cancel(self, handles: Iterable[Any]) -> None:
        pass

    def close(self, interrupted: bool = False) -> None:
        pass


class _ProcessExecutor:
    name = "process"

    def __init__(self, jobs: int):
        from concurrent.futures import ProcessPoolExecutor

        self.workers = jobs
        self.pool = ProcessPoolExecutor(max_workers=jobs, initializer=_ignore_sigint)

    def submit(self, task: RunTask) -> Any:
        return self.pool.submit(run_one, task)

    def as_completed(self, handles: list[Any]) -> Iterator[tuple[Any, dict[str, Any]]]:
        from concurrent.futures import as_completed

        for fut in as_completed(handles):
            yield fut, _outcome(fut.result)

    def cancel(self, handles: Iterable[Any]) -> None:
        for fut in handles:
            fut.cancel()

    def close(self, interrupted: bool = False) -> None:
        if not interrupted:
            self.pool.shutdown(wait=True)
            return
        # runs in flight are abandoned: their workers ignore SIGINT, so end them here
        terminate = getattr(self.pool, "terminate_workers", None)  # Python 3.14+
        if terminate is not None:
            terminate()
            return
        procs = list((getattr(self.pool, "_processes", None) or {}).values())  # gone after shutdown
        self.pool.shutdown(wait=False, cancel_futures=True)
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.join(timeout=5)


class _DaskExecutor:
    name = "dask"

    def __init__(self, jobs: int | None, scheduler: str | None):
        try:
            from dask.distributed import Client, LocalCluster
        except ImportError as e:
            raise QPlaneError(
                "--executor dask needs dask.distributed: pip install 'qplane[dask]' (or 'dask[distributed]')"
            ) from e
        import logging

        self.cluster = None
        try:
            if scheduler:
                self.client = Client(scheduler, timeout="10s")
            else:
                # the workers inherit an ignored SIGINT (across exec): Ctrl-C is the parent's to handle
                with _sigint_ignored():
                    self.cluster = LocalCluster(n_workers=jobs or os.cpu_count() or 1, threads_per_worker=1,
                                                processes=True, dashboard_address=":0",  # any free port
                                                silence_logs=logging.ERROR)
                self.client = Client(self.cluster)
        except OSError as e:
            raise QPlaneError(f"--scheduler {scheduler}: cannot connect to the Dask scheduler: {e}") from e
        self.address = self.client.scheduler.address
        self.workers = len(self.client.scheduler_info().get("workers", {})) or (jobs or 0)

    def submit(self, task: RunTask) -> Any:
        return self.client.submit(run_one, task, pure=False, key=f"qplane-run-{task.index}-{os.urandom(4).hex()}")

    def as_completed(self, handles: list[Any]) -> Iterator[tuple[Any, dict[str, Any]]]:
        from dask.distributed import as_completed

        for fut in as_completed(handles):
            yield fut, _outcome(fut.result)

    def cancel(self, handles: Iterable[Any]) -> None:
        handles = list(handles)
        if handles:
            self.client.cancel(handles)

    def close(self, interrupted: bool = False) -> None:
        self.client.close()
        if self.cluster is not None:
            self.cluster.close()


def _outcome(result: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """A future's result; an executor-level failure (a worker died, pickling) becomes a failed run."""
    try:
        return result()
    except Exception as e:
        return {"index": None, "ok": False, "error": f"{type(e).__name__}: {e}", "traceback": traceback.format_exc()}


def make_executor(executor: str = "process", jobs: int | None = None, scheduler: str | None = None) -> Any:
    """The executor called ``executor``; ``scheduler`` (a Dask address) implies ``dask``."""
    if scheduler and executor not in ("dask", None):
        raise QPlaneError(f"--scheduler sends runs to a Dask cluster: it needs --executor dask (not {executor})")
    executor = executor or ("dask" if scheduler else "process")
    if executor not in EXECUTORS:
        raise QPlaneError(f"unknown executor {executor!r}; choose one of {', '.join(EXECUTORS)}")
    if jobs is not None and jobs < 1:
        raise QPlaneError(f"--jobs must be at least 1 (got {jobs})")
    if executor == "serial":
        return _SerialExecutor()
    if executor == "process":
        return _ProcessExecutor(jobs or os.cpu_count() or 1)
    return _DaskExecutor(jobs, scheduler)


# =============================================================================== running


def _versions() -> dict[str, str | None]:
    from importlib import metadata

    out: dict[str, str | None] = {"python": platform.python_version()}
    for dist in ("qplane", "numpy", "simpy", "pydantic", "pluggy", "networkx"):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[dist] = None
    return out


def execute(
    plan: Plan,
    *,
    executor: str = "process",
    jobs: int | None = None,
    scheduler: str | None = None,
    progress: bool | None = None,
    stream: Any = None,
) -> "ExperimentResults":
    """Run every point × seed of ``plan``. Ctrl-C cancels what has not started and returns
    what finished (``interrupted=True``)."""
    from .progress import Progress

    tasks: list[RunTask] = []
    # seed-major: an interrupted experiment still has every arm at about the same seeds
    for si, s in enumerate(plan.seeds):
        for p in plan.points:
            tasks.append(RunTask(index=len(tasks), point=p.index, seed_index=si, seed=s, scenario=p.data,
                                 source=p.source, base_dir=plan.base_dir, plugins=plan.plugins))
    if executor != "serial" and jobs is None:
        jobs = min(os.cpu_count() or 1, len(tasks)) or 1
    stream = stream if stream is not None else sys.stderr
    t0 = time.perf_counter()
    ex = make_executor(executor, jobs, scheduler)
    bar = Progress(len(tasks), enabled=progress, stream=stream)
    outcomes: dict[int, dict[str, Any]] = {}
    failed = 0
    interrupted = False
    handles: dict[Any, RunTask] = {}
    try:
        for t in tasks:
            handles[ex.submit(t)] = t
        bar.update(0, 0)
        for handle, out in ex.as_completed(list(handles)):
            task = handles[handle]
            out["index"] = task.index
            outcomes[task.index] = out
            if not out["ok"]:
                failed += 1
                p = plan.points[task.point]
                where = ", ".join(x for x in (p.grid_label, p.arm_label) if x) or "the scenario"
                bar.note(f"qplane: run {task.index} failed ({where}; seed {task.seed}; {plan.source}): {out['error']}")
            bar.update(len(outcomes), failed)
    except KeyboardInterrupt:
        interrupted = True
        ex.cancel([h for h, t in handles.items() if t.index not in outcomes])
    finally:
        bar.close()
        ex.close(interrupted=interrupted)
    wall = time.perf_counter() - t0
    return ExperimentResults._from_outcomes(plan, tasks, outcomes, interrupted=interrupted, wall_s=wall,
                                            executor=ex.name, workers=ex.workers,
                                            scheduler=getattr(ex, "address", None))


# =============================================================================== results


def _jsonable(v: Any) -> Any:
    if isinstance(v, float) and not math.isfinite(v):
        return None
    if isinstance(v, dict):
        return {str(k): _jsonable(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_jsonable(x) for x in v]
    if isinstance(v, np.generic):
        return v.item()
    return v


def _g(v: float | None, sign: bool = False) -> str:
    """Four significant digits; no exponent between 1e-4 and 1e7 (12345, not 1.234e+04)."""
    if v is None:
        return "-"
    plus = "+" if sign else ""
    if v != 0 and 1e-4 <= abs(v) < 1e7:
        decimals = max(0, 3 - math.floor(math.log10(abs(v))))
        return format(v, f"{plus}.{decimals}f")
    return format(v, f"{plus}.4g")


def _table(head: list[str], rows: list[list[str]], right: set[int] | None = None) -> list[str]:
    right = right or set()
    widths = [max([len(h)] + [len(r[i]) for r in rows]) for i, h in enumerate(head)]

    def fmt(cells: list[str]) -> str:
        return "  ".join(c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(cells, widths))).rstrip()

    return [fmt(head), "  ".join("-" * w for w in widths), *(fmt(r) for r in rows)]


@dataclass
class ExperimentResults:
    """What :func:`compare` and :func:`sweep` return.

    ``runs`` holds one dictionary per run (point, arm, grid values, seed, ``ok``/``error``,
    ``metrics``, the resolved ``scenario`` and the run's ``results``); :attr:`summary` the
    mean and confidence interval of every metric per point; :attr:`differences` the paired
    difference of every arm against the first, per grid point. :attr:`dataframe` is ``runs``
    as a pandas DataFrame (one row per run).
    """

    kind: str
    name: str
    source: str
    base_seed: int
    seeds: list[int]
    grid_axes: list[Axis]
    arm_axes: list[Axis]
    points: list[Point]
    runs: list[dict[str, Any]]
    provenance: dict[str, Any]
    interrupted: bool = False
    wall_s: float = 0.0
    planned: int = 0

    # ------------------------------------------------------------------ construction

    @classmethod
    def _from_outcomes(cls, plan: Plan, tasks: list[RunTask], outcomes: dict[int, dict[str, Any]], *,
                       interrupted: bool, wall_s: float, executor: str, workers: int,
                       scheduler: str | None) -> "ExperimentResults":
        runs = []
        plugins: dict[str, str | None] = {}
        for t in sorted(tasks, key=lambda t: (t.point, t.seed_index)):
            out = outcomes.get(t.index)
            if out is None:
                continue  # not run (interrupted)
            p = plan.points[t.point]
            scenario = dict(p.scenario, seed=t.seed)
            results = out.get("results")
            if results is not None:
                plugins.update(results.get("plugins") or {})
                results = {k: v for k, v in results.items() if k != "scenario"}
            runs.append({
                "run": t.index,
                "point": p.index,
                "grid_point": p.grid_index,
                "arm_index": p.arm_index,
                "arm": p.arm_label,
                "grid": p.grid_label,
                "params": dict(p.params),
                "seed_index": t.seed_index,
                "seed": t.seed,
                "ok": bool(out["ok"]),
                "error": out.get("error"),
                "traceback": out.get("traceback"),
                "metrics": run_metrics(results) if results is not None else None,
                "scenario": scenario,
                "results": results,
            })
        provenance = {
            "versions": _versions(),
            "plugins": dict(sorted(plugins.items())),
            "platform": platform.platform(),
            "executor": executor,
            "workers": workers,
            "scheduler": scheduler,
            "argv": list(sys.argv),
        }
        return cls(kind=plan.kind, name=plan.name, source=plan.source, base_seed=plan.base_seed, seeds=plan.seeds,
                   grid_axes=plan.grid_axes, arm_axes=plan.arm_axes, points=plan.points, runs=runs,
                   provenance=provenance, interrupted=interrupted, wall_s=wall_s, planned=len(tasks))

    # ------------------------------------------------------------------ views

    @property
    def failures(self) -> list[dict[str, Any]]:
        return [r for r in self.runs if not r["ok"]]

    @property
    def arms(self) -> list[str]:
        seen: dict[int, str] = {}
        for p in self.points:
            seen.setdefault(p.arm_index, p.arm_label)
        return [seen[i] for i in sorted(seen)]

    def _values(self, point: int, metric: str) -> dict[int, float]:
        """seed index -> value of ``metric`` for the successful runs of ``point``."""
        out = {}
        for r in self.runs:
            if r["point"] == point and r["ok"]:
                v = r["metrics"].get(metric)
                if v is not None:
                    out[r["seed_index"]] = v
        return out

    @functools.cached_property
    def summary(self) -> list[dict[str, Any]]:
        """Per point and metric: ``n``, ``mean``, ``sd``, ``ci_low``, ``ci_high`` (95%)."""
        rows = []
        for p in self.points:
            for m in METRICS:
                e = mean_ci(list(self._values(p.index, m).values()))
                rows.append({"point": p.index, "grid": p.grid_label, "arm": p.arm_label, "params": p.params,
                             "metric": m, "n": e.n, "mean": e.mean, "sd": e.sd, "ci_low": e.ci_low,
                             "ci_high": e.ci_high})
        return rows

    @functools.cached_property
    def differences(self) -> list[dict[str, Any]]:
        """Per grid point, arm (but the first) and metric: the mean over seeds of ``arm − first
        arm`` (paired by seed; seeds where either run failed or has no value are left out) and
        its 95% interval."""
        rows = []
        base = {p.grid_index: p for p in self.points if p.arm_index == 0}
        for p in self.points:
            if p.arm_index == 0:
                continue
            b = base[p.grid_index]
            for m in METRICS:
                mine, theirs = self._values(p.index, m), self._values(b.index, m)
                common = sorted(set(mine) & set(theirs))
                e = mean_ci([mine[s] - theirs[s] for s in common])
                rows.append({"point": p.index, "grid": p.grid_label, "arm": p.arm_label, "baseline": b.arm_label,
                             "params": p.params, "metric": m, "n": e.n, "mean": e.mean, "sd": e.sd,
                             "ci_low": e.ci_low, "ci_high": e.ci_high, "excludes_zero": e.excludes_zero})
        return rows

    def estimate(self, metric: str, arm: str | int = 0, grid: int = 0) -> Estimate:
        """The :class:`Estimate` of ``metric`` for ``arm`` (label or index) at grid point ``grid``."""
        p = self._point(arm, grid)
        return mean_ci(list(self._values(p.index, metric).values()))

    def difference(self, metric: str, arm: str | int, grid: int = 0) -> Estimate:
        """The paired difference ``arm − first arm`` of ``metric`` at grid point ``grid``."""
        p = self._point(arm, grid)
        b = self._point(0, grid)
        mine, theirs = self._values(p.index, metric), self._values(b.index, metric)
        return mean_ci([mine[s] - theirs[s] for s in sorted(set(mine) & set(theirs))])

    def _point(self, arm: str | int, grid: int) -> Point:
        for p in self.points:
            if p.grid_index == grid and (p.arm_index == arm if isinstance(arm, int) else p.arm_label == arm):
                return p
        raise KeyError(f"no arm {arm!r} at grid point {grid} (arms: {', '.join(self.arms)})")

    def _param_columns(self) -> list[str]:
        return [a.path for a in self.grid_axes + self.arm_axes]

    def _flat_params(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """One column per grid axis and arm field (a component given as a mapping: its label)."""
        out = {}
        for path in self._param_columns():
            v = params.get(path)
            out[path] = v if isinstance(v, (int, float, str, bool)) or v is None else _fmt_value(v)
        return out

    def _flat_table(self, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        out = []
        for r in rows:
            flat = {k: v for k, v in r.items() if k not in ("params",)}
            out.append({**{k: flat.pop(k) for k in ("point", "grid", "arm")}, **self._flat_params(r["params"]), **flat})
        return out

    def rows(self) -> list[dict[str, Any]]:
        """One flat row per run (what ``runs.csv`` and :attr:`dataframe` hold)."""
        out = []
        for r in self.runs:
            res = r["results"] or {}
            row: dict[str, Any] = {"run": r["run"], "point": r["point"], "arm": r["arm"], "grid": r["grid"]}
            row.update(self._flat_params(r["params"]))
            row.update({"seed_index": r["seed_index"], "seed": r["seed"], "ok": r["ok"], "error": r["error"]})
            for m in list(METRICS) + ["distance_km"]:
                row[m] = (r["metrics"] or {}).get(m)
            row.update({"sim_time_s": res.get("sim_time_s"), "events": res.get("events"),
                        "wall_time_s": res.get("wall_time_s")})
            out.append(row)
        return out

    @property
    def dataframe(self) -> Any:
        """Per-run rows as a pandas DataFrame."""
        import pandas as pd

        return pd.DataFrame(self.rows())

    @property
    def summary_frame(self) -> Any:
        """:attr:`summary` as a pandas DataFrame (a column per grid axis and arm field)."""
        import pandas as pd

        return pd.DataFrame(self._flat_table(self.summary))

    @property
    def differences_frame(self) -> Any:
        """:attr:`differences` as a pandas DataFrame."""
        import pandas as pd

        return pd.DataFrame(self._flat_table(self.differences))

    # ------------------------------------------------------------------ text

    def table(self, metrics: Sequence[str] = MAIN_METRICS) -> str:
        """The terminal summary: a header, then per metric one row per point."""
        ok = sum(r["ok"] for r in self.runs)
        n_arms = len({p.arm_index for p in self.points})
        n_grid = len({p.grid_index for p in self.points})
        shape = []
        if n_grid > 1:
            shape.append(f"{n_grid} grid points")
        if n_arms > 1 or self.kind == "compare":
            shape.append(f"{n_arms} arms")
        shape.append(f"{len(self.seeds)} seeds")
        ex = self.provenance.get("executor")
        workers = self.provenance.get("workers")
        lines = [
            f"{self.name}: {' x '.join(shape)} = {self.planned} runs on {ex}"
            f"{f' ({workers} workers)' if ex != 'serial' and workers else ''} in {self.wall_s:.2f} s; "
            f"{ok} ok, {len(self.failures)} failed"
            + (f", {self.planned - len(self.runs)} not run (interrupted)" if self.planned > len(self.runs) else ""),
            f"seeds derived from seed {self.base_seed} (common to every arm and point): "
            + ", ".join(str(s) for s in self.seeds[:6]) + (", ..." if len(self.seeds) > 6 else ""),
        ]
        names = short_names(a.path for a in self.grid_axes)
        diffs = {(d["point"], d["metric"]): d for d in self.differences}
        summ = {(s["point"], s["metric"]): s for s in self.summary}
        first_arm = self.arms[0] if self.arms else ""
        for m in metrics:
            what, unit = METRICS[m]
            lines += ["", f"{m}{f' [{unit}]' if unit else ''}: {what}"]
            head = [names[a.path] for a in self.grid_axes]
            if n_arms > 1 or self.kind == "compare":
                head.append("arm")
            head += ["n", "mean", f"{CONFIDENCE:.0%} CI"]
            if n_arms > 1:
                head += [f"diff vs {first_arm}", f"{CONFIDENCE:.0%} CI of diff"]
            rows = []
            for p in self.points:
                s = summ[(p.index, m)]
                row = [_fmt_value(p.grid[a.path]) for a in self.grid_axes]
                if n_arms > 1 or self.kind == "compare":
                    row.append(p.arm_label or "-")
                row += [str(s["n"]), _g(s["mean"]),
                        f"[{_g(s['ci_low'])}, {_g(s['ci_high'])}]" if s["ci_low"] is not None else "-"]
                if n_arms > 1:
                    d = diffs.get((p.index, m))
                    if d is None:
                        row += ["(baseline)", ""]
                    else:
                        star = " *" if d["excludes_zero"] else ""
                        row += [_g(d["mean"], sign=True),
                                (f"[{_g(d['ci_low'], sign=True)}, {_g(d['ci_high'], sign=True)}]{star}"
                                 if d["ci_low"] is not None else "-")]
                rows.append(row)
            lines += _table(head, rows)
        if n_arms > 1:
            lines += ["", "diff: paired by seed (common random numbers); * the interval excludes 0"]
        return "\n".join(lines)

    # ------------------------------------------------------------------ files

    def to_dict(self) -> dict[str, Any]:
        """The ``runs.json`` document (schema ``qplane.experiment/1``)."""
        return _jsonable({
            "schema": EXPERIMENT_SCHEMA,
            "kind": self.kind,
            "name": self.name,
            "source": self.source,
            "base_seed": self.base_seed,
            "seeds": self.seeds,
            "confidence": CONFIDENCE,
            "grid_axes": [{"path": a.path, "values": a.values} for a in self.grid_axes],
            "arm_axes": [{"path": a.path, "values": a.values} for a in self.arm_axes],
            "points": [{"point": p.index, "grid_point": p.grid_index, "arm_index": p.arm_index, "grid": p.grid,
                        "arm": p.arm, "grid_label": p.grid_label, "arm_label": p.arm_label} for p in self.points],
            "interrupted": self.interrupted,
            "planned_runs": self.planned,
            "wall_s": self.wall_s,
            "provenance": self.provenance,
            "metrics": {k: {"description": d, "unit": u} for k, (d, u) in METRICS.items()},
            "summary": self.summary,
            "differences": self.differences,
            "runs": self.runs,
        })

    def write(self, out_dir: str | Path, plots: bool = True) -> list[Path]:
        """Write ``runs.json``, ``runs.csv``, ``summary.csv``, ``differences.csv`` (and
        ``runs.parquet`` when pyarrow is installed, and the plots) into ``out_dir``."""
        out = Path(out_dir)
        try:
            out.mkdir(parents=True, exist_ok=True)
            written = [out / "runs.json"]
            written[0].write_text(json.dumps(self.to_dict(), indent=1, allow_nan=False) + "\n", encoding="utf-8")
            rows = self.rows()
            written.append(_write_csv(out / "runs.csv", rows))
            written.append(_write_csv(out / "summary.csv", self._flat_table(self.summary)))
            if self.differences:
                written.append(_write_csv(out / "differences.csv", self._flat_table(self.differences)))
            if importlib.util.find_spec("pyarrow") is not None:
                self.dataframe.to_parquet(out / "runs.parquet", index=False)
                written.append(out / "runs.parquet")
        except OSError as e:
            raise QPlaneError(f"--out {out}: cannot write: {e.strerror or e}") from e
        if plots:
            written += self.plot(out)
        return written

    def plot(self, out_dir: str | Path, formats: Sequence[str] = ("png", "svg")) -> list[Path]:
        """Draw the plots that fit this experiment into ``out_dir`` (see :mod:`qplane.plots`)."""
        from . import plots

        return plots.plot_experiment(self, Path(out_dir), formats)


def _write_csv(path: Path, rows: list[dict[str, Any]]) -> Path:
    cols: list[str] = []
    for r in rows:
        for k in r:
            if k not in cols:
                cols.append(k)
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=cols)
        w.writeheader()
        for r in rows:
            w.writerow({k: ("" if v is None else v) for k, v in r.items()})
    return path


# =============================================================================== public API


def _experiment(kind: str, scenario: Any, vary: Any, *, seeds: int | None, jobs: int | None, executor: str,
                scheduler: str | None, overrides: Sequence[str] | None, seed: int | None, backend: str | None,
                out: str | Path | None, plots: bool, progress: bool | None,
                plugins: list[Any] | None) -> ExperimentResults:
    if scheduler and executor == "process":
        executor = "dask"
    plan = make_plan(kind, scenario, vary, seeds=seeds, seed=seed, overrides=overrides, backend=backend,
                     plugins=plugins)
    results = execute(plan, executor=executor, jobs=jobs, scheduler=scheduler, progress=progress)
    if out is not None:
        results.write(out, plots=plots)
    return results


def compare(
    scenario: str | Path | dict[str, Any] | Scenario,
    vary: Mapping[str, Any] | Sequence[str] | None = None,
    *,
    seeds: int | None = None,
    jobs: int | None = None,
    executor: str = "process",
    scheduler: str | None = None,
    overrides: Sequence[str] | None = None,
    seed: int | None = None,
    backend: str | None = None,
    out: str | Path | None = None,
    plots: bool = True,
    progress: bool | None = None,
    plugins: list[Any] | None = None,
) -> ExperimentResults:
    """Run the arms of ``vary`` head to head on the same ``seeds`` seeds.

    ``vary`` is ``{"protocols.purification": ["none", "bbpssw"]}`` or ``["protocols.purification=none,bbpssw"]``
    (several fields: their cartesian product); without it, the scenario's own lists are the
    arms. ``seeds`` defaults to the scenario's ``repetitions``. ``executor`` is ``serial``,
    ``process`` (``jobs`` workers, default: every CPU) or ``dask`` (a local cluster, or the
    one at ``scheduler``). ``out``: also write the files and plots there. ``plugins``: extra
    plugin objects registered in every run (picklable for ``process`` and ``dask``).
    """
    return _experiment("compare", scenario, vary, seeds=seeds, jobs=jobs, executor=executor, scheduler=scheduler,
                       overrides=overrides, seed=seed, backend=backend, out=out, plots=plots, progress=progress,
                       plugins=plugins)


def sweep(
    scenario: str | Path | dict[str, Any] | Scenario,
    vary: Mapping[str, Any] | Sequence[str] | None = None,
    *,
    seeds: int | None = None,
    jobs: int | None = None,
    executor: str = "process",
    scheduler: str | None = None,
    overrides: Sequence[str] | None = None,
    seed: int | None = None,
    backend: str | None = None,
    out: str | Path | None = None,
    plots: bool = True,
    progress: bool | None = None,
    plugins: list[Any] | None = None,
) -> ExperimentResults:
    """Run a parameter study: every combination of the scenario's list-valued fields (the grid)
    × ``seeds`` seeds (default: the scenario's ``repetitions``); ``vary`` adds arms, compared
    at every grid point. Other arguments as :func:`compare`."""
    return _experiment("sweep", scenario, vary, seeds=seeds, jobs=jobs, executor=executor, scheduler=scheduler,
                       overrides=overrides, seed=seed, backend=backend, out=out, plots=plots, progress=progress,
                       plugins=plugins)
