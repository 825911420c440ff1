"""Testing helpers for qplane and for plugins written against it.

* :func:`chain_scenario` — a repeater-chain scenario dictionary with the knobs physics tests
  turn most;
* :class:`BackendConformance` — the conformance kit every state backend passes. A backend's own
  test suite subclasses it::

      from qplane.testing import BackendConformance

      class TestConformance(BackendConformance):
          backend_name = "mybackend"      # looked up in the registry, as a scenario would

  (or override :meth:`BackendConformance.make_backend`). The kit checks canonical operations
  against closed forms — create, Pauli channels, storage noise, swap, purification,
  measurement — and agreement with the ``fidelity`` backend on Pauli-noise scenarios. Backends
  that declare ``exact-fidelity`` are held to 1e-9; sampled backends (0/1 fidelities) to
  ``sigmas`` standard errors over ``samples`` repetitions.

The same idea for every other kind of component a plugin may provide — subclass, name the
component, and pytest collects the checks (each kit's docstring says what it checks):

* :class:`RouterConformance` — valid simple paths over existing links on many graphs, None when
  there is no path, the shared view left untouched, deterministic, serves requests in a run;
* :class:`SchedulerConformance` — runs scenarios with contention for memories and checks that
  no memory is ever double-booked, every allocation lies along its path, every memory is free
  again after the run, and every request is served;
* :class:`ApplicationConformance` — handles delivered pairs (once each, on every backend it
  names), frees what it keeps, survives runs with no pair, keeps the results valid JSON and
  deterministic;
* :class:`PurificationConformance` — declares a valid scheme, never lowers fidelity on a link,
  its ``best_case`` bounds what it delivers.

Each kit finds the component by name in a :class:`~qplane.registry.Registry` built from the
installed plugins; set ``plugin`` to your plugin module to test it without installing it. The
kits run scenarios, so qplane's first-party plugins (topology, hardware, routing, scheduling,
entanglement, backend-fidelity) must be installed, as they are for any qplane user.
"""

from __future__ import annotations

import math
import random
from typing import Any, Callable

import copy
import itertools
import json
from dataclasses import dataclass

from . import physics
from .backend import Capability
from .errors import CapabilityError
from .hal import Operations


def chain_scenario(nodes: int = 2, spacing_km: float = 20.0, *, pairs: int = 1000, count: int = 1,
                   coherence_time: float | None = None, pair_fidelity: float = 1.0, seed: int = 1,
                   duration: float = 60.0, mode: str = "geometric", backend: str = "fidelity",
                   **link: Any) -> dict[str, Any]:
    """A chain ``n0 … n{nodes-1}`` with one request from end to end for ``pairs`` pairs."""
    return {
        "name": f"chain-{nodes}",
        "seed": seed,
        "duration": duration,
        "backend": backend,
        "topology": {"builder": "chain", "nodes": nodes, "spacing_km": spacing_km},
        "hardware": {
            "memory": {"count": count, "coherence_time": coherence_time},
            "link": {"scheme": "mim", "pair_fidelity": pair_fidelity, **link},
        },
        "protocols": {"link_generation": {"name": "heralded", "mode": mode}},
        "requests": [{"src": "n0", "dst": f"n{nodes - 1}", "pairs": pairs, "min_fidelity": 0.0}],
    }


class DepolarizingNoise:
    """Storage noise for the kit: depolarizing with coherence time ``T``."""

    def __init__(self, T: float):
        self.depolarizing_time = T

    def pauli_probs(self, dt: float) -> tuple[float, float, float, float]:
        lam = 1.0 - math.exp(-dt / self.depolarizing_time)
        return (1.0 - 0.75 * lam, lam / 4, lam / 4, lam / 4)


class DephasingNoise:
    """Storage noise for the kit: pure dephasing with time ``T2`` (a Pauli channel)."""

    depolarizing_time = None

    def __init__(self, T2: float):
        self.T2 = T2

    def pauli_probs(self, dt: float) -> tuple[float, float, float, float]:
        pz = (1.0 - math.exp(-dt / self.T2)) / 2.0
        return (1.0 - pz, 0.0, pz, 0.0)


