"""Closed-form physics shared by plugins, backends, estimators and tests.

Bell-diagonal states are 4-tuples in the order of docs/design.md: ``(Phi+, Psi-, Psi+, Phi-)``.
Internally a Bell state is also named by the Pauli that maps Phi+ onto it when applied to one
qubit (I→Phi+, X→Psi+, Z→Phi-, Y→Psi-); with Paulis encoded as ``x | z << 1`` (I=0, X=1, Z=2,
Y=3), applying Pauli ``P`` to either qubit of Bell state ``k`` gives Bell state ``k ^ P``, and a
Bell measurement with outcome ``m`` on the inner qubits of ``B_i ⊗ B_j`` leaves ``B_{i^j^m}``
on the outer ones (standard entanglement-swapping identity, phases dropped).
"""

from __future__ import annotations

import math
from typing import Any, Sequence

# the aging and swap that every swap runs, compiled by the distribution's build when it can
from . import _hot
from ._hot import depolarize_after, swap_after  # noqa: F401 - re-exported

#: whether those hot kernels run compiled (an extension module) or as Python source
COMPILED = not _hot.__file__.endswith(".py")

BellDiagonal = tuple[float, float, float, float]

SPEED_OF_LIGHT_FIBER_KM_S = 2.0e5

#: position in Bell order (Phi+, Psi-, Psi+, Phi-) of each Pauli index I, X, Z, Y
_POS = (0, 2, 3, 1)
PAULI_I, PAULI_X, PAULI_Z, PAULI_Y = 0, 1, 2, 3


def fiber_transmissivity(length_km: float, attenuation_db_per_km: float = 0.2) -> float:
    """``eta(L) = 10 ** (-alpha * L / 10)``."""
    return 10.0 ** (-attenuation_db_per_km * length_km / 10.0)


def werner(f: float) -> BellDiagonal:
    """Werner state of fidelity ``f`` with Phi+."""
    r = (1.0 - f) / 3.0
    return (f, r, r, r)


def to_pauli_order(c: Sequence[float]) -> list[float]:
    """Bell order → list indexed by Pauli index (I, X, Z, Y)."""
    return [c[0], c[2], c[3], c[1]]


def from_pauli_order(v: Sequence[float]) -> BellDiagonal:
    """List indexed by Pauli index → Bell order."""
    return (v[0], v[3], v[1], v[2])


def apply_pauli(v: list[float], pauli: int) -> list[float]:
    """Pauli ``pauli`` on one qubit of a Bell-diagonal state in Pauli order."""
    if pauli == 0:
        return v
    return [v[pauli], v[1 ^ pauli], v[2 ^ pauli], v[3 ^ pauli]]


def pauli_channel(v: list[float], probs: Sequence[float]) -> list[float]:
    """Single-qubit Pauli channel ``(pI, pX, pZ, pY)`` (Pauli order) on one qubit."""
    p0, p1, p2, p3 = probs
    return [
        p0 * v[0] + p1 * v[1] + p2 * v[2] + p3 * v[3],
        p0 * v[1] + p1 * v[0] + p2 * v[3] + p3 * v[2],
        p0 * v[2] + p1 * v[3] + p2 * v[0] + p3 * v[1],
        p0 * v[3] + p1 * v[2] + p2 * v[1] + p3 * v[0],
    ]


def depolarize(v: list[float], lam: float) -> list[float]:
    """Depolarizing ``rho -> (1-lam) rho + lam I/2`` on one qubit of a Bell-diagonal pair.

    The reduced state of a Bell-diagonal pair is I/2, so the pair becomes
    ``(1-lam) v + lam/4`` on every coefficient."""
    keep = 1.0 - lam
    add = lam * 0.25
    return [keep * v[0] + add, keep * v[1] + add, keep * v[2] + add, keep * v[3] + add]


def two_qubit_depolarize(v: list[float], p: float) -> list[float]:
    """Two-qubit depolarizing with probability ``p`` before a Bell measurement: the outer pair
    becomes ``(1-p) v + p I/4`` (the inner qubits replaced by noise leave the outer ones
    uncorrelated)."""
    keep = 1.0 - p
    add = p * 0.25
    return [keep * x + add for x in v]


