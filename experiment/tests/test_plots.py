"""Plots a scientist would publish: axes in words with units, legends that say what varies,
fidelity axes zoomed to small differences, each compare bar named under it.

The figures are caught as they are saved and read back through matplotlib's own API (labels,
tick labels, legend texts, limits), on small real experiments.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from qplane_experiment import compare, plots, sweep

ROOT = Path(__file__).resolve().parents[2]
COMPARE = ROOT / "examples" / "compare-purification.yaml"
SWEEP = ROOT / "examples" / "sweep-distance.yaml"


@pytest.fixture
def figures(monkeypatch):
    """stem -> the Figure each plot function saved."""
    caught: dict[str, object] = {}

    def save(fig, out_dir, stem, formats):
        caught[stem] = fig
        return [Path(out_dir) / f"{stem}.png"]

    monkeypatch.setattr(plots, "_save", save)
    return caught


def _texts(items) -> list[str]:
    return [t.get_text() for t in items]


def test_field_words_known_derived_and_per_request():
    assert plots.field_words("hardware.memory.count") == ("memories per link", "")
    assert plots.axis_label("topology.spacing_km") == "link length (km)"
    assert plots.value_label("hardware.memory.count", 4) == "memories per link: 4"
    assert plots.value_label("topology.spacing_km", 20) == "link length: 20 km"
    assert plots.value_label("protocols.purification", {"name": "pumping", "rounds": 2}) == "purification: pumping(rounds=2)"
    # not in the table: words from the path, the unit from its suffix, the owner's words for a parameter
    assert plots.field_words("hardware.link.herald_delay_s") == ("herald delay", "s")
    assert plots.field_words("protocols.purification.rounds") == ("purification rounds", "")
    assert plots.field_words("requests.1.min_fidelity") == ("minimum fidelity (request 1)", "")


def test_metric_units_are_chosen_for_the_data():
    assert plots.metric_scale("latency_mean_s", [0.0011, 0.0018]) == ("mean pair latency (ms)", 1e3)
    assert plots.metric_scale("latency_mean_s", [2e-5, 4e-5])[0] == "mean pair latency (\u00b5s)"
    assert plots.metric_scale("latency_mean_s", [1.5, 3.0]) == ("mean pair latency (s)", 1.0)
    assert plots.metric_scale("served_fraction", [1.0]) == ("pairs served (% of requested)", 100.0)
    assert plots.metric_scale("rate_hz", [10.0])[0] == "delivered pairs per second (pairs/s)"


def test_compare_plot_names_bars_zooms_fidelity_and_speaks_words(figures, tmp_path):
    exp = compare(COMPARE, vary={"protocols.purification": ["none", "dejmps"]}, seeds=3, executor="serial",
                  overrides=["requests.0.pairs=60"])
    plots.plot_experiment(exp, tmp_path)
    assert {"compare", "differences"} <= set(figures)
    fig = figures["compare"]
    panels = {ax.get_ylabel(): ax for ax in fig.axes}
    for label in panels:
        assert "_" not in label, f"a raw field name on an axis: {label!r}"
    assert "mean pair latency (ms)" in panels and "delivered pairs per second (pairs/s)" in panels
    fid_label = next(label for label in panels if label.startswith("mean fidelity"))
    fid = panels[fid_label]
    for ax in fig.axes:  # every bar is named under it, and the axis says what varies
        assert _texts(ax.get_xticklabels()) == ["none", "dejmps"]
        assert ax.get_xlabel() == "purification"
    # the fidelities differ by a few hundredths: the axis is zoomed to them, not drawn from 0
    means = [exp.summary_frame.query("metric == 'fidelity_mean'")["mean"].tolist()][0]
    lo, hi = fid.get_ylim()
    assert lo > 0.5 and hi - lo < 0.3, (lo, hi, means)
    assert all(lo < m < hi for m in means)
    assert "axis zoomed" in _texts(fid.texts)
    assert panels["delivered pairs per second (pairs/s)"].get_ylim()[0] == 0.0  # rates: bars from 0

    diff = figures["differences"]
    assert all(ax.get_xlabel().startswith("\u0394 ") and "_" not in ax.get_xlabel() for ax in diff.axes)
    assert "purification: none" in diff.get_suptitle()
    assert all(_texts(ax.get_yticklabels()) == ["purification: dejmps"] for ax in diff.axes)


def test_sweep_legend_says_what_varies_and_axes_have_units(figures, tmp_path):
    exp = sweep(SWEEP, seeds=2, executor="serial",
                overrides=["topology.spacing_km=[5, 20, 60]", "requests.0.pairs=20"])
    plots.plot_experiment(exp, tmp_path)
    fig = figures["sweep"]
    assert all(ax.get_xlabel() == "link length (km)" for ax in fig.axes)
    assert {ax.get_ylabel() for ax in fig.axes} == {
        "delivered pairs per second (pairs/s)", "mean fidelity of delivered pairs", "mean pair latency (ms)",
        "pairs served (% of requested)"}
    legend = fig.legends[0]
    assert _texts(legend.get_texts()) == ["memories per link: 1", "memories per link: 4"]
    dist = figures["rate-vs-distance"]
    texts = _texts(dist.axes[0].get_legend().get_texts())
    assert texts[:2] == ["memories per link: 1 (mean, 95% CI)", "memories per link: 4 (mean, 95% CI)"]
    assert dist.axes[0].get_ylabel() == "delivered pairs per second (pairs/s)"


def test_fidelity_axis_is_not_zoomed_when_the_values_are_far_apart(tmp_path):
    from matplotlib.figure import Figure

    ax = Figure().subplots()
    assert plots._zoom(ax, [0.3, 0.9], [0.35, 0.95], "fidelity_mean") is False
    assert plots._zoom(ax, [0.78, 0.81], [0.79, 0.83], "rate_hz") is False  # only fidelity axes
    assert plots._zoom(ax, [0.78, 0.81], [0.79, 0.83], "fidelity_mean") is True
    lo, hi = ax.get_ylim()
    assert 0.75 < lo < 0.78 and 0.83 < hi < 0.86 and not math.isnan(lo)