class BackendConformance:
    """Conformance tests for a state backend; subclass and set ``backend_name``."""

    backend_name: str = ""
    #: repetitions for backends whose fidelity is sampled (no ``exact-fidelity``)
    samples: int = 4000
    #: tolerance of statistical checks, in standard errors
    sigmas: float = 4.0
    #: your plugin module (or object), registered by hand when it is not installed
    plugin: Any = None

    # -- plumbing --------------------------------------------------------------------
    def make_backend(self, seed: int = 1) -> Any:
        comp = kit_registry(self.plugin).get("backend", self.backend_name)
        return comp.factory(comp.validate({}, "backend"), random.Random(seed))

    def _exact(self, b: Any) -> bool:
        return Capability.EXACT_FIDELITY in b.capabilities

    def _check(self, b: Any, sample: Callable[[], float], expected: float, what: str) -> None:
        """``sample()`` returns one fidelity (or 0/1 outcome); compare its mean to ``expected``."""
        if self._exact(b):
            got = sample()
            assert abs(got - expected) < 1e-9, f"{what}: {got} != {expected}"
            return
        n = self.samples
        values = [sample() for _ in range(n)]
        mean = sum(values) / n
        se = math.sqrt(max(expected * (1 - expected), 1.0 / n) / n)
        assert abs(mean - expected) <= self.sigmas * se, f"{what}: {mean} vs {expected} (± {self.sigmas}·{se:.3g})"

    # -- declaration -----------------------------------------------------------------
    def test_declares_capabilities(self) -> None:
        b = self.make_backend()
        assert isinstance(b.name, str) and b.name
        caps = b.capabilities
        assert all(isinstance(c, Capability) for c in caps)
        assert Capability.PAIR_OPERATIONS in caps

    # -- pairs and Pauli operations ---------------------------------------------------
    def test_create_pair_has_its_fidelity(self) -> None:
        b = self.make_backend(2)
        for f in (1.0, 0.9, 0.6):
            def sample() -> float:
                qa, qb = b.create_pair(physics.werner(f), None, None, 0.0, 0.0)
                return b.fidelity(qa, qb, 0.0)
            self._check(b, sample, f, f"create_pair(werner({f}))")

    def test_pauli_corrections_permute_bell_states(self) -> None:
        b = self.make_backend(3)
        for pauli in (1, 2, 3):
            qa, qb = b.create_pair((1.0, 0.0, 0.0, 0.0), None, None, 0.0, 0.0)
            b.apply_pauli(qb, pauli, 0.0)
            assert abs(b.fidelity(qa, qb, 0.0)) < 1e-9, f"Pauli {pauli} must leave Phi+"
            b.apply_pauli(qa, pauli, 0.0)  # the same Pauli on the other qubit restores Phi+
            assert abs(b.fidelity(qa, qb, 0.0) - 1.0) < 1e-9

    def test_pauli_channel(self) -> None:
        b = self.make_backend(4)
        probs = (0.7, 0.1, 0.15, 0.05)

        def sample() -> float:
            qa, qb = b.create_pair((1.0, 0.0, 0.0, 0.0), None, None, 0.0, 0.0)
            b.apply_pauli_channel(qa, probs, 0.0)
            return b.fidelity(qa, qb, 0.0)

        self._check(b, sample, probs[0], "pauli channel")

    # -- storage noise ------------------------------------------------------------------
    def test_depolarizing_storage_decay(self) -> None:
        b = self.make_backend(5)
        T, f0 = 0.5, 0.95
        noise = DepolarizingNoise(T)

        def sample() -> float:
            qa, qb = b.create_pair(physics.werner(f0), noise, noise, 0.0, 0.1)
            b.fidelity(qa, qb, 0.2)  # touching in between must not change the result
            return b.fidelity(qa, qb, 0.4)

        self._check(b, sample, physics.werner_after_storage(f0, (0.4 + 0.3) / T), "depolarizing storage")

    def test_dephasing_storage_decay(self) -> None:
        b = self.make_backend(6)
        T2 = 0.2
        noise = DephasingNoise(T2)

        def sample() -> float:
            qa, qb = b.create_pair((1.0, 0.0, 0.0, 0.0), noise, None, 0.0, 0.0)
            return b.fidelity(qa, qb, 0.1)

        self._check(b, sample, (1 + math.exp(-0.1 / T2)) / 2, "dephasing storage")

    # -- swapping -------------------------------------------------------------------------
    def _swap_sample(self, b: Any, f1: float, f2: float, **errors: float) -> float:
        a, r1 = b.create_pair(physics.werner(f1), None, None, 0.0, 0.0)
        r2, c = b.create_pair(physics.werner(f2), None, None, 0.0, 0.0)
        m = b.bell_measure(r1, r2, 0.0, **errors)
        b.apply_pauli(c, m, 0.0)
        return b.fidelity(a, c, 0.0)

    def test_swap_all_outcomes_restore_phi_plus(self) -> None:
        b = self.make_backend(7)
        seen = set()
        for _ in range(200):
            a, r1 = b.create_pair((1.0, 0.0, 0.0, 0.0), None, None, 0.0, 0.0)
            r2, c = b.create_pair((1.0, 0.0, 0.0, 0.0), None, None, 0.0, 0.0)
            m = b.bell_measure(r1, r2, 0.0)
            seen.add(m)
            b.apply_pauli(c, m, 0.0)
            assert abs(b.fidelity(a, c, 0.0) - 1.0) < 1e-9, f"outcome {m}: correction does not restore Phi+"
        assert seen == {0, 1, 2, 3}, f"outcomes seen: {sorted(seen)}"

    def test_werner_swap_formula(self) -> None:
        b = self.make_backend(8)
        for f1, f2 in ((0.9, 0.8), (0.95, 0.95)):
            self._check(b, lambda: self._swap_sample(b, f1, f2), physics.werner_swap_fidelity(f1, f2),
                        f"swap({f1}, {f2})")

    def test_swap_gate_and_measurement_errors(self) -> None:
        b = self.make_backend(9)
        g, e = 0.1, 0.05
        expected_v = physics.two_qubit_depolarize(
            physics.swap_pauli_order(physics.to_pauli_order(physics.werner(0.9)), physics.to_pauli_order(physics.werner(0.9))), g)
        expected_v = physics.pauli_channel(expected_v, ((1 - e) ** 2, e * (1 - e), e * (1 - e), e * e))
        n_exact = 4000
        if self._exact(b):  # outcomes are sampled even by exact backends: average the realized fidelities
            vals = [self._swap_sample(b, 0.9, 0.9, gate_error=g, measurement_error=e) for _ in range(n_exact)]
            mean = sum(vals) / n_exact
            var = sum((v - mean) ** 2 for v in vals) / (n_exact - 1)
            assert abs(mean - expected_v[0]) <= self.sigmas * math.sqrt(var / n_exact) + 1e-12
        else:
            self._check(b, lambda: self._swap_sample(b, 0.9, 0.9, gate_error=g, measurement_error=e),
                        expected_v[0], "swap with errors")

    # -- purification --------------------------------------------------------------------
    def _purify_rounds(self, b: Any, protocol: str, c: tuple, n: int, **errors: Any) -> tuple[float, list[float]]:
        kept = []
        ok = 0
        for _ in range(n):
            qa, qb = b.create_pair(c, None, None, 0.0, 0.0)
            sa, sb = b.create_pair(c, None, None, 0.0, 0.0)
            if b.purify((qa, qb), (sa, sb), 0.0, protocol, **errors):
                ok += 1
                kept.append(b.fidelity(qa, qb, 0.0))
            b.discard(qa, 0.0)
            b.discard(qb, 0.0)
        return ok / n, kept

    def _check_purify(self, protocol: str, c: tuple, **errors: Any) -> None:
        b = self.make_backend(10)
        if Capability.PURIFICATION not in b.capabilities:
            return
        expected, p = physics.purify(physics.to_pauli_order(c), physics.to_pauli_order(c), protocol, **errors)
        n = 2000 if self._exact(b) else self.samples
        rate, kept = self._purify_rounds(b, protocol, c, n, **errors)
        se = math.sqrt(p * (1 - p) / n)
        assert abs(rate - p) <= self.sigmas * se, f"{protocol} success {rate} vs {p}"
        mean = sum(kept) / len(kept)
        if self._exact(b):
            assert max(abs(k - expected[0]) for k in kept) < 1e-9, f"{protocol} kept fidelity"
        else:
            se_f = math.sqrt(expected[0] * (1 - expected[0]) / len(kept))
            assert abs(mean - expected[0]) <= self.sigmas * se_f, f"{protocol} kept fidelity {mean} vs {expected[0]}"

    def test_bbpssw(self) -> None:
        self._check_purify("bbpssw", physics.werner(0.8))

    def test_dejmps(self) -> None:
        self._check_purify("dejmps", (0.8, 0.1, 0.06, 0.04))

    def test_purification_noise_model(self) -> None:
        self._check_purify("dejmps", (0.85, 0.05, 0.06, 0.04), gate_error=(0.05, 0.02), measurement_error=(0.02, 0.03))

    # -- gates and measurement -----------------------------------------------------------
    def test_measurement_or_a_clear_capability_error(self) -> None:
        b = self.make_backend(11)
        caps = b.capabilities
        if Capability.GATES in caps or Capability.CLIFFORD_GATES in caps:
            for basis in ("Z", "X"):
                for _ in range(50):
                    qa, qb = b.create_pair((1.0, 0.0, 0.0, 0.0), None, None, 0.0, 0.0)
                    assert b.measure(qa, basis, 0.0) == b.measure(qb, basis, 0.0), f"Phi+ in {basis}"
            qa, qb = b.create_pair((1.0, 0.0, 0.0, 0.0), None, None, 0.0, 0.0)
            b.apply_gate("H", [qa], 0.0)
            b.apply_gate("H", [qb], 0.0)  # H x H leaves Phi+ invariant
            assert abs(b.fidelity(qa, qb, 0.0) - 1.0) < 1e-9
        if Capability.GATES not in caps:
            qa, qb = b.create_pair((1.0, 0.0, 0.0, 0.0), None, None, 0.0, 0.0)
            try:
                b.apply_gate("RX:0.3", [qa], 0.0)
            except CapabilityError as e:
                assert b.name in str(e) and "gates" in str(e)
            else:
                raise AssertionError("a non-Clifford gate on a backend without 'gates' must raise CapabilityError")

    # -- agreement with the fidelity backend on a network -----------------------------------
    def test_agrees_with_fidelity_backend_on_a_chain(self) -> None:
        """A 4-node chain with depolarizing memories, gate and measurement errors (Pauli
        noise only): same link timings (streams are per link), so means must agree."""
        from .scenario import load_scenario
        from .sim import build

        def run(backend: str) -> dict:
            sc = chain_scenario(4, 20.0, pairs=600, count=2,
                                coherence_time=2e-3, pair_fidelity=0.97, seed=13, backend=backend)
            sc["hardware"]["operations"] = {"gate_error": 0.02, "measurement_error": 0.01}
            return build(load_scenario(sc), kit_registry(self.plugin)).run()["requests"][0]

        ours = run(self.backend_name)
        ref = run("fidelity")
        assert ours["status"] == ref["status"] == "completed"
        se = math.hypot(ours["fidelity_stderr"] or 0.0, ref["fidelity_stderr"] or 0.0)
        assert abs(ours["fidelity_mean"] - ref["fidelity_mean"]) <= self.sigmas * se + 1e-9, (ours["fidelity_mean"], ref["fidelity_mean"], se)
        # the network's estimate does not depend on the backend at all
        assert abs(ours["fidelity_estimated_mean"] - ref["fidelity_estimated_mean"]) < 1e-9
        assert abs(ours["rate_hz"] - ref["rate_hz"]) < 1e-9 * ref["rate_hz"]


