"""Topology managers: how the controller comes to know the network, and its failures.

* ``oracle`` — the controller knows the ground truth at every instant (no discovery, zero
  detection latency): the reference a real manager is measured against.
* ``lldp`` — a topology manager that learns only from classical messages:

  - **discovery**: at start every node sends a hello over each of its links (it carries the
    link's hardware description, like LLDP's TLVs); a node reports its neighbour table to the
    controller ``hello_wait`` seconds after start (hellos over links longer than
    ``hello_wait * c`` arrive too late and are missed — choose it above the longest link
    delay). The controller's view holds what the reports said; it is ready once every node it
    has heard of has reported, and routing waits for that. ``discovery_converged_s`` is that
    time; ``discovery_complete`` says whether the view equals the ground truth;
  - **probing** (``probe_pairs > 0``): a QPing-like probe on every link makes that many
    sacrificial pairs, counts the attempts (success-rate estimate ``n / attempts``) and
    measures each pair in a random Pauli basis (X, Y or Z on both qubits); the fidelity
    estimate is ``(1 + <XX> - <YY> + <ZZ>) / 4``. The measurement outcomes are sampled from the
    pair's Bell-diagonal state, which gives exactly the statistics such measurements have.
    The view's link costs then come from the estimates, not the configured values;
  - **failure detection**: neighbours exchange heartbeats every ``heartbeat_interval``
    seconds (sent at multiples of it); a heartbeat is lost when its link is not working when it
    would arrive; after ``misses`` consecutive losses the node declares the link down and tells
    the controller. Detection therefore happens at ``(k1 + misses - 1) * interval + d`` for the
    first lost heartbeat ``k1``, plus the report's delay to the controller. The model computes
    that time instead of scheduling every heartbeat (the same timing, one event per failure);
    recovery is noticed with the first heartbeat after it. A node failure shows as all its
    links down; the controller declares the node down when all of them are.

Reports travel to the controller over the shortest fibre route; a failure on that route is not
modelled (nor a failure of the controller's own node).
"""

from __future__ import annotations

import math
from typing import Any

import networkx as nx
from pydantic import BaseModel, ConfigDict, Field

import qplane_physics as physics
from qplane.context import TRACE, Context


