"""The memory inventory: who owns which memory, integrated exactly over time.

Implements :class:`qplane.context.Inventory`. A memory is owned by at most one session; every
change of owner goes through :meth:`MemoryInventory.set_owner`, which keeps one
:class:`Reservation` per node, so the time-averaged reservation is exact at no cost per
simulation event. Occupancy (memories holding a qubit) is sampled only when a plugin asks.

It must not route, schedule or touch quantum states beyond releasing them through the HAL.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from qplane.hal import Memory
    from qplane.requests import Session

    from .network import Network


@dataclass(slots=True)
class Reservation:
    """Memories of one node reserved by sessions: now, integrated, and at their peak."""

    count: int = 0
    #: reserved memory-seconds up to ``since``
    area: float = 0.0
    since: float = 0.0
    peak: int = 0

    def change(self, delta: int, now: float) -> None:
        self.area += self.count * (now - self.since)
        self.since = now
        self.count += delta
        if self.count > self.peak:
            self.peak = self.count

    def area_until(self, now: float) -> float:
        return self.area + self.count * (now - self.since)


@dataclass
class Occupancy:
    """Sampled occupancy: per node the sum and peak of memories holding a qubit."""

    interval: float
    samples: int = 0
    total: dict[str, int] = field(default_factory=dict)
    peak: dict[str, int] = field(default_factory=dict)
    #: ``[time, fraction reserved, fraction occupied]`` network-wide, one row per sample
    timeline: list[list[float]] = field(default_factory=list)


class MemoryInventory:
    """The inventory of one run (see the module)."""

    #: the run's protocol-event tracer (:mod:`qplane_engine.trace`) when traced
    trace: Any = None

    def __init__(self, clock: Any, network: "Network"):
        self._clock = clock
        self._network = network
        #: sessions holding memories now (insertion-ordered)
        self.holders: dict["Session", None] = {}
        self.reserved: dict[str, Reservation] = {}
        self.occupancy: Occupancy | None = None

    def claim(self, session: "Session") -> None:
        self.holders[session] = None
        for hop in session.allocation:
            for pair in hop:
                for m in pair:
                    self.set_owner(m, session)

    def set_owner(self, memory: "Memory", owner: "Session | None") -> None:
        if (memory.owner is None) != (owner is None):
            r = self.reserved.get(memory.node)
            if r is None:
                r = self.reserved[memory.node] = Reservation(since=self._clock.now)
            r.change(1 if owner is not None else -1, self._clock.now)
        memory.owner = owner

    def free(self, memory: "Memory | None") -> None:
        if memory is None:
            return
        self._network.nodes[memory.node].device.release(memory, self._clock.now)
        owner = memory.owner
        if owner is not None and owner.active and owner.state is not None:
            owner.state.memory_freed(memory)

    def release(self, session: "Session") -> None:
        # a memory of its allocation that another session owns is left alone: that would be a
        # double booking, which violations() reports
        session.active = False
        if session not in self.holders:
            return
        del self.holders[session]
        now = self._clock.now
        nodes = self._network.nodes
        if self.trace is not None:
            self._trace_released(session)
        for hop in session.allocation:
            for pair in hop:
                for m in pair:
                    if m.owner is session:
                        nodes[m.node].device.release(m, now)
                        self.set_owner(m, None)
        handle = session.handle
        if handle is not None and session in handle.sessions:
            handle.sessions.remove(session)
        on_release = getattr(session.state, "on_release", None)
        if on_release is not None:
            on_release()

    def _trace_released(self, session: "Session") -> None:
        """A ``discard`` (reason ``released``) for every pair ``session`` still holds as it is
        released: once per pair, i.e. per control-plane record its stored qubits share (the
        record's ``id`` is the trace's ``pair``). Qubits with no record (pairs delivered and kept
        by the application) are not the protocol's any more: not traced."""
        held: dict[int, tuple[Any, list[str]]] = {}
        for hop in session.allocation:
            for pair in hop:
                for m in pair:
                    if m.owner is session and m.qubit is not None and m.record is not None:
                        held.setdefault(id(m.record), (m.record, []))[1].append(m.node)
        handle = session.handle
        for record, where in held.values():
            self.trace("discard", request=handle.id if handle is not None else None,
                       pair=getattr(record, "id", None), nodes=where, reason="released",
                       status=handle.status.value if handle is not None else None)

    def sample_occupancy(self, interval: float) -> None:
        if self.occupancy is not None or interval <= 0:
            return
        nodes = self._network.nodes
        names = list(nodes)
        occ = self.occupancy = Occupancy(interval, total=dict.fromkeys(names, 0), peak=dict.fromkeys(names, 0))
        everything = sum(len(nodes[n].device.all_memories()) for n in names) or 1

        def sample() -> None:
            occupied_all = 0
            for name in names:
                k = sum(m.qubit is not None for m in nodes[name].device.all_memories())
                occ.total[name] += k
                occ.peak[name] = max(occ.peak[name], k)
                occupied_all += k
            occ.samples += 1
            reserved_all = sum(r.count for r in self.reserved.values())
            occ.timeline.append([self._clock.now, reserved_all / everything, occupied_all / everything])
            self._clock.call_at(interval, sample)

        self._clock.call_at(0.0, sample)

    # ------------------------------------------------------------------ reports

    def utilisation(self) -> list[dict[str, Any]]:
        """Per node: its memories, the time-averaged and peak fractions reserved (exact) and
        holding a qubit (sampled; None unless :meth:`sample_occupancy` was on)."""
        now = self._clock.now
        occ = self.occupancy
        out = []
        for name, node in self._network.nodes.items():
            total = len(node.device.all_memories())
            r = self.reserved.get(name, Reservation(since=now))
            out.append({
                "name": name,
                "memories": total,
                "reserved_mean": r.area_until(now) / (now * total) if now > 0 and total else 0.0,
                "reserved_peak": r.peak / total if total else 0.0,
                "occupied_mean": occ.total[name] / (occ.samples * total) if occ and occ.samples and total else None,
                "occupied_peak": occ.peak[name] / total if occ and total else None,
            })
        return out

    def violations(self, final: bool = False) -> list[str]:
        """Breaches of the inventory's invariants (empty when it is sound):

        * every memory with an owner belongs to the allocation of that owner, an active session
          holding memories (none is leaked to a finished session);
        * no memory is in the allocations of two sessions (none is double-booked);
        * every memory that holds a qubit has an owner (no stray qubit);
        * with ``final=True`` (after the run): no memory has an owner, a qubit or a pair record."""
        problems: list[str] = []
        holder: dict[Any, Any] = {}

        def who(session: Any) -> str:
            h = getattr(session, "handle", None)
            return f"request {h.id}" if h is not None else repr(getattr(session, "state", None) or session)

        for session in self.holders:
            if not session.active:
                problems.append(f"{who(session)}: a finished session still holds memories")
            for m in (m for hop in session.allocation for pair in hop for m in pair):
                other = holder.get(m)
                if other is not None:
                    problems.append(f"{m.label} is in the allocations of {who(other)} and {who(session)}")
                holder[m] = session
                if m.owner is not session:
                    problems.append(f"{m.label} is in the allocation of {who(session)} but owned by "
                                    f"{who(m.owner) if m.owner is not None else 'nobody'}")
        for node in self._network.nodes.values():
            for m in node.device.all_memories():
                if m.owner is not None and holder.get(m) is not m.owner:
                    problems.append(f"{m.label} is owned by {who(m.owner)}, which does not hold it (leaked)")
                if m.qubit is not None and m.owner is None:
                    problems.append(f"{m.label} holds a qubit but no session owns it (leaked)")
                if final and (m.owner is not None or m.qubit is not None or m.record is not None):
                    problems.append(f"{m.label} is not free after the run (owner {who(m.owner) if m.owner else None}, "
                                    f"qubit {m.qubit is not None}, record {m.record is not None})")
        return problems
