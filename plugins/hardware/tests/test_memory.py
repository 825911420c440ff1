"""Memory models against their closed forms."""

from __future__ import annotations

import math

import numpy as np
import pytest

import qplane
from qplane.errors import ScenarioError
from qplane_devkit.conformance import chain_scenario
from qplane_hardware.memory import (PLATFORMS, DepolarizingMemory, DepolarizingMemoryParams, PresetMemory,
                                    PresetMemoryParams, T1T2Memory, T1T2MemoryParams)


def test_depolarizing_probs():
    m = DepolarizingMemory(DepolarizingMemoryParams(count=1, coherence_time=2.0))
    lam = 1 - math.exp(-0.5 / 2.0)
    assert m.pauli_probs(0.5) == pytest.approx((1 - 3 * lam / 4, lam / 4, lam / 4, lam / 4))
    assert DepolarizingMemory(DepolarizingMemoryParams(count=1)).pauli_probs(5.0) == (1.0, 0.0, 0.0, 0.0)


@pytest.mark.parametrize("t1,t2,dt", [(1.0, 0.5, 0.3), (None, 0.2, 0.1), (2.0, 4.0, 1.0)])
def test_t1t2_kraus_is_the_channel_and_the_twirl_matches_it(t1, t2, dt):
    m = T1T2Memory(T1T2MemoryParams(count=1, t1=t1, t2=t2))
    K = [np.array(k, dtype=complex) for k in m.kraus(dt)]
    assert np.allclose(sum(k.conj().T @ k for k in K), np.eye(2))
    plus = np.full((2, 2), 0.5)
    excited = np.diag([0.0, 1.0])
    out_plus = sum(k @ plus @ k.conj().T for k in K)
    out_exc = sum(k @ excited @ k.conj().T for k in K)
    assert out_plus[0, 1].real == pytest.approx(0.5 * math.exp(-dt / t2))
    assert out_exc[1, 1].real == pytest.approx(1.0 if t1 is None else math.exp(-dt / t1))
    # the Pauli twirl keeps the coherence decay: <X> after the twirled channel on |+>
    pI, pX, pZ, pY = m.pauli_probs(dt)
    assert pI + pX + pZ + pY == pytest.approx(1.0)
    assert pI + pX - pZ - pY == pytest.approx(math.exp(-dt / t2))
    # and the population decay of the twirl: <Z> on |1> goes to -(pI + pZ - pX - pY)
    g = 0.0 if t1 is None else 1 - math.exp(-dt / t1)
    assert pI + pZ - pX - pY == pytest.approx(1 - g)


def test_t2_beyond_2t1_is_refused():
    with pytest.raises(Exception, match="at most 2 t1"):
        T1T2MemoryParams(count=1, t1=1.0, t2=3.0)


@pytest.mark.parametrize("platform", sorted(PLATFORMS))
def test_presets_carry_their_literature_values(platform):
    m = PresetMemory(PresetMemoryParams(platform=platform, count=2))
    t1, t2, source = PLATFORMS[platform]
    assert (m.t1, m.t2, m.count) == (t1, t2, 2)
    assert source.split(",")[0] in PresetMemory.__doc__


def test_preset_in_a_scenario_and_per_node_override():
    """A single link, both qubits wait the herald delay: dephasing-only memories (T1 = None)
    give F = (1 + exp(-2 tau / T2)) / 2 for a perfect pair (each qubit dephases for tau)."""
    sc = chain_scenario(2, 50.0, pairs=20)
    sc["hardware"]["memory"] = {"model": "preset", "platform": "trapped-ion", "count": 1}
    sc["hardware"]["nodes"] = {"n1": {"memory": {"model": "t1t2", "t2": 1e-3, "platform": "nv-carbon"}}}
    with pytest.raises(ScenarioError, match="hardware.nodes.n1.memory.platform: unknown field"):
        qplane.run(sc)
    # another model starts afresh (count back to its default is fine: the link needs one)
    sc["hardware"]["nodes"] = {"n1": {"memory": {"model": "t1t2", "t2": 1e-3, "count": 1}}}
    res = qplane.run(sc)["requests"][0]
    tau = 50.0 / 2e5
    assert res["fidelity_mean"] == pytest.approx((1 + math.exp(-tau / 660.0) * math.exp(-tau / 1e-3)) / 2, abs=1e-12)
    sc["hardware"]["memory"] = {"model": "t1t2", "t2": 660.0, "count": 1}
    sc["hardware"]["nodes"] = {"n1": {"memory": {"t2": 1e-3}}}
    res = qplane.run(sc)["requests"][0]
    tau = 50.0 / 2e5
    # a dephasing on each qubit: coherence factors multiply
    expected = (1 + math.exp(-tau / 660.0) * math.exp(-tau / 1e-3)) / 2
    assert res["fidelity_mean"] == pytest.approx(expected, abs=1e-12)
