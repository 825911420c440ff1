"""First-in, first-out admission with memory allocation per request.

A request is admitted when, on every hop of its path, at least one memory is free at both ends;
it then reserves up to ``max_memories_per_link`` free memory pairs per hop (all free ones by
default). Requests that cannot be admitted wait in arrival order and are retried whenever a
request releases its memories; with ``strict: true`` a waiting request also blocks every later
one (head-of-line), which is FIFO in the strict sense. Admission happens at once, on arrival.
The inventory and the queue are :mod:`qplane_scheduling.queueing`'s.
"""

from __future__ import annotations

from .queueing import QueueScheduler, SchedulerParams


class FifoParams(SchedulerParams):
    """``scheduling: fifo``."""


class FifoScheduler(QueueScheduler):
    """Serve requests in arrival order, each with the memories free on its path."""

    batch = False  # arrival order needs no ranking of simultaneous arrivals
