"""Plots of an experiment (matplotlib, Agg; PNG and SVG), drawn by ``qplane compare`` /
``qplane sweep`` into their output folder:

* ``sweep.png`` — each main metric against the swept parameter, one line per arm (and per
  value of the other grid axes) with its 95% confidence band;
* ``rate-vs-distance.png`` — when the end-to-end distance changes across the grid: the rate
  against distance on a log scale, with the repeaterless (PLOB) bound ``-log2(1 - eta(L))``
  times the link's attempt rate for reference;
* ``compare.png`` — a bar per arm (grouped by grid point) with its 95% interval, and
  ``differences.png`` — each arm's paired difference against the first arm with its interval.

Axes speak words with units (``mean pair latency (ms)``; times in s, ms or us as the data suit,
fractions as percentages), from :data:`METRIC_AXES` and, for scenario fields, :data:`FIELD_WORDS`
(or words derived from the field's path); legends and tick labels say what varies
(``memories per link: 4``). Fidelity axes are zoomed to the data when the differences are small,
and then drawn as points with intervals (a bar's length means nothing on a cut axis).

Figures are built on :class:`matplotlib.figure.Figure` (never ``pyplot``), so nothing global
changes and plotting is safe from any thread. Every figure is ``FIGSIZE`` inches at ``DPI``.
``exp`` is always an :class:`~qplane_experiment.results.ExperimentResults` (which draws its
plots with this module, so this module does not import it).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Sequence

import qplane_physics as physics

from .grid import format_value
from .metrics import MAIN_METRICS, METRICS
from .stats import CONFIDENCE, mean_ci

FIGSIZE = (11.0, 8.0)
DPI = 100

#: a metric's axis: (words, unit, how values are shown). ``time``: seconds shown in s, ms or us,
#: whichever suits the data; ``percent``: a fraction shown as a percentage
METRIC_AXES: dict[str, tuple[str, str, str]] = {
    "rate_hz": ("delivered pairs per second", "pairs/s", ""),
    "fidelity_mean": ("mean fidelity of delivered pairs", "", ""),
    "fidelity_estimated_mean": ("controller's estimated fidelity", "", ""),
    "latency_mean_s": ("mean pair latency", "", "time"),
    "completion_time_mean_s": ("mean request completion time", "", "time"),
    "served_fraction": ("pairs served", "% of requested", "percent"),
    "completed_fraction": ("requests completed", "%", "percent"),
    "delivered": ("pairs delivered", "", ""),
}
#: words and unit of the scenario fields studies vary most (``requests.*``: any request)
FIELD_WORDS: dict[str, tuple[str, str]] = {
    "topology.spacing_km": ("link length", "km"),
    "topology.nodes": ("nodes", ""),
    "topology.rows": ("rows", ""),
    "topology.cols": ("columns", ""),
    "hardware.memory.count": ("memories per link", ""),
    "hardware.memory.coherence_time": ("memory coherence time", "s"),
    "hardware.memory.model": ("memory model", ""),
    "hardware.link.scheme": ("link scheme", ""),
    "hardware.link.attenuation_db_per_km": ("fibre attenuation", "dB/km"),
    "hardware.link.detector_efficiency": ("detector efficiency", ""),
    "hardware.link.emit_efficiency": ("emission efficiency", ""),
    "hardware.link.pair_fidelity": ("link pair fidelity", ""),
    "hardware.link.attempt_rate_hz": ("attempt rate", "Hz"),
    "hardware.link.visibility": ("interference visibility", ""),
    "hardware.operations.gate_error": ("gate error", ""),
    "hardware.operations.measurement_error": ("measurement error", ""),
    "protocols.routing": ("router", ""),
    "protocols.scheduling": ("scheduler", ""),
    "protocols.swapping": ("swapping", ""),
    "protocols.purification": ("purification", ""),
    "protocols.cutoff": ("cutoff", ""),
    "protocols.link_generation": ("link generation", ""),
    "protocols.topology_manager": ("topology manager", ""),
    "protocols.application": ("application", ""),
    "backend": ("state backend", ""),
    "duration": ("simulated duration", "s"),
    "requests.*.pairs": ("pairs requested", ""),
    "requests.*.rate": ("rate requested", "pairs/s"),
    "requests.*.min_fidelity": ("minimum fidelity", ""),
    "requests.*.priority": ("priority", ""),
}
_SUFFIX_UNITS = (("_db_per_km", "dB/km"), ("_km", "km"), ("_hz", "Hz"), ("_s", "s"))
_TIME_UNITS = ((1.0, "s"), (1e-3, "ms"), (1e-6, "\u00b5s"))


def field_words(path: str) -> tuple[str, str]:
    """(words, unit) of a dotted scenario field: from :data:`FIELD_WORDS`, else derived from the
    path (``protocols.purification.rounds`` -> ``purification rounds``, ``foo.spacing_km`` ->
    ``spacing``, ``km``)."""
    parts = path.split(".")
    generic = ".".join("*" if p.isdigit() else p for p in parts)
    if path in FIELD_WORDS or generic in FIELD_WORDS:
        words, unit = FIELD_WORDS.get(path) or FIELD_WORDS[generic]
    else:
        leaf, unit = parts[-1], ""
        for suffix, u in _SUFFIX_UNITS:
            if leaf.endswith(suffix) and len(leaf) > len(suffix):
                leaf, unit = leaf[: -len(suffix)], u
                break
        words = leaf.replace("_", " ")
        owner = ".".join(parts[:-1])
        if owner in FIELD_WORDS:  # a component's parameter: say whose
            words = f"{FIELD_WORDS[owner][0]} {words}"
    request = next((parts[i + 1] for i, p in enumerate(parts[:-1]) if p == "requests" and parts[i + 1].isdigit()), None)
    return (f"{words} (request {request})" if request is not None else words), unit


def axis_label(path: str) -> str:
    """``link length (km)``: a field's words with its unit."""
    words, unit = field_words(path)
    return f"{words} ({unit})" if unit else words


