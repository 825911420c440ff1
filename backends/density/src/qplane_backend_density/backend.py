"""Density-matrix state backend (qutip).

Every live qubit belongs to a *group*: qubits whose joint state is one density matrix, a
numpy array whose :attr:`QubitGroup.rho` is the :class:`qutip.Qobj` with dims
``[[2]*n, [2]*n]`` (qubit ``i`` of the group is tensor factor ``i``). A pair is a 2-qubit group. A Bell-state measurement or a purification round merges two
groups for the duration of its circuit (four qubits); the measured qubits are projected and
traced away, so on a repeater chain groups are back to two qubits after every operation. A
discarded qubit is traced out; a partner left alone keeps its one-qubit reduced state, and a
group of three or more that factorizes after a measurement is split.

Everything is exact:

* storage noise, applied lazily when a qubit is touched, is the memory's ``kraus(dt)`` when it
  has one (amplitude damping + dephasing), else the exact depolarizing channel when it has a
  ``depolarizing_time``, else its ``pauli_probs(dt)`` Pauli channel;
* a swap is the circuit CNOT, H, Z-measurements with outcomes drawn from the Born rule with the
  backend's ``rng``; purification is local rotations (DEJMPS) or the exact twirl channel
  (BBPSSW), bilateral CNOT and Z-measurements, with the noise model of
  :func:`qplane_physics.purify`;
* noisy readout (``measurement_error``) is a quantum instrument: the *reported* bits are drawn
  from their distribution and the remaining qubits get the state conditioned on what was
  reported (a mixture over the true outcomes). Over many rounds this is the same as drawing
  the true bits and flipping them, but the state is what the nodes can know, so e.g. the kept
  pair of a successful purification round is deterministic.

Speed: the state is stored as a plain numpy array (``QubitGroup.m``) and the hot paths
(one-qubit channels, the swap and purification circuits and their partial traces) compute on
it; a Qobj is made only when asked for (``QubitGroup.rho``, wrapping the buffer without
copying: ``_qobj``, cached ``Dimensions``, ~4 µs, which was 20% of a 9-node chain's run time
when every result was wrapped). qutip's ``ptrace``/``tensor``/``permute`` take
25-90 µs each on 4x4 and 16x16 matrices where the numpy reshapes take 1-3 µs, and a swap needs
several; qutip's own routines build every gate and serve the diagnostics
(:meth:`DensityBackend.density_matrix`). The swap of two 2-qubit groups (the repeater-chain
case) contracts the circuit's outcome operators with the two 4x4 matrices instead of forming
the 16x16 state (:func:`swap_branches`, checked against the circuit in the tests); the pair
kernels of :mod:`.pairs` do that, the one-qubit channels on a pair and the storage noise the
measured qubits owe in a handful of numpy calls (a swap ~7 µs, a link pair ~1 µs: the
Bell-diagonal link states are cached, :func:`bell_diagonal_matrix`).

Must not touch: the HAL and the protocols; this module only implements
:class:`qplane.backend.StateBackend`.
"""

from __future__ import annotations

import functools
import math
import random
import warnings
from typing import Any, Sequence

import numpy as np

with warnings.catch_warnings():
    # qutip warns at import when matplotlib is missing; plotting is no concern of a backend
    warnings.filterwarnings("ignore", message=".*matplotlib.*")
    import qutip
from qutip import Qobj
from qutip.core import data as _qdata
from qutip.core.dimensions import Dimensions

import qplane_physics as physics
from qplane.backend import MemoryNoise
from qplane.errors import CapabilityError, QPlaneError

from . import pairs
from .multipartite import MAX_GROUP_QUBITS, apply_leading_unitary, ghz_fidelity_leading
from .pairs import sample as _sample
from .params import CAPABILITIES, DensityParams


class UnknownGateError(QPlaneError, ValueError):
    """``apply_gate`` was given a gate name this backend does not know."""


# --- gates, built as Qobj ---------------------------------------------------------------

_SQRT_HALF = 1.0 / math.sqrt(2.0)
I2 = qutip.qeye(2)
X = qutip.sigmax()
Y = qutip.sigmay()
Z = qutip.sigmaz()
H = (X + Z) * _SQRT_HALF
S = Qobj(np.diag([1.0, 1.0j]))
SDG = S.dag()
_P0 = qutip.basis(2, 0).proj()
_P1 = qutip.basis(2, 1).proj()
#: Paulis by qplane's Pauli index (I=0, X=1, Z=2, Y=3)
PAULIS: tuple[Qobj, Qobj, Qobj, Qobj] = (I2, X, Z, Y)


def rx(theta: float) -> Qobj:
    return math.cos(theta / 2) * I2 - 1j * math.sin(theta / 2) * X


def ry(theta: float) -> Qobj:
    return math.cos(theta / 2) * I2 - 1j * math.sin(theta / 2) * Y


def rz(theta: float) -> Qobj:
    return math.cos(theta / 2) * I2 - 1j * math.sin(theta / 2) * Z


