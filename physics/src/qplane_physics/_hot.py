"""The hot kernels of the closed forms: the Bell-diagonal aging and swap that every swap of
every chain runs (the swapping policy's estimate and the fidelity backend's state, each a call
per swap), kept in a module of their own so that the physics distribution can compile it.

When ``qplane-physics`` is installed by pip on a machine with a C compiler, its build compiles
this file with mypyc (``physics/setup.py``) into an extension module that Python imports in
its place; without a compiler, or with ``QPLANE_PURE_PYTHON=1`` at install time, this source
runs as it is. Both give the same floats to the last bit: the same IEEE operations in the same
order, ``exp`` from the same C library, and no contraction into fused multiply-adds
(``-ffp-contract=off``); ``physics/tests/test_hot.py`` compares them. The compiled kernels take
lists (every state qplane keeps is a list in Pauli order) and are about four times faster
(``bench/README.md``). After editing this file in a development install, reinstall the
distribution (``pip install -e ./physics``) to rebuild the compiled module: the test above
fails while the two differ.
"""

from __future__ import annotations

from math import exp


def depolarize_after(v: list[float], dt: float, coherence_time: float) -> list[float]:
    """``depolarize(v, depolarizing_lambda(dt, coherence_time))`` in one call, for ``dt > 0``
    and a coherence time (the hot paths: a stored pair's estimate and state aged by ``dt``).
    The same operations in the same order, so the same floats to the last bit."""
    lam = 1.0 - exp(-dt / coherence_time)
    keep = 1.0 - lam
    add = lam * 0.25
    return [keep * v[0] + add, keep * v[1] + add, keep * v[2] + add, keep * v[3] + add]


def swap_after(v1: list[float], dt1: float, t1: float, v2: list[float], dt2: float, t2: float,
               outcome: int = 0) -> list[float]:
    """``swap_pauli_order(depolarize_after(v1, dt1, t1), depolarize_after(v2, dt2, t2), outcome)``
    in one call, for ``dt1, dt2 > 0`` (the hot path of every swap: the two measured qubits aged,
    then the Bell measurement), without the two intermediate lists. The same operations in the
    same order, so the same floats to the last bit (aging acts on each coefficient alone, so the
    outcome's permutation of ``v2`` may come before it)."""
    lam = 1.0 - exp(-dt1 / t1)
    keep = 1.0 - lam
    add = lam * 0.25
    a0, a1, a2, a3 = keep * v1[0] + add, keep * v1[1] + add, keep * v1[2] + add, keep * v1[3] + add
    lam = 1.0 - exp(-dt2 / t2)
    keep = 1.0 - lam
    add = lam * 0.25
    o = outcome
    b0, b1, b2, b3 = keep * v2[o] + add, keep * v2[1 ^ o] + add, keep * v2[2 ^ o] + add, keep * v2[3 ^ o] + add
    return [
        a0 * b0 + a1 * b1 + a2 * b2 + a3 * b3,
        a0 * b1 + a1 * b0 + a2 * b3 + a3 * b2,
        a0 * b2 + a1 * b3 + a2 * b0 + a3 * b1,
        a0 * b3 + a1 * b2 + a2 * b1 + a3 * b0,
    ]
