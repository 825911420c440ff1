"""The fidelity backend's pairs, qubits and operations: the part every herald and every swap
runs, in a module of its own so that the distribution's build can compile it.

When ``qplane-backend-fidelity`` is installed by pip on a machine with a C compiler, its build
compiles this file with mypyc (``backends/fidelity/setup.py``) into an extension module that
Python imports in its place; otherwise this source runs as it is. Both give the same numbers:
the arithmetic is in :mod:`qplane_physics`, called the same way, and the random draws are the
same calls on the same stream (``backends/fidelity/tests/test_compiled.py`` runs a chain on
both). The compiled classes keep the source's attributes and methods, and
:class:`FidelityBackend` may still be subclassed (``allow_interpreted_subclasses``). After
editing this file in a development install, reinstall the distribution
(``pip install -e ./backends/fidelity``) to rebuild the compiled module.

The module itself is documented in :mod:`qplane_backend_fidelity.backend`.
"""

from __future__ import annotations

import random
from typing import Any, ClassVar, Sequence

from mypy_extensions import mypyc_attr

import qplane_physics as physics
from qplane.backend import Capability, capability_error


_swap_after = physics.swap_after


class Pair:
    """One stored pair: its Bell-diagonal coefficients in Pauli order (``v``)."""

    __slots__ = ("v",)

    def __init__(self, v: list[float]) -> None:
        self.v = v


class Qubit:
    """One stored qubit: its pair (None once measured away), the qubit holding the pair's other
    half, the time up to which its memory's noise has been applied, and that memory's noise
    model (``depol_t``: its depolarizing time, None when it is not depolarizing)."""

    __slots__ = ("pair", "partner", "t", "noise", "depol_t")

    def __init__(self, pair: Any, t: float, noise: Any) -> None:
        self.pair: Any = pair
        self.partner: Any = None
        self.t = t
        self.noise: Any = noise
        self.depol_t: float | None = getattr(noise, "depolarizing_time", None) if noise is not None else None