# ===================================================================== component kits


def kit_registry(plugin: Any = None, *extra: Any) -> Any:
    """A :class:`~qplane.registry.Registry` of the installed plugins plus ``plugin`` (a plugin
    module or object not installed, or None) and ``extra`` plugin objects (the kits' recorders)."""
    from .plugins import make_plugin_manager
    from .registry import Registry

    plugins = ([plugin] if plugin is not None else []) + list(extra)
    return Registry(make_plugin_manager(extra_plugins=plugins))


def run_scenario(data: dict[str, Any], plugin: Any = None, *extra: Any) -> tuple[Any, dict[str, Any]]:
    """Build and run the scenario dictionary ``data``; returns ``(simulation, results)``."""
    from .scenario import load_scenario
    from .sim import build

    sim = build(load_scenario(data), kit_registry(plugin, *extra))
    return sim, sim.run()


def scenario(topology: dict[str, Any], requests: list[dict[str, Any]], *, count: int = 2,
             coherence_time: float | None = None, pair_fidelity: float = 0.97, seed: int = 3,
             duration: float = 5.0, backend: str = "fidelity", protocols: dict[str, Any] | None = None,
             **link: Any) -> dict[str, Any]:
    """A scenario dictionary on any topology builder, with ``count`` memories per node per link."""
    return {
        "name": f"kit-{topology.get('builder', 'topology')}",
        "seed": seed,
        "duration": duration,
        "backend": backend,
        "topology": topology,
        "hardware": {
            "memory": {"count": count, "coherence_time": coherence_time},
            "link": {"scheme": "mim", "pair_fidelity": pair_fidelity, **link},
        },
        "protocols": dict(protocols or {}),
        "requests": requests,
    }


