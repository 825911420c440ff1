"""Running a plan: one run as a pure function of (scenario, seed), the executors and
:func:`execute`, which runs every point × seed and gathers what finished into an
:class:`~qplane_experiment.results.ExperimentResults`.

Every executor is a :class:`concurrent.futures.Executor` and :func:`execute` drives them all
the same way: ``serial`` (:class:`SerialExecutor`, in this process), ``process`` (a
:class:`~concurrent.futures.ProcessPoolExecutor`) and ``dask`` (``Client.get_executor()`` of
a local Dask cluster or the one at ``--scheduler``)."""

from __future__ import annotations

import contextlib
import copy
import itertools
import os
import signal
import sys
import time
import traceback
from concurrent.futures import FIRST_COMPLETED, Executor, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

from qplane.errors import QPlaneError
from qplane.plugins import make_plugin_manager
from qplane.registry import Registry
from qplane.scenario import validate_scenario
from qplane import build

from .plan import Plan
from .progress import Progress
from .results import ExperimentResults

EXECUTORS = ("serial", "process", "dask")

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
    allow_large: bool = False


def run_one(task: RunTask) -> dict[str, Any]:
    """Run one scenario with one seed in a fresh registry: a pure function of the task.

    Returns ``{"index", "ok": True, "results"}`` or ``{"index", "ok": False, "error",
    "traceback"}``: an exception in the run is reported, not raised."""
    try:
        data = copy.deepcopy(task.scenario)
        data["seed"] = task.seed
        scenario = validate_scenario(data, task.source, Path(task.base_dir), task.allow_large)
        registry = Registry(make_plugin_manager(task.plugins))
        results = build(scenario, registry).run()
        return {"index": task.index, "ok": True, "results": results}
    except Exception as e:  # a failed run is data: reported with its arm and seed, the others go on
        msg = str(e) if isinstance(e, QPlaneError) else f"{type(e).__name__}: {e}"
        return {"index": task.index, "ok": False, "error": msg, "traceback": traceback.format_exc()}


# =============================================================================== executors


class SerialExecutor(Executor):
    """A :class:`concurrent.futures.Executor` that runs each call in this process when it is
    submitted. :func:`execute` keeps one run in flight with it, so the progress bar moves and a
    failure is reported as each run ends, as with a pool, and Ctrl-C stops at once."""

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future:
        future: Future = Future()
        future.set_running_or_notify_cancel()
        try:
            future.set_result(fn(*args, **kwargs))
        except Exception as e:  # as a pool reports it; KeyboardInterrupt goes to the caller
            future.set_exception(e)
        return future


@dataclass
class Workers:
    """A :class:`concurrent.futures.Executor` and what the results record of it."""

    name: str
    executor: Executor
    #: how many workers run at once
    workers: int
    #: how many runs :func:`execute` keeps submitted at once
    in_flight: int
    #: ``close(interrupted)``: shut the executor down (abandoning the runs in flight if interrupted)
    close: Callable[[bool], None]
    #: the Dask scheduler's address
    address: str | None = None


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


def _process_pool(jobs: int) -> Workers:
    pool = ProcessPoolExecutor(max_workers=jobs, initializer=_ignore_sigint)

    def close(interrupted: bool) -> None:
        if not interrupted:
            pool.shutdown(wait=True)
            return
        # runs in flight are abandoned: their workers ignore SIGINT, so end them here
        terminate = getattr(pool, "terminate_workers", None)  # Python 3.14+
        if terminate is not None:
            terminate()
            return
        procs = list((getattr(pool, "_processes", None) or {}).values())  # gone after shutdown
        pool.shutdown(wait=False, cancel_futures=True)
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.join(timeout=5)

    return Workers("process", pool, jobs, 2 * jobs, close)


