"""qplane-qkd's own tests: the application contract (qplane's conformance kit), BBM92's QBER
against the Werner closed form, and the asymptotic key rate.

Run with ``pytest`` once the package is installed (``pip install -e ".[test]"``).
"""

from __future__ import annotations

import math

import pytest

from qplane.backend import Capability, backend_capabilities
from qplane.errors import CapabilityError
from qplane_devkit.conformance import ApplicationConformance, kit_registry, run_scenario, scenario

from qplane_qkd import plugin
from qplane_qkd.bbm92 import binary_entropy, secret_fraction, werner_qber

SIGMAS = 4.0
#: backends installed here that can measure a qubit (the fidelity backend cannot)
MEASURING = [c.name for c in kit_registry(plugin).components("backend")
             if {Capability.GATES, Capability.CLIFFORD_GATES} & (backend_capabilities(c.factory) or set())]


class TestApplicationContract(ApplicationConformance):
    application_name = "bbm92"
    plugin = plugin  # found by its entry point when installed; registered by hand otherwise
    backends = ("fidelity", *MEASURING)


def link(fidelity: float, pairs: int, backend: str = "fidelity", measurement_error: float = 0.0,
         measurement: str = "auto", seed: int = 11) -> dict:
    """One 10 km link delivering Werner pairs of ``fidelity`` (no storage noise: every delivered
    pair has exactly that fidelity) to a bbm92 application."""
    data = scenario({"builder": "chain", "nodes": 2, "spacing_km": 10},
                    [{"src": "n0", "dst": "n1", "pairs": pairs}], count=4, pair_fidelity=fidelity,
                    seed=seed, backend=backend, duration=100.0,
                    protocols={"application": {"name": "bbm92", "measurement": measurement}})
    data["hardware"]["operations"] = {"measurement_error": measurement_error}
    return data


def qkd(data: dict) -> tuple[dict, dict]:
    _, results = run_scenario(data, plugin)
    return results["extra"]["qkd"]["requests"][0], results["requests"][0]


def test_binary_entropy_and_secret_fraction():
    assert binary_entropy(0.5) == 1.0
    assert binary_entropy(0.0) == binary_entropy(1.0) == 0.0
    assert abs(binary_entropy(0.11) - 0.4999) < 1e-3
    assert secret_fraction(0.0) == 1.0
    assert secret_fraction(0.2) == 0.0  # beyond ~11 % no key
    assert werner_qber(1.0) == 0.0 and abs(werner_qber(0.25) - 0.5) < 1e-12


@pytest.mark.parametrize("fidelity", [1.0, 0.95, 0.9])
def test_qber_matches_the_werner_closed_form(fidelity):
    q, req = qkd(link(fidelity, 3000))
    assert req["status"] == "completed"
    assert q["measurement"] == "werner"  # the fidelity backend cannot measure: sampled, and said so
    expected = werner_qber(fidelity)
    assert abs(q["qber_werner"] - expected) < 1e-9  # every pair has the link's fidelity
    se = math.sqrt(max(expected * (1 - expected), 1e-4) / q["sifted"])
    assert abs(q["qber"] - expected) <= SIGMAS * se, (q["qber"], expected, se)
    assert abs(q["sifted"] / q["pairs"] - 0.5) <= SIGMAS * math.sqrt(0.25 / q["pairs"])


def test_key_rate_is_the_bbm92_asymptotic_formula():
    f = 0.95
    q, req = qkd(link(f, 4000))
    r = 1 - 2 * binary_entropy(q["qber"])
    assert q["secret_fraction"] == pytest.approx(r, rel=1e-12)
    assert q["pair_rate_hz"] == req["rate_hz"]
    assert q["secret_key_rate_hz"] == pytest.approx(r * 0.5 * req["rate_hz"], rel=1e-12)
    # against the closed form at the known QBER 2(1-F)/3, within the sampling error of Q
    q0 = werner_qber(f)
    slope = 2 * math.log2((1 - q0) / q0)  # |dr/dQ|
    se_r = slope * math.sqrt(q0 * (1 - q0) / q["sifted"])
    assert abs(q["secret_fraction"] - secret_fraction(q0)) <= SIGMAS * se_r


def test_measurement_errors_raise_the_qber():
    e = 0.05
    q, _ = qkd(link(1.0, 3000, measurement_error=e))
    expected = 2 * e * (1 - e)  # exactly one of the two bits flipped
    assert abs(q["qber"] - expected) <= SIGMAS * math.sqrt(expected * (1 - expected) / q["sifted"])


def test_backend_measurement_needs_a_backend_that_measures():
    with pytest.raises(CapabilityError) as exc:
        run_scenario(link(0.9, 10, measurement="backend"), plugin)
    assert "'fidelity'" in str(exc.value) and "bbm92" in str(exc.value)


def test_measuring_backends_agree_with_the_closed_form():
    for backend in MEASURING:  # whichever of density / stabilizer are installed next to it
        q, _ = qkd(link(0.9, 600 if backend == "density" else 3000, backend=backend))
        assert q["measurement"] == "backend"
        expected = werner_qber(0.9)
        assert abs(q["qber"] - expected) <= SIGMAS * math.sqrt(expected * (1 - expected) / q["sifted"]), backend


def test_no_pairs_no_key():
    data = link(0.9, 10)
    data["requests"][0]["min_fidelity"] = 0.99
    q, req = qkd(data)
    assert req["status"] == "fidelity_unreachable"
    assert q["pairs"] == 0 and q["qber"] is None and q["secret_key_rate_hz"] is None
