"""Loss-tolerant stabilizer codes and erasure decoding (issue 16, third generation).

A code is given by its stabilizer generators and one logical X and Z per logical qubit, as
``stim.PauliString``; linear algebra on them is over GF(2) on the binary symplectic form
``[x | z]`` (numpy ``uint8`` rows of length ``2n``).

The erasure criterion
---------------------
A lost photon is a *heralded* erasure: the receiver knows which qubits are missing. An erasure
pattern ``E`` (a set of qubit indices) is correctable iff no nontrivial logical operator is
supported entirely on ``E``. By the cleaning lemma this is the same as: every logical operator
(it is enough to check each ``X_L`` and ``Z_L``) has a representative, its product with some
stabilizer, that acts trivially on ``E``. Two independent implementations decide it:

- :meth:`StabilizerCode.clean` solves ``c · S|_E = L|_E`` over GF(2) (``S|_E`` the generator
  matrix restricted to the columns of ``E``): a solution gives the representative
  ``L · prod(S_i ** c_i)`` avoiding ``E``, which the decoder then measures; no solution, no
  representative. :meth:`StabilizerCode.correctable` is "every ``X_L``, ``Z_L`` cleans".
- :meth:`StabilizerCode.correctable_table` enumerates the whole normalizer (``2^(n-k) · 4^k``
  elements, fine for the small codes here), collects the supports of the nontrivial logical
  operators and marks every superset of one as uncorrectable: a table over all ``2^n`` patterns.

One hop
-------
Each of the ``n`` photons crosses a link of transmissivity ``eta`` independently, so

    P(eta) = sum over correctable E of (1 - eta)^|E| eta^(n - |E|)

(:meth:`StabilizerCode.success_probability`, from the table's count of correctable patterns by
weight). :func:`sample_hop` is the Monte Carlo: it prepares ``k`` reference qubits each
maximally entangled with one logical qubit in a ``stim.TableauSimulator``, draws the losses,
erases each lost qubit (a uniformly random Pauli: averaged over the draws the qubit is
maximally mixed, i.e. its content is gone), lets the decoder find representatives avoiding the
losses (or declare failure) and checks with stim that ``X_R X_L`` and ``Z_R Z_L`` are +1 with
certainty on the decoder's representatives, i.e. that the logical qubit arrived intact.

Codes (:func:`code` by name)
----------------------------
- ``qpc(n,m)`` / :func:`qpc`: the quantum parity code of Ralph, Hayes and Gilchrist
  (PRL 95, 100501 (2005)), ``|0/1>_L = (|0...0> +/- |1...1>)^(⊗n)`` over ``n`` blocks of ``m``
  qubits. Stabilizers ``Z Z`` inside a block, ``X^(⊗m) X^(⊗m)`` on neighbouring blocks;
  ``Z_L = X^(⊗m)`` on a block, ``X_L = Z`` on one qubit of every block. So a pattern is
  correctable iff some block is intact (for ``Z_L``) and no block is wholly lost (for ``X_L``):

      P(eta) = (1 - (1-eta)^m)^n - (1 - (1-eta)^m - eta^m)^n

  the transmission probability of Muralidharan et al. (PRL 112, 250501 (2014)) without
  operation errors (:func:`qpc_success_probability`).
- ``steane``: [[7,1,3]]; ``five``: [[5,1,3]]; ``c422``: [[4,2,2]] (two logical qubits).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import stim

__all__ = ["StabilizerCode", "code", "qpc", "steane", "five_qubit", "c422", "qpc_success_probability",
           "sample_hop", "symplectic", "gf2_rank", "gf2_solve", "mask_of", "CODES"]

#: codes beyond this many qubits are not tabulated (2^n patterns)
MAX_TABLE_QUBITS = 22


# --------------------------------------------------------------------------- GF(2) tools


def symplectic(paulis: Iterable[stim.PauliString], n: int) -> np.ndarray:
    """Rows ``[x | z]`` (``uint8``, length ``2n``) of the Pauli strings (signs dropped)."""
    rows = []
    for p in paulis:
        xs, zs = p.to_numpy()
        x = np.zeros(n, dtype=np.uint8)
        z = np.zeros(n, dtype=np.uint8)
        x[: len(xs)] = xs
        z[: len(zs)] = zs
        rows.append(np.concatenate([x, z]))
    return np.array(rows, dtype=np.uint8).reshape(len(rows), 2 * n)


def _echelon(a: np.ndarray) -> tuple[np.ndarray, list[int]]:
    """Row echelon form over GF(2) and the pivot columns."""
    m = a.copy() % 2
    pivots: list[int] = []
    row = 0
    for col in range(m.shape[1]):
        hits = np.nonzero(m[row:, col])[0]
        if hits.size == 0:
            continue
        r = row + hits[0]
        m[[row, r]] = m[[r, row]]
        others = np.nonzero(m[:, col])[0]
        others = others[others != row]
        m[others] ^= m[row]
        pivots.append(col)
        row += 1
        if row == m.shape[0]:
            break
    return m, pivots


def gf2_rank(a: np.ndarray) -> int:
    """Rank over GF(2)."""
    if a.size == 0:
        return 0
    return len(_echelon(a)[1])


def gf2_solve(a: np.ndarray, b: np.ndarray) -> np.ndarray | None:
    """A vector ``c`` with ``c · a = b`` over GF(2) (``a`` is rows x cols), or None if none."""
    rows = a.shape[0]
    if a.shape[1] == 0:
        return np.zeros(rows, dtype=np.uint8)
    # solve a^T c = b: augment [a^T | b] and eliminate
    aug = np.concatenate([a.T.astype(np.uint8) % 2, (b.astype(np.uint8) % 2).reshape(-1, 1)], axis=1)
    ech, pivots = _echelon(aug)
    if rows in pivots:  # a pivot in the b column: inconsistent
        return None
    c = np.zeros(rows, dtype=np.uint8)
    for i, col in enumerate(pivots):  # reduced form: free variables 0, pivots read off
        c[col] = ech[i, rows]
    return c


def mask_of(erased: Iterable[int] | int) -> int:
    """An erasure pattern as a bit mask (bit ``q`` set: qubit ``q`` lost)."""
    if isinstance(erased, (int, np.integer)):
        return int(erased)
    m = 0
    for q in erased:
        m |= 1 << int(q)
    return m


# --------------------------------------------------------------------------- codes


@dataclass(frozen=True)
class StabilizerCode:
    """An ``[[n, k]]`` stabilizer code: generators (all with sign +) and logical operators."""

    name: str
    stabilizers: tuple[stim.PauliString, ...]
    logical_x: tuple[stim.PauliString, ...]
    logical_z: tuple[stim.PauliString, ...]
    _cache: dict = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        n, k = self.n, self.k
        if any(len(p) > n for p in (*self.stabilizers, *self.logical_x, *self.logical_z)):
            raise ValueError(f"code {self.name}: an operator acts beyond qubit {n - 1}")
        if len(self.logical_z) != k or k < 1:
            raise ValueError(f"code {self.name}: expected as many logical Z as logical X (at least one)")
        if len(self.stabilizers) != n - k or gf2_rank(self.stabilizer_matrix) != n - k:
            raise ValueError(f"code {self.name}: expected {n - k} independent stabilizer generators")
        for i, s in enumerate(self.stabilizers):
            if s.sign != 1 or not all(s.commutes(t) for t in self.stabilizers):
                raise ValueError(f"code {self.name}: stabilizer {i} must have sign + and commute with the others")
            if not all(s.commutes(lg) for lg in (*self.logical_x, *self.logical_z)):
                raise ValueError(f"code {self.name}: stabilizer {i} anticommutes with a logical operator")
        for i in range(k):
            for j in range(k):
                if self.logical_x[i].commutes(self.logical_z[j]) != (i != j):
                    raise ValueError(f"code {self.name}: logical X{i} and Z{j} must anticommute iff i == j")
                if i < j and not (self.logical_x[i].commutes(self.logical_x[j])
                                  and self.logical_z[i].commutes(self.logical_z[j])):
                    raise ValueError(f"code {self.name}: logical operators of different qubits must commute")

    @property
    def n(self) -> int:
        return len(self.stabilizers) + len(self.logical_x)

    @property
    def k(self) -> int:
        return len(self.logical_x)

    @cached_property
    def stabilizer_matrix(self) -> np.ndarray:
        return symplectic(self.stabilizers, self.n)

    def padded(self, p: stim.PauliString) -> stim.PauliString:
        """``p`` on all ``n`` qubits."""
        return p * stim.PauliString(self.n) if len(p) < self.n else p

    # ---- the erasure criterion, by linear algebra

    def clean(self, logical: stim.PauliString, erased: Iterable[int] | int) -> stim.PauliString | None:
        """A representative of ``logical`` (times stabilizers) acting trivially on the erased
        qubits, or None if there is none. The sign is kept: on the code space it acts as ``logical``."""
        mask = mask_of(erased)
        logical = self.padded(logical)
        key = ("clean", str(logical), mask)  # the decoder meets the same patterns again and again
        if key in self._cache:
            rep = self._cache[key]
            return None if rep is None else rep.copy()
        cols = [q for q in range(self.n) if mask >> q & 1]
        rep = logical
        if cols:
            idx = cols + [self.n + q for q in cols]
            target = symplectic([logical], self.n)[0, idx]
            c = gf2_solve(self.stabilizer_matrix[:, idx], target)
            if c is None:
                rep = None
            else:
                for i in np.nonzero(c)[0]:
                    rep = rep * self.stabilizers[i]
        self._cache[key] = rep
        return None if rep is None else rep.copy()

    def correctable(self, erased: Iterable[int] | int) -> bool:
        """True iff every logical X and Z has a representative avoiding the erased qubits."""
        return all(self.clean(lg, erased) is not None for lg in (*self.logical_x, *self.logical_z))

    # ---- the erasure criterion, by enumerating the normalizer

    def logical_supports(self) -> set[int]:
        """The supports (bit masks) of every nontrivial logical operator, stabilizers times a
        nontrivial product of the logical X and Z: ``2^(n-k) (4^k - 1)`` operators."""
        if "supports" in self._cache:
            return self._cache["supports"]
        n, k = self.n, self.k
        stab = self.stabilizer_matrix
        logs = symplectic((*self.logical_x, *self.logical_z), n)
        # all stabilizer group elements as rows
        coeffs = ((np.arange(2 ** (n - k))[:, None] >> np.arange(n - k)) & 1).astype(np.uint8)
        group = (coeffs @ stab) % 2
        lcoeffs = ((np.arange(1, 4 ** k)[:, None] >> np.arange(2 * k)) & 1).astype(np.uint8)
        cosets = (lcoeffs @ logs) % 2
        weights = 1 << np.arange(n, dtype=np.int64)
        out: set[int] = set()
        for row in cosets:
            elems = group ^ row
            support = (elems[:, :n] | elems[:, n:]).astype(np.int64) @ weights
            out.update(int(s) for s in np.unique(support))
        self._cache["supports"] = out
        return out

    def correctable_table(self) -> np.ndarray:
        """``table[mask]`` (bool, ``2^n`` entries): pattern ``mask`` is correctable, i.e. it
        contains the support of no nontrivial logical operator (normalizer enumerated)."""
        if "table" in self._cache:
            return self._cache["table"]
        if self.n > MAX_TABLE_QUBITS:
            raise ValueError(f"code {self.name}: {self.n} qubits is too many to tabulate (at most {MAX_TABLE_QUBITS})")
        masks = np.arange(2 ** self.n, dtype=np.int64)
        ok = np.ones(2 ** self.n, dtype=bool)
        for s in self.logical_supports():
            ok &= (masks & s) != s
        self._cache["table"] = ok
        return ok

    def correctable_by_weight(self) -> np.ndarray:
        """``counts[w]``: the number of correctable patterns with ``w`` erasures."""
        table = self.correctable_table()
        weights = np.array([bin(m).count("1") for m in range(2 ** self.n)])
        return np.bincount(weights[table], minlength=self.n + 1)

    def success_probability(self, eta: float) -> float:
        """The exact ``P(eta) = sum_{E correctable} (1-eta)^|E| eta^(n-|E|)``."""
        if not 0.0 <= eta <= 1.0:
            raise ValueError(f"transmissivity eta: expected a number in [0, 1], got {eta}")
        counts = self.correctable_by_weight()
        w = np.arange(self.n + 1)
        return float(np.sum(counts * (1.0 - eta) ** w * eta ** (self.n - w)))

    # ---- states for the Monte Carlo

    def bell_tableau(self) -> stim.Tableau:
        """The state of ``k`` references (qubits ``0..k-1``) each maximally entangled with one
        logical qubit of the code (qubits ``k..k+n-1``): stabilizers ``S``, ``X_Ri X_Li``, ``Z_Ri Z_Li``."""
        if "bell" not in self._cache:
            k = self.k
            ref = stim.PauliString(k)
            gens = [ref + self.padded(s) for s in self.stabilizers]
            for i in range(k):
                for lg, name in ((self.logical_x[i], "X"), (self.logical_z[i], "Z")):
                    r = stim.PauliString(k)
                    r[i] = name
                    gens.append(r + self.padded(lg))
            self._cache["bell"] = stim.Tableau.from_stabilizers(gens)
        return self._cache["bell"]

    def encoded_pair_tableau(self) -> stim.Tableau:
        """Two code blocks (``k = 1``) holding a logical Bell pair: ``S`` on each, ``X_L X_L``, ``Z_L Z_L``."""
        if "pair" not in self._cache:
            if self.k != 1:
                raise ValueError(f"code {self.name}: an encoded Bell pair needs one logical qubit, it has {self.k}")
            blank = stim.PauliString(self.n)
            gens = [self.padded(s) + blank for s in self.stabilizers] + [blank + self.padded(s) for s in self.stabilizers]
            gens += [self.padded(self.logical_x[0]) + self.padded(self.logical_x[0]),
                     self.padded(self.logical_z[0]) + self.padded(self.logical_z[0])]
            self._cache["pair"] = stim.Tableau.from_stabilizers(gens)
        return self._cache["pair"]


def _p(text: str) -> stim.PauliString:
    return stim.PauliString(text)


def qpc(n: int, m: int) -> StabilizerCode:
    """The quantum parity code QPC(n, m): ``n`` blocks of ``m`` qubits (qubit ``b*m + j``)."""
    if n < 1 or m < 1 or n * m < 2:
        raise ValueError(f"code qpc({n},{m}): expected n >= 1 blocks of m >= 1 qubits, at least 2 qubits in all")
    size = n * m
    stabs = []
    for b in range(n):
        for j in range(m - 1):
            s = stim.PauliString(size)
            s[b * m + j] = "Z"
            s[b * m + j + 1] = "Z"
            stabs.append(s)
    for b in range(n - 1):
        s = stim.PauliString(size)
        for q in range(b * m, (b + 2) * m):
            s[q] = "X"
        stabs.append(s)
    zl = stim.PauliString(size)
    for q in range(m):
        zl[q] = "X"
    xl = stim.PauliString(size)
    for b in range(n):
        xl[b * m] = "Z"
    return StabilizerCode(f"qpc({n},{m})", tuple(stabs), (xl,), (zl,))


def qpc_success_probability(n: int, m: int, eta: float) -> float:
    """Muralidharan et al. (2014), no operation errors: some block intact, no block wholly lost."""
    lost_block = (1.0 - eta) ** m
    return (1.0 - lost_block) ** n - (1.0 - lost_block - eta ** m) ** n


def steane() -> StabilizerCode:
    """[[7,1,3]]: X and Z checks from the rows of the [7,4] Hamming parity-check matrix."""
    rows = ("XIXIXIX", "IXXIIXX", "IIIXXXX")
    stabs = tuple(_p(r) for r in rows) + tuple(_p(r.replace("X", "Z")) for r in rows)
    return StabilizerCode("steane", stabs, (_p("XXXXXXX"),), (_p("ZZZZZZZ"),))


def five_qubit() -> StabilizerCode:
    """[[5,1,3]], the cyclic code of XZZXI."""
    stabs = tuple(_p(s) for s in ("XZZXI", "IXZZX", "XIXZZ", "ZXIXZ"))
    return StabilizerCode("five", stabs, (_p("XXXXX"),), (_p("ZZZZZ"),))


def c422() -> StabilizerCode:
    """[[4,2,2]]: stabilizers XXXX, ZZZZ; X1 = XXII, Z1 = ZIZI, X2 = XIXI, Z2 = ZZII."""
    return StabilizerCode("c422", (_p("XXXX"), _p("ZZZZ")), (_p("XXII"), _p("XIXI")), (_p("ZIZI"), _p("ZZII")))


CODES = {"steane": steane, "five": five_qubit, "c422": c422}


def code(name: str) -> StabilizerCode:
    """A code by name: ``steane``, ``five``, ``c422`` or ``qpc(n,m)`` (e.g. ``qpc(3,3)``)."""
    text = name.strip().lower().replace(" ", "")
    match = re.fullmatch(r"qpc\((\d+),(\d+)\)", text)
    if match:
        return qpc(int(match[1]), int(match[2]))
    if text in CODES:
        return CODES[text]()
    raise ValueError(f"code {name!r}: expected one of {', '.join(CODES)} or qpc(n,m)")


# --------------------------------------------------------------------------- one hop, Monte Carlo


def _erase(sim: stim.TableauSimulator, qubits: Iterable[int], rng: np.random.Generator) -> None:
    """Erase: a uniformly random Pauli on each qubit (on average the qubit is maximally mixed)."""
    for q in qubits:
        r = int(rng.integers(4))
        if r == 1:
            sim.x(q)
        elif r == 2:
            sim.y(q)
        elif r == 3:
            sim.z(q)


def sample_hop(code_: StabilizerCode, eta: float, shots: int, rng: np.random.Generator | int | None = None
               ) -> tuple[int, int]:
    """Monte Carlo of one hop on stim: ``(successes, wrong)`` over ``shots`` logical qubits.

    A success is a pattern the decoder declares correctable *and* for which stim confirms that
    every reference is still maximally entangled with its logical qubit on the decoder's
    representatives. ``wrong`` counts declared successes stim refutes (zero for a right decoder)."""
    if shots < 1:
        raise ValueError(f"shots: expected a positive number, got {shots}")
    rng = np.random.default_rng(rng)
    k, n = code_.k, code_.n
    tab = code_.bell_tableau()
    lost = rng.random((shots, n)) < 1.0 - eta
    ok = wrong = 0
    for row in lost:
        erased = [int(q) for q in np.nonzero(row)[0]]
        reps = [(code_.clean(lx, erased), code_.clean(lz, erased)) for lx, lz in zip(code_.logical_x, code_.logical_z)]
        if any(r is None for pair in reps for r in pair):
            continue  # heralded failure: the decoder knows it cannot recover
        sim = stim.TableauSimulator()
        sim.do_tableau(tab, list(range(n + k)))
        _erase(sim, (k + q for q in erased), rng)
        good = True
        for i, (rx, rz) in enumerate(reps):
            for rep, name in ((rx, "X"), (rz, "Z")):
                ref = stim.PauliString(k)
                ref[i] = name
                if sim.peek_observable_expectation(ref + rep) != 1:
                    good = False
        ok += good
        wrong += not good
    return ok, wrong
