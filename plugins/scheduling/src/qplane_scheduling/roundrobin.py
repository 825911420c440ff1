"""Round-robin: requests contending for the same memories take turns of ``quantum_s`` seconds.

Precisely: requests are admitted in queue order (arrival order; a preempted request goes to the
tail) exactly as ``fifo`` would. An admitted request's quantum starts when it is admitted; once
``quantum_s`` has passed it is *overdue*. At every admission pass (arrivals, releases, and the end
of every quantum) a waiting request that cannot be admitted takes the memories of overdue
requests that share a link with it — the longest overdue first, only as many as make room for
it. Those are preempted (their stored pairs are lost, counted as ``losses.preempted``) and go to
the tail of the queue, where they wait for their next turn. A request nobody waits for keeps its
memories however long it runs; a request never loses its memories before its quantum is over.
"""

from __future__ import annotations

from pydantic import Field

from qplane.context import Context
from qplane.requests import RequestHandle

from .queueing import QueueScheduler, SchedulerParams


class RoundRobinParams(SchedulerParams):
    """``scheduling: round-robin``."""

    quantum_s: float = Field(1e-2, gt=0.0, allow_inf_nan=False,
                             description="seconds a request keeps contended memories before it yields them")


class RoundRobinScheduler(QueueScheduler):
    """Time-share contended memories in turns of ``quantum_s``."""

    def __init__(self, params: RoundRobinParams, context: Context):
        super().__init__(params, context)
        self._turn: dict[RequestHandle, int] = {}  # admission token: stale timers are ignored
        self._overdue: dict[RequestHandle, int] = {}  # request -> order in which it became overdue

    def on_admitted(self, handle: RequestHandle) -> None:
        token = self._turn[handle] = self._turn.get(handle, 0) + 1
        self._overdue.pop(handle, None)
        self.env.call_at(self.params.quantum_s, self._quantum_over, handle, token)

    def _quantum_over(self, handle: RequestHandle, token: int) -> None:
        if handle.done or handle not in self.admitted or self._turn.get(handle) != token:
            return
        self._overdue[handle] = self._next_seq()
        if self.queue:
            self.request_admission()

    def may_preempt(self) -> bool:
        return True

    def victims(self, handle: RequestHandle) -> list[RequestHandle]:
        mine = self.links(handle)
        out = [v for v in self._overdue if v in self.admitted and self.links(v) & mine]
        out.sort(key=self._overdue.__getitem__)
        return out

    def on_preempted(self, handle: RequestHandle) -> None:
        self._overdue.pop(handle, None)
        self._arrival[handle] = self._next_seq()  # its next turn is at the tail of the queue

    def on_released(self, handle: RequestHandle) -> None:
        self._overdue.pop(handle, None)
