"""Bad input through the command line: exit code 2, exactly one ``qplane: error:`` line on
stderr naming the file and the field, and never a traceback (unless ``--debug``).

Every variant starts from ``examples/chain.yaml`` (loaded with ``yaml.safe_load``), changes one
thing and is written into ``tmp_path``.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any, Callable

import pytest
import yaml

import qplane
from qplane.cli import main
from qplane.errors import ScenarioError
from qplane.registry import Registry

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "chain.yaml"
BASE: dict[str, Any] = yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))


pytestmark = pytest.mark.usefixtures("default_plugin_loading")  # see the root conftest.py


@pytest.fixture(scope="module")
def registry() -> Registry:
    return Registry()


def _variant(tmp_path: Path, change: Callable[[dict[str, Any]], None] | None = None, name: str = "scenario.yaml") -> Path:
    data = copy.deepcopy(BASE)
    if change is not None:
        change(data)
    path = tmp_path / name
    if name.endswith(".json"):
        path.write_text(json.dumps(data), encoding="utf-8")
    else:
        path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def _set(dotted: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def change(data: dict[str, Any]) -> None:
        *parents, last = dotted.split(".")
        node: Any = data
        for key in parents:
            node = node[int(key)] if isinstance(node, list) else node.setdefault(key, {})
        if isinstance(node, list):
            node[int(last)] = value
        else:
            node[last] = value

    return change


def _cli_error(capsys, *argv: Any) -> str:
    """Run the CLI, check the error contract, return the one error line."""
    rc = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    assert rc == 2, f"exit code {rc}; stderr: {err!r}"
    assert "Traceback" not in err and "Traceback" not in out
    lines = err.splitlines()
    assert len(lines) == 1, f"expected exactly one line on stderr, got: {err!r}"
    assert lines[0].startswith("qplane: error: "), lines[0]
    return lines[0]


def _assert_names(line: str, path: Path, field: str | None) -> None:
    prefix = f"qplane: error: {path}: " + (f"{field}: " if field else "")
    assert line.startswith(prefix), f"{line!r} does not start with {prefix!r}"


# ------------------------------------------------------------------- unknown components

PROTOCOL_SLOTS = {
    "routing": "router",
    "scheduling": "scheduler",
    "swapping": "swapping",
    "purification": "purification",
    "link_generation": "link_generation",
    "application": "application",
}


@pytest.mark.parametrize("slot", sorted(PROTOCOL_SLOTS))
def test_unknown_protocol_component_lists_installed(capsys, tmp_path, registry, slot):
    path = _variant(tmp_path, _set(f"protocols.{slot}", "no-such-thing"))
    line = _cli_error(capsys, "run", path)
    _assert_names(line, path, f"protocols.{slot}")
    assert "'no-such-thing'" in line
    installed = registry.names(PROTOCOL_SLOTS[slot])
    assert installed, f"no first-party {slot} component installed"
    assert "installed: " + ", ".join(installed) in line


def test_unknown_component_given_with_params_names_the_name_field(capsys, tmp_path, registry):
    path = _variant(tmp_path, _set("protocols.routing", {"name": "no-such-router"}))
    line = _cli_error(capsys, "run", path)
    _assert_names(line, path, "protocols.routing.name")
    assert "installed: " + ", ".join(registry.names("router")) in line


@pytest.mark.parametrize(
    "dotted, field, kind",
    [
        ("backend", "backend", "backend"),
        ("topology.builder", "topology.builder", "topology"),
        ("hardware.link.scheme", "hardware.link.scheme", "link_model"),
        ("hardware.memory.model", "hardware.memory.model", "memory_model"),
    ],
)
def test_unknown_backend_builder_scheme_lists_installed(capsys, tmp_path, registry, dotted, field, kind):
    path = _variant(tmp_path, _set(dotted, "no-such-thing"))
    line = _cli_error(capsys, "run", path)
    _assert_names(line, path, field)
    assert "'no-such-thing'" in line
    installed = registry.names(kind)
    assert installed
    assert "installed: " + ", ".join(installed) in line


def test_unknown_backend_from_the_command_line(capsys, registry):
    line = _cli_error(capsys, "run", EXAMPLE, "--backend", "no-such-backend")
    _assert_names(line, EXAMPLE, "backend")
    assert "installed: " + ", ".join(registry.names("backend")) in line


# ------------------------------------------------------------------- fields and values


P = pytest.param
BAD_FIELDS = [
    P("no_such_field", 1, "no_such_field", ["unknown field"], id="unknown-top-level-field"),
    P("hardware.link.no_such_param", 1, "hardware.link.no_such_param", ["unknown field"], id="unknown-link-param"),
    P("topology.no_such_param", 1, "topology.no_such_param", ["unknown field"], id="unknown-topology-param"),
    P("hardware.memory.no_such_param", 1, "hardware.memory.no_such_param", ["unknown field"],
      id="unknown-memory-param"),
    P("protocols.link_generation", {"name": "heralded", "no_such_param": 1},
      "protocols.link_generation.no_such_param", ["unknown field"], id="unknown-protocol-param"),
    P("topology.spacing_km", -20, "topology.spacing_km", ["greater than 0", "-20"], id="negative-spacing"),
    P("duration", -1.0, "duration", ["greater than 0", "-1.0"], id="negative-duration"),
    P("requests.0.src", "n9", "requests.0.src", ["'n9'", "not in the topology"], id="src-not-in-topology"),
    P("requests.0.dst", "nowhere", "requests.0.dst", ["'nowhere'", "not in the topology"],
      id="dst-not-in-topology"),
    P("requests.0.min_fidelity", 1.5, "requests.0.min_fidelity", ["1.5"], id="min-fidelity-above-1"),
    P("requests.0.rate", 50.0, "requests.0", ["exactly one of 'pairs' and 'rate'"], id="pairs-and-rate"),
    P("hardware.nodes", {"n9": {"memory": {"count": 2}}}, "hardware.nodes.n9", ["'n9'", "not in the topology"],
      id="node-override-not-in-topology"),
    P("hardware.links", [{"between": ["n0", "n2"], "pair_fidelity": 0.9}], "hardware.links.0.between",
      ["n0-n2", "no link"], id="link-override-not-in-topology"),
]


@pytest.mark.parametrize("dotted, value, field, words", BAD_FIELDS)
def test_bad_field_names_file_and_field(capsys, tmp_path, dotted, value, field, words):
    path = _variant(tmp_path, _set(dotted, value))
    line = _cli_error(capsys, "run", path)
    _assert_names(line, path, field)
    for word in words:
        assert word in line, f"{word!r} not in {line!r}"


def test_validate_reports_the_same_error(capsys, tmp_path):
    path = _variant(tmp_path, _set("requests.0.src", "n9"))
    line = _cli_error(capsys, "validate", path)
    _assert_names(line, path, "requests.0.src")


def test_json_scenario_errors_name_the_json_file(capsys, tmp_path):
    path = _variant(tmp_path, _set("topology.no_such_param", 1), name="scenario.json")
    line = _cli_error(capsys, "run", path)
    _assert_names(line, path, "topology.no_such_param")


def test_infinite_duration_is_rejected(capsys, tmp_path):
    # accepted today: the run "succeeds" and writes "duration": null and "sim_time_s": Infinity
    # (not JSON) into the results
    path = _variant(tmp_path, _set("duration", float("inf")))
    line = _cli_error(capsys, "run", path, "--json", tmp_path / "out.json")
    _assert_names(line, path, "duration")


# -------------------------------------------------------------------------- the file


def test_malformed_yaml_names_the_line(capsys, tmp_path):
    path = tmp_path / "broken.yaml"
    path.write_text("name: chain\nseed: [1, 2\nduration: 1.0\n", encoding="utf-8")
    line = _cli_error(capsys, "run", path)
    _assert_names(line, path, None)
    assert "malformed YAML" in line
    assert "line 3" in line


def test_malformed_json_names_the_line(capsys, tmp_path):
    path = tmp_path / "broken.json"
    path.write_text('{\n  "name": "chain",\n  "seed": 7,\n}\n', encoding="utf-8")
    line = _cli_error(capsys, "run", path)
    _assert_names(line, path, None)
    assert "malformed JSON" in line
    assert "line 4" in line


def test_missing_file(capsys, tmp_path):
    path = tmp_path / "does-not-exist.yaml"
    line = _cli_error(capsys, "run", path)
    _assert_names(line, path, None)
    assert "no such file" in line


def test_scenario_that_is_a_list(capsys, tmp_path):
    path = tmp_path / "list.yaml"
    path.write_text(yaml.safe_dump([BASE]), encoding="utf-8")
    line = _cli_error(capsys, "run", path)
    _assert_names(line, path, None)
    assert "mapping" in line


def test_file_that_is_not_utf8(capsys, tmp_path):
    # today: "qplane: internal error: UnicodeDecodeError ..." and exit code 1
    path = tmp_path / "latin1.yaml"
    text = EXAMPLE.read_text(encoding="utf-8").replace("name: chain-5", "name: caf\u00e9")
    path.write_bytes(text.encode("latin-1"))  # a lone 0xE9 byte: not UTF-8
    line = _cli_error(capsys, "run", path, "--json", tmp_path / "out.json")
    _assert_names(line, path, None)


# ---------------------------------------------------------------------------- --set


def test_set_index_out_of_range(capsys):
    line = _cli_error(capsys, "run", EXAMPLE, "--set", "requests.3.dst=n2")
    _assert_names(line, EXAMPLE, "requests.3")
    assert "1 item)" in line


def test_set_without_equals(capsys):
    line = _cli_error(capsys, "run", EXAMPLE, "--set", "topology.nodes")
    _assert_names(line, EXAMPLE, None)
    assert "--set 'topology.nodes'" in line


def test_set_into_a_scalar(capsys):
    line = _cli_error(capsys, "run", EXAMPLE, "--set", "seed.x=1")
    _assert_names(line, EXAMPLE, None)


# ---------------------------------------------------------------------------- --debug


def test_debug_shows_the_traceback(capsys, tmp_path):
    path = _variant(tmp_path, _set("protocols.routing", "no-such-router"))
    with pytest.raises(ScenarioError) as exc:  # the exception, hence its traceback, escapes
        main(["--debug", "run", str(path)])
    assert exc.value.field == "protocols.routing"
    assert exc.value.source == str(path)
    with pytest.raises(ScenarioError):
        main(["run", str(path), "--debug"])  # accepted anywhere on the line


# --------------------------------------------------------------------- the Python API


def test_api_errors_carry_source_and_field(tmp_path):
    data = copy.deepcopy(BASE)
    data["requests"][0]["src"] = "n9"
    with pytest.raises(ScenarioError) as exc:
        qplane.run(data)
    assert exc.value.source == "<scenario>"
    assert exc.value.field == "requests.0.src"

    with pytest.raises(ScenarioError) as exc:
        qplane.load_scenario(EXAMPLE, overrides=["duration=-3"])
    assert exc.value.source == str(EXAMPLE)
    assert exc.value.field == "duration"


# ------------------------------------------------------------ a parameter study, run once


def test_a_single_run_of_a_parameter_study_points_to_sweep(capsys, tmp_path):
    """A list where one value is expected (here a topology builder's parameter, checked against
    the builder's own model) stops ``load_scenario``, ``qplane run`` and ``qplane validate``
    with the field and a pointer to ``qplane sweep`` (the experiment distribution)."""
    path = _variant(tmp_path, _set("topology.spacing_km", [10, 20]))
    with pytest.raises(ScenarioError) as exc:
        qplane.build(qplane.load_scenario(path))  # a component's parameters: checked when built
    assert exc.value.field == "topology.spacing_km" and "qplane sweep" in str(exc.value)
    with pytest.raises(ScenarioError) as exc:  # the scenario's own fields: checked when loaded
        qplane.load_scenario(_variant(tmp_path, _set("protocols.purification", ["none", "dejmps"]), name="study.yaml"))
    assert exc.value.field == "protocols.purification" and "qplane sweep" in str(exc.value)
    for cmd in ("run", "validate"):
        line = _cli_error(capsys, cmd, path)
        _assert_names(line, path, "topology.spacing_km")
        assert "qplane sweep" in line
    # the same through --set
    assert "qplane sweep" in _cli_error(capsys, "run", EXAMPLE, "--set", "topology.nodes=[3, 4]")


def test_repetitions_is_one_number(tmp_path):
    data = copy.deepcopy(BASE)
    data["repetitions"] = 4
    assert qplane.load_scenario(data).repetitions == 4  # a single run accepts (and ignores) it
    for bad in ([1, 2], 0):
        data["repetitions"] = bad
        with pytest.raises(ScenarioError, match="repetitions"):
            qplane.load_scenario(data)
