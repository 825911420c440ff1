"""The GHZ closed forms of qplane_physics against explicit density matrices (numpy): the
fidelity with GHZ and the Mermin value of a GHZ state with some qubits depolarized."""

from __future__ import annotations

import itertools
from functools import reduce

import numpy as np
import pytest

import qplane_physics as physics

I2 = np.eye(2)
X = np.array([[0, 1], [1, 0]], dtype=complex)
Y = np.array([[0, -1j], [1j, 0]])


def ghz(n: int) -> np.ndarray:
    v = np.zeros(1 << n, dtype=complex)
    v[0] = v[-1] = 2 ** -0.5
    return v


def depolarize(rho: np.ndarray, n: int, k: int, w: float) -> np.ndarray:
    """rho -> w rho + (1-w) I/2 (x) Tr_k rho, on qubit k, written out with Paulis."""
    def on(p: np.ndarray) -> np.ndarray:
        return reduce(np.kron, [p if j == k else I2 for j in range(n)])
    twirled = sum(on(p) @ rho @ on(p).conj().T for p in (I2, X, Y, np.diag([1, -1]).astype(complex))) / 4
    return w * rho + (1 - w) * twirled


def noisy_ghz(n: int, w: float, noisy: int) -> np.ndarray:
    v = ghz(n)
    rho = np.outer(v, v.conj())
    for k in range(noisy):
        rho = depolarize(rho, n, k, w)
    return rho


@pytest.mark.parametrize("n", [2, 3, 4])
@pytest.mark.parametrize("w", [0.0, 0.3, 0.8, 1.0])
def test_ghz_fidelity_depolarized_matches_density_matrices(n: int, w: float) -> None:
    v = ghz(n)
    for m in range(n + 1):
        exact = float(np.real(v.conj() @ noisy_ghz(n, w, m) @ v))
        assert abs(physics.ghz_fidelity_depolarized(n, w, m) - exact) < 1e-12, (n, w, m)


def test_werner_cases() -> None:
    w = 0.7
    assert abs(physics.ghz_fidelity_depolarized(2, w, 1) - physics.werner_fidelity(w)) < 1e-12
    assert abs(physics.ghz_fidelity_depolarized(2, w) - physics.werner_fidelity(w * w)) < 1e-12
    with pytest.raises(ValueError):
        physics.ghz_fidelity_depolarized(3, w, 4)


@pytest.mark.parametrize("n", [3, 4])
def test_mermin_value_matches_density_matrices(n: int) -> None:
    """M_n = Re prod_j (X_j + i Y_j), built explicitly, on the noisy GHZ state."""
    prod = reduce(np.kron, [X + 1j * Y] * n)
    mermin = (prod + prod.conj().T) / 2
    for w in (0.5, 0.9, 1.0):
        for m in (n - 1, n):
            exact = float(np.real(np.trace(mermin @ noisy_ghz(n, w, m))))
            assert abs(physics.mermin_value(n, w, m) - exact) < 1e-9
    # the sum of terms with an even number of Y and sign (-1)^(#Y/2) is the same operator
    terms = sum((-1) ** (sum(c) // 2) * reduce(np.kron, [Y if y else X for y in c])
                for c in itertools.product((0, 1), repeat=n) if sum(c) % 2 == 0)
    assert np.allclose(terms, mermin)
