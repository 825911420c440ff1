"""Stabilizer state backend on stim.

Every stored qubit belongs to a *group*: qubits that may be entangled with each other,
simulated by one small :class:`stim.TableauSimulator` (a Bell pair is a group of two). Groups
merge when an operation spans two of them (Bell-state measurement, purification round,
two-qubit gate) and shrink when a qubit is measured or discarded: the freed qubit is
measured, reset to |0> and its slot removed. A group's cost is therefore set by the few qubits
it holds, never by the size of the network, and memory stays proportional to the qubits alive.
Idle simulators are pooled, because building one costs more than reusing it.

Noise is *sampled*: one trajectory per run.

- ``create_pair`` draws which Bell state the pair is in from the Bell-diagonal probabilities
  (equivalently a Pauli error on one qubit of Phi+);
- Pauli channels (``apply_pauli_channel``; storage noise from the memory's ``pauli_probs``,
  applied lazily as in the fidelity backend) draw one Pauli per qubit and interval. The memory
  channels compose (their Pauli eigenvalues multiply), so the distribution does not depend on
  how often a qubit is touched;
- amplitude damping and T1/T2 memories enter **only through their Pauli twirl**
  ``pauli_probs``: an approximation (declared: no ``non-pauli-noise`` capability);
- a gate error ``p`` is one of the 16 two-qubit Paulis, each with probability ``p/16``
  (identity included, as in :func:`qplane_physics.purify`); a measurement error a flipped bit.

Bell-state measurements and purification rounds are real Clifford circuits on the tableau:
CNOT, H and Z measurements; DEJMPS's Rx(pi/2) / Rx(-pi/2) are SQRT_X / SQRT_X_DAG; BBPSSW's
twirl applies to each pair a uniformly random element of {1, R, R^2}, where R (C_XYZ on both
qubits, then X on B) cycles the three non-Phi+ Bell states, which makes the pair Werner on
average.

Measured qubits are freed at once, and stim's collapse of a random measurement is the costly
step (several microseconds), so the circuits are arranged by the deferred-measurement
principle to leave the measured qubits unentangled: a swap applies its Pauli frame to the far
qubit under quantum control (undone once the outcome is known), a purification round CNOTs
the two target qubits so one carries the parity. Measuring an unentangled qubit needs no
collapse; a qubit still entangled (inputs that are not Bell pairs) is collapsed by stim. Both
ways are exact.

Every random draw comes from the backend's ``rng`` (a :class:`random.Random`): a random
measurement outcome is drawn from it (and, for an entangled qubit, forced with stim's
``postselect_*``); stim's own generators are never consulted, so one seed fixes every number.

``fidelity`` is the exact fidelity with Phi+ of the sampled state, ``(1 + <XX> - <YY> +
<ZZ>) / 4``: 1.0 or 0.0 for a Bell state (which is what this backend's pair operations
always leave), fractional only for qubits that are not a Bell pair (e.g. after a discard). The
metrics average these per-pair values.

This module holds quantum state only: it knows nothing of memories, nodes or protocols beyond
the handles, noise models and timestamps it is given.
"""

from __future__ import annotations

import functools
import random
from typing import Sequence

import stim
from pydantic import BaseModel, ConfigDict

import qplane_physics as physics
from qplane.backend import Capability, MemoryNoise, capability_error

from . import multipartite


