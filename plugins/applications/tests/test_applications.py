"""teleport and chsh against their closed forms over Werner pairs, on the density (qutip) and
stabilizer (stim) backends, with fixed seeds; tolerance: SIGMAS (4) standard errors of the
estimate at the closed form's value."""

from __future__ import annotations

import math

import pytest

from qplane.backend import Capability, backend_capabilities
from qplane.errors import CapabilityError
from qplane.cli import main
from typing import Any

from qplane_devkit.conformance import ApplicationConformance, kit_registry, run_scenario, scenario
from qplane_physics import werner_swap_fidelity

from qplane_applications import plugin
from qplane_applications.chsh import werner_chsh
from qplane_applications.teleport import PAULI_STATES, inverse, werner_teleport_fidelity

#: tolerance of every statistical comparison with a closed form: 4 standard errors
SIGMAS = 4.0


def link_scenario(application: Any, pairs: int, fidelity: float = 1.0, backend: str = "density",
                  nodes: int = 2, seed: int = 11, spacing_km: float = 10.0) -> dict[str, Any]:
    """A chain of ``nodes`` nodes with ``direct`` links delivering Werner pairs of ``fidelity``
    (no memory noise, ideal operations), one request from the first node to the last."""
    data = scenario({"builder": "chain", "nodes": nodes, "spacing_km": spacing_km},
                    [{"src": "n0", "dst": f"n{nodes - 1}", "pairs": pairs}], count=4, seed=seed,
                    backend=backend, duration=100.0, protocols={"application": application})
    data["hardware"]["link"] = {"scheme": "direct", "pair_fidelity": fidelity}
    return data


