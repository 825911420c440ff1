"""TDMA: a central controller gives admitted requests time slots; link generation for a request
happens only in its slots.

Admission is ``fifo``'s, except that a request reserves at most ``max_memories_per_link`` memory
pairs per hop (one by default), so that several requests can hold memories on a link and the
slots divide the link's attempts among them. The controller runs slots of ``slot_s`` seconds
back to back; in each slot it chooses the requests whose generation may run:

* the candidates are the admitted requests, taken in turn: the scan starts after the request
  that opened the previous slot (round robin in admission order), so every request opens a
  slot in its turn;
* ``reuse: true`` (default): a slot takes, in that order, every candidate that shares no link
  with one already taken (spatial reuse: at most one request generates on a link at any time);
  ``reuse: false``: one request per slot, network-wide (classic TDMA);
* ``mode: on-demand`` (generate when requested, default): only requests that have memory pairs
  waiting to attempt are candidates; when none has, the controller idles and opens the next slot
  the moment one does;
* ``mode: continuous``: slots follow a fixed grid (``k * slot_s``) for as long as any request is
  admitted, and every admitted request is a candidate whether or not it has anything to
  generate (a slot of a request with full memories is wasted).

The controller tells a request's sessions through their ``gate`` (see
:class:`qplane.requests.Session`): the link generator makes an attempt only when its window
``[emission, emission + cycle]`` fits inside an open slot of the request, and waits for the next
slot otherwise. Heralds, swaps, purification and delivery are not generation: they happen
whenever they happen. ``slots`` keeps every slot ``(start, end, request ids)`` for analysis.

A request whose path has a link whose attempt cycle is longer than ``slot_s`` could never
attempt: it ends ``insufficient_resources`` saying so. Path-free (reactive) requests draw on a
link-level pool that generates for everyone; slots do not apply to them.
"""

from __future__ import annotations

import math
from typing import Callable, Literal

from pydantic import Field

from qplane.context import Context
from qplane.requests import RequestHandle, RequestStatus

from .queueing import QueueScheduler, SchedulerParams


class TdmaParams(SchedulerParams):
    """``scheduling: tdma``."""

    slot_s: float = Field(1e-3, gt=0.0, allow_inf_nan=False, description="slot length, seconds")
    mode: Literal["on-demand", "continuous"] = Field(
        "on-demand", description="on-demand: slots only for requests with memories waiting to attempt; "
        "continuous: a fixed grid of slots for every admitted request in turn")
    reuse: bool = Field(True, description="requests that share no link may share a slot")
    max_memories_per_link: int | None = Field(
        1, ge=1, description="memory pairs a request may reserve per hop; null = all free")


class SlotGate:
    """A request's view of the controller's slots (shared by its sessions)."""

    __slots__ = ("tdma", "handle", "links", "open_end", "waiters", "order")

    def __init__(self, tdma: "TdmaScheduler", handle: RequestHandle, order: int):
        self.tdma = tdma
        self.handle = handle
        self.links = tdma.links(handle)
        self.open_end: float | None = None  # end of the slot open now for this request
        self.waiters: list[Callable[[], None]] = []
        self.order = order  # admission order, for the controller's turns

    def open_until(self, now: float) -> float | None:
        end = self.open_end
        return end if end is not None and now < end else None

    def wait(self, callback: Callable[[], None]) -> None:
        self.waiters.append(callback)
        self.tdma._demand()


class TdmaScheduler(QueueScheduler):
    """Admit like fifo (a few memories each); let each request generate only in its slots."""

    def __init__(self, params: TdmaParams, context: Context):
        super().__init__(params, context)
        self.gates: dict[RequestHandle, SlotGate] = {}
        self._admissions = 0
        self._turn = 0  # the scan of the next slot starts at this admission order
        self._running = False  # a slot is open, or one is about to open
        self._members: list[SlotGate] = []
        #: every slot: (start, end, ids of the requests it served)
        self.slots: list[tuple[float, float, tuple[int, ...]]] = []

    # ------------------------------------------------------------------ the scheduler side

    def try_start(self, handle: RequestHandle) -> bool:
        net = self.ctx.network
        for path in self.paths(handle):
            for u, v in zip(path, path[1:]):
                cycle = net.link(u, v).model.cycle_time
                if cycle > self.params.slot_s:
                    self.ctx.sessions.finish(handle, RequestStatus.INSUFFICIENT_RESOURCES,
                                    f"tdma slot_s {self.params.slot_s:g} s is shorter than the attempt cycle "
                                    f"{cycle:.3g} s of link {u}-{v}: no attempt fits in a slot")
                    return True
        return super().try_start(handle)

    def gate_for(self, handle: RequestHandle) -> SlotGate:
        gate = self.gates.get(handle)
        if gate is None:
            self._admissions += 1
            gate = self.gates[handle] = SlotGate(self, handle, self._admissions)
        return gate

    def on_admitted(self, handle: RequestHandle) -> None:
        if self.params.mode == "continuous":
            self._wake()

    def on_released(self, handle: RequestHandle) -> None:
        gate = self.gates.pop(handle, None)
        if gate is not None:
            gate.waiters.clear()
            gate.open_end = None

    # ------------------------------------------------------------------ the controller

    def _demand(self) -> None:
        if self.params.mode == "on-demand":
            self._wake()

    def _wake(self) -> None:
        """Open a slot as soon as the mode allows, unless one is open or about to open."""
        if self._running:
            return
        self._running = True
        now = self.env.now
        if self.params.mode == "continuous":  # the next boundary of the grid
            s = self.params.slot_s
            k = math.ceil(now / s - 1e-9)
            self.env.call_at(max(k * s - now, 0.0), self._open_slot)
        else:  # at the end of this instant, so that simultaneous demands share the slot
            self.env.call_at(0.0, self._open_slot)

    def _candidates(self) -> list[SlotGate]:
        gates = [g for h, g in self.gates.items() if not h.done and h in self.admitted]
        if self.params.mode == "on-demand":
            gates = [g for g in gates if g.waiters]
        gates.sort(key=lambda g: (g.order < self._turn, g.order))  # from the turn on, then wrap
        return gates

    def _open_slot(self) -> None:
        candidates = self._candidates()
        if not candidates:
            self._running = False
            return
        members: list[SlotGate] = []
        used: set[frozenset[str]] = set()
        for gate in candidates:
            links = gate.links
            if members and (not self.params.reuse or links & used):
                continue
            members.append(gate)
            used |= links
        self._turn = members[0].order + 1
        now = self.env.now
        end = now + self.params.slot_s
        self._members = members
        self.slots.append((now, end, tuple(g.handle.id for g in members)))
        for gate in members:
            gate.open_end = end
        for gate in members:
            waiters, gate.waiters = gate.waiters, []
            for callback in waiters:
                callback()
        self.env.call_at(self.params.slot_s, self._close_slot)

    def _close_slot(self) -> None:
        for gate in self._members:
            gate.open_end = None
        self._members = []
        self._open_slot()
