"""The runner: builds a network from a validated scenario and runs it on the kernel.

:func:`build` resolves every component by name through the registry and validates its
parameters with the component's own model; :meth:`Simulation.run` plays requests on the
SimPy kernel and returns the results dictionary (:mod:`qplane.results`).

The runner owns request life cycles (arrival, routing, admission, deadlines, final status)
and the memory inventory's release; the protocols that do the work are plugins.
"""

from __future__ import annotations

import contextlib
import gc
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import networkx as nx

from . import physics
from .errors import PluginError, QPlaneError, ScenarioError
from .kernel import Kernel
from .network import Network, Node, QuantumLink
from .requests import PER_REQUEST_PROTOCOLS, DeliveredPair, EntanglementRequest, RequestHandle, RequestStatus, Session
from .registry import KINDS, BuildContext, Component, Registry
from .results import SCHEMA, LinkResult, Results, summarize
from .scenario import Scenario, load_scenario, scenario_base_dir, scenario_source, split_ref
from .hal import Memory, Operations, SimulatedDevice
from .traffic import TrafficContext


@dataclass
class Resolved:
    """A component chosen by a scenario: its registry entry, validated params and instance."""

    component: Component
    params: Any
    instance: Any = None


class Simulation:
    """One run of one scenario."""

    def __init__(self, scenario: Scenario, registry: Registry, env: Kernel | None = None):
        self.scenario = scenario
        self.registry = registry
        self.source = scenario_source(scenario)
        #: the event loop; a caller may bring its own Kernel subclass (the northbound service runs
        #: on a real-time one, seeded with the scenario's seed), before build()
        self.env = env if env is not None else Kernel(scenario.seed)
        self.hook = registry.pm.hook
        self.handles: list[RequestHandle] = []
        self.resolved: dict[str, Resolved] = {}
        self._done = 0
        self._all_done = self.env.event()
        self._wall = 0.0
        self._running = False
        self._awaiting_view: list[RequestHandle] = []
        self.failures_injected = 0
        self._pair_hook_wanted = bool(self.hook.qplane_pair_delivered.get_hookimpls())
        #: sessions holding memories now (insertion-ordered), for the inventory's invariants
        self._sessions: dict[Session, None] = {}
        #: per-run objects plugins share across requests (e.g. a link-level entanglement pool)
        self.services: dict[str, Any] = {}
        #: node -> [memories reserved now, reserved memory-seconds, time of last change, peak]
        self._reserved: dict[str, list[float]] = {}
        self._occupancy: dict[str, Any] | None = None

    # ---------------------------------------------------------------- construction

    def _error(self, message: str, field: str) -> ScenarioError:
        return ScenarioError(message, field=field, source=self.source)

    def _resolve(self, kind: str, ref: Any, field: str, key: str = "name", default: str | None = None) -> Resolved:
        try:
            name, raw = split_ref(ref, key=key, default=default)
            pin = raw.pop("plugin", None)  # which plugin provides the name, when several do
            comp = self.registry.get(kind, name, field=field if isinstance(ref, str) else f"{field}.{key}",
                                     plugin=pin, plugin_field=f"{field}.plugin", key=key)
            params = comp.validate(raw, field)
        except ScenarioError as e:
            if e.field is None:
                e = ScenarioError(e.message, field=field)
            raise e.with_source(self.source) from None
        return Resolved(comp, params)

    def _instantiate(self, resolved: Resolved, *args: Any) -> Any:
        try:
            return resolved.component.factory(resolved.params, *args)
        except QPlaneError:
            raise
        except Exception as e:
            c = resolved.component
            raise PluginError(
                f"plugin {c.plugin!r} failed to build {c.kind} {c.name!r}: {type(e).__name__}: {e}"
            ) from e

    def build(self) -> "Simulation":
        sc = self.scenario
        env = self.env

        # backend
        r = self._resolve("backend", sc.backend, "backend")
        self.backend = r.instance = self._instantiate(r, env.stream("backend"))
        self.resolved["backend"] = r

        # topology
        r = self._resolve("topology", sc.topology, "topology", key="builder")
        try:
            graph = self._instantiate(r, BuildContext(base_dir=scenario_base_dir(sc)))
        except ScenarioError as e:
            raise ScenarioError(e.message, field=e.field or "topology", source=self.source) from e
        self.resolved["topology"] = r
        self._check_graph(graph)
        self.network = Network(graph, sc.classical.speed_km_per_s)

        self._build_hardware(graph)
        self._check_requests(graph)

        # protocols
        p = sc.protocols
        for kind, attr, ref in (
            ("router", "router", p.routing),
            ("scheduler", "scheduler", p.scheduling),
            ("link_generation", "link_generator", p.link_generation),
            ("swapping", "swap_policy", p.swapping),
            ("purification", "purification", p.purification),
            ("cutoff", "cutoff", p.cutoff),
            ("application", "application", p.application),
            ("topology_manager", "topology_manager", p.topology_manager),
        ):
            field = {"router": "protocols.routing", "scheduler": "protocols.scheduling"}.get(kind, f"protocols.{kind}")
            res = self._resolve(kind, ref, field, default="age" if kind == "cutoff" else None)
            res.instance = self._instantiate(res) if kind == "router" else self._instantiate(res, self)
            setattr(self, attr, res.instance)
            self.resolved[kind] = res
        self.protocols = {k: self.resolved[k].instance for k in PER_REQUEST_PROTOCOLS.values()}
        for i, handle in enumerate(self.handles):
            self._request_protocols(handle, f"requests.{i}.protocols")
        self._build_traffic()
        self.network.controller = self.topology_manager
        self._check_events()
        self._check_capabilities()
        return self

    def _check_events(self) -> None:
        for i, ev in enumerate(self.scenario.events):
            if ev.link is not None and frozenset(ev.link) not in self.network.links:
                raise self._error(f"there is no link {ev.link[0]}-{ev.link[1]} in the topology", f"events.{i}.link")
            if ev.node is not None and ev.node not in self.network.nodes:
                raise self._error(f"node {ev.node!r} is not in the topology", f"events.{i}.node")

    def _request_protocols(self, handle: RequestHandle, field: str) -> None:
        """The components serving ``handle``: the scenario's, replaced by the request's own."""
        handle.protocols = dict(self.protocols)
        handle.protocol_names = {k: self.resolved[k].component.name for k in self.protocols}
        for key, ref in (handle.request.protocols or {}).items():
            kind = PER_REQUEST_PROTOCOLS[key]
            res = self._resolve(kind, ref, f"{field}.{key}", default="age" if kind == "cutoff" else None)
            res.instance = self._instantiate(res) if kind == "router" else self._instantiate(res, self)
            handle.protocols[kind] = res.instance
            handle.protocol_names[kind] = res.component.name
            self.resolved[f"{field}.{key}"] = res
        self._check_session_model(handle, field)

    def _check_session_model(self, handle: RequestHandle, field: str) -> None:
        """A path-free router (``fixed_path = False``) needs a path-free swapping policy and vice
        versa; when the scenario leaves ``swapping`` unset, the router's own choice is used. A
        swapping policy may refuse the other protocols of a request (``check_protocols(protocols)``
        returns a message)."""
        router, swapping = handle.protocols["router"], handle.protocols["swapping"]
        path_free_router = not getattr(router, "fixed_path", True)
        path_free_swapping = bool(getattr(swapping, "path_free", False))
        own = handle.request.protocols or {}
        where = f"{field}.swapping" if "swapping" in own else "protocols.swapping"
        if path_free_router != path_free_swapping:
            chosen = "swapping" in own or "swapping" in self.scenario.protocols.model_fields_set
            r_name, s_name = handle.protocol_names["router"], handle.protocol_names["swapping"]
            needed = getattr(router, "swapping", None)
            if not (path_free_router and not chosen and needed):
                if path_free_router:
                    raise self._error(f"routing {r_name!r} has no fixed path; it needs a path-free swapping "
                                      f"policy ({needed or 'reactive'!r}), not {s_name!r}", where)
                raise self._error(f"swapping {s_name!r} finds its own paths; it needs a path-free router "
                                  f"(routing: reactive), not {r_name!r}", where)
            res = self.resolved.get(f"auto.swapping.{needed}")
            if res is None:  # one instance serves every request that needs it
                res = self._resolve("swapping", needed, where)
                res.instance = self._instantiate(res, self)
                self.resolved[f"auto.swapping.{needed}"] = res
            handle.protocols["swapping"] = res.instance
            handle.protocol_names["swapping"] = res.component.name
        check = getattr(handle.protocols["swapping"], "check_protocols", None)
        problem = check(handle.protocols) if check is not None else None
        if problem:  # e.g. a swapping policy that cannot purify, asked to
            raise self._error(problem, where)

    def _build_traffic(self) -> None:
        """Append the requests of the scenario's traffic model(s) (:mod:`qplane.traffic`)."""
        raw = self.scenario.traffic
        if raw is None:
            return
        items = [("traffic", raw)] if isinstance(raw, dict) else [(f"traffic.{i}", r) for i, r in enumerate(raw)]
        nodes = list(self.network.nodes)
        for field, ref in items:
            res = self._resolve("traffic", ref, field, key="model")
            res.instance = model = self._instantiate(res)
            self.resolved[field] = res
            context = TrafficContext(rng=self.env.stream(field), nodes=nodes, duration=self.scenario.duration)
            try:
                requests = list(model.generate(context))
            except ScenarioError as e:
                raise ScenarioError(e.message, field=f"{field}.{e.field}" if e.field else field,
                                    source=self.source) from e
            except QPlaneError:
                raise
            except Exception as e:
                c = res.component
                raise PluginError(f"plugin {c.plugin!r}: traffic model {c.name!r} failed to generate requests: "
                                  f"{type(e).__name__}: {e}") from e
            for req in requests:
                handle = RequestHandle(id=len(self.handles), request=req)
                self._request_protocols(handle, f"{field}.protocols")
                self.handles.append(handle)

    def _check_capabilities(self) -> None:
        """Every component may declare ``requires_capabilities``; fail before the run when the
        backend lacks one (a memory model may declare it too, e.g. exact amplitude damping)."""
        from .backend import require

        for key, res in self.resolved.items():
            needed = getattr(res.instance, "requires_capabilities", None) or ()
            for cap in needed:
                require(self.backend, cap, f"{KINDS[res.component.kind][1]} {res.component.name!r}")

    def _check_graph(self, graph: Any) -> None:
        if not isinstance(graph, nx.Graph) or graph.number_of_nodes() < 2:
            raise self._error("the topology must have at least two nodes", "topology")
        for a, b, data in graph.edges(data=True):
            length = data.get("length_km")
            if isinstance(length, bool) or not isinstance(length, (int, float)) or not 0 < length < float("inf"):
                raise self._error(f"link {a}-{b} needs a positive length_km (got {length!r})", "topology")

    def _build_hardware(self, graph: nx.Graph) -> None:
        hw = self.scenario.hardware
        nodes = set(graph.nodes)
        for name in hw.nodes:
            if name not in nodes:
                raise self._error(f"node {name!r} is not in the topology", f"hardware.nodes.{name}")

        mem_default = self._resolve("memory_model", hw.memory, "hardware.memory", key="model", default="depolarizing")
        self.resolved["memory_model"] = mem_default
        mem_default.instance = self._instantiate(mem_default)
        for name in graph.nodes:
            ov = hw.nodes.get(name)
            mem = mem_default.instance
            if ov is not None and ov.memory is not None:
                # an override of the same model changes some parameters; another model starts afresh
                same = ov.memory.get("model", hw.memory.get("model", "depolarizing")) == hw.memory.get("model", "depolarizing")
                merged = {**hw.memory, **ov.memory} if same else dict(ov.memory)
                r = self._resolve("memory_model", merged, f"hardware.nodes.{name}.memory", key="model", default="depolarizing")
                mem = self._instantiate(r)
            ops = ov.operations if ov is not None and ov.operations is not None else hw.operations
            device = SimulatedDevice(name, self.backend, Operations(**ops.model_dump()), mem)
            self.network.nodes[name] = Node(name, device)

        overrides: dict[frozenset[str], tuple[int, dict[str, Any]]] = {}
        for i, ov in enumerate(hw.links):
            a, b = ov.between
            if not graph.has_edge(a, b):
                raise self._error(f"there is no link {a}-{b} in the topology", f"hardware.links.{i}.between")
            overrides[frozenset((a, b))] = (i, ov.model_extra or {})

        default_scheme, _ = split_ref(hw.link, key="scheme", default="mim")
        for a, b, data in graph.edges(data=True):
            key = frozenset((a, b))
            raw, field = dict(hw.link), "hardware.link"
            if key in overrides:
                i, extra = overrides[key]
                if extra.get("scheme", default_scheme) != default_scheme:
                    raw = {}
                raw.update(extra)
                field = f"hardware.links.{i}"
            r = self._resolve("link_model", raw, field, key="scheme", default="mim")
            try:
                model = r.component.factory(r.params, float(data["length_km"]))
            except QPlaneError:
                raise
            except Exception as e:
                raise PluginError(f"plugin {r.component.plugin!r} failed to build link model {r.component.name!r}: {e}") from e
            self.network.links[key] = QuantumLink(a, b, float(data["length_km"]), model, r.component.name)
            for u, v in ((a, b), (b, a)):
                node = self.network.nodes[u]
                node.device.add_link(v, node.device.memory_model.count)
            self.resolved.setdefault("link_model", r)

    def _check_requests(self, graph: nx.Graph) -> None:
        names = list(graph.nodes)
        shown = ", ".join(names[:6]) + (", ..." if len(names) > 6 else "")
        for i, req in enumerate(self.scenario.requests):
            for end in ("src", "dst"):
                node = getattr(req, end)
                if node not in graph:
                    raise self._error(f"node {node!r} is not in the topology (nodes: {shown})", f"requests.{i}.{end}")
            self.handles.append(RequestHandle(id=i, request=req))

    # ---------------------------------------------------------------- northbound API

    @property
    def now(self) -> float:
        return self.env.now

    def submit(self, request: EntanglementRequest) -> RequestHandle:
        """Submit a request from code (an application), before or during the run. It arrives at
        ``max(request.start, now)``; the handle's status and delivered pairs are live."""
        for end in ("src", "dst"):
            node = getattr(request, end)
            if node not in self.network.nodes:
                raise ScenarioError(f"node {node!r} is not in the topology", field=f"request.{end}")
        handle = RequestHandle(id=len(self.handles), request=request)
        before = dict(self.resolved)
        try:
            self._request_protocols(handle, "request.protocols")
            self._check_capabilities()
        except QPlaneError:
            self.resolved = before  # a refused request leaves nothing behind
            raise
        self.handles.append(handle)
        if self._running:
            self.env.call_at(max(request.start - self.now, 0.0), self._arrive, handle)
        return handle

    def cancel(self, handle: RequestHandle, reason: str = "cancelled by the application") -> None:
        """End a request now; its memories are freed."""
        self.finish(handle, RequestStatus.CANCELLED, reason)

    def set_link_state(self, a: str, b: str, up: bool) -> None:
        """Ground truth: the fibre between ``a`` and ``b`` fails or is repaired. While a link
        is down its photons are lost (attempts in flight are void, none start); stored qubits
        survive. Fires ``qplane_link_state_changed``; the topology manager decides when the
        controller learns of it."""
        link = self.network.link(a, b)
        if link.up == up:
            return
        link.up = up
        self.failures_injected += 0 if up else 1
        self.network.topology_changed()
        self._refresh_link(link)
        self.hook.qplane_link_state_changed(sim=self, link=link, up=up)
        self.topology_manager.physical_change("link", (link.a, link.b), up)

    def set_node_state(self, name: str, up: bool) -> None:
        """Ground truth: node ``name`` fails or comes back. A failed node loses the qubits in
        its memories (their pairs are discarded at both ends) and its links stop working.
        Fires ``qplane_node_state_changed``."""
        node = self.network.nodes[name]
        if node.up == up:
            return
        node.up = up
        self.network.topology_changed()
        now = self.now
        if not up:
            self.failures_injected += 1
            node.outages.append([now, None])
            for m in node.device.all_memories():
                owner = m.owner
                if m.qubit is not None and owner is not None and owner.active and owner.state is not None:
                    owner.state.qubit_lost(m)
        else:
            node.outages[-1][1] = now
        for nbr in self.network.graph[name]:
            self._refresh_link(self.network.link(name, nbr))
        self.hook.qplane_node_state_changed(sim=self, node=node, up=up)
        self.topology_manager.physical_change("node", name, up)

    def _refresh_link(self, link: QuantumLink) -> None:
        nodes = self.network.nodes
        operational = link.up and nodes[link.a].up and nodes[link.b].up
        if operational == link.operational:
            return
        link.operational = operational
        if not operational:
            link.epoch += 1
            link.outages.append([self.now, None])
            self.link_generator.link_down(link)
        else:
            link.outages[-1][1] = self.now
            self.link_generator.link_up(link)

    def _schedule_failures(self) -> None:
        env = self.env
        for ev in self.scenario.events:
            if ev.link is not None:
                a, b = ev.link
                env.call_at(ev.at, self.set_link_state, a, b, False)
                if ev.down_for is not None:
                    env.call_at(ev.at + ev.down_for, self.set_link_state, a, b, True)
            else:
                env.call_at(ev.at, self.set_node_state, ev.node, False)
                if ev.down_for is not None:
                    env.call_at(ev.at + ev.down_for, self.set_node_state, ev.node, True)
        rates = self.scenario.failures
        if rates is None:
            return
        if rates.links is not None:
            for link in self.network.links.values():
                rng = env.stream(f"failures:link:{link.a}-{link.b}")
                self._next_failure(rng, rates.links, lambda up, l=link: self.set_link_state(l.a, l.b, up), False)
        if rates.nodes is not None:
            for name in self.network.nodes:
                rng = env.stream(f"failures:node:{name}")
                self._next_failure(rng, rates.nodes, lambda up, n=name: self.set_node_state(n, up), False)

    def _next_failure(self, rng: Any, rates: Any, apply: Any, up: bool) -> None:
        """Alternating exponential up times (mean MTBF) and repair times (mean MTTR)."""
        delay = rng.expovariate(1.0 / (rates.mttr if up else rates.mtbf))
        if self.now + delay >= self.scenario.duration:
            return

        def fire() -> None:
            apply(up)
            self._next_failure(rng, rates, apply, not up)

        self.env.call_at(delay, fire)

    # ---------------------------------------------------------------- the controller

    def controller_learned(self, kind: str, name: Any, up: bool) -> None:
        """Called by the topology manager when the controller learns that a link (``name`` =
        ``(a, b)``) or a node changed state. On a failure, every request whose path uses it is
        re-routed over the controller's view, or ends ``failed`` when no path remains."""
        if up:
            # a recovered element is in the view again: new routes use it, and so do requests
            # still waiting for memories (they have not started on their detour)
            for handle in self.handles:
                if handle.status == RequestStatus.WAITING and handle.path is not None:
                    self._route(handle, RequestStatus.FAILED, RequestStatus.FAILED, "re-routing after a repair: ")
            self._reconsider()
            return
        if kind == "link":
            a, b = name
            what = f"link {a}-{b} down"

            def uses(path: list[str]) -> bool:
                return any({u, v} == {a, b} for u, v in zip(path, path[1:]))
        else:
            what = f"node {name} down"

            def uses(path: list[str]) -> bool:
                return name in path

        for handle in self.handles:
            if not handle.done and any(uses(p) for p in (handle.paths or ([handle.path] if handle.path else []))):
                self._reroute(handle, what)
        self._reconsider()

    def _reconsider(self) -> None:
        """Paths of waiting requests changed: let the scheduler look at its queue again."""
        reconsider = getattr(self.scheduler, "reconsider", None)
        if reconsider is not None:
            reconsider()

    def _reroute(self, handle: RequestHandle, reason: str) -> None:
        was_active = bool(handle.sessions) or handle.session is not None
        if was_active:  # stop serving it on the broken path(s); their memories are freed
            for session in handle.sessions:
                session.active = False
            if handle.session is not None:
                handle.session.active = False
            self.scheduler.release(handle)
            handle.sessions = []
            handle.session = None
        if not self._route(handle, RequestStatus.FAILED, RequestStatus.FAILED, f"{reason}; "):
            return
        handle.reroutes += 1
        if was_active:
            handle.status = RequestStatus.WAITING
            if handle.waiting_since is None:
                handle.waiting_since = self.now
            self.scheduler.submit(handle)
        # a waiting request keeps its place in the scheduler's queue, with the new path(s)

    def view_ready(self) -> None:
        """Called by the topology manager when initial discovery has converged: requests that
        arrived meanwhile are routed now."""
        waiting, self._awaiting_view = self._awaiting_view, []
        for handle in waiting:
            self._route_and_submit(handle)

    # ---------------------------------------------------------------- request life cycle

    def _arrive(self, handle: RequestHandle) -> None:
        if handle.done:  # cancelled before its start
            return
        self.hook.qplane_request_submitted(sim=self, request=handle)
        req = handle.request
        if req.end is not None:
            self.env.call_at(req.end - self.now, self._deadline, handle)
        if not self.topology_manager.ready():
            self._awaiting_view.append(handle)  # discovery still running: route once it converged
            return
        self._route_and_submit(handle)

    def _route_and_submit(self, handle: RequestHandle) -> None:
        if handle.done:
            return
        if not self._route(handle, RequestStatus.NO_PATH, RequestStatus.FIDELITY_UNREACHABLE, ""):
            return
        handle.status = RequestStatus.WAITING
        if handle.waiting_since is None:
            handle.waiting_since = self.now
        self.scheduler.submit(handle)

    def _route(self, handle: RequestHandle, no_path: RequestStatus, unreachable: RequestStatus, why: str) -> bool:
        """Choose ``handle``'s path(s) over the controller's view; when there is none (or none
        that can reach its ``min_fidelity``) finish it with the given status and say why."""
        req = handle.request
        router = handle.protocols["router"]
        view = self.network.view()
        if "speed_km_per_s" not in view.graph:  # views are cached: annotate each one once
            view.graph["speed_km_per_s"] = self.network.speed
            for name, data in view.nodes(data=True):  # what fidelity-aware routers need of a node
                device = self.network.nodes[name].device
                data["memory"] = device.memory_model
                data["operations"] = device.operations
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
        best = [self.best_case_fidelity(p, purification) for p in paths]
        feasible = [p for p, b in zip(paths, best) if b >= req.min_fidelity]
        if not feasible:
            i = max(range(len(paths)), key=best.__getitem__)
            over = f"over {len(paths[i]) - 1} links" + (f" (the best of {len(paths)} paths)" if len(paths) > 1 else "")
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
            self._finish_rate(handle)
        else:
            self.finish(handle, RequestStatus.TIMED_OUT, f"deadline {handle.request.end} s reached with {len(handle.delivered)}/{handle.request.pairs} pairs")

    def _finish_rate(self, handle: RequestHandle) -> None:
        req = handle.request
        stop = min(req.end or self.now, self.now)
        achieved = len(handle.delivered) / (stop - req.start) if stop > req.start else 0.0
        if achieved >= (req.rate or 0.0):
            self.finish(handle, RequestStatus.COMPLETED, f"served {achieved:.4g} pairs/s (asked {req.rate:g})")
        else:
            self.finish(handle, RequestStatus.RATE_NOT_MET, f"served {achieved:.4g} pairs/s, below the {req.rate:g} asked")

    def start_session(self, handle: RequestHandle, allocation: list[list[tuple[Memory, Memory]]],
                      path: list[str] | None = None, gate: Any = None) -> Session:
        """Called by the scheduler: ``handle`` has its memories on ``path`` (default: its path;
        one call per path of a multipath request, ``path=[]`` for a path-free one); the swapping
        policy serves it. ``gate`` confines its link generation to time slots (see
        :class:`qplane.requests.Session`)."""
        session = Session(handle, list(path if path is not None else (handle.path or [])), allocation, gate=gate)
        self.claim(session)
        handle.sessions.append(session)
        handle.session = session
        if handle.waiting_since is not None:
            handle.queued_s += self.now - handle.waiting_since
            handle.waiting_since = None
        handle.status = RequestStatus.ACTIVE
        if handle.served_from is None:
            handle.served_from = self.now
        handle.protocols["swapping"].serve(session)
        return session

    def claim(self, session: Session) -> None:
        """Register ``session`` as holding the memories of its allocation (they become its own).
        :meth:`start_session` calls it; a plugin holding memories for no single request (a
        link-level pool) calls it for its own session, and :meth:`release_session` to let go."""
        self._sessions[session] = None
        for hop in session.allocation:
            for pair in hop:
                for m in pair:
                    self.set_owner(m, session)

    def set_owner(self, m: Memory, owner: Session | None) -> None:
        """Give ``m`` to ``owner`` (None: free). Every change of a memory's owner goes through
        here, so the inventory's reserved memory-seconds are integrated exactly, at no cost
        per simulation event."""
        if (m.owner is None) != (owner is None):
            now = self.env.now
            r = self._reserved.get(m.node)
            if r is None:
                r = self._reserved[m.node] = [0, 0.0, now, 0]
            r[1] += r[0] * (now - r[2])
            r[2] = now
            r[0] += 1 if owner is not None else -1
            if r[0] > r[3]:
                r[3] = r[0]
        m.owner = owner

    def preempt(self, handle: RequestHandle, cause: str = "preempted") -> None:
        """Take an active request's memories back; it stays routed and waiting (the scheduler
        re-queues it). Its sessions end; the pairs they stored are lost and counted under
        ``losses[cause]``; pairs already delivered stay delivered."""
        lost = 0
        for session in list(handle.sessions):
            session.active = False
            lost += sum(m.qubit is not None for hop in session.allocation for pair in hop for m in pair) // 2
            self.release_session(session)
        if lost:
            handle.losses[cause] = handle.losses.get(cause, 0) + lost
        handle.session = None
        handle.preemptions += 1
        if not handle.done:
            handle.status = RequestStatus.WAITING
            handle.waiting_since = self.now

    def deliver(self, session: Session, pair: DeliveredPair) -> None:
        """Called by the swapping policy when both end nodes hold a pair and know its frame."""
        handle = session.handle
        handle.delivered.append(pair)
        keep = handle.protocols["application"].on_pair(handle, pair)
        if not keep:
            self.free_memory(pair.src_memory)
            self.free_memory(pair.dst_memory)
        if self._pair_hook_wanted:
            self.hook.qplane_pair_delivered(sim=self, request=handle, pair=pair)
        req = handle.request
        if req.pairs is not None and len(handle.delivered) >= req.pairs:
            self.finish(handle, RequestStatus.COMPLETED, f"{req.pairs} pairs delivered")

    def free_memory(self, m: Memory | None) -> None:
        """Discard what ``m`` holds; if its session is still active, hand it back to it."""
        if m is None:
            return
        self.network.nodes[m.node].device.release(m, self.now)
        owner = m.owner
        if owner is not None and owner.active and owner.state is not None:
            owner.state.memory_freed(m)

    def release_session(self, session: Session) -> None:
        """Free every memory of a finished (or preempted) session (used by schedulers). A
        memory of its allocation that another session owns is left alone: that would be a
        double booking, which :meth:`memory_violations` reports."""
        session.active = False
        if session not in self._sessions:
            return  # released already
        del self._sessions[session]
        now = self.now
        nodes = self.network.nodes
        for hop in session.allocation:
            for pair in hop:
                for m in pair:
                    if m.owner is session:
                        nodes[m.node].device.release(m, now)
                        self.set_owner(m, None)
        handle = session.handle
        if handle is not None and session in handle.sessions:
            handle.sessions.remove(session)
        on_release = getattr(session.state, "on_release", None)
        if on_release is not None:
            on_release()

    # ---------------------------------------------------------------- the inventory

    def memory_violations(self, final: bool = False) -> list[str]:
        """Breaches of the memory inventory's invariants (empty when it is sound):

        * every memory with an owner belongs to the allocation of that owner, an active session
          holding memories (none is leaked to a finished session);
        * no memory is in the allocations of two sessions (none is double-booked);
        * every memory that holds a qubit has an owner (no stray qubit);
        * with ``final=True`` (after the run): no memory has an owner, a qubit or a pair record.

        Tests call :meth:`check_memory_invariants` after every run and may call it during one."""
        problems: list[str] = []
        holder: dict[Memory, Session] = {}

        def who(session: Any) -> str:
            h = getattr(session, "handle", None)
            return f"request {h.id}" if h is not None else repr(getattr(session, "state", None) or session)

        for session in self._sessions:
            if not session.active:
                problems.append(f"{who(session)}: a finished session still holds memories")
            for hop in session.allocation:
                for pair in hop:
                    for m in pair:
                        other = holder.get(m)
                        if other is not None:
                            problems.append(f"{m.label} is in the allocations of {who(other)} and {who(session)}")
                        holder[m] = session
                        if m.owner is not session:
                            problems.append(f"{m.label} is in the allocation of {who(session)} but owned by "
                                            f"{who(m.owner) if m.owner is not None else 'nobody'}")
        for node in self.network.nodes.values():
            for m in node.device.all_memories():
                if m.owner is not None and holder.get(m) is not m.owner:
                    problems.append(f"{m.label} is owned by {who(m.owner)}, which does not hold it (leaked)")
                if m.qubit is not None and m.owner is None:
                    problems.append(f"{m.label} holds a qubit but no session owns it (leaked)")
                if final and (m.owner is not None or m.qubit is not None or m.record is not None):
                    problems.append(f"{m.label} is not free after the run (owner {who(m.owner) if m.owner else None}, "
                                    f"qubit {m.qubit is not None}, record {m.record is not None})")
        return problems

    def check_memory_invariants(self, final: bool = False) -> None:
        """Raise :class:`AssertionError` listing every breach of :meth:`memory_violations`."""
        problems = self.memory_violations(final)
        if problems:
            shown = problems[:20] + ([f"... and {len(problems) - 20} more"] if len(problems) > 20 else [])
            raise AssertionError("memory inventory broken at t=%.9g s:\n  " % self.now + "\n  ".join(shown))

    def sample_occupancy(self, interval: float) -> None:
        """Sample every ``interval`` simulated seconds how many memories of each node hold a qubit;
        the results then give per-node ``occupied_mean`` / ``occupied_peak`` and a network-wide
        ``memory_timeline``. Off by default: it costs one event per sample and a scan of every
        memory. (Reserved memories are integrated exactly whether or not this is on.)"""
        if self._occupancy is not None or interval <= 0:
            return
        names = list(self.network.nodes)
        occ: dict[str, Any] = {"interval": interval, "samples": 0, "sum": dict.fromkeys(names, 0),
                               "peak": dict.fromkeys(names, 0), "timeline": []}
        self._occupancy = occ
        total = sum(len(self.network.nodes[n].device.all_memories()) for n in names) or 1

        def sample() -> None:
            occupied_all = 0
            for name in names:
                k = sum(m.qubit is not None for m in self.network.nodes[name].device.all_memories())
                occ["sum"][name] += k
                if k > occ["peak"][name]:
                    occ["peak"][name] = k
                occupied_all += k
            occ["samples"] += 1
            reserved_all = sum(r[0] for r in self._reserved.values())
            occ["timeline"].append([self.env.now, reserved_all / total, occupied_all / total])
            self.env.call_at(interval, sample)

        self.env.call_at(0.0, sample)

    def memory_utilisation(self) -> list[dict[str, Any]]:
        """Per node: its memories, the time-averaged and peak fractions reserved (exact) and
        holding a qubit (sampled; None unless :meth:`sample_occupancy` was on)."""
        now = self.env.now
        occ = self._occupancy
        out = []
        for name, node in self.network.nodes.items():
            total = len(node.device.all_memories())
            r = self._reserved.get(name, [0, 0.0, now, 0])
            area = r[1] + r[0] * (now - r[2])
            out.append({
                "name": name,
                "memories": total,
                "reserved_mean": area / (now * total) if now > 0 and total else 0.0,
                "reserved_peak": r[3] / total if total else 0.0,
                "occupied_mean": (occ["sum"][name] / (occ["samples"] * total)) if occ and occ["samples"] and total else None,
                "occupied_peak": (occ["peak"][name] / total) if occ and total else None,
            })
        return out

    def finish(self, handle: RequestHandle, status: RequestStatus, reason: str = "") -> None:
        if handle.done:
            return
        handle.status = status
        handle.reason = reason
        handle.finished_at = self.now
        if handle.waiting_since is not None:
            handle.queued_s += self.now - handle.waiting_since
            handle.waiting_since = None
        if handle.sessions or handle.session is not None:
            for session in handle.sessions:
                session.active = False
            if handle.session is not None:
                handle.session.active = False
            self.scheduler.release(handle)
        self.hook.qplane_request_finished(sim=self, request=handle)
        self._done += 1
        if self._done == len(self.handles) and not self._all_done.triggered:
            self._all_done.succeed()

    # ---------------------------------------------------------------- estimates

    def best_case_fidelity(self, path: list[str], purification: Any = None) -> float:
        """The network's estimate of the best fidelity a pair over ``path`` can have: link
        pairs as heralded (with storage noise during the herald wait), swapped with each
        repeater's gate errors, no other waiting; improved by the purification protocol's own
        ``best_case`` when it has one."""
        improve = getattr(purification, "best_case", None)
        v: list[float] | None = None
        for i, (u, w) in enumerate(zip(path, path[1:])):
            link = self.network.link(u, w)
            lv = physics.to_pauli_order(link.model.pair_state)
            for node in (u, w):
                noise = self.network.nodes[node].device.memory_model
                lv = physics.pauli_channel(lv, noise.pauli_probs(link.model.herald_delay))
            if improve is not None:
                lv = improve(lv, "link")
            if v is None:
                v = lv
            else:
                v = physics.swap_pauli_order(v, lv)
                gate_error = self.network.nodes[u].device.operations.gate_error
                if gate_error:
                    v = physics.two_qubit_depolarize(v, gate_error)
        if v is not None and improve is not None:
            v = improve(v, "end-to-end")
        return v[0] if v is not None else 0.0

    # ---------------------------------------------------------------- running

    def run(self) -> dict[str, Any]:
        """Play the scenario and return the results dictionary.

        An exception a plugin raises during the run (a protocol, a hook, a backend) becomes one
        :class:`PluginError` line naming the plugin, the simulated time and the original error,
        chained to it (``--debug`` shows the traceback): the plugin is the one owning the
        deepest traceback frame in a plugin's code (:meth:`Registry.plugin_at_fault`). Errors
        qplane raises on purpose, and faults with no plugin code on the traceback, pass as they are."""
        try:
            return self._run()
        except QPlaneError:
            raise
        except Exception as e:
            culprit = self.registry.plugin_at_fault(e)
            if culprit is None:
                raise
            plugin, where = culprit
            message = " | ".join(line.strip() for line in str(e).strip().splitlines() if line.strip())
            error = PluginError(
                f"plugin {plugin!r} failed during the run at t={self.env.now:.9g} s: "
                f"{type(e).__name__}{': ' + message if message else ''} ({where})"
            )
            error.plugin, error.time, error.where = plugin, self.env.now, where  # type: ignore[attr-defined]
            raise error from e

    def _run(self) -> dict[str, Any]:
        env = self.env
        t0 = time.perf_counter()
        self.hook.qplane_simulation_start(sim=self)
        self._running = True
        self._schedule_failures()
        self.topology_manager.start()
        for handle in self.handles:
            env.call_at(handle.request.start, self._arrive, handle)
        duration = self.scenario.duration
        with _quiet_gc():
            env.run_until(duration, stop=self._all_done if self.handles else None)
        for handle in self.handles:
            if handle.done:
                continue
            req = handle.request
            if handle.status == RequestStatus.PENDING:
                self.finish(handle, RequestStatus.TIMED_OUT, f"run ended at {env.now:g} s before the request's start {req.start:g} s")
            elif req.rate is not None:
                self._finish_rate(handle)
            else:
                self.finish(handle, RequestStatus.TIMED_OUT, f"run ended at {env.now:g} s with {len(handle.delivered)}/{req.pairs} pairs")
        self._running = False
        self.hook.qplane_simulation_end(sim=self)
        self._wall = time.perf_counter() - t0
        results = self.results()
        self.hook.qplane_results_assembled(sim=self, results=results)
        return results

    def results(self) -> dict[str, Any]:
        sc = self.scenario
        links = [
            LinkResult(
                a=l.a,
                b=l.b,
                length_km=l.length_km,
                scheme=l.scheme,
                success_probability=l.model.success_probability,
                cycle_time_s=l.model.cycle_time,
                attempts=l.stats.attempts,
                pairs_generated=l.stats.pairs_generated,
            )
            for l in self.network.links.values()
        ]
        used_plugins = sorted({r.component.plugin for r in self.resolved.values()})
        infos = getattr(self.registry.pm, "qplane_load_report", None)
        versions = {p: (infos.plugins[p].version if infos and p in infos.plugins else None) for p in used_plugins}
        res = Results(
            schema=SCHEMA,
            name=sc.name,
            scenario=sc.model_dump(mode="json"),
            seed=sc.seed,
            backend=self.resolved["backend"].component.name,
            sim_time_s=self.env.now,
            wall_time_s=self._wall,
            events=self.env.events_processed,
            classical_messages=self.network.messages_sent,
            requests=[summarize(h, self.env.now) for h in self.handles],
            links=links,
            nodes=self.memory_utilisation(),
            memory_timeline=self._occupancy["timeline"] if self._occupancy else [],
            topology={
                "manager": self.resolved["topology_manager"].component.name,
                "failures": self.failures_injected,
                "reroutes": sum(h.reroutes for h in self.handles),
                "requests_failed": sum(h.status == RequestStatus.FAILED for h in self.handles),
                **self.topology_manager.metrics(),
            },
            plugins=versions,
        )
        return res.model_dump(mode="json", by_alias=True)


