"""The Python API: :func:`compare` and :func:`sweep` (``from qplane_experiment import compare,
sweep``), the same runner as ``qplane compare`` and ``qplane sweep``."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, Sequence

from qplane.scenario import Scenario

from .plan import make_plan
from .results import ExperimentResults
from .run import execute


def _experiment(kind: str, scenario: Any, vary: Any, *, seeds: int | None, jobs: int | None, executor: str,
                scheduler: str | None, overrides: Sequence[str] | None, seed: int | None, backend: str | None,
                out: str | Path | None, plots: bool, progress: bool | None,
                plugins: list[Any] | None, allow_large: bool = False) -> ExperimentResults:
    if scheduler and executor == "process":
        executor = "dask"
    plan = make_plan(kind, scenario, vary, seeds=seeds, seed=seed, overrides=overrides, backend=backend,
                     plugins=plugins, allow_large=allow_large)
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
    allow_large: bool = False,
) -> ExperimentResults:
    """Run the arms of ``vary`` head to head on the same ``seeds`` seeds.

    ``vary`` is ``{"protocols.purification": ["none", "bbpssw"]}`` or ``["protocols.purification=none,bbpssw"]``
    (several fields: their cartesian product); without it, the scenario's own lists are the
    arms. ``seeds`` defaults to the scenario's ``repetitions``. ``executor`` is ``serial``,
    ``process`` (``jobs`` workers, default: every CPU) or ``dask`` (a local cluster, or the
    one at ``scheduler``). ``out``: also write the files and plots there. ``plugins``: extra
    plugin objects registered in every run (picklable for ``process`` and ``dask``).
    ``allow_large``: lift the size limits (:mod:`qplane.limits`).
    """
    return _experiment("compare", scenario, vary, seeds=seeds, jobs=jobs, executor=executor, scheduler=scheduler,
                       overrides=overrides, seed=seed, backend=backend, out=out, plots=plots, progress=progress,
                       plugins=plugins, allow_large=allow_large)


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
    allow_large: bool = False,
) -> ExperimentResults:
    """Run a parameter study: every combination of the scenario's list-valued fields (the grid)
    × ``seeds`` seeds (default: the scenario's ``repetitions``); ``vary`` adds arms, compared
    at every grid point. Other arguments as :func:`compare`."""
    return _experiment("sweep", scenario, vary, seeds=seeds, jobs=jobs, executor=executor, scheduler=scheduler,
                       overrides=overrides, seed=seed, backend=backend, out=out, plots=plots, progress=progress,
                       plugins=plugins, allow_large=allow_large)
