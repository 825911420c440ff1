"""The digital twin: a scenario's network running live on a background thread.

:class:`DigitalTwin` builds the scenario's simulation (:class:`qplane.context.Operator`) on a
:class:`~qplane_northbound.kernel.ServiceKernel` and runs it on its own thread (the *simulation
thread*) for as long as the service is up. The HTTP service and the southbound hub live on
other threads and never touch simulation state: they hand work over with
:meth:`ServiceKernel.call_soon_threadsafe` and wait on a :class:`concurrent.futures.Future`
(submit, cancel, snapshots), or read what the simulation thread published (each request's
event log, its final state).

Guarantees:

* **no accepted request is lost**: a request is accepted only once the simulation thread has
  made its handle; from then on it ends with a final status — served, failed, timed out, or, when
  the service shuts down first, ``cancelled`` with the reason. If the simulation itself fails
  (a plugin raises), every unfinished request ends ``failed`` with that error.
* **the run lasts as long as the service**: the scenario's ``duration`` bounds only what the
  scenario schedules itself (its traffic, random failures); the twin's clock keeps running until
  :meth:`stop`.
* **times are relative**: a request's ``start`` and ``end`` given to :meth:`submit` count from the
  simulated time at which the twin accepts it.
* **bounded memory**: the twin keeps no request's pairs. Each request's
  :class:`~qplane_northbound.stats.RequestLog` holds running aggregates of every pair, the last
  ``keep_pairs`` pairs and its recent events; the core's handle keeps none of its
  :class:`~qplane.requests.DeliveredPair` objects (``RequestHandle.keep_delivered = 0``; its
  ``delivered_count`` still counts them all), and the results written at shutdown take their
  per-pair statistics from the aggregates
  (:func:`~qplane_northbound.stats.results_from_aggregates`).

Nodes listed in ``agents`` are driven through their node agents
(:class:`qplane_southbound.RemoteDevice`); a lost agent fails its node
(``Simulation.set_node_state(node, False)``) and a returning one repairs it.
"""

from __future__ import annotations

import concurrent.futures
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable

from pydantic import ValidationError
from qplane.errors import QPlaneError, ScenarioError
from qplane.hookspecs import hookimpl
from qplane.requests import DeliveredPair, EntanglementRequest, RequestHandle, RequestStatus
from qplane.registry import Registry
from qplane.scenario import Scenario
import qplane
from qplane.context import Operator, RunContext

from .kernel import ServiceKernel
from .snapshots import Snapshots
from .stats import RequestLog, results_from_aggregates

#: recent pairs kept per request by default (``--keep-pairs``)
KEEP_PAIRS = 1000


class ServiceUnavailable(QPlaneError):
    """The twin is not running (starting, shutting down, or its simulation failed)."""


class Overloaded(ServiceUnavailable):
    """Too many requests are unfinished: the client should try again later."""


class RequestRejected(QPlaneError):
    """A request the twin refused; ``field`` names the request field at fault."""

    def __init__(self, message: str, field: str | None = None):
        self.message = message
        self.field = field
        super().__init__(f"{field}: {message}" if field else message)


class Conflict(QPlaneError):
    """The operation does not apply to the request's state (e.g. cancelling a finished one)."""


@dataclass
class AgentOptions:
    """Which nodes are driven by node agents, and how the southbound listener runs."""

    nodes: list[str]
    host: str = "127.0.0.1"
    port: int = 0
    heartbeat_interval: float = 0.5
    misses: int = 3
    token: str | None = None
    wait_s: float = 30.0
    # bounds on connections that have not sent their hello yet (qplane_southbound.hub's defaults)
    handshake_timeout: float = 5.0
    max_pending_per_address: int = 8
    max_pending: int = 64


@dataclass
class RequestRecord:
    """What the service publishes of one request: its handle (read-only outside the simulation
    thread) and its bounded log (aggregates, recent pairs and events) that the simulation
    thread writes."""

    handle: RequestHandle
    origin: str  # "scenario" or "api"
    accepted_sim_s: float
    log: RequestLog
    accepted_wall: float = field(default_factory=time.time)
    final: dict[str, Any] | None = None
    final_id: int | None = None  # the event id of the final status
    last_status: str | None = None

    @property
    def id(self) -> int:
        return self.handle.id


def status_data(handle: RequestHandle, now: float) -> dict[str, Any]:
    return {
        "request": handle.id,
        "status": handle.status.value,
        "final": handle.status.final,
        "reason": handle.reason,
        "sim_time_s": now,
        "delivered": handle.delivered_count,
        "path": list(handle.path) if handle.path else None,
    }


