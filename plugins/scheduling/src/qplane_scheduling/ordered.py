"""Ordered admission: ``priority`` (higher ``request.priority`` first) and ``edf`` (earliest
deadline ``request.end`` first; requests without one last).

The queue is ranked by the key, ties in arrival order; requests arriving at the same instant are
ranked together (the admission pass runs at the end of the instant). Without preemption (the
default) a request that holds memories keeps them until it finishes, so a more urgent one that
arrives later waits for them; with ``preempt: true`` it takes them from admitted requests that
are strictly less urgent and share a link with it (the least urgent first, only as many as make
room). A preempted request loses its stored pairs and waits again in the queue.
"""

from __future__ import annotations

import math

from pydantic import Field

from qplane.requests import RequestHandle

from .queueing import QueueScheduler, SchedulerParams


class OrderedParams(SchedulerParams):
    """``scheduling: priority`` or ``scheduling: edf``."""

    preempt: bool = Field(False, description="a more urgent request may take the memories of less urgent admitted ones")


class PriorityScheduler(QueueScheduler):
    """Serve the highest ``priority`` first (ties: arrival order)."""

    def urgency(self, handle: RequestHandle) -> float:
        """Smaller is more urgent."""
        return -handle.request.priority

    def rank(self, handle: RequestHandle) -> tuple:
        return (self.urgency(handle), self._arrival[handle])

    def may_preempt(self) -> bool:
        return bool(self.params.preempt)

    def victims(self, handle: RequestHandle) -> list[RequestHandle]:
        if not self.params.preempt:
            return []
        mine, urgency = self.links(handle), self.urgency(handle)
        out = [v for v in self.admitted if self.urgency(v) > urgency and self.links(v) & mine]
        out.sort(key=self.rank, reverse=True)  # the least urgent (then the latest) first
        return out


class EdfScheduler(PriorityScheduler):
    """Earliest deadline first: serve the request whose ``end`` comes first (ties: arrival)."""

    def urgency(self, handle: RequestHandle) -> float:
        end = handle.request.end
        return end if end is not None else math.inf