def controlled(n: int, control: int, target: int, op: Qobj = X) -> Qobj:
    """``op`` on qubit ``target`` controlled by qubit ``control``, on ``n`` qubits."""
    off = [I2] * n
    on = [I2] * n
    off[control] = _P0
    on[control] = _P1
    on[target] = op
    return qutip.tensor(off) + qutip.tensor(on)


CNOT = controlled(2, 0, 1)
CZ = controlled(2, 0, 1, Z)

ONE_QUBIT_GATES: dict[str, Qobj] = {"I": I2, "X": X, "Y": Y, "Z": Z, "H": H, "S": S, "SDG": SDG}
TWO_QUBIT_GATES: dict[str, Qobj] = {"CNOT": CNOT, "CX": CNOT, "CZ": CZ}
ROTATIONS = {"RX": rx, "RY": ry, "RZ": rz}

#: Bell states by Pauli index: B_k = (I (x) P_k) |Phi+>
PHI_PLUS = qutip.bell_state("00")
BELL_STATES: tuple[Qobj, ...] = tuple(qutip.tensor(I2, p) * PHI_PLUS for p in PAULIS)

# Bell-state measurement circuit on (q1, q2): CNOT q1 -> q2, then H on q1. It maps B_k to the
# basis state |z x> with k = x | z << 1 (Phi+ -> |00>, Psi+ -> |01>, Phi- -> |10>,
# Psi- -> |11>), so the outcome index 2*b1 + b2 *is* the Pauli index k. Projecting the inner
# qubits of a (x) B_i and B_j (x) c onto B_k leaves the outer ones in B_{i^j^k} ((A (x) I)|Phi+>
# = (I (x) A^T)|Phi+> and P^* = +-P), the identity qplane_physics and the fidelity backend use:
# the partner applies P_k to restore the convolution.
BSM_CIRCUIT = qutip.tensor(H, I2) * CNOT

# Purification circuits on the qubit order (sa, sb, qa, qb): the sacrificed pair first, so its
# two measured qubits lead the tensor product; node A holds sa, qa and node B holds sb, qb.
BILATERAL_CNOT = controlled(4, 2, 0) * controlled(4, 3, 1)
DEJMPS_ROTATIONS = qutip.tensor(rx(math.pi / 2), rx(-math.pi / 2), rx(math.pi / 2), rx(-math.pi / 2))
DEJMPS_CIRCUIT = BILATERAL_CNOT * DEJMPS_ROTATIONS

#: measurement bases: rows are the bras of outcome 0 and 1 (a unitary taking the basis to Z)
MEASUREMENT_BASES: dict[str, Qobj] = {
    "Z": I2,
    "X": H,
    "Y": H * SDG,  # |+i> -> |0>, |-i> -> |1>
}

# --- numpy views of the above for the hot paths ---------------------------------------------

_C = np.complex128
_PAULI_ARRAYS = [p.full() for p in PAULIS]
_BELL_PROJ = np.stack([(b * b.dag()).full() for b in BELL_STATES])  # (4, 4, 4), Pauli order
_PHI = PHI_PLUS.full().ravel()
_PHI_PROJ = np.outer(_PHI, _PHI.conj())
_I4 = np.eye(4, dtype=_C)


def superoperator(ops: Sequence[Any]) -> np.ndarray:
    """4x4 matrix of the one-qubit channel ``rho -> sum K rho K^dag`` acting on
    ``rho[i, l]`` flattened as ``2*i + l``: ``S[(i,l),(j,k)] = sum K[i,j] conj(K[l,k])``."""
    k = np.asarray(ops, dtype=_C).reshape(-1, 2, 2)
    return (k[:, :, None, :, None] * k.conj()[:, None, :, None, :]).sum(axis=0).reshape(4, 4)


_PAULI_SUPER = np.stack([superoperator([p]) for p in _PAULI_ARRAYS])  # (4, 4, 4)
_PAULI_SUPER_ROWS = _PAULI_SUPER.reshape(4, 16)  # probs @ rows = the Pauli channel, flattened
_BELL_PROJ_ROWS = _BELL_PROJ.reshape(4, 16)
_ID_SUPER = np.eye(4, dtype=_C)
# complete depolarization rho -> I/2 Tr(rho)
_DEPOL_SUPER = np.outer([1, 0, 0, 1], [1, 0, 0, 1]).astype(_C) * 0.5
_DEPOL_STEP = _DEPOL_SUPER - _ID_SUPER  # (1-lam) id + lam D = id + lam (D - id)


def pauli_superoperator(probs: Sequence[float]) -> np.ndarray:
    """Superoperator of the Pauli channel ``(pI, pX, pZ, pY)``."""
    return (np.asarray(probs, dtype=float) @ _PAULI_SUPER_ROWS).reshape(4, 4)


_BELL_DIAGONAL: dict[tuple, np.ndarray] = {}


def bell_diagonal_matrix(state: Sequence[float]) -> np.ndarray:
    """4x4 density matrix of the Bell-diagonal state with coefficients ``state`` (Bell
    order), cached by value (a link hands out the same few states again and again) and read
    only: the backend never writes into a state, every operation makes a new array."""
    key = tuple(state)
    m = _BELL_DIAGONAL.get(key)
    if m is None:
        v = physics.to_pauli_order(state)
        m = np.ascontiguousarray((np.asarray(v, dtype=float) @ _BELL_PROJ_ROWS).reshape(4, 4), dtype=_C)
        m.flags.writeable = False
        if len(_BELL_DIAGONAL) >= 1024:
            _BELL_DIAGONAL.clear()
        _BELL_DIAGONAL[key] = m
    return m


