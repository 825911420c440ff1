"""Health monitoring: each link's observed success rate and probed fidelity against what its
configuration says they should be; alerts when a link drifts, and (``drain``) routing around it.

**The expectation** of a link is its *configured* model
(:meth:`~qplane_northbound.config.ConfigStore.configured_model`: the scenario's parameters and the
live overrides of the current configuration version). Its *physical* model (``link.model``) is the
same unless the hardware drifted: the drift drill ``POST /links/{a}/{b}/drift`` (link-model
parameters, validated like ``PATCH /links/{a}/{b}``, 422 naming the field) changes the physical
model with no configuration version, ``DELETE /links/{a}/{b}/drift`` ends it; a PATCH or rollback
of the link builds it from its configuration again (ending the drift).

**The check**, every ``interval`` simulated seconds on the simulation thread, of every
operational link:

* *fidelity*: ``probe_pairs`` sacrificial pairs in the physical model's Bell-diagonal state after
  storage for the herald delay at both ends, each measured in a random Pauli basis
  (:func:`qplane_physics.pauli_probe`, the ``lldp`` topology manager's probe; random stream
  ``health:probe:a-b``): ``F = (1 + <XX> - <YY> + <ZZ>) / 4``. Expected: the fidelity of the
  configured model's state after the same storage. The estimate's standard deviation under the
  expected state is ``sigma = sqrt(3 * sum_B (1 - <BB>^2) / n) / 4`` (n/3 pairs per basis). A
  fidelity alert needs ``expected - observed > max(fidelity_drop, z * sigma)``: with ``z = 4``
  a healthy link alerts by chance with probability below 3.2e-5 per check (normal
  approximation), whatever ``fidelity_drop``.
* *rate*: ``pairs_generated / attempts`` of the link's statistics over the window since the last
  check when it made at least ``min_attempts`` attempts (traffic), else the probe's ``n /
  attempts`` (its attempts are geometric in the physical success probability, so a link that
  carries no traffic — a drained one — is still measured). A rate alert needs the observed rate
  below ``(1 - rate_drop) * expected`` *and* a shortfall beyond ``z`` standard deviations of the
  count under the expected probability ``p``: traffic, ``N p - k > z sqrt(N p (1 - p))`` for
  ``k`` pairs in ``N`` attempts; the probe, ``N - n / p > z sqrt(n (1 - p)) / p`` for ``N``
  attempts to make ``n`` pairs (negative binomial).

An alert is ``{id, link: [a, b], kind: fidelity|rate, expected, observed, threshold (the value the
observation fell below), raised_sim_s, raised_wall, resolved_sim_s, resolved_wall, drained}``. With
``drain`` its link is taken out of routing (:meth:`qplane.context.Operator.set_link_routable`:
requests using it re-route); when a later check finds the link healthy on that kind the alert
resolves, and once the link has no active alert it is put back.

Routes (:func:`add_health_routes`): ``GET /alerts`` (``active=true``: unresolved only),
``GET /alerts/events`` (server-sent events ``alert`` and ``resolved``, with ids; Last-Event-ID
resumes), ``GET /health/links`` (each link's last check), ``POST`` and ``DELETE
/links/{a}/{b}/drift`` (the bearer token when the service has one).

Bounded memory: the last ``keep_alerts`` alerts (the active ones always), the last
``2 * keep_alerts`` events, one check per link.
"""

from __future__ import annotations

import asyncio
import collections
import itertools
import math
import threading
import time
from dataclasses import dataclass
from typing import Any, AsyncIterator, Awaitable, Callable

import qplane_physics as physics
from fastapi import Body, Depends, FastAPI, Header, Query
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field

from .config import runner
from .streams import open_stream, resume_cursor, sse, stream_responses

#: seconds between two looks at the alert log in an event stream
STREAM_POLL_S = 0.05
#: seconds between keep-alive comments on a quiet stream
STREAM_KEEPALIVE_S = 15.0


