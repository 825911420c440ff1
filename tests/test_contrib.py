"""The contrib plugins, used from this checkout without installing them (their own test suites
run against an installed copy in ``test_contrib_install.py``):

* ``qplane-qkd``'s BBM92 application: the QBER of Werner pairs is ``2(1-F)/3`` on every backend
  (sampled from the fidelity on ``fidelity``, measured on ``stabilizer`` and ``density``), and the
  key rate is ``r = 1 - 2 h(Q)`` times the sifted pair rate;
* ``qplane-qos-router``'s ``fidelity-constrained`` router against qplane's own routers.
"""

from __future__ import annotations

import importlib
import math
import sys
from pathlib import Path

import pytest

from qplane_devkit.conformance import run_scenario, scenario

CONTRIB = Path(__file__).resolve().parents[1] / "contrib"
SIGMAS = 4.0


def _import(folder: str, module: str):
    src = str(CONTRIB / folder / "src")
    if src not in sys.path:
        sys.path.insert(0, src)
    return importlib.import_module(module)


qkd_plugin = _import("qkd", "qplane_qkd.plugin")
bbm92 = _import("qkd", "qplane_qkd.bbm92")
qos_plugin = _import("qos-router", "qplane_qos_router.plugin")


pytestmark = pytest.mark.usefixtures("default_plugin_loading")  # see the root conftest.py


def werner_link(fidelity: float, pairs: int, backend: str, **app) -> dict:
    """One link whose every delivered pair is a Werner pair of ``fidelity`` (no storage noise)."""
    return scenario({"builder": "chain", "nodes": 2, "spacing_km": 10}, [{"src": "n0", "dst": "n1", "pairs": pairs}],
                    count=4, pair_fidelity=fidelity, backend=backend, duration=100.0, seed=21,
                    protocols={"application": {"name": "bbm92", **app}})


@pytest.mark.parametrize("backend, method, pairs", [("fidelity", "werner", 4000), ("stabilizer", "backend", 4000),
                                                    ("density", "backend", 800)])
def test_qber_of_werner_pairs_is_the_closed_form_on_every_backend(backend, method, pairs):
    f = 0.9
    _, results = run_scenario(werner_link(f, pairs, backend), qkd_plugin)
    q = results["extra"]["qkd"]["requests"][0]
    assert results["extra"]["qkd"]["measurement"] == q["measurement"] == method
    expected = 2 * (1 - f) / 3
    se = math.sqrt(expected * (1 - expected) / q["sifted"])
    assert abs(q["qber"] - expected) <= SIGMAS * se, (backend, q["qber"], expected, se)
    for basis in ("qber_z", "qber_x"):  # depolarized pairs: the same error rate in both bases
        assert abs(q[basis] - expected) <= SIGMAS * math.sqrt(2) * se, (backend, basis, q[basis])


def test_key_rate_is_r_times_the_sifted_pair_rate_at_a_known_qber():
    f = 0.95  # QBER 1/30 -> r = 1 - 2 h(1/30)
    _, results = run_scenario(werner_link(f, 6000, "fidelity"), qkd_plugin)
    q = results["extra"]["qkd"]["requests"][0]
    rate = results["requests"][0]["rate_hz"]
    h = -q["qber"] * math.log2(q["qber"]) - (1 - q["qber"]) * math.log2(1 - q["qber"])
    assert q["secret_key_rate_hz"] == pytest.approx((1 - 2 * h) * 0.5 * rate, rel=1e-12)
    assert q["secret_key_bits"] == pytest.approx((1 - 2 * h) * q["sifted"], rel=1e-12)
    q0 = 2 * (1 - f) / 3
    r0 = 1 - 2 * bbm92.binary_entropy(q0)
    assert r0 == pytest.approx(0.57832, abs=1e-5)  # h(1/30) = 0.21084
    # the measured rate agrees with the closed form to within the sampling error of Q
    se_r = 2 * math.log2((1 - q0) / q0) * math.sqrt(q0 * (1 - q0) / q["sifted"])
    assert abs(q["secret_key_rate_hz"] - r0 * 0.5 * rate) <= SIGMAS * se_r * 0.5 * rate


def test_storage_noise_raises_the_qber_as_the_delivered_fidelity_says():
    data = werner_link(0.97, 3000, "stabilizer")
    data["topology"]["nodes"] = 4
    data["requests"][0]["dst"] = "n3"
    data["hardware"]["memory"]["coherence_time"] = 2e-3
    _, results = run_scenario(data, qkd_plugin)
    q = results["extra"]["qkd"]["requests"][0]
    # swapped, stored pairs: QBER from the backend's measurements vs 2(1-F)/3 at their mean
    # fidelity (exact for depolarizing noise, which keeps the pairs Werner)
    se = math.sqrt(q["qber_werner"] * (1 - q["qber_werner"]) / q["sifted"])
    assert q["qber_werner"] > 2 * (1 - 0.97) / 3 * 1.5
    assert abs(q["qber"] - q["qber_werner"]) <= SIGMAS * se


def test_qkd_on_one_request_beside_another_application():
    data = scenario({"builder": "chain", "nodes": 3, "spacing_km": 10},
                    [{"src": "n0", "dst": "n2", "pairs": 50, "protocols": {"application": "bbm92"}},
                     {"src": "n1", "dst": "n2", "pairs": 50}], count=2)
    _, results = run_scenario(data, qkd_plugin)
    rows = results["extra"]["qkd"]["requests"]
    assert [r["request"] for r in rows] == [0]
    assert rows[0]["pairs"] == results["requests"][0]["delivered"] == 50
    assert results["requests"][1]["protocols"]["application"] == "consume"


def test_fidelity_constrained_is_fast_when_it_can_and_faithful_when_it_must():
    def ring(routing: str, min_fidelity: float) -> dict:
        data = scenario({"builder": "ring", "nodes": 6, "spacing_km": 10},
                        [{"src": "n0", "dst": "n2", "pairs": 100, "min_fidelity": min_fidelity}],
                        pair_fidelity=0.98, protocols={"routing": routing})
        data["hardware"]["links"] = [{"between": ["n0", "n1"], "pair_fidelity": 0.8}]
        return run_scenario(data, qos_plugin)[1]["requests"][0]

    # a loose target: as fast as min-cost, faster than max-fidelity's detour
    loose = {r: ring(r, 0.7) for r in ("min-cost", "max-fidelity", "fidelity-constrained")}
    assert loose["fidelity-constrained"]["paths"] == loose["min-cost"]["paths"] == [["n0", "n1", "n2"]]
    assert loose["fidelity-constrained"]["rate_hz"] > loose["max-fidelity"]["rate_hz"]
    # a tight target: min-cost's path can never reach it; fidelity-constrained takes the detour
    tight = {r: ring(r, 0.85) for r in ("min-cost", "fidelity-constrained")}
    assert tight["min-cost"]["status"] == "fidelity_unreachable"
    assert tight["fidelity-constrained"]["status"] == "completed"
    assert tight["fidelity-constrained"]["fidelity_mean"] >= 0.85