_gc_lock = threading.Lock()
_gc_users = 0
_gc_saved: tuple[int, int, int] | None = None


@contextlib.contextmanager
def _quiet_gc() -> Any:
    """Run with the objects built so far frozen out of the cyclic collector and a larger
    young-generation threshold: a large network keeps hundreds of thousands of live objects,
    and re-scanning them on every collection made the cost per event grow with the network.
    Garbage made during the run is still collected. The setting is process-wide: the first
    run to enter applies it, the last to leave restores it (runs may share a process and run
    in threads, as the northbound service's twins do)."""
    global _gc_users, _gc_saved
    with _gc_lock:
        if _gc_users == 0:
            _gc_saved = threshold = gc.get_threshold()
            gc.freeze()
            gc.set_threshold(max(threshold[0], 100_000), max(threshold[1], 50), max(threshold[2], 100))
        _gc_users += 1
    try:
        yield
    finally:
        with _gc_lock:
            _gc_users -= 1
            if _gc_users == 0 and _gc_saved is not None:
                gc.set_threshold(*_gc_saved)
                gc.unfreeze()


def build(scenario: Scenario, registry: Registry | None = None) -> Simulation:
    """Resolve and validate every component of ``scenario``; nothing runs yet."""
    return Simulation(scenario, registry if registry is not None else Registry()).build()


def run(
    scenario: Scenario | str | Path | dict[str, Any],
    registry: Registry | None = None,
    **load_kwargs: Any,
) -> dict[str, Any]:
    """Load (if needed), build and run a scenario; returns the results dictionary."""
    if not isinstance(scenario, Scenario):
        scenario = load_scenario(scenario, **load_kwargs)
    return build(scenario, registry).run()
