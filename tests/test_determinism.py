"""Results are deterministic: the same scenario and seed give the same numbers, a different
seed gives different ones, and a component's random stream depends only on the seed and the
stream's name (not on which streams were created before it)."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

import qplane
from qplane.hookspecs import hookimpl
from qplane.kernel import Kernel, derive_seed
from qplane.plugins import make_plugin_manager
from qplane.registry import Registry

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "chain.yaml"


pytestmark = pytest.mark.usefixtures("default_plugin_loading")  # see the root conftest.py


@pytest.fixture(scope="module")
def registry() -> Registry:
    return Registry(make_plugin_manager())


def _run(registry: Registry, seed: int | None = None) -> dict[str, Any]:
    return qplane.run(qplane.load_scenario(EXAMPLE, seed=seed), registry=registry)


def _without_wall_time(results: dict[str, Any]) -> dict[str, Any]:
    results = copy.deepcopy(results)
    results.pop("wall_time_s")
    return results


def test_same_seed_gives_identical_results(registry):
    first, second = _run(registry), _run(registry)
    assert _without_wall_time(first) == _without_wall_time(second)
    # and a fresh plugin manager / registry changes nothing
    assert _without_wall_time(_run(Registry(make_plugin_manager()))) == _without_wall_time(first)


def test_same_seed_gives_identical_pairs(registry):
    def pairs() -> list[tuple[float, float, float, float]]:
        sim = qplane.build(qplane.load_scenario(EXAMPLE), registry)
        sim.run()
        return [(p.time, p.fidelity, p.fidelity_estimated, p.latency) for p in sim.handles[0].delivered]

    first = pairs()
    assert len(first) == 100
    assert pairs() == first


def test_a_different_seed_changes_fidelities_and_latencies(registry):
    seven, eight = _run(registry, seed=7), _run(registry, seed=8)
    r7, r8 = seven["requests"][0], eight["requests"][0]
    assert r7["delivered"] == r8["delivered"] == 100  # same scenario, still served
    assert r7["fidelity_mean"] != r8["fidelity_mean"]
    assert r7["latency_mean_s"] != r8["latency_mean_s"]
    assert [link["attempts"] for link in seven["links"]] != [link["attempts"] for link in eight["links"]]


def test_an_observer_plugin_does_not_change_the_numbers(registry):
    class Observer:
        @hookimpl
        def qplane_pair_delivered(self, context, request, pair):
            pass

    observed = _run(Registry(make_plugin_manager(extra_plugins=[Observer()])))
    baseline = _run(registry)
    observed.pop("plugins")
    baseline.pop("plugins")
    assert _without_wall_time(observed) == _without_wall_time(baseline)


# ------------------------------------------------------------------------ random streams


def _draws(rng, n: int = 5) -> list[float]:
    return [rng.random() for _ in range(n)]


def test_named_stream_does_not_depend_on_creation_order():
    forward = Kernel(5)
    a_first = _draws(forward.stream("a"))
    b_second = _draws(forward.stream("b"))

    backward = Kernel(5)
    b_first = _draws(backward.stream("b"))
    a_second = _draws(backward.stream("a"))

    assert a_first == a_second
    assert b_first == b_second
    assert a_first != b_first


def test_named_stream_does_not_depend_on_other_streams_draws():
    lone = Kernel(5)
    expected = _draws(lone.stream("link:n0-n1"), 10)

    busy = Kernel(5)
    for name in ("backend", "link:n1-n2", "x", "y"):
        _draws(busy.stream(name), 100)
    assert _draws(busy.stream("link:n0-n1"), 10) == expected


def test_stream_is_created_once_per_name():
    kernel = Kernel(5)
    rng = kernel.stream("a")
    first = rng.random()
    assert kernel.stream("a") is rng
    assert kernel.stream("a").random() != first  # continues, does not restart


def test_streams_depend_on_the_seed():
    assert _draws(Kernel(5).stream("a")) != _draws(Kernel(6).stream("a"))
    assert _draws(Kernel(5).stream("a")) == _draws(Kernel(5).stream("a"))


def test_derived_seeds_are_stable_values():
    # pinned: the same seed must give the same numbers across processes, machines and releases
    # (blake2b of the name and numpy's SeedSequence are both stable); a change here silently
    # changes every published number, so it must be deliberate
    assert derive_seed(5, "a") == 296113041892524853677842147617292593749
    assert Kernel(5).stream("a").random() == 0.7881944940059994
    assert derive_seed(5, "a") != derive_seed(5, "b")
    assert derive_seed(5, "a") != derive_seed(6, "a")
    assert 0 <= derive_seed(0, "") < 2**128
