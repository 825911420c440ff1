"""Failure injection: the ground truth of links and nodes going down and coming back.

Scheduled failures (``events``) and random ones (``failures``: exponential times between
failures and to repair, each element with its own seeded stream) change the ground truth
through :meth:`Failures.set_link_state` / :meth:`Failures.set_node_state`, which the operator
API exposes too. The topology manager decides when the controller learns of a change; this
module only changes the truth and tells it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable

if TYPE_CHECKING:
    from qplane.network import QuantumLink
    from qplane.scenario import Scenario

    from .network import Network


class Failures:
    """Ground-truth state changes of one run."""

    #: the run's protocol-event tracer (:mod:`qplane_engine.trace`) when traced
    trace: Callable[..., None] | None = None

    def __init__(self, clock: Any, network: "Network", on_link: Callable[[Any, bool], None],
                 on_node: Callable[[Any, bool], None]):
        self._clock = clock
        self._network = network
        self._on_link = on_link  # hooks, then the topology manager
        self._on_node = on_node
        self.link_generation: Any = None  # set by the engine once built
        self.injected = 0
        #: elements the operator removed (:mod:`qplane_engine.management`): they never come back
        self.removed_links: set[frozenset[str]] = set()
        self.removed_nodes: set[str] = set()

    def set_link_state(self, a: str, b: str, up: bool) -> None:
        """While a link is down its photons are lost (attempts in flight are void, none start);
        stored qubits survive."""
        link = self._network.link(a, b)
        if link.up == up or (up and frozenset((a, b)) in self.removed_links):
            return
        link.up = up
        self.injected += 0 if up else 1
        if self.trace is not None:
            self.trace("failure", element="link", nodes=[link.a, link.b], up=up)
        self._network.topology_changed()
        self._refresh(link)
        self._on_link(link, up)

    def set_node_state(self, name: str, up: bool) -> None:
        """A failed node loses the qubits in its memories (their pairs are discarded at both
        ends) and its links stop working."""
        node = self._network.nodes[name]
        if node.up == up or (up and name in self.removed_nodes):
            return
        node.up = up
        if self.trace is not None:
            self.trace("failure", element="node", nodes=[name], up=up)
        self._network.topology_changed()
        now = self._clock.now
        if not up:
            self.injected += 1
            node.outages.append([now, None])
            for m in node.device.all_memories():
                owner = m.owner
                if m.qubit is not None and owner is not None and owner.active and owner.state is not None:
                    owner.state.qubit_lost(m)
        else:
            node.outages[-1][1] = now
        for nbr in self._network.graph[name]:
            self._refresh(self._network.link(name, nbr))
        self._on_node(node, up)

    def _refresh(self, link: "QuantumLink") -> None:
        nodes = self._network.nodes
        operational = link.up and nodes[link.a].up and nodes[link.b].up
        if operational == link.operational:
            return
        link.operational = operational
        if not operational:
            link.epoch += 1
            link.outages.append([self._clock.now, None])
            self.link_generation.link_down(link)
        else:
            link.outages[-1][1] = self._clock.now
            self.link_generation.link_up(link)

    def schedule(self, scenario: "Scenario") -> None:
        """Schedule the scenario's failure events and random failures."""
        call_at = self._clock.call_at
        for ev in scenario.events:
            if ev.link is not None:
                a, b = ev.link
                call_at(ev.at, self.set_link_state, a, b, False)
                if ev.down_for is not None:
                    call_at(ev.at + ev.down_for, self.set_link_state, a, b, True)
            else:
                call_at(ev.at, self.set_node_state, ev.node, False)
                if ev.down_for is not None:
                    call_at(ev.at + ev.down_for, self.set_node_state, ev.node, True)
        rates = scenario.failures
        if rates is None:
            return
        if rates.links is not None:
            for link in self._network.links.values():
                rng = self._clock.stream(f"failures:link:{link.a}-{link.b}")
                self._next(rng, rates.links, scenario.duration,
                           lambda up, l=link: self.set_link_state(l.a, l.b, up), False)
        if rates.nodes is not None:
            for name in self._network.nodes:
                rng = self._clock.stream(f"failures:node:{name}")
                self._next(rng, rates.nodes, scenario.duration, lambda up, n=name: self.set_node_state(n, up), False)

    def _next(self, rng: Any, rates: Any, horizon: float, apply: Callable[[bool], None], up: bool) -> None:
        """Alternating exponential up times (mean MTBF) and repair times (mean MTTR)."""
        delay = rng.expovariate(1.0 / (rates.mttr if up else rates.mtbf))
        if self._clock.now + delay >= horizon:
            return

        def fire() -> None:
            apply(up)
            self._next(rng, rates, horizon, apply, not up)

        self._clock.call_at(delay, fire)