class NoParams(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


def _view_edge(g: nx.Graph, a: str, b: str, length_km: float, model: Any) -> None:
    p = model.success_probability
    g.add_edge(a, b, length_km=length_km, link=model,
               expected_pair_time=((1.0 / p - 1.0) * model.cycle_time + model.herald_delay) if p > 0 else math.inf)


class _Latencies:
    def __init__(self) -> None:
        self.detections: list[dict[str, Any]] = []
        self.recoveries: list[dict[str, Any]] = []
        self.additions: list[dict[str, Any]] = []  # links added at run time, as the controller learned them

    def metrics(self) -> dict[str, Any]:
        det = [d["latency_s"] for d in self.detections]
        rec = [d["latency_s"] for d in self.recoveries]
        return {
            "detections": len(det),
            "detection_latency_mean_s": (sum(det) / len(det)) if det else None,
            "detection_latency_max_s": max(det) if det else None,
            "recovery_latency_mean_s": (sum(rec) / len(rec)) if rec else None,
            "events": self.detections + self.recoveries,
            **({"additions": self.additions} if self.additions else {}),
        }


class OracleManager:
    """The controller knows the ground truth at once."""

    def __init__(self, params: NoParams, context: Context):
        self.ctx = context
        self.lat = _Latencies()
        self.trace = context.services.get(TRACE)  # the protocol-event tracer, None when off
        self.down: set[Any] = set()  # elements reported down (an "up" for another: added or changed)

    def start(self) -> None:
        pass

    def ready(self) -> bool:
        return True

    def view(self) -> nx.Graph:
        return self.ctx.network.truth_view()

    def physical_change(self, kind: str, name: Any, up: bool) -> None:
        key = (kind, frozenset(name) if kind == "link" else name)
        if up and key not in self.down:  # added at run time, or its hardware changed: no recovery
            self.ctx.controller.learned(kind, name, True)
            return
        (self.down.discard if up else self.down.add)(key)
        entry = {"kind": kind, "name": list(name) if kind == "link" else name, "up": up,
                 "at_s": self.ctx.clock.now, "learned_s": self.ctx.clock.now, "latency_s": 0.0}
        (self.lat.recoveries if up else self.lat.detections).append(entry)
        if self.trace is not None:
            self.trace("detection", element=kind, nodes=list(name) if kind == "link" else [name], up=up, latency=0.0)
        self.ctx.controller.learned(kind, name, up)

    def metrics(self) -> dict[str, Any]:
        return self.lat.metrics()


class LldpParams(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    controller: str | None = Field(None, description="node hosting the controller (default: a centre of the graph)")
    hello_wait: float = Field(1e-3, gt=0.0, allow_inf_nan=False, description="seconds a node listens for hellos before reporting")
    heartbeat_interval: float = Field(1e-2, gt=0.0, allow_inf_nan=False, description="seconds between heartbeats on a link")
    misses: int = Field(3, ge=1, description="consecutive lost heartbeats before a link is declared down")
    probe_pairs: int = Field(0, ge=0, description="sacrificial pairs per link for the QPing-like probe (0: no probe)")


class EstimatedLink:
    """A link as the controller knows it after probing: measured success probability and
    fidelity (Werner), the hardware's declared cycle and herald delay."""

    def __init__(self, model: Any, p_est: float, f_est: float):
        self.length_km = model.length_km
        self.success_probability = p_est
        self.cycle_time = model.cycle_time
        self.herald_delay = model.herald_delay
        self.pair_state = physics.werner(f_est)
        self.declared = model


class LldpManager:
    """Discovery by hellos, QPing-like probes, heartbeat failure detection (see the module)."""

    def __init__(self, params: LldpParams, context: Context):
        self.params = params
        self.ctx = context
        net = context.network
        if params.controller is not None and params.controller not in net.nodes:
            from qplane.errors import ScenarioError

            raise ScenarioError(f"node {params.controller!r} is not in the topology",
                                field="protocols.topology_manager.controller")
        self.controller = params.controller or min(nx.center(net.graph))
        self.graph = nx.Graph()  # the controller's view
        self.reported: set[str] = set()
        self.known: set[str] = set()
        self._ready = False
        self.converged_at: float | None = None
        self.lat = _Latencies()
        self.trace = context.services.get(TRACE)  # the protocol-event tracer, None when off
        self.believed_down: set[Any] = set()  # links (frozenset) the controller thinks are down
        self.node_believed_down: set[str] = set()
        self._pending: dict[Any, int] = {}  # element -> failure token (detection still valid?)
        self.probes: dict[str, dict[str, float]] = {}
        self.estimates: dict[frozenset[str], EstimatedLink] = {}
        self.messages = 0
        self._view: nx.Graph | None = None

    # discovery -----------------------------------------------------------------------------
    def start(self) -> None:
        ctx, net = self.ctx, self.ctx.network
        self.tables: dict[str, dict[str, Any]] = {n: {} for n in net.nodes}
        for link in net.links.values():
            for src, dst in ((link.a, link.b), (link.b, link.a)):
                if link.operational:
                    self.messages += 1
                    net.send(link.length_km / net.speed, self._hello, src, dst, link)
        for n in net.nodes:
            ctx.clock.call_at(self.params.hello_wait, self._report_table, n)

    def _hello(self, src: str, dst: str, link: Any) -> None:
        if self.ctx.clock.now <= self.params.hello_wait:
            self.tables[dst][src] = link

    def _report_table(self, node: str) -> None:
        net = self.ctx.network
        if not net.nodes[node].up:
            return
        table = dict(self.tables[node])
        self.messages += 1
        net.send(net.classical_delay(node, self.controller), self._table_arrives, node, table)

    def _table_arrives(self, node: str, table: dict[str, Any]) -> None:
        self._view = None
        self.reported.add(node)
        self.known.add(node)
        self.graph.add_node(node)
        for nbr, link in table.items():
            self.known.add(nbr)
            self.graph.add_node(nbr)
            if not self.graph.has_edge(node, nbr):
                _view_edge(self.graph, node, nbr, link.length_km, link.model)
        if not self._ready and self.known <= self.reported:
            if self.params.probe_pairs:
                self._probe_all()
            else:
                self._converged()

    def _converged(self) -> None:
        self._ready = True
        self.converged_at = self.ctx.clock.now
        self.ctx.controller.view_ready()

    # probing --------------------------------------------------------------------------------
    def _probe_all(self) -> None:
        """Each link probes with sacrificial pairs, then reports to the controller."""
        self._probes_left = self.graph.number_of_edges()
        for a, b in list(self.graph.edges):
            self._probe_link(self.ctx.network.link(a, b), initial=True)

    def _probe_link(self, link: Any, initial: bool) -> None:
        """Probe one link (its own stream: later probes go on drawing from it) and report."""
        net, n = self.ctx.network, self.params.probe_pairs
        rng = self.ctx.clock.stream(f"probe:{link.a}-{link.b}")
        p_est, f_est, duration = self._probe(link, n, rng)
        self.probes[f"{link.a}-{link.b}"] = {"success_probability": p_est, "fidelity": f_est, "pairs": n}
        self.messages += 1
        net.send(duration + net.classical_delay(link.a, self.controller), self._probe_arrives, link, p_est, f_est,
                 initial)

    def _probe(self, link: Any, n: int, rng: Any) -> tuple[float, float, float]:
        """``n`` sacrificial pairs on one memory pair: attempts are geometric; each pair is
        measured in a random Pauli basis right after its herald (storage for the herald wait)."""
        model = link.model
        p = model.success_probability
        nodes = self.ctx.network.nodes
        v = physics.to_pauli_order(model.pair_state)
        for end in (link.a, link.b):
            v = physics.pauli_channel(v, nodes[end].device.memory_model.pauli_probs(model.herald_delay))
        attempts, f_est = physics.pauli_probe(v, p, n, rng)  # random Pauli bases, outcomes sampled from v
        duration = (attempts - n) * model.cycle_time + n * max(model.cycle_time, model.herald_delay)
        return n / attempts, f_est, duration

    def _probe_arrives(self, link: Any, p_est: float, f_est: float, initial: bool = True) -> None:
        self._view = None
        est = EstimatedLink(link.model, p_est, f_est)
        self.estimates[frozenset((link.a, link.b))] = est
        if self.graph.has_edge(link.a, link.b):
            _view_edge(self.graph, link.a, link.b, link.length_km, est)
        if not initial:  # a link added or changed at run time: waiting requests see the new costs
            self.ctx.controller.learned("link", (link.a, link.b), True)
            return
        self._probes_left -= 1
        if self._probes_left == 0 and not self._ready:
            self._converged()

    # run-time additions and changes ------------------------------------------------------------
    def _added_or_changed(self, link: Any) -> None:
        """A working link the controller does not believe down came "up": added at run time
        (discovered by hellos over it and its ends' reports) or its hardware changed (the
        controller, which made the change, refreshes it, re-probing when it probes)."""
        net = self.ctx.network
        if not self.graph.has_edge(link.a, link.b):
            if self.ctx.clock.now < self.params.hello_wait:
                return  # initial discovery still listening: hellos sent at start cover it
            for src, dst in ((link.a, link.b), (link.b, link.a)):
                self.messages += 1
                net.send(link.length_km / net.speed, self._late_hello, src, dst, link, self.ctx.clock.now)
        elif frozenset((link.a, link.b)) in self.estimates:
            self._probe_link(link, initial=False)
        else:
            self._view = None
            _view_edge(self.graph, link.a, link.b, link.length_km, link.model)
            self.ctx.controller.learned("link", (link.a, link.b), True)

    def _late_hello(self, src: str, dst: str, link: Any, at: float) -> None:
        """A hello over a link added at run time: ``dst`` reports its new neighbour at once."""
        net = self.ctx.network
        if not link.operational:
            return  # lost; the link is found when it works and changes again
        self.tables.setdefault(dst, {})[src] = link
        self.messages += 1
        net.send(net.classical_delay(dst, self.controller), self._link_reported, link, at)

    def _link_reported(self, link: Any, at: float) -> None:
        if self.graph.has_edge(link.a, link.b) or not link.operational:
            return  # the other end's report came first, or the link failed meanwhile
        self._view = None
        self.known.update((link.a, link.b))
        self.reported.update((link.a, link.b))
        _view_edge(self.graph, link.a, link.b, link.length_km, link.model)
        self.lat.additions.append({"link": sorted((link.a, link.b)), "at_s": at, "learned_s": self.ctx.clock.now,
                                   "latency_s": self.ctx.clock.now - at})
        if self.trace is not None:
            self.trace("detection", element="link", nodes=[link.a, link.b], up=True, latency=self.ctx.clock.now - at)
        if self.params.probe_pairs:
            self._probe_link(link, initial=False)  # the controller learns it with its estimate
        else:
            self.ctx.controller.learned("link", (link.a, link.b), True)

    # the view -------------------------------------------------------------------------------
    def ready(self) -> bool:
        return self._ready

    def view(self) -> nx.Graph:
        """The controller's view (cached until the controller learns something new; shared:
        callers must not modify it)."""
        if self._view is None:
            g = self.graph.copy()
            g.remove_edges_from([tuple(k) for k in self.believed_down if len(k) == 2 and g.has_edge(*tuple(k))])
            g.remove_nodes_from([n for n in self.node_believed_down if n in g])
            self._view = g
        return self._view

    # failure detection -------------------------------------------------------------------------
    def physical_change(self, kind: str, name: Any, up: bool) -> None:
        net = self.ctx.network
        links = [net.link(*name)] if kind == "link" else [net.link(name, nbr) for nbr in net.graph[name]]
        for link in links:
            key = frozenset((link.a, link.b))
            if up and link.operational and key not in self.believed_down and key not in self._pending:
                self._added_or_changed(link)
                continue
            if not link.operational and key not in self._pending and key not in self.believed_down:
                self._schedule_detection(link, key, kind, name)
            elif link.operational:
                self._pending.pop(key, None)  # a failure shorter than the detection is never noticed
                if key in self.believed_down:
                    self._schedule_recovery(link, key)

    def _schedule_detection(self, link: Any, key: frozenset[str], kind: str, name: Any) -> None:
        net, now = self.ctx.network, self.ctx.clock.now
        interval, d = self.params.heartbeat_interval, link.length_km / net.speed
        k1 = math.floor((now - d) / interval) + 1  # first heartbeat that arrives after the failure
        detect = (k1 + self.params.misses - 1) * interval + d
        report = min(detect + net.classical_delay(end, self.controller) for end in (link.a, link.b)
                     if net.nodes[end].up)
        token = self._pending[key] = self._pending.get(key, 0) + 1
        what = {"kind": kind, "name": list(name) if kind == "link" else name, "at_s": now}
        self.ctx.clock.call_at(max(0.0, report - now), self._detected, link, key, token, what)

    def _detected(self, link: Any, key: frozenset[str], token: int, what: dict[str, Any]) -> None:
        self._view = None
        if self._pending.get(key) != token or link.operational:
            return
        del self._pending[key]
        now = self.ctx.clock.now
        self.believed_down.add(key)
        self.lat.detections.append({**what, "link": sorted(key), "learned_s": now, "latency_s": now - what["at_s"]})
        if self.trace is not None:
            self.trace("detection", element="link", nodes=[link.a, link.b], up=False, latency=now - what["at_s"])
        self.ctx.controller.learned("link", (link.a, link.b), False)
        for end in (link.a, link.b):  # all of a node's links down: the node is down
            nbrs = list(self.ctx.network.graph[end])
            if end not in self.node_believed_down and all(frozenset((end, n)) in self.believed_down for n in nbrs):
                self.node_believed_down.add(end)
                if self.trace is not None:
                    self.trace("detection", element="node", nodes=[end], up=False, latency=now - what["at_s"])
                self.ctx.controller.learned("node", end, False)

    def _schedule_recovery(self, link: Any, key: frozenset[str]) -> None:
        net, now = self.ctx.network, self.ctx.clock.now
        interval, d = self.params.heartbeat_interval, link.length_km / net.speed
        first = math.ceil(now / interval) * interval + d  # the first heartbeat sent after the repair
        report = min(first + net.classical_delay(end, self.controller) for end in (link.a, link.b))
        self.ctx.clock.call_at(report - now, self._recovered, link, key, now)

    def _recovered(self, link: Any, key: frozenset[str], at: float) -> None:
        self._view = None
        if not link.operational or key not in self.believed_down:
            return
        self.believed_down.discard(key)
        now = self.ctx.clock.now
        self.lat.recoveries.append({"link": sorted(key), "at_s": at, "learned_s": now, "latency_s": now - at})
        for end in (link.a, link.b):
            if end in self.node_believed_down:
                self.node_believed_down.discard(end)
                if self.trace is not None:
                    self.trace("detection", element="node", nodes=[end], up=True, latency=now - at)
                self.ctx.controller.learned("node", end, True)
        if self.trace is not None:
            self.trace("detection", element="link", nodes=[link.a, link.b], up=True, latency=now - at)
        self.ctx.controller.learned("link", (link.a, link.b), True)

    def metrics(self) -> dict[str, Any]:
        net = self.ctx.network
        truth = {frozenset(k) for k in net.links}
        seen = {frozenset(e) for e in self.graph.edges}
        return {
            "controller": self.controller,
            "discovery_converged_s": self.converged_at,
            "discovery_complete": seen == truth and set(self.graph.nodes) == set(net.nodes),
            "control_messages": self.messages,
            "heartbeats": int(2 * len(net.links) * self.ctx.clock.now / self.params.heartbeat_interval),
            "probes": self.probes,
            **self.lat.metrics(),
        }
