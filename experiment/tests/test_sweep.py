"""``qplane sweep`` and :func:`qplane_experiment.sweep`: OMNeT++-style parameter studies — list-valued
fields make the grid, ``repetitions`` the seeds — their tables, files and plots."""

from __future__ import annotations

import json
import struct
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import yaml

import qplane_experiment
import qplane_physics as physics
from qplane.cli import main
from qplane.scenario import yaml_load
from qplane_devkit.conformance import chain_scenario
from qplane_experiment import plots

ROOT = Path(__file__).resolve().parents[2]
EXPECTED_PX = (int(plots.FIGSIZE[0] * plots.DPI), int(plots.FIGSIZE[1] * plots.DPI))


pytestmark = pytest.mark.usefixtures("default_plugin_loading")  # see the root conftest.py


def _png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR", f"{path} is not a PNG"
    return struct.unpack(">II", data[16:24])


def _check_plot(out: Path, stem: str) -> None:
    assert _png_size(out / f"{stem}.png") == EXPECTED_PX
    assert ET.parse(out / f"{stem}.svg").getroot().tag.endswith("svg")


def study() -> dict:
    sc = chain_scenario(3, pairs=20, count=[1, 2], coherence_time=0.05, pair_fidelity=0.95)
    sc["topology"]["spacing_km"] = [10, 30, 50]
    sc["repetitions"] = 3
    sc["requests"].append({"src": "n0", "dst": "n1", "pairs": 5})  # a list the schema declares: kept
    return sc


def test_the_grid_is_every_combination_times_the_repetitions():
    res = qplane_experiment.sweep(study(), executor="serial")
    assert [a.path for a in res.grid_axes] == ["topology.spacing_km", "hardware.memory.count"]
    assert len(res.points) == 6 and len(res.seeds) == 3 and len(res.runs) == 18
    combos = {(p.grid["topology.spacing_km"], p.grid["hardware.memory.count"]) for p in res.points}
    assert combos == {(s, c) for s in (10, 30, 50) for c in (1, 2)}
    for r in res.runs:
        sc = r["scenario"]
        assert sc["topology"]["spacing_km"] == r["params"]["topology.spacing_km"]
        assert sc["hardware"]["memory"]["count"] == r["params"]["hardware.memory.count"]
        assert len(sc["requests"]) == 2 and r["ok"]
    # the same seeds at every point (common random numbers across the grid)
    assert {tuple(r["seed"] for r in res.runs if r["point"] == p.index) for p in res.points} == {tuple(res.seeds)}
    df = res.dataframe
    assert len(df) == 18 and {"topology.spacing_km", "hardware.memory.count", "distance_km"} <= set(df.columns)
    assert all(s["n"] == 3 for s in res.summary if s["metric"] == "rate_hz")
    assert res.differences == []  # no arms: nothing to pair
    # the rate falls with distance
    rate = {(p.grid["topology.spacing_km"], p.grid["hardware.memory.count"]): res.estimate("rate_hz", 0, p.grid_index).mean
            for p in res.points}
    for c in (1, 2):
        assert rate[(10, c)] > rate[(30, c)] > rate[(50, c)]


def test_vary_adds_arms_compared_at_every_grid_point():
    sc = chain_scenario(3, pairs=20, coherence_time=0.05)
    sc["topology"]["spacing_km"] = [10, 40]
    res = qplane_experiment.sweep(sc, {"hardware.link.pair_fidelity": [0.95, 0.85]}, seeds=3, executor="serial")
    assert len(res.points) == 4 and res.arms == ["pair_fidelity=0.95", "pair_fidelity=0.85"]
    fid = [d for d in res.differences if d["metric"] == "fidelity_mean"]
    assert len(fid) == 2 and all(d["excludes_zero"] and d["mean"] < 0 for d in fid)
    assert {d["grid"] for d in fid} == {"spacing_km=10", "spacing_km=40"}


def test_a_name_axis_and_a_plain_repetition_study_plot(tmp_path):
    sc = chain_scenario(3, pairs=20, coherence_time=0.05, pair_fidelity=0.9)
    sc["protocols"]["purification"] = ["none", "dejmps"]  # names: a categorical axis
    res = qplane_experiment.sweep(sc, seeds=2, executor="serial", out=tmp_path / "names")
    assert [a.path for a in res.grid_axes] == ["protocols.purification"]
    _check_plot(tmp_path / "names", "sweep")
    assert not (tmp_path / "names" / "rate-vs-distance.png").exists()  # the distance does not change

    plain = qplane_experiment.sweep(chain_scenario(3, pairs=20), seeds=3, executor="serial", out=tmp_path / "plain")
    assert len(plain.points) == 1 and len(plain.runs) == 3
    _check_plot(tmp_path / "plain", "compare")


def test_sweep_example_from_the_readme(tmp_path, capsys):
    """README: qplane sweep examples/sweep-distance.yaml"""
    example = ROOT / "examples" / "sweep-distance.yaml"
    out = tmp_path / "distance"
    assert main(["sweep", str(example), "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "14 grid points x 6 seeds = 84 runs" in text and "spacing_km" in text and "count" in text
    for stem in ("sweep", "rate-vs-distance"):
        _check_plot(out, stem)
    doc = json.loads((out / "runs.json").read_text())
    assert doc["kind"] == "sweep" and len(doc["runs"]) == 84 and all(r["ok"] for r in doc["runs"])
    link = yaml_load(example.read_text())["hardware"]["link"]
    for s in doc["summary"]:
        if s["metric"] != "rate_hz":
            continue
        spacing = s["params"]["topology.spacing_km"]
        # a repeater's rate stays under the repeaterless bound of the whole distance at this attempt rate
        eta = physics.fiber_transmissivity(2 * spacing, 0.2)
        assert 0 < s["mean"] < physics.plob_bound(eta) * link["attempt_rate_hz"]


def test_cli_sweep_dry_run_validates_without_running(tmp_path, capsys):
    path = tmp_path / "study.yaml"
    path.write_text(yaml.safe_dump(study()), encoding="utf-8")
    assert main(["sweep", str(path), "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "6 grid points x 1 arm x 3 seeds = 18 runs, every one valid" in out
    assert not list(tmp_path.glob("*-sweep"))
    bad = study()
    bad["topology"]["spacing_km"] = [10, -30]
    path.write_text(yaml.safe_dump(bad), encoding="utf-8")
    assert main(["sweep", str(path), "--dry-run"]) == 2
    err = capsys.readouterr().err
    assert "topology.spacing_km" in err and "spacing_km=-30" in err
