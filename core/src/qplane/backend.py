"""The state-backend protocol: what the HAL asks of whatever represents quantum states.

A backend owns the quantum state of every stored qubit. The HAL hands it opaque qubit handles
(whatever :meth:`StateBackend.create_pair` returned) and never looks inside. Memory noise is
applied lazily: a qubit remembers up to when its noise was applied, and the backend applies
the elapsed-time channel of its memory model whenever the qubit is next touched.

Bell-diagonal states and Pauli indices follow :mod:`qplane_physics`.
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
    #: states of three or more qubits: GHZ fusion (gates, measurements) and ``ghz_fidelity``
    MULTIPARTITE = "multipartite"


class MemoryNoise(Protocol):
    """The part of a memory model a backend needs to apply storage noise."""

    #: depolarizing coherence time in seconds, when the memory is purely depolarizing; else None
    depolarizing_time: float | None

    def pauli_probs(self, dt: float) -> tuple[float, float, float, float]:
        """Pauli-twirled storage channel for ``dt`` seconds: ``(pI, pX, pZ, pY)``."""
        ...

    # Optional: ``kraus(dt) -> list of 2x2 matrices`` (nested lists) of the exact storage
    # channel. Backends with NON_PAULI_NOISE apply it when present; Pauli-only backends
    # apply ``pauli_probs``, its Pauli twirl.


@runtime_checkable
class StateBackend(Protocol):
    """Quantum state of the stored qubits."""

    name: str
    capabilities: frozenset[Capability]
    # Optional ``max_group_qubits: int | None``: most qubits one joint state may hold (None: no limit).

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

    # --- capability PURIFICATION ------------------------------------------------------

    def purify(
        self,
        keep: tuple[Any, Any],
        sacrifice: tuple[Any, Any],
        now: float,
        protocol: str = "dejmps",
        gate_error: tuple[float, float] = (0.0, 0.0),
        measurement_error: tuple[float, float] = (0.0, 0.0),
    ) -> bool:
        """One purification round between nodes A and B: ``keep = (qa, qb)`` and
        ``sacrifice = (sa, sb)`` (``qa``, ``sa`` at A). ``protocol`` is ``"bbpssw"`` (twirl both
        pairs to Werner form, bilateral CNOT) or ``"dejmps"`` (A applies Rx(pi/2), B Rx(-pi/2),
        bilateral CNOT); the sacrificed pair's qubits are measured in Z and cease to exist.
        Noise follows :func:`qplane_physics.purify`: ``gate_error[i]`` a two-qubit depolarizing
        channel on node i's two qubits, ``measurement_error[i]`` a flip of node i's bit.
        Returns True when the bits agree (keep the pair); on False the kept pair is spoiled and
        the caller discards it."""
        ...

    # --- capability MULTIPARTITE ------------------------------------------------------

    def ghz_fidelity(self, qubits: Sequence[Any], now: float) -> float:
        """Fidelity of ``qubits`` (storage noise applied up to ``now``) with the n-qubit GHZ
        state ``(|0...0> + |1...1>)/sqrt2``."""
        ...

    # --- capability GATES / CLIFFORD_GATES -------------------------------------------

    def apply_gate(self, gate: str, qubits: Sequence[Any], now: float) -> None:
        """Apply a named gate: ``X Y Z H S SDG CNOT CZ`` (Clifford) and, with GATES,
        ``RX(theta) RY(theta) RZ(theta)`` as ``"RX:0.5"``. Qubits of different groups are
        merged into one group first."""
        ...

    def measure(self, qubit: Any, basis: str, now: float) -> int:
        """Measure ``qubit`` in basis ``"Z"``, ``"X"`` or ``"Y"``; returns 0 or 1 and the
        qubit ceases to exist (its partners keep the post-measurement state)."""
        ...


#: name → capabilities of every backend the last :class:`qplane.registry.Registry` found;
#: used to tell a user which installed backends have what theirs lacks.
INSTALLED_BACKENDS: dict[str, frozenset[Capability]] = {}


def backend_capabilities(factory: Any) -> frozenset[Capability] | None:
    """The ``capabilities`` a registered backend factory (class or bound classmethod) declares."""
    caps = getattr(factory, "capabilities", None)
    if caps is None:
        caps = getattr(getattr(factory, "__self__", None), "capabilities", None)
    return frozenset(caps) if caps is not None else None


def capability_error(backend: Any, capability: Capability, needed_by: str) -> CapabilityError:
    have = sorted(n for n, caps in INSTALLED_BACKENDS.items() if capability in caps)
    return CapabilityError(
        f"backend {getattr(backend, 'name', backend)!r} lacks capability {capability.value!r} "
        f"needed by {needed_by}; backends that have it: {', '.join(have) or 'none installed'}"
    )


def require(backend: Any, capability: Capability, needed_by: str) -> None:
    """Raise :class:`CapabilityError` when ``backend`` lacks ``capability``, naming who has it."""
    if capability not in getattr(backend, "capabilities", frozenset()):
        raise capability_error(backend, capability, needed_by)
