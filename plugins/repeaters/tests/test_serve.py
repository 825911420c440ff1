"""The 2g and 3g repeater generations served by the engine (``protocols.repeater``), checked
against closed forms with fixed seeds; tolerances are 4 standard errors."""

from __future__ import annotations

import itertools
import json
import math

import pytest

import qplane
from qplane.cli import main
from qplane_engine.sim import build

C = 2.0e5  # km/s in fibre


def chain(repeater: dict, nodes: int = 2, pairs: int = 2000, count: int = 3, fidelity: float = 0.9,
          backend: str = "stabilizer", **ops: float) -> dict:
    return {
        "name": "gen", "seed": 21, "duration": 100.0, "backend": backend,
        "topology": {"builder": "chain", "nodes": nodes, "spacing_km": 10.0},
        "hardware": {"memory": {"count": count, "coherence_time": None},
                     "link": {"scheme": "mim", "pair_fidelity": fidelity},
                     "operations": {"gate_error": 0.0, "measurement_error": 0.0, **ops}},
        "protocols": {"repeater": repeater},
        "requests": [{"src": "n0", "dst": f"n{nodes - 1}", "pairs": pairs}],
    }


def repetition_error(f: float) -> float:
    """One link of the 3-qubit repetition code from Werner pairs of fidelity ``f``, decoded:
    each pair's error on its qubit is I (1-p), X, Y, Z (p/3 each, p = 1 - f). The bit frame is
    wrong when two or more pairs carry X or Y (the code corrects one bit flip); the phase frame
    when an odd number carry Z or Y (the code does not protect phases). Enumerated exactly."""
    p = 1.0 - f
    probs = {"I": 1 - p, "X": p / 3, "Y": p / 3, "Z": p / 3}
    wrong = 0.0
    for errs in itertools.product("IXYZ", repeat=3):
        bits = sum(e in "XY" for e in errs)
        phases = sum(e in "ZY" for e in errs)
        if bits >= 2 or phases % 2:
            wrong += math.prod(probs[e] for e in errs)
    return wrong


def test_2g_logical_error_matches_the_repetition_code_closed_form() -> None:
    data = chain({"name": "2g", "code": "repetition", "ec": "none"}, pairs=3000)
    sim = build(qplane.load_scenario(data))
    f = next(iter(sim.network.links.values())).model.pair_state[0]
    res = sim.run()
    r = res["requests"][0]
    expected = 1.0 - repetition_error(f)
    se = math.sqrt(expected * (1 - expected) / r["delivered"])
    assert r["status"] == "completed" and abs(r["fidelity_mean"] - expected) < 4 * se, (r["fidelity_mean"], expected)
    row = res["extra"]["repeaters"]["requests"][0]
    assert row["physical_pairs_per_logical_pair"] == 3 and row["physical_qubits_per_node"] == {"end": 6, "inner": 12}


def test_2g_with_perfect_pairs_and_operations_never_errs() -> None:
    r = qplane.run(chain({"name": "2g", "code": "steane"}, nodes=3, pairs=300, count=7, fidelity=1.0))["requests"][0]
    assert r["status"] == "completed" and r["fidelity_mean"] == 1.0


def test_2g_rate_is_the_wait_for_the_slowest_of_n_heralds() -> None:
    """One hop, code of n = 3: a logical pair takes the time until all n memory pairs have
    heralded, M cycles (M: the largest of n geometric(p) attempt counts), plus the herald delay,
    the teleported CNOT and the swap step (bsm_duration each) and the outcome's classical delay;
    then the hop starts over. E[M] = sum_k P(M > k), P(M > k) = 1 - (1 - (1-p)^k)^n."""
    local = 2e-6
    data = chain({"name": "2g", "code": "repetition"}, pairs=3000, bsm_duration=local)
    sim = build(qplane.load_scenario(data))
    model = next(iter(sim.network.links.values())).model
    p, cycle, n = model.success_probability, model.cycle_time, 3
    tail = [1 - (1 - (1 - p) ** k) ** n for k in range(200_000)]
    mean_m = sum(tail)
    var_m = sum((2 * k + 1) * t for k, t in enumerate(tail)) - mean_m ** 2
    period = cycle * (mean_m - 1) + model.herald_delay + 2 * local + 10.0 / C
    res = sim.run()
    r = res["requests"][0]
    se = cycle * math.sqrt(var_m / r["delivered"]) / period  # relative
    assert r["rate_hz"] == pytest.approx(1 / period, rel=4 * se)