@dataclass
class HealthOptions:
    """How the service watches its links (``qplane serve --health-*``)."""

    #: simulated seconds between two checks (0: no monitoring)
    interval: float = 1.0
    #: a fidelity alert when the probed fidelity is this far below the expected one
    fidelity_drop: float = 0.05
    #: a rate alert when the observed success rate is below (1 - rate_drop) x the expected one
    rate_drop: float = 0.5
    #: sacrificial pairs measured per link and check
    probe_pairs: int = 1000
    #: take a link with an active alert out of routing until it recovers
    drain: bool = False
    #: attempts a window needs for the traffic's rate to count (else the probe's)
    min_attempts: int = 1000
    #: standard deviations a deviation must exceed (a healthy link does not alert by chance)
    z: float = 4.0
    #: resolved alerts kept (the active ones always are)
    keep_alerts: int = 1000

    def check(self) -> None:
        """A one-line :class:`ValueError` naming the option at fault."""
        for name, ok, want in (("interval", self.interval >= 0, ">= 0 simulated seconds (0: off)"),
                               ("fidelity_drop", 0 < self.fidelity_drop < 1, "in (0, 1)"),
                               ("rate_drop", 0 < self.rate_drop < 1, "in (0, 1)"),
                               ("probe_pairs", 10 <= self.probe_pairs <= 1_000_000, "in 10..1000000"),
                               ("min_attempts", self.min_attempts >= 1, ">= 1"),
                               ("z", self.z > 0, "> 0"), ("keep_alerts", self.keep_alerts >= 1, ">= 1")):
            if not ok:
                raise ValueError(f"--health-{name.replace('_', '-')} must be {want} "
                                 f"(got {getattr(self, name)!r})")


def fidelity_sigma(v: list[float], n: int) -> float:
    """Standard deviation of :func:`qplane_physics.pauli_probe`'s estimate from ``n`` pairs of
    state ``v`` (Pauli order), n/3 pairs per basis: ``sqrt(3 * sum_B (1 - <BB>^2) / n) / 4``."""
    return math.sqrt(3.0 * sum(1.0 - e * e for e in physics.pauli_expectations(v)) / n) / 4.0


