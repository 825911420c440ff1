"""The runner: builds a network from a validated scenario and runs it on the kernel.

:func:`build` resolves every component by name through the registry and validates its
parameters with the component's own model; :meth:`Simulation.run` plays requests on the
SimPy kernel and returns the results dictionary (:mod:`qplane.results`).

The runner owns request life cycles (arrival, routing, admission, deadlines, final status)
and the memory inventory's release; the protocols that do the work are plugins.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import networkx as nx

from . import physics
from .errors import PluginError, QPlaneError, ScenarioError
from .kernel import Kernel
from .network import Network, Node, QuantumLink
from .northbound import PER_REQUEST_PROTOCOLS, DeliveredPair, EntanglementRequest, RequestHandle, RequestStatus, Session
from .registry import KINDS, BuildContext, Component, Registry
from .results import SCHEMA, LinkResult, Results, summarize
from .scenario import Scenario, load_scenario, scenario_base_dir, scenario_source, split_ref
from .southbound import Memory, Operations, SimulatedDevice


@dataclass
class Resolved:
    """A component chosen by a scenario: its registry entry, validated params and instance."""

    component: Component
    params: Any
    instance: Any = None


class Simulation:
    """One run of one scenario."""

    def __init__(self, scenario: Scenario, registry: Registry):
        self.scenario = scenario
        self.registry = registry
        self.source = scenario_source(scenario)
        self.env = Kernel(scenario.seed)
        self.hook = registry.pm.hook
        self.handles: list[RequestHandle] = []
        self.resolved: dict[str, Resolved] = {}
        self._done = 0
        self._all_done = self.env.event()
        self._wall = 0.0
        self._running = False
        self._pair_hook_wanted = bool(self.hook.qplane_pair_delivered.get_hookimpls())

    # ---------------------------------------------------------------- construction

    def _error(self, message: str, field: str) -> ScenarioError:
        return ScenarioError(message, field=field, source=self.source)

    def _resolve(self, kind: str, ref: Any, field: str, key: str = "name", default: str | None = None) -> Resolved:
        try:
            name, raw = split_ref(ref, key=key, default=default)
            comp = self.registry.get(kind, name, field=field if isinstance(ref, str) else f"{field}.{key}")
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
        ):
            field = {"router": "protocols.routing", "scheduler": "protocols.scheduling"}.get(kind, f"protocols.{kind}")
            res = self._resolve(kind, ref, field, default="age" if kind == "cutoff" else None)
            res.instance = self._instantiate(res) if kind == "router" else self._instantiate(res, self)
            setattr(self, attr, res.instance)
            self.resolved[kind] = res
        self.protocols = {k: self.resolved[k].instance for k in PER_REQUEST_PROTOCOLS.values()}
        for i, handle in enumerate(self.handles):
            self._request_protocols(handle, f"requests.{i}.protocols")
        self._check_capabilities()
        return self

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
        self._request_protocols(handle, "request.protocols")
        self._check_capabilities()
        self.handles.append(handle)
        if self._running:
            self.env.call_at(max(request.start - self.now, 0.0), self._arrive, handle)
        return handle

    def cancel(self, handle: RequestHandle, reason: str = "cancelled by the application") -> None:
        """End a request now; its memories are freed."""
        self.finish(handle, RequestStatus.CANCELLED, reason)

    def set_link_state(self, a: str, b: str, up: bool) -> None:
        """Mark a quantum link up or down and fire ``qplane_link_state_changed``. Routing uses
        only up links; what a failure does to pairs in flight is the topology manager's job."""
        link = self.network.link(a, b)
        if link.up != up:
            link.up = up
            self.hook.qplane_link_state_changed(sim=self, link=link, up=up)

    def set_node_state(self, name: str, up: bool) -> None:
        """Mark a node up or down and fire ``qplane_node_state_changed``."""
        node = self.network.nodes[name]
        if node.up != up:
            node.up = up
            self.hook.qplane_node_state_changed(sim=self, node=node, up=up)

    # ---------------------------------------------------------------- request life cycle

    def _arrive(self, handle: RequestHandle) -> None:
        if handle.done:  # cancelled before its start
            return
        self.hook.qplane_request_submitted(sim=self, request=handle)
        req = handle.request
        if req.end is not None:
            self.env.call_at(req.end - self.now, self._deadline, handle)
        path = handle.protocols["router"].route(self.network.view(), req.src, req.dst, req)
        if not path:
            self.finish(handle, RequestStatus.NO_PATH, f"no path from {req.src} to {req.dst}")
            return
        handle.path = list(path)
        best = self.best_case_fidelity(handle.path, handle.protocols["purification"])
        if best < req.min_fidelity:
            self.finish(
                handle,
                RequestStatus.FIDELITY_UNREACHABLE,
                f"best-case fidelity {best:.4f} over {len(path) - 1} links is below min_fidelity {req.min_fidelity}",
            )
            return
        handle.status = RequestStatus.WAITING
        self.scheduler.submit(handle)

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

    def start_session(self, handle: RequestHandle, allocation: list[list[tuple[Memory, Memory]]]) -> Session:
        """Called by the scheduler: ``handle`` has its memories; the swapping policy serves it."""
        session = Session(handle, list(handle.path or []), allocation)
        for hop in allocation:
            for ma, mb in hop:
                ma.owner = mb.owner = session
        handle.session = session
        handle.status = RequestStatus.ACTIVE
        handle.served_from = self.now
        handle.protocols["swapping"].serve(session)
        return session

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
        """Free every memory of a finished session (used by schedulers)."""
        session.active = False
        now = self.now
        for hop in session.allocation:
            for ma, mb in hop:
                for m in (ma, mb):
                    self.network.nodes[m.node].device.release(m, now)
                    m.owner = None

    def finish(self, handle: RequestHandle, status: RequestStatus, reason: str = "") -> None:
        if handle.done:
            return
        handle.status = status
        handle.reason = reason
        handle.finished_at = self.now
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
        env = self.env
        t0 = time.perf_counter()
        self.hook.qplane_simulation_start(sim=self)
        self._running = True
        for handle in self.handles:
            env.call_at(handle.request.start, self._arrive, handle)
        duration = self.scenario.duration
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
            plugins=versions,
        )
        return res.model_dump(mode="json", by_alias=True)


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
