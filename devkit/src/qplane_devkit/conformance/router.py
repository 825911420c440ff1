"""The conformance kit for routers, and the helpers it routes with.

* :class:`RouterConformance` — valid simple paths over existing links on many graphs, None when
  there is no path, the shared view left untouched, deterministic, serves requests in a run;
* :func:`network_view` — a networkx graph annotated the way the runner hands it to a router;
* :func:`router_graphs` — the graphs the kit routes on; :func:`path_problems` — what is wrong
  with a path.
"""

from __future__ import annotations

import itertools
import random
from dataclasses import dataclass
from typing import Any

import qplane_physics as physics
from qplane.hal import Operations

from .kit import kit_registry, run_scenario, scenario


@dataclass(frozen=True)
class KitLinkModel:
    """A :class:`qplane.hal.LinkModel` for router tests: meet-in-the-middle physics of a
    link of ``length_km`` (docs/design.md: ``p = 0.5 (eta_det eta(L/2))^2``, cycle ``L / c``)."""

    length_km: float
    pair_fidelity: float = 0.95
    detector_efficiency: float = 0.9

    @property
    def success_probability(self) -> float:
        return 0.5 * (self.detector_efficiency * physics.fiber_transmissivity(self.length_km / 2)) ** 2

    @property
    def cycle_time(self) -> float:
        return self.length_km / physics.SPEED_OF_LIGHT_FIBER_KM_S

    @property
    def herald_delay(self) -> float:
        return self.length_km / physics.SPEED_OF_LIGHT_FIBER_KM_S

    @property
    def pair_state(self) -> tuple[float, float, float, float]:
        return physics.werner(self.pair_fidelity)


@dataclass(frozen=True)
class KitMemoryModel:
    """A :class:`qplane.hal.MemoryModel` for router tests: depolarizing, time ``T``."""

    count: int = 2
    depolarizing_time: float | None = None

    def pauli_probs(self, dt: float) -> tuple[float, float, float, float]:
        lam = physics.depolarizing_lambda(dt, self.depolarizing_time)
        return (1.0 - 0.75 * lam, lam / 4, lam / 4, lam / 4)


def network_view(graph: Any, *, pair_fidelity: float = 0.95, coherence_time: float | None = 1.0,
                 gate_error: float = 0.0, count: int = 2) -> Any:
    """``graph`` annotated as the runner hands it to a router: every edge gets ``length_km``
    (kept when present, else 20), ``link`` (a :class:`KitLinkModel`; an edge's own
    ``pair_fidelity`` attribute wins) and ``expected_pair_time``; every node gets ``memory``
    and ``operations``. Returns a new graph."""
    import networkx as nx

    view = nx.Graph()
    for node, data in graph.nodes(data=True):
        view.add_node(node, memory=KitMemoryModel(count, coherence_time),
                      operations=Operations(gate_error=data.get("gate_error", gate_error)))
    for a, b, data in graph.edges(data=True):
        length = float(data.get("length_km", 20.0))
        model = KitLinkModel(length, float(data.get("pair_fidelity", pair_fidelity)))
        p = model.success_probability
        view.add_edge(a, b, length_km=length, link=model,
                      expected_pair_time=(1.0 / p - 1.0) * model.cycle_time + model.herald_delay)
    return view


