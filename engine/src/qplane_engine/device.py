"""The simulated device: the HAL (:class:`qplane.hal.Device`) over a state backend, one per node."""

from __future__ import annotations

from dataclasses import dataclass, field

from qplane.backend import StateBackend
from qplane.hal import Memory, MemoryModel, Operations


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