def value_label(path: str, value: Any) -> str:
    """``memories per link: 4``, ``link length: 20 km``, ``purification: dejmps``."""
    words, unit = field_words(path)
    shown = format_value(value)
    return f"{words}: {shown}{f' {unit}' if unit and _is_number(value) else ''}"


def values_label(values: dict[str, Any]) -> str:
    return ", ".join(value_label(p, v) for p, v in values.items())


def metric_scale(metric: str, values: Sequence[float | None] = ()) -> tuple[str, float]:
    """(axis label, factor to multiply the values by) of a metric, its unit chosen for ``values``."""
    words, unit, kind = METRIC_AXES.get(metric, (metric.replace("_", " "), METRICS.get(metric, ("", ""))[1], ""))
    factor = 1.0
    if kind == "percent":
        factor = 100.0
    elif kind == "time":
        finite = sorted(abs(v) for v in values if v is not None and math.isfinite(v) and v != 0)
        typical = finite[len(finite) // 2] if finite else 1.0
        scale, unit = next(((f, u) for f, u in _TIME_UNITS if typical >= f), _TIME_UNITS[-1])
        factor = 1.0 / scale
    return (f"{words} ({unit})" if unit else words), factor


def _metric_values(exp: Any, metric: str) -> list[float | None]:
    return [mean_ci(list(exp.point_values(p.index, metric).values())).mean for p in exp.points]


def _zoom(ax: Any, lows: list[float], highs: list[float], metric: str) -> bool:
    """Fidelity axes: zoomed to the data (intervals included) when the differences are small,
    so that a 0.035 difference is not a flat line; within [0, 1] but for a margin. True when zoomed."""
    if not metric.startswith("fidelity") or not lows:
        return False
    lo, hi = min(lows), max(highs)
    if hi - lo >= 0.3:
        return False
    pad = 0.25 * max(hi - lo, 0.004)
    ax.set_ylim(max(0.0, lo - pad), min(1.0 + pad / 2, hi + pad))
    return True


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


def _columns(labels: list[str]) -> int:
    """Legend columns that fit the figure's width: fewer for long labels."""
    return max(1, min(4, len(labels), 110 // (max(len(x) for x in labels) + 8)))


def _ci_text() -> str:
    return f"{CONFIDENCE:.0%} CI"


# ------------------------------------------------------------------------- series


def _series(exp: Any, x_path: str) -> dict[str, list[tuple[Any, Any]]]:
    """label -> [(x value, point)] for every combination of the arms and the other grid axes;
    the label in words, ``memories per link: 4``."""
    others = [a.path for a in exp.grid_axes if a.path != x_path]
    out: dict[str, list[tuple[Any, Any]]] = {}
    for p in exp.points:
        label = values_label({**{o: p.grid[o] for o in others}, **p.arm})
        out.setdefault(label or exp.name, []).append((p.grid[x_path], p))
    return out


def _x_axis(exp: Any) -> str | None:
    """The numeric grid axis with the most values (the first such on a tie), else the first axis."""
    numeric = [a for a in exp.grid_axes if all(_is_number(v) for v in a.values)]
    if numeric:
        return max(numeric, key=lambda a: len(a.values)).path
    return exp.grid_axes[0].path if exp.grid_axes else None


def _estimates(exp: Any, points: list[Any], metric: str) -> list[Any]:
    return [mean_ci(list(exp.point_values(p.index, metric).values())) for p in points]


def _seeds(exp: Any) -> str:
    n = len(exp.seeds)
    return f"{n} seed{'' if n == 1 else 's'}"


# ------------------------------------------------------------------------- sweep


def plot_sweep(exp: Any, out_dir: Path, formats: Sequence[str] = ("png", "svg")) -> list[Path]:
    """Each main metric against the swept parameter, with confidence bands."""
    x_path = _x_axis(exp)
    if x_path is None:
        return []
    x_axis = next(a for a in exp.grid_axes if a.path == x_path)
    numeric = all(_is_number(v) for v in x_axis.values)
    categories = [format_value(v) for v in x_axis.values]
    fig, axes = _figure(f"{exp.name}: mean over {_seeds(exp)} per point, shaded: {_ci_text()}")
    series = _series(exp, x_path)
    for ax, metric in zip(axes, MAIN_METRICS):
        ylabel, factor = metric_scale(metric, _metric_values(exp, metric))
        all_means, lows, highs = [], [], []
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
            mean = [est[i].mean * factor for i in keep]
            all_means += mean
            line, = ax.plot(x, mean, marker="o", markersize=4, label=label)
            lo = [(est[i].ci_low if est[i].ci_low is not None else est[i].mean) * factor for i in keep]
            hi = [(est[i].ci_high if est[i].ci_high is not None else est[i].mean) * factor for i in keep]
            lows += lo
            highs += hi
            ax.fill_between(x, lo, hi, color=line.get_color(), alpha=0.2, linewidth=0)
        ax.set_xlabel(axis_label(x_path))
        ax.set_ylabel(ylabel)
        if not numeric:
            ax.set_xticks(range(len(categories)), categories)
        if metric in ("rate_hz", "latency_mean_s") and _log_worthy(all_means):
            ax.set_yscale("log")
        elif METRIC_AXES.get(metric, ("", "", ""))[2] == "percent" and all_means:
            ax.set_ylim(0.0, 105.0)
        _zoom(ax, lows, highs, metric)
        ax.grid(True, alpha=0.3)
    handles, labels = axes[0].get_legend_handles_labels()
    if handles and labels != [exp.name]:
        fig.legend(handles, labels, loc="outside lower center", ncol=_columns(labels), fontsize=9)
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
    x_path = _x_axis(exp)
    for p in exp.points:
        if p.index not in dist:
            continue
        others = {a.path: p.grid[a.path] for a in exp.grid_axes if a.path != x_path and len(a.values) > 1}
        label = values_label({**others, **p.arm}) or "simulated"
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
                label=f"repeaterless bound (PLOB): -log2(1-\u03b7) \u00d7 {rate:.3g} attempts/s, fibre {alpha:g} dB/km")
    ax.set_yscale("log")
    ax.set_xlabel("end-to-end distance (km)")
    ax.set_ylabel(metric_scale("rate_hz")[0])
    ax.set_title(f"{exp.name}: rate against distance, mean over {_seeds(exp)} per point")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=9)
    return _save(fig, out_dir, "rate-vs-distance", formats)


# ------------------------------------------------------------------------- compare


def _groups(exp: Any) -> tuple[list[int], list[int], dict[tuple[int, int], Any], dict[int, str]]:
    grids = sorted({p.grid_index for p in exp.points})
    arms = sorted({p.arm_index for p in exp.points})
    by = {(p.grid_index, p.arm_index): p for p in exp.points}
    glabels = {p.grid_index: values_label(p.grid) for p in exp.points}
    return grids, arms, by, glabels


def _words(values: dict[int, dict[str, Any]], paths: list[str]) -> tuple[str, dict[int, str], dict[int, str]]:
    """What varies, in words (``purification``; several: ``purification / link pair fidelity``),
    each group's short label (its values: ``dejmps``; several, one per line) and its full label
    (``purification: dejmps, link pair fidelity: 0.9``); ``values``: index -> field values."""

    def shown(path: str, v: Any) -> str:
        unit = field_words(path)[1]
        return format_value(v) + (f" {unit}" if unit and _is_number(v) else "")

    short = {i: "\n".join(shown(p, vs[p]) for p in paths if p in vs) for i, vs in values.items()}
    return " / ".join(field_words(p)[0] for p in paths), short, {i: values_label(vs) for i, vs in values.items()}


def _arm_words(exp: Any) -> tuple[str, dict[int, str], dict[int, str]]:
    return _words({p.arm_index: p.arm for p in exp.points}, [a.path for a in exp.arm_axes])


def plot_compare(exp: Any, out_dir: Path, formats: Sequence[str] = ("png", "svg")) -> list[Path]:
    """A bar per arm (grouped by grid point) with its confidence interval, one panel per metric;
    fidelity as points with intervals on an axis zoomed to them when they differ little."""
    grids, arms, by, glabels = _groups(exp)
    varied, arm_names, _ = _arm_words(exp)
    gvaried, gshort, _ = _words({p.grid_index: p.grid for p in exp.points}, [a.path for a in exp.grid_axes])
    fig, axes = _figure(f"{exp.name}: mean over {_seeds(exp)}, error bars {_ci_text()}")
    width = 0.8 / max(1, len(arms))
    colors = [f"C{i % 10}" for i in range(len(arms))]
    for ax, metric in zip(axes, MAIN_METRICS):
        ylabel, factor = metric_scale(metric, _metric_values(exp, metric))
        per_arm, lows, highs = [], [], []
        for j, a in enumerate(arms):
            xs, means, err_lo, err_hi = [], [], [], []
            for gi, g in enumerate(grids):
                e = mean_ci(list(exp.point_values(by[(g, a)].index, metric).values()))
                if e.mean is None:
                    continue
                xs.append(gi + (j - (len(arms) - 1) / 2) * width)
                means.append(e.mean * factor)
                err_lo.append((e.mean - e.ci_low) * factor if e.ci_low is not None else 0.0)
                err_hi.append((e.ci_high - e.mean) * factor if e.ci_high is not None else 0.0)
            per_arm.append((j, a, xs, means, err_lo, err_hi))
            lows += [m - lo for m, lo in zip(means, err_lo)]
            highs += [m + hi for m, hi in zip(means, err_hi)]
        zoomed = _zoom(ax, lows, highs, metric)
        if zoomed:
            ax.text(0.01, 0.99, "axis zoomed", transform=ax.transAxes, ha="left", va="top", fontsize=8, color="0.4")
        for j, a, xs, means, err_lo, err_hi in per_arm:
            label = arm_names.get(a, "").replace("\n", " / ") or exp.name
            if zoomed:  # a bar's length means nothing on a cut axis: points with their intervals
                ax.errorbar(xs, means, yerr=[err_lo, err_hi], fmt="o", markersize=8, capsize=5, color=colors[j],
                            label=label, elinewidth=1.5)
            else:
                ax.bar(xs, means, width=width * 0.95, yerr=[err_lo, err_hi], capsize=4, color=colors[j],
                       label=label, error_kw={"elinewidth": 1.2})
        if len(grids) > 1:  # groups named by their grid values, one per line; the axis says which
            ax.set_xticks(range(len(grids)), [gshort[g] for g in grids], fontsize=8,
                          rotation=30 if len(grids) > 8 else 0, ha="right" if len(grids) > 8 else "center")
            ax.set_xlabel(gvaried)
        else:  # one group: each bar named under it
            ticks = [(j - (len(arms) - 1) / 2) * width for j in range(len(arms))]
            ax.set_xticks(ticks, [arm_names.get(a) or exp.name for a in arms], fontsize=9,
                          rotation=30 if len(arms) > 5 else 0, ha="right" if len(arms) > 5 else "center")
            ax.set_xlabel(varied)
            ax.set_xlim(-0.5, 0.5)
        if METRIC_AXES.get(metric, ("", "", ""))[2] == "percent" and highs:
            ax.set_ylim(0.0, max(105.0, max(highs) * 1.02))
        ax.set_ylabel(ylabel)
        ax.grid(True, axis="y", alpha=0.3)
    handles, labels = axes[0].get_legend_handles_labels()
    if handles and len(grids) > 1:  # several groups: the legend names the arms
        fig.legend(handles, labels, loc="outside lower center", ncol=_columns(labels), fontsize=9, title=varied)
    return _save(fig, out_dir, "compare", formats)


def plot_differences(exp: Any, out_dir: Path,
                     formats: Sequence[str] = ("png", "svg")) -> list[Path]:
    """Each arm's paired difference against the first arm, with its interval and a zero line."""
    from matplotlib.ticker import MaxNLocator

    if not exp.differences:
        return []
    grids, arms, by, glabels = _groups(exp)
    _, _, arm_names = _arm_words(exp)
    base = arm_names.get(arms[0]) or exp.arms[0]
    fig, axes = _figure(f"{exp.name}: difference against {base}\n"
                        f"paired over the same {_seeds(exp)}, {_ci_text()}; red: the interval excludes 0")
    rows = [(g, a) for g in grids for a in arms if a != arms[0]]
    labels = [", ".join(x for x in (glabels[g], arm_names.get(a, "")) if x) for g, a in rows]
    for ax, metric in zip(axes, MAIN_METRICS):
        xlabel, factor = metric_scale(metric, _metric_values(exp, metric))
        for i, (g, a) in enumerate(rows):
            e = exp.difference(metric, a, g)
            if e.mean is None:
                continue
            lo = (e.mean - e.ci_low) * factor if e.ci_low is not None else 0.0
            hi = (e.ci_high - e.mean) * factor if e.ci_high is not None else 0.0
            color = "C3" if e.excludes_zero else "C0"
            ax.errorbar([e.mean * factor], [i], xerr=[[lo], [hi]], fmt="o", color=color, capsize=4)
        ax.axvline(0.0, color="black", linewidth=1)
        ax.set_yticks(range(len(rows)), labels, fontsize=8)
        ax.set_ylim(len(rows) - 0.5, -0.5)  # first arm on top
        ax.xaxis.set_major_locator(MaxNLocator(nbins=5))
        ax.set_xlabel(f"\u0394 {xlabel}")
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