@mypyc_attr(allow_interpreted_subclasses=True)
class FidelityBackend:
    """Bell-diagonal pairs, exact for Pauli noise."""

    name: ClassVar[str] = "fidelity"
    capabilities: ClassVar[frozenset] = frozenset({Capability.PAIR_OPERATIONS, Capability.PURIFICATION,
                                                   Capability.EXACT_FIDELITY})

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng

    @classmethod
    def from_params(cls, params: Any, rng: random.Random) -> "FidelityBackend":
        """The backend of a run (``params``: the scenario's ``FidelityParams``, nothing to set)."""
        return cls(rng)

    # lazy storage noise ----------------------------------------------------------------
    @staticmethod
    def _catch_up(q: Qubit, now: float) -> None:
        dt = now - q.t
        if dt <= 0.0:
            return
        q.t = now
        noise = q.noise
        if noise is None:
            return
        pair = q.pair
        if q.depol_t is not None:
            pair.v = physics.depolarize_after(pair.v, dt, q.depol_t)
        else:
            probs = noise.pauli_probs(dt)
            if probs[0] != 1.0:  # (noiseless memories: nothing to apply)
                pair.v = physics.pauli_channel(pair.v, probs)

    # the protocol -----------------------------------------------------------------------
    def create_pair(self, state: Sequence[float], noise_a: Any, noise_b: Any, t_a: float,
                    t_b: float) -> tuple[Qubit, Qubit]:
        pair = Pair(physics.to_pauli_order(state))
        qa, qb = Qubit(pair, t_a, noise_a), Qubit(pair, t_b, noise_b)
        qa.partner, qb.partner = qb, qa
        return qa, qb

    def apply_pauli(self, qubit: Qubit, pauli: int, now: float) -> None:
        self._catch_up(qubit, now)
        qubit.pair.v = physics.apply_pauli(qubit.pair.v, pauli)

    def apply_pauli_channel(self, qubit: Qubit, probs: Sequence[float], now: float) -> None:
        self._catch_up(qubit, now)
        qubit.pair.v = physics.pauli_channel(qubit.pair.v, probs)

    def bell_measure(self, q1: Qubit, q2: Qubit, now: float, gate_error: float = 0.0,
                     measurement_error: float = 0.0) -> int:
        if q1.pair is q2.pair:
            raise ValueError("Bell measurement of the two halves of one pair")
        # only the measured qubits must catch up: channels on the outer qubits commute with
        # the measurement and are applied to the merged pair when those qubits are touched
        # (depolarizing memories: ``_catch_up`` inlined and the aging done with the swap, in one
        # call, ``swap_after``; every swap comes this way. The aged states of the measured pairs
        # are not kept: those pairs are gone once the merged one is made below)
        rng = self.rng
        dt1, dt2, t1, t2 = now - q1.t, now - q2.t, q1.depol_t, q2.depol_t
        if dt1 > 0.0 and dt2 > 0.0 and t1 is not None and t2 is not None:
            q1.t = q2.t = now
            # for Bell-diagonal inputs the four outcomes are equally likely
            true_outcome = rng.getrandbits(2)
            v = _swap_after(q1.pair.v, dt1, t1, q2.pair.v, dt2, t2, true_outcome)
        else:
            self._catch_up(q1, now)
            self._catch_up(q2, now)
            true_outcome = rng.getrandbits(2)
            v = physics.swap_pauli_order(q1.pair.v, q2.pair.v, true_outcome)
        if gate_error:
            v = physics.two_qubit_depolarize(v, gate_error)
        reported = true_outcome
        if measurement_error:
            if rng.random() < measurement_error:
                reported ^= 1
            if rng.random() < measurement_error:
                reported ^= 2
        a, b = q1.partner, q2.partner
        pair = Pair(v)
        a.pair = b.pair = pair  # type: ignore[union-attr]
        a.partner, b.partner = b, a  # type: ignore[union-attr]
        q1.partner = q2.partner = None
        return reported

    def fidelity(self, q1: Qubit, q2: Qubit, now: float) -> float:
        if q1.pair is not q2.pair:
            return 0.25  # not entangled with each other: overlap of uncorrelated halves
        self._catch_up(q1, now)
        self._catch_up(q2, now)
        return q1.pair.v[0]

    def bell_diagonal(self, q1: Qubit, q2: Qubit, now: float) -> physics.BellDiagonal:
        """The pair's state in Bell order (for tests and diagnostics)."""
        self._catch_up(q1, now)
        self._catch_up(q2, now)
        return physics.from_pauli_order(q1.pair.v)

    def purify(self, keep, sacrifice, now: float, protocol: str = "dejmps",
               gate_error: tuple[float, float] = (0.0, 0.0),
               measurement_error: tuple[float, float] = (0.0, 0.0)) -> bool:
        qa, qb = keep
        sa, sb = sacrifice
        if qa.pair is not qb.pair or sa.pair is not sb.pair or qa.pair is sa.pair:
            raise ValueError("purify needs two distinct pairs, each shared by the two nodes")
        for q in (qa, qb, sa, sb):
            self._catch_up(q, now)
        v, p_success = physics.purify(qa.pair.v, sa.pair.v, protocol, gate_error, measurement_error)
        self.discard(sa, now)
        self.discard(sb, now)
        sa.pair = sb.pair = None  # type: ignore[assignment]
        if self.rng.random() < p_success:
            qa.pair.v = v
            return True
        # failure: the kept pair is spoiled; what remains of it is not a useful pair
        qa.pair.v = [0.25, 0.25, 0.25, 0.25]
        return False

    def apply_gate(self, gate: str, qubits, now: float) -> None:
        raise capability_error(self, Capability.GATES, f"apply_gate({gate!r})")

    def measure(self, qubit, basis: str, now: float) -> int:
        raise capability_error(self, Capability.GATES, f"measure(basis={basis!r})")

    def ghz_fidelity(self, qubits, now: float) -> float:
        """Pairs only: states of three or more qubits are a declared lack (``multipartite``)."""
        raise capability_error(self, Capability.MULTIPARTITE, "ghz_fidelity")

    def discard(self, qubit: Qubit, now: float) -> None:
        partner = qubit.partner
        if partner is not None:
            partner.partner = None
        qubit.partner = None
