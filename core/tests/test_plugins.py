"""The plugin manager and the registry: discovery through entry points, the environment
switches, a broken plugin named while the others keep working, duplicate component names,
and unknown-component messages that list what is installed.
"""

from __future__ import annotations

import copy
from importlib import metadata
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml

import qplane
from qplane import plugins as qplane_plugins
from qplane.cli import main
from qplane.errors import PluginError, UnknownComponentError
from qplane.hookspecs import hookimpl
from qplane.plugins import load_errors, make_plugin_manager, plugin_infos
from qplane.registry import KINDS, Registry

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "chain.yaml"
FIRST_PARTY = {"topology", "hardware", "routing", "scheduling", "entanglement", "backend-fidelity"}


pytestmark = pytest.mark.usefixtures("default_plugin_loading")  # see the root conftest.py


@pytest.fixture
def broken_entry_point(monkeypatch):
    """The installed entry points plus one whose module does not exist."""
    real = qplane_plugins._entry_points()
    broken = metadata.EntryPoint(name="broken", value="qplane_no_such_module", group="qplane")
    monkeypatch.setattr(qplane_plugins, "_entry_points", lambda: sorted([*real, broken], key=lambda ep: ep.name))
    return broken


# ------------------------------------------------------------------------ discovery


def test_first_party_plugins_are_discovered_by_entry_point():
    pm = make_plugin_manager()
    infos = plugin_infos(pm)
    assert FIRST_PARTY <= set(infos)
    assert load_errors(pm) == {}
    assert infos["topology"].distribution == "qplane-topology"
    assert infos["topology"].version
    assert infos["backend-fidelity"].module == "qplane_backend_fidelity.plugin"


def test_broken_entry_point_is_named_and_the_others_load(broken_entry_point):
    pm = make_plugin_manager()
    errors = load_errors(pm)
    assert set(errors) == {"broken"}
    assert "qplane_no_such_module" in errors["broken"]
    assert errors["broken"].startswith("ModuleNotFoundError")
    assert FIRST_PARTY <= set(plugin_infos(pm))
    assert "broken" not in plugin_infos(pm)
    registry = Registry(pm)
    assert registry.names("topology") and registry.names("backend")


def test_plugins_command_shows_the_broken_plugin_as_failed(broken_entry_point, capsys):
    assert main(["plugins"]) == 0
    out, err = capsys.readouterr()
    failed = [line for line in out.splitlines() if "FAILED" in line]
    assert len(failed) == 1
    assert failed[0].startswith("broken  FAILED: ModuleNotFoundError")
    for name in FIRST_PARTY:
        assert any(line.startswith(f"{name}  (") for line in out.splitlines()), name
    assert "    topology         chain" in out


def test_run_still_works_and_warns_about_the_broken_plugin(broken_entry_point, capsys, tmp_path):
    out_file = tmp_path / "r.json"
    assert main(["run", str(EXAMPLE), "--json", str(out_file)]) == 0
    out, err = capsys.readouterr()
    assert err.splitlines() == [
        f"qplane: warning: plugin 'broken' failed to load: {load_errors(make_plugin_manager())['broken']}"
    ]
    assert "completed" in out
    assert out_file.exists()


# ------------------------------------------------------------------ environment switches


def test_disable_autoload_loads_no_plugin(monkeypatch):
    monkeypatch.setenv("QPLANE_DISABLE_PLUGIN_AUTOLOAD", "1")
    pm = make_plugin_manager()
    assert plugin_infos(pm) == {}
    registry = Registry(pm)
    assert all(registry.names(kind) == [] for kind in KINDS)


