"""Bounded per-request state: running aggregates of the delivered pairs and a window of the
most recent ones.

A service runs as long as it is up and a rate request may deliver millions of pairs, so the
service never keeps a request's pairs: per request it keeps

* :class:`PairStats` — running aggregates of every pair delivered: the count, the mean and the
  variance (Welford's update, exact to rounding), minimum and maximum of the true fidelity, of
  the network's estimate and of the latency, the first and last delivery times, and latency
  quantiles from a **DDSketch** (``ddsketch.LogCollapsingLowestDenseDDSketch``, the Datadog
  reference implementation on PyPI, pure Python): every quantile it reports is within 1% of
  the true one (relative accuracy 0.01) with at most 1024 bins whatever the number of pairs
  (when latencies span more than the bins cover — a factor of about 10^9 — the lowest bins are
  merged, so only the smallest quantiles lose accuracy). A t-digest has no such guarantee on
  the relative error, and a fixed reservoir gives a random sample whose tail quantiles are
  noisy; DDSketch is also mergeable and small (one dependency, ``six``).
* a window of the last ``keep`` pairs (:class:`RequestLog`), each a tuple
  ``(index, sim_time_s, fidelity, fidelity_estimated, latency_s, age_s)``, and the request's
  recent events (its status changes and pairs, ``keep`` + :data:`STATUS_ROOM` of them), which
  event streams read by id.

The simulation thread writes a request's log; HTTP handlers read it from the event loop. Every
access holds the log's lock, so a reader sees a consistent count, window and aggregates (the
simulation thread holds it a microsecond per pair).
"""

from __future__ import annotations

import collections
import itertools
import math
import threading
from typing import Any

from ddsketch import LogCollapsingLowestDenseDDSketch

#: relative accuracy of the latency quantiles
SKETCH_ACCURACY = 0.01
#: most bins a latency sketch keeps
SKETCH_BINS = 1024
#: events kept beyond the pair window, for status changes
STATUS_ROOM = 64
#: the latency quantiles reported
QUANTILES = {"p50_s": 0.5, "p95_s": 0.95, "p99_s": 0.99}


class Moments:
    """Count, mean, variance (Welford), minimum and maximum of a stream of numbers."""

    __slots__ = ("n", "mean", "m2", "min", "max")

    def __init__(self) -> None:
        self.n = 0
        self.mean = 0.0
        self.m2 = 0.0
        self.min = math.inf
        self.max = -math.inf

    def add(self, x: float) -> None:
        self.n += 1
        d = x - self.mean
        self.mean += d / self.n
        self.m2 += d * (x - self.mean)
        if x < self.min:
            self.min = x
        if x > self.max:
            self.max = x

    @property
    def variance(self) -> float | None:
        """The sample variance (n - 1 in the denominator); None below two values."""
        return self.m2 / (self.n - 1) if self.n > 1 else None

    @property
    def stderr(self) -> float | None:
        var = self.variance
        return math.sqrt(var / self.n) if var is not None else None

    def as_dict(self) -> dict[str, Any] | None:
        if self.n == 0:
            return None
        return {"mean": self.mean, "variance": self.variance, "stderr": self.stderr, "min": self.min, "max": self.max}


class PairStats:
    """Running aggregates of a request's delivered pairs (see the module docstring)."""

    __slots__ = ("fidelity", "estimate", "latency", "sketch", "first_s", "last_s")

    def __init__(self) -> None:
        self.fidelity = Moments()
        self.estimate = Moments()
        self.latency = Moments()
        self.sketch = LogCollapsingLowestDenseDDSketch(relative_accuracy=SKETCH_ACCURACY, bin_limit=SKETCH_BINS)
        self.first_s: float | None = None
        self.last_s: float | None = None

    @property
    def count(self) -> int:
        return self.fidelity.n

    def add(self, time_s: float, fidelity: float, estimate: float, latency: float) -> None:
        self.fidelity.add(fidelity)
        self.estimate.add(estimate)
        self.latency.add(latency)
        self.sketch.add(max(latency, 0.0))
        if self.first_s is None:
            self.first_s = time_s
        self.last_s = time_s

    def quantile(self, q: float) -> float | None:
        return self.sketch.get_quantile_value(q) if self.count else None

    def as_dict(self) -> dict[str, Any]:
        latency = None
        if self.count:
            latency = {"mean_s": self.latency.mean, "min_s": self.latency.min, "max_s": self.latency.max,
                       **{name: self.quantile(q) for name, q in QUANTILES.items()}}
        return {"count": self.count, "fidelity": self.fidelity.as_dict(),
                "fidelity_estimated": self.estimate.as_dict(), "latency": latency,
                "first_at_s": self.first_s, "last_at_s": self.last_s}


