"""The conformance kits of :mod:`qplane_devkit.conformance` for routers, schedulers,
applications and purification protocols: every first-party component passes its kit, and each
kit catches the faults it is there to catch (a bad path, a double booking, an application that
keeps its pairs, a purification that makes pairs worse).
"""

from __future__ import annotations

import networkx as nx
import pytest

from qplane.hookspecs import hookimpl
from qplane.registry import Registry
from qplane_devkit.conformance import (
    ApplicationConformance,
    PurificationConformance,
    RouterConformance,
    SchedulerConformance,
    network_view,
    path_problems,
    router_graphs,
)


pytestmark = pytest.mark.usefixtures("default_plugin_loading")  # see the root conftest.py


# ----------------------------------------------------------- first-party components pass


def _first_party(kind: str) -> list[str]:
    registry = Registry()
    return [c.name for c in registry.components(kind) if c.plugin in FIRST_PARTY]


FIRST_PARTY = {"routing", "scheduling", "entanglement"}

# every router and scheduler qplane ships passes its kit (a class per component, named after it)
for _name in _first_party("router"):
    _cls = f"TestRouter_{_name.replace('-', '_')}"
    globals()[_cls] = type(_cls, (RouterConformance,), {"router_name": _name})
for _name in _first_party("scheduler"):
    _cls = f"TestScheduler_{_name.replace('-', '_')}"
    globals()[_cls] = type(_cls, (SchedulerConformance,), {"scheduler_name": _name})


def test_the_first_party_kits_are_generated():
    assert {"shortest-path", "min-cost"} <= set(_first_party("router"))
    assert "fifo" in _first_party("scheduler")
    assert "TestRouter_shortest_path" in globals() and "TestScheduler_fifo" in globals()


class TestFifoStrictOneMemoryEach(SchedulerConformance):
    scheduler_name = "fifo"
    params = {"strict": True, "max_memories_per_link": 1}


class TestConsume(ApplicationConformance):
    application_name = "consume"
    backends = ("fidelity", "stabilizer")


class TestDejmps(PurificationConformance):
    purification_name = "dejmps"


class TestBbpsswTwoRounds(PurificationConformance):
    purification_name = "bbpssw"
    params = {"rounds": 2}


class TestNoPurification(PurificationConformance):
    purification_name = "none"


# ------------------------------------------------------------------ helpers of the kits


def test_router_graphs_are_annotated_like_the_runners_view():
    graphs = router_graphs()
    assert {"chain-5", "ring-6", "grid-3x4", "named", "random-14"} <= set(graphs)
    for label, g in graphs.items():
        assert nx.is_connected(g), label
        for a, b, data in g.edges(data=True):
            assert data["length_km"] > 0 and data["expected_pair_time"] > 0
            assert 0.0 < data["link"].success_probability < 1.0
            assert abs(sum(data["link"].pair_state) - 1.0) < 1e-12
        for node, data in g.nodes(data=True):
            assert data["memory"].count >= 1 and data["operations"].gate_error == 0.0


def test_path_problems_names_each_fault():
    g = network_view(nx.path_graph(["a", "b", "c", "d"]))
    assert path_problems(g, ["a", "b", "c"], "a", "c") == []
    assert "from 'a' to 'd'" in path_problems(g, ["a", "b", "c"], "a", "d")[0]
    assert any("no link a-c" in p for p in path_problems(g, ["a", "c"], "a", "c"))
    assert any("twice" in p for p in path_problems(g, ["a", "b", "a", "b", "c"], "a", "c"))
    assert any("not a node" in p for p in path_problems(g, ["a", "x", "c"], "a", "c"))
    assert "list of node names" in path_problems(g, "abc", "a", "c")[0]


# ------------------------------------------------------------ the kits catch the faults


def _run_kit(kit_cls: type, test: str) -> None:
    getattr(kit_cls(), test)()


class _TeleportingRouter:
    """Jumps straight from the source to the destination, link or not."""

    def __init__(self, params):
        pass

    def route(self, graph, src, dst, request=None):
        return [src, dst] if src in graph and dst in graph else None


class _ModifyingRouter:
    """A valid path, but it writes into the shared view."""

    def __init__(self, params):
        pass

    def route(self, graph, src, dst, request=None):
        try:
            path = nx.shortest_path(graph, src, dst)
        except (nx.NetworkXNoPath, nx.NodeNotFound):
            return None
        graph.nodes[src]["visited"] = True
        return path


class _RouterPlugin:
    @hookimpl
    def qplane_register_routers(self, register):
        register("teleport", _TeleportingRouter)
        register("scribble", _ModifyingRouter)