def swap_pauli_order(v1: Sequence[float], v2: Sequence[float], outcome: int = 0) -> list[float]:
    """Outer pair after a Bell measurement with ``outcome`` on the inner qubits (Pauli order).

    ``r[k] = sum_i v1[i] * v2[i ^ k ^ outcome]``; with the frame corrected (outcome applied as a
    Pauli) this is the XOR-convolution of the two coefficient vectors."""
    a0, a1, a2, a3 = v1
    b0, b1, b2, b3 = v2 if outcome == 0 else (v2[outcome], v2[1 ^ outcome], v2[2 ^ outcome], v2[3 ^ outcome])
    # unrolled (hot path): r[k] = sum_i a[i] * b[i ^ k]
    return [
        a0 * b0 + a1 * b1 + a2 * b2 + a3 * b3,
        a0 * b1 + a1 * b0 + a2 * b3 + a3 * b2,
        a0 * b2 + a1 * b3 + a2 * b0 + a3 * b1,
        a0 * b3 + a1 * b2 + a2 * b1 + a3 * b0,
    ]


def twirl(v: Sequence[float]) -> list[float]:
    """Depolarizing twirl (random bilateral rotations, BBPSSW's first step): a Bell-diagonal
    state becomes the Werner state of the same fidelity."""
    r = (1.0 - v[0]) / 3.0
    return [v[0], r, r, r]


def dejmps_rotation(v: Sequence[float]) -> list[float]:
    """DEJMPS's local rotations (Alice Rx(pi/2), Bob Rx(-pi/2)) on a Bell-diagonal pair in
    Pauli order: Phi- and Psi- exchange places, Phi+ and Psi+ stay."""
    return [v[0], v[1], v[3], v[2]]


def bilateral_cnot(v1: Sequence[float], v2: Sequence[float], agree: bool = True) -> list[float]:
    """Bilateral CNOT (pair 1 controls pair 2) then both target qubits measured in Z.

    With Bell states labelled (x, z) (index ``x | z << 1``), the CNOTs map source (x1, z1),
    target (x2, z2) to source (x1, z1^z2), target (x1^x2, z2); the measured bits agree iff
    x1 == x2. Returns the *unnormalized* source-pair coefficients (Pauli order) for the
    branch where the bits agree (``agree=True``) or disagree; the sum is that branch's
    probability."""
    out = [0.0, 0.0, 0.0, 0.0]
    for x in (0, 1):
        x2 = x if agree else x ^ 1
        for z1 in (0, 1):
            a = v1[x | z1 << 1]
            for z2 in (0, 1):
                out[x | (z1 ^ z2) << 1] += a * v2[x2 | z2 << 1]
    return out


def purify(
    v1: Sequence[float],
    v2: Sequence[float],
    protocol: str,
    gate_error: tuple[float, float] = (0.0, 0.0),
    measurement_error: tuple[float, float] = (0.0, 0.0),
) -> tuple[list[float], float]:
    """One purification round on Bell-diagonal pairs (Pauli order): pair 1 is kept, pair 2
    measured. Returns ``(kept pair given success, success probability)``.

    ``protocol``: ``"bbpssw"`` (both pairs twirled to Werner form first; Bennett et al. 1996)
    or ``"dejmps"`` (local rotations first; Deutsch et al. 1996).
    Noise: ``gate_error[i]`` is a two-qubit depolarizing channel on node i's two qubits (it
    commutes with the CNOT; on two Bell-diagonal pairs it mixes the four-qubit state with
    I/16); ``measurement_error[i]`` flips node i's measured bit, which inverts the
    keep/discard decision when exactly one bit flips.
    """
    if protocol == "bbpssw":
        v1, v2 = twirl(v1), twirl(v2)
    elif protocol == "dejmps":
        v1, v2 = dejmps_rotation(v1), dejmps_rotation(v2)
    else:
        raise ValueError(f"unknown purification protocol {protocol!r}")
    keep = (1.0 - gate_error[0]) * (1.0 - gate_error[1])
    m0, m1 = measurement_error
    flip = m0 * (1.0 - m1) + m1 * (1.0 - m0)
    agree = bilateral_cnot(v1, v2, True)
    if flip:
        disagree = bilateral_cnot(v1, v2, False)
        agree = [(1.0 - flip) * a + flip * d for a, d in zip(agree, disagree)]
    # maximally mixed branch: bits agree half the time (or, flipped, also half), output I/4
    out = [keep * a + (1.0 - keep) * 0.125 for a in agree]
    n = sum(out)
    return [x / n for x in out], n


