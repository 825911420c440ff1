"""The southbound contract: the hardware abstraction layer.

The control plane never touches quantum states directly: it asks a node's :class:`Device`
for memories, Bell-state measurements and Pauli corrections, and a link's
:class:`LinkModel` for attempt statistics. The engine's simulated device (qplane-engine)
implements the HAL over a state backend; a driver for a real testbed would implement the same
protocol.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from .backend import MemoryNoise, StateBackend


class LinkModel(Protocol):
    """Physics of one heralded quantum link (from ``hardware.link``)."""

    length_km: float
    #: per-attempt success probability
    success_probability: float
    #: time between the starts of two attempts on one memory pair, seconds
    cycle_time: float
    #: time from emission until both ends know the outcome, seconds
    herald_delay: float
    #: Bell-diagonal state (Phi+, Psi-, Psi+, Phi-) of a heralded pair, before storage noise
    pair_state: tuple[float, float, float, float]


class MemoryModel(MemoryNoise, Protocol):
    """Physics of a node's quantum memories (from ``hardware.memory``)."""

    count: int


@dataclass(frozen=True)
class Operations:
    """Local operation quality of a node (from ``hardware.operations``)."""

    gate_error: float = 0.0
    measurement_error: float = 0.0
    bsm_duration: float = 0.0
    bsm_success: float = 1.0


@dataclass(eq=False, slots=True)
class Memory:
    """One quantum memory of a node, dedicated to the link towards ``neighbor``."""

    node: str
    neighbor: str
    index: int
    noise: MemoryNoise | None
    qubit: Any = None  # backend handle while the memory holds a qubit
    owner: Any = None  # the session that has reserved this memory, or None
    record: Any = None  # control-plane record of the pair this qubit belongs to

    @property
    def label(self) -> str:
        return f"{self.node}[{self.neighbor}#{self.index}]"


@runtime_checkable
class Device(Protocol):
    """What a node's hardware offers the control plane."""

    node: str
    #: the node's local operation quality (gate and measurement errors, BSM duration)
    operations: Operations
    #: the physics of the node's memories (decoherence while a qubit waits)
    memory_model: MemoryModel

    def memories(self, neighbor: str) -> list[Memory]:
        """The memories dedicated to the link towards ``neighbor`` (the inventory)."""
        ...

    def all_memories(self) -> list[Memory]:
        """Every memory of the node, all links together."""
        ...

    def bell_measurement(self, m1: Memory, m2: Memory, now: float) -> int:
        """Bell-state measurement of the qubits in ``m1`` and ``m2``; returns the reported
        outcome (Pauli index) and frees both memories' qubits."""
        ...

    def apply_pauli(self, m: Memory, pauli: int, now: float) -> None:
        """Apply a Pauli correction to the qubit in ``m``."""
        ...

    def release(self, m: Memory, now: float) -> None:
        """Discard whatever ``m`` holds and make it free."""
        ...
