"""Running a plan: one run as a pure function of (scenario, seed), the executors (serial,
a local process pool, Dask) and :func:`execute`, which runs every point × seed and gathers
what finished into an :class:`~qplane_experiment.results.ExperimentResults`."""

from __future__ import annotations

import contextlib
import copy
import os
import signal
import sys
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

from qplane.errors import QPlaneError
from qplane.plugins import make_plugin_manager
from qplane.registry import Registry
from qplane.scenario import Scenario
from qplane.sim import build

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


def run_one(task: RunTask) -> dict[str, Any]:
    """Run one scenario with one seed in a fresh registry: a pure function of the task.

    Returns ``{"index", "ok": True, "results"}`` or ``{"index", "ok": False, "error",
    "traceback"}``: an exception in the run is reported, not raised."""
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
                "--executor dask needs dask.distributed: pip install 'qplane-experiment[dask]' (or 'dask[distributed]')"
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
    interrupted = False
    handles: dict[Any, RunTask] = {}
    try:
        for t in tasks:
            handles[ex.submit(t)] = t
        for handle, out in ex.as_completed(list(handles)):
            task = handles[handle]
            out["index"] = task.index
            outcomes[task.index] = out
            if not out["ok"]:
                p = plan.points[task.point]
                where = ", ".join(x for x in (p.grid_label, p.arm_label) if x) or "the scenario"
                bar.note(f"qplane: run {task.index} failed ({where}; seed {task.seed}; {plan.source}): {out['error']}")
            bar.advance(out["ok"])
    except KeyboardInterrupt:
        interrupted = True
        ex.cancel([h for h, t in handles.items() if t.index not in outcomes])
    finally:
        bar.close()
        ex.close(interrupted=interrupted)
    wall = time.perf_counter() - t0
    return ExperimentResults.from_outcomes(plan, tasks, outcomes, interrupted=interrupted, wall_s=wall,
                                           executor=ex.name, workers=ex.workers,
                                           scheduler=getattr(ex, "address", None))