def werner_parameter(f: float) -> float:
    """The Werner parameter of a pair of fidelity ``F``: ``w = (4F - 1) / 3`` (a Werner state is
    ``w |Phi+><Phi+| + (1 - w) I/4``); swapping multiplies it, depolarizing scales it."""
    return (4.0 * f - 1.0) / 3.0


def werner_fidelity(w: float) -> float:
    """The fidelity of a Werner state of parameter ``w``: ``F = (3w + 1) / 4``."""
    return (3.0 * w + 1.0) / 4.0


def werner_swap_fidelity(f1: float, f2: float) -> float:
    """Fidelity after swapping two Werner pairs with perfect operations:
    ``F = F1 F2 + (1-F1)(1-F2)/3`` (e.g. Briegel et al., PRL 81, 5932 (1998))."""
    return f1 * f2 + (1.0 - f1) * (1.0 - f2) / 3.0


def depolarizing_lambda(dt: float, coherence_time: float | None) -> float:
    """Depolarizing parameter after storing a qubit for ``dt`` with coherence time ``T``:
    ``lam = 1 - exp(-dt / T)``."""
    if coherence_time is None or dt <= 0.0:
        return 0.0
    return 1.0 - math.exp(-dt / coherence_time)


def werner_after_storage(f: float, qubit_seconds_over_t: float) -> float:
    """Werner fidelity after depolarizing storage: ``F = 1/4 + (F0 - 1/4) exp(-sum_i dt_i / T_i)``."""
    return 0.25 + (f - 0.25) * math.exp(-qubit_seconds_over_t)


def bbpssw(f: float) -> tuple[float, float]:
    """BBPSSW on two Werner pairs (Bennett et al., PRL 76, 722 (1996)): ``(F', p_success)``."""
    r = (1.0 - f) / 3.0
    n = f * f + 2.0 * f * r + 5.0 * r * r
    return (f * f + r * r) / n, n


def dejmps(c: Sequence[float]) -> tuple[BellDiagonal, float]:
    """DEJMPS on two copies of Bell-diagonal ``(A, B, C, D)`` (Deutsch et al., PRL 77, 2818
    (1996)): ``A'=(A²+B²)/N, B'=2CD/N, C'=(C²+D²)/N, D'=2AB/N, N=(A+B)²+(C+D)²``."""
    a, b, cc, d = c
    n = (a + b) ** 2 + (cc + d) ** 2
    return ((a * a + b * b) / n, 2 * cc * d / n, (cc * cc + d * d) / n, 2 * a * b / n), n


def plob_bound(eta: float) -> float:
    """Repeaterless secret-key capacity per channel use, ``-log2(1 - eta)`` (Pirandola et al. 2017)."""
    return -math.log2(1.0 - eta)


def ghz_fidelity_depolarized(n: int, w: float, noisy: int | None = None) -> float:
    """Fidelity with the n-qubit GHZ state ``(|0...0> + |1...1>)/sqrt2`` after ``noisy`` of its
    qubits (default: all n) each went through the depolarizing channel
    ``rho -> w rho + (1 - w) I/2 (x) Tr_q rho``:

        F = ( w^m + ((1+w)/2)^m + [m = n] ((1-w)/2)^n ) / 2,    m = noisy.

    Derivation (one qubit's channel keeps I and scales X, Y, Z by w): write
    ``|GHZ><GHZ| = (|0^n><0^n| + |1^n><1^n|)/2 + (|0^n><1^n| + h.c.)/2``. The coherence
    ``|0^n><1^n| = prod_j (X_j + i Y_j)/2`` is a product of X/Y on every qubit, so it is scaled by
    ``w^m``: it contributes ``w^m / 2``. A diagonal ``|0><0| = (I + Z)/2`` on a noisy qubit becomes
    ``(1+w)/2 |0><0| + (1-w)/2 |1><1|``: ``|0^n><0^n|`` keeps all zeros with probability
    ``((1+w)/2)^m`` and, only when every qubit is noisy, becomes ``|1^n>`` with ``((1-w)/2)^n``;
    each of the two GHZ components has weight 1/2 in ``<GHZ|.|GHZ>``, so the diagonal part gives
    ``(((1+w)/2)^m + [m = n] ((1-w)/2)^n) / 2``. Check: n = 2, m = 2 gives the Werner fidelity
    ``(1 + 3 w^2)/4`` of two depolarized halves; m = 1 gives ``(1 + 3w)/4``.

    A GHZ state fused at a hub from n Werner pairs ``w Phi+ + (1-w) I/4`` (w = (4F-1)/3, i.e.
    the party's qubit of Phi+ depolarized with w) with ideal operations is this state with m = n;
    when the hub is a party and keeps its (noise-free) half of one pair, m = n - 1 of its n
    qubits are noisy (the noise of that pair sits on the other party's qubit)."""
    m = n if noisy is None else noisy
    if not 0 <= m <= n:
        raise ValueError(f"noisy must be between 0 and n={n}, got {m}")
    return ghz_fidelity_per_qubit([w] * m + [1.0] * (n - m))


