"""Every hook is documented and exercised (datasette's ``tests/test_docs.py`` idea).

Registration hooks are exercised by building a :class:`~qplane.registry.Registry`; event hooks
by a recorder plugin registered through ``make_plugin_manager(extra_plugins=[...])`` while the
example scenario runs.
"""

from __future__ import annotations

import inspect
import re
from pathlib import Path
from typing import Any

import pytest

import qplane
from qplane import hookspecs
from qplane.hookspecs import hookimpl
from qplane.requests import DeliveredPair, RequestHandle
from qplane.plugins import make_plugin_manager
from qplane.registry import KINDS, Registry
from qplane.results import Results
from qplane_engine.sim import Simulation

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "chain.yaml"
PAIRS = 5

SPECS: dict[str, Any] = {
    name: fn for name, fn in vars(hookspecs).items()
    if callable(fn) and hasattr(fn, f"{hookspecs.PROJECT}_spec")
}
REGISTRATION_HOOKS = {hook for hook, _ in KINDS.values()}
EXERCISED_EVENT_HOOKS = {
    "qplane_simulation_start",
    "qplane_simulation_end",
    "qplane_request_submitted",
    "qplane_pair_delivered",
    "qplane_request_finished",
    "qplane_results_assembled",
    "qplane_link_state_changed",
    "qplane_node_state_changed",
}



def first_sentence(doc: str) -> str | None:
    """The docstring's first sentence: up to the first full stop followed by a space or the end."""
    m = re.match(r"(.+?[.!?])(\s|$)", doc, re.S)
    return m.group(1) if m else None


pytestmark = pytest.mark.usefixtures("default_plugin_loading")  # see the root conftest.py


# ------------------------------------------------------------------------ documented


def test_hookspecs_found():
    assert len(SPECS) >= 19
    assert REGISTRATION_HOOKS <= set(SPECS)


@pytest.mark.parametrize("name", sorted(SPECS))
def test_every_hookspec_is_prefixed_and_documented(name):
    assert name.startswith("qplane_")
    doc = inspect.getdoc(SPECS[name])
    assert doc, f"{name} has no docstring"
    sentence = first_sentence(doc)
    assert sentence, f"{name}: no full stop in {doc!r}"
    assert sentence[0].isupper(), f"{name}: {sentence!r} does not start with a capital letter"
    assert len(sentence.split()) >= 4, f"{name}: {sentence!r} is not a sentence"


def test_every_registration_spec_has_a_kind():
    assert {n for n in SPECS if n.startswith("qplane_register_")} == REGISTRATION_HOOKS


def test_every_hookspec_is_accounted_for_by_these_tests():
    unaccounted = set(SPECS) - REGISTRATION_HOOKS - EXERCISED_EVENT_HOOKS
    assert not unaccounted, f"new hooks without a test: {sorted(unaccounted)}"


def test_every_event_hook_takes_the_run_context_first():
    for name in EXERCISED_EVENT_HOOKS:
        assert list(inspect.signature(SPECS[name]).parameters)[0] == "context", name


# ------------------------------------------------------------------------ registration


def test_every_registration_hook_registers_a_first_party_component():
    registry = Registry(make_plugin_manager())
    assert registry.errors == {}
    for kind in KINDS:
        if kind == "command":  # no first-party CLI command plugin yet
            continue
        assert registry.names(kind), f"no component of kind {kind!r} ({KINDS[kind][0]})"
        for comp in registry.components(kind):
            assert comp.kind == kind and comp.plugin
            assert comp.description, f"{kind} {comp.name!r} has no description"


def test_registration_hooks_receive_a_register_callback():
    seen: dict[str, Any] = {}

    class Spy:
        pass

    for hook in REGISTRATION_HOOKS:
        def impl(register, _hook=hook):
            seen[_hook] = register

        impl.__name__ = hook
        setattr(Spy, hook, staticmethod(hookimpl(impl)))
    Registry(make_plugin_manager(extra_plugins=[Spy()]))
    assert set(seen) == REGISTRATION_HOOKS
    assert all(callable(cb) for cb in seen.values())


# ------------------------------------------------------------------------ events


