"""numpy kernels of the density backend's 2-qubit groups (pairs), its hot path on a chain.

A pair's state is a plain C-contiguous 4x4 complex numpy array (qubit 0 the most significant
index). On matrices this small the cost of an operation is the number of numpy calls (each
about 0.3-1 µs), not the arithmetic, so every kernel here is a few calls: the re-layouts
(transpose + reshape, each a copy) are one ``take`` with a precomputed index array, channels
are one matrix product with a 4x4 superoperator, and the swap is a handful of
products, vector ones for the Born probabilities and two 4x4 ones for the drawn branch.

Layouts: a one-qubit superoperator ``S`` acts on ``rho[i, l]`` flattened as ``2*i + l`` (see
:func:`.backend.superoperator`); :func:`channel` gathers the pair as ``[(i, l), (r, r')]``
(the touched qubit's row and column index, then the other qubit's), applies ``S @``, and
scatters back. The swap works on the layout of :func:`.backend.swap_branches`.

Checked against the general n-qubit routines of :mod:`.backend` (``apply_one_qubit``,
``swap_branches``) in the backend's tests.
"""

from __future__ import annotations

import numpy as np

_C = np.complex128


def _index(fn) -> np.ndarray:
    """4x4 int array ``idx[R, C] = flat index`` of a 4x4 source, from ``fn(R, C)``."""
    return np.array([[fn(r, c) for c in range(4)] for r in range(4)], dtype=np.intp)


def _src(row: tuple[int, int], col: tuple[int, int]) -> int:
    """Flat index of ``rho[(q0, q1), (q0', q1')]`` in a 4x4 matrix."""
    return (2 * row[0] + row[1]) * 4 + 2 * col[0] + col[1]


# gather for channel(): GATHER[k][(i l), (r r')] = rho of (qubit k at i, l; other at r, r')
_GATHER = (
    _index(lambda a, b: _src((a >> 1, b >> 1), (a & 1, b & 1))),  # k = 0: (i, r), (l, r')
    _index(lambda a, b: _src((b >> 1, a >> 1), (b & 1, a & 1))),  # k = 1: (r, i), (r', l)
)
# scatter back: SCATTER[k][R, C] = flat index into the [(i l), (r r')] array
_SCATTER = (
    _index(lambda R, C: (2 * (R >> 1) + (C >> 1)) * 4 + 2 * (R & 1) + (C & 1)),
    _index(lambda R, C: (2 * (R & 1) + (C & 1)) * 4 + 2 * (R >> 1) + (C >> 1)),
)
# swap layouts (see swap_branches): OUTER[i] gives [(a a'), (q q')] of a pair whose measured
# qubit q is at index i, INNER[i] gives [(q q'), (c c')]
_OUTER = (
    _index(lambda A, J: _src((J >> 1, A >> 1), (J & 1, A & 1))),  # (q, a)
    _index(lambda A, J: _src((A >> 1, J >> 1), (A & 1, J & 1))),  # (a, q)
)
_INNER = (
    _index(lambda K, Cc: _src((K >> 1, Cc >> 1), (K & 1, Cc & 1))),  # (q, c)
    _index(lambda K, Cc: _src((Cc >> 1, K >> 1), (Cc & 1, K & 1))),  # (c, q)
)
# ((a a'), (c c')) -> the 4x4 state of (a, c): rho[(a c), (a' c')]
_BRANCH = _index(lambda R, C: (2 * (R >> 1) + (C >> 1)) * 4 + 2 * (R & 1) + (C & 1))
# trace over the second index of a (x x') layout: [1, 0, 0, 1]
_TR = np.array([1.0, 0.0, 0.0, 1.0])


def channel(m: np.ndarray, k: int, sup: np.ndarray) -> np.ndarray:
    """The one-qubit superoperator ``sup`` on qubit ``k`` of the pair ``m`` (same result as
    ``apply_one_qubit(m, 2, k, sup)``)."""
    return sup.dot(m.take(_GATHER[k])).take(_SCATTER[k])


def sample(probs: np.ndarray, u: float) -> int:
    """Index drawn from ``probs`` (normalized here) with the uniform number ``u``."""
    ps = probs.tolist()
    total = 0.0
    for p in ps:  # in order, as numpy sums four numbers
        total += p
    x = u * total
    acc = 0.0
    last = 0
    for i, p in enumerate(ps):
        if p > 0.0:
            acc += p
            last = i
            if x < acc:
                return i
    return last  # rounding: the last outcome with non-zero probability


def swap(r1: np.ndarray, i1: int, sup1: np.ndarray | None, r2: np.ndarray, i2: int, sup2: np.ndarray | None,
         w: np.ndarray, u: float, gate_error: float = 0.0,
         confusion: np.ndarray | None = None) -> tuple[int, np.ndarray]:
    """The Bell-state measurement of two pairs: :func:`.backend.swap_branches` and the
    instrument of ``DensityBackend._swap_two_pairs``, on the 4x4 matrices.

    ``r1`` holds the measured qubit q1 at index ``i1`` and ``r2`` holds q2 at ``i2``;
    ``sup1``/``sup2`` (or None) is the storage noise q1/q2 owe, ``w`` the circuit's outcome
    operators (``_BSM_W``: ``X[s] = m1 W[s] m2``), ``u`` the uniform number that draws the
    reported outcome, ``gate_error`` the depolarizing probability of the inner qubits (replaced
    by I/4: each outcome 1/4, outer state ``rho_a (x) rho_c``) and ``confusion`` the readout
    confusion matrix (the state is then conditioned on the reported bits, a mixture over the
    true ones). Returns ``(reported outcome, 4x4 state of the outer qubits (a, c))``.

    Only the Born probabilities (vectors through ``W``) and the chosen branch are computed,
    never all four: ``p_s = t1 W[s] t2`` with ``t1``/``t2`` the pairs' outer qubits traced."""
    m1 = r1.take(_OUTER[i1])  # [(a a'), (j j')]
    m2 = r2.take(_INNER[i2])  # [(k k'), (c c')]
    if sup1 is not None:
        m1 = m1.dot(sup1.T)
    if sup2 is not None:
        m2 = sup2.dot(m2)
    t1 = _TR.dot(m1)
    t2 = m2.dot(_TR)
    raw = w.reshape(16, 4).dot(t2).reshape(4, 4).dot(t1).real  # Born (total 1 up to rounding)
    if gate_error:
        raw = (1.0 - gate_error) * raw + (0.25 * gate_error) * float((t1.dot(_TR) * _TR.dot(t2)).real)
    if confusion is None:
        s = sample(raw, u)
        post = m1.dot(w[s]).dot(m2)
        weight = 1.0
    else:
        raw = confusion.dot(raw)
        s = sample(raw, u)
        mix = confusion[s]
        post = m1.dot(mix.dot(w.reshape(4, 16)).reshape(4, 4)).dot(m2)
        weight = float(mix.sum())
    if gate_error:
        post = (1.0 - gate_error) * post + (0.25 * gate_error * weight) * np.outer(m1.dot(_TR), _TR.dot(m2))
    return s, (post / raw[s]).take(_BRANCH)


def to_pair(x: np.ndarray) -> np.ndarray:
    """Branch layout ``((a,a'), (c,c'))`` -> the 4x4 density matrix of (a, c) (a new
    C-contiguous array)."""
    return x.take(_BRANCH)