_DIMS: dict[int, Any] = {}


def _qobj(m: np.ndarray, n: int) -> Qobj:
    """Wrap a C-contiguous complex (2^n x 2^n) array as a density-matrix Qobj, no copy."""
    dims = _DIMS.get(n)
    if dims is None:
        dims = _DIMS[n] = Dimensions([[2] * n, [2] * n])
    return Qobj(_qdata.Dense(m, copy=False), dims=dims, copy=False, isherm=True)


def _array(rho: Qobj) -> np.ndarray:
    """The Qobj's own buffer (read only by convention)."""
    return rho.data.as_ndarray()


def apply_one_qubit(m: np.ndarray, n: int, k: int, sup: np.ndarray) -> np.ndarray:
    """Superoperator ``sup`` (see :func:`superoperator`) on qubit ``k`` of an n-qubit matrix."""
    if n == 1:
        return (sup @ m.reshape(4)).reshape(2, 2)
    a = 1 << k
    b = 1 << (n - 1 - k)
    d = 1 << n
    t = m.reshape(a, 2, b, a, 2, b).transpose(1, 4, 0, 2, 3, 5).reshape(4, -1)
    return (sup @ t).reshape(2, 2, a, b, a, b).transpose(2, 0, 3, 4, 1, 5).reshape(d, d)


def trace_out(m: np.ndarray, n: int, k: int) -> np.ndarray:
    """Partial trace over qubit ``k``."""
    a = 1 << k
    b = 1 << (n - 1 - k)
    h = 1 << (n - 1)
    t = m.reshape(a, 2, b, a, 2, b)
    return (t[:, 0, :, :, 0, :] + t[:, 1, :, :, 1, :]).reshape(h, h)


def permute(m: np.ndarray, n: int, order: Sequence[int]) -> np.ndarray:
    """Reorder the tensor factors: new qubit ``i`` is old qubit ``order[i]``."""
    d = 1 << n
    axes = list(order) + [n + o for o in order]
    return m.reshape((2,) * (2 * n)).transpose(axes).reshape(d, d)


