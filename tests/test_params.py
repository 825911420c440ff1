"""Every component's parameters are discoverable: unknown fields list the valid ones and suggest
the closest, ``--set`` into a component the file does not name, ``qplane describe``,
``qplane plugins --params`` and ``qplane schema scenario`` with every installed component's
parameters.

Expected values are read from the models and the registry, not copied from output.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from pydantic import BaseModel, ConfigDict, Field

from qplane.cli import main
from qplane.hookspecs import hookimpl
from qplane.errors import ScenarioError
from qplane.registry import Registry
from qplane.requests import EntanglementRequest
from qplane.scenario import OperationsSpec, Protocols, Scenario, yaml_load

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "chain.yaml"
BASE: dict[str, Any] = yaml_load(EXAMPLE.read_text(encoding="utf-8"))  # 1.0e6 is a number, as qplane reads it


pytestmark = pytest.mark.usefixtures("default_plugin_loading")  # see the root conftest.py


@pytest.fixture(scope="module")
def registry() -> Registry:
    return Registry()


def _run(capsys, *argv: Any) -> tuple[int, str, str]:
    rc = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return rc, out, err


def _error_line(capsys, *argv: Any) -> str:
    rc, out, err = _run(capsys, *argv)
    assert rc == 2, f"exit code {rc}; stderr: {err!r}"
    assert "Traceback" not in err and len(err.splitlines()) == 1, err
    assert err.startswith("qplane: error: ")
    return err.strip()


def _scenario(tmp_path: Path, **changes: Any) -> Path:
    """examples/chain.yaml with its top-level keys changed: a mapping given for a mapping
    updates it (``protocols={"routng": ...}`` adds a key), anything else replaces it."""
    data = copy.deepcopy(BASE)
    for key, value in changes.items():
        if isinstance(value, dict) and isinstance(data.get(key), dict):
            data[key].update(value)
        else:
            data[key] = value
    path = tmp_path / "scenario.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def _valid_fields(line: str) -> list[str]:
    assert "valid fields: " in line, line
    return line.split("valid fields: ", 1)[1].split(", ")


# ------------------------------------------------------------------- unknown fields


def test_unknown_protocols_field_suggests_the_closest_and_lists_the_valid(capsys, tmp_path):
    path = _scenario(tmp_path, protocols={"routng": "shortest-path"})
    line = _error_line(capsys, "run", path)
    assert line.startswith(f"qplane: error: {path}: protocols.routng: unknown field 'routng'; "
                           "did you mean 'routing'? valid fields: ")
    assert _valid_fields(line) == list(Protocols.model_fields)


def test_unknown_field_inside_a_list_item_uses_the_item_model(capsys, tmp_path):
    path = _scenario(tmp_path, requests=[{**BASE["requests"][0], "srcc": "n0"}])
    line = _error_line(capsys, "validate", path)
    assert f"{path}: requests.0.srcc: unknown field 'srcc'; did you mean 'src'?" in line
    assert _valid_fields(line) == list(EntanglementRequest.model_fields)


def test_unknown_field_inside_a_mapping_value_uses_the_value_model(capsys, tmp_path):
    path = _scenario(tmp_path, hardware={"nodes": {"n1": {"operations": {"gate_eror": 0.1}}}})
    line = _error_line(capsys, "validate", path)
    assert f"{path}: hardware.nodes.n1.operations.gate_eror: unknown field 'gate_eror'; " \
           "did you mean 'gate_error'?" in line
    assert _valid_fields(line) == list(OperationsSpec.model_fields)


def test_unknown_top_level_field_without_a_close_match_lists_the_valid(capsys, tmp_path):
    path = _scenario(tmp_path, zzzzzz=1)
    line = _error_line(capsys, "run", path)
    assert line.startswith(f"qplane: error: {path}: zzzzzz: unknown field 'zzzzzz'; valid fields: ")
    assert "did you mean" not in line
    assert _valid_fields(line) == list(Scenario.model_fields)


def test_unknown_component_parameter_suggests_the_closest(capsys, tmp_path, registry):
    path = _scenario(tmp_path, protocols={"topology_manager": {"name": "lldp", "heartbeat_intervl": 0.1}})
    line = _error_line(capsys, "validate", path)
    assert line.startswith(f"qplane: error: {path}: protocols.topology_manager.heartbeat_intervl: "
                           "unknown field 'heartbeat_intervl'; did you mean 'heartbeat_interval'? valid fields: ")
    assert _valid_fields(line) == list(registry.get("topology_manager", "lldp").params.model_fields)


def test_unknown_parameter_of_a_component_without_parameters(capsys, tmp_path):
    path = _scenario(tmp_path, protocols={"cutoff": {"name": "none", "max_age": 0.1}})
    line = _error_line(capsys, "validate", path)
    assert line == f"qplane: error: {path}: protocols.cutoff.max_age: unknown field 'max_age' (takes no parameters)"


def test_component_validate_names_the_field_and_the_valid_parameters(registry):
    comp = registry.get("link_model", "mim")
    with pytest.raises(ScenarioError) as info:
        comp.validate({"pair_fidelty": 0.9}, "hardware.link")
    assert info.value.field == "hardware.link.pair_fidelty"
    assert "did you mean 'pair_fidelity'?" in info.value.message
    assert _valid_fields(info.value.message) == list(comp.params.model_fields)


def test_experiment_planning_reports_the_same_hint(capsys, tmp_path):
    # compare/sweep validate every run themselves (not through load_scenario)
    path = _scenario(tmp_path, protocols={"purificaton": "none"})
    line = _error_line(capsys, "compare", path, "--vary", "seed=1,2", "--dry-run")
    assert "protocols.purificaton: unknown field 'purificaton'; did you mean 'purification'?" in line


# ------------------------------------------------------------------- --set into a component


def _loaded(*overrides: str, data: dict[str, Any] | None = None) -> Scenario:
    from qplane.scenario import load_scenario

    return load_scenario(copy.deepcopy(BASE if data is None else data), overrides=list(overrides))


def test_set_into_an_unnamed_component_names_the_default():
    from qplane.components import BY_PATH

    assert "link_generation" not in BASE["protocols"]  # the README's example relies on this
    sc = _loaded("protocols.link_generation.mode=per_attempt")
    assert sc.protocols.link_generation == {"name": BY_PATH["protocols.link_generation"].default, "mode": "per_attempt"}


def test_set_uses_the_fields_name_key():
    from qplane.components import BY_PATH

    data = copy.deepcopy(BASE)
    del data["hardware"]
    sc = _loaded("hardware.link.pair_fidelity=0.9", "hardware.memory.count=4", "backend.x=1", data=data)
    link, memory = BY_PATH["hardware.link"], BY_PATH["hardware.memory"]
    assert sc.hardware.link == {link.key: link.default, "pair_fidelity": 0.9}
    assert sc.hardware.memory == {memory.key: memory.default, "count": 4}
    assert sc.backend == {"name": "fidelity", "x": 1}  # chain.yaml names its backend


def test_set_into_a_named_component_keeps_its_name_under_the_fields_key():
    data = copy.deepcopy(BASE)
    data["topology"] = "chain"  # not a valid scenario, but --set must still build {builder: chain, ...}
    from qplane.scenario import apply_set

    apply_set(data, ["topology", "nodes"], 3)
    apply_set(data, ["protocols", "routing", "k"], 3)
    assert data["topology"] == {"builder": "chain", "nodes": 3}
    assert data["protocols"]["routing"] == {"name": "shortest-path", "k": 3}


def test_set_into_the_cutoff_leaves_the_implied_policy(registry):
    from qplane_engine.sim import build

    sc = _loaded("protocols.cutoff.max_age=0.1")
    assert sc.protocols.cutoff == {"max_age": 0.1}
    assert build(sc, registry).component_name("cutoff") == "age"


def test_set_into_a_field_without_default_adds_no_name():
    data = copy.deepcopy(BASE)
    from qplane.scenario import apply_set

    apply_set(data, ["traffic", "rate_hz"], 5.0)
    assert data["traffic"] == {"rate_hz": 5.0}


def test_readme_example_runs(capsys, tmp_path):
    rc, out, err = _run(capsys, "run", EXAMPLE, "--set", "protocols.link_generation.mode=per_attempt",
                        "--json", tmp_path / "out.json")
    assert rc == 0, err
    results = json.loads((tmp_path / "out.json").read_text(encoding="utf-8"))
    assert results["scenario"]["protocols"]["link_generation"] == {"name": "heralded", "mode": "per_attempt"}
    assert all(r["status"] == "completed" for r in results["requests"])


# ------------------------------------------------------------------- descriptions

#: the core's scenario models: every field of each is described
CORE_MODELS = {"Scenario", "Hardware", "Protocols", "OperationsSpec", "NodeOverride", "LinkOverride",
               "FailureEvent", "FailureRates", "RandomFailures", "Classical", "EntanglementRequest"}


def _undescribed(schema: dict[str, Any]) -> list[str]:
    models = {"Scenario": schema, **schema["$defs"]}
    assert CORE_MODELS <= set(models), CORE_MODELS - set(models)
    return [f"{m}.{p}" for m in sorted(CORE_MODELS) for p, s in models[m].get("properties", {}).items()
            if not s.get("description")]


def test_every_scenario_field_has_a_description():
    assert _undescribed(Scenario.model_json_schema()) == []


def test_component_fields_default_to_the_table():
    from qplane.components import BY_PATH

    for leaf, info in Protocols.model_fields.items():
        assert info.default == BY_PATH[f"protocols.{leaf}"].default, leaf
        assert f"qplane describe {leaf} NAME" in info.description
    assert Scenario.model_fields["backend"].default == BY_PATH["backend"].default


# ------------------------------------------------------------------- qplane schema scenario


@pytest.fixture(scope="module")
def schema(registry) -> dict[str, Any]:
    from qplane.describe import scenario_schema

    return scenario_schema(registry)


def _validator(schema: dict[str, Any]) -> Any:
    import jsonschema

    return jsonschema.Draft202012Validator(schema)


def _field_schema(schema: dict[str, Any], path: str) -> dict[str, Any]:
    node = schema
    *parents, leaf = path.split(".")
    for part in parents:
        node = schema["$defs"][node["properties"][part]["$ref"].rsplit("/", 1)[-1]]
    return node["properties"][leaf]


def test_schema_is_valid_json_schema(schema):
    import jsonschema

    jsonschema.Draft202012Validator.check_schema(schema)


def test_schema_without_plugins_is_valid_and_accepts_no_component(monkeypatch):
    import jsonschema

    from qplane.describe import scenario_schema

    monkeypatch.setenv("QPLANE_DISABLE_PLUGIN_AUTOLOAD", "1")
    schema = scenario_schema(Registry())
    jsonschema.Draft202012Validator.check_schema(schema)
    assert list(_validator(schema).iter_errors(BASE))  # chain.yaml names components none registers


def test_schema_command_prints_every_components_parameters(capsys, registry):
    rc, out, err = _run(capsys, "schema", "scenario")
    assert rc == 0, err
    assert "heartbeat_interval" in out
    printed = json.loads(out)
    for kind in ("router", "purification", "topology_manager", "topology"):
        for comp in registry.components(kind):
            assert set(comp.params.model_fields) <= set(printed["$defs"][f"{kind}.{comp.name}"]["properties"])


def test_schema_results_is_unchanged(capsys):
    from qplane.results import Results

    rc, out, err = _run(capsys, "schema", "results")
    assert rc == 0, err
    assert json.loads(out) == json.loads(json.dumps(Results.model_json_schema(by_alias=True)))


def test_every_core_model_field_is_described_in_the_generated_schema(schema):
    assert _undescribed(schema) == []


def test_each_component_field_is_a_name_or_a_mapping_with_its_parameters(schema, registry):
    from qplane.components import FIELDS

    defs = schema["$defs"]
    for f in FIELDS:
        field = _field_schema(schema, f.path)
        assert {"$ref": f"#/$defs/{f.kind}"} in field["anyOf"], f.path
        choice = defs[f.kind]["anyOf"]
        names = [c["enum"] for c in choice if c.get("type") == "string"]
        assert names in ([registry.names(f.kind)], []), f.path
        assert [c["$ref"] for c in choice if "$ref" in c] == [
            f"#/$defs/{f.kind}.{c.name}" for c in registry.components(f.kind)]
        for comp in registry.components(f.kind):
            variant = defs[f"{f.kind}.{comp.name}"]
            assert variant["properties"][f.key]["const"] == comp.name
            assert (f.key in variant.get("required", [])) == (comp.name != f.implied_name()), (f.path, comp.name)
            for pname, info in comp.params.model_fields.items():
                prop = variant["properties"][pname]
                assert prop.get("description") == info.description, (f.path, comp.name, pname)
                if not info.is_required() and info.default_factory is None:
                    assert prop["default"] == json.loads(json.dumps(info.default)), (f.path, comp.name, pname)


def test_traffic_accepts_a_list_and_request_protocols_are_per_request_choices(schema):
    from qplane.components import PER_REQUEST

    traffic = _field_schema(schema, "traffic")
    assert {"type": "array", "items": {"$ref": "#/$defs/traffic"}} in traffic["anyOf"]
    protocols = schema["$defs"]["EntanglementRequest"]["properties"]["protocols"]
    mapping = next(a for a in protocols["anyOf"] if a.get("type") == "object")
    assert mapping["properties"] == {k: {"$ref": f"#/$defs/{f.kind}"} for k, f in PER_REQUEST.items()}
    assert mapping["additionalProperties"] is False


def test_every_example_the_loader_accepts_the_schema_accepts(schema):
    from qplane import build
    from qplane.scenario import load_scenario, read_scenario_source

    checked = 0
    for path in sorted((ROOT / "examples").glob("*.yaml")):
        try:
            build(load_scenario(path))
        except ScenarioError:
            continue  # a parameter study (lists of values): not one scenario
        data, _, _ = read_scenario_source(path)
        assert list(_validator(schema).iter_errors(data)) == [], path
        checked += 1
    assert checked >= 3


class _Opaque:
    """A parameter type pydantic cannot describe in JSON Schema."""


class _OpaqueParams(BaseModel):
    model_config = ConfigDict(extra="forbid", arbitrary_types_allowed=True)
    thing: _Opaque | None = None


class _ThirdPartyRouters:
    """A router named like a first-party one (selecting it then needs a pin) and one whose
    parameters have no JSON Schema."""

    class Params(BaseModel):
        model_config = ConfigDict(extra="forbid")
        depth: int = Field(2, ge=1, description="how deep it looks")

    @hookimpl
    def qplane_register_routers(self, register):
        register("shortest-path", object, params=self.Params, description="another shortest-path")
        register("opaque", object, params=_OpaqueParams, description="parameters without a schema")


def test_schema_with_a_name_two_plugins_register_and_a_model_without_schema():
    from qplane.describe import scenario_schema
    from qplane.plugins import make_plugin_manager

    registry = Registry(make_plugin_manager(extra_plugins=[_ThirdPartyRouters()]))
    schema = scenario_schema(registry)
    _validator(schema).check_schema(schema)
    refs = [c["$ref"].rsplit("/", 1)[-1] for c in schema["$defs"]["router"]["anyOf"] if "$ref" in c]
    pinned = [r for r in refs if r.startswith("router.shortest-path")]
    assert len(pinned) == 2
    plugins = {schema["$defs"][r]["properties"]["plugin"]["const"] for r in pinned}
    assert plugins == set(registry.providers("router", "shortest-path"))
    opaque = schema["$defs"]["router.opaque"]
    assert opaque["properties"]["name"]["const"] == "opaque" and opaque["additionalProperties"] is True
    data = copy.deepcopy(BASE)
    data["protocols"]["routing"] = {"name": "shortest-path", "plugin": "_ThirdPartyRouters", "depth": 3}
    assert list(_validator(schema).iter_errors(data)) == []


REQUEST = {"src": "n0", "dst": "n4", "pairs": 1}


@pytest.mark.parametrize("change, valid", [
    ({"protocols": {"topology_manager": {"name": "lldp", "heartbeat_interval": 0.1}}}, True),
    ({"protocols": {"topology_manager": {"name": "lldp", "heartbeat_intervl": 0.1}}}, False),
    ({"protocols": {"topology_manager": {"name": "lldp", "heartbeat_interval": -1}}}, False),
    ({"protocols": {"topology_manager": {"name": "lldp", "plugin": "topology"}}}, True),
    ({"protocols": {"topology_manager": {"name": "lldp", "plugin": "routing"}}}, False),
    ({"protocols": {"routing": "no-such-router"}}, False),
    ({"protocols": {"routing": {"k": 2}}}, False),  # routing implies no name
    ({"protocols": {"cutoff": {"max_age": 0.1}}}, True),  # a cutoff mapping implies 'age'
    ({"hardware": {"link": {"pair_fidelity": 0.9}}}, True),  # the default scheme, mim
    ({"hardware": {"link": {"scheme": "direct", "bsa_efficiency": 0.5}}}, False),
    ({"traffic": [{"model": "poisson", "rate_hz": 5, "pairs": 1}]}, True),
    ({"traffic": {"rate_hz": 5, "pairs": 1}}, False),  # traffic names its model
    ({"requests": [{**REQUEST, "protocols": {"routing": {"name": "k-shortest", "k": 2}}}]}, True),
    ({"requests": [{**REQUEST, "protocols": {"routing": {"name": "k-shortest", "kk": 2}}}]}, False),
    ({"requests": [{**REQUEST, "protocols": {"scheduling": "fifo"}}]}, False),  # not per request
])
def test_schema_judges_component_parameters_as_the_loader_does(schema, registry, change, valid):
    from qplane.scenario import load_scenario
    from qplane_engine.sim import build

    data = copy.deepcopy(BASE)
    for key, value in change.items():
        data[key] = {**data[key], **value} if isinstance(value, dict) and isinstance(data.get(key), dict) else value
    assert (list(_validator(schema).iter_errors(data)) == []) == valid
    try:
        build(load_scenario(data), registry)
        loaded = True
    except ScenarioError:
        loaded = False
    assert loaded == valid


# ------------------------------------------------------------------- qplane describe, plugins --params


@pytest.mark.parametrize("kind", ["topology_manager", "protocols.topology_manager"])
def test_describe_prints_plugin_description_and_a_parameter_table(capsys, registry, kind):
    comp = registry.get("topology_manager", "lldp")
    rc, out, err = _run(capsys, "describe", kind, "lldp")
    assert rc == 0, err
    lines = out.splitlines()
    assert f"(plugin {comp.plugin})" in lines[0] and comp.description in lines[0]
    assert "protocols.topology_manager: {name: lldp, <parameters>}" in lines[1]
    assert lines[2].split() == ["parameter", "type", "default", "description"]
    rows = {line.split()[0]: line for line in lines[4:]}
    assert list(rows) == list(comp.params.model_fields)
    for name, info in comp.params.model_fields.items():
        assert info.description in rows[name]
        assert json.dumps(info.default) in rows[name]
    assert "number > 0.0" in rows["heartbeat_interval"]  # the constraint gt=0 shows with the type


def test_describe_by_scenario_field_and_json(capsys, registry):
    rc, out, err = _run(capsys, "describe", "link", "mim", "--json")
    assert rc == 0, err
    data = json.loads(out)
    comp = registry.get("link_model", "mim")
    assert (data["kind"], data["name"], data["plugin"], data["field"], data["key"]) == (
        "link_model", "mim", comp.plugin, "hardware.link", "scheme")
    assert [p["name"] for p in data["parameters"]] == list(comp.params.model_fields)
    for p in data["parameters"]:
        info = comp.params.model_fields[p["name"]]
        assert p["description"] == info.description
        assert p["required"] is info.is_required()
        assert p.get("default") == info.default


def test_describe_a_required_parameter_and_a_component_without_parameters(capsys):
    rc, out, err = _run(capsys, "describe", "cutoff", "age", "--json")
    assert rc == 0, err
    (max_age,) = json.loads(out)["parameters"]
    assert max_age["required"] is True and "default" not in max_age
    rc, out, err = _run(capsys, "describe", "cutoff", "none")
    assert rc == 0, err
    assert out.splitlines()[-1] == "no parameters"


def test_describe_unknown_kind_or_name_is_one_line_listing_what_is_installed(capsys, registry):
    from qplane.registry import KINDS

    line = _error_line(capsys, "describe", "routr", "shortest-path")
    assert "unknown kind 'routr'; did you mean 'router'?" in line
    assert all(k in line for k in KINDS)
    line = _error_line(capsys, "describe", "routing", "no-such-router")
    assert line.endswith("installed: " + ", ".join(registry.names("router")))


def test_describe_a_name_two_plugins_provide_shows_both(capsys, monkeypatch):
    from qplane.plugins import make_plugin_manager

    # every Registry() the command builds gets the extra plugin
    monkeypatch.setattr("qplane.registry.make_plugin_manager",
                        lambda: make_plugin_manager(extra_plugins=[_ThirdPartyRouters()]))
    rc, out, err = _run(capsys, "describe", "router", "shortest-path", "--json")
    assert rc == 0, err
    data = json.loads(out)
    assert {d["plugin"] for d in data} == {"routing", "_ThirdPartyRouters"}
    assert [p["name"] for d in data if d["plugin"] == "_ThirdPartyRouters" for p in d["parameters"]] == ["depth"]


def test_plugins_params_lists_every_components_parameters(capsys, registry):
    from qplane.registry import KINDS

    rc, out, err = _run(capsys, "plugins", "--params")
    assert rc == 0, err
    params = {line.strip().split(":")[0] for line in out.splitlines() if line.startswith(" " * 8)}
    expected = {n for k in KINDS for c in registry.components(k) for n in c.params.model_fields}
    assert expected and params == expected
    assert "        max_age: number > 0.0 (required)" in out.splitlines()
    rc, out, err = _run(capsys, "plugins", "--params", "--json")
    entries = {(c["kind"], c["name"]): c for p in json.loads(out)["plugins"] for c in p["components"]}
    assert [p["name"] for p in entries["topology_manager", "lldp"]["parameters"]] == list(
        registry.get("topology_manager", "lldp").params.model_fields)
    rc, out, err = _run(capsys, "plugins")
    assert not any(line.startswith(" " * 8) for line in out.splitlines())  # without --params: no parameters
