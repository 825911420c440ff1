"""bench/scale.py --steady: the plumbing of the marginal cost per pair (two runs, one summary line).

Not a timed test: a 6-node chain, a few pairs; the figures themselves are in bench/README.md.
"""

from __future__ import annotations

import json
import pathlib
import sys

import pytest
from source_modules import load_source

SCALE = pathlib.Path(__file__).resolve().parents[1] / "bench" / "scale.py"


@pytest.fixture(scope="module")
def scale():
    return load_source(SCALE, "bench_scale")


def run(scale, monkeypatch, capsys, *argv: str) -> list[dict]:
    monkeypatch.setattr(sys, "argv", ["scale.py", *argv])
    scale.main()
    return [json.loads(line) for line in capsys.readouterr().out.splitlines()]


def test_steady_prints_both_runs_and_the_marginal(scale, monkeypatch, capsys):
    first, second, out = run(scale, monkeypatch, capsys, "--nodes", "6", "--cases", "chain", "--steady", "3,9", "--instant")
    assert (first["delivered"], second["delivered"]) == (3, 9)
    assert first["case"] == second["case"] == "scale-chain-6"
    assert (out["k1"], out["k2"], out["links"]) == (3, 9, 5)
    # the summary is the difference of the two runs divided by the pairs between them
    assert out["marginal_events_per_pair"] == round((second["events"] - first["events"]) / 6, 1)
    assert out["marginal_events_per_pair_per_link"] == pytest.approx(out["marginal_events_per_pair"] / 5, abs=1e-3)
    assert set(out) >= {"marginal_wall_s_per_pair", "marginal_us_per_link_per_pair", "marginal_cpu_us_per_link_per_pair",
                        "transient_over"}
    assert first["cpu_s"] > 0 and second["cpu_s"] > 0


def test_without_steady_one_line_as_before(scale, monkeypatch, capsys):
    (line,) = run(scale, monkeypatch, capsys, "--nodes", "6", "--cases", "chain", "--chain-pairs", "2", "--instant")
    assert line["delivered"] == 2 and "k1" not in line and line["wall_s_per_pair"] is not None


@pytest.mark.parametrize("bad", ["5,3", "4", "a,b", "0,2"])
def test_bad_steady_is_a_one_line_error(scale, monkeypatch, capsys, bad):
    monkeypatch.setattr(sys, "argv", ["scale.py", "--steady", bad])
    with pytest.raises(SystemExit) as exit_:
        scale.main()
    assert exit_.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert "--steady" in err and "K1" in err
