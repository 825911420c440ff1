"""Small CSS codes for second-generation repeaters: stabilizers, logicals, encoders, decoders.

A CSS code on ``n`` qubits is given by two binary check matrices: ``hx`` (rows are the
supports of the X-type stabilizers; they detect Z errors) and ``hz`` (rows are the supports
of the Z-type stabilizers; they detect X errors), with ``hx · hzᵀ = 0 (mod 2)``, and by the
supports ``lx``, ``lz`` of one logical X and one logical Z (``lx · lz = 1``, each commuting
with the other type's stabilizers).

Codes here:

- ``repetition``: the three-qubit bit-flip code. ``hz = [[1,1,0],[0,1,1]]`` (Z0Z1, Z1Z2),
  no X-type stabilizers, ``X_L = XXX``, ``Z_L = ZZZ`` (equal to ``Z0`` up to stabilizers).
  It corrects one X (bit-flip) error and no Z error: its phase frame is unprotected.
- ``steane``: the [[7,1,3]] Steane code (Steane, Proc. R. Soc. A 452, 2551 (1996)); both
  check matrices are the parity-check matrix of the [7,4,3] Hamming code, so column ``j``
  (qubit ``j``) has syndrome ``j + 1`` written in binary. ``X_L = X^7``, ``Z_L = Z^7``.
  It corrects any single-qubit error.

Encoders (``CSSCode.encoder``): ``|0_L>`` is the uniform superposition over the span of the
X-type stabilizers applied to ``|0…0>``; ``|+_L>`` adds ``X_L`` to that span. Both are made
by putting the generators in reduced row echelon form over GF(2): each row gets a pivot
qubit no other row touches, the pivot gets ``H`` and CNOTs onto the rest of its row. Pivots are
never CNOT targets, so the circuit prepares exactly that superposition.

Decoders: a lookup table per check matrix from the syndrome (bit ``j`` of the index is check
``j``) to a minimum-weight correction, built by enumerating error patterns by increasing
weight. ``decode_x(syndromes)`` takes ``hz`` syndromes (of X errors) and returns X
corrections; ``decode_z`` takes ``hx`` syndromes and returns Z corrections. Both work on
arrays of shots at once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import combinations

import numpy as np
import stim


def rref(rows: np.ndarray) -> tuple[np.ndarray, list[int]]:
    """Reduced row echelon form of a binary matrix over GF(2); returns (rows, pivot columns)."""
    m = (np.array(rows, dtype=np.uint8) % 2).copy()
    pivots: list[int] = []
    r = 0
    for c in range(m.shape[1] if m.size else 0):
        hits = [i for i in range(r, m.shape[0]) if m[i, c]]
        if not hits:
            continue
        m[[r, hits[0]]] = m[[hits[0], r]]
        for i in range(m.shape[0]):
            if i != r and m[i, c]:
                m[i] ^= m[r]
        pivots.append(c)
        r += 1
        if r == m.shape[0]:
            break
    return m[:r], pivots


def lookup_table(h: np.ndarray, n: int) -> np.ndarray:
    """Minimum-weight correction for every syndrome of check matrix ``h``: shape (2**rows, n).

    Syndrome index: bit ``j`` is check ``j``. Patterns are enumerated by increasing weight, so
    each syndrome keeps the first (lightest) pattern producing it; unreachable syndromes map
    to no correction.
    """
    rows = h.shape[0]
    table = np.zeros((2**rows, n), dtype=np.uint8)
    seen = {0}
    weights = 1 << np.arange(rows)
    for w in range(1, n + 1):
        for support in combinations(range(n), w):
            e = np.zeros(n, dtype=np.uint8)
            e[list(support)] = 1
            idx = int(((h @ e) % 2) @ weights) if rows else 0
            if idx not in seen:
                seen.add(idx)
                table[idx] = e
        if len(seen) == 2**rows:
            break
    return table


@dataclass(frozen=True, eq=False)
class CSSCode:
    """A CSS code: check matrices, one logical pair, encoders and lookup decoders."""

    name: str
    hx: np.ndarray
    hz: np.ndarray
    lx: np.ndarray
    lz: np.ndarray
    distance: int
    _tables: dict = field(default_factory=dict, compare=False, repr=False)

    @property
    def n(self) -> int:
        return int(self.lz.shape[0])

    def stabilizers(self) -> list[stim.PauliString]:
        """X-type then Z-type stabilizer generators as stim Pauli strings."""
        out = []
        for kind, h in (("X", self.hx), ("Z", self.hz)):
            for row in h:
                out.append(stim.PauliString("".join(kind if b else "_" for b in row)))
        return out

    def logical_x(self) -> stim.PauliString:
        return stim.PauliString("".join("X" if b else "_" for b in self.lx))

    def logical_z(self) -> stim.PauliString:
        return stim.PauliString("".join("Z" if b else "_" for b in self.lz))

    def encoder(self, state: str, qubits: list[int]) -> stim.Circuit:
        """Noiseless circuit preparing ``|0_L>`` (state "0") or ``|+_L>`` ("+") on fresh qubits."""
        if state not in ("0", "+"):
            raise ValueError(f"encoder state: expected '0' or '+', got {state!r}")
        gens = self.hx if state == "0" else np.vstack([self.hx, self.lx[None, :]])
        rows, pivots = rref(gens)
        c = stim.Circuit()
        if pivots:
            c.append("H", [qubits[p] for p in pivots])
        for row, p in zip(rows, pivots):
            for j in np.flatnonzero(row):
                if j != p:
                    c.append("CX", [qubits[p], qubits[int(j)]])
        return c

    def table(self, kind: str) -> np.ndarray:
        """Lookup table for ``kind`` "x" (X errors, from ``hz``) or "z" (Z errors, from ``hx``)."""
        if kind not in self._tables:
            self._tables[kind] = lookup_table(self.hz if kind == "x" else self.hx, self.n)
        return self._tables[kind]

    @staticmethod
    def syndrome_index(syndromes: np.ndarray) -> np.ndarray:
        """Shots × checks bits to table indices (bit ``j`` is check ``j``)."""
        s = np.asarray(syndromes, dtype=np.int64)
        if s.shape[-1] == 0:
            return np.zeros(s.shape[:-1], dtype=np.int64)
        return s @ (1 << np.arange(s.shape[-1], dtype=np.int64))

    def decode_x(self, syndromes: np.ndarray) -> np.ndarray:
        """X corrections (shots × n) from ``hz`` syndromes (shots × rows of hz)."""
        return self.table("x")[self.syndrome_index(syndromes)]

    def decode_z(self, syndromes: np.ndarray) -> np.ndarray:
        """Z corrections (shots × n) from ``hx`` syndromes (shots × rows of hx)."""
        return self.table("z")[self.syndrome_index(syndromes)]


_HAMMING = np.array([[(j + 1) >> b & 1 for j in range(7)] for b in range(3)], dtype=np.uint8)

CODES = {
    "repetition": lambda: CSSCode(
        name="repetition",
        hx=np.zeros((0, 3), dtype=np.uint8),
        hz=np.array([[1, 1, 0], [0, 1, 1]], dtype=np.uint8),
        lx=np.ones(3, dtype=np.uint8),
        lz=np.ones(3, dtype=np.uint8),
        distance=3,  # against bit flips; 1 against phase flips
    ),
    "steane": lambda: CSSCode(
        name="steane", hx=_HAMMING.copy(), hz=_HAMMING.copy(),
        lx=np.ones(7, dtype=np.uint8), lz=np.ones(7, dtype=np.uint8), distance=3,
    ),
}


def get_code(name: str) -> CSSCode:
    """The code called ``name`` ("repetition" or "steane"); a one-line error otherwise."""
    if name not in CODES:
        raise ValueError(f"code: expected one of {sorted(CODES)}, got {name!r}")
    return CODES[name]()