def router_graphs() -> dict[str, Any]:
    """The connected graphs :class:`RouterConformance` routes on, by label (already annotated
    with :func:`network_view`): chain, ring, star, grid, a ladder with uneven lengths and link
    fidelities, a seeded random graph, and one whose nodes are not named ``n<i>``."""
    import networkx as nx

    graphs: dict[str, Any] = {}
    graphs["chain-5"] = nx.relabel_nodes(nx.path_graph(5), lambda i: f"n{i}")
    graphs["ring-6"] = nx.relabel_nodes(nx.cycle_graph(6), lambda i: f"n{i}")
    graphs["star-5"] = nx.relabel_nodes(nx.star_graph(5), lambda i: f"n{i}")
    graphs["grid-3x4"] = nx.relabel_nodes(nx.grid_2d_graph(3, 4), lambda rc: f"n{rc[0]}_{rc[1]}")
    ladder = nx.relabel_nodes(nx.ladder_graph(5), lambda i: f"n{i}")
    rng = random.Random(5)
    for a, b in ladder.edges:
        ladder.edges[a, b]["length_km"] = rng.choice([5.0, 15.0, 40.0, 80.0])
        ladder.edges[a, b]["pair_fidelity"] = rng.choice([0.75, 0.9, 0.99])
    graphs["ladder-uneven"] = ladder
    rnd = nx.gnm_random_graph(14, 24, seed=11)
    for i in range(13):  # make it connected without losing the random shortcuts
        if not nx.has_path(rnd, i, i + 1):
            rnd.add_edge(i, i + 1)
    for a, b in rnd.edges:
        rnd.edges[a, b]["length_km"] = 5.0 + (a * 7 + b * 13) % 60
    graphs["random-14"] = nx.relabel_nodes(rnd, lambda i: f"n{i}")
    named = nx.Graph()
    named.add_edges_from([("Alice", "hub-1"), ("hub-1", "hub-2"), ("hub-2", "Bob"), ("hub-1", "Charlie"),
                          ("Charlie", "Bob"), ("hub-2", "Dave")], length_km=12.5)
    graphs["named"] = named
    return {label: network_view(g) for label, g in graphs.items()}


def path_problems(graph: Any, path: Any, src: str, dst: str) -> list[str]:
    """What is wrong with ``path`` as a route from ``src`` to ``dst`` over ``graph`` (empty
    when it is a simple path of node names along existing links, from ``src`` to ``dst``)."""
    if not isinstance(path, (list, tuple)):
        return [f"a path is a list of node names, got {type(path).__name__} {path!r}"]
    problems = []
    if len(path) < 2:
        problems.append(f"a path has at least two nodes, got {path!r}")
    elif path[0] != src or path[-1] != dst:
        problems.append(f"the path must run from {src!r} to {dst!r}, got {path!r}")
    if len(set(path)) != len(path):
        problems.append(f"the path visits a node twice: {path!r}")
    for node in path:
        if node not in graph:
            problems.append(f"{node!r} is not a node of the graph")
    for u, v in zip(path, path[1:]):
        if u in graph and v in graph and not graph.has_edge(u, v):
            problems.append(f"there is no link {u}-{v}")
    return problems


def _snapshot(graph: Any) -> tuple:
    return (sorted((n, sorted((k, id(v), repr(v)) for k, v in d.items())) for n, d in graph.nodes(data=True)),
            sorted((min(a, b), max(a, b), sorted((k, id(v), repr(v)) for k, v in d.items()))
                   for a, b, d in graph.edges(data=True)))


