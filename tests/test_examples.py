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
