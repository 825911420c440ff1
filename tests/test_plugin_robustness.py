"""Robustness against plugins: a plugin that breaks while loading, registering or running is
named in one clear line (exit code 2; ``--debug`` shows the traceback) while the others keep
working; two plugins registering one name is an error naming both, unless the scenario pins
which plugin provides it (``{name: ..., plugin: ...}``).
"""

from __future__ import annotations

import json
from importlib import metadata
from pathlib import Path

import networkx as nx
import pytest
import yaml

import qplane
from qplane import plugins as qplane_plugins
from qplane.cli import main
from qplane.errors import CapabilityError, PluginError, ScenarioError, UnknownComponentError
from qplane.hookspecs import hookimpl
from qplane.plugins import make_plugin_manager
from qplane.registry import AmbiguousComponentError, Registry
from qplane_devkit.conformance import scenario


pytestmark = pytest.mark.usefixtures("default_plugin_loading")  # see the root conftest.py


def chain(protocols: dict | None = None, pairs: int = 5, **kw) -> dict:
    return scenario({"builder": "chain", "nodes": 3, "spacing_km": 10}, [{"src": "n0", "dst": "n2", "pairs": pairs}],
                    protocols=protocols, **kw)


def registry_with(*plugins: object) -> Registry:
    return Registry(make_plugin_manager(extra_plugins=list(plugins)))