class RouterConformance:
    """Conformance checks for a router; subclass and set ``router_name``::

        from qplane_devkit.conformance import RouterConformance
        import my_plugin.plugin

        class TestMyRouter(RouterConformance):
            router_name = "my-router"
            params = {"max_hops": 8}        # as a scenario would give them (optional)
            plugin = my_plugin.plugin       # only needed when the plugin is not installed

    On every graph of :func:`router_graphs` (or your own ``graphs()``) and for many node pairs, a
    route is a simple path of existing links from ``src`` to ``dst`` (every path of
    ``routes()`` too, when the router has it); there is none (None or an empty list) when
    ``dst`` is unreachable or absent from the view (a failed node); the shared view is left
    as it was; the same question gets the same answer; and the router serves requests in a
    run. A router may decline a pair whose ``min_fidelity`` it cannot reach, so the kit asks
    with ``min_fidelity = 0``."""

    router_name: str = ""
    params: dict[str, Any] = {}
    plugin: Any = None
    #: node pairs tried per graph (all ordered pairs of small graphs)
    pairs_per_graph: int = 40

    def make_router(self) -> Any:
        comp = kit_registry(self.plugin).get("router", self.router_name)
        return comp.factory(comp.validate(dict(self.params), "protocols.routing"))

    def graphs(self) -> dict[str, Any]:
        return router_graphs()

    def _pairs(self, graph: Any) -> list[tuple[str, str]]:
        nodes = sorted(graph.nodes)
        pairs = [(a, b) for a, b in itertools.permutations(nodes, 2)]
        if len(pairs) > self.pairs_per_graph:
            pairs = random.Random(len(nodes)).sample(pairs, self.pairs_per_graph)
        return pairs

    @staticmethod
    def _request(src: str, dst: str) -> Any:
        from qplane.requests import EntanglementRequest

        return EntanglementRequest(src=src, dst=dst, pairs=1, min_fidelity=0.0)

    def _paths(self, router: Any, graph: Any, src: str, dst: str) -> list[Any]:
        request = self._request(src, dst)
        if hasattr(router, "routes"):
            paths = router.routes(graph, src, dst, request)
            return list(paths or [])
        path = router.route(graph, src, dst, request)
        return [] if path is None or (isinstance(path, (list, tuple)) and not path) else [path]

    def test_routes_are_valid_paths(self) -> None:
        router = self.make_router()
        problems = []
        for label, graph in self.graphs().items():
            for src, dst in self._pairs(graph):
                paths = self._paths(router, graph, src, dst)
                if not paths:
                    problems.append(f"{label}: no route from {src} to {dst}, though they are connected")
                for path in paths:
                    problems += [f"{label}: {src}->{dst}: {p}" for p in path_problems(graph, path, src, dst)]
        assert not problems, "\n".join(problems[:20])

    def test_no_route_when_disconnected(self) -> None:
        import networkx as nx

        router = self.make_router()
        g = nx.Graph()
        g.add_edges_from([("a0", "a1"), ("a1", "a2"), ("b0", "b1"), ("b1", "b2")], length_km=10.0)
        view = network_view(g)
        for src, dst in (("a0", "b2"), ("b1", "a1"), ("a2", "b0")):
            assert not self._paths(router, view, src, dst), f"{src}->{dst} lie in different components"
        # a failed node is not in the controller's view: asking for it gives no route
        chain = network_view(nx.relabel_nodes(nx.path_graph(4), lambda i: f"n{i}"))
        chain.remove_node("n3")
        assert not self._paths(router, chain, "n0", "n3"), "n3 is not in the view"
        assert not self._paths(router, chain, "n3", "n0"), "n3 is not in the view"

    def test_adjacent_and_two_node_graphs(self) -> None:
        import networkx as nx

        router = self.make_router()
        g = nx.Graph()
        g.add_edge("x", "y", length_km=3.0)
        view = network_view(g)
        for src, dst in (("x", "y"), ("y", "x")):
            paths = self._paths(router, view, src, dst)
            assert paths, f"no route over a single link {src}-{dst}"
            for path in paths:
                assert not path_problems(view, path, src, dst), path_problems(view, path, src, dst)

    def test_leaves_the_view_unchanged(self) -> None:
        router = self.make_router()
        for label, graph in self.graphs().items():
            before = _snapshot(graph)
            for src, dst in self._pairs(graph)[:10]:
                self._paths(router, graph, src, dst)
            assert _snapshot(graph) == before, f"{label}: the router modified the shared view"

    def test_is_deterministic(self) -> None:
        first, second = self.make_router(), self.make_router()
        for label, graph in self.graphs().items():
            for src, dst in self._pairs(graph)[:10]:
                a = [list(p) for p in self._paths(first, graph, src, dst)]
                b = [list(p) for p in self._paths(second, graph, src, dst)]
                assert a == b, f"{label}: {src}->{dst}: {a} then {b}"

    def test_serves_requests_in_a_run(self) -> None:
        data = scenario({"builder": "grid", "rows": 2, "cols": 3, "spacing_km": 10},
                        [{"src": "n0_0", "dst": "n1_2", "pairs": 5},
                         {"src": "n1_0", "dst": "n0_2", "pairs": 5, "start": 0.001}],
                        protocols={"routing": {"name": self.router_name, **self.params}})
        sim, results = run_scenario(data, self.plugin)
        graph = sim.network.graph
        fixed_path = getattr(self.make_router(), "fixed_path", True)  # a path-free router reports none
        for r in results["requests"]:
            assert r["status"] == "completed", f"request {r['id']}: {r['status']}: {r['reason']}"
            if fixed_path:
                for path in r["paths"] or [None]:  # a path-free request has none; a routed one at least one
                    assert not path_problems(graph, path, r["src"], r["dst"]), r["paths"]
