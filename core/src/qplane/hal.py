"""The southbound contract (the hardware abstraction layer) and the simulated device.

The control plane never touches quantum states directly: it asks a node's :class:`Device`
for memories, Bell-state measurements and Pauli corrections, and a link's
:class:`LinkModel` for attempt statistics. :class:`SimulatedDevice` implements the HAL over a
state backend; a driver for a real testbed would implement the same protocol.
"""

from __future__ import annotations

from dataclasses import dataclass, field
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

    def memories(self, neighbor: str) -> list[Memory]:
        """The memories dedicated to the link towards ``neighbor`` (the inventory)."""
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


@dataclass(eq=False)
class SimulatedDevice:
    """The HAL over a state backend: one per node."""

    node: str
    backend: StateBackend
    operations: Operations
    memory_model: MemoryModel
    _memories: dict[str, list[Memory]] = field(default_factory=dict)

    def add_link(self, neighbor: str, count: int) -> list[Memory]:
        mems = [Memory(self.node, neighbor, i, self.memory_model) for i in range(count)]
        self._memories[neighbor] = mems
        return mems

    def memories(self, neighbor: str) -> list[Memory]:
        return self._memories[neighbor]

    def all_memories(self) -> list[Memory]:
        return [m for mems in self._memories.values() for m in mems]

    def bell_measurement(self, m1: Memory, m2: Memory, now: float) -> int:
        ops = self.operations
        outcome = self.backend.bell_measure(
            m1.qubit, m2.qubit, now, ops.gate_error, ops.measurement_error
        )
        m1.qubit = m2.qubit = None
        m1.record = m2.record = None
        return outcome

    def apply_pauli(self, m: Memory, pauli: int, now: float) -> None:
        if pauli:
            self.backend.apply_pauli(m.qubit, pauli, now)

    def release(self, m: Memory, now: float) -> None:
        if m.qubit is not None:
            self.backend.discard(m.qubit, now)
        m.qubit = None
        m.record = None


def herald_pair(
    backend: StateBackend, link: LinkModel, mem_a: Memory, mem_b: Memory, t_emit: float
) -> None:
    """Create a heralded pair in ``mem_a``/``mem_b``; both qubits have been stored since
    ``t_emit`` (the emission of the successful attempt), so storage noise covers the wait
    for the herald."""
    qa, qb = backend.create_pair(link.pair_state, mem_a.noise, mem_b.noise, t_emit, t_emit)
    mem_a.qubit = qa
    mem_b.qubit = qb



def purify_pairs(
    backend: StateBackend,
    dev_a: SimulatedDevice,
    dev_b: SimulatedDevice,
    keep: tuple[Memory, Memory],
    sacrifice: tuple[Memory, Memory],
    now: float,
    protocol: str,
) -> bool:
    """One purification round between the devices of nodes A and B, each side with its own
    gate and measurement errors. The sacrificed memories are emptied; returns success."""
    ka, kb = keep
    sa, sb = sacrifice
    oa, ob = dev_a.operations, dev_b.operations
    ok = backend.purify(
        (ka.qubit, kb.qubit),
        (sa.qubit, sb.qubit),
        now,
        protocol,
        (oa.gate_error, ob.gate_error),
        (oa.measurement_error, ob.measurement_error),
    )
    sa.qubit = sb.qubit = None
    sa.record = sb.record = None
    return ok
