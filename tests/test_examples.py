"""Every scenario in examples/ validates and runs, and shows what it is there to show."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

import qplane
from qplane.cli import main

# parameter studies (fields given as lists of values) run with `qplane sweep`: experiment/tests/test_sweep.py
EXAMPLES = sorted(p for p in (Path(__file__).resolve().parent.parent / "examples").glob("*.yaml")
                  if not p.name.startswith("sweep-"))


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_example_runs_from_the_cli(path, tmp_path, capsys):
    assert main(["validate", str(path)]) == 0
    assert main(["run", str(path), "--json", str(tmp_path / "r.json")]) == 0
    out = capsys.readouterr().out
    assert "completed" in out


def _distinct(a: dict, b: dict) -> float:
    """a's fidelity minus b's, in units of their combined standard error."""
    return (a["fidelity_mean"] - b["fidelity_mean"]) / math.hypot(a["fidelity_stderr"], b["fidelity_stderr"])


def test_purification_example_purified_rows_beat_the_plain_one():
    res = qplane.run(EXAMPLES[0].parent / "purification.yaml")
    none, bbpssw, dejmps, pumping = res["requests"]
    assert [r["protocols"]["purification"] for r in res["requests"]] == ["none", "bbpssw", "dejmps", "pumping"]
    for r in (bbpssw, dejmps, pumping):
        assert _distinct(r, none) > 3  # better fidelity ...
        assert r["rate_hz"] < none["rate_hz"]  # ... paid for in rate


def test_swapping_example_cutoff_trades_rate_for_fidelity():
    res = qplane.run(EXAMPLES[0].parent / "swapping.yaml")
    asap, nested, cutoff = res["requests"]
    assert [r["protocols"]["swapping"] for r in res["requests"]] == ["asap", "nested", "asap"]
    assert cutoff["protocols"]["cutoff"] == "age" and asap["protocols"]["cutoff"] == "none"
    assert _distinct(cutoff, asap) > 3 and cutoff["rate_hz"] < asap["rate_hz"]
    assert abs(_distinct(asap, nested)) > 3  # the strategies really differ


def test_routing_kinds_example_hybrid_is_fastest_and_the_proactive_path_the_cleanest():
    """The three kinds of routing on the metro network (examples/routing-kinds.yaml): virtual links
    complete the busy pairs' short requests soonest (a stocked pair waits for them), fixed paths
    deliver the best fidelity (fresh pairs, no pool or stock storage), the reactive pool the most
    pairs per second once a request is served."""
    from qplane_experiment.metrics import run_metrics

    kinds = ("shortest-path", "reactive", "hybrid", "opportunistic")
    figures: dict[str, list[dict]] = {k: [] for k in kinds}
    for seed in (1, 2, 3):
        for kind in kinds:
            sc = qplane.load_scenario(EXAMPLES[0].parent / "routing-kinds.yaml",
                                      overrides=[f"seed={seed}", f"protocols.routing={kind}"])
            res = qplane.run(sc)
            figures[kind].append(run_metrics(res))
            if kind == "hybrid":
                assert len(res["extra"]["virtual_links"]) == 2  # the two busiest pairs, chosen from demand

    def mean(kind: str, metric: str) -> float:
        return sum(f[metric] for f in figures[kind]) / len(figures[kind])

    assert mean("hybrid", "completion_time_mean_s") < min(mean(k, "completion_time_mean_s") for k in kinds if k != "hybrid")
    assert mean("shortest-path", "fidelity_mean") > max(mean(k, "fidelity_mean") for k in kinds if k != "shortest-path")
    assert mean("reactive", "rate_hz") > max(mean(k, "rate_hz") for k in kinds if k != "reactive")