def test_3g_rate_is_p_to_the_n_over_the_operation_time_and_not_the_distance() -> None:
    def run(op: float, spacing: float, attenuation: float) -> dict:
        data = chain({"name": "3g", "code": "qpc(3,3)", "op_time_s": op}, nodes=4, pairs=4000)
        data["topology"]["spacing_km"] = spacing
        data["hardware"]["link"]["attenuation_db_per_km"] = attenuation
        return qplane.run(data)

    base = run(1e-6, 10.0, 0.2)
    row = base["extra"]["repeaters"]["requests"][0]
    assert row["success_probability"] == pytest.approx(row["hop_probabilities"][0] ** 3)
    r = base["requests"][0]
    rel = 1 / math.sqrt(r["delivered"])  # the count of a thinned stream: Poisson-like
    assert r["rate_hz"] == pytest.approx(row["rate_closed_form_hz"], rel=4 * rel)
    assert r["latency_mean_s"] == pytest.approx(3 * (10.0 / C + 1e-6))
    slower = run(2e-6, 10.0, 0.2)["requests"][0]
    assert slower["rate_hz"] == pytest.approx(r["rate_hz"] / 2, rel=6 * rel)  # twice the operation time: half
    farther = run(1e-6, 20.0, 0.1)["requests"][0]  # twice as long, the same loss per hop
    assert farther["rate_hz"] == pytest.approx(r["rate_hz"], rel=6 * rel)


def test_2g_needs_a_backend_with_clifford_gates_and_says_which(capsys, tmp_path) -> None:
    path = tmp_path / "g.json"
    path.write_text(json.dumps(chain({"name": "2g"}, backend="fidelity", count=7)))
    assert main(["validate", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "clifford-gates" in err and "stabilizer" in err and "'2g'" in err


def test_2g_without_a_block_of_memories_per_hop_says_how_many() -> None:
    r = qplane.run(chain({"name": "2g", "code": "steane"}, count=4, pairs=5))["requests"][0]
    assert r["status"] == "insufficient_resources"
    assert "needs 7 memories per link end" in r["reason"] and "n0-n1 has 4" in r["reason"], r["reason"]


def test_an_unknown_3g_code_is_one_line(capsys, tmp_path) -> None:
    path = tmp_path / "g.json"
    path.write_text(json.dumps(chain({"name": "3g", "code": "golay"})))
    assert main(["validate", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "protocols.repeater.code" in err and "qpc(n,m)" in err, err


def test_generations_compare_head_to_head(tmp_path) -> None:
    from pathlib import Path

    example = Path(__file__).resolve().parents[3] / "examples" / "generations.yaml"
    rates = {}
    for gen in ("1g", "2g", "3g"):
        res = qplane.run(example, overrides=[f"protocols.repeater={gen}"])
        r = res["requests"][0]
        assert r["status"] == "completed", (gen, r["reason"])
        rates[gen] = r["rate_hz"]
    assert rates["3g"] > rates["1g"] > rates["2g"]  # one-way beats heralding; 2g waits for 7 heralds per hop


def test_the_distance_sweep_of_the_generations_runs(tmp_path, monkeypatch) -> None:
    from pathlib import Path

    monkeypatch.chdir(tmp_path)
    example = Path(__file__).resolve().parents[3] / "examples" / "sweep-generations.yaml"
    assert main(["sweep", str(example), "--seeds", "1", "--jobs", "1", "--no-plots", "--no-progress"]) == 0
    runs = json.loads((tmp_path / "sweep-generations-sweep" / "runs.json").read_text())
    assert len(runs["runs"]) == 12 and all(r["ok"] for r in runs["runs"])
