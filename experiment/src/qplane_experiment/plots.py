"""Plots of an experiment (matplotlib, Agg; PNG and SVG), drawn by ``qplane compare`` /
``qplane sweep`` into their output folder:

* ``sweep.png`` — each main metric against the swept parameter, one line per arm (and per
  value of the other grid axes) with its 95% confidence band;
* ``rate-vs-distance.png`` — when the end-to-end distance changes across the grid: the rate
  against distance on a log scale, with the repeaterless (PLOB) bound ``-log2(1 - eta(L))``
  times the link's attempt rate for reference;
* ``compare.png`` — a bar per arm (grouped by grid point) with its 95% interval, and
  ``differences.png`` — each arm's paired difference against the first arm with its interval.

Figures are built on :class:`matplotlib.figure.Figure` (never ``pyplot``), so nothing global
changes and plotting is safe from any thread. Every figure is ``FIGSIZE`` inches at ``DPI``.
``exp`` is always an :class:`~qplane_experiment.results.ExperimentResults` (which draws its
plots with this module, so this module does not import it).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Sequence

from qplane import physics

from .grid import format_value, short_names
from .metrics import MAIN_METRICS, METRICS
from .stats import CONFIDENCE, mean_ci

FIGSIZE = (11.0, 8.0)
DPI = 100

_TITLES = {
    "rate_hz": "Rate (pairs/s, mean over requests)",
    "fidelity_mean": "Mean fidelity of delivered pairs",
    "latency_mean_s": "Mean pair latency (s)",
    "served_fraction": "Served fraction (delivered / requested)",
}
_UNITS = (("_db_per_km", "dB/km"), ("_km", "km"), ("_hz", "Hz"), ("_s", "s"))


def _axis_label(path: str) -> str:
    for suffix, unit in _UNITS:
        if path.endswith(suffix):
            return f"{path} ({unit})"
    return path


def _figure(title: str) -> tuple[Any, list[Any]]:
    from matplotlib.figure import Figure

    fig = Figure(figsize=FIGSIZE, dpi=DPI, layout="constrained")
    axes = fig.subplots(2, 2).ravel().tolist()
    fig.suptitle(title, fontsize=13)
    return fig, axes


def _save(fig: Any, out_dir: Path, stem: str, formats: Sequence[str]) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for fmt in formats:
        p = out_dir / f"{stem}.{fmt}"
        fig.savefig(p, format=fmt, dpi=DPI)
        paths.append(p)
    return paths


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _log_worthy(values: list[float]) -> bool:
    pos = [v for v in values if v is not None and v > 0]
    return len(pos) == len([v for v in values if v is not None]) and len(pos) > 1 and max(pos) / min(pos) > 30


def _ci_text() -> str:
    return f"{CONFIDENCE:.0%} CI"


# ------------------------------------------------------------------------- series


def _series(exp: Any, x_path: str) -> dict[str, list[tuple[Any, Any]]]:
    """label -> [(x value, point)] for every combination of the arms and the other grid axes."""
    others = [a.path for a in exp.grid_axes if a.path != x_path]
    names = short_names([a.path for a in exp.grid_axes + exp.arm_axes])
    out: dict[str, list[tuple[Any, Any]]] = {}
    for p in exp.points:
        parts = [f"{names[o]}={format_value(p.grid[o])}" for o in others]
        if p.arm_label:
            parts.append(p.arm_label)
        out.setdefault(", ".join(parts) or exp.name, []).append((p.grid[x_path], p))
    return out


def _x_axis(exp: Any) -> str | None:
    """The numeric grid axis with the most values (the first such on a tie), else the first axis."""
    numeric = [a for a in exp.grid_axes if all(_is_number(v) for v in a.values)]
    if numeric:
        return max(numeric, key=lambda a: len(a.values)).path
    return exp.grid_axes[0].path if exp.grid_axes else None


def _estimates(exp: Any, points: list[Any], metric: str) -> list[Any]:
    return [mean_ci(list(exp.point_values(p.index, metric).values())) for p in points]


# ------------------------------------------------------------------------- sweep


def plot_sweep(exp: Any, out_dir: Path, formats: Sequence[str] = ("png", "svg")) -> list[Path]:
    """Each main metric against the swept parameter, with confidence bands."""
    x_path = _x_axis(exp)
    if x_path is None:
        return []
    x_axis = next(a for a in exp.grid_axes if a.path == x_path)
    numeric = all(_is_number(v) for v in x_axis.values)
    categories = [format_value(v) for v in x_axis.values]
    fig, axes = _figure(f"{exp.name}: {len(exp.seeds)} seeds per point, mean and {_ci_text()}")
    series = _series(exp, x_path)
    for ax, metric in zip(axes, MAIN_METRICS):
        all_means = []
        for label, items in series.items():
            if numeric:
                items = sorted(items, key=lambda t: t[0])
                xs = [float(x) for x, _ in items]
            else:
                xs = [categories.index(format_value(x)) for x, _ in items]
            est = _estimates(exp, [p for _, p in items], metric)
            keep = [i for i, e in enumerate(est) if e.mean is not None]
            if not keep:
                continue
            x = [xs[i] for i in keep]
            mean = [est[i].mean for i in keep]
            all_means += mean
            line, = ax.plot(x, mean, marker="o", markersize=4, label=label)
            lo = [est[i].ci_low if est[i].ci_low is not None else est[i].mean for i in keep]
            hi = [est[i].ci_high if est[i].ci_high is not None else est[i].mean for i in keep]
            ax.fill_between(x, lo, hi, color=line.get_color(), alpha=0.2, linewidth=0)
        ax.set_title(_TITLES.get(metric, metric), fontsize=11)
        ax.set_xlabel(_axis_label(x_path))
        ax.set_ylabel(f"{metric}{f' ({METRICS[metric][1]})' if METRICS[metric][1] else ''}")
        if not numeric:
            ax.set_xticks(range(len(categories)), categories)
        if metric in ("rate_hz", "latency_mean_s") and _log_worthy(all_means):
            ax.set_yscale("log")
        ax.grid(True, alpha=0.3)
    handles, labels = axes[0].get_legend_handles_labels()
    if handles:
        fig.legend(handles, labels, loc="outside lower center", ncol=min(4, len(labels)), fontsize=9,
                   title=f"shaded: {_ci_text()} over seeds")
    return _save(fig, out_dir, "sweep", formats)


def plot_rate_vs_distance(exp: Any, out_dir: Path,
                          formats: Sequence[str] = ("png", "svg")) -> list[Path]:
    """Rate against end-to-end distance with the PLOB bound times the attempt rate; drawn only
    when the distance changes across the grid."""
    from matplotlib.figure import Figure

    dist: dict[int, float] = {}
    for r in exp.runs:
        d = (r["metrics"] or {}).get("distance_km") if r["ok"] else None
        if d is not None:
            dist.setdefault(r["point"], d)
    if len({round(d, 9) for d in dist.values()}) < 2:
        return []
    fig = Figure(figsize=FIGSIZE, dpi=DPI, layout="constrained")
    ax = fig.subplots()
    series: dict[str, list[Any]] = {}
    names = short_names([a.path for a in exp.grid_axes + exp.arm_axes])
    x_path = _x_axis(exp)
    for p in exp.points:
        if p.index not in dist:
            continue
        others = [f"{names[a.path]}={format_value(p.grid[a.path])}" for a in exp.grid_axes
                  if a.path != x_path and len(a.values) > 1]
        label = ", ".join(others + ([p.arm_label] if p.arm_label else [])) or "simulated"
        series.setdefault(label, []).append(p)
    lo_d, hi_d = min(dist.values()), max(dist.values())
    for label, pts in series.items():
        pts = sorted(pts, key=lambda p: dist[p.index])
        est = _estimates(exp, pts, "rate_hz")
        keep = [i for i, e in enumerate(est) if e.mean is not None and e.mean > 0]
        if not keep:
            continue
        x = [dist[pts[i].index] for i in keep]
        line, = ax.plot(x, [est[i].mean for i in keep], marker="o", label=f"{label} (mean, {_ci_text()})")
        ax.fill_between(x, [max(est[i].ci_low or est[i].mean, est[i].mean * 1e-3) for i in keep],
                        [est[i].ci_high or est[i].mean for i in keep], color=line.get_color(), alpha=0.2, linewidth=0)
    refs = {(p.link.get("attenuation_db_per_km"), p.link.get("attempt_rate_hz")) for p in exp.points
            if p.link.get("attenuation_db_per_km") is not None and p.link.get("attempt_rate_hz")}
    n = 200
    xs = [lo_d * 0.9 + (hi_d * 1.05 - lo_d * 0.9) * i / (n - 1) for i in range(n)]
    for alpha, rate in sorted(refs):
        ys = []
        for L in xs:
            eta = physics.fiber_transmissivity(L, alpha)
            ys.append(physics.plob_bound(eta) * rate if eta < 1.0 else math.nan)
        ax.plot(xs, ys, color="black", linestyle="--", linewidth=1.5,
                label=f"repeaterless bound (PLOB) -log2(1-eta) x {rate:.3g} attempts/s, {alpha:g} dB/km")
    ax.set_yscale("log")
    ax.set_xlabel("end-to-end distance (km)")
    ax.set_ylabel("rate (pairs/s)")
    ax.set_title(f"{exp.name}: rate against distance ({len(exp.seeds)} seeds per point)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=9)
    return _save(fig, out_dir, "rate-vs-distance", formats)


# ------------------------------------------------------------------------- compare


def _groups(exp: Any) -> tuple[list[int], list[int], dict[tuple[int, int], Any], dict[int, str]]:
    grids = sorted({p.grid_index for p in exp.points})
    arms = sorted({p.arm_index for p in exp.points})
    by = {(p.grid_index, p.arm_index): p for p in exp.points}
    glabels = {p.grid_index: p.grid_label for p in exp.points}
    return grids, arms, by, glabels


def plot_compare(exp: Any, out_dir: Path, formats: Sequence[str] = ("png", "svg")) -> list[Path]:
    """A bar per arm (grouped by grid point) with its confidence interval, one panel per metric."""
    grids, arms, by, glabels = _groups(exp)
    arm_labels = exp.arms
    fig, axes = _figure(f"{exp.name}: mean over {len(exp.seeds)} seeds, error bars {_ci_text()}")
    width = 0.8 / max(1, len(arms))
    colors = [f"C{i % 10}" for i in range(len(arms))]
    for ax, metric in zip(axes, MAIN_METRICS):
        for j, a in enumerate(arms):
            xs, means, err_lo, err_hi = [], [], [], []
            for gi, g in enumerate(grids):
                e = mean_ci(list(exp.point_values(by[(g, a)].index, metric).values()))
                if e.mean is None:
                    continue
                xs.append(gi + (j - (len(arms) - 1) / 2) * width)
                means.append(e.mean)
                err_lo.append(e.mean - e.ci_low if e.ci_low is not None else 0.0)
                err_hi.append(e.ci_high - e.mean if e.ci_high is not None else 0.0)
            ax.bar(xs, means, width=width * 0.95, yerr=[err_lo, err_hi], capsize=4, color=colors[j],
                   label=arm_labels[j] or exp.name, error_kw={"elinewidth": 1.2})
        if len(grids) > 1:
            ax.set_xticks(range(len(grids)), [glabels[g] for g in grids], rotation=20, ha="right", fontsize=8)
        else:
            ax.set_xticks([])
        ax.set_title(_TITLES.get(metric, metric), fontsize=11)
        ax.set_ylabel(f"{metric}{f' ({METRICS[metric][1]})' if METRICS[metric][1] else ''}")
        ax.grid(True, axis="y", alpha=0.3)
    handles, labels = axes[0].get_legend_handles_labels()
    if handles:
        fig.legend(handles, labels, loc="outside lower center", ncol=min(4, len(labels)), fontsize=9, title="arm")
    return _save(fig, out_dir, "compare", formats)


def plot_differences(exp: Any, out_dir: Path,
                     formats: Sequence[str] = ("png", "svg")) -> list[Path]:
    """Each arm's paired difference against the first arm, with its interval and a zero line."""
    from matplotlib.ticker import MaxNLocator

    if not exp.differences:
        return []
    grids, arms, by, glabels = _groups(exp)
    base = exp.arms[0]
    fig, axes = _figure(f"{exp.name}: paired difference against {base} "
                        f"(same {len(exp.seeds)} seeds), {_ci_text()}; red: the interval excludes 0")
    rows = [(g, a) for g in grids for a in arms if a != 0]
    labels = [", ".join(x for x in (glabels[g], exp.arms[a]) if x) for g, a in rows]
    for ax, metric in zip(axes, MAIN_METRICS):
        for i, (g, a) in enumerate(rows):
            e = exp.difference(metric, a, g)
            if e.mean is None:
                continue
            lo = e.mean - e.ci_low if e.ci_low is not None else 0.0
            hi = e.ci_high - e.mean if e.ci_high is not None else 0.0
            color = "C3" if e.excludes_zero else "C0"
            ax.errorbar([e.mean], [i], xerr=[[lo], [hi]], fmt="o", color=color, capsize=4)
        ax.axvline(0.0, color="black", linewidth=1)
        ax.set_yticks(range(len(rows)), labels, fontsize=8)
        ax.set_ylim(len(rows) - 0.5, -0.5)  # first arm on top
        ax.xaxis.set_major_locator(MaxNLocator(nbins=5))
        unit = METRICS[metric][1]
        ax.set_xlabel(f"{metric} difference{f' ({unit})' if unit else ''}")
        ax.set_title(_TITLES.get(metric, metric), fontsize=11)
        ax.grid(True, axis="x", alpha=0.3)
    return _save(fig, out_dir, "differences", formats)


def plot_experiment(exp: Any, out_dir: Path, formats: Sequence[str] = ("png", "svg")) -> list[Path]:
    """Every plot that fits: the sweep plot when there is a grid, the distance plot when the
    distance changes, the bar chart (and differences) when there are arms or no grid."""
    if not any(r["ok"] for r in exp.runs):
        return []
    paths: list[Path] = []
    if exp.grid_axes:
        paths += plot_sweep(exp, out_dir, formats)
        paths += plot_rate_vs_distance(exp, out_dir, formats)
    if exp.arm_axes or not exp.grid_axes:
        paths += plot_compare(exp, out_dir, formats)
        paths += plot_differences(exp, out_dir, formats)
    return paths