def figures(data: dict[str, Any], name: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """Run ``data``; the application's figures and the request's row, both of request 0."""
    _, results = run_scenario(data, plugin)
    return results["extra"][name]["requests"][0], results["requests"][0]

MEASURING = [c.name for c in kit_registry(plugin).components("backend")
             if {Capability.GATES, Capability.CLIFFORD_GATES} & (backend_capabilities(c.factory) or set())]


class _Conformance(ApplicationConformance):
    plugin = plugin
    backends = tuple(MEASURING)

    def delivery_scenario(self, backend: str = "stabilizer", seed: int = 4):
        # the kit's default backend (fidelity) cannot measure: the deterministic and
        # no-pair checks run on the stabilizer backend instead
        return super().delivery_scenario(backend, seed)


class TestTeleportContract(_Conformance):
    application_name = "teleport"


class TestChshContract(_Conformance):
    application_name = "chsh"


def test_closed_forms_at_the_ends():
    assert werner_teleport_fidelity(1.0) == 1.0 and werner_teleport_fidelity(0.25) == 0.5  # 1/2: a guess
    assert werner_chsh(1.0) == pytest.approx(2 * math.sqrt(2))
    assert werner_chsh(0.25) == 0.0
    assert werner_chsh(0.79) > 2 > werner_chsh(0.78)  # violated above F = (1 + 3/sqrt2)/4 = 0.7803


def test_inverse_undoes_the_preparations():
    assert inverse(["H", "S"]) == ["SDG", "H"]
    assert inverse(["RY:0.5", "RZ:1.25"]) == ["RZ:-1.25", "RY:-0.5"]
    assert len(set(PAULI_STATES)) == 6


@pytest.mark.parametrize("backend", ["density", "stabilizer"])
def test_perfect_pairs_teleport_perfectly(backend):
    t, req = figures(link_scenario("teleport", 60, 1.0, backend=backend), "teleport")
    assert req["status"] == "completed"
    assert t["states"] == ("haar" if backend == "density" else "pauli")
    assert t["teleported"] + t["abandoned"] == t["pairs"] == 60
    assert t["teleport_fidelity_mean"] == 1.0
    # the correction waits for the two bits: one classical delay over 10 km of fibre
    assert t["correction_delay_mean_s"] == pytest.approx(10.0 / 200_000.0, rel=1e-6)


@pytest.mark.parametrize("backend,pairs", [("density", 1500), ("stabilizer", 4000)])
@pytest.mark.parametrize("fidelity", [0.9, 0.7])
def test_teleport_fidelity_is_2f_plus_1_over_3(backend, pairs, fidelity):
    t, req = figures(link_scenario("teleport", pairs, fidelity, backend=backend), "teleport")
    assert req["status"] == "completed"
    expected = werner_teleport_fidelity(fidelity)
    se = math.sqrt(expected * (1 - expected) / t["teleported"])
    assert abs(t["teleport_fidelity_mean"] - expected) <= SIGMAS * se, (t, expected, se)
    assert t["teleport_fidelity_stderr"] == pytest.approx(se, rel=0.2)


@pytest.mark.parametrize("backend,pairs", [("density", 1200), ("stabilizer", 3000)])
def test_teleport_over_two_hops_uses_the_werner_swap(backend, pairs):
    f = 0.92
    f_pair = werner_swap_fidelity(f, f)  # ideal swap of two Werner pairs: a Werner pair of this fidelity
    t, req = figures(link_scenario("teleport", pairs, f, backend=backend, nodes=3), "teleport")
    assert req["status"] == "completed" and req["paths"][0] == ["n0", "n1", "n2"]
    expected = werner_teleport_fidelity(f_pair)
    se = math.sqrt(expected * (1 - expected) / t["teleported"])
    assert abs(t["teleport_fidelity_mean"] - expected) <= SIGMAS * se, (t, expected, se)


@pytest.mark.parametrize("backend,pairs", [("density", 2000), ("stabilizer", 4000)])
@pytest.mark.parametrize("fidelity", [1.0, 0.85])
def test_chsh_is_2_sqrt2_times_4f_minus_1_over_3(backend, pairs, fidelity):
    c, req = figures(link_scenario("chsh", pairs, fidelity, backend=backend), "chsh")
    assert req["status"] == "completed"
    assert c["settings"] == ("rotated" if backend == "density" else "pauli")
    assert c["measured"] == pairs
    expected = werner_chsh(fidelity)
    p = (4 * fidelity - 1) / 3  # Werner: every correlator is p times Phi+'s (+-1/sqrt2)
    if c["settings"] == "rotated":  # four correlators, each from about pairs/4 products
        se = math.sqrt(4 * (1 - p * p / 2) / (pairs / 4))
    else:  # S = sqrt2 (<ZZ> + <XX>), each from about pairs/4 products
        se = math.sqrt(2) * math.sqrt(2 * max(1 - p * p, 1e-3) / (pairs / 4))
    assert abs(c["S"] - expected) <= SIGMAS * se, (c, expected, se)
    for name, sign in (("A0B0", 1), ("A0B1", 1), ("A1B0", 1), ("A1B1", -1)):
        assert abs(c[name] - sign * p / math.sqrt(2)) <= SIGMAS * max(c[f"{name}_stderr"], 0.02), name


def test_density_and_stabilizer_agree_on_chsh():
    f = 0.9
    d, _ = figures(link_scenario("chsh", 2000, f, backend="density", seed=5), "chsh")
    s, _ = figures(link_scenario("chsh", 4000, f, backend="stabilizer", seed=5), "chsh")
    assert abs(d["S"] - s["S"]) <= SIGMAS * math.hypot(d["S_stderr"], s["S_stderr"])


@pytest.mark.parametrize("app", ["teleport", "chsh"])
def test_the_fidelity_backend_cannot_run_them(app):
    with pytest.raises(CapabilityError) as exc:
        run_scenario(link_scenario(app, 10, 0.9, backend="fidelity"), plugin)
    message = str(exc.value)
    assert f"application '{app}'" in message and "'fidelity'" in message
    for backend in MEASURING:
        assert backend in message


def test_haar_states_need_gates():
    with pytest.raises(CapabilityError, match="states: haar"):
        run_scenario(link_scenario({"name": "teleport", "states": "haar"}, 10, backend="stabilizer"), plugin)


@pytest.mark.parametrize("app", ["teleport", "chsh"])
def test_cli_refuses_a_backend_that_cannot_measure(app, tmp_path, capsys):
    import yaml

    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(link_scenario(app, 10, 0.9, backend="fidelity")))
    assert main(["run", str(path), "--no-progress", "--json", str(tmp_path / "out.json")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert app in err and "fidelity" in err and "density" in err and "stabilizer" in err


def test_the_teleport_example_runs():
    import qplane
    from pathlib import Path

    example = Path(__file__).resolve().parents[3] / "examples" / "teleport.yaml"
    results = qplane.run(example)
    assert [r["status"] for r in results["requests"]] == ["completed", "completed"]
    t = results["extra"]["teleport"]["requests"][0]
    c = results["extra"]["chsh"]["requests"][0]
    assert t["request"] == 0 and c["request"] == 1 and t["teleported"] > 150 and c["measured"] == 200
    # the swapped pairs are near Werner: the closed forms at their mean fidelity, within 4 sigma
    assert abs(t["teleport_fidelity_mean"] - t["teleport_fidelity_werner"]) <= SIGMAS * max(t["teleport_fidelity_stderr"], 0.01)
    assert abs(c["S"] - c["S_werner"]) <= SIGMAS * c["S_stderr"]
