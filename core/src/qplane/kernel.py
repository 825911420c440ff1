"""The discrete-event kernel: a SimPy environment in seconds, an event counter, random streams.

Every random draw in a run comes from a stream derived from the scenario seed and the
stream's *name* (``SeedSequence(seed, spawn_key=(hash(name),))``, the construction
``SeedSequence.spawn`` uses), so adding a component never shifts another's numbers.
Streams are :class:`random.Random` instances: scalar draws on the hot path cost a fraction
of numpy's per-call overhead.
"""

from __future__ import annotations

import hashlib
import random
from typing import Any, Callable

import numpy as np
import simpy
from simpy.core import EmptySchedule, heappush  # (heapq's: the push SimPy's ``schedule`` does)


def _name_key(name: str) -> int:
    return int.from_bytes(hashlib.blake2b(name.encode(), digest_size=8).digest(), "little")


def derive_seed(seed: int, name: str) -> int:
    """A 128-bit integer seed for stream ``name`` of scenario seed ``seed``."""
    ss = np.random.SeedSequence(entropy=seed, spawn_key=(_name_key(name),))
    words = ss.generate_state(4, dtype=np.uint32)
    return int(sum(int(w) << (32 * i) for i, w in enumerate(words)))


class _Call:
    """A scheduled plain call: the lightest thing the event queue can hold. It quacks like a
    triggered-OK :class:`simpy.Event` (``callbacks``, ``_ok``, ``_value``), so it joins SimPy's
    queue as :meth:`simpy.Environment.schedule` would put it and SimPy's own ``step`` runs it."""

    __slots__ = ("fn", "args", "callbacks")  # (set by ``call_at``: no ``__init__`` frame per call)
    _ok, _value = True, None  # (class constants: SimPy's ``step`` only reads them; fewer stores per call)


def _fire(call: _Call) -> None:
    call.fn(*call.args)


_FIRE = [_fire]
_NORMAL, _STEP, _new_call, _push = simpy.events.NORMAL, simpy.Environment.step, object.__new__, heappush


class Kernel(simpy.Environment):
    """SimPy environment (time unit: seconds) that counts processed events.

    ``call_at(delay, fn, *args)`` schedules a plain callback without a process: the cheapest
    way to make something happen later.
    """

    def __init__(self, seed: int = 0):
        super().__init__(initial_time=0.0)
        self.seed = seed
        self.events_processed = 0
        self._streams: dict[str, random.Random] = {}

    def step(self) -> None:
        """Process the next event (counted: the framework-overhead figure divides by this)."""
        self.events_processed += 1
        _STEP(self)  # (SimPy's own step, without building a ``super()`` proxy per event)

    def stream(self, name: str) -> random.Random:
        """The random stream called ``name`` (created on first use, same numbers every run)."""
        rng = self._streams.get(name)
        if rng is None:
            rng = self._streams[name] = random.Random(derive_seed(self.seed, name))
        return rng

    def call_at(self, delay: float, fn: Callable[..., Any], *args: Any) -> None:
        """Call ``fn(*args)`` ``delay`` seconds from now (no process, no Timeout object)."""
        if delay < 0:
            raise ValueError(f"negative delay {delay}")
        call = _new_call(_Call)
        call.fn, call.args, call.callbacks = fn, args, _FIRE
        _push(self._queue, (self._now + delay, _NORMAL, next(self._eid), call))  # (``schedule``'s body: a frame less)

    def run_until(self, until: float, stop: simpy.Event | None = None) -> None:
        """Run until simulated time ``until`` or until ``stop`` triggers, whichever is first."""
        deadline = self.timeout(until - self.now) if until > self.now else None
        targets = [e for e in (deadline, stop) if e is not None]
        if not targets:
            return
        try:
            self.run(until=self.any_of(targets))
        except EmptySchedule:
            pass