def _dask(jobs: int | None, scheduler: str | None) -> Workers:
    try:
        from dask.distributed import Client, LocalCluster
    except ImportError as e:
        raise QPlaneError(
            "--executor dask needs dask.distributed: pip install 'qplane-experiment[dask]' (or 'dask[distributed]')"
        ) from e
    import logging

    cluster = None
    try:
        if scheduler:
            client = Client(scheduler, timeout="10s")
        else:
            # the workers inherit an ignored SIGINT (across exec): Ctrl-C is the parent's to handle
            with _sigint_ignored():
                cluster = LocalCluster(n_workers=jobs or os.cpu_count() or 1, threads_per_worker=1,
                                       processes=True, dashboard_address=":0",  # any free port
                                       silence_logs=logging.ERROR)
            client = Client(cluster)
    except OSError as e:
        raise QPlaneError(f"--scheduler {scheduler}: cannot connect to the Dask scheduler: {e}") from e
    workers = len(client.scheduler_info().get("workers", {})) or (jobs or 1)
    executor = client.get_executor(pure=False)  # every run is submitted once: no result caching

    def close(interrupted: bool) -> None:
        executor.shutdown(wait=not interrupted)  # interrupted: cancel what is still queued
        client.close()
        if cluster is not None:
            cluster.close()

    return Workers("dask", executor, workers, 2 * workers, close, address=client.scheduler.address)


def make_executor(executor: str = "process", jobs: int | None = None, scheduler: str | None = None) -> Workers:
    """The executor called ``executor``; ``scheduler`` (a Dask address) implies ``dask``."""
    if scheduler and executor not in ("dask", None):
        raise QPlaneError(f"--scheduler sends runs to a Dask cluster: it needs --executor dask (not {executor})")
    executor = executor or ("dask" if scheduler else "process")
    if executor not in EXECUTORS:
        raise QPlaneError(f"unknown executor {executor!r}; choose one of {', '.join(EXECUTORS)}")
    if jobs is not None and jobs < 1:
        raise QPlaneError(f"--jobs must be at least 1 (got {jobs})")
    if executor == "serial":
        return Workers("serial", SerialExecutor(), 1, 1, lambda interrupted: None)
    if executor == "process":
        return _process_pool(jobs or os.cpu_count() or 1)
    return _dask(jobs, scheduler)


def _outcome(future: Future) -> dict[str, Any]:
    """A future's result; an executor-level failure (a worker died, pickling) becomes a failed run."""
    try:
        return future.result()
    except Exception as e:
        return {"index": None, "ok": False, "error": f"{type(e).__name__}: {e}", "traceback": traceback.format_exc()}


# =============================================================================== running


def execute(
    plan: Plan,
    *,
    executor: str = "process",
    jobs: int | None = None,
    scheduler: str | None = None,
    progress: bool | None = None,
    stream: Any = None,
) -> "ExperimentResults":
    """Run every point × seed of ``plan`` on the executor, keeping ``in_flight`` runs submitted
    at once. Ctrl-C cancels what has not started and returns what finished (``interrupted=True``)."""
    tasks: list[RunTask] = []
    # seed-major: an interrupted experiment still has every arm at about the same seeds
    for si, s in enumerate(plan.seeds):
        for p in plan.points:
            tasks.append(RunTask(index=len(tasks), point=p.index, seed_index=si, seed=s, scenario=p.data,
                                 source=p.source, base_dir=plan.base_dir, plugins=plan.plugins,
                                 allow_large=plan.allow_large))
    if executor != "serial" and jobs is None:
        jobs = min(os.cpu_count() or 1, len(tasks)) or 1
    stream = stream if stream is not None else sys.stderr
    t0 = time.perf_counter()
    ex = make_executor(executor, jobs, scheduler)
    bar = Progress(len(tasks), enabled=progress, stream=stream)
    outcomes: dict[int, dict[str, Any]] = {}
    interrupted = False
    waiting = iter(tasks)
    pending: dict[Future, RunTask] = {}
    try:
        for task in itertools.islice(waiting, ex.in_flight):
            pending[ex.executor.submit(run_one, task)] = task
        while pending:
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                task = pending.pop(future)
                out = _outcome(future)
                out["index"] = task.index
                outcomes[task.index] = out
                if not out["ok"]:
                    p = plan.points[task.point]
                    where = ", ".join(x for x in (p.grid_label, p.arm_label) if x) or "the scenario"
                    bar.note(f"qplane: run {task.index} failed ({where}; seed {task.seed}; {plan.source}): "
                             f"{out['error']}")
                bar.advance(out["ok"])
                for task in itertools.islice(waiting, 1):
                    pending[ex.executor.submit(run_one, task)] = task
    except KeyboardInterrupt:
        interrupted = True
        for future in pending:
            future.cancel()
    finally:
        bar.close()
        ex.close(interrupted)
    wall = time.perf_counter() - t0
    return ExperimentResults.from_outcomes(plan, tasks, outcomes, interrupted=interrupted, wall_s=wall,
                                           executor=ex.name, workers=ex.workers, scheduler=ex.address)
