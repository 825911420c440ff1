"""Numerics of the density backend's groups of three or more qubits (capability
``multipartite``), kept out of :mod:`.backend`'s pair-level hot paths.

A GHZ fusion at a hub (``qplane_engine.ghz.fuse_ghz``) CNOTs the hub's first qubit onto each
other hub qubit and measures that one at once, so the group of the first qubit grows by one
party per step and peaks at ``pairs + 2`` qubits (the GHZ-so-far, plus the next pair during
its CNOT). A 10-qubit group is a 1024x1024 matrix (16 MB); gates and basis changes act on it by
tensor contraction, ``O(4^n)`` per gate, never by forming ``U (x) I`` (``O(8^n)``).
"""

from __future__ import annotations

import numpy as np

#: most qubits one density matrix may hold: 2^10 x 2^10 complex entries, 16 MB
MAX_GROUP_QUBITS = 10


def apply_leading_unitary(m: np.ndarray, n: int, u: np.ndarray) -> np.ndarray:
    """``(U (x) I) m (U (x) I)^dag`` for a unitary ``u`` on the first ``k`` of ``n`` qubits
    (``u`` is 2^k x 2^k), by contraction."""
    k = u.shape[0]
    r = (1 << n) // k
    t = m.reshape(k, r, k, r)
    t = np.einsum("ab,bxcy,dc->axdy", u, t, u.conj(), optimize=True)
    return np.ascontiguousarray(t.reshape(k * r, k * r))


def ghz_fidelity_leading(m: np.ndarray, n: int, k: int) -> float:
    """Fidelity of the first ``k`` of ``n`` qubits with the k-qubit GHZ state:
    ``(r[0,0] + r[d-1,d-1] + 2 Re r[0,d-1]) / 2`` on their reduced state ``r`` (d = 2^k)."""
    kk = 1 << k
    t = m.reshape(kk, -1, kk, m.shape[0] // kk)
    r = t.trace(axis1=1, axis2=3) if t.shape[1] > 1 else t[:, 0, :, 0]
    return float(0.5 * (r[0, 0].real + r[-1, -1].real) + r[0, -1].real)
