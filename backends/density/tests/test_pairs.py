"""The numpy pair kernels (:mod:`qplane_backend_density.pairs`) against the backend's general
n-qubit routines, and the fast backend against the pre-kernel algorithm it replaced: same
seed, same outcomes, same fidelities up to rounding."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest

import qplane
from qplane_backend_density import backend as dm
from qplane_backend_density import pairs
from qplane_backend_density.backend import DensityBackend, QubitGroup

ROOT = Path(__file__).resolve().parents[3]


def _random_state(rng, n=2):
    d = 1 << n
    a = rng.normal(size=(d, d)) + 1j * rng.normal(size=(d, d))
    rho = a @ a.conj().T
    return rho / np.trace(rho)


def _amplitude_damping(gamma: float) -> np.ndarray:
    return dm.superoperator([np.array([[1, 0], [0, np.sqrt(1 - gamma)]]), np.array([[0, np.sqrt(gamma)], [0, 0]])])


NOISES = [None, _amplitude_damping(0.3), dm.pauli_superoperator([0.7, 0.1, 0.15, 0.05])]


@pytest.mark.parametrize("k", [0, 1])
def test_channel_is_apply_one_qubit(k):
    rng = np.random.default_rng(k)
    for sup in NOISES[1:] + list(dm._PAULI_SUPER):
        m = _random_state(rng)
        assert np.allclose(pairs.channel(m, k, sup), dm.apply_one_qubit(m, 2, k, sup), atol=1e-15)


def _reference_swap(r1, i1, sup1, r2, i2, sup2, u, gate_error, confusion):
    """The two-pair swap as it was before the kernel: noise by apply_one_qubit, all four
    branches by swap_branches, the instrument on them."""
    if sup1 is not None:
        r1 = dm.apply_one_qubit(r1, 2, i1, sup1)
    if sup2 is not None:
        r2 = dm.apply_one_qubit(r2, 2, i2, sup2)
    x, rest = dm.swap_branches(r1, i1, r2, i2)
    if gate_error:
        x = (1.0 - gate_error) * x + (0.25 * gate_error) * rest
    raw = x[:, ::3, ::3].sum(axis=(1, 2)).real
    if confusion is not None:
        raw = confusion @ raw
        s = dm._sample(raw, u)
        post = (confusion[s] @ x.reshape(4, 16)).reshape(4, 4) / raw[s]
    else:
        s = dm._sample(raw, u)
        post = x[s] / raw[s]
    return s, dm.branch_to_pair(post)


@pytest.mark.parametrize("i1,i2", list(itertools.product((0, 1), repeat=2)))
def test_swap_kernel_is_the_branch_contraction_and_instrument(i1, i2):
    rng = np.random.default_rng(10 + 2 * i1 + i2)
    for sup1, sup2, gate_error, flip in itertools.product(NOISES, NOISES, (0.0, 0.05), (0.0, 0.03)):
        r1, r2 = _random_state(rng), _random_state(rng)
        confusion = dm.readout_confusion(flip, flip) if flip else None
        for u in (0.01, 0.3, 0.6, 0.99):
            s, post = pairs.swap(r1, i1, sup1, r2, i2, sup2, dm._BSM_W, u, gate_error, confusion)
            s_ref, post_ref = _reference_swap(r1, i1, sup1, r2, i2, sup2, u, gate_error, confusion)
            assert s == s_ref
            assert post.flags.c_contiguous and np.allclose(post, post_ref, atol=1e-14)


class ReferenceBackend(DensityBackend):
    """The backend with its pair fast paths replaced by the algorithm they replaced."""

    def _swap_two_pairs(self, q1, q2, now, gate_error, measurement_error):
        g1, g2 = q1.group, q2.group
        i1 = 0 if g1.qubits[0] is q1 else 1
        i2 = 0 if g2.qubits[0] is q2 else 1
        confusion = dm.readout_confusion(measurement_error, measurement_error) if measurement_error else None
        sup1, sup2 = self._due(q1, now), self._due(q2, now)
        s, post = _reference_swap(g1.m, i1, sup1, g2.m, i2, sup2, self.rng.random(), gate_error, confusion)
        a, c = g1.qubits[1 - i1], g2.qubits[1 - i2]
        q1.group = q2.group = None
        self._set([a, c], post)
        return s

    @staticmethod
    def _apply_superoperator(q, sup):
        g = q.group
        k = g.qubits.index(q)
        g.m = dm.apply_one_qubit(g.m, len(g.qubits), k, sup)


@pytest.mark.parametrize("overrides", [
    [],
    ["hardware.operations.gate_error=0.01", "hardware.operations.measurement_error=0.02"],
    ["hardware.memory={count: 10, model: t1t2, t1: 0.5, t2: 0.2}"],
])
def test_chain_same_seed_same_pairs_as_the_reference(monkeypatch, overrides):
    """A 6-node chain on the density backend, once as is and once with the pair fast paths
    swapped for the reference algorithm: the same Bell outcomes, and every delivered pair's
    fidelity equal to 1e-9."""
    sc = qplane.load_scenario(ROOT / "examples" / "chain.yaml", overrides=[
        "topology.nodes=6", "requests.0.dst=n5", "requests.0.pairs=60", "requests.0.min_fidelity=0",
        "duration=1000", "backend=density"] + overrides)

    def run(cls):
        log = {"fidelity": [], "bsm": []}
        fidelity, bell_measure = cls.fidelity, cls.bell_measure

        def logged_fidelity(self, *a, **k):
            log["fidelity"].append(fidelity(self, *a, **k))
            return log["fidelity"][-1]

        def logged_bsm(self, *a, **k):
            log["bsm"].append(bell_measure(self, *a, **k))
            return log["bsm"][-1]

        for name, attr in (("fidelity", logged_fidelity), ("bell_measure", logged_bsm),
                           ("_swap_two_pairs", cls._swap_two_pairs),
                           ("_apply_superoperator", cls.__dict__["_apply_superoperator"])):
            monkeypatch.setattr(DensityBackend, name, attr)
        res = qplane.build(sc).run()
        monkeypatch.undo()
        assert res["requests"][0]["delivered"] == 60
        return log

    fast = run(DensityBackend)
    ref = run(ReferenceBackend)
    assert len(fast["bsm"]) > 100 and fast["bsm"] == ref["bsm"]
    assert len(fast["fidelity"]) == len(ref["fidelity"]) >= 60
    assert np.allclose(fast["fidelity"], ref["fidelity"], rtol=0.0, atol=1e-9)


def test_rho_is_a_qobj_view_of_the_numpy_state():
    b = DensityBackend(__import__("random").Random(1))
    a, c = b.create_pair((0.9, 0.05, 0.03, 0.02), None, None, 0.0, 0.0)
    g = a.group
    assert isinstance(g, QubitGroup) and isinstance(g.m, np.ndarray)
    assert g.rho.dims == [[2, 2], [2, 2]] and np.array_equal(g.rho.full(), g.m)
    assert g.rho.ptrace([0]).full() == pytest.approx(np.eye(2) / 2)
    # link states are cached read only: an operation makes a new array, the cache is untouched
    before = g.m.copy()
    b.apply_pauli(a, 1, 0.0)
    assert not np.array_equal(a.group.m, before)
    assert np.array_equal(dm.bell_diagonal_matrix((0.9, 0.05, 0.03, 0.02)), before)