def write(tmp_path: Path, data: dict, name: str = "scenario.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


@pytest.fixture
def extra_plugins(monkeypatch):
    """Make the CLI's registry include the given plugin objects, as if they were installed."""

    def install(*plugins: object) -> None:
        real = qplane_plugins.make_plugin_manager

        def with_extras(extra_plugins=None):
            return real(extra_plugins=[*plugins, *(extra_plugins or [])])

        monkeypatch.setattr(qplane_plugins, "make_plugin_manager", with_extras)
        import qplane.registry

        monkeypatch.setattr(qplane.registry, "make_plugin_manager", with_extras)

    return install


# ----------------------------------------------------------------------- while loading


def test_a_plugin_that_raises_on_import_is_named_and_the_run_goes_on(monkeypatch, tmp_path, capsys):
    (tmp_path / "exploding_plugin.py").write_text("raise RuntimeError('cannot find my config')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    real = qplane_plugins._entry_points()
    broken = metadata.EntryPoint(name="exploding", value="exploding_plugin", group="qplane")
    monkeypatch.setattr(qplane_plugins, "_entry_points", lambda: sorted([*real, broken], key=lambda ep: ep.name))

    path = write(tmp_path, chain())
    assert main(["run", str(path), "--json", str(tmp_path / "out.json")]) == 0
    err = capsys.readouterr().err
    assert err == "qplane: warning: plugin 'exploding' failed to load: RuntimeError: cannot find my config\n"

    # selecting a component the broken plugin would have provided says which plugin failed
    path = write(tmp_path, chain({"routing": "exploding-router"}))
    assert main(["run", str(path)]) == 2
    line = capsys.readouterr().err.splitlines()[-1]
    assert line.startswith(f"qplane: error: {path}: protocols.routing: unknown router 'exploding-router'; installed: ")
    assert line.endswith("(plugins that failed to load: 'exploding')")


def test_a_plugin_that_raises_while_registering_is_named():
    class BrokenRegistration:
        @hookimpl
        def qplane_register_routers(self, register):
            register("half-registered", nx.shortest_path)
            raise KeyError("missing table")

    registry = registry_with(BrokenRegistration())
    assert registry.errors == {"BrokenRegistration": "qplane_register_routers: KeyError: 'missing table'"}
    assert "shortest-path" in registry.names("router")  # the others are intact


def test_a_misspelt_hook_is_named_not_ignored():
    class Misspelt:
        @hookimpl
        def qplane_register_router(self, register):  # no such hook: would never be called
            register("never", object)

        @hookimpl
        def qplane_register_applications(self, register):
            register("misspelt-app", object)

    registry = registry_with(Misspelt())
    assert registry.errors == {"Misspelt": "qplane_register_router: not a qplane hook (misspelt? the hooks are "
                                           "in qplane.hookspecs)"}
    assert "misspelt-app" in registry.names("application")  # its other hooks work


def test_a_hook_with_a_wrong_argument_fails_to_load_by_name(monkeypatch, tmp_path, capsys):
    (tmp_path / "wrong_args_plugin.py").write_text(
        "from qplane.hookspecs import hookimpl\n\n"
        "@hookimpl\ndef qplane_register_routers(registr):\n    pass\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    real = qplane_plugins._entry_points()
    wrong = metadata.EntryPoint(name="wrong-args", value="wrong_args_plugin", group="qplane")
    monkeypatch.setattr(qplane_plugins, "_entry_points", lambda: sorted([*real, wrong], key=lambda ep: ep.name))
    assert main(["plugins"]) == 0
    out = capsys.readouterr().out
    failed = [line for line in out.splitlines() if "FAILED" in line]
    assert len(failed) == 1 and failed[0].startswith("wrong-args  FAILED: PluginValidationError")
    assert "{'registr'}" in out  # pluggy says which argument the spec lacks


def test_register_needs_a_name():
    class Nameless:
        @hookimpl
        def qplane_register_routers(self, register):
            register("", object)

    registry = registry_with(Nameless())
    assert "non-empty string name" in registry.errors["Nameless"]


# ------------------------------------------------------------------------ during a run


class ExplodingApplication:
    def __init__(self, params, context):
        self.seen = 0

    def on_pair(self, request, pair):
        self.seen += 1
        if self.seen == 3:
            raise ValueError("unexpected pair\nwith a second line")
        return False


class ExplodingRouter:
    def __init__(self, params):
        pass

    def route(self, graph, src, dst, request=None):
        return nx.shortest_path(graph, src, "no-such-node")  # a networkx error, deep in networkx


class PolitePlugin:
    """Raises qplane's own error: that passes as it is."""

    def __init__(self, params, context):
        self.ctx = context

    def on_pair(self, request, pair):
        raise CapabilityError("backend 'fidelity' lacks capability 'gates' needed by polite")


class FaultyPlugin:
    @hookimpl
    def qplane_register_applications(self, register):
        register("exploding", ExplodingApplication)
        register("polite", PolitePlugin)

    @hookimpl
    def qplane_register_routers(self, register):
        register("exploding", ExplodingRouter)


class FaultyResultsHook:
    @hookimpl
    def qplane_results_assembled(self, context, results):
        results["extra"]["mine"] = 1 / len(results["extra"].get("nothing", []))


def test_an_application_that_raises_is_named_with_the_time():
    with pytest.raises(PluginError) as exc:
        qplane.run(chain({"application": "exploding"}), registry=registry_with(FaultyPlugin()))
    e = exc.value
    message = str(e)
    assert message.startswith("plugin 'FaultyPlugin' failed during the run at t=")
    assert "ValueError: unexpected pair | with a second line" in message
    assert "test_plugin_robustness.py:" in message and "in on_pair" in message
    assert "\n" not in message
    assert isinstance(e.__cause__, ValueError)
    assert e.plugin == "FaultyPlugin" and 0 < e.time < 1


def test_a_router_failing_inside_a_library_is_blamed_not_the_library():
    with pytest.raises(PluginError) as exc:
        qplane.run(chain({"routing": "exploding"}), registry=registry_with(FaultyPlugin()))
    assert str(exc.value).startswith("plugin 'FaultyPlugin' failed during the run at t=0 s: NodeNotFound: ")
    assert "in route)" in str(exc.value)  # the plugin's frame, not networkx's


def test_a_failing_event_hook_is_named():
    with pytest.raises(PluginError, match=r"^plugin 'FaultyResultsHook' failed during the run .*ZeroDivisionError"):
        qplane.run(chain(), registry=registry_with(FaultyResultsHook()))


def test_qplanes_own_errors_raised_by_a_plugin_pass_unchanged():
    with pytest.raises(CapabilityError, match="needed by polite"):
        qplane.run(chain({"application": "polite"}), registry=registry_with(FaultyPlugin()))


def test_a_fault_with_no_plugin_code_is_not_blamed_on_a_plugin(monkeypatch):
    sim = qplane.build(qplane.load_scenario(chain()), registry_with())

    def broken_core(*args):
        raise RuntimeError("a bug in the core")

    # the kernel calls it at the request's start: no plugin code anywhere on the traceback
    # (a core function a plugin calls, like sim.deliver, would name that plugin: its frame is
    # the deepest plugin frame; --debug shows the rest)
    monkeypatch.setattr(sim, "_arrive", broken_core)
    with pytest.raises(RuntimeError, match="a bug in the core"):
        sim.run()


def test_first_party_plugins_are_named_like_any_other(monkeypatch):
    # the fault is inside qplane_entanglement: the deepest plugin frame names 'entanglement'
    from qplane_entanglement import plugin as entanglement

    def exploding_on_pair(self, request, pair):
        raise OSError("disk full")

    monkeypatch.setattr(entanglement.ConsumeApplication, "on_pair", exploding_on_pair)
    with pytest.raises(PluginError, match=r"^plugin 'entanglement' failed during the run at t=\S+ s: OSError: disk full \("):
        qplane.run(chain())


def test_cli_prints_one_line_and_exits_2_and_debug_shows_the_traceback(tmp_path, capsys, extra_plugins):
    extra_plugins(FaultyPlugin())
    path = write(tmp_path, chain({"application": "exploding"}))
    assert main(["run", str(path)]) == 2
    out, err = capsys.readouterr()
    assert err.count("\n") == 1
    assert err.startswith("qplane: error: plugin 'FaultyPlugin' failed during the run at t=")
    assert "ValueError: unexpected pair" in err

    with pytest.raises(PluginError) as exc:
        main(["run", str(path), "--debug"])
    assert isinstance(exc.value.__cause__, ValueError)  # the traceback shows the plugin's own


# ------------------------------------------------------------- one name, two plugins


class OtherRouting:
    """A third-party plugin that also calls its router 'shortest-path'."""

    @hookimpl
    def qplane_register_routers(self, register):
        register("shortest-path", LongestRouter, description="not what it says")


class LongestRouter:
    def __init__(self, params):
        pass

    def route(self, graph, src, dst, request=None):
        paths = list(nx.all_simple_paths(graph, src, dst))
        return max(paths, key=len) if paths else None


def ring(protocols: dict) -> dict:
    return scenario({"builder": "ring", "nodes": 5, "spacing_km": 10}, [{"src": "n0", "dst": "n1", "pairs": 3}],
                    protocols=protocols)


def test_an_ambiguous_name_is_an_error_naming_both_plugins_and_the_pin():
    registry = registry_with(OtherRouting())
    assert registry.providers("router", "shortest-path") == ["OtherRouting", "routing"]
    assert ("router", "shortest-path", ["OtherRouting", "routing"]) in registry.conflicts()
    with pytest.raises(AmbiguousComponentError) as exc:
        qplane.run(ring({"routing": "shortest-path"}), registry=registry)
    e = exc.value
    assert isinstance(e, PluginError) and isinstance(e, ScenarioError)
    assert e.field == "protocols.routing"
    assert str(e) == ("<scenario>: protocols.routing: router 'shortest-path' is registered by both plugin "
                      "'OtherRouting' and plugin 'routing'; pin one, e.g. "
                      "{name: shortest-path, plugin: OtherRouting}")


def test_the_default_component_is_ambiguous_too():
    # a scenario that does not mention routing gets 'shortest-path': still ambiguous, still named
    with pytest.raises(AmbiguousComponentError, match="'OtherRouting' and plugin 'routing'"):
        qplane.run(ring({}), registry=registry_with(OtherRouting()))


def test_a_pin_chooses_the_plugin():
    registry = registry_with(OtherRouting())
    ours = qplane.run(ring({"routing": {"name": "shortest-path", "plugin": "routing"}}), registry=registry)
    theirs = qplane.run(ring({"routing": {"name": "shortest-path", "plugin": "OtherRouting"}}), registry=registry)
    assert ours["requests"][0]["paths"] == [["n0", "n1"]]
    assert theirs["requests"][0]["paths"] == [["n0", "n4", "n3", "n2", "n1"]]
    assert "OtherRouting" in theirs["plugins"] and "routing" not in theirs["plugins"]


def test_a_pin_per_request_and_from_the_command_line(tmp_path, capsys, extra_plugins):
    data = ring({"routing": {"name": "shortest-path", "plugin": "routing"}})
    data["requests"].append({"src": "n0", "dst": "n1", "pairs": 3,
                             "protocols": {"routing": {"name": "shortest-path", "plugin": "OtherRouting"}}})
    results = qplane.run(data, registry=registry_with(OtherRouting()))
    assert [len(r["paths"][0]) for r in results["requests"]] == [2, 5]

    extra_plugins(OtherRouting())
    path = write(tmp_path, ring({"routing": "shortest-path"}))
    assert main(["run", str(path)]) == 2
    assert "pin one" in capsys.readouterr().err
    assert main(["run", str(path), "--set", "protocols.routing.plugin=routing", "--json", "r.json"]) == 0
    assert json.loads(Path("r.json").read_text())["requests"][0]["paths"] == [["n0", "n1"]]


def test_a_pin_to_a_plugin_that_does_not_provide_the_name():
    registry = registry_with(OtherRouting())
    with pytest.raises(UnknownComponentError) as exc:
        qplane.run(ring({"routing": {"name": "shortest-path", "plugin": "topology"}}), registry=registry)
    assert exc.value.field == "protocols.routing.plugin"
    assert "plugin 'topology' does not provide router 'shortest-path'; provided by: 'OtherRouting', 'routing'" in str(exc.value)
    with pytest.raises(ScenarioError, match=r"protocols.routing.plugin: 'plugin' names the plugin"):
        qplane.run(ring({"routing": {"name": "shortest-path", "plugin": 3}}), registry=registry)


def test_a_pin_is_checked_when_the_name_is_unambiguous_and_works_for_every_key():
    data = chain({"routing": {"name": "min-cost", "plugin": "routing"}})
    data["topology"]["plugin"] = "topology"  # builder: chain
    data["hardware"]["link"]["plugin"] = "hardware"  # scheme: mim
    data["hardware"]["memory"]["plugin"] = "hardware"  # model: depolarizing (the default)
    data["backend"] = {"name": "fidelity", "plugin": "backend-fidelity"}
    assert qplane.run(data)["requests"][0]["status"] == "completed"
    data["topology"]["plugin"] = "routing"
    with pytest.raises(UnknownComponentError, match=r"topology.plugin: plugin 'routing' does not provide topology builder 'chain'"):
        qplane.run(data)


def test_plugins_command_lists_both_providers_and_the_conflict(capsys, extra_plugins):
    extra_plugins(OtherRouting())
    assert main(["plugins"]) == 0
    out = capsys.readouterr().out
    assert "    router           shortest-path    not what it says" in out
    assert "    router           shortest-path    fewest hops" in out
    assert ("router 'shortest-path' is registered by plugins OtherRouting, routing: a scenario selecting it must "
            "pin one, e.g. {name: shortest-path, plugin: OtherRouting}") in out
    assert main(["plugins", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["conflicts"] == [{"kind": "router", "name": "shortest-path", "plugins": ["OtherRouting", "routing"]}]


def test_validate_reports_the_ambiguity_with_the_file_and_field(tmp_path, capsys, extra_plugins):
    extra_plugins(OtherRouting())
    path = write(tmp_path, ring({"routing": "shortest-path"}))
    assert main(["validate", str(path)]) == 2
    assert capsys.readouterr().err.startswith(
        f"qplane: error: {path}: protocols.routing: router 'shortest-path' is registered by both plugin")