def test_router_kit_rejects_paths_over_missing_links():
    class Kit(RouterConformance):
        router_name = "teleport"
        plugin = _RouterPlugin()

    with pytest.raises(AssertionError, match="there is no link"):
        _run_kit(Kit, "test_routes_are_valid_paths")
    with pytest.raises(AssertionError, match="different components"):
        _run_kit(Kit, "test_no_route_when_disconnected")


def test_router_kit_rejects_a_router_that_modifies_the_view():
    class Kit(RouterConformance):
        router_name = "scribble"
        plugin = _RouterPlugin()

    _run_kit(Kit, "test_routes_are_valid_paths")  # its paths are fine
    with pytest.raises(AssertionError, match="modified the shared view"):
        _run_kit(Kit, "test_leaves_the_view_unchanged")


class _DoubleBooker:
    """Gives every request the first memory of each hop, whoever holds it."""

    def __init__(self, params, context):
        self.ctx = context

    def submit(self, handle):
        nodes, path = self.ctx.network.nodes, handle.path
        allocation = [[(nodes[u].device.memories(v)[0], nodes[v].device.memories(u)[0])] for u, v in zip(path, path[1:])]
        self.ctx.sessions.start(handle, allocation)

    def release(self, handle):
        for session in list(handle.sessions):
            self.ctx.inventory.release(session)


class _Hoarder:
    """Admits one request at a time and never gives its memories back."""

    def __init__(self, params, context):
        self.ctx = context
        self.busy = False

    def submit(self, handle):
        if self.busy:
            return
        self.busy = True
        nodes, path = self.ctx.network.nodes, handle.path
        allocation = [[(nodes[u].device.memories(v)[0], nodes[v].device.memories(u)[0])] for u, v in zip(path, path[1:])]
        self.ctx.sessions.start(handle, allocation)

    def release(self, handle):
        pass


class _SchedulerPlugin:
    @hookimpl
    def qplane_register_schedulers(self, register):
        register("double-booker", _DoubleBooker)
        register("hoarder", _Hoarder)


def test_scheduler_kit_catches_double_booking():
    class Kit(SchedulerConformance):
        scheduler_name = "double-booker"
        plugin = _SchedulerPlugin()

    with pytest.raises(AssertionError, match="double-booked"):
        _run_kit(Kit, "test_never_double_books_under_contention")


def test_scheduler_kit_catches_memories_kept_after_a_request_finished():
    class Kit(SchedulerConformance):
        scheduler_name = "hoarder"
        plugin = _SchedulerPlugin()

    with pytest.raises(AssertionError, match="still holds memory|not free after the run"):
        _run_kit(Kit, "test_never_double_books_under_contention")


class _Keeper:
    """Keeps every pair's memories and never frees them: its request starves."""

    def __init__(self, params, sim):
        pass

    def on_pair(self, request, pair):
        return True


class _Chatty:
    """Answers with a number instead of True/False."""

    def __init__(self, params, sim):
        pass

    def on_pair(self, request, pair):
        return 0


class _ApplicationPlugin:
    @hookimpl
    def qplane_register_applications(self, register):
        register("keeper", _Keeper)
        register("chatty", _Chatty)


def test_application_kit_catches_an_application_that_never_frees_its_pairs():
    class Kit(ApplicationConformance):
        application_name = "keeper"
        plugin = _ApplicationPlugin()

    with pytest.raises(AssertionError, match="request 0: timed_out"):
        _run_kit(Kit, "test_handles_delivered_pairs")


def test_application_kit_catches_a_non_boolean_answer():
    class Kit(ApplicationConformance):
        application_name = "chatty"
        plugin = _ApplicationPlugin()

    with pytest.raises(AssertionError, match="must return True"):
        _run_kit(Kit, "test_handles_delivered_pairs")


class _Spoiler:
    """Claims to purify, with BBPSSW on pairs so poor that every round makes them worse."""

    protocol = "bbpssw"
    scheme = "recurrence"
    rounds = 1
    scope = "link"
    until = "rounds"

    def __init__(self, params, sim):
        pass

    def memory_pairs_needed(self):
        return 2


class _PurificationPlugin:
    @hookimpl
    def qplane_register_purification(self, register):
        register("spoiler", _Spoiler)


def test_purification_kit_catches_a_protocol_that_lowers_fidelity():
    class Kit(PurificationConformance):
        purification_name = "spoiler"
        plugin = _PurificationPlugin()
        link_fidelity = 0.45  # BBPSSW below F = 1/2 makes pairs worse

    Kit().test_declares_a_valid_scheme()  # it looks like a purification protocol
    with pytest.raises(AssertionError, match="unpurified"):
        Kit().test_never_lowers_fidelity_on_a_link()
