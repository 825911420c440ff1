"""The plan of an experiment: the run seeds, and the scenario expanded into grid points ×
arms, every one validated (components resolved, parameters checked) before anything runs.

The number of runs (grid points × arms × seeds) is held to the core's limit
(:data:`qplane.limits.LIMITS`, lifted by ``allow_large``) before the seeds are derived or any
point is expanded, and the points that give every value of every axis its first test are
validated first, so a value beyond a limit (``--vary topology.nodes=3,100000000``) is named at once."""

from __future__ import annotations

import copy
import itertools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
from qplane.limits import check as check_limit
from qplane.errors import QPlaneError, ScenarioError
from qplane.plugins import make_plugin_manager
from qplane.registry import Registry
from qplane.scenario import (Scenario, apply_overrides, apply_set, read_scenario_source, scenario_base_dir,
                             scenario_source, validate_scenario)
from qplane import build

from .grid import Axis, find_axes, point_label, short_names, vary_axes

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
    """What :func:`make_plan` gives :func:`qplane_experiment.run.execute`: every point, the seeds
    they all run with, and the extra plugin objects registered in every run."""

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
    #: the size limits lifted (``--allow-large``), in every run too
    allow_large: bool = False


def _read_source(scenario: Any) -> tuple[dict[str, Any], str, Path]:
    if isinstance(scenario, Scenario):
        return scenario.model_dump(mode="json"), scenario_source(scenario), scenario_base_dir(scenario)
    return read_scenario_source(scenario)


def _validate(data: dict[str, Any], source: str, base_dir: Path, registry: Any,
              allow_large: bool) -> tuple[Scenario, Any]:
    """Schema and every component's parameters, as ``qplane validate`` does."""
    scenario = validate_scenario(data, source, base_dir, allow_large)
    return scenario, build(scenario, registry)


def _check_runs(grid_axes: list[Axis], arm_axes: list[Axis], seeds: int, seeds_field: str, source: str,
                allow_large: bool) -> None:
    """Grid points × arms × seeds against the limit ``runs``, before anything is expanded; the
    field named is the largest factor's."""
    n_grid = n_arms = 1
    for a in grid_axes:
        n_grid *= len(a.values)
    for a in arm_axes:
        n_arms *= len(a.values)
    widest = max(grid_axes + arm_axes, key=lambda a: len(a.values), default=None)
    field = seeds_field if widest is None or seeds >= len(widest.values) else widest.path
    check_limit("runs", n_grid * n_arms * seeds, field, allow_large, source=source,
                 what=f"{n_grid} grid points x {n_arms} arms x {seeds} seeds = {n_grid * n_arms * seeds} runs")


def _link_reference(sim: Any) -> dict[str, float | None]:
    params = sim.component_params("hardware.link")
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
    allow_large: bool = False,
) -> Plan:
    """Expand ``scenario`` into grid points × arms and validate every one (nothing runs);
    ``allow_large`` lifts the size limits (:mod:`qplane.limits`) of the plan and of every run."""
    if kind not in ("compare", "sweep"):
        raise ValueError(f"kind must be 'compare' or 'sweep', not {kind!r}")
    data, source, base_dir = _read_source(scenario)
    apply_overrides(data, source, overrides, seed, backend)
    registry = registry if registry is not None else Registry(make_plugin_manager(plugins))

    arm_axes = vary_axes(vary)
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
        seeds, seeds_field = reps, "repetitions"
    else:
        seeds_field = "--seeds"
    if isinstance(seeds, bool) or not isinstance(seeds, int) or seeds < 1:
        raise QPlaneError(f"--seeds must be at least 1 (got {seeds!r})")
    _check_runs(grid_axes, arm_axes, seeds, seeds_field, source, allow_large)
    run_seeds = derive_seeds(base_seed, seeds)

    names = short_names([a.path for a in grid_axes + arm_axes])
    grid_combos = list(itertools.product(*_ranges(grid_axes)))
    arm_combos = list(itertools.product(*_ranges(arm_axes)))
    combos = [(gi, ai) for gi in range(len(grid_combos)) for ai in range(len(arm_combos))]
    # first the points where at most one axis is off its first value: each value is tried early
    combos.sort(key=lambda c: sum(i > 0 for i in grid_combos[c[0]] + arm_combos[c[1]]) > 1)
    points: dict[int, Point] = {}
    for gi, ai in combos:
        gvals = [a.values[i] for a, i in zip(grid_axes, grid_combos[gi])]
        avals = [a.values[i] for a, i in zip(arm_axes, arm_combos[ai])]
        grid = {a.path: v for a, v in zip(grid_axes, gvals)}
        arm = {a.path: v for a, v in zip(arm_axes, avals)}
        d = copy.deepcopy(data)
        what = ", ".join(x for x in (point_label(grid, names), point_label(arm, names)) if x)
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
        sc, sim = _validate(d, label, base_dir, registry, allow_large)
        index = gi * len(arm_combos) + ai
        points[index] = Point(
            index=index, grid_index=gi, arm_index=ai, grid=grid, arm=arm,
            grid_label=point_label(grid, names), arm_label=point_label(arm, names), data=d,
            scenario=sc.model_dump(mode="json"), source=label, link=_link_reference(sim),
        )
    return Plan(kind=kind, name=str(data.get("name", "scenario")), source=source, base_dir=str(base_dir),
                base_seed=base_seed, seeds=run_seeds, grid_axes=grid_axes, arm_axes=arm_axes,
                points=[points[i] for i in sorted(points)], plugins=plugins, allow_large=allow_large)


def _ranges(axes: list[Axis]) -> list[range]:
    return [range(len(a.values)) for a in axes]
