"""The state-backend protocol: what the HAL asks of whatever represents quantum states.

A backend owns the quantum state of every stored qubit. The HAL hands it opaque qubit handles
(whatever :meth:`StateBackend.create_pair` returned) and never looks inside. Memory noise is
applied lazily: a qubit remembers up to when its noise was applied, and the backend applies
the elapsed-time channel of its memory model whenever the qubit is next touched.

Bell-diagonal states and Pauli indices follow :mod:`qplane.physics`.
"""

from __future__ import annotations

from enum import Enum
from typing import Any, Protocol, Sequence, runtime_checkable

from .errors import CapabilityError


class Capability(str, Enum):
    """What a backend can do beyond the pair-level operations every backend has."""

    #: create pairs, Pauli channels, Bell-state measurement (swap), fidelity: every backend
    PAIR_OPERATIONS = "pair-operations"
    #: BBPSSW / DEJMPS / pumping rounds
    PURIFICATION = "purification"
    #: amplitude damping and arbitrary Kraus channels applied exactly (not Pauli-twirled)
    NON_PAULI_NOISE = "non-pauli-noise"
    #: arbitrary single- and two-qubit gates and measurements in any basis
    GATES = "gates"
    #: Clifford gates and Pauli-basis measurements only
    CLIFFORD_GATES = "clifford-gates"
    #: the fidelity reported per pair is exact (not a sampled 0/1 outcome)
    EXACT_FIDELITY = "exact-fidelity"


class MemoryNoise(Protocol):
    """The part of a memory model a backend needs to apply storage noise."""

    #: depolarizing coherence time in seconds, when the memory is purely depolarizing; else None
    depolarizing_time: float | None

    def pauli_probs(self, dt: float) -> tuple[float, float, float, float]:
        """Pauli-twirled storage channel for ``dt`` seconds: ``(pI, pX, pZ, pY)``."""
        ...


@runtime_checkable
class StateBackend(Protocol):
    """Quantum state of the stored qubits."""

    name: str
    capabilities: frozenset[Capability]

    def create_pair(
        self,
        state: Sequence[float],
        noise_a: MemoryNoise | None,
        noise_b: MemoryNoise | None,
        t_a: float,
        t_b: float,
    ) -> tuple[Any, Any]:
        """A new pair in Bell-diagonal ``state`` (Phi+, Psi-, Psi+, Phi-); each qubit has been
        stored since ``t_a`` / ``t_b`` (its memory noise is due from then). Returns the two
        qubit handles."""
        ...

    def apply_pauli(self, qubit: Any, pauli: int, now: float) -> None:
        """Apply Pauli ``pauli`` (0=I, 1=X, 2=Z, 3=Y) to ``qubit``: frame corrections."""
        ...

    def apply_pauli_channel(self, qubit: Any, probs: Sequence[float], now: float) -> None:
        """Apply a Pauli channel ``(pI, pX, pZ, pY)`` to ``qubit``."""
        ...

    def bell_measure(
        self, q1: Any, q2: Any, now: float, gate_error: float = 0.0, measurement_error: float = 0.0
    ) -> int:
        """Bell-state measurement of two qubits held at one node (entanglement swap).

        ``gate_error``: two-qubit depolarizing probability before the measurement;
        ``measurement_error``: probability that each of the two outcome bits is flipped.
        Returns the *reported* outcome as a Pauli index; ``q1`` and ``q2`` no longer exist and
        their partners now share a pair, in the frame of the reported outcome once that Pauli
        is applied to one of them."""
        ...

    def fidelity(self, q1: Any, q2: Any, now: float) -> float:
        """Fidelity of the pair ``(q1, q2)`` with Phi+ at ``now`` (storage noise applied)."""
        ...

    def discard(self, qubit: Any, now: float) -> None:
        """Forget ``qubit`` (its memory is being freed); its partner is left entangled with nothing."""
        ...


def require(backend: Any, capability: Capability, needed_by: str, installed: dict[str, Any]) -> None:
    """Fail before the run when ``backend`` lacks ``capability``, naming who has it."""
    if capability in getattr(backend, "capabilities", frozenset()):
        return
    have = sorted(n for n, caps in installed.items() if capability in caps)
    raise CapabilityError(
        f"backend {getattr(backend, 'name', backend)!r} lacks capability {capability.value!r} "
        f"needed by {needed_by}; backends that have it: {', '.join(have) or 'none installed'}"
    )
