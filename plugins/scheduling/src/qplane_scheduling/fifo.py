"""First-in, first-out admission with memory allocation per request.

The memory inventory: every node has ``memory.count`` memories per quantum link. A request is
admitted when, on every hop of its path, at least one memory is free at both ends; it then
reserves up to ``max_memories_per_link`` free memory pairs per hop (all free ones by
default). Requests that cannot be admitted wait in arrival order and are retried whenever a
request releases its memories; with ``strict: true`` a waiting request also blocks every
later one (head-of-line), which is FIFO in the strict sense.
"""

from __future__ import annotations

from collections import deque
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from qplane.northbound import RequestHandle


class FifoParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    max_memories_per_link: int | None = Field(None, ge=1, description="memory pairs a request may reserve per hop; null = all free")
    strict: bool = Field(False, description="a waiting request blocks all later ones")


class FifoScheduler:
    """Serve requests in arrival order, each with the memories free on its path."""

    def __init__(self, params: FifoParams, sim: Any):
        self.params = params
        self.sim = sim
        self.queue: deque[RequestHandle] = deque()
        self._admitting = False
        self._again = False

    def submit(self, handle: RequestHandle) -> None:
        self.queue.append(handle)
        self._admit()

    def release(self, handle: RequestHandle) -> None:
        if handle.session is not None:
            self.sim.release_session(handle.session)
        self._admit()

    def _allocate(self, path: list[str]) -> list[list[tuple[Any, Any]]] | None:
        nodes = self.sim.network.nodes
        cap = self.params.max_memories_per_link
        allocation = []
        for u, v in zip(path, path[1:]):
            free_u = [m for m in nodes[u].device.memories(v) if m.owner is None]
            free_v = [m for m in nodes[v].device.memories(u) if m.owner is None]
            k = min(len(free_u), len(free_v))
            if cap is not None:
                k = min(k, cap)
            if k == 0:
                return None
            allocation.append(list(zip(free_u[:k], free_v[:k])))
        return allocation

    def _admit(self) -> None:
        # a session may finish while it is being started (and release memories): admission
        # is not re-entered, it runs again once the current pass is over
        if self._admitting:
            self._again = True
            return
        self._admitting = True
        try:
            self._again = True
            while self._again:
                self._again = False
                self._admit_pass()
        finally:
            self._admitting = False

    def _admit_pass(self) -> None:
        waiting: deque[RequestHandle] = deque()
        while self.queue:
            handle = self.queue.popleft()
            if handle.done:
                continue
            allocation = self._allocate(handle.path or [])
            if allocation is None:
                waiting.append(handle)
                if self.params.strict:
                    break
                continue
            self.sim.start_session(handle, allocation)
        waiting.extend(self.queue)
        self.queue = waiting