def test_disable_autoload_then_unknown_component_says_none_installed(monkeypatch, capsys):
    monkeypatch.setenv("QPLANE_DISABLE_PLUGIN_AUTOLOAD", "1")
    scenario = qplane.load_scenario(EXAMPLE)
    with pytest.raises(qplane.ScenarioError) as exc:
        qplane.build(scenario, Registry(make_plugin_manager()))
    assert "installed: none" in str(exc.value)
    assert exc.value.field == "backend"

    assert main(["validate", str(EXAMPLE)]) == 2
    err = capsys.readouterr().err
    assert err == f"qplane: error: {EXAMPLE}: backend: unknown backend 'fidelity'; installed: none\n"


def test_disable_autoload_still_takes_extra_plugins(monkeypatch):
    monkeypatch.setenv("QPLANE_DISABLE_PLUGIN_AUTOLOAD", "1")
    registry = Registry(make_plugin_manager(extra_plugins=[RouterPluginA()]))
    assert registry.names("router") == ["router-a"]


def test_allow_list_loads_only_the_named_plugins(monkeypatch):
    monkeypatch.setenv("QPLANE_PLUGINS", "topology")
    pm = make_plugin_manager()
    assert set(plugin_infos(pm)) == {"topology"}
    registry = Registry(pm)
    assert {"chain", "ring", "star", "grid", "file"} <= set(registry.names("topology"))
    assert all(registry.names(kind) == [] for kind in KINDS if kind not in ("topology", "topology_manager"))

    monkeypatch.setenv("QPLANE_PLUGINS", " routing , scheduling ")
    assert set(plugin_infos(make_plugin_manager())) == {"routing", "scheduling"}


def test_trace_plugins_writes_event_hook_calls_to_stderr(monkeypatch, capsys):
    monkeypatch.setenv("QPLANE_TRACE_PLUGINS", "1")
    qplane.run(EXAMPLE, registry=Registry(make_plugin_manager()), overrides=["requests.0.pairs=2"])
    err = capsys.readouterr().err
    for hook in ("qplane_simulation_start", "qplane_request_submitted", "qplane_request_finished",
                 "qplane_simulation_end", "qplane_results_assembled"):
        assert f"  {hook} [hook]" in err, hook


def test_trace_plugins_writes_registration_hook_calls_to_stderr(monkeypatch, capsys):
    # plugins.py: "QPLANE_TRACE_PLUGINS=1 - print every hook call to stderr"; the registry calls
    # each registration impl directly, around pluggy, so none of these calls is traced today
    monkeypatch.setenv("QPLANE_TRACE_PLUGINS", "1")
    Registry(make_plugin_manager())
    err = capsys.readouterr().err
    assert "qplane_register_backends" in err
    assert "qplane_register_topology_builders" in err


# ---------------------------------------------------------------- the registry's rules


class RouterPluginA:
    @hookimpl
    def qplane_register_routers(self, register):
        register("router-a", object, description="first")


class DuplicateRouterPluginA:
    @hookimpl
    def qplane_register_routers(self, register):
        register("router-a", object, description="second")


class ChainAgain:
    @hookimpl
    def qplane_register_topology_builders(self, register):
        register("chain", object)


def test_same_name_from_two_plugins_is_a_plugin_error_naming_both():
    # both registrations are kept (a scenario may pin one, see tests/test_plugin_robustness.py);
    # selecting the name without a pin is the error naming both plugins
    registry = Registry(make_plugin_manager(extra_plugins=[RouterPluginA(), DuplicateRouterPluginA()]))
    with pytest.raises(PluginError) as exc:
        registry.get("router", "router-a")
    message = str(exc.value)
    assert "'router-a'" in message
    assert "'RouterPluginA'" in message and "'DuplicateRouterPluginA'" in message


def test_same_name_as_a_first_party_component_is_a_plugin_error():
    registry = Registry(make_plugin_manager(extra_plugins=[ChainAgain()]))
    with pytest.raises(PluginError) as exc:
        registry.get("topology", "chain")
    message = str(exc.value)
    assert "'chain'" in message and "'topology'" in message and "'ChainAgain'" in message