def ghz_fidelity_per_qubit(ws: Sequence[float]) -> float:
    """:func:`ghz_fidelity_depolarized` with qubit j depolarized with its own ``ws[j]`` (1: a
    noise-free qubit): ``F = ( prod w_j + prod (1+w_j)/2 + prod (1-w_j)/2 ) / 2`` -- the same
    derivation, factor by factor; the last product vanishes unless every qubit is noisy. A GHZ
    state fused from pairs of different Werner parameters is this state."""
    return 0.5 * (math.prod(ws) + math.prod((1.0 + w) / 2.0 for w in ws) + math.prod((1.0 - w) / 2.0 for w in ws))


def mermin_value(n: int, w: float, noisy: int | None = None) -> float:
    """Expectation of the Mermin operator ``M_n = Re prod_j (X_j + i Y_j)`` (the sum over the
    2^(n-1) products of X and Y with an even number of Y, sign ``(-1)^(#Y/2)``) on the GHZ state
    with ``noisy`` qubits (default all n) depolarized with parameter ``w``:
    ``M = 2^(n-1) w^m``. On the ideal state ``prod_j (X_j + i Y_j) = 2^n |0^n><1^n|`` has
    expectation ``2^(n-1)``; every term is a product of X/Y on all n qubits, so each noisy qubit
    scales it by w. Local realism bounds it by ``2^(n/2)`` (n even) or ``2^((n-1)/2)`` (n odd)
    (Mermin 1990, PRL 65, 1838)."""
    m = n if noisy is None else noisy
    return 2.0 ** (n - 1) * w ** m


def pauli_expectations(v: Sequence[float]) -> tuple[float, float, float]:
    """``(<XX>, <YY>, <ZZ>)`` of a Bell-diagonal state in Pauli order (I=Phi+, X=Psi+, Z=Phi-,
    Y=Psi-): each Bell state's correlations are Phi+ (+,-,+), Phi- (-,+,+), Psi+ (+,+,-), Psi- (-,-,-)."""
    phi_p, psi_p, phi_m, psi_m = v
    return (phi_p - phi_m + psi_p - psi_m, -phi_p + phi_m + psi_p - psi_m, phi_p + phi_m - psi_p - psi_m)


def pauli_probe(v: Sequence[float], p: float, n: int, rng: Any) -> tuple[int, float]:
    """``n`` sacrificial pairs of a link (success probability ``p`` per attempt) in the
    Bell-diagonal state ``v`` (Pauli order), each measured in a random Pauli basis (X, Y or Z on
    both qubits): ``(attempts, fidelity_estimate)``. The attempts per pair are geometric; the
    estimate is ``F = (1 + <XX> - <YY> + <ZZ>) / 4`` from the sampled outcomes (its expectation
    is ``v[0]``), clipped to [0.25, 1]. Draws from ``rng`` (a :class:`random.Random`) in a fixed
    order: per pair the attempts (when ``p < 1``), the basis, the outcome."""
    xx, yy, zz = pauli_expectations(v)
    expect = {"X": xx, "Y": yy, "Z": zz}
    attempts = 0
    sums = {"X": 0, "Y": 0, "Z": 0}
    counts = {"X": 0, "Y": 0, "Z": 0}
    for _ in range(n):
        attempts += 1 if p >= 1.0 else 1 + int(math.log(1.0 - rng.random()) / math.log1p(-p))
        basis = "XYZ"[rng.randrange(3)]
        counts[basis] += 1
        sums[basis] += 1 if rng.random() < (1 + expect[basis]) / 2 else -1
    mean = {b: (sums[b] / counts[b]) if counts[b] else 0.0 for b in "XYZ"}
    return attempts, min(1.0, max(0.25, (1 + mean["X"] - mean["Y"] + mean["Z"]) / 4))