class _Hooks:
    """Event hooks of one twin, registered on its own plugin manager (simulation thread)."""

    def __init__(self, twin: "DigitalTwin"):
        self.twin = twin

    @hookimpl
    def qplane_request_submitted(self, context: RunContext, request: RequestHandle) -> None:
        if context is self.twin.sim.context:  # routing happens right after this hook: look once it is done
            context.clock.call_at(0.0, self.twin._observe, request)

    @hookimpl
    def qplane_pair_delivered(self, context: RunContext, request: RequestHandle, pair: DeliveredPair) -> None:
        if context is self.twin.sim.context:
            self.twin._pair(request, pair)

    @hookimpl
    def qplane_request_finished(self, context: RunContext, request: RequestHandle) -> None:
        if context is self.twin.sim.context:
            self.twin._on_finished(request)


class DigitalTwin(Snapshots):
    """A scenario's network, live: see the module docstring."""

    #: the service's health monitor (:mod:`qplane_northbound.health`) once the app has one
    health: Any = None

    def __init__(
        self,
        scenario: Scenario,
        *,
        speed: float | None = 1.0,
        registry: Registry | None = None,
        agents: AgentOptions | None = None,
        max_unfinished: int = 10_000,
        keep_pairs: int = KEEP_PAIRS,
    ):
        if keep_pairs < 1:
            raise QPlaneError(f"keep_pairs must be at least 1 (got {keep_pairs})")
        self.keep_pairs = keep_pairs
        self.scenario = scenario
        self.speed = speed
        self.registry = registry if registry is not None else Registry()
        self._hooks = _Hooks(self)
        # before the Simulation exists: it decides once whether anyone listens for pairs
        self.registry.pm.register(self._hooks, name=f"qplane-northbound-twin-{id(self):x}")
        self.kernel = ServiceKernel(scenario.seed, speed)
        self.sim: Operator = qplane.build(scenario, self.registry, env=self.kernel)
        self.records: dict[int, RequestRecord] = {}
        for handle in self.sim.handles:
            self._record(handle, "scenario")
        self.max_unfinished = max_unfinished
        self.pairs_delivered = 0
        self.fidelity_sum = 0.0
        self.state = "built"  # built | running | stopping | stopped | failed
        self.error: BaseException | None = None
        self.results: dict[str, Any] | None = None
        self.stop_reason: str | None = None
        self.started_wall: float | None = None
        self.node_events: list[dict[str, Any]] = []
        self._accepting = False
        self._closing = False  # simulation-thread view: set by the shutdown it runs
        self._thread: threading.Thread | None = None
        self._done = threading.Event()
        self._finished_count = 0
        self.hub: Any = None
        self.agent_nodes: list[str] = []
        if agents is not None:
            self._attach_agents(agents)

    # ------------------------------------------------------------------------ agents
    def _attach_agents(self, options: AgentOptions) -> None:
        from qplane_southbound import AgentHub, NodeSpec, RemoteDevice
        from qplane_southbound.messages import OperationQuality
        from qplane_southbound.versions import local_versions, plugins_used

        nodes = self.sim.context.network.nodes
        unknown = [n for n in options.nodes if n not in nodes]
        if unknown:
            shown = ", ".join(list(nodes)[:8]) + (", ..." if len(nodes) > 8 else "")
            raise QPlaneError(f"--agents: {', '.join(unknown)} not in the topology (nodes: {shown})")
        specs = {}
        for name in options.nodes:
            device = nodes[name].device
            counts: dict[str, int] = {}
            for m in device.all_memories():
                counts[m.neighbor] = counts.get(m.neighbor, 0) + 1
            ops = device.operations
            specs[name] = NodeSpec(counts, OperationQuality(
                gate_error=ops.gate_error, measurement_error=ops.measurement_error,
                bsm_duration_s=ops.bsm_duration, bsm_success=ops.bsm_success))
        self.hub = AgentHub(specs, options.host, options.port, heartbeat_interval=options.heartbeat_interval,
                            misses=options.misses, token=options.token,
                            handshake_timeout=options.handshake_timeout,
                            max_pending_per_address=options.max_pending_per_address, max_pending=options.max_pending,
                            on_lost=self._agent_lost, on_joined=self._agent_joined,
                            versions=local_versions(plugins=plugins_used(self.sim, self.registry)))
        for name in options.nodes:
            nodes[name].device = RemoteDevice(nodes[name].device, self.hub)
        self.agent_nodes = list(options.nodes)
        self._agent_wait = options.wait_s

    def _agent_lost(self, node: str, reason: str) -> None:  # a hub thread
        self.kernel.call_soon_threadsafe(self._node_state, node, False, f"agent lost: {reason}")

    def _agent_joined(self, node: str) -> None:  # a hub thread
        self.kernel.call_soon_threadsafe(self._node_state, node, True, "agent connected again")

    def _node_state(self, node: str, up: bool, reason: str) -> None:
        if self.state not in ("running",) or self._closing:
            return
        self.node_events.append({"node": node, "up": up, "reason": reason, "sim_time_s": self.sim.now,
                                 "wall_time": time.time()})
        self.sim.set_node_state(node, up)

    # ------------------------------------------------------------------------ life cycle
    def start(self, on_agents_listening: Callable[[str, int], None] | None = None) -> "DigitalTwin":
        """Start the southbound listener and wait for every agent (when there are agents;
        ``on_agents_listening(host, port)`` is told where they connect), then start the
        simulation thread."""
        if self.hub is not None:
            from qplane_southbound import SouthboundError

            self.hub.start()
            if on_agents_listening is not None:
                on_agents_listening(self.hub.host, self.hub.port)
            missing = self.hub.wait_for(timeout=self._agent_wait)
            if missing:
                self.hub.close("the controller gave up waiting for agents")
                raise SouthboundError(
                    f"no agent connected for {', '.join(missing)} within {self._agent_wait:g} s "
                    f"(start them with: qplane agent --node NODE --connect {self.hub.host}:{self.hub.port})")
        self.state = "running"
        self._accepting = True
        self.started_wall = time.monotonic()
        self._thread = threading.Thread(target=self._main, name="qplane-twin", daemon=True)
        self._thread.start()
        return self

    def _main(self) -> None:
        try:
            self.results = results_from_aggregates(self.sim.run(), self.records)
            self.state = "stopped"
        except BaseException as e:  # noqa: BLE001 - reported through the API, never lost
            self.error = e
            self.state = "failed"
            self._accepting = False
            self._fail_unfinished(f"the simulation stopped: {type(e).__name__}: {e}")
        finally:
            self._done.set()

    def _fail_unfinished(self, reason: str) -> None:
        for handle in list(self.sim.handles):
            if handle.done:
                continue
            try:
                self.sim.context.sessions.finish(handle, RequestStatus.FAILED, reason)
            except Exception:  # the simulation is broken: set the state by hand
                handle.status, handle.reason = RequestStatus.FAILED, reason
                self._on_finished(handle)

    def request_stop(self, reason: str = "the service shut down") -> None:
        """Stop taking requests and ask the simulation thread to end every unfinished request
        ``cancelled`` and stop (returns at once; :meth:`stop` also waits)."""
        if self._accepting or self.state == "running":
            self._accepting = False
            if self.state == "running":
                self.state = "stopping"
            self.kernel.call_soon_threadsafe(self._shutdown, reason)

    def stop(self, reason: str = "the service shut down", timeout: float = 30.0) -> dict[str, Any] | None:
        """Shut down (see :meth:`request_stop`), wait for the simulation thread, close the
        southbound hub (agents get a ``bye``); returns the run's results."""
        self.request_stop(reason)
        if self._thread is not None:
            self._thread.join(timeout)
        if self.hub is not None:
            self.hub.close(reason)
        return self.results

    def _shutdown(self, reason: str) -> None:
        self._closing = True
        self.stop_reason = reason
        now = self.sim.now
        for handle in list(self.sim.handles):
            if not handle.done:
                self.sim.cancel(handle, f"{reason} at t={now:.6g} s, before the request finished")
        self.kernel.stop()

    @property
    def running(self) -> bool:
        return self.state == "running" and self._accepting

    def wait(self, timeout: float | None = None) -> bool:
        """Wait until the simulation thread has ended."""
        return self._done.wait(timeout)

    # ------------------------------------------------------------------------ from other threads
    def _call(self, fn: Callable[..., Any], *args: Any) -> concurrent.futures.Future[Any]:
        fut: concurrent.futures.Future[Any] = concurrent.futures.Future()
        if self._done.is_set():  # no simulation thread any more: nothing runs concurrently
            try:
                fut.set_result(fn(*args))
            except BaseException as e:  # noqa: BLE001 - handed to the caller
                fut.set_exception(e)
            return fut
        if self.state not in ("running", "stopping"):
            fut.set_exception(ServiceUnavailable(self.unavailable_reason()))
            return fut

        def run() -> None:
            if not fut.set_running_or_notify_cancel():
                return  # the caller gave up: do nothing it will not hear about
            try:
                fut.set_result(fn(*args))
            except BaseException as e:  # noqa: BLE001 - handed to the caller
                fut.set_exception(e)

        self.kernel.call_soon_threadsafe(run)
        return fut

    def unavailable_reason(self) -> str:
        if self.state == "failed":
            return f"the simulation stopped: {type(self.error).__name__}: {self.error}"
        if self.state in ("stopping", "stopped"):
            return "the service is shutting down"
        return "the service is starting"

    def submit(self, fields: dict[str, Any]) -> concurrent.futures.Future[RequestRecord]:
        """Submit a request (the fields of :class:`~qplane.requests.EntanglementRequest`, with
        ``start``/``end`` relative to acceptance). The future holds its record once accepted, or
        :class:`RequestRejected` / :class:`ServiceUnavailable`."""
        if not self._accepting:
            fut: concurrent.futures.Future[RequestRecord] = concurrent.futures.Future()
            fut.set_exception(ServiceUnavailable(self.unavailable_reason()))
            return fut
        return self._call(self._submit, dict(fields))

    def _submit(self, fields: dict[str, Any]) -> RequestRecord:
        if self._closing:
            raise ServiceUnavailable("the service is shutting down")
        unfinished = len(self.records) - self._finished_count
        if unfinished >= self.max_unfinished:
            raise Overloaded(f"{unfinished} request{'s are' if unfinished != 1 else ' is'} unfinished (at most {self.max_unfinished}): try later")
        now = self.sim.now
        fields["start"] = now + fields.get("start", 0.0)
        if fields.get("end") is not None:
            fields["end"] = now + fields["end"]
        try:
            request = EntanglementRequest(**fields)
        except ValidationError as e:
            err = e.errors()[0]
            loc = ".".join(str(p) for p in err.get("loc", ()))
            raise RequestRejected(err.get("msg", "invalid"), loc or None) from None
        try:
            handle = self.sim.submit(request)  # a refused request leaves nothing behind
        except QPlaneError as e:
            if isinstance(e, ScenarioError):
                raise RequestRejected(e.message, (e.field or "").removeprefix("request.") or None) from None
            raise RequestRejected(str(e), "protocols") from None
        return self._record(handle, "api")

    def cancel(self, request_id: int, reason: str) -> concurrent.futures.Future[RequestRecord]:
        return self._call(self._cancel, request_id, reason)

    def _cancel(self, request_id: int, reason: str) -> RequestRecord:
        record = self.records[request_id]
        handle = record.handle
        if handle.done:
            raise Conflict(f"request {request_id} already ended {handle.status.value}"
                           + (f": {handle.reason}" if handle.reason else ""))
        self.sim.cancel(handle, reason)
        return record

    def query(self, fn: Callable[[], Any]) -> concurrent.futures.Future[Any]:
        """Run ``fn()`` on the simulation thread (a consistent snapshot)."""
        return self._call(fn)

    def record(self, request_id: int) -> RequestRecord | None:
        return self.records.get(request_id)

    # ------------------------------------------------------------------------ simulation thread
    def _record(self, handle: RequestHandle, origin: str) -> RequestRecord:
        handle.keep_delivered = 0  # the record's log keeps what the service shows
        rec = RequestRecord(handle, origin, accepted_sim_s=self.sim.now, log=RequestLog(self.keep_pairs))
        self.records[handle.id] = rec
        self._status_event(rec)
        return rec

    def _status_event(self, rec: RequestRecord) -> None:
        data = status_data(rec.handle, self.sim.now)
        rec.last_status = data["status"]
        rec.log.add_status(data)

    def _observe(self, handle: RequestHandle) -> None:
        rec = self.records.get(handle.id)
        if rec is not None and rec.final is None and not handle.done and rec.last_status != handle.status.value:
            self._status_event(rec)

    def _pair(self, handle: RequestHandle, pair: Any) -> None:
        rec = self.records.get(handle.id)
        if rec is None:
            return
        self._observe(handle)
        self.pairs_delivered += 1
        self.fidelity_sum += pair.fidelity
        rec.log.add_pair(pair.time, pair.fidelity, pair.fidelity_estimated, pair.latency, pair.age)

    def _on_finished(self, handle: RequestHandle) -> None:
        rec = self.records.get(handle.id)
        if rec is None or rec.final is not None:
            return
        data = status_data(handle, self.sim.now)
        data["finished_at_s"] = handle.finished_at
        rec.last_status = data["status"]
        rec.final_id = rec.log.add_status(data)
        rec.final = data  # last: a reader that sees it sees the whole log
        self._finished_count += 1

    # ------------------------------------------------------------------------ snapshots (simulation thread)
