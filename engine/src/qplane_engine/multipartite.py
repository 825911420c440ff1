"""Multipartite requests: GHZ states shared by three or more parties, fused at a hub.

A request with ``parties`` is served by a hub node. The hub is the node whose slowest path to
a party is the fastest (the largest expected pair time, ``(1/p - 1)`` cycles plus the herald
delay per link summed along the shortest such path, is the smallest; ties go to the smaller
sum, then to the node's name): a GHZ state waits for its slowest pair, so that is the time to
minimise. A router may choose otherwise by offering ``hub(graph, parties, request) -> str``.
Candidates are every node up in the controller's view (the parties only beyond 500 nodes).

From the hub, one *leg* per party (the hub itself excepted when it is a party) is an ordinary
pair request ``hub -> party``, routed by the request's router and served with its scheduler,
swapping, purification and cutoff policies; its pairs are kept, not delivered. When every leg
holds a pair, the hub fuses them (:func:`qplane_engine.ghz.fuse_ghz`: a GHZ measurement on its
qubits), the outcomes travel to the parties over the classical channel, each party applies its
Pauli correction when its message arrives, and the state is delivered when the last one has:
its fidelity with the n-party GHZ state is the backend's; the estimate beside it is the closed
form for the legs' best-case Werner parameters (:func:`qplane_physics.ghz_fidelity_per_qubit`). Legs are internal: they
appear in no list of requests and fire no request hook; a leg that fails fails its request,
with the leg named in the reason.
"""

from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING, Any

import networkx as nx

from qplane.requests import DeliveredPair, EntanglementRequest, RequestHandle, RequestStatus
import qplane_physics as physics

from .ghz import fuse_ghz
from .trace import PAIR_IDS

if TYPE_CHECKING:
    from .sim import Simulation

#: a leg asks for pairs until its request ends
_UNENDING = 2**31 - 1


class Leg:
    """One hub-to-party pair request of a multipartite request, and the pairs it holds."""

    __slots__ = ("service", "parent", "party", "handle", "held", "ids")

    def __init__(self, service: "Multipartite", parent: RequestHandle, party: str, handle: RequestHandle):
        self.service, self.parent, self.party, self.handle = service, parent, party, handle
        self.held: deque[DeliveredPair] = deque()  # pairs delivered to the hub's collector, oldest first
        self.ids: deque[Any] = deque()  # traced runs: the trace's ids of the held pairs, in step

    def on_pair(self, handle: RequestHandle, pair: DeliveredPair) -> bool:  # the leg's application
        self.held.append(pair)
        if self.service.trace is not None:  # its delivery event was the last one
            self.ids.append(self.service.trace.last_delivery)
        self.service.fuse_when_ready(self)
        return True  # kept: the fusion frees its memories