class RequestLog:
    """One request's bounded log: its aggregates, its last ``keep`` pairs and its recent events.

    Events have ids 0, 1, 2, ... (a status change or a pair each); the log keeps the last
    ``keep + STATUS_ROOM``. Pairs have indices 0, 1, 2, ... in delivery order; the window keeps
    the last ``keep``."""

    def __init__(self, keep: int):
        if keep < 1:
            raise ValueError(f"keep must be at least 1 (got {keep})")
        self.keep = keep
        self.lock = threading.Lock()
        self.stats = PairStats()
        self.pairs: collections.deque[tuple[Any, ...]] = collections.deque(maxlen=keep)
        self.events: collections.deque[tuple[int, str, Any]] = collections.deque(maxlen=keep + STATUS_ROOM)
        self.next_event = 0  # the id the next event gets
        self.delivered = 0  # pairs logged (the next pair's index)
        self._shown: tuple[int, dict[str, Any]] | None = None  # (delivered, aggregates): snapshot's last answer

    # ---------------------------------------------------------------- the simulation thread
    def add_status(self, data: dict[str, Any]) -> int:
        with self.lock:
            eid = self.next_event
            self.events.append((eid, "status", data))
            self.next_event = eid + 1
            return eid

    def add_pair(self, time_s: float, fidelity: float, estimate: float, latency: float, age: float) -> None:
        with self.lock:
            pair = (self.delivered, time_s, fidelity, estimate, latency, age)
            self.delivered += 1
            self.pairs.append(pair)
            eid = self.next_event
            self.events.append((eid, "pair", pair))
            self.next_event = eid + 1
            self.stats.add(time_s, fidelity, estimate, latency)

    # ---------------------------------------------------------------- any thread
    def read_events(self, cursor: int, limit: int) -> tuple[int, list[tuple[int, str, Any]], int]:
        """``(first, events, next)``: the oldest event id still kept, up to ``limit`` events
        from ``max(cursor, first)`` on, and the id the next event will get."""
        with self.lock:
            nxt = self.next_event
            first = nxt - len(self.events)
            start = max(cursor, first)
            if start >= nxt:
                return first, [], nxt
            return first, list(itertools.islice(self.events, start - first, start - first + limit)), nxt

    def page(self, after: int, limit: int) -> tuple[int, int, list[tuple[Any, ...]]]:
        """``(delivered, first, pairs)``: the pairs delivered so far, the oldest index still in
        the window, and up to ``limit`` pairs with an index above ``after`` (from ``first``
        when ``after`` is older than the window)."""
        with self.lock:
            n = self.delivered
            first = n - len(self.pairs)
            start = max(after + 1, first)
            if start >= n:
                return n, first, []
            return n, first, list(itertools.islice(self.pairs, start - first, start - first + limit))

    def snapshot(self) -> tuple[int, int, dict[str, Any]]:
        """``(delivered, first, aggregates)``, consistent with each other. The aggregates change
        only with a pair: until the next one, every call shares one dict (read it, never change it),
        so polling a request does not compute its quantiles each time."""
        with self.lock:
            shown = self._shown
            if shown is None or shown[0] != self.delivered:
                shown = self._shown = (self.delivered, self.stats.as_dict())
            return self.delivered, self.delivered - len(self.pairs), shown[1]


def pair_data(request_id: int, pair: tuple[Any, ...]) -> dict[str, Any]:
    """A logged pair as the API shows it (an event stream's ``pair`` data, a page's item)."""
    index, time_s, fidelity, estimate, latency, age = pair
    return {"request": request_id, "index": index, "sim_time_s": time_s, "fidelity": fidelity,
            "fidelity_estimated": estimate, "latency_s": latency, "age_s": age}


def results_from_aggregates(results: dict[str, Any], records: dict[int, Any]) -> dict[str, Any]:
    """A service run's results with each recorded request's per-pair statistics taken from its
    log's aggregates (the handles keep no pairs: ``RequestHandle.keep_delivered = 0``): the
    fidelity's mean and standard error, the estimate's mean, the latency's mean (exact) and
    quantiles (the sketch's, within 1%), the time to the first pair, and whether the request met
    its SLA. ``records``: request id -> the twin's record (``handle`` and ``log``)."""
    for res in results.get("requests", ()):
        rec = records.get(res["id"])
        if rec is None:
            continue
        stats, handle = rec.log.stats, rec.handle
        fid, lat = stats.fidelity, stats.latency
        first = (stats.first_s - handle.request.start) if stats.first_s is not None else None
        res.update(
            fidelity_mean=fid.mean if fid.n else None, fidelity_stderr=fid.stderr,
            fidelity_estimated_mean=stats.estimate.mean if fid.n else None,
            latency_mean_s=lat.mean if lat.n else None, latency_p50_s=stats.quantile(0.5),
            latency_p95_s=stats.quantile(0.95), time_to_first_pair_s=first, wait_s=first)
        if res.get("sla_met") is False and res["status"] == "completed" and fid.n:
            # the core judged on the pairs it kept (none): judge again on every pair
            finished, end = handle.finished_at, handle.request.end
            res["sla_met"] = (finished is not None and (end is None or finished <= end + 1e-12)
                              and fid.mean >= handle.request.min_fidelity - 1e-12)
    return results
