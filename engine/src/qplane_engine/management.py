"""Changes an operator makes to a running network: hardware models, routability, and nodes and
links added or removed (the management half of :class:`qplane.context.Operator`).

* **Hardware.** :meth:`Management.set_link_model` swaps a link's model: the link generator reads
  ``link.model`` on each attempt and at each herald, so the next attempt has the new physics
  (attempts already scheduled keep their drawn number of attempts). The ground-truth view is
  rebuilt and the topology manager is told (``physical_change(..., up=True)``): the oracle's
  view is the ground truth, and ``lldp`` refreshes the link in its view (re-probing it when it
  probes). :meth:`set_node_model` swaps a node's memory model (qubits stored from then on decay
  with it: a stored qubit keeps the channel it was created with) and its operations (the next
  swap uses them). The number of memories cannot change live.
* **Routability.** :meth:`set_link_routable` takes a link out of the controller's view (the
  view routing uses) without touching its physics; requests using it re-route (or fail with the
  reason), and putting it back lets waiting requests take it again. The northbound service's
  health monitor uses it for links that drift from their model.
* **Additions.** :meth:`add_node` adds a node without links; :meth:`add_link` adds a fibre with
  its memories at both ends (the ends' memory model's ``count``), to the fibre graph (classical
  messages use it from then on) and to the ground truth; the topology manager is told as for a
  repair, and discovers it its own way (``lldp``: hellos over the new fibre and the ends'
  reports to the controller).
* **Removals.** :meth:`remove_link` is a link failure that never ends, :meth:`remove_node` a node
  failure that never ends with all its links removed: the topology manager detects them like any
  failure, and requests re-route or end ``failed`` with the reason. A removed element stays in
  the results (with its outages) and cannot come back: a repair, scheduled or random, is
  ignored, and its name is not reused. Classical messages still cross a removed fibre (the
  classical network is modelled as the fibre graph, which keeps its edges): a documented limit.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from qplane.errors import QPlaneError
from qplane.network import Node, QuantumLink

from .device import SimulatedDevice

if TYPE_CHECKING:
    from .sim import Simulation


class Management:
    """The operator's changes of one run (see the module)."""

    def __init__(self, sim: "Simulation"):
        self.sim = sim
        self.network = sim.network
        self.failures = sim.failures

    def _link(self, a: str, b: str) -> QuantumLink:
        link = self.network.links.get(frozenset((a, b)))
        if link is None:
            raise QPlaneError(f"no link {a}-{b} in the topology")
        if frozenset((a, b)) in self.failures.removed_links:
            raise QPlaneError(f"link {a}-{b} was removed")
        return link

    def _node(self, name: str) -> Node:
        node = self.network.nodes.get(name)
        if node is None:
            raise QPlaneError(f"no node {name!r} in the topology")
        if name in self.failures.removed_nodes:
            raise QPlaneError(f"node {name!r} was removed")
        return node

    def _changed(self, link: QuantumLink) -> None:
        """The link's physics or existence changed: views rebuilt, the manager told."""
        self.network.topology_changed()
        if link.operational:
            self.sim.topology_manager.physical_change("link", (link.a, link.b), True)

    # ------------------------------------------------------------------ hardware
    def set_link_model(self, a: str, b: str, model: Any) -> None:
        link = self._link(a, b)
        link.model = model
        self._changed(link)

    def set_node_model(self, name: str, memory_model: Any = None, operations: Any = None) -> None:
        device = self._node(name).device
        if memory_model is not None:
            if memory_model.count != device.memory_model.count:
                raise QPlaneError(f"node {name!r}: the number of memories cannot change live "
                                  f"({device.memory_model.count} per link end)")
            device.memory_model = memory_model
            for m in device.all_memories():
                m.noise = memory_model
        if operations is not None:
            device.operations = operations
        self.network.topology_changed()  # the estimate's storage noise and gate errors

    # ------------------------------------------------------------------ routing
    def set_link_routable(self, a: str, b: str, routable: bool) -> None:
        link = self._link(a, b)
        key = frozenset((link.a, link.b))
        if (key not in self.network.unroutable) == routable:
            return
        if routable:
            self.network.unroutable.discard(key)
        else:
            self.network.unroutable.add(key)
        self.network.view_changed()
        self.sim.lifecycle.learned("link", (link.a, link.b), routable)

    # ------------------------------------------------------------------ additions
    def _new_name(self, name: str, what: str) -> None:
        if name in self.failures.removed_nodes:
            raise QPlaneError(f"{what} {name!r} was removed: names are not reused")

    def add_node(self, name: str, memory_model: Any, operations: Any) -> None:
        self._new_name(name, "node")
        if name in self.network.nodes:
            raise QPlaneError(f"node {name!r} is already in the topology")
        self.network.graph.add_node(name)
        device = SimulatedDevice(name, self.sim.backend, operations, memory_model)
        self.network.nodes[name] = Node(name, device)
        self.network.topology_changed()

    def add_link(self, a: str, b: str, length_km: float, model: Any, scheme: str) -> None:
        if a == b:
            raise QPlaneError(f"a link needs two different nodes (got {a}-{b})")
        for end in (a, b):
            self._node(end)
        key = frozenset((a, b))
        if key in self.network.links:
            removed = key in self.failures.removed_links
            raise QPlaneError(f"link {a}-{b} " + ("was removed: it cannot be added again" if removed
                                                    else "is already in the topology"))
        if not 0 < length_km < float("inf"):
            raise QPlaneError(f"link {a}-{b}: length_km must be positive (got {length_km!r})")
        net = self.network
        net.graph.add_edge(a, b, length_km=float(length_km))
        net.fibre_changed()
        link = net.links[key] = QuantumLink(a, b, float(length_km), model, scheme)
        for u, v in ((a, b), (b, a)):
            device = net.nodes[u].device
            device.add_link(v, device.memory_model.count)
        if not (net.nodes[a].up and net.nodes[b].up):
            link.operational = False
            link.outages.append([self.sim.now, None])
        self._changed(link)

    # ------------------------------------------------------------------ removals
    def remove_link(self, a: str, b: str) -> None:
        link = self._link(a, b)
        self.failures.removed_links.add(frozenset((link.a, link.b)))
        self.network.unroutable.discard(frozenset((link.a, link.b)))
        self.failures.set_link_state(link.a, link.b, False)

    def remove_node(self, name: str) -> None:
        self._node(name)
        for nbr in list(self.network.graph[name]):
            if frozenset((name, nbr)) not in self.failures.removed_links:
                self.remove_link(name, nbr)
        self.failures.removed_nodes.add(name)
        self.failures.set_node_state(name, False)

    def status(self) -> dict[str, Any]:
        """What :meth:`qplane.context.Operator.topology_status` (and so the results) reports of
        the changes: only those that happened."""
        out = {"removed_nodes": sorted(self.failures.removed_nodes),
               "removed_links": sorted(sorted(k) for k in self.failures.removed_links),
               "unroutable_links": sorted(sorted(k) for k in self.network.unroutable)}
        return {k: v for k, v in out.items() if v}
