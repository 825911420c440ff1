"""What :func:`~qplane_experiment.compare` and :func:`~qplane_experiment.sweep` return: every
run with its metrics, the summary and paired differences, the terminal table, pandas frames.
Writing the files is :mod:`.files`; the plots are :mod:`.plots`."""

from __future__ import annotations

import functools
import math
import platform
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

from . import files, plots
from .grid import Axis, count, format_value, short_names
from .metrics import APPLICATION_METRICS, METRICS, TABLE_METRICS, run_metrics
from .plan import Plan, Point
from .stats import CONFIDENCE, Estimate, mean_ci


def _versions() -> dict[str, str | None]:
    from importlib import metadata

    out: dict[str, str | None] = {"python": platform.python_version()}
    for dist in ("qplane", "qplane-experiment", "numpy", "simpy", "pydantic", "pluggy", "networkx"):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[dist] = None
    return out


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
    def from_outcomes(cls, plan: Plan, tasks: list[Any], outcomes: dict[int, dict[str, Any]], *,
                       interrupted: bool, wall_s: float, executor: str, workers: int,
                       scheduler: str | None) -> "ExperimentResults":
        """Gather what :func:`~qplane_experiment.run.execute` ran: ``outcomes`` maps the index of
        each finished :class:`~qplane_experiment.run.RunTask` of ``tasks`` to what
        :func:`~qplane_experiment.run.run_one` returned."""
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

    def point_values(self, point: int, metric: str) -> dict[int, float]:
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
                e = mean_ci(list(self.point_values(p.index, m).values()))
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
                mine, theirs = self.point_values(p.index, m), self.point_values(b.index, m)
                common = sorted(set(mine) & set(theirs))
                e = mean_ci([mine[s] - theirs[s] for s in common])
                rows.append({"point": p.index, "grid": p.grid_label, "arm": p.arm_label, "baseline": b.arm_label,
                             "params": p.params, "metric": m, "n": e.n, "mean": e.mean, "sd": e.sd,
                             "ci_low": e.ci_low, "ci_high": e.ci_high, "excludes_zero": e.excludes_zero})
        return rows

    def estimate(self, metric: str, arm: str | int = 0, grid: int = 0) -> Estimate:
        """The :class:`Estimate` of ``metric`` for ``arm`` (label or index) at grid point ``grid``."""
        p = self._point(arm, grid)
        return mean_ci(list(self.point_values(p.index, metric).values()))

    def difference(self, metric: str, arm: str | int, grid: int = 0) -> Estimate:
        """The paired difference ``arm − first arm`` of ``metric`` at grid point ``grid``."""
        p = self._point(arm, grid)
        b = self._point(0, grid)
        mine, theirs = self.point_values(p.index, metric), self.point_values(b.index, metric)
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
            out[path] = v if isinstance(v, (int, float, str, bool)) or v is None else format_value(v)
        return out

    def flat_table(self, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
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

        return pd.DataFrame(self.flat_table(self.summary))

    @property
    def differences_frame(self) -> Any:
        """:attr:`differences` as a pandas DataFrame."""
        import pandas as pd

        return pd.DataFrame(self.flat_table(self.differences))

    # ------------------------------------------------------------------ text

    def table(self, metrics: Sequence[str] | None = None) -> str:
        """The terminal summary: a header, then per metric one row per point (by default the
        main metrics, and the applications' figures that some run has)."""
        if metrics is None:
            metrics = [*TABLE_METRICS, *(m for m in APPLICATION_METRICS
                                        if any(s["metric"] == m and s["mean"] is not None for s in self.summary))]
        ok = sum(r["ok"] for r in self.runs)
        n_arms = len({p.arm_index for p in self.points})
        n_grid = len({p.grid_index for p in self.points})
        shape = []
        if n_grid > 1:
            shape.append(count(n_grid, "grid point"))
        if n_arms > 1 or self.kind == "compare":
            shape.append(count(n_arms, "arm"))
        shape.append(count(len(self.seeds), "seed"))
        ex = self.provenance.get("executor")
        workers = self.provenance.get("workers")
        lines = [
            f"{self.name}: {' x '.join(shape)} = {count(self.planned, 'run')} on {ex}"
            f"{' (' + count(workers, 'worker') + ')' if ex != 'serial' and workers else ''} in {self.wall_s:.2f} s; "
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
                row = [format_value(p.grid[a.path]) for a in self.grid_axes]
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
        return files.experiment_document(self)

    def write(self, out_dir: str | Path, plots: bool = True) -> list[Path]:
        """Write ``runs.json``, ``runs.csv``, ``summary.csv``, ``differences.csv`` (and
        ``runs.parquet`` when pyarrow is installed, and the plots) into ``out_dir``."""
        return files.write_files(self, Path(out_dir), plots=plots)

    def plot(self, out_dir: str | Path, formats: Sequence[str] = ("png", "svg")) -> list[Path]:
        """Draw the plots that fit this experiment into ``out_dir`` (see :mod:`.plots`)."""
        return plots.plot_experiment(self, Path(out_dir), formats)