def _one_line(e: BaseException) -> str:
    return f"{type(e).__name__}: " + " | ".join(x.strip() for x in str(e).splitlines() if x.strip())


# ------------------------------------------------------------------------------ routers


@dataclass(frozen=True)
class KitLinkModel:
    """A :class:`qplane.hal.LinkModel` for router tests: meet-in-the-middle physics of a
    link of ``length_km`` (DESIGN.md: ``p = 0.5 (eta_det eta(L/2))^2``, cycle ``L / c``)."""

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

        from qplane.testing import RouterConformance
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
        from .requests import EntanglementRequest

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
                assert not path_problems(graph, r["path"], r["src"], r["dst"]), r["path"]


# ---------------------------------------------------------------------------- schedulers


class _InventoryWatch:
    """A plugin object that watches a run's memory inventory from the scheduler's side."""

    def __init__(self) -> None:
        self.problems: list[str] = []
        self.sessions_started = 0

    def _note(self, sim: Any, message: str) -> None:
        if len(self.problems) < 50:
            self.problems.append(f"t={sim.now:.9g} s: {message}")

    def qplane_simulation_start(self, sim: Any) -> None:
        start = sim.start_session
        watch = self

        def start_session(handle: Any, allocation: Any, *args: Any, **kwargs: Any) -> Any:
            watch.sessions_started += 1
            path = kwargs.get("path", args[0] if args else None)
            path = list(path) if path is not None else list(handle.path or [])
            who = f"request {handle.id}"
            if handle.done:
                watch._note(sim, f"{who} is {handle.status.value} but a session was started for it")
            seen: set[int] = set()
            for h, hop in enumerate(allocation):
                if path and h < len(path) - 1 and not hop:
                    watch._note(sim, f"{who}: no memory pair on hop {h} ({path[h]}-{path[h + 1]})")
                for pair in hop:
                    for m in pair:
                        if id(m) in seen:
                            watch._note(sim, f"{who}: memory {m.label} is in the allocation twice")
                        seen.add(id(m))
                        if m.owner is not None:
                            other = getattr(getattr(m.owner, "handle", None), "id", m.owner)
                            watch._note(sim, f"{who}: memory {m.label} is double-booked (held by request {other})")
                    if path and h < len(path) - 1:
                        ma, mb = pair
                        u, v = path[h], path[h + 1]
                        if (ma.node, ma.neighbor, mb.node, mb.neighbor) != (u, v, v, u):
                            watch._note(sim, f"{who}: hop {h} is {u}-{v} but was given {ma.label} and {mb.label}")
            if path and len(allocation) != len(path) - 1:
                watch._note(sim, f"{who}: {len(allocation)} hops allocated for a path of {len(path) - 1} links")
            return start(handle, allocation, *args, **kwargs)

        sim.start_session = start_session

    def qplane_request_finished(self, sim: Any, request: Any) -> None:
        for node in sim.network.nodes.values():
            for m in node.device.all_memories():
                if m.owner is not None and getattr(m.owner, "handle", None) is request:
                    self._note(sim, f"request {request.id} finished ({request.status.value}) "
                                    f"but still holds memory {m.label}")