def test_the_same_name_in_two_kinds_is_allowed():
    class BackendNamedLikeARouter:
        @hookimpl
        def qplane_register_backends(self, register):
            register("router-a", object)

    registry = Registry(make_plugin_manager(extra_plugins=[RouterPluginA(), BackendNamedLikeARouter()]))
    assert "router-a" in registry.names("router") and "router-a" in registry.names("backend")


def test_two_extra_plugins_of_the_same_type_both_register():
    # make_plugin_manager names an extra plugin by __name__ or its type's name; two
    # namespaces (or two instances of one class) must not collide on that name
    @hookimpl
    def register_x(register):
        register("router-x", object)

    @hookimpl
    def register_y(register):
        register("router-y", object)

    first = SimpleNamespace(qplane_register_routers=register_x)
    second = SimpleNamespace(qplane_register_routers=register_y)
    registry = Registry(make_plugin_manager(extra_plugins=[first, second]))
    assert {"router-x", "router-y"} <= set(registry.names("router"))


def test_a_plugin_whose_registration_raises_is_recorded_and_others_register():
    class ExplodingPlugin:
        @hookimpl
        def qplane_register_routers(self, register):
            raise RuntimeError("boom while registering")

    registry = Registry(make_plugin_manager(extra_plugins=[ExplodingPlugin(), RouterPluginA()]))
    assert set(registry.errors) == {"ExplodingPlugin"}
    assert "qplane_register_routers" in registry.errors["ExplodingPlugin"]
    assert "RuntimeError: boom while registering" in registry.errors["ExplodingPlugin"]
    assert {"router-a", "shortest-path", "min-cost"} <= set(registry.names("router"))
    assert registry.names("topology")


def test_unknown_component_lists_the_installed_names():
    registry = Registry()
    with pytest.raises(UnknownComponentError) as exc:
        registry.get("router", "no-such-router", field="protocols.routing")
    assert exc.value.field == "protocols.routing"
    installed = registry.names("router")
    assert {"shortest-path", "min-cost"} <= set(installed)
    assert str(exc.value) == f"protocols.routing: unknown router 'no-such-router'; installed: {', '.join(installed)}"


def test_unknown_component_error_keeps_its_type_through_the_runner():
    # sim._resolve and load_scenario re-raise with ScenarioError.with_source, which must not
    # turn an UnknownComponentError into a plain ScenarioError
    data = yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))
    data = copy.deepcopy(data)
    data["protocols"]["routing"] = "no-such-router"
    with pytest.raises(UnknownComponentError) as exc:
        qplane.run(data)
    assert exc.value.field == "protocols.routing"
    assert exc.value.source == "<scenario>"


def test_a_plugin_component_with_parameters_is_selected_by_name(tmp_path):
    # a third-party router, selected by name in a scenario, with parameters validated by its model
    from pydantic import BaseModel, ConfigDict

    class EveryOtherParams(BaseModel):
        model_config = ConfigDict(extra="forbid")
        label: str = "x"

    seen = {}

    class ShortestWithLabel:
        def __init__(self, params):
            seen["label"] = params.label

        def route(self, graph, src, dst, request):
            import networkx as nx

            return nx.shortest_path(graph, src, dst)

    class ThirdParty:
        @hookimpl
        def qplane_register_routers(self, register):
            register("third-party", ShortestWithLabel, params=EveryOtherParams)

    registry = Registry(make_plugin_manager(extra_plugins=[ThirdParty()]))
    results = qplane.run(EXAMPLE, registry=registry,
                         overrides=["protocols.routing.name=third-party", "protocols.routing.label=hello",
                                    "requests.0.pairs=3"])
    assert seen == {"label": "hello"}
    assert results["requests"][0]["status"] == "completed"
    assert results["plugins"]["ThirdParty"] is None  # not installed: no version

    scenario = qplane.load_scenario(EXAMPLE, overrides=["protocols.routing={name: third-party, colour: red}"])
    with pytest.raises(qplane.ScenarioError) as exc:
        qplane.build(scenario, registry)
    assert exc.value.field == "protocols.routing.colour"