class Recorder:
    """Records every event hook call, in order."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def names(self) -> list[str]:
        return [name for name, _ in self.calls]

    def of(self, name: str) -> list[dict[str, Any]]:
        return [kwargs for n, kwargs in self.calls if n == name]

    @hookimpl
    def qplane_simulation_start(self, context):
        self.calls.append(("qplane_simulation_start", {"context": context, "now": context.clock.now}))

    @hookimpl
    def qplane_simulation_end(self, context):
        self.calls.append(("qplane_simulation_end", {"context": context, "now": context.clock.now}))

    @hookimpl
    def qplane_request_submitted(self, context, request):
        self.calls.append(("qplane_request_submitted", {"context": context, "request": request, "status": request.status}))

    @hookimpl
    def qplane_pair_delivered(self, context, request, pair):
        self.calls.append(("qplane_pair_delivered", {"context": context, "request": request, "pair": pair,
                                                     "delivered_so_far": len(request.delivered)}))

    @hookimpl
    def qplane_request_finished(self, context, request):
        self.calls.append(("qplane_request_finished", {"context": context, "request": request, "status": request.status}))

    @hookimpl
    def qplane_results_assembled(self, context, results):
        self.calls.append(("qplane_results_assembled", {"context": context, "results": results}))
        results["extra"]["recorder"] = {"pairs_seen": len(self.of("qplane_pair_delivered"))}


@pytest.fixture(scope="module")
def recorded() -> tuple[Recorder, dict[str, Any]]:
    recorder = Recorder()
    registry = Registry(make_plugin_manager(extra_plugins=[recorder]))
    scenario = qplane.load_scenario(EXAMPLE, overrides=[f"requests.0.pairs={PAIRS}"])
    results = qplane.run(scenario, registry=registry)
    return recorder, results


def test_event_hooks_are_called_in_life_cycle_order(recorded):
    recorder, _ = recorded
    names = recorder.names()
    assert names == (
        ["qplane_simulation_start", "qplane_request_submitted"]
        + ["qplane_pair_delivered"] * PAIRS
        + ["qplane_request_finished", "qplane_simulation_end", "qplane_results_assembled"]
    )


def test_event_hooks_receive_the_run_context_not_the_engine(recorded):
    recorder, _ = recorded
    contexts = {id(kwargs["context"]) for _, kwargs in recorder.calls}
    assert len(contexts) == 1
    context = recorder.calls[0][1]["context"]
    assert not isinstance(context, Simulation)
    with pytest.raises(AttributeError):
        context.handles  # the engine's members are not reachable through the contract
    assert context.sessions.requests[0].id == 0
    assert recorder.of("qplane_simulation_start")[0]["now"] == 0.0


def test_request_hooks_receive_the_request_handle(recorded):
    recorder, results = recorded
    (submitted,) = recorder.of("qplane_request_submitted")
    (finished,) = recorder.of("qplane_request_finished")
    handle = submitted["request"]
    assert isinstance(handle, RequestHandle)
    assert finished["request"] is handle
    assert handle.id == 0 and handle.request.src == "n0" and handle.request.dst == "n4"
    assert submitted["status"] == qplane.RequestStatus.PENDING
    assert finished["status"] == qplane.RequestStatus.COMPLETED
    assert results["requests"][0]["status"] == "completed"


def test_pair_delivered_once_per_delivered_pair(recorded):
    recorder, results = recorded
    calls = recorder.of("qplane_pair_delivered")
    assert len(calls) == results["requests"][0]["delivered"] == PAIRS
    handle = recorder.of("qplane_request_submitted")[0]["request"]
    assert [c["pair"] for c in calls] == handle.delivered
    assert [c["delivered_so_far"] for c in calls] == list(range(1, PAIRS + 1))
    for c in calls:
        assert c["request"] is handle
        assert isinstance(c["pair"], DeliveredPair)
        assert 0.25 <= c["pair"].fidelity <= 1.0
    times = [c["pair"].time for c in calls]
    assert times == sorted(times)


def test_simulation_end_comes_when_time_stops(recorded):
    recorder, results = recorded
    (end,) = recorder.of("qplane_simulation_end")
    assert end["now"] == results["sim_time_s"] > 0


def test_results_assembled_may_add_extra_metrics(recorded):
    recorder, results = recorded
    (assembled,) = recorder.of("qplane_results_assembled")
    assert assembled["results"] is results
    assert results["extra"]["recorder"] == {"pairs_seen": PAIRS}
    Results.model_validate(results)


def test_pair_delivered_is_not_called_without_an_implementation():
    # the runner skips the per-pair broadcast when nobody listens (the hookspec promises it)
    sim = qplane.build(qplane.load_scenario(EXAMPLE, overrides=["requests.0.pairs=2"]), Registry(make_plugin_manager()))
    assert sim.hook.qplane_pair_delivered.get_hookimpls() == []
    assert sim.run()["requests"][0]["delivered"] == 2


def test_event_hooks_fire_for_a_request_that_cannot_be_served():
    recorder = Recorder()
    registry = Registry(make_plugin_manager(extra_plugins=[recorder]))
    scenario = qplane.load_scenario(EXAMPLE, overrides=["requests.0.pairs=3", "requests.0.min_fidelity=0.99"])
    results = qplane.run(scenario, registry=registry)
    assert results["requests"][0]["status"] == "fidelity_unreachable"
    assert recorder.names() == [
        "qplane_simulation_start", "qplane_request_submitted", "qplane_request_finished",
        "qplane_simulation_end", "qplane_results_assembled",
    ]
    assert recorder.of("qplane_request_finished")[0]["status"] == qplane.RequestStatus.FIDELITY_UNREACHABLE


def test_state_change_hooks_fire_on_failures_and_repairs():
    changes: list[tuple[Any, ...]] = []

    class StateRecorder:
        @hookimpl
        def qplane_link_state_changed(self, context, link, up):
            changes.append(("link", link.a, link.b, up, context.clock.now))

        @hookimpl
        def qplane_node_state_changed(self, context, node, up):
            changes.append(("node", node.name, up, context.clock.now))

    registry = Registry(make_plugin_manager(extra_plugins=[StateRecorder()]))
    scenario = qplane.load_scenario(EXAMPLE, overrides=["requests=[]",
        "events=[{at: 0.001, link: [n1, n2], down_for: 0.002}, {at: 0.002, node: n3, down_for: 0.001}]"])
    qplane.run(scenario, registry=registry)
    assert changes == [("link", "n1", "n2", False, 0.001), ("node", "n3", False, 0.002),
                       ("link", "n1", "n2", True, 0.003), ("node", "n3", True, 0.003)]