class AlertLog:
    """The alerts and their events. The simulation thread writes; event streams read the events
    under the lock (ids 1, 2, ...; the last ``2 * keep`` kept)."""

    def __init__(self, keep: int):
        self.keep = keep
        self.lock = threading.Lock()
        self.alerts: collections.OrderedDict[int, dict[str, Any]] = collections.OrderedDict()
        self.events: collections.deque[tuple[int, str, dict[str, Any]]] = collections.deque(maxlen=2 * keep)
        self.next_event = 1
        self.raised = 0  # alerts raised so far (Prometheus: qplane_alerts_raised_total)
        self._ids = itertools.count(1)

    def raise_(self, alert: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            alert["id"] = next(self._ids)
            self.raised += 1
            self.alerts[alert["id"]] = alert
            self._event("alert", alert)
            resolved = [i for i, a in self.alerts.items() if a["resolved_sim_s"] is not None]
            for i in resolved[:max(0, len(self.alerts) - self.keep)]:
                del self.alerts[i]
        return alert

    def resolve(self, alert: dict[str, Any], sim_s: float) -> None:
        with self.lock:
            alert["resolved_sim_s"], alert["resolved_wall"] = sim_s, time.time()
            self._event("resolved", alert)

    def _event(self, kind: str, alert: dict[str, Any]) -> None:
        self.events.append((self.next_event, kind, dict(alert)))
        self.next_event += 1

    def read(self, cursor: int, limit: int = 500) -> tuple[int, list[tuple[int, str, dict[str, Any]]]]:
        """``(first, events)``: the oldest event id kept and up to ``limit`` events from
        ``max(cursor, first)`` on."""
        with self.lock:
            first = self.next_event - len(self.events)
            start = max(cursor, first)
            return first, list(itertools.islice(self.events, max(0, start - first), max(0, start - first) + limit))

    def list(self, active: bool) -> list[dict[str, Any]]:
        with self.lock:
            return [dict(a) for a in self.alerts.values() if not active or a["resolved_sim_s"] is None]


class HealthMonitor:
    """The periodic check (see the module docstring). Runs on the simulation thread."""

    def __init__(self, twin: Any, store: Any, options: HealthOptions):
        self.twin, self.store, self.options = twin, store, options
        self.log = AlertLog(options.keep_alerts)
        self.last: dict[tuple[str, str], dict[str, Any]] = {}  # link ends -> its last check
        self.active: dict[tuple[tuple[str, str], str], dict[str, Any]] = {}  # (ends, kind) -> alert
        self.drained: set[tuple[str, str]] = set()
        self._window: dict[tuple[str, str], tuple[int, int]] = {}  # ends -> (attempts, pairs) at the last check
        self.checks = 0

    def start(self) -> None:
        if self.options.interval > 0 and not self.twin._closing:
            self.twin.sim.context.clock.call_at(self.options.interval, self._tick)

    def _tick(self) -> None:
        if self.twin._closing:
            return
        self.check()
        self.twin.sim.context.clock.call_at(self.options.interval, self._tick)

    # ------------------------------------------------------------------ one check
    def _stored(self, link: Any, model: Any) -> list[float]:
        """``model``'s pair state (Pauli order) after storage for its herald delay at both ends."""
        nodes = self.twin.sim.context.network.nodes
        v = physics.to_pauli_order(model.pair_state)
        for end in (link.a, link.b):
            v = physics.pauli_channel(v, nodes[end].device.memory_model.pauli_probs(model.herald_delay))
        return v

    def check(self) -> None:
        """Check every operational link now."""
        self.checks += 1
        ctx = self.twin.sim.context
        now = ctx.clock.now
        opt = self.options
        for link in list(ctx.network.links.values()):
            ends = (link.a, link.b)
            attempts, pairs = link.stats.attempts, link.stats.pairs_generated
            a0, p0 = self._window.get(ends, (attempts, pairs))
            self._window[ends] = (attempts, pairs)
            if not link.operational:
                self.last[ends] = {"a": link.a, "b": link.b, "checked_sim_s": now, "operational": False,
                                   "healthy": None, "drift": self.store.drifts.get(ends)}
                continue
            try:
                expected_model = self.store.configured_model(*ends)
            except Exception:  # noqa: BLE001 - a link the configuration cannot build (removed)
                continue
            physical = link.model
            v_exp = self._stored(link, expected_model)
            f_exp = v_exp[0]
            sigma = fidelity_sigma(v_exp, opt.probe_pairs)
            p_exp, p_phys = expected_model.success_probability, physical.success_probability
            rng = ctx.clock.stream(f"health:probe:{link.a}-{link.b}")
            if p_phys > 0:
                probe_attempts, f_obs = physics.pauli_probe(self._stored(link, physical), p_phys, opt.probe_pairs, rng)
            else:
                probe_attempts, f_obs = None, None
            # fidelity: beyond the threshold and beyond z standard deviations of the probe
            f_line = f_exp - max(opt.fidelity_drop, opt.z * sigma)
            f_bad = f_obs is None or f_obs < f_line
            # rate: the traffic's window when long enough, else the probe's attempts
            n_att, n_pairs = attempts - a0, pairs - p0
            if n_att >= opt.min_attempts:
                source, rate = "traffic", n_pairs / n_att
                significant = p_exp > 0 and (n_att * p_exp - n_pairs) > opt.z * math.sqrt(n_att * p_exp * (1 - p_exp))
            elif probe_attempts is not None:
                n = opt.probe_pairs
                source, rate = "probe", n / probe_attempts
                significant = p_exp > 0 and (probe_attempts - n / p_exp) > opt.z * math.sqrt(n * (1 - p_exp)) / p_exp
            else:
                source, rate, significant = "probe", 0.0, p_exp > 0
            r_line = (1 - opt.rate_drop) * p_exp
            r_bad = rate < r_line and significant
            self._judge(ends, "fidelity", f_bad, f_exp, f_obs, f_line, now)
            self._judge(ends, "rate", r_bad, p_exp, rate, r_line, now)
            self.last[ends] = {
                "a": link.a, "b": link.b, "checked_sim_s": now, "operational": True,
                "healthy": not (f_bad or r_bad),
                "expected_fidelity": f_exp, "observed_fidelity": f_obs, "fidelity_sigma": sigma,
                "fidelity_threshold": f_line, "probe_pairs": opt.probe_pairs,
                "expected_rate": p_exp, "observed_rate": rate, "rate_source": source,
                "rate_attempts": n_att if source == "traffic" else probe_attempts, "rate_threshold": r_line,
                "drift": self.store.drifts.get(ends)}
        self._route()
        for ends, last in self.last.items():  # after this check's alerts and routing
            last["routable"], last["alerts"] = ends not in self.drained, self._alert_ids(ends)

    def _alert_ids(self, ends: tuple[str, str]) -> list[int]:
        return [a["id"] for (e, _), a in self.active.items() if e == ends]

    def _judge(self, ends: tuple[str, str], kind: str, bad: bool, expected: float, observed: float | None,
               threshold: float, now: float) -> None:
        alert = self.active.get((ends, kind))
        if bad and alert is None:
            self.active[(ends, kind)] = self.log.raise_({
                "id": 0, "link": list(ends), "kind": kind, "expected": expected, "observed": observed,
                "threshold": threshold, "raised_sim_s": now, "raised_wall": time.time(),
                "resolved_sim_s": None, "resolved_wall": None, "drained": self.options.drain})
        elif not bad and alert is not None:
            del self.active[(ends, kind)]
            self.log.resolve(alert, now)

    def _route(self) -> None:
        """With ``drain``: links with an active alert out of routing, the others back."""
        alerted = {ends for ends, _ in self.active} if self.options.drain else set()
        sim = self.twin.sim
        for ends in sorted(alerted - self.drained):
            sim.set_link_routable(*ends, False)
        for ends in sorted(self.drained - alerted):
            if frozenset(ends) in sim.context.network.links:
                sim.set_link_routable(*ends, True)
        self.drained = alerted

    def links(self) -> list[dict[str, Any]]:
        return [dict(v) for _, v in sorted(self.last.items())]


# ---------------------------------------------------------------------------------- the API


class Alert(BaseModel):
    id: int
    link: list[str] = Field(description="the link's ends")
    kind: str = Field(description="`fidelity` (the probed fidelity) or `rate` (the success rate per attempt)")
    expected: float = Field(description="the configured model's value")
    observed: float | None = Field(description="the value measured when the alert was raised")
    threshold: float = Field(description="the value the observation fell below (the threshold, widened by "
                                         "the measurement's statistical bound for fidelity)")
    raised_sim_s: float
    raised_wall: float = Field(description="wall-clock time (Unix seconds)")
    resolved_sim_s: float | None = Field(description="when a later check found the link healthy (null: active)")
    resolved_wall: float | None
    drained: bool = Field(description="the link was taken out of routing while the alert was active")


class LinkHealth(BaseModel):
    a: str
    b: str
    checked_sim_s: float
    operational: bool = Field(description="false: the link was down (not checked)")
    healthy: bool | None
    expected_fidelity: float | None = None
    observed_fidelity: float | None = Field(None, description="the probe's estimate (null: no pair)")
    fidelity_sigma: float | None = Field(None, description="the probe's standard deviation under the expectation")
    fidelity_threshold: float | None = None
    probe_pairs: int | None = None
    expected_rate: float | None = None
    observed_rate: float | None = None
    rate_source: str | None = Field(None, description="`traffic` (the window's attempts) or `probe`")
    rate_attempts: int | None = None
    rate_threshold: float | None = None
    drift: dict[str, Any] | None = Field(None, description="the drift drill's parameters, if any")
    routable: bool = Field(description="false: taken out of routing by the monitor")
    alerts: list[int] = Field(description="the link's active alerts")


class DriftState(BaseModel):
    a: str
    b: str
    drift: dict[str, Any] | None = Field(description="the parameters the physical model has over the configured "
                                                     "ones (null: none)")
    version: int = Field(description="the configuration version (a drift makes none)")


def add_health_routes(app: FastAPI, twin: Any, *, authorize: Callable[..., Awaitable[None]],
                      wait: Callable[[Any], Awaitable[Any]], options: HealthOptions | None = None) -> HealthMonitor:
    """Add the health monitor (see the module docstring) of ``twin`` to ``app``; its first
    check is scheduled when the twin runs. Needs :func:`~qplane_northbound.config.add_config_routes` first."""
    options = options if options is not None else HealthOptions()
    options.check()
    monitor = HealthMonitor(twin, app.state.config, options)
    app.state.health = monitor
    twin.health = monitor  # the Prometheus collector reads its counts
    twin.kernel.call_soon_threadsafe(monitor.start)  # runs once the simulation thread does
    store = app.state.config
    unavailable = {503: {"description": "the twin is not running (starting, shutting down, or its simulation failed)"}}
    mutating = {401: {"description": "a bearer token is required for this call"}, **unavailable,
                404: {"description": "no such link"}}

    run = runner(twin, wait)  # 404 unknown, 422 naming the field, 409 a removed link

    @app.post("/links/{a}/{b}/drift", response_model=DriftState, dependencies=[Depends(authorize)],
              summary="drift drill: the link's hardware drifts from its configuration (no version)",
              responses=mutating)
    async def drift(a: str, b: str, body: dict[str, Any] = Body(
            ..., description="link-model parameters of the link's scheme, over its configured ones",
            examples=[{"pair_fidelity": 0.7}])) -> Any:
        return await run(store.drift, a, b, body)

    @app.delete("/links/{a}/{b}/drift", response_model=DriftState, dependencies=[Depends(authorize)],
                summary="end a drift drill: the link's hardware is its configured model again", responses=mutating)
    async def end_drift(a: str, b: str) -> Any:
        return await run(store.end_drift, a, b)

    @app.get("/alerts", response_model=list[Alert], summary="the health monitor's alerts (oldest first)")
    async def alerts(active: bool = Query(False, description="only the unresolved ones")) -> Any:
        return monitor.log.list(active)

    @app.get("/health/links", response_model=list[LinkHealth], summary="each link's last health check",
             responses=unavailable)
    async def health_links() -> Any:
        return await run(monitor.links)

    counts = app.state.counts

    @app.get("/alerts/events", summary="stream the health monitor's alerts and resolutions",
             response_class=StreamingResponse,
             responses=stream_responses(
                 "server-sent events `alert` and `resolved` (data: the alert), with ids: send Last-Event-ID to "
                 "resume. The service keeps the recent events: a stream that resumes before them gets a `gap` "
                 "event (data: missed_from, missed_to) and goes on with the oldest kept. Without Last-Event-ID "
                 "the stream starts with the events still kept."))
    async def alert_events(last_event_id: str | None = Header(None)) -> StreamingResponse:
        cursor = resume_cursor(last_event_id)
        return open_stream(counts, getattr(app.state, "max_streams", None),
                           lambda release: _stream(cursor, cursor > 0, release))

    async def _stream(cursor: int, resumed: bool, release: Callable[[], None]) -> AsyncIterator[str]:
        loop = asyncio.get_running_loop()
        quiet_since = loop.time()
        log = monitor.log
        try:
            cursor = min(cursor, log.next_event)
            while True:
                first, batch = log.read(cursor)
                out = []
                if resumed and cursor < first:
                    out.append(sse("gap", {"missed_from": cursor, "missed_to": first - 1,
                                            "reason": f"events {cursor}..{first - 1} are no longer kept"}))
                resumed = False
                cursor = max(cursor, first)
                for eid, kind, data in batch:
                    cursor = eid + 1
                    out.append(sse(kind, data, eid))
                if out:
                    yield "".join(out)
                    quiet_since = loop.time()
                    continue
                if twin.state != "running":
                    return  # the service is shutting down
                if loop.time() - quiet_since > STREAM_KEEPALIVE_S:
                    quiet_since = loop.time()
                    yield ": keep-alive\n\n"
                await asyncio.sleep(STREAM_POLL_S)
        finally:
            release()

    return monitor
