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

from qplane.cli import main
from qplane.errors import ScenarioError
from qplane.registry import Registry
from qplane.requests import EntanglementRequest
from qplane.scenario import OperationsSpec, Protocols, Scenario

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "chain.yaml"
BASE: dict[str, Any] = yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))


@pytest.fixture(autouse=True)
def _default_plugin_loading(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)  # a results file written by default lands here
    for var in ("QPLANE_DISABLE_PLUGIN_AUTOLOAD", "QPLANE_PLUGINS", "QPLANE_TRACE_PLUGINS"):
        monkeypatch.delenv(var, raising=False)


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
    from qplane.sim import build

    sc = _loaded("protocols.cutoff.max_age=0.1")
    assert sc.protocols.cutoff == {"max_age": 0.1}
    assert build(sc, registry).resolved["cutoff"].component.name == "age"


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
