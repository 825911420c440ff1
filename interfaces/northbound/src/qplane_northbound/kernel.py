"""The kernel of a live service: qplane's :class:`~qplane.kernel.Kernel` on SimPy's
:class:`simpy.rt.RealtimeEnvironment`, fed from other threads, running until stopped.

* **pacing**: simulated time follows the wall clock scaled by ``speed`` (simulated seconds per
  wall second; ``factor = 1 / speed`` in SimPy's terms), or runs as fast as possible
  (``speed=None``). It is never strict: when the simulation falls behind (a burst of events, an
  agent answering slowly) it catches up instead of failing. An event may run up to
  :attr:`ServiceKernel.early` wall seconds before its time, so bursts are not paced event by
  event.
* **injection**: :meth:`ServiceKernel.call_soon_threadsafe` queues a function from any thread;
  the simulation thread runs it before its next event, at the current simulated time (under
  real-time pacing the clock is first moved to the wall clock's simulated time, never past the
  next event). While nothing is scheduled the thread sleeps until something is injected, so an
  idle service costs nothing and answers at once.
* **horizon**: :meth:`run_until` (what :meth:`qplane.context.Operator.run` calls with the scenario's
  duration) runs until :meth:`stop` instead: a service's run lasts as long as the service.

Only the simulation thread may touch simulation state; everything else goes through
:meth:`call_soon_threadsafe`.
"""

from __future__ import annotations

import collections
import threading
from time import monotonic
from typing import Any, Callable

import simpy
import simpy.rt
from qplane.kernel import Kernel

INFINITY = float("inf")


class ServiceKernel(Kernel, simpy.rt.RealtimeEnvironment):
    """A qplane kernel paced by the wall clock (or not at all), fed from other threads."""

    #: wall seconds an event may run ahead of its time (batches bursts of close events)
    early = 2e-4
    #: longest single sleep; the loop re-checks its inbox at least this often
    max_sleep = 0.5

    def __init__(self, seed: int = 0, speed: float | None = 1.0):
        if speed is not None and not speed > 0:
            raise ValueError(f"speed must be > 0 simulated seconds per wall second, or None (got {speed!r})")
        super().__init__(seed)  # Kernel -> RealtimeEnvironment -> Environment
        self.speed = speed
        self._factor = 0.0 if speed is None else 1.0 / speed
        self._strict = False
        self._inbox: collections.deque[tuple[Callable[..., Any], tuple[Any, ...]]] = collections.deque()
        self._wake = threading.Event()
        self._sleeping = False  # the simulation thread is (about to be) waiting on _wake
        self._stop_event = self.event()
        self.thread: threading.Thread | None = None

    # ---------------------------------------------------------------- from other threads
    def call_soon_threadsafe(self, fn: Callable[..., Any], *args: Any) -> None:
        """Run ``fn(*args)`` on the simulation thread before its next event."""
        self._inbox.append((fn, args))
        # wake the thread only when it sleeps (setting the event takes a lock and wakes a waiter:
        # a busy thread sees the inbox anyway). No lost wake-up: it flags itself sleeping before it
        # looks at the inbox a last time, and this looks at the flag after appending
        if self._sleeping:
            self._wake.set()

    # ---------------------------------------------------------------- on the simulation thread
    def stop(self) -> None:
        """End :meth:`run_until` after the current event (call on the simulation thread)."""
        if not self._stop_event.triggered:
            self._stop_event.succeed()

    def wall_now(self) -> float:
        """The simulated time the wall clock says it is (the current time when unpaced)."""
        if self._factor == 0.0:
            return self.now
        return self.env_start + (monotonic() - self.real_start) / self._factor

    def lag(self) -> float:
        """Simulated seconds the simulation is behind the wall clock (0 when unpaced)."""
        return max(0.0, self.wall_now() - self.now) if self._factor else 0.0

    def run_until(self, until: float, stop: simpy.Event | None = None) -> None:
        self.thread = threading.current_thread()
        self.env_start = self.now
        self.sync()  # the wall clock starts now, not when the kernel was made
        self.run(until=self._stop_event)

    def _drain(self) -> None:
        if self._factor:
            # the injected work happens "now": move the clock to the wall clock's time, but
            # never past the next scheduled event (SimPy's time only moves forward)
            self._now = max(self._now, min(self.wall_now(), self.peek()))
        inbox = self._inbox
        while inbox:
            fn, args = inbox.popleft()
            fn(*args)

    def step(self) -> None:
        while True:
            if self._inbox:
                self._drain()
            t = self.peek()
            if t == INFINITY:
                delay = self.max_sleep
            elif self._factor == 0.0:
                break
            else:
                delay = self.real_start + (t - self.env_start) * self._factor - monotonic()
                if delay <= self.early:
                    break
            self._sleeping = True
            if not self._inbox:
                self._wake.wait(min(delay, self.max_sleep))
            self._sleeping = False
            self._wake.clear()
        self.events_processed += 1
        simpy.Environment.step(self)