class Multipartite:
    """The multipartite requests of one run (see the module)."""

    #: the run's protocol-event tracer (:mod:`qplane_engine.trace`) when traced: each leg's
    #: pairs are traced by its swapping policy (request: the leg's id); the engine traces the
    #: ``fusion`` (consuming the legs' pair ids, making the state's id), the state's
    #: ``delivery`` and the ``discard`` of held pairs and states
    trace: Any = None

    def __init__(self, sim: "Simulation"):
        self._sim = sim
        self.hubs: dict[int, str] = {}  # request id -> its hub
        self.legs: dict[int, list[Leg]] = {}  # request id -> its legs
        self._leg_of: dict[int, Leg] = {}  # id(leg handle) -> leg

    # ---------------------------------------------------------------- routing and legs

    def start(self, handle: RequestHandle) -> None:
        """Choose the hub and start one leg per party (in place of routing a pair request)."""
        life, req = self._sim.lifecycle, handle.request
        view = life.annotated_view()
        parties = list(req.parties or ())
        if any(p not in view for p in parties):
            down = ", ".join(p for p in parties if p not in view)
            return life.finish(handle, RequestStatus.NO_PATH, f"party {down} is not reachable")
        router = handle.protocols["router"]
        chooser = getattr(router, "hub", None)
        hub = chooser(view, parties, req) if chooser is not None else self._hub(view, parties)
        if hub is None:
            return life.finish(handle, RequestStatus.NO_PATH, f"no node reaches every party of {', '.join(parties)}")
        self.hubs[handle.id] = hub
        legs = self.legs[handle.id] = []
        for i, party in enumerate(p for p in parties if p != hub):
            leg_req = EntanglementRequest(src=hub, dst=party, pairs=_UNENDING, start=req.start,
                                          priority=req.priority)
            # legs have negative ids (the engine's own: no hook fires for them), and keep no pair list
            leg_handle = RequestHandle(id=-(handle.id * 1000 + i + 1), request=leg_req, keep_delivered=0)
            leg = Leg(self, handle, party, leg_handle)
            leg_handle.protocols = {**handle.protocols, "application": leg}
            leg_handle.protocol_names = dict(handle.protocol_names)
            legs.append(leg)
            self._leg_of[id(leg_handle)] = leg
        for leg in legs:
            if not life.route(leg.handle, RequestStatus.NO_PATH, RequestStatus.NO_PATH, ""):
                return self._leg_failed(leg)
        purification = handle.protocols["purification"]
        best = [self._sim.best_case_fidelity(leg.handle.path, purification) for leg in legs]
        estimate = physics.ghz_fidelity_per_qubit([physics.werner_parameter(f) for f in best])
        if estimate < req.min_fidelity:
            return life.finish(handle, RequestStatus.FIDELITY_UNREACHABLE,
                               f"best-case GHZ fidelity {estimate:.4f} from hub {hub} is below min_fidelity "
                               f"{req.min_fidelity}")
        handle.status = RequestStatus.WAITING
        handle.waiting_since = self._sim.now
        for leg in legs:
            life.internal.append(leg.handle)
            leg.handle.status = RequestStatus.WAITING
            leg.handle.waiting_since = self._sim.now
            life.scheduler.submit(leg.handle)

    def _hub(self, view: nx.Graph, parties: list[str]) -> str | None:
        candidates = list(view.nodes) if view.number_of_nodes() <= 500 else parties
        # one shortest-path tree per party (the view is undirected): a search from every
        # candidate would cost a tree per node of the network
        dist = {p: nx.single_source_dijkstra_path_length(view, p, weight="expected_pair_time") for p in parties}
        best: tuple[float, float, str] | None = None
        for node in candidates:
            times = [dist[p].get(node, float("inf")) for p in parties if p != node]
            key = (max(times), sum(times), str(node))
            if key[0] < float("inf") and (best is None or key < best):
                best = key
        return best[2] if best is not None else None

    # ---------------------------------------------------------------- fusion

    def fuse_when_ready(self, leg: Leg) -> None:
        """A leg's pair was kept: fuse when every leg of its request holds one."""
        if leg.parent.done:
            return
        legs = self.legs[leg.parent.id]
        while all(l.held for l in legs):
            pairs = [l.held.popleft() for l in legs]
            ids = [l.ids.popleft() for l in legs] if self.trace is not None else None
            if all(p.src_memory.qubit is not None and p.dst_memory.qubit is not None for p in pairs):
                self._fuse(leg.parent, legs, pairs, ids)
            else:  # a qubit was lost while it waited (a node failed): the others go too
                for i, p in enumerate(pairs):
                    if ids is not None and p.src_memory.qubit is not None and p.dst_memory.qubit is not None:
                        self.trace("discard", request=leg.parent.id, pair=ids[i],
                                   nodes=[p.src_memory.node, p.dst_memory.node], reason="node_failed")
                    self._free(p.src_memory, p.dst_memory)
                leg.parent.losses["node_failed"] = leg.parent.losses.get("node_failed", 0) + 1

    def _fuse(self, parent: RequestHandle, legs: list[Leg], pairs: list[DeliveredPair], ids: list[Any] | None) -> None:
        sim = self._sim
        hub, now = self.hubs[parent.id], sim.now
        keep_first = hub in (parent.request.parties or ())
        ops = sim.network.nodes[hub].device.operations
        x_flips, z_flip = fuse_ghz(sim.backend, [p.src_memory.qubit for p in pairs], now, keep_first,
                                   ops.gate_error, ops.measurement_error)
        held = ([pairs[0].src_memory] if keep_first else []) + [p.dst_memory for p in pairs]
        by_node = {m.node: m for m in held}
        shares = [by_node[party] for party in parent.request.parties or ()]  # in the order of ``parties``
        for i, p in enumerate(pairs):
            if not (keep_first and i == 0):
                p.src_memory.qubit = None  # measured at the hub
                self._free(p.src_memory)
        ws = [physics.werner_parameter(p.fidelity_estimated) for p in pairs] + ([1.0] if keep_first else [])
        pending = {"left": len(pairs), "oldest": min(p.time - p.latency for p in pairs),
                   "stored": min(p.time - p.age for p in pairs), "estimate": physics.ghz_fidelity_per_qubit(ws)}
        if ids is not None:  # the state gets an id of its own, made of the legs' pairs
            pending["id"] = next(self._sim.services.get(PAIR_IDS))
            self.trace("fusion", request=parent.id, pair=pending["id"], node=hub, consumed=ids,
                       legs=[l.handle.id for l in legs], nodes=[m.node for m in shares],
                       outcomes=[int(x) for x in x_flips] + [int(z_flip)], fidelity_estimated=pending["estimate"])
        instant = sim.scenario.classical.instant
        for i, p in enumerate(pairs):  # to the partner of hub qubit i: its X flip (none for qubit 0,
            # the control), and the Z flip (to the partner of qubit 0)
            delay = 0.0 if instant else sim.network.classical_delay(hub, p.dst_memory.node)
            x, z = (x_flips[i - 1] if i else 0), (z_flip if i == 0 else 0)
            sim.network.send(delay, self._corrected, parent, shares, p.dst_memory, x | z << 1, pending)

    def _corrected(self, parent: RequestHandle, shares: list[Any], memory: Any, pauli: int,
                   pending: dict[str, Any]) -> None:
        sim = self._sim
        if pending.get("dropped") or parent.done:  # ended: its legs' release freed every memory
            return
        if any(m.qubit is None for m in shares):  # a share was lost meanwhile (its node failed)
            pending["dropped"] = True
            if self.trace is not None:
                self.trace("discard", request=parent.id, pair=pending["id"], nodes=[m.node for m in shares],
                           reason="node_failed")
            self._free(*shares)
            return
        sim.backend.apply_pauli(memory.qubit, pauli, sim.now)  # X, Z or both (Y, up to a phase)
        pending["left"] -= 1
        if pending["left"]:
            return
        now = sim.now
        fidelity = sim.backend.ghz_fidelity([m.qubit for m in shares], now)
        state = DeliveredPair(time=now, fidelity=fidelity, fidelity_estimated=pending["estimate"],
                              latency=now - pending["oldest"], age=now - pending["stored"],
                              src_memory=shares[0], dst_memory=shares[-1], memories=tuple(shares))
        if pending["estimate"] < parent.request.min_fidelity:
            if self.trace is not None:
                self.trace("discard", request=parent.id, pair=pending["id"], nodes=[m.node for m in shares],
                           reason="below_min_fidelity", fidelity=fidelity, fidelity_estimated=pending["estimate"])
            parent.discarded += 1
            self._free(*shares)
            return
        if self.trace is not None:
            self.trace("delivery", request=parent.id, pair=pending["id"], nodes=[m.node for m in shares],
                       fidelity=fidelity, fidelity_estimated=pending["estimate"], latency=state.latency)
        sim.lifecycle.deliver_to(parent, state)

    def _free(self, *memories: Any) -> None:
        for m in memories:
            if m is not None:
                self._sim.inventory.free(m)

    # ---------------------------------------------------------------- endings

    def finished(self, handle: RequestHandle) -> bool:
        """A request ended. True for a leg (the engine's own: no hook, no count); its failure
        fails its request. A multipartite request ending stops its legs."""
        leg = self._leg_of.get(id(handle))
        if leg is not None:
            if not leg.parent.done:
                self._leg_failed(leg)
            return True
        for leg in self.legs.get(handle.id, ()) if handle.request.parties else ():
            for i, pair in enumerate(leg.held):
                if self.trace is not None and pair.src_memory.qubit is not None:
                    self.trace("discard", request=handle.id, pair=leg.ids[i],
                               nodes=[pair.src_memory.node, pair.dst_memory.node], reason="released",
                               status=handle.status.value)
                self._free(pair.src_memory, pair.dst_memory)
            leg.held.clear()
            leg.ids.clear()
            self._sim.lifecycle.finish(leg.handle, RequestStatus.CANCELLED, "its GHZ request ended")
            for cause, n in leg.handle.losses.items():
                handle.losses[cause] = handle.losses.get(cause, 0) + n
            handle.reroutes += leg.handle.reroutes
            handle.preemptions += leg.handle.preemptions
        return False

    def _leg_failed(self, leg: Leg) -> None:
        status = leg.handle.status if leg.handle.status.final else RequestStatus.NO_PATH
        self._sim.lifecycle.finish(leg.parent, status, f"pairs {leg.handle.request.src}-{leg.party}: "
                                   f"{leg.handle.reason or status.value}")

    def paths(self, handle: RequestHandle) -> list[list[str]] | None:
        """The paths of a multipartite request's legs (for the results), or None."""
        legs = self.legs.get(handle.id)
        return [list(l.handle.path) for l in legs if l.handle.path] if legs else None
