"""The request life cycle: arrival, routing, admission, sessions, delivery, final status, and
the controller's re-routing when the topology manager reports a failure or a repair.

Implements :class:`qplane.context.Sessions` and :class:`qplane.context.Controller`. The
protocols that do the work (scheduler, swapping policy, application) are plugins; this module
only moves requests between states and says why a request ended.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable

from qplane.requests import DeliveredPair, RequestHandle, RequestStatus, Session

if TYPE_CHECKING:
    from qplane.hal import Memory

    from .inventory import MemoryInventory
    from .network import Network


class RequestLifecycle:
    """Requests of one run and the controller that routes them (see the module)."""

    #: the run's protocol-event tracer (:mod:`qplane_engine.trace`) when traced
    trace: Callable[..., None] | None = None

    def __init__(self, clock: Any, network: "Network", inventory: "MemoryInventory",
                 estimate: Callable[..., float], on_finished: Callable[[RequestHandle], None],
                 on_pair: Callable[[RequestHandle, DeliveredPair], None] | None):
        self._clock = clock
        self._network = network
        self._inventory = inventory
        self._estimate = estimate
        self._on_finished = on_finished
        self._on_pair = on_pair
        self.requests: list[RequestHandle] = []
        self.scheduler: Any = None  # set by the engine once built
        self.topology_manager: Any = None
        self.multipartite: Any = None  # set by the engine: serves requests with ``parties``
        self.virtual: Any = None  # set by the engine: serves requests over virtual links
        #: the legs of multipartite requests (routed and re-routed like requests, listed nowhere)
        self.internal: list[RequestHandle] = []
        self._awaiting_view: list[RequestHandle] = []

    # ---------------------------------------------------------------- Sessions

    def start(self, handle: RequestHandle, allocation: list[list[tuple["Memory", "Memory"]]],
              path: list[str] | None = None, gate: Any = None) -> Session:
        session = Session(handle, list(path if path is not None else (handle.path or [])), allocation, gate=gate)
        self._inventory.claim(session)
        handle.sessions.append(session)
        handle.session = session
        now = self._clock.now
        if handle.waiting_since is not None:
            handle.queued_s += now - handle.waiting_since
            handle.waiting_since = None
        handle.status = RequestStatus.ACTIVE
        if handle.served_from is None:
            handle.served_from = now
        handle.protocols["repeater"].serve(session)  # 1g: the swapping policy serves it
        return session

    def preempt(self, handle: RequestHandle, cause: str = "preempted") -> None:
        lost = 0
        for session in list(handle.sessions):
            session.active = False
            lost += sum(m.qubit is not None for hop in session.allocation for pair in hop for m in pair) // 2
            self._inventory.release(session)
        if lost:
            handle.losses[cause] = handle.losses.get(cause, 0) + lost
        handle.session = None
        handle.preemptions += 1
        if not handle.done:
            handle.status = RequestStatus.WAITING
            handle.waiting_since = self._clock.now

    def deliver(self, session: Session, pair: DeliveredPair) -> None:
        self.deliver_to(session.handle, pair)

    def deliver_to(self, handle: RequestHandle, pair: DeliveredPair) -> None:
        """Hand ``pair`` (or a GHZ state: ``pair.memories``) to the request's application; the
        request completes when it has all its pairs (``states``)."""
        handle.delivered.append(pair)
        handle.delivered_count += 1
        if not handle.protocols["application"].on_pair(handle, pair):
            for m in pair.memories or (pair.src_memory, pair.dst_memory):
                self._inventory.free(m)
        if self._on_pair is not None and handle.id >= 0:  # legs of GHZ requests (ids < 0) are internal
            self._on_pair(handle, pair)
        keep, kept = handle.keep_delivered, handle.delivered
        if keep is not None and len(kept) > 2 * keep:  # trimmed in batches: amortised O(1)
            del kept[:len(kept) - keep]
        req = handle.request
        count, what = (req.states, "GHZ state") if req.parties else (req.pairs, "pair")
        if count is not None and handle.delivered_count >= count:
            self.finish(handle, RequestStatus.COMPLETED, f"{count} {what}{'s' * (count != 1)} delivered")

    def finish(self, handle: RequestHandle, status: RequestStatus, reason: str = "") -> None:
        if handle.done:
            return
        now = self._clock.now
        handle.status = status
        handle.reason = reason
        handle.finished_at = now
        if self.trace is not None:
            self.trace("finish", request=handle.id, status=status.value, reason=reason,
                       delivered=handle.delivered_count)
        if handle.waiting_since is not None:
            handle.queued_s += now - handle.waiting_since
            handle.waiting_since = None
        if handle.sessions or handle.session is not None:
            self._stop_sessions(handle)
        self._on_finished(handle)

    def _stop_sessions(self, handle: RequestHandle) -> None:
        for session in handle.sessions:
            session.active = False
        if handle.session is not None:
            handle.session.active = False
        self.scheduler.release(handle)

    # ---------------------------------------------------------------- arrival and routing

    def arrive(self, handle: RequestHandle) -> None:
        """A request's start time has come (the engine fires ``qplane_request_submitted`` first)."""
        if handle.done:  # cancelled before its start
            return
        req = handle.request
        if req.end is not None:
            self._clock.call_at(req.end - self._clock.now, self._deadline, handle)
        if not self.topology_manager.ready():
            self._awaiting_view.append(handle)  # discovery still running: route once it converged
            return
        self._route_and_submit(handle)

    def _route_and_submit(self, handle: RequestHandle) -> None:
        if handle.request.parties and not handle.done:
            return self.multipartite.start(handle)
        if not handle.done and self.virtual.applies(handle) and self.virtual.route(handle):
            return  # served over virtual links (or ended): see qplane_engine.virtual
        if handle.done or not self.route(handle, RequestStatus.NO_PATH, RequestStatus.FIDELITY_UNREACHABLE, ""):
            return
        handle.status = RequestStatus.WAITING
        if handle.waiting_since is None:
            handle.waiting_since = self._clock.now
        self.scheduler.submit(handle)

    def annotated_view(self) -> Any:
        """The controller's view, with what fidelity-aware routers need of every node."""
        view = self._network.view()
        if "speed_km_per_s" not in view.graph:  # views are cached: annotate each one once
            view.graph["speed_km_per_s"] = self._network.speed
            for name, data in view.nodes(data=True):
                device = self._network.nodes[name].device
                data["memory"] = device.memory_model
                data["operations"] = device.operations
        return view

    def route(self, handle: RequestHandle, no_path: RequestStatus, unreachable: RequestStatus, why: str) -> bool:
        """Choose ``handle``'s path(s) over the controller's view; when there is none (or none
        that can reach its ``min_fidelity``) finish it with the given status and say why."""
        req = handle.request
        router = handle.protocols["router"]
        view = self.annotated_view()
        multipath = getattr(router, "routes", None)
        if multipath is not None:
            paths = [list(p) for p in (multipath(view, req.src, req.dst, req) or []) if p]
        else:
            path = router.route(view, req.src, req.dst, req)
            paths = [list(path)] if path else []
        if not paths:
            self.finish(handle, no_path, f"{why}no {'other ' if why else ''}path from {req.src} to {req.dst}")
            return False
        purification = handle.protocols["purification"]
        best = [self._estimate(p, purification) for p in paths]
        feasible = [p for p, b in zip(paths, best) if b >= req.min_fidelity]
        if not feasible:
            i = max(range(len(paths)), key=best.__getitem__)
            over = f"over {len(paths[i]) - 1} link{'s' * (len(paths[i]) != 2)}" + (f" (the best of {len(paths)} paths)" if len(paths) > 1 else "")
            self.finish(handle, unreachable,
                        f"{why}best-case fidelity {best[i]:.4f} {over} is below min_fidelity {req.min_fidelity}")
            return False
        if getattr(router, "fixed_path", True):
            handle.path, handle.paths = feasible[0], feasible
        else:  # path-free: the swapping policy finds a path for every pair
            handle.path, handle.paths = None, []
        return True

    def _deadline(self, handle: RequestHandle) -> None:
        if handle.done:
            return
        if handle.request.rate is not None:
            self.finish_rate(handle)
        else:
            self.finish(handle, RequestStatus.TIMED_OUT, f"deadline {handle.request.end} s reached with "
                        f"{handle.delivered_count}/{_asked(handle.request)}")

    def finish_rate(self, handle: RequestHandle) -> None:
        """End a rate request: completed when it was served at its rate, else rate_not_met."""
        req, now = handle.request, self._clock.now
        stop = min(req.end or now, now)
        achieved = handle.delivered_count / (stop - req.start) if stop > req.start else 0.0
        if achieved >= (req.rate or 0.0):
            self.finish(handle, RequestStatus.COMPLETED, f"served {achieved:.4g} pairs/s (asked {req.rate:g})")
        else:
            self.finish(handle, RequestStatus.RATE_NOT_MET, f"served {achieved:.4g} pairs/s, below the {req.rate:g} asked")

    def end_of_run(self) -> None:
        """The run stopped: every unfinished request ends with the reason."""
        now = self._clock.now
        for handle in self.requests:
            if handle.done:
                continue
            req = handle.request
            if handle.status == RequestStatus.PENDING:
                self.finish(handle, RequestStatus.TIMED_OUT, f"run ended at {now:g} s before the request's start {req.start:g} s")
            elif req.rate is not None:
                self.finish_rate(handle)
            else:
                self.finish(handle, RequestStatus.TIMED_OUT, f"run ended at {now:g} s with {handle.delivered_count}/{_asked(req)}")

    def interrupt(self) -> None:
        """Ctrl-C stopped the run: every unfinished request ends ``interrupted``, with what it had."""
        now = self._clock.now
        for handle in self.requests:
            if handle.done:
                continue
            req, got = handle.request, handle.delivered_count
            reason = (f"the run was interrupted at t={now:.6g} s with "
                      + (f"{got}/{_asked(req)}" if req.rate is None else f"{got} pair{'s' * (got != 1)}"))
            try:
                self.finish(handle, RequestStatus.INTERRUPTED, reason)
            except Exception:  # stopped mid-event: the state may be torn; record the status anyway
                handle.status, handle.reason, handle.finished_at = RequestStatus.INTERRUPTED, reason, now

    # ---------------------------------------------------------------- Controller

    def learned(self, kind: str, name: Any, up: bool) -> None:
        if up:
            # a recovered element is in the view again: new routes use it, and so do requests
            # still waiting for memories (they have not started on their detour)
            for handle in [*self.requests, *self.internal]:
                if handle.status == RequestStatus.WAITING and handle.path is not None:
                    self.route(handle, RequestStatus.FAILED, RequestStatus.FAILED, "re-routing after a repair: ")
            self._reconsider()
            return
        if kind == "link":
            ends = set(name)
            what = f"link {name[0]}-{name[1]} down"

            def uses(path: list[str]) -> bool:
                return any({u, v} == ends for u, v in zip(path, path[1:]))
        else:
            what = f"node {name} down"

            def uses(path: list[str]) -> bool:
                return name in path

        for handle in [*self.requests, *self.internal]:
            if not handle.done and any(uses(p) for p in (handle.paths or ([handle.path] if handle.path else []))):
                self._reroute(handle, what)
        self._reconsider()

    def view_ready(self) -> None:
        waiting, self._awaiting_view = self._awaiting_view, []
        for handle in waiting:
            self._route_and_submit(handle)

    def _reconsider(self) -> None:
        """Paths of waiting requests changed: let the scheduler look at its queue again."""
        reconsider = getattr(self.scheduler, "reconsider", None)
        if reconsider is not None:
            reconsider()

    def _reroute(self, handle: RequestHandle, reason: str) -> None:
        was_active = bool(handle.sessions) or handle.session is not None
        if was_active:  # stop serving it on the broken path(s); their memories are freed
            self._stop_sessions(handle)
            handle.sessions = []
            handle.session = None
        old = handle.paths or ([handle.path] if handle.path else [])
        ok = self.route(handle, RequestStatus.FAILED, RequestStatus.FAILED, f"{reason}; ")
        if self.trace is not None:
            self.trace("reroute", request=handle.id, reason=reason, ok=ok, old_path=old[0] if old else None,
                       path=handle.path if ok else None)
        if not ok:
            return
        handle.reroutes += 1
        if was_active:
            handle.status = RequestStatus.WAITING
            if handle.waiting_since is None:
                handle.waiting_since = self._clock.now
            self.scheduler.submit(handle)
        # a waiting request keeps its place in the scheduler's queue, with the new path(s)


def _asked(req: Any) -> str:
    """``5 pairs`` or ``3 GHZ states``: what a request asked for."""
    return f"{req.states} GHZ states" if req.parties else f"{req.pairs} pairs"