def kron(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """``x (x) y`` for square matrices (np.kron costs ~20 µs; broadcasting ~2 µs)."""
    p, q = x.shape[0], y.shape[0]
    return (x[:, None, :, None] * y[None, :, None, :]).reshape(p * q, p * q)


def reduce_leading(m: np.ndarray, n: int, k: int) -> np.ndarray:
    """State of the first ``k`` qubits."""
    kk = 1 << k
    r = (1 << n) >> k
    return m.reshape(kk, r, kk, r).trace(axis1=1, axis2=3)


def apply_two_adjacent(m: np.ndarray, n: int, k: int, sup: np.ndarray) -> np.ndarray:
    """16x16 superoperator on qubits ``k, k+1`` (layout of :func:`superoperator`, with the
    pair's 4-dim index in place of the qubit's)."""
    a = 1 << k
    b = 1 << (n - 2 - k)
    d = 1 << n
    t = m.reshape(a, 4, b, a, 4, b).transpose(1, 4, 0, 2, 3, 5).reshape(16, -1)
    return (sup @ t).reshape(4, 4, a, b, a, b).transpose(2, 0, 3, 4, 1, 5).reshape(d, d)


def _twirl_superoperator() -> np.ndarray:
    overlap = np.outer(_PHI.conj(), _PHI).ravel()  # X -> <Phi+|X|Phi+> as a row on vec(X)
    trace = _I4.ravel()
    return np.outer(_PHI_PROJ.ravel(), overlap) + np.outer((_I4 - _PHI_PROJ).ravel() / 3.0, trace - overlap)


#: isotropic twirl of a pair: the average of ``(U (x) U*) rho (U (x) U*)^dag`` over a unitary
#: 2-design (e.g. BBPSSW's 12 bilateral rotations), which takes every two-qubit state to the
#: Werner state of the same fidelity: ``T(X) = <Phi+|X|Phi+> Phi+ + (Tr X - <Phi+|X|Phi+>) (I - Phi+)/3``
TWIRL_SUPER = _twirl_superoperator()


def twirl_pair(m: np.ndarray, n: int, k: int) -> np.ndarray:
    """The isotropic twirl (:data:`TWIRL_SUPER`) on qubits ``k, k+1``."""
    return apply_two_adjacent(m, n, k, TWIRL_SUPER)


def depolarize_two(m: np.ndarray, n: int, k1: int, k2: int, p: float) -> np.ndarray:
    """Two-qubit depolarizing on qubits ``k1, k2``: ``(1-p) rho + p I/4 (x) Tr_{k1 k2} rho``
    (the average over the 16 two-qubit Paulis, as in qplane_physics)."""
    full = apply_one_qubit(apply_one_qubit(m, n, k1, _DEPOL_SUPER), n, k2, _DEPOL_SUPER)
    return (1.0 - p) * m + p * full


def depolarize_leading(m: np.ndarray, n: int, k: int, p: float) -> np.ndarray:
    """Depolarizing of the first ``k`` qubits: ``(1-p) rho + p I/2^k (x) Tr_{first k} rho``."""
    kk = 1 << k
    r = (1 << n) >> k
    rest = m.reshape(kk, r, kk, r).trace(axis1=0, axis2=2)
    return (1.0 - p) * m + kron(np.eye(kk) * (p / kk), rest)


@functools.lru_cache(maxsize=256)
def readout_confusion(*flip: float) -> np.ndarray:
    """``M[r, s]``: probability of reporting bits ``r`` when the true bits are ``s`` (first
    bit most significant), each bit flipped independently with its probability."""
    out = np.ones((1, 1))
    for e in flip:
        out = np.kron(out, np.array([[1.0 - e, e], [e, 1.0 - e]]))
    out.flags.writeable = False  # cached
    return out


_LIFTED: dict[tuple[str, int], tuple[np.ndarray, np.ndarray]] = {}


def _lifted(name: str, u: Qobj, rest: int) -> tuple[np.ndarray, np.ndarray]:
    """``U (x) I_rest`` and its adjoint as numpy arrays, cached by name."""
    key = (name, rest)
    hit = _LIFTED.get(key)
    if hit is None:
        full = u.full() if rest == 1 else qutip.tensor(u, qutip.qeye(rest)).full()
        hit = _LIFTED[key] = (np.ascontiguousarray(full), np.ascontiguousarray(full.conj().T))
    return hit


def measure_leading(m: np.ndarray, n: int, k: int, u: float,
                    confusion: np.ndarray | None = None) -> tuple[int, np.ndarray, np.ndarray]:
    """Measure the first ``k`` qubits in Z. Returns ``(reported, reported-outcome
    probabilities, normalized state of the other qubits)``. With a readout ``confusion`` matrix
    the state is conditioned on the reported outcome (mixture over the true ones)."""
    kk = 1 << k
    r = (1 << n) >> k
    raw = m.diagonal().real.reshape(kk, r).sum(axis=1)  # Tr(rho) is 1 up to rounding
    born = raw / raw.sum()
    t = m.reshape(kk, r, kk, r)
    if confusion is None:
        s = _sample(born, u)
        return s, born, t[s, :, s, :] / raw[s]
    probs = confusion @ born
    s = _sample(probs, u)
    w = confusion[s]
    post = np.zeros((r, r), dtype=_C)
    for true, weight in enumerate(w.tolist()):
        if weight and raw[true] > 0.0:
            post += weight * t[true, :, true, :]
    return s, probs, post / float(np.trace(post).real)


def _bsm_outcome_operators() -> np.ndarray:
    """``W[s, (j,j'), (k,k')] = U[s, jk] conj(U[s, j'k'])`` for the BSM circuit ``U``: outcome
    ``s``'s measurement operator ``<s|U`` on (q1, q2), in the index layout of
    :func:`swap_branches`."""
    us = BSM_CIRCUIT.full().reshape(4, 2, 2)  # [s, j (q1), k (q2)]
    return np.einsum("sjk,smn->sjmkn", us, us.conj()).reshape(4, 4, 4)


_BSM_W = _bsm_outcome_operators()


def swap_branches(r1: np.ndarray, i1: int, r2: np.ndarray, i2: int) -> tuple[np.ndarray, np.ndarray]:
    """The Bell-measurement circuit on two pairs, contracted without forming the 16x16 state.

    ``r1`` is the pair (a, q1) or (q1, a) (``q1`` at index ``i1``), ``r2`` the pair holding
    ``q2`` at ``i2``. Returns ``(X, rest)``: ``X[s]`` is the unnormalized state of the outer
    qubits after outcome ``s`` as a matrix over ``((a,a'), (c,c'))``, i.e.
    ``sum U[s,jk] conj(U[s,j'k']) r1[a j, a' j'] r2[k c, k' c']`` (its trace is the Born
    probability), and ``rest`` the same layout of ``rho_a (x) rho_c`` (the outer state when the
    inner qubits are depolarized)."""
    t1 = r1.reshape(2, 2, 2, 2)
    if i1 == 0:
        t1 = t1.transpose(1, 0, 3, 2)  # -> (a, q1, a', q1')
    t2 = r2.reshape(2, 2, 2, 2)
    if i2 == 1:
        t2 = t2.transpose(1, 0, 3, 2)  # -> (q2, c, q2', c')
    m1 = t1.transpose(0, 2, 1, 3).reshape(4, 4)  # [(a a'), (j j')]
    m2 = t2.transpose(0, 2, 1, 3).reshape(4, 4)  # [(k k'), (c c')]
    rest = np.outer(m1[:, ::3].sum(axis=1), m2[::3, :].sum(axis=0))  # j = j', k = k' traced
    return m1 @ _BSM_W @ m2, rest


def branch_to_pair(x: np.ndarray) -> np.ndarray:
    """``((a,a'), (c,c'))`` layout -> the 4x4 density matrix of (a, c)."""
    return x.reshape(2, 2, 2, 2).transpose(0, 2, 1, 3).reshape(4, 4)


# --- the state --------------------------------------------------------------------------


class QubitGroup:
    """Qubits sharing one density matrix; ``qubits[i]`` is tensor factor ``i`` of ``rho``.

    The state is kept as the plain C-contiguous numpy array ``m`` (a Qobj costs ~4 µs to
    build, more than a whole pair kernel of :mod:`.pairs`); :attr:`rho` wraps it as a Qobj
    on demand (no copy) for qutip's routines and diagnostics."""

    __slots__ = ("qubits", "m")

    def __init__(self, qubits: list["DensityQubit"], m: np.ndarray):
        self.qubits = qubits
        self.m = m

    @property
    def rho(self) -> Qobj:
        """The state as a :class:`qutip.Qobj` (dims ``[[2]*n, [2]*n]``) sharing ``m``'s buffer."""
        return _qobj(self.m, len(self.qubits))

    @property
    def size(self) -> int:
        return len(self.qubits)


class DensityQubit:
    """A backend qubit handle. ``group`` is None once the qubit was measured or discarded."""

    __slots__ = ("group", "t", "noise", "depol_t", "kraus")

    def __init__(self, t: float, noise: MemoryNoise | None):
        self.group: QubitGroup | None = None
        self.t = t
        self.noise = noise
        self.depol_t = getattr(noise, "depolarizing_time", None) if noise is not None else None
        self.kraus = getattr(noise, "kraus", None) if noise is not None else None

    def __repr__(self) -> str:
        state = "gone" if self.group is None else f"in a {self.group.size}-qubit group"
        return f"<DensityQubit {id(self):#x} {state}>"


class DensityBackend:
    """Exact density matrices (qutip) of groups of entangled qubits."""

    name = "density"
    capabilities = CAPABILITIES
    #: most qubits one joint state may hold (see :mod:`.multipartite`)
    max_group_qubits = MAX_GROUP_QUBITS

    def __init__(self, rng: random.Random):
        self.rng = rng
        #: exact probability that the last purification round reported agreeing bits
        self.last_success_probability: float | None = None

    @classmethod
    def from_params(cls, params: DensityParams, rng: random.Random) -> "DensityBackend":
        return cls(rng)

    # --- bookkeeping ---------------------------------------------------------------------
    @staticmethod
    def _alive(*qubits: DensityQubit) -> None:
        for q in qubits:
            if q.group is None:
                raise ValueError(f"{q!r} no longer exists (it was measured or discarded)")

    @staticmethod
    def _set(qubits: list[DensityQubit], m: np.ndarray) -> None:
        """Make ``qubits`` one group with state ``m``."""
        g = QubitGroup(qubits, np.ascontiguousarray(m, dtype=_C))
        for q in qubits:
            q.group = g

    def _regroup(self, qubits: list[DensityQubit], m: np.ndarray) -> None:
        """What remains after a measurement or a discard; groups of three or more are split
        where the state factorizes off single qubits, so groups stay small."""
        n = len(qubits)
        if n == 0:
            return
        k = 0
        while n >= 3 and k < n:
            order = [k] + [i for i in range(n) if i != k]
            mp = permute(m, n, order)
            one = reduce_leading(mp, n, 1)
            rest = trace_out(m, n, k)
            if np.allclose(kron(one, rest), mp, rtol=0.0, atol=1e-12):
                self._set([qubits[k]], one)
                qubits = qubits[:k] + qubits[k + 1:]
                m, n, k = rest, n - 1, 0
            else:
                k += 1
        self._set(list(qubits), m)

    def _gather(self, first: Sequence[DensityQubit], now: float | None = None) -> tuple[np.ndarray, list[DensityQubit]]:
        """The joint state of the groups of ``first`` (merged by tensor product), with
        ``first`` as the leading qubits in that order. With ``now``, the storage noise ``first``
        owes is applied on the way, to each group's matrix before the merge (cheaper, and one
        Qobj for the whole operation instead of one per channel); the other qubits' channels
        commute with whatever the caller does to ``first`` and stay lazy."""
        groups: list[QubitGroup] = []
        arrays: list[np.ndarray] = []
        for q in first:
            g = q.group
            for i, h in enumerate(groups):
                if h is g:
                    break
            else:
                i = len(groups)
                groups.append(g)  # type: ignore[arg-type]
                arrays.append(g.m)  # type: ignore[union-attr]
            if now is not None:
                sup = self._due(q, now)
                if sup is not None:
                    qs = g.qubits  # type: ignore[union-attr]
                    arrays[i] = apply_one_qubit(arrays[i], len(qs), next(j for j, x in enumerate(qs) if x is q), sup)
        m = arrays[0]
        qubits = groups[0].qubits
        if len(groups) > 1:
            size = sum(g.size for g in groups)
            if size > MAX_GROUP_QUBITS:
                raise CapabilityError(f"backend 'density' holds at most {MAX_GROUP_QUBITS} qubits in one joint state; "
                                      f"this operation needs {size} (the 'stabilizer' backend has no limit)")
            qubits = list(qubits)
            for h, a in zip(groups[1:], arrays[1:]):
                m = kron(m, a)
                qubits += h.qubits
        n = len(qubits)
        lead = [next(i for i, x in enumerate(qubits) if x is q) for q in first]
        order = lead + [i for i in range(n) if i not in lead]
        if order != list(range(n)):
            m = permute(m, n, order)
            qubits = [qubits[i] for i in order]
        return m, list(qubits)

    # --- lazy storage noise -------------------------------------------------------------------
    @staticmethod
    def _due(q: DensityQubit, now: float) -> np.ndarray | None:
        """Superoperator of the storage noise ``q`` owes up to ``now`` (None if nothing); marks
        it applied, so the caller must apply it."""
        dt = now - q.t
        if dt <= 0.0:
            return None
        q.t = now
        noise = q.noise
        if noise is None:
            return None
        if q.kraus is not None:
            return superoperator(q.kraus(dt))
        if q.depol_t is not None:
            lam = physics.depolarizing_lambda(dt, q.depol_t)
            return _ID_SUPER + lam * _DEPOL_STEP if lam else None
        return pauli_superoperator(noise.pauli_probs(dt))

    def _catch_up(self, q: DensityQubit, now: float) -> None:
        sup = self._due(q, now)
        if sup is not None:
            self._apply_superoperator(q, sup)

    @staticmethod
    def _apply_superoperator(q: DensityQubit, sup: np.ndarray) -> None:
        g = q.group
        qubits = g.qubits  # type: ignore[union-attr]
        n = len(qubits)
        k = 0 if qubits[0] is q else next(i for i, x in enumerate(qubits) if x is q)
        if n == 2:
            g.m = pairs.channel(g.m, k, sup)  # type: ignore[union-attr]
        else:
            g.m = apply_one_qubit(g.m, n, k, sup)  # type: ignore[union-attr]

    # --- pair operations --------------------------------------------------------------------
    def create_pair(self, state: Sequence[float], noise_a: MemoryNoise | None, noise_b: MemoryNoise | None,
                    t_a: float, t_b: float) -> tuple[DensityQubit, DensityQubit]:
        qa, qb = DensityQubit(t_a, noise_a), DensityQubit(t_b, noise_b)
        g = QubitGroup([qa, qb], bell_diagonal_matrix(state))
        qa.group = qb.group = g
        return qa, qb

    def apply_pauli(self, qubit: DensityQubit, pauli: int, now: float) -> None:
        self._alive(qubit)
        self._catch_up(qubit, now)
        if pauli:
            self._apply_superoperator(qubit, _PAULI_SUPER[pauli])

    def apply_pauli_channel(self, qubit: DensityQubit, probs: Sequence[float], now: float) -> None:
        self._alive(qubit)
        self._catch_up(qubit, now)
        self._apply_superoperator(qubit, pauli_superoperator(probs))

    def apply_kraus(self, qubit: DensityQubit, ops: Sequence[Any], now: float) -> None:
        """Apply the one-qubit channel with Kraus operators ``ops`` (2x2: nested lists, arrays
        or Qobj) exactly."""
        self._alive(qubit)
        mats = [np.asarray(o.full() if isinstance(o, Qobj) else o, dtype=_C) for o in ops]
        if any(k.shape != (2, 2) for k in mats):
            raise ValueError("Kraus operators of a one-qubit channel must be 2x2")
        completeness = sum(k.conj().T @ k for k in mats)
        if not np.allclose(completeness, np.eye(2), atol=1e-9):
            raise ValueError("Kraus operators are not trace preserving (sum K^dag K != I)")
        self._catch_up(qubit, now)
        self._apply_superoperator(qubit, superoperator(mats))

    def bell_measure(self, q1: DensityQubit, q2: DensityQubit, now: float, gate_error: float = 0.0,
                     measurement_error: float = 0.0) -> int:
        self._alive(q1, q2)
        g1, g2 = q1.group, q2.group
        if q1 is q2 or (g1 is g2 and g1.size == 2):  # type: ignore[union-attr]
            raise ValueError("Bell measurement of the two halves of one pair")
        if g1 is not g2 and g1.size == 2 and g2.size == 2:  # type: ignore[union-attr]
            return self._swap_two_pairs(q1, q2, now, gate_error, measurement_error)
        m, qubits = self._gather((q1, q2), now)
        n = len(qubits)
        if gate_error:
            m = depolarize_leading(m, n, 2, gate_error)
        u, uh = _lifted("bsm", BSM_CIRCUIT, 1 << (n - 2))
        m = u @ m @ uh
        confusion = readout_confusion(measurement_error, measurement_error) if measurement_error else None
        reported, _, post = measure_leading(m, n, 2, self.rng.random(), confusion)
        q1.group = q2.group = None
        self._regroup(qubits[2:], post)
        return reported  # 2*b1 + b2 is the Pauli index (see BSM_CIRCUIT)

    def _swap_two_pairs(self, q1: DensityQubit, q2: DensityQubit, now: float, gate_error: float,
                        measurement_error: float) -> int:
        """:meth:`bell_measure` of the common case, two 2-qubit groups: the same circuit and
        instrument contracted on the 4x4 matrices (:func:`swap_branches`, here as
        :func:`.pairs.swap`: the measured qubits' storage noise folded in, only the drawn
        branch formed), several times faster than forming the 16x16 state."""
        g1, g2 = q1.group, q2.group
        qs1, qs2 = g1.qubits, g2.qubits  # type: ignore[union-attr]
        i1 = 0 if qs1[0] is q1 else 1
        i2 = 0 if qs2[0] is q2 else 1
        confusion = readout_confusion(measurement_error, measurement_error) if measurement_error else None
        sup1 = self._due(q1, now)
        sup2 = self._due(q2, now)
        s, post = pairs.swap(g1.m, i1, sup1, g2.m, i2, sup2, _BSM_W,  # type: ignore[union-attr]
                             self.rng.random(), gate_error, confusion)
        q1.group = q2.group = None
        a, c = qs1[1 - i1], qs2[1 - i2]
        g = QubitGroup([a, c], post)
        a.group = c.group = g
        return s

    def fidelity(self, q1: DensityQubit, q2: DensityQubit, now: float) -> float:
        self._alive(q1, q2)
        self._catch_up(q1, now)
        self._catch_up(q2, now)
        g1, g2 = q1.group, q2.group
        if g1 is g2:
            # SWAP |Phi+> = |Phi+>: the order of the two qubits does not matter
            r = g1.m if g1.size == 2 else self._reduced(q1, q2)  # type: ignore[union-attr]
            return float((r[0, 0] + r[3, 3] + r[0, 3] + r[3, 0]).real) * 0.5
        # uncorrelated: <Phi+| r1 (x) r2 |Phi+> = sum_ij r1[i,j] r2[i,j] / 2
        return float(np.sum(self._reduced(q1) * self._reduced(q2)).real) * 0.5

    def _reduced(self, *qubits: DensityQubit) -> np.ndarray:
        """numpy state of ``qubits`` (all in one group), in that order."""
        g = qubits[0].group
        n = g.size  # type: ignore[union-attr]
        if n == len(qubits) and all(a is b for a, b in zip(qubits, g.qubits)):  # type: ignore[union-attr]
            return g.m  # type: ignore[union-attr]
        m, order = self._gather(qubits)
        return reduce_leading(m, n, len(qubits))

    def bell_diagonal(self, q1: DensityQubit, q2: DensityQubit, now: float) -> physics.BellDiagonal:
        """Diagonal of the pair's state in the Bell basis, Bell order (Phi+, Psi-, Psi+, Phi-);
        the whole state when it is Bell-diagonal (for tests and diagnostics)."""
        self._alive(q1, q2)
        self._catch_up(q1, now)
        self._catch_up(q2, now)
        if q1.group is q2.group:
            r = self._reduced(q1, q2)
        else:
            r = kron(self._reduced(q1), self._reduced(q2))
        v = np.einsum("kij,ji->k", _BELL_PROJ, r).real
        return physics.from_pauli_order([float(x) for x in v])

    def density_matrix(self, qubits: Sequence[DensityQubit], now: float) -> Qobj:
        """Joint state of ``qubits`` (in that order) as a Qobj, storage noise applied; qubits
        of different groups are uncorrelated. Uses qutip's tensor/ptrace/permute (diagnostics,
        not a hot path)."""
        self._alive(*qubits)
        for q in qubits:
            self._catch_up(q, now)
        groups: list[QubitGroup] = []
        for q in qubits:
            if not any(q.group is h for h in groups):
                groups.append(q.group)  # type: ignore[arg-type]
        rho = groups[0].rho if len(groups) == 1 else qutip.tensor([g.rho for g in groups])
        everyone = [x for g in groups for x in g.qubits]
        sel = [next(i for i, x in enumerate(everyone) if x is q) for q in qubits]
        chosen = sorted(sel)
        if len(chosen) < len(everyone):
            rho = rho.ptrace(chosen)
        perm = [chosen.index(i) for i in sel]
        if perm != list(range(len(perm))):
            rho = rho.permute(perm)
        return rho

    def ghz_fidelity(self, qubits: Sequence[DensityQubit], now: float) -> float:
        """Exact fidelity of ``qubits`` with the GHZ state (storage noise applied up to ``now``)."""
        qubits = list(qubits)
        if not qubits or len({id(q) for q in qubits}) != len(qubits):
            raise ValueError("ghz_fidelity needs one or more distinct qubits")
        self._alive(*qubits)
        for q in qubits:
            self._catch_up(q, now)
        m, order = self._gather(qubits)
        return ghz_fidelity_leading(m, len(order), len(qubits))

    def discard(self, qubit: DensityQubit, now: float) -> None:
        g = qubit.group
        if g is None:
            return  # already measured or discarded
        qubit.group = None
        n = g.size
        if n == 1:
            return
        k = next(i for i, x in enumerate(g.qubits) if x is qubit)
        self._regroup([x for x in g.qubits if x is not qubit], trace_out(g.m, n, k))

    # --- capability PURIFICATION --------------------------------------------------------------
    def purify(self, keep: tuple[DensityQubit, DensityQubit], sacrifice: tuple[DensityQubit, DensityQubit],
               now: float, protocol: str = "dejmps", gate_error: tuple[float, float] = (0.0, 0.0),
               measurement_error: tuple[float, float] = (0.0, 0.0)) -> bool:
        qa, qb = keep
        sa, sb = sacrifice
        self._alive(qa, qb, sa, sb)
        if len({id(qa), id(qb), id(sa), id(sb)}) != 4 or qa.group is not qb.group or sa.group is not sb.group:
            raise ValueError("purify needs two distinct pairs, each shared by the two nodes")
        if protocol == "bbpssw":
            circuit_name, circuit = "bilateral-cnot", BILATERAL_CNOT
        elif protocol == "dejmps":
            circuit_name, circuit = "dejmps", DEJMPS_CIRCUIT
        else:
            raise ValueError(f"unknown purification protocol {protocol!r}; known: bbpssw, dejmps")
        m, qubits = self._gather((sa, sb, qa, qb), now)  # node A: sa, qa; node B: sb, qb
        n = len(qubits)
        if protocol == "bbpssw":
            m = twirl_pair(twirl_pair(m, n, 0), n, 2)
        # a two-qubit depolarizing channel on one node's qubits commutes with any unitary on
        # those qubits, so it can act before the (node-local) rotations and CNOTs
        g_a, g_b = gate_error
        if g_a:
            m = depolarize_two(m, n, 0, 2, g_a)
        if g_b:
            m = depolarize_two(m, n, 1, 3, g_b)
        u, uh = _lifted(circuit_name, circuit, 1 << (n - 4))
        m = u @ m @ uh
        m_a, m_b = measurement_error
        confusion = readout_confusion(m_a, m_b) if (m_a or m_b) else None
        reported, probs, post = measure_leading(m, n, 2, self.rng.random(), confusion)
        self.last_success_probability = float(probs[0] + probs[3])
        sa.group = sb.group = None
        self._regroup(qubits[2:], post)
        # bits agree: reported 00 or 11. On disagreement the kept pair holds the (spoiled)
        # post-measurement state and the caller discards it.
        return reported == 0 or reported == 3

    # --- capability GATES / CLIFFORD_GATES ---------------------------------------------------
    @staticmethod
    def gate_matrix(gate: str) -> Qobj:
        """The unitary named ``gate``: ``X Y Z H S SDG CNOT CZ`` or ``RX:theta`` (also
        ``RX(theta)``) for RX, RY, RZ; case-insensitive."""
        name = gate.strip().upper()
        if name in ONE_QUBIT_GATES:
            return ONE_QUBIT_GATES[name]
        if name in TWO_QUBIT_GATES:
            return TWO_QUBIT_GATES[name]
        for sep in (":", "("):
            head, found, arg = name.partition(sep)
            if found and head.strip() in ROTATIONS:
                try:
                    theta = float(arg.rstrip(")").strip())
                except ValueError:
                    break
                return ROTATIONS[head.strip()](theta)
        known = ", ".join(list(ONE_QUBIT_GATES) + list(TWO_QUBIT_GATES) + ["RX:theta", "RY:theta", "RZ:theta"])
        raise UnknownGateError(f"backend 'density' does not know gate {gate!r}; known: {known}")

    def apply_gate(self, gate: str, qubits: Sequence[DensityQubit], now: float) -> None:
        u = self.gate_matrix(gate)
        arity = len(u.dims[0])
        qubits = list(qubits)
        if len(qubits) != arity or len({id(q) for q in qubits}) != arity:
            raise ValueError(f"gate {gate!r} acts on {arity} distinct qubit(s), got {len(qubits)}")
        self._alive(*qubits)
        if arity == 1:
            self._catch_up(qubits[0], now)
            self._apply_superoperator(qubits[0], superoperator([u.full()]))
            return
        m, order = self._gather(qubits, now)
        n = len(order)
        if n > 4:  # contraction: O(4^n), where U (x) I products cost O(8^n)
            self._set(order, apply_leading_unitary(m, n, u.full()))
            return
        full, full_h = _lifted("gate:" + gate.strip().upper(), u, 1 << (n - 2))
        self._set(order, full @ m @ full_h)

    def measure(self, qubit: DensityQubit, basis: str, now: float) -> int:
        b = basis.strip().upper()
        if b not in MEASUREMENT_BASES:
            raise ValueError(f"measurement basis must be Z, X or Y, got {basis!r}")
        self._alive(qubit)
        m, qubits = self._gather((qubit,), now)
        n = len(qubits)
        if b != "Z" and n > 4:
            m = apply_leading_unitary(m, n, MEASUREMENT_BASES[b].full())
        elif b != "Z":
            u, uh = _lifted("basis:" + b, MEASUREMENT_BASES[b], 1 << (n - 1))
            m = u @ m @ uh
        outcome, _, post = measure_leading(m, n, 1, self.rng.random())
        qubit.group = None
        self._regroup(qubits[1:], post)
        return outcome
