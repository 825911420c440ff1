"""The stock of a virtual link (:mod:`qplane_engine.virtual`): the pairs its keeper made, each
with the qubits it was made of, and what routers read of it."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from qplane.requests import DeliveredPair, RequestHandle

if TYPE_CHECKING:
    from .virtual import Composite, VirtualLinks


@dataclass(frozen=True)
class VirtualLinkModel:
    """What routers read of a virtual edge's ``link``: the stocked pairs' state estimate."""

    length_km: float
    pair_state: tuple[float, float, float, float]
    success_probability: float = 1.0
    cycle_time: float = 0.0
    herald_delay: float = 0.0


class Held:
    """A pair kept by a stock or a leg, with the qubits it was made of: its memories belong to
    the keeper's or the leg's session, which may lose them (a preemption, a failure) and reuse
    them, so the pair is still there only while they hold those very qubits."""

    __slots__ = ("pair", "qa", "qb", "id")

    def __init__(self, pair: DeliveredPair, trace: Any = None):
        self.pair, self.qa, self.qb = pair, pair.src_memory.qubit, pair.dst_memory.qubit
        #: traced runs: the pair's id in the trace (its delivery to the keeper or leg was the last one)
        self.id = trace.last_delivery if trace is not None else None

    @property
    def valid(self) -> bool:
        return self.qa is not None and self.pair.src_memory.qubit is self.qa and self.pair.dst_memory.qubit is self.qb


class Stock:
    """The stocked pairs of one virtual link, and the keeper that makes them."""

    def __init__(self, service: "VirtualLinks", a: str, b: str, spec: Any):
        self.service, self.a, self.b, self.spec = service, a, b, spec
        self.keeper: RequestHandle | None = None
        self.path: list[str] | None = None
        self.held: deque[Held] = deque()
        self.estimate = 0.0  # the stocked pairs' best-case fidelity (Werner)
        self.failed: str | None = None
        self.waiting: list["Composite"] = []
        self.stocked = self.consumed = self.expired = self.pushed_out = 0
        self.refill_s = 0.0
        self._room_since: float | None = None

    @property
    def available(self) -> bool:
        return bool(self.held)

    def capacity(self) -> int:
        """Pairs the stock can hold: ``stock``, and no more than the keeper's memory pairs on
        its first and last hops (each stocked pair holds one of each)."""
        sessions = self.keeper.sessions if self.keeper is not None else []
        if not sessions:
            return self.spec.stock
        allocation = sessions[-1].allocation
        return min(self.spec.stock, len(allocation[0]), len(allocation[-1])) if allocation else self.spec.stock

    def expected_wait(self) -> float:
        """Seconds a request expects to wait for a pair: 0 when one is stocked, else the mean
        refill time so far (the physical path's expected link time before any)."""
        if self.held:
            return 0.0
        if self.stocked:
            return self.refill_s / self.stocked
        view = self.service.sim.network.truth_view()
        path = self.path or []
        return sum(view[u][v]["expected_pair_time"] for u, v in zip(path, path[1:]) if view.has_edge(u, v))

    # the keeper's application
    def on_pair(self, handle: RequestHandle, pair: DeliveredPair) -> bool:
        now = self.service.sim.now
        self.stocked += 1
        self.refill_s += now - (self._room_since if self._room_since is not None else now)
        entry = Held(pair, self.service.trace)
        self.held.append(entry)
        if len(self.held) > self.spec.stock:
            self.pushed_out += 1
            self._drop(self.held.popleft(), "pushed_out")
        self._room_since = now if len(self.held) < self.capacity() else None
        if self.spec.max_age is not None:  # counted from the pair's oldest qubit, not from its stocking
            self.service.sim.clock.call_at(max(0.0, self.spec.max_age - pair.age), self._expire, entry)
        self.service.stocked(self)
        return True  # kept: consumed, expired or pushed out later

    def take(self) -> Held:
        entry = self.held.popleft()
        self.consumed += 1
        self._room(self.service.sim.now)
        return entry

    def _room(self, now: float) -> None:
        if self._room_since is None and len(self.held) < self.capacity():
            self._room_since = now

    def _expire(self, entry: Held) -> None:
        if any(h is entry for h in self.held):  # still stocked (a stock holds a few pairs)
            self.held.remove(entry)
            self.expired += 1
            self._drop(entry, "expired")
            self._room(self.service.sim.now)

    def _drop(self, entry: Held, reason: str) -> None:
        trace = self.service.trace
        if trace is not None and entry.valid:
            trace("discard", request=None, pair=entry.id, nodes=[self.a, self.b], reason=reason)
        self.service.free_pair(entry)

    def summary(self) -> dict[str, Any]:
        return {"a": self.a, "b": self.b, "path": self.path, "stock": self.spec.stock, "max_age_s": self.spec.max_age,
                "pairs_stocked": self.stocked, "pairs_consumed": self.consumed, "pairs_expired": self.expired,
                "pairs_pushed_out": self.pushed_out, "held_at_end": len(self.held),
                "refill_time_mean_s": self.refill_s / self.stocked if self.stocked else None,
                "estimated_fidelity": self.estimate, "failed": self.failed}
