"""Which lists in a scenario are parameter-study axes and ``--vary`` parsing. (What a single
run, ``qplane run``, says of a parameter study is tested with the core, in
tests/test_scenario_errors.py.)"""

from __future__ import annotations

import copy

import pytest
from pydantic import BaseModel, ConfigDict

import qplane
from qplane.errors import ScenarioError
from qplane.hookspecs import hookimpl
from qplane.plugins import make_plugin_manager
from qplane.registry import Registry
from qplane_devkit.conformance import chain_scenario
from qplane_experiment.grid import find_axes, parse_vary
from qplane_experiment.plan import make_plan


pytestmark = pytest.mark.usefixtures("default_plugin_loading")  # see the root conftest.py


@pytest.fixture(scope="module")
def registry() -> Registry:
    return Registry(make_plugin_manager())


def _paths(data, registry=None) -> list[str]:
    return [a.path for a in find_axes(data, registry)]


def test_scalar_and_name_fields_given_as_lists_are_axes(registry):
    sc = chain_scenario(3, pairs=10)
    sc["topology"]["spacing_km"] = [10, 20, 40]
    sc["hardware"]["memory"]["count"] = [1, 2]
    sc["duration"] = [1.0, 2.0]
    sc["protocols"]["purification"] = ["none", {"name": "dejmps", "rounds": 2}]
    sc["requests"][0]["pairs"] = [5, 10]
    axes = find_axes(sc, registry)
    assert [a.path for a in axes] == ["duration", "topology.spacing_km", "hardware.memory.count",
                                      "protocols.purification", "requests.0.pairs"]
    assert axes[1].values == [10, 20, 40]


def test_lists_the_schema_declares_are_not_axes(registry):
    sc = chain_scenario(3, pairs=10)
    sc["requests"].append({"src": "n0", "dst": "n1", "pairs": 3})  # requests: a list of requests
    sc["hardware"]["links"] = [{"between": ["n0", "n1"], "pair_fidelity": 0.9}]  # between: a pair
    assert _paths(sc, registry) == []
    # ... but their fields are walked into
    sc["hardware"]["links"][0]["pair_fidelity"] = [0.8, 0.9]
    sc["requests"][1]["min_fidelity"] = [0.0, 0.5]
    assert _paths(sc, registry) == ["hardware.links.0.pair_fidelity", "requests.1.min_fidelity"]
    qplane.load_scenario(chain_scenario(3, pairs=10))  # a plain scenario loads as before


def test_component_parameters_are_checked_against_the_component(registry):
    sc = chain_scenario(3, pairs=10)
    sc["protocols"]["purification"] = {"name": "dejmps", "rounds": [1, 2]}
    sc["hardware"]["link"]["scheme"] = ["mim"]
    assert _paths(sc, registry) == ["hardware.link.scheme", "protocols.purification.rounds"]
    # an unknown component's lists are left to its own validation (which names it)
    sc = chain_scenario(3, pairs=10)
    sc["protocols"]["purification"] = {"name": "not-installed", "rounds": [1, 2]}
    assert _paths(sc, registry) == []


class _ListParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    weights: list[float] = [1.0]
    scale: float = 1.0


class _Router:
    def __init__(self, params):
        self.params = params

    def route(self, view, src, dst, request):
        import networkx as nx

        return nx.shortest_path(view, src, dst)


class ListParamPlugin:
    @hookimpl
    def qplane_register_routers(self, register):
        register("weighted", _Router, params=_ListParams, description="a router with a list parameter (tests)")


def test_a_list_the_component_declares_is_not_an_axis():
    registry = Registry(make_plugin_manager([ListParamPlugin()]))
    sc = chain_scenario(3, pairs=10)
    sc["protocols"]["routing"] = {"name": "weighted", "weights": [1.0, 2.0], "scale": [1.0, 3.0]}
    assert _paths(sc, registry) == ["protocols.routing.scale"]
    plan = make_plan("sweep", sc, registry=registry, seeds=1)
    assert [p.data["protocols"]["routing"]["weights"] for p in plan.points] == [[1.0, 2.0], [1.0, 2.0]]
    assert [p.data["protocols"]["routing"]["scale"] for p in plan.points] == [1.0, 3.0]


def test_parse_vary_values():
    a = parse_vary("protocols.purification=none,bbpssw,{name: dejmps, rounds: 2}")
    assert a.path == "protocols.purification"
    assert a.values == ["none", "bbpssw", {"name": "dejmps", "rounds": 2}]
    assert parse_vary("topology.spacing_km=10,20.5,1e3").values == [10, 20.5, 1000.0]
    assert parse_vary("topology.spacing_km=[10, 20]").values == [10, 20]
    assert parse_vary("name='a,b',c").values == ["a,b", "c"]
    with pytest.raises(ScenarioError, match="--vary"):
        parse_vary("no-equals-sign")


def test_vary_replaces_a_list_in_the_file(registry):
    sc = chain_scenario(3, pairs=10)
    sc["topology"]["spacing_km"] = [10, 20, 40]
    plan = make_plan("sweep", sc, {"topology.spacing_km": [5]}, seeds=1, registry=registry)
    assert plan.grid_axes == [] and [p.data["topology"]["spacing_km"] for p in plan.points] == [5]


def test_nested_lists_are_an_error(registry):
    sc = chain_scenario(3, pairs=10)
    sc["protocols"]["purification"] = ["none", {"name": "dejmps", "rounds": [1, 2]}]
    with pytest.raises(ScenarioError, match="protocols.purification.rounds"):
        make_plan("sweep", sc, seeds=1, registry=registry)


def test_repetitions_is_one_number(registry):
    sc = chain_scenario(3, pairs=10)
    sc["repetitions"] = 4
    assert len(make_plan("sweep", sc, registry=registry).seeds) == 4
    bad = copy.deepcopy(sc)
    bad["repetitions"] = [1, 2]  # not an axis: the seeds derive from one number
    with pytest.raises(ScenarioError, match="repetitions"):
        make_plan("sweep", bad, registry=registry)


def test_traffic_model_lists(registry):
    """``traffic`` is one model or a list of models (not a sweep); inside a model, lists its
    parameter model declares (``endpoints: [[a, b], ...]``) stay, scalar ones are axes."""
    if "poisson" not in registry.names("traffic"):
        pytest.skip("no 'poisson' traffic model installed")
    sc = chain_scenario(3, pairs=10)
    model = {"model": "poisson", "rate_hz": [10.0, 20.0], "pairs": 2, "endpoints": [["n0", "n2"], ["n0", "n1"]]}
    sc["traffic"] = model
    assert _paths(sc, registry) == ["traffic.rate_hz"]
    sc["traffic"] = [dict(model, rate_hz=5.0), model]
    assert _paths(sc, registry) == ["traffic.1.rate_hz"]
