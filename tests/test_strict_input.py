"""Strict input: a number must be finite everywhere (scenario models and every first-party
component's parameters), a key given twice in a YAML or JSON mapping is an error naming it and
its line, and input nested too deeply (or containing itself) is one line, exit code 2 — never
an internal error or a traceback. Also: the default output paths are derived from the
scenario's name made safe, in the current folder.
"""

from __future__ import annotations

import copy
import hashlib
import json
import typing
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import BaseModel, ValidationError

import qplane
from qplane.cli import main
from qplane.errors import ScenarioError
from qplane.registry import KINDS, Registry
from qplane.requests import EntanglementRequest
from qplane.scenario import Scenario, file_stem

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "chain.yaml"
BASE: dict[str, Any] = yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))
#: the plugins qplane ships (contrib/ is written as an outsider's and is not held to this)
FIRST_PARTY = {"topology", "hardware", "routing", "scheduling", "entanglement", "backend-fidelity",
               "backend-density", "backend-stabilizer", "applications"}


@pytest.fixture(autouse=True)
def _in_tmp(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    for var in ("QPLANE_DISABLE_PLUGIN_AUTOLOAD", "QPLANE_PLUGINS", "QPLANE_TRACE_PLUGINS"):
        monkeypatch.delenv(var, raising=False)


def _error(capsys, *argv: str) -> str:
    """Run the CLI expecting a user error: exit 2 and exactly one ``qplane: error:`` line."""
    rc = main([str(a) for a in argv])
    err = capsys.readouterr().err.strip()
    assert rc == 2, err
    assert len(err.splitlines()) == 1 and err.startswith("qplane: error: "), err
    assert "internal error" not in err and "Traceback" not in err
    return err


# ----------------------------------------------------------------------- non-finite numbers


@pytest.mark.parametrize("path", [
    "hardware.link.attenuation_db_per_km", "hardware.link.attempt_rate_hz", "hardware.operations.bsm_duration",
    "classical.speed_km_per_s", "hardware.memory.coherence_time", "hardware.link.pair_fidelity",
    "requests.0.min_fidelity", "requests.0.start", "duration",
])
@pytest.mark.parametrize("value", [".inf", "-.inf", ".nan", "inf", "nan"])
def test_a_non_finite_number_is_refused_naming_the_field(capsys, path, value):
    err = _error(capsys, "validate", EXAMPLE, "--set", f"{path}={value}")
    assert f": {path}: " in err and "finite number" in err, err


def test_a_non_finite_number_in_a_per_link_override_or_a_request_protocol_is_refused(capsys):
    err = _error(capsys, "validate", EXAMPLE, "--set", "hardware.links=[{between: [n0, n1], pair_fidelity: .nan}]")
    assert "hardware.links.0.pair_fidelity: Input should be a finite number" in err
    err = _error(capsys, "validate", EXAMPLE, "--set", "requests.0.protocols={cutoff: {name: age, max_age: .inf}}")
    assert "requests.0.protocols.cutoff.max_age: Input should be a finite number" in err


def _float_fields(model: type[BaseModel]) -> list[str]:
    def has_float(annotation: Any) -> bool:
        return annotation is float or any(has_float(a) for a in typing.get_args(annotation))
    return [name for name, f in model.model_fields.items() if has_float(f.annotation)]


def _first_party_models() -> list[tuple[str, type[BaseModel]]]:
    registry = Registry()
    found = [(f"{kind}:{c.name}", c.params) for kind in KINDS for c in registry.components(kind)
             if c.plugin in FIRST_PARTY]
    assert len(found) > 30 and {p for p in FIRST_PARTY} <= {c.plugin for k in KINDS for c in registry.components(k)}
    return found


@pytest.mark.parametrize("component,model", _first_party_models(), ids=lambda x: x if isinstance(x, str) else "")
def test_every_first_party_parameter_refuses_a_non_finite_number(component, model):
    for name in _float_fields(model):
        for bad in (float("inf"), float("-inf"), float("nan")):
            mapping = typing.get_origin(model.model_fields[name].annotation) is dict  # e.g. gravity's weights
            with pytest.raises(ValidationError) as exc:
                model.model_validate({name: {"x": bad} if mapping else bad})
            finite = [e for e in exc.value.errors() if e["loc"][:1] == (name,) and e["type"] == "finite_number"]
            assert finite, (component, name, exc.value.errors())


@pytest.mark.parametrize("model", [Scenario, EntanglementRequest])
def test_every_float_of_the_scenario_models_refuses_a_non_finite_number(model):
    def models(m: type[BaseModel], seen: set) -> None:
        if m in seen:
            return
        seen.add(m)
        for name in _float_fields(m):
            with pytest.raises(ValidationError) as exc:
                m.model_validate({name: float("inf")})
            assert any(e["loc"][:1] == (name,) and e["type"] == "finite_number" for e in exc.value.errors()), (m, name)
        for f in m.model_fields.values():
            for a in (f.annotation, *typing.get_args(f.annotation)):
                for inner in (a, *typing.get_args(a)):
                    if isinstance(inner, type) and issubclass(inner, BaseModel):
                        models(inner, seen)
    seen: set = set()
    models(model, seen)
    assert len(seen) > (5 if model is Scenario else 0)


# ----------------------------------------------------------------------- duplicate keys


def test_a_duplicate_yaml_key_names_the_key_and_its_line(tmp_path, capsys):
    path = tmp_path / "dup.yaml"
    path.write_text("name: a\nduration: 1.0\ntopology: {builder: chain, nodes: 3, spacing_km: 10}\n"
                    "hardware:\n  memory:\n    count: 2\n    coherence_time: 1.0\n    count: 3\n")
    err = _error(capsys, "validate", path)
    assert "dup.yaml" in err and "duplicate key 'count'" in err and "line 8" in err and "line 6" in err, err


def test_a_duplicate_top_level_yaml_key_is_refused(tmp_path, capsys):
    path = tmp_path / "dup.yaml"
    path.write_text("name: a\nduration: 1.0\nduration: 2.0\ntopology: {builder: chain, nodes: 3, spacing_km: 10}\n")
    assert "duplicate key 'duration'" in _error(capsys, "validate", path)


def test_yaml_merge_keys_may_still_be_overridden(tmp_path):
    path = tmp_path / "merge.yaml"
    path.write_text("name: a\nduration: 1.0\ntopology: {builder: chain, nodes: 3, spacing_km: 10}\n"
                    "hardware:\n  link: &l {pair_fidelity: 0.9}\n"
                    "  links: [{between: [n0, n1], <<: *l, pair_fidelity: 0.8}]\n")
    scenario = qplane.load_scenario(path)
    assert scenario.hardware.links[0].model_extra == {"pair_fidelity": 0.8}


def test_a_duplicate_json_key_names_the_key_and_its_line(tmp_path, capsys):
    data = copy.deepcopy(BASE)
    text = json.dumps(data, indent=2)
    # the same key twice in "topology", each on its own line: the second is the one named
    text = text.replace('"nodes": 5,', '"nodes": 5,\n    "spacing_km": 3,', 1)
    lines = [i for i, x in enumerate(text.splitlines(), 1) if '"spacing_km"' in x]
    assert len(lines) == 2
    path = tmp_path / "dup.json"
    path.write_text(text)
    err = _error(capsys, "validate", path)
    assert "dup.json" in err and f"duplicate key 'spacing_km' at line {lines[1]}" in err, err


def test_the_same_key_in_two_json_objects_is_no_duplicate(tmp_path, capsys):
    path = tmp_path / "ok.json"
    path.write_text(json.dumps(BASE))  # "name" in several objects (scenario, ...), "src" in requests
    assert main(["validate", str(path)]) == 0


def test_a_duplicate_key_in_a_set_value_is_refused(capsys):
    err = _error(capsys, "validate", EXAMPLE, "--set", "hardware.memory={count: 2, count: 3}")
    assert "--set hardware.memory" in err and "duplicate key 'count'" in err


# ----------------------------------------------------------------------- nesting


@pytest.mark.parametrize("suffix", [".yaml", ".json"])
def test_ten_thousand_nested_lists_are_one_line(tmp_path, capsys, suffix):
    path = tmp_path / f"deep{suffix}"
    deep = "[" * 10_000 + "]" * 10_000
    path.write_text(f'{{"name": "deep", "x": {deep}}}' if suffix == ".json" else f"name: deep\nx: {deep}\n")
    err = _error(capsys, "validate", path)
    assert "nested more than 100 levels deep" in err and path.name in err


def test_block_style_nesting_is_one_line(tmp_path, capsys):
    path = tmp_path / "deep.yaml"
    path.write_text("x:\n" + "".join("  " * i + "- \n" for i in range(1, 3000)))
    assert "nested more than 100 levels deep" in _error(capsys, "validate", path)


def test_nesting_under_the_recursion_limit_but_over_the_bound_is_refused(tmp_path, capsys):
    path = tmp_path / "deep.yaml"
    path.write_text("name: deep\nduration: 1\nx: " + "[" * 150 + "]" * 150 + "\n")
    assert "nested more than 100 levels deep" in _error(capsys, "validate", path)


def test_deep_nesting_through_set_is_one_line(capsys):
    err = _error(capsys, "validate", EXAMPLE, "--set", "hardware.memory=" + "[" * 10_000 + "]" * 10_000)
    assert "--set hardware.memory" in err and "nested more than 100 levels deep" in err
    err = _error(capsys, "validate", EXAMPLE, "--set", "hardware.memory=" + "[" * 200 + "]" * 200)
    assert "nested more than 100 levels deep" in err


def test_deep_nesting_through_vary_is_one_line(capsys):
    err = _error(capsys, "compare", EXAMPLE, "--vary", "hardware.memory.count=1," + "[" * 10_000 + "]" * 10_000,
                 "--dry-run")
    assert "nested more than 100 levels deep" in err


def test_a_yaml_alias_cycle_is_one_line(tmp_path, capsys):
    path = tmp_path / "cycle.yaml"
    path.write_text("name: c\nduration: 1\ntopology: {builder: chain, nodes: 3, spacing_km: 1}\n"
                    "hardware:\n  memory: &m {count: 2, again: *m}\n")
    assert "contains itself" in _error(capsys, "validate", path)


def test_a_deep_python_dictionary_is_a_scenario_error():
    data: Any = 1
    for _ in range(5000):
        data = [data]
    with pytest.raises(ScenarioError, match="nested more than 100 levels deep"):
        qplane.load_scenario({**BASE, "x": data})


# ----------------------------------------------------------------------- output paths


@pytest.mark.parametrize("name,stem", [
    ("chain-5", "chain-5"),
    ("../../x", "x"),
    ("/etc/passwd", "etc_passwd"),
    ("a/../../b", "a_._._b"),
    ("..", "scenario"),
    ("", "scenario"),
    ("   ", "scenario"),
    ("line\nbreak\x1b[31m", "line_break_[31m"),
    ("C:\\Windows\\x", "C__Windows_x"),
    (".hidden", "hidden"),
    ("x" * 300, "x" * 100 + "~" + hashlib.sha1(b"x" * 300).hexdigest()[:10]),
])
def test_file_stem_makes_a_safe_name(name, stem):
    assert file_stem(name) == stem
    assert "/" not in stem and ".." not in stem and not stem.startswith(".")


@pytest.mark.parametrize("name", ["../../escaped", "/tmp/absolute-escape", "sub/dir/x", "\x00\x07bell"])
def test_run_writes_its_default_results_file_in_the_current_folder(tmp_path, monkeypatch, capsys, name):
    here = tmp_path / "a" / "b"
    here.mkdir(parents=True)
    monkeypatch.chdir(here)
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump({**BASE, "name": name}))
    before = set(tmp_path.rglob("*"))
    assert main(["run", str(path)]) == 0
    written = set(tmp_path.rglob("*")) - before
    assert written == {here / f"{file_stem(name)}.results.json"}, written
    assert f"results: {file_stem(name)}.results.json" in capsys.readouterr().out
    assert not Path("/tmp/absolute-escape.results.json").exists()


def test_json_is_used_as_given(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "out").mkdir()
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump({**BASE, "name": "../../x"}))
    assert main(["run", str(path), "--json", "out/../given.json"]) == 0
    assert (tmp_path / "given.json").exists()


def test_compare_writes_its_default_folder_in_the_current_folder(tmp_path, monkeypatch, capsys):
    here = tmp_path / "a"
    here.mkdir()
    monkeypatch.chdir(here)
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump({**BASE, "name": "../escaped", "requests": [{"src": "n0", "dst": "n4", "pairs": 3}]}))
    assert main(["compare", str(path), "--vary", "protocols.routing=shortest-path,min-cost", "--seeds", "1",
                 "--executor", "serial", "--no-plots", "--no-progress"]) == 0
    assert (here / "escaped-compare" / "runs.json").exists()
    assert not (tmp_path / "escaped-compare").exists()
    assert main(["compare", str(path), "--vary", "protocols.routing=shortest-path,min-cost", "--seeds", "1",
                 "--executor", "serial", "--no-plots", "--no-progress", "--out", "../given"]) == 0
    assert (tmp_path / "given" / "runs.json").exists()
