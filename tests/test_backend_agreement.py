"""Swapping the backend without touching the scenario: the three first-party backends agree.

The scenario: a 5-node chain (4 links of 20 km), depolarizing memories, gate and measurement
errors, and one round of DEJMPS on every link before swap-asap. The physics is Pauli noise
throughout, where all three backends are exact (fidelity, density) or unbiased (stabilizer:
sampled 0/1 fidelities), so mean delivered fidelities must agree within 3 standard errors and
rates within their statistical error.
"""

from __future__ import annotations

import math

import pytest

import qplane
from qplane_devkit.conformance import chain_scenario

BACKENDS = ["fidelity", "density", "stabilizer"]
PAIRS = 1000


def scenario(backend: str) -> dict:
    sc = chain_scenario(5, 20.0, pairs=PAIRS, count=2, coherence_time=0.05, pair_fidelity=0.9,
                        seed=17, backend=backend)
    sc["hardware"]["operations"] = {"gate_error": 0.01, "measurement_error": 0.01}
    sc["protocols"]["purification"] = {"name": "dejmps", "rounds": 1}
    return sc


@pytest.fixture(scope="module")
def results():
    return {b: qplane.run(scenario(b))["requests"][0] for b in BACKENDS}


def _rate_se(req: dict) -> float:
    # deliveries form a renewal process whose inter-delivery times vary less than exponential
    # ones (sums and maxima of geometric waits), so rate / sqrt(n) bounds the standard error
    return req["rate_hz"] / math.sqrt(req["delivered"])


@pytest.mark.parametrize("backend", BACKENDS[1:])
def test_backends_agree_on_a_purified_chain(results, backend):
    ref, got = results["fidelity"], results[backend]
    assert ref["status"] == got["status"] == "completed"
    assert got["delivered"] == ref["delivered"] == PAIRS
    se = math.hypot(ref["fidelity_stderr"], got["fidelity_stderr"])
    assert abs(got["fidelity_mean"] - ref["fidelity_mean"]) <= 3 * se, (got["fidelity_mean"], ref["fidelity_mean"], se)
    assert abs(got["rate_hz"] - ref["rate_hz"]) <= 3 * math.hypot(_rate_se(ref), _rate_se(got))
    # the network's own estimate uses no backend: only the (sampled) timing differs
    assert abs(got["fidelity_estimated_mean"] - ref["fidelity_estimated_mean"]) <= 3 * se


def test_the_scenario_is_not_trivial(results):
    ref = results["fidelity"]
    # purification and storage matter: below the best case, well above the fully mixed state
    assert 0.5 < ref["fidelity_mean"] < 0.85
    assert ref["fidelity_stderr"] > 0
