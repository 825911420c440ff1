"""qplane-experiment: one scenario turned into many runs — head-to-head comparisons and
parameter studies — run on an executor and summarised with confidence intervals.

``qplane compare`` and ``qplane sweep`` (registered by :mod:`.plugin`) and :func:`compare` /
:func:`sweep` in Python share one runner. An experiment is

* **grid axes** — fields of the scenario given as a list of values (OMNeT++-style parameter
  studies, ``topology: {spacing_km: [10, 20, 40]}``), found by :func:`.grid.find_axes`;
* **arms** — ``--vary PATH=V1,V2`` options (several make a cartesian product); ``compare``
  with no ``--vary`` uses the scenario's lists as its arms;
* **seeds** — ``K`` run seeds derived from the scenario seed (:func:`.plan.derive_seeds`), the
  same K for every grid point and every arm (common random numbers), so differences between
  arms are paired seed by seed.

Which lists are grid axes: a list where the schema expects a scalar, a name or a component
(``spacing_km: [10, 20]``, ``purification: [none, dejmps]``); never a list the schema itself
declares (``requests``, ``hardware.links``, ``between``, or a component parameter whose
model declares a list) — those are walked into instead, so ``requests.0.pairs: [10, 100]``
is an axis. A component's parameters are checked against that component's own model, found
in the registry. A value of an axis may not itself contain an axis. (The core's
:func:`qplane_experiment.lists.find_value_lists` finds them; ``qplane run`` refuses them.)

Every run is a pure function :func:`.run.run_one` of (scenario dictionary, seed) returning the
results dictionary, built with a fresh :class:`~qplane.registry.Registry` in the worker, so
the ``serial``, ``process`` and ``dask`` executors give identical results (all but
``wall_time_s``). Every grid point × arm is validated (components resolved, parameters
checked) before any run starts.

Per run, metrics are aggregated over the run's requests (:func:`.metrics.run_metrics`); across
seeds each point gets a mean and a Student-t 95% confidence interval (:func:`.stats.mean_ci`),
and each arm a paired difference against the first arm at the same grid point.

The modules:

* :mod:`.grid` — grid axes, ``--vary``, labels; :mod:`.plan` — seeds and the validated plan;
* :mod:`.run` — one run, the executors and :func:`.run.execute`; :mod:`.progress` — the bar;
* :mod:`.metrics` and :mod:`.stats` — per-run figures, means and intervals;
* :mod:`.results` — :class:`ExperimentResults`; :mod:`.files` — its files; :mod:`.plots`;
* :mod:`.api` — :func:`compare` and :func:`sweep`; :mod:`.cli` and :mod:`.plugin` — the commands.

Nothing here changes how a single run works (:mod:`qplane_engine.sim`) nor the results schema
(:mod:`qplane.results`); it only composes them. Importing this package loads none of it (the
names below are loaded on first use), so the plugin module the CLI loads on every run stays light.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # for type checkers and editors; at run time the names load on first use
    from .api import compare, sweep
    from .plan import make_plan
    from .results import ExperimentResults
    from .run import execute
    from .stats import Estimate, mean_ci

__version__ = "0.1.0"

#: public name -> the module that defines it
_EXPORTS = {
    "compare": "api",
    "sweep": "api",
    "ExperimentResults": "results",
    "make_plan": "plan",
    "execute": "run",
    "Estimate": "stats",
    "mean_ci": "stats",
}

__all__ = ["Estimate", "ExperimentResults", "compare", "execute", "make_plan", "mean_ci", "sweep"]


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
