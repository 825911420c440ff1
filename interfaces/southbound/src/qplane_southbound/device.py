"""The HAL over the wire: :class:`RemoteDevice` implements :class:`qplane.hal.Device`
by sending each operation to the node's agent.

The digital twin keeps the physics. A pair spans two nodes, so its quantum state cannot live in
either agent: the twin's state backend (inside the node's simulated device, wrapped
here) computes the outcome of every operation, while the agent is the device that must execute
it — it owns the node's memory inventory (it may declare it in its ``hello``; the hub refuses an
agent whose inventory differs from the twin's model), checks every memory it is asked to use,
and answers with ``ok`` and its own duration, or refuses with a reason. A driver for real
hardware would answer the same messages with the hardware's outcome.

What happens when the agent does not answer:

* the agent is lost (its socket closed, it went silent, it left an operation unanswered for the
  heartbeat timeout): the hub reports it, the twin fails the node at once, and the operation is
  taken as done by the twin (the node's qubits are lost with the node a moment later);
* the agent refused the operation (``ok`` false): a device that refuses the control plane's
  operations is a failed device, so it is reported lost the same way, with its reason.

While a node has no live agent (it is failed) operations are applied to the twin only, so the
control plane's clean-up (releasing a failed node's memories) never blocks.

Link-level generation and purification are two-node operations that the core's HAL does not
route through a single device (the entanglement plugin acts on the backend for them); they
stay in the twin.

Operations are called on the simulation thread and block it until the agent answers (bounded
by the hub's ``rpc_timeout``): the twin's clock never runs ahead of its devices.
"""

from __future__ import annotations

from typing import Any

from qplane.hal import Device, Memory

from .hub import AgentHub
from .messages import ApplyPauli, BellMeasurement, MemoryRef, Release


def memory_ref(m: Memory) -> MemoryRef:
    return MemoryRef(neighbor=m.neighbor, index=m.index)


class RemoteDevice:
    """One node's device, driven through its agent; the twin's device does the physics."""

    def __init__(self, twin_device: Device, hub: AgentHub):
        self.twin = twin_device
        self.hub = hub
        self.node = twin_device.node
        #: operations applied to the twin only because the node had no live agent
        self.unconfirmed = 0

    # what the control plane reads of a device (the inventory and the hardware's quality) -----
    @property
    def memory_model(self) -> Any:
        return self.twin.memory_model

    @property
    def operations(self) -> Any:
        return self.twin.operations

    @property
    def backend(self) -> Any:
        return self.twin.backend

    def memories(self, neighbor: str) -> list[Memory]:
        return self.twin.memories(neighbor)

    def all_memories(self) -> list[Memory]:
        return self.twin.all_memories()

    def add_link(self, neighbor: str, count: int) -> list[Memory]:
        return self.twin.add_link(neighbor, count)

    # the operations -------------------------------------------------------------------------
    def _execute(self, make: Any) -> None:
        conn = self.hub.connection(self.node)
        if conn is None:
            self.unconfirmed += 1
            return
        result = conn.call(make, self.hub.rpc_timeout)
        if result is None:
            self.unconfirmed += 1  # lost meanwhile: reported by the hub
        elif not result.ok:
            conn.fail(f"the agent refused an operation: {result.error or 'no reason given'}")

    def bell_measurement(self, m1: Memory, m2: Memory, now: float) -> int:
        self._execute(lambda i: BellMeasurement(id=i, memories=(memory_ref(m1), memory_ref(m2)), sim_time_s=now))
        return self.twin.bell_measurement(m1, m2, now)

    def apply_pauli(self, m: Memory, pauli: int, now: float) -> None:
        if pauli:
            self._execute(lambda i: ApplyPauli(id=i, memory=memory_ref(m), pauli=pauli, sim_time_s=now))
        self.twin.apply_pauli(m, pauli, now)

    def release(self, m: Memory, now: float) -> None:
        if m.qubit is not None:  # emptying an empty memory is no operation for the hardware
            self._execute(lambda i: Release(id=i, memory=memory_ref(m), sim_time_s=now))
        self.twin.release(m, now)