class StabilizerParams(BaseModel):
    """The stabilizer backend takes no parameters."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


def _inverse(circuit: str, n: int) -> stim.Tableau:
    t = stim.Tableau.from_circuit(stim.Circuit(circuit)) if circuit else stim.Tableau(n)
    assert len(t) == n
    return t.inverse()


#: inverse tableaus preparing Bell state k (Pauli k on qubit 1 of Phi+) from |00>
_BELL_INV = tuple(_inverse(f"H 0\nCNOT 0 1\n{p}", 2) for p in ("", "X 1", "Z 1", "Y 1"))
#: inverse tableaus preparing a one-qubit Pauli eigenstate, by (basis, bit)
_ONE_INV = {
    ("Z", 0): _inverse("", 1), ("Z", 1): _inverse("X 0", 1),
    ("X", 0): _inverse("H 0", 1), ("X", 1): _inverse("X 0\nH 0", 1),
    ("Y", 0): _inverse("H 0\nS 0", 1), ("Y", 1): _inverse("X 0\nH 0\nS 0", 1),
}
#: Pauli index of each position of a Bell-diagonal state in Bell order (Phi+, Psi-, Psi+, Phi-)
_PAULI_OF_POSITION = (0, 3, 1, 2)
#: eigenvalues of (XX, YY, ZZ) on Bell state k (Pauli order): |B_k><B_k| = (II + eX XX + eY YY + eZ ZZ)/4
_BELL_SIGNS = ((1, -1, 1), (1, 1, -1), (-1, 1, 1), (-1, -1, -1))

_ONE_QUBIT_GATES = {
    "I": None, "X": "x", "Y": "y", "Z": "z", "H": "h", "S": "s", "SDG": "s_dag", "S_DAG": "s_dag",
    "SQRT_X": "sqrt_x", "SQRT_X_DAG": "sqrt_x_dag", "SXDG": "sqrt_x_dag",
}
_TWO_QUBIT_GATES = {"CNOT": "cnot", "CX": "cnot", "CZ": "cz", "SWAP": "swap"}
#: gates of the GATES capability (arbitrary rotations): refused with a capability error
_NON_CLIFFORD = frozenset({"RX", "RY", "RZ", "T", "TDG", "T_DAG"})
_POOL_SIZE = 1024

#: fixed circuits, compiled once per qubit layout: one ``do_circuit`` costs about what a single
#: gate call does, so the hot paths run each of these as one call
_CIRCUITS = {
    # Bell basis -> computational basis: Bell state k (Pauli x | z << 1) on (0, 1) becomes |z x>
    "bell_to_z": "CNOT {0} {1}\nH {0}",
    "z_to_bell": "H {0}\nCNOT {0} {1}",
    # the same, then the Pauli frame X^x Z^z put on qubit 2 under quantum control, and a CZ that
    # leaves (0, 1) in |++> when they held the halves of two Bell pairs
    "bell_to_z_deferred": "CNOT {0} {1}\nH {0}\nCZ {0} {2}\nCNOT {1} {2}\nCZ {0} {1}",
    # pairs (0, 1) and (2, 3), A holds 0 and 2: DEJMPS rotations, bilateral CNOT, then the
    # targets' CNOT that leaves their parity on 3
    "dejmps": "SQRT_X {0} {2}\nSQRT_X_DAG {1} {3}\nCNOT {0} {2} {1} {3}\nCNOT {2} {3}",
    "dejmps_rotations": "SQRT_X {0} {2}\nSQRT_X_DAG {1} {3}",
    "bilateral_cnot": "CNOT {0} {2} {1} {3}\nCNOT {2} {3}",
    # BBPSSW twirl of pair (0, 1): R and R^2 cycle Psi+ -> Psi- -> Phi- -> Psi+ and back
    "twirl1": "C_XYZ {0} {1}\nX {1}",
    "twirl2": "C_ZYX {0} {1}\nZ {1}",
}


@functools.lru_cache(maxsize=4096)
def _circuit(name: str, qubits: tuple[int, ...]) -> stim.Circuit:
    return stim.Circuit(_CIRCUITS[name].format(*qubits))


class _Group:
    """Qubits simulated together: ``members[i]`` is the qubit at tableau index ``i``."""

    __slots__ = ("sim", "members")

    def __init__(self, sim: stim.TableauSimulator, members: list["StabilizerQubit | None"]):
        self.sim = sim
        self.members = members


class StabilizerQubit:
    """Handle of one stored qubit; ``group`` is None once it was measured or discarded."""

    __slots__ = ("group", "index", "t", "noise")

    def __init__(self, t: float, noise: MemoryNoise | None):
        self.group: _Group | None = None
        self.index = 0
        self.t = t
        self.noise = noise

    def __repr__(self) -> str:
        where = "gone" if self.group is None else f"index {self.index} of a group of {len(self.group.members)}"
        return f"<StabilizerQubit {where}>"


class StabilizerBackend:
    """Stabilizer states on stim tableaus, sampled Pauli noise, Clifford circuits."""

    name = "stabilizer"
    capabilities = frozenset({Capability.PAIR_OPERATIONS, Capability.PURIFICATION, Capability.CLIFFORD_GATES,
                              Capability.MULTIPARTITE})
    #: groups of any size (a tableau costs O(n^2) memory)
    max_group_qubits = None

    def __init__(self, rng: random.Random):
        self.rng = rng
        self._pool: list[stim.TableauSimulator] = []

    @classmethod
    def from_params(cls, params: StabilizerParams, rng: random.Random) -> "StabilizerBackend":
        return cls(rng)

    # groups ------------------------------------------------------------------------------
    def _new_group(self, inverse_tableau: stim.Tableau, members: list[StabilizerQubit]) -> _Group:
        # stim's own RNG is never used (outcomes are drawn from self.rng), so a fixed seed is fine
        sim = self._pool.pop() if self._pool else stim.TableauSimulator(seed=0)
        sim.set_inverse_tableau(inverse_tableau)
        g = _Group(sim, list(members))
        for i, q in enumerate(members):
            q.group = g
            q.index = i
        return g

    def _release(self, g: _Group) -> None:
        if len(self._pool) < _POOL_SIZE:
            self._pool.append(g.sim)
        g.sim = None  # type: ignore[assignment]
        g.members = []

    def _join(self, q1: StabilizerQubit, q2: StabilizerQubit) -> _Group:
        """The group holding both qubits, merging theirs (tableau direct sum) if needed."""
        g1, g2 = q1.group, q2.group
        assert g1 is not None and g2 is not None
        if g1 is g2:
            return g1
        if len(g2.members) > len(g1.members):
            g1, g2 = g2, g1
        sim = g1.sim
        # the inverse of a direct sum is the direct sum of the inverses
        sim.set_inverse_tableau(sim.current_inverse_tableau() + g2.sim.current_inverse_tableau())
        offset = len(g1.members)
        for q in g2.members:
            q.group = g1  # type: ignore[union-attr]
            q.index += offset  # type: ignore[union-attr]
        g1.members.extend(g2.members)
        self._release(g2)
        return g1

    def _measure_free(self, q: StabilizerQubit, basis: str = "Z") -> int:
        """Measure ``q`` in ``basis`` and free its slot (then :meth:`_compact`).

        A definite outcome is read off the tableau; a random one is drawn from ``rng``. Only a
        qubit entangled with others needs stim's (costly) collapse: an unentangled qubit's
        outcome cannot affect anything else. Either way the freed qubit is left in a
        one-qubit Pauli eigenstate, product with the rest."""
        g = q.group
        sim, i = g.sim, q.index  # type: ignore[union-attr]
        if basis == "X":
            sim.h(i)
        elif basis == "Y":
            sim.h_yz(i)  # maps Y to Z, so the Y eigenvalue becomes the Z eigenvalue
        e = sim.peek_z(i)
        if e:
            bit = int(e < 0)
        else:
            bit = self.rng.getrandbits(1)
            if not (sim.peek_x(i) or sim.peek_y(i)):
                sim.postselect_z(i, desired_value=bool(bit))
        g.members[i] = None  # type: ignore[union-attr]
        q.group = None
        return bit

    def _compact(self, g: _Group) -> None:
        """Drop the freed slots of ``g`` (each a Pauli eigenstate, product with the rest);
        release the group when nothing is left."""
        live = [q for q in g.members if q is not None]
        if len(live) == len(g.members):
            return
        if not live:
            self._release(g)
            return
        sim = g.sim
        if len(live) == 1:
            # the others are product states, so the survivor is pure: a Pauli eigenstate
            i = live[0].index
            for basis, peek in (("Z", sim.peek_z), ("X", sim.peek_x), ("Y", sim.peek_y)):
                e = peek(i)
                if e:
                    sim.set_inverse_tableau(_ONE_INV[basis, int(e < 0)])
                    break
            else:  # pragma: no cover - a one-qubit stabilizer state always has a Pauli axis
                raise AssertionError("single qubit in a stabilizer state without a definite Pauli")
            live[0].index = 0
            g.members = live
            return
        if len(live) == 2:
            a, c = live
            ia, ic = a.index, c.index
            # CNOT then H on a maps XX to Z_a and ZZ to Z_c: both definite means a Bell pair
            sim.do_circuit(_circuit("bell_to_z", (ia, ic)))
            xx, zz = sim.peek_z(ia), sim.peek_z(ic)
            if xx and zz:
                sim.set_inverse_tableau(_BELL_INV[(zz < 0) | (xx < 0) << 1])
                a.index, c.index = 0, 1
                g.members = live
                return
            sim.do_circuit(_circuit("z_to_bell", (ia, ic)))
        self._compact_general(g, live)

    def _compact_general(self, g: _Group, live: list[StabilizerQubit]) -> None:
        sim = g.sim
        for i, q in enumerate(g.members):
            if q is None:  # a freed qubit, in a Pauli eigenstate: rotate it to |0>
                if not sim.peek_z(i):
                    if sim.peek_x(i):
                        sim.h(i)
                    else:
                        sim.h_yz(i)
                if sim.peek_z(i) < 0:
                    sim.x(i)
        # Freed qubits are |0>: every stabilizer is I or Z there, so restricting the stabilizers
        # to the live qubits (sign unchanged) generates the live qubits' stabilizer group.
        keep = [q.index for q in live]
        n = len(keep)
        stabilizers = []
        for s in g.sim.canonical_stabilizers():
            p = stim.PauliString(n)
            for j, i in enumerate(keep):
                p[j] = s[i]
            if p.weight:
                p.sign = s.sign
                stabilizers.append(p)
        t = stim.Tableau.from_stabilizers(stabilizers, allow_redundant=True)
        g.sim.set_inverse_tableau(t.inverse())
        for j, q in enumerate(live):
            q.index = j
        g.members = live  # type: ignore[assignment]

    # sampling ----------------------------------------------------------------------------
    def _draw(self, probs: Sequence[float]) -> int:
        """Index drawn from ``probs``; rounding never picks an impossible entry."""
        r = self.rng.random()
        last = 0
        for k, p in enumerate(probs):
            if p > 0.0:
                if r < p:
                    return k
                r -= p
                last = k
        return last

    @staticmethod
    def _pauli(sim: stim.TableauSimulator, i: int, pauli: int) -> None:
        if pauli == 1:
            sim.x(i)
        elif pauli == 2:
            sim.z(i)
        elif pauli == 3:
            sim.y(i)

    def _catch_up(self, q: StabilizerQubit, now: float) -> None:
        dt = now - q.t
        if dt <= 0.0:
            return
        q.t = now
        noise = q.noise
        if noise is None:
            return
        probs = noise.pauli_probs(dt)
        if probs[0] >= 1.0:
            return
        pauli = self._draw(probs)
        if pauli:
            self._pauli(q.group.sim, q.index, pauli)  # type: ignore[union-attr]

    def _two_qubit_depolarize(self, sim: stim.TableauSimulator, i: int, j: int, p: float) -> None:
        # each of the 16 two-qubit Paulis with probability p/16 (identity included)
        rng = self.rng
        if p and rng.random() < p:
            paulis = rng.getrandbits(4)
            self._pauli(sim, i, paulis & 3)
            self._pauli(sim, j, paulis >> 2)

    @staticmethod
    def _alive(*qubits: StabilizerQubit) -> None:
        for q in qubits:
            if q.group is None:
                raise ValueError(f"qubit {q!r} no longer exists (it was measured or discarded)")

    # the protocol ------------------------------------------------------------------------
    def create_pair(self, state: Sequence[float], noise_a: MemoryNoise | None, noise_b: MemoryNoise | None,
                    t_a: float, t_b: float) -> tuple[StabilizerQubit, StabilizerQubit]:
        bell = _PAULI_OF_POSITION[self._draw(state)]
        qa = StabilizerQubit(t_a, noise_a)
        qb = StabilizerQubit(t_b, noise_b)
        self._new_group(_BELL_INV[bell], [qa, qb])
        return qa, qb

    def apply_pauli(self, qubit: StabilizerQubit, pauli: int, now: float) -> None:
        self._alive(qubit)
        self._catch_up(qubit, now)
        self._pauli(qubit.group.sim, qubit.index, pauli)  # type: ignore[union-attr]

    def apply_pauli_channel(self, qubit: StabilizerQubit, probs: Sequence[float], now: float) -> None:
        self._alive(qubit)
        self._catch_up(qubit, now)
        pauli = self._draw(probs)
        if pauli:
            self._pauli(qubit.group.sim, qubit.index, pauli)  # type: ignore[union-attr]

    def bell_measure(self, q1: StabilizerQubit, q2: StabilizerQubit, now: float, gate_error: float = 0.0,
                     measurement_error: float = 0.0) -> int:
        self._alive(q1, q2)
        if q1 is q2 or (q1.group is q2.group and len(q1.group.members) == 2):  # type: ignore[union-attr]
            raise ValueError("Bell measurement of the two halves of one pair")
        # only the measured qubits catch up: the partners' channels commute with the
        # measurement and are applied when those qubits are next touched
        self._catch_up(q1, now)
        self._catch_up(q2, now)
        g2 = q2.group
        c = None if len(g2.members) != 2 else g2.members[q2.index ^ 1]  # type: ignore[union-attr]
        g = self._join(q1, q2)
        sim, i1, i2 = g.sim, q1.index, q2.index
        self._two_qubit_depolarize(sim, i1, i2, gate_error)
        # CNOT + H map Bell state k (Pauli x | z << 1) onto |z x>
        if c is None:
            sim.do_circuit(_circuit("bell_to_z", (i1, i2)))
        else:
            # Deferred measurement: the Pauli frame X^x Z^z applied to q2's partner under
            # quantum control (and a CZ that only touches the measured qubits) leaves q1 and q2
            # unentangled for Bell-pair inputs, so no collapse is needed; measuring afterwards
            # and undoing the frame below is exactly the measurement (it holds for any input).
            ic = c.index
            sim.do_circuit(_circuit("bell_to_z_deferred", (i1, i2, ic)))
        z = self._measure_free(q1)
        x = self._measure_free(q2)
        if c is not None:
            if x:
                sim.x(ic)
            if z:
                sim.z(ic)
        reported = x | z << 1
        if measurement_error:
            rng = self.rng
            if rng.random() < measurement_error:
                reported ^= 1
            if rng.random() < measurement_error:
                reported ^= 2
        self._compact(g)
        return reported

    def _correlators(self, q1: StabilizerQubit, q2: StabilizerQubit) -> tuple[int, int, int]:
        """``(<XX>, <YY>, <ZZ>)`` of the two qubits, each -1, 0 or +1, without disturbing them."""
        if q1 is q2:
            raise ValueError("the two qubits of a pair must be distinct")
        g1, g2 = q1.group, q2.group
        if g1 is not g2:  # product state: correlators factor
            s1, i1, s2, i2 = g1.sim, q1.index, g2.sim, q2.index  # type: ignore[union-attr]
            return (s1.peek_x(i1) * s2.peek_x(i2), s1.peek_y(i1) * s2.peek_y(i2),
                    s1.peek_z(i1) * s2.peek_z(i2))
        sim, i, j = g1.sim, q1.index, q2.index  # type: ignore[union-attr]
        # U = H_i CNOT_ij maps X_iX_j to Z_i and Z_iZ_j to Z_j; another CNOT maps -Y_iY_j to Z_j
        sim.do_circuit(_circuit("bell_to_z", (i, j)))
        xx, zz = sim.peek_z(i), sim.peek_z(j)
        if xx and zz:
            yy = -xx * zz  # YY = -XX.ZZ
        elif xx or zz:
            yy = 0  # YY definite would make the other one definite too
        else:
            sim.cnot(i, j)
            yy = -sim.peek_z(j)
            sim.cnot(i, j)
        sim.do_circuit(_circuit("z_to_bell", (i, j)))
        return xx, yy, zz

    def fidelity(self, q1: StabilizerQubit, q2: StabilizerQubit, now: float) -> float:
        self._alive(q1, q2)
        self._catch_up(q1, now)
        self._catch_up(q2, now)
        xx, yy, zz = self._correlators(q1, q2)
        return (1 + xx - yy + zz) / 4

    def ghz_fidelity(self, qubits: Sequence[StabilizerQubit], now: float) -> float:
        """Exact GHZ fidelity of the sampled state (1 or 0 for a GHZ state up to a Pauli; see
        :mod:`.multipartite`); the mean over many states is the fidelity."""
        qubits = list(qubits)
        if not qubits or len({id(q) for q in qubits}) != len(qubits):
            raise ValueError("ghz_fidelity needs one or more distinct qubits")
        self._alive(*qubits)
        groups: list = []
        for q in qubits:
            self._catch_up(q, now)
            if not any(q.group is g for g in groups):
                groups.append(q.group)
        where = [(next(k for k, g in enumerate(groups) if g is q.group), q.index) for q in qubits]
        return multipartite.ghz_fidelity([g.sim for g in groups], where)

    def bell_diagonal(self, q1: StabilizerQubit, q2: StabilizerQubit, now: float) -> physics.BellDiagonal:
        """The pair's Bell-diagonal coefficients in Bell order (one-hot for a Bell pair)."""
        self._alive(q1, q2)
        self._catch_up(q1, now)
        self._catch_up(q2, now)
        xx, yy, zz = self._correlators(q1, q2)
        return physics.from_pauli_order([(1 + ex * xx + ey * yy + ez * zz) / 4 for ex, ey, ez in _BELL_SIGNS])

    def discard(self, qubit: StabilizerQubit, now: float) -> None:
        g = qubit.group
        if g is None:
            return
        # its storage noise is irrelevant to the others, so the qubit need not catch up
        if len(g.members) == 2:
            other = g.members[qubit.index ^ 1]
            sim, i = g.sim, other.index  # type: ignore[union-attr]
            if not (sim.peek_z(i) or sim.peek_x(i) or sim.peek_y(i)):
                # the partner is maximally entangled with the qubit: tracing it out leaves I/2,
                # which a trajectory represents as a uniformly drawn Z eigenstate
                sim.set_inverse_tableau(_ONE_INV["Z", self.rng.getrandbits(1)])
                other.index = 0  # type: ignore[union-attr]
                g.members = [other]
                qubit.group = None
                return
        # measuring and forgetting the outcome traces the qubit out
        self._measure_free(qubit)
        self._compact(g)

    # capability PURIFICATION ---------------------------------------------------------------
    def purify(self, keep: tuple[StabilizerQubit, StabilizerQubit], sacrifice: tuple[StabilizerQubit, StabilizerQubit],
               now: float, protocol: str = "dejmps", gate_error: tuple[float, float] = (0.0, 0.0),
               measurement_error: tuple[float, float] = (0.0, 0.0)) -> bool:
        qa, qb = keep
        sa, sb = sacrifice
        if protocol not in ("bbpssw", "dejmps"):
            raise ValueError(f"unknown purification protocol {protocol!r}; expected 'bbpssw' or 'dejmps'")
        self._alive(qa, qb, sa, sb)
        if len({id(qa), id(qb), id(sa), id(sb)}) != 4 or qa.group is not qb.group or sa.group is not sb.group:
            raise ValueError("purify needs two distinct pairs, each shared by the two nodes")
        for q in (qa, qb, sa, sb):
            self._catch_up(q, now)
        g = self._join(qa, sa)
        sim = g.sim
        a1, b1, a2, b2 = qa.index, qb.index, sa.index, sb.index
        rng = self.rng
        # the gate errors are drawn first: without one, a DEJMPS round is one compiled circuit
        errors = [rng.getrandbits(4) if p and rng.random() < p else 0 for p in gate_error]
        layout = (a1, b1, a2, b2)
        if protocol == "bbpssw":
            # twirl each pair: 1, R or R^2, uniformly (R cycles the three non-Phi+ Bell states)
            for pair in ((a1, b1), (a2, b2)):
                r = rng.randrange(3)
                if r:
                    sim.do_circuit(_circuit(f"twirl{r}", pair))
        elif not (errors[0] or errors[1]):
            # Deutsch et al. 1996: A applies Rx(pi/2), B Rx(-pi/2), to both of its qubits; then
            # the bilateral CNOT and the targets' CNOT (below)
            sim.do_circuit(_circuit("dejmps", layout))
        else:
            sim.do_circuit(_circuit("dejmps_rotations", layout))
        if protocol == "bbpssw" or errors[0] or errors[1]:
            # two-qubit depolarizing per node: each of the 16 Paulis with probability p/16
            for (i, j), paulis in zip(((a1, a2), (b1, b2)), errors):
                if paulis:
                    self._pauli(sim, i, paulis & 3)
                    self._pauli(sim, j, paulis >> 2)
            # Bilateral CNOT, then a CNOT between the targets: it maps their Z outcomes (a, b)
            # to (a, a ^ b), so b2 holds the parity and, for Bell-pair inputs, neither target
            # stays entangled and no collapse is needed.
            sim.do_circuit(_circuit("bilateral_cnot", layout))
        bit_a = self._measure_free(sa)
        bit_b = bit_a ^ self._measure_free(sb)
        self._compact(g)
        ma, mb = measurement_error
        if ma and rng.random() < ma:
            bit_a ^= 1
        if mb and rng.random() < mb:
            bit_b ^= 1
        # on failure the kept pair is left as the circuit leaves it; the caller discards it
        return bit_a == bit_b

    # capability CLIFFORD_GATES -------------------------------------------------------------
    def apply_gate(self, gate: str, qubits: Sequence[StabilizerQubit], now: float) -> None:
        name = gate.strip().upper()
        base = name.split(":", 1)[0]
        if base in _NON_CLIFFORD or ":" in name:
            raise capability_error(self, Capability.GATES, f"apply_gate({gate!r})")
        if name in _ONE_QUBIT_GATES:
            arity, method = 1, _ONE_QUBIT_GATES[name]
        elif name in _TWO_QUBIT_GATES:
            arity, method = 2, _TWO_QUBIT_GATES[name]
        else:
            known = ", ".join(sorted(set(_ONE_QUBIT_GATES) | set(_TWO_QUBIT_GATES)))
            raise ValueError(f"backend 'stabilizer' has no gate {gate!r}; Clifford gates it applies: {known}")
        qubits = list(qubits)
        if len(qubits) != arity:
            raise ValueError(f"gate {gate!r} acts on {arity} qubit(s), got {len(qubits)}")
        self._alive(*qubits)
        for q in qubits:
            self._catch_up(q, now)
        if arity == 1:
            if method is not None:
                getattr(qubits[0].group.sim, method)(qubits[0].index)  # type: ignore[union-attr]
            return
        q1, q2 = qubits
        if q1 is q2:
            raise ValueError(f"gate {gate!r} needs two distinct qubits")
        g = self._join(q1, q2)
        getattr(g.sim, method)(q1.index, q2.index)

    def measure(self, qubit: StabilizerQubit, basis: str, now: float) -> int:
        b = basis.strip().upper() if isinstance(basis, str) else basis
        if b not in ("X", "Y", "Z"):
            raise ValueError(f"measurement basis must be 'X', 'Y' or 'Z', got {basis!r}")
        self._alive(qubit)
        self._catch_up(qubit, now)
        g = qubit.group
        bit = self._measure_free(qubit, b)
        self._compact(g)  # type: ignore[arg-type]
        return bit

    # diagnostics -------------------------------------------------------------------------
    def group_size(self, qubit: StabilizerQubit) -> int:
        """Number of qubits simulated together with ``qubit`` (itself included); 0 if gone."""
        return 0 if qubit.group is None else len(qubit.group.members)


__all__ = ["StabilizerBackend", "StabilizerParams", "StabilizerQubit"]