def _mark_hookimpls(cls: type, names: tuple[str, ...]) -> type:
    from .hookspecs import hookimpl

    for name in names:
        setattr(cls, name, hookimpl(getattr(cls, name)))
    return cls


_mark_hookimpls(_InventoryWatch, ("qplane_simulation_start", "qplane_request_finished"))


def _final_inventory_problems(sim: Any) -> list[str]:
    violations = getattr(sim, "memory_violations", None)
    if violations is not None:
        return list(violations(final=True))
    return [f"{m.label} is not free after the run" for n in sim.network.nodes.values()
            for m in n.device.all_memories() if m.owner is not None or m.qubit is not None]


class SchedulerConformance:
    """Conformance checks for a scheduler; subclass and set ``scheduler_name``::

        class TestMyScheduler(SchedulerConformance):
            scheduler_name = "my-scheduler"
            params = {}                     # optional
            plugin = my_plugin.plugin       # only needed when the plugin is not installed

    Runs scenarios where requests contend for few memories — a chain, a star whose hub every
    request crosses, a grid — and checks, at every session the scheduler starts: the request is
    not finished, no memory is double-booked or given twice, the allocation lies along the
    session's path with at least one memory pair per hop; when a request finishes, it holds no
    memory; after the run every memory is free (owner, qubit and record cleared). Every request
    without a deadline must complete (``expect_all_completed``); a request whose deadline
    passes while it waits must end ``timed_out`` without trouble."""

    scheduler_name: str = ""
    params: dict[str, Any] = {}
    plugin: Any = None
    #: every request without a deadline completes (a scheduler that may starve some sets False)
    expect_all_completed: bool = True

    def contention_scenarios(self) -> dict[str, dict[str, Any]]:
        sched = {"scheduling": {"name": self.scheduler_name, **self.params}}
        chain = scenario({"builder": "chain", "nodes": 4, "spacing_km": 10},
                         [{"src": "n0", "dst": "n3", "pairs": 4},
                          {"src": "n1", "dst": "n2", "pairs": 4},
                          {"src": "n0", "dst": "n2", "pairs": 4, "priority": 2},
                          {"src": "n1", "dst": "n3", "pairs": 4, "start": 0.0001},
                          {"src": "n2", "dst": "n3", "pairs": 4, "start": 0.0002, "priority": 1},
                          {"src": "n3", "dst": "n0", "pairs": 3, "start": 0.0002}],
                         count=1, protocols=sched)
        star = scenario({"builder": "star", "leaves": 4, "spacing_km": 10},
                        [{"src": f"n{i}", "dst": f"n{j}", "pairs": 3, "start": 0.0001 * k, "priority": k % 3}
                         for k, (i, j) in enumerate([(1, 2), (3, 4), (1, 3), (2, 4), (4, 1), (2, 3)])]
                        + [{"src": "n1", "dst": "n4", "pairs": 10_000, "end": 0.002}],
                        count=1, seed=5, protocols=sched)
        grid = scenario({"builder": "grid", "rows": 2, "cols": 3, "spacing_km": 10},
                        [{"src": "n0_0", "dst": "n1_2", "pairs": 5},
                         {"src": "n0_2", "dst": "n1_0", "pairs": 5},
                         {"src": "n0_1", "dst": "n1_1", "pairs": 5, "start": 0.0003},
                         {"src": "n1_2", "dst": "n0_0", "pairs": 5, "start": 0.0005}],
                        count=2, seed=9, protocols=sched)
        return {"chain": chain, "star": star, "grid": grid}

    def _run_watched(self, label: str, data: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
        watch = _InventoryWatch()
        try:
            sim, results = run_scenario(data, self.plugin, watch)
        except Exception as e:
            if watch.problems:  # the run broke after the scheduler broke the inventory
                raise AssertionError(f"{label}: " + "\n".join(watch.problems[:20])) from e
            raise
        problems = watch.problems + _final_inventory_problems(sim)
        assert not problems, f"{label}: " + "\n".join(problems[:20])
        assert watch.sessions_started > 0, f"{label}: the scheduler never started a session"
        return sim, results

    def _check_served(self, label: str, results: dict[str, Any]) -> None:
        for r in results["requests"]:
            assert r["status"] not in ("pending", "waiting", "active"), f"{label}: request {r['id']} not final"
            deadline = results["scenario"]["requests"][r["id"]].get("end") is not None
            if deadline:
                assert r["status"] in ("completed", "timed_out"), f"{label}: request {r['id']}: {r['status']}"
            elif self.expect_all_completed:
                assert r["status"] == "completed", f"{label}: request {r['id']}: {r['status']}: {r['reason']}"

    def test_never_double_books_under_contention(self) -> None:
        for label, data in self.contention_scenarios().items():
            _, results = self._run_watched(label, data)
            self._check_served(label, results)

    def test_with_several_memories_and_seeds(self) -> None:
        for seed in (1, 2):
            data = self.contention_scenarios()["chain"]
            data["seed"] = seed
            data["hardware"]["memory"]["count"] = 3
            _, results = self._run_watched(f"chain, 3 memories, seed {seed}", data)
            self._check_served(f"seed {seed}", results)

    def test_survives_a_link_failure(self) -> None:
        data = self.contention_scenarios()["grid"]
        data["events"] = [{"at": 0.0002, "link": ["n0_1", "n1_1"], "down_for": 0.001}]
        _, results = self._run_watched("grid with a failure", data)
        for r in results["requests"]:
            assert r["status"] not in ("pending", "waiting", "active"), f"request {r['id']} not final"

    def test_is_deterministic(self) -> None:
        data = self.contention_scenarios()["star"]
        a = run_scenario(copy.deepcopy(data), self.plugin)[1]
        b = run_scenario(copy.deepcopy(data), self.plugin)[1]
        assert [r["delivered"] for r in a["requests"]] == [r["delivered"] for r in b["requests"]]
        assert [r["completion_time_s"] for r in a["requests"]] == [r["completion_time_s"] for r in b["requests"]]


# --------------------------------------------------------------------------- applications


class _PairWatch:
    """A plugin object that wraps every application instance's ``on_pair`` in a run."""

    def __init__(self) -> None:
        self.calls: dict[int, int] = {}  # request id -> on_pair calls
        self.problems: list[str] = []

    def qplane_simulation_start(self, sim: Any) -> None:
        apps = {id(h.protocols.get("application")): h.protocols.get("application") for h in sim.handles}
        apps[id(sim.application)] = sim.application
        watch = self
        for app in apps.values():
            if app is None:
                continue
            original = app.on_pair

            def on_pair(request: Any, pair: Any, _original: Any = original) -> Any:
                watch.calls[request.id] = watch.calls.get(request.id, 0) + 1
                if pair.src_memory is not None and pair.src_memory.node != request.request.src:
                    watch.problems.append(f"pair handed over at {pair.src_memory.node}, not {request.request.src}")
                keep = _original(request, pair)
                if not isinstance(keep, bool):
                    watch.problems.append(f"on_pair returned {keep!r}; it must return True (keep) or False")
                return keep

            app.on_pair = on_pair


_mark_hookimpls(_PairWatch, ("qplane_simulation_start",))


class ApplicationConformance:
    """Conformance checks for an application; subclass and set ``application_name``::

        class TestMyApplication(ApplicationConformance):
            application_name = "my-app"
            params = {}                       # optional
            backends = ("fidelity", "stabilizer")   # backends to try it on (installed ones)
            plugin = my_plugin.plugin         # only needed when the plugin is not installed

    On every backend named in ``backends``: the application is handed every delivered pair once,
    at the request's source node, and answers True (it keeps the pair's memories and must free
    them with ``sim.free_memory``) or False; requests complete (an application that keeps pairs
    and never frees them starves its request); every memory is free after the run; the results
    stay valid (schema and JSON) and are the same for the same seed; it works when selected for
    one request only and when no pair is ever delivered."""

    application_name: str = ""
    params: dict[str, Any] = {}
    plugin: Any = None
    backends: tuple[str, ...] = ("fidelity",)
    pairs: int = 40

    def _ref(self) -> dict[str, Any]:
        return {"name": self.application_name, **self.params}

    def delivery_scenario(self, backend: str = "fidelity", seed: int = 4) -> dict[str, Any]:
        return scenario({"builder": "chain", "nodes": 3, "spacing_km": 10},
                        [{"src": "n0", "dst": "n2", "pairs": self.pairs},
                         {"src": "n1", "dst": "n2", "pairs": self.pairs // 2, "start": 0.0001}],
                        count=2, coherence_time=0.05, pair_fidelity=0.95, seed=seed, backend=backend,
                        protocols={"application": self._ref()})

    def _run(self, data: dict[str, Any]) -> tuple[Any, dict[str, Any], _PairWatch]:
        from .results import Results

        watch = _PairWatch()
        sim, results = run_scenario(data, self.plugin, watch)
        assert not watch.problems, "\n".join(watch.problems[:20])
        problems = _final_inventory_problems(sim)
        assert not problems, "\n".join(problems[:20])
        Results.model_validate(results)
        json.dumps(results, allow_nan=False)
        return sim, results, watch

    def test_handles_delivered_pairs(self) -> None:
        for backend in self.backends:
            _, results, watch = self._run(self.delivery_scenario(backend))
            for r in results["requests"]:
                assert r["status"] == "completed", f"{backend}: request {r['id']}: {r['status']}: {r['reason']}"
                assert watch.calls.get(r["id"], 0) == r["delivered"], \
                    f"{backend}: request {r['id']}: on_pair called {watch.calls.get(r['id'], 0)} times for {r['delivered']} pairs"

    def test_results_are_deterministic(self) -> None:
        a = self._run(self.delivery_scenario(seed=8))[1]
        b = self._run(self.delivery_scenario(seed=8))[1]
        assert json.dumps(a["extra"], sort_keys=True) == json.dumps(b["extra"], sort_keys=True)
        assert [r["delivered"] for r in a["requests"]] == [r["delivered"] for r in b["requests"]]

    def test_runs_with_no_delivered_pair(self) -> None:
        data = self.delivery_scenario()
        for req in data["requests"]:
            req["min_fidelity"] = 0.999  # unreachable over these links: nothing is delivered
        _, results, watch = self._run(data)
        assert all(r["delivered"] == 0 for r in results["requests"])
        assert not watch.calls

    def test_selected_for_one_request(self) -> None:
        data = self.delivery_scenario()
        data["protocols"].pop("application")
        data["requests"][0]["protocols"] = {"application": self._ref()}
        _, results, watch = self._run(data)
        r0, r1 = results["requests"]
        assert r0["protocols"]["application"] == self.application_name
        if self.application_name != "consume":  # the scenario-wide default serves the other one
            assert r1["protocols"]["application"] != self.application_name
        assert r0["status"] == r1["status"] == "completed"
        assert watch.calls.get(0) == r0["delivered"]


# --------------------------------------------------------------------------- purification


class PurificationConformance:
    """Conformance checks for a purification protocol (as the first-party swapping policies
    use it; see :mod:`qplane_entanglement.purification`); subclass and set ``purification_name``.

    The object declares ``protocol`` (``bbpssw``, ``dejmps`` or None), ``scheme``
    (``recurrence`` or ``pumping``), ``rounds``, ``scope`` (``link`` or ``end-to-end``) and
    ``until`` (``rounds`` or ``min_fidelity``); on a single link of Werner pairs with perfect
    operations and no storage noise it never delivers worse pairs than no purification, and
    ``best_case`` (when it has one) bounds every fidelity it delivers; it serves a request
    over a chain with storage noise."""

    purification_name: str = ""
    params: dict[str, Any] = {}
    plugin: Any = None
    #: fidelity of the Werner pairs the kit's links herald (above 1/2: purifiable)
    link_fidelity: float = 0.8

    def make_purification(self) -> Any:
        comp = kit_registry(self.plugin).get("purification", self.purification_name)
        return comp.factory(comp.validate(dict(self.params), "protocols.purification"), None)

    def _scenario(self, nodes: int, coherence_time: float | None, pairs: int = 30) -> dict[str, Any]:
        return scenario({"builder": "chain", "nodes": nodes, "spacing_km": 10},
                        [{"src": "n0", "dst": f"n{nodes - 1}", "pairs": pairs}],
                        count=6, coherence_time=coherence_time, pair_fidelity=self.link_fidelity,
                        protocols={"purification": {"name": self.purification_name, **self.params}})

    def test_declares_a_valid_scheme(self) -> None:
        p = self.make_purification()
        assert p.protocol in (None, "bbpssw", "dejmps"), f"protocol {p.protocol!r}"
        if p.protocol is not None:
            assert p.scheme in ("recurrence", "pumping"), f"scheme {p.scheme!r}"
            assert isinstance(p.rounds, int) and p.rounds >= 1, f"rounds {p.rounds!r}"
        assert p.scope in ("link", "end-to-end"), f"scope {p.scope!r}"
        assert p.until in ("rounds", "min_fidelity"), f"until {p.until!r}"

    def test_never_lowers_fidelity_on_a_link(self) -> None:
        sim, results = run_scenario(self._scenario(2, None), self.plugin)
        r = results["requests"][0]
        assert r["status"] == "completed", f"{r['status']}: {r['reason']}"
        fids = [p.fidelity for h in sim.handles for p in h.delivered]
        assert min(fids) >= self.link_fidelity - 1e-9, f"delivered {min(fids)} < {self.link_fidelity} unpurified"
        best = sim.best_case_fidelity(r["path"], sim.purification)
        assert max(fids) <= best + 1e-9, f"delivered {max(fids)} above the best case {best}"

    def test_serves_a_chain_with_storage_noise(self) -> None:
        _, results = run_scenario(self._scenario(4, 0.05, pairs=10), self.plugin)
        r = results["requests"][0]
        assert r["status"] == "completed", f"{r['status']}: {r['reason']}"
