"""The ``qplane`` command line, called in-process (``qplane.cli.main``) and once as the
installed console script: ``run``, ``validate``, ``schema``, ``plugins``, ``--set``,
``--seed``, ``--backend`` and plugin-provided sub-commands.

Bad input (exit code 2, one ``qplane: error:`` line) is covered in ``test_scenario_errors.py``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from importlib import metadata
from pathlib import Path

import pytest
import yaml

from qplane import plugins as qplane_plugins
from qplane.cli import main
from qplane.results import SCHEMA, Results

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "chain.yaml"
CONSOLE_SCRIPT = ROOT / ".venv" / "bin" / "qplane"

REQUEST_KEYS = {
    "id", "src", "dst", "status", "paths", "delivered", "rate_hz", "fidelity_mean",
    "fidelity_stderr", "fidelity_estimated_mean", "latency_mean_s", "latency_p50_s",
    "latency_p95_s",
}
LINK_KEYS = {"a", "b", "attempts", "pairs_generated"}
TOP_KEYS = {"schema", "scenario", "seed", "backend", "sim_time_s", "wall_time_s", "events", "requests", "links"}

FIRST_PARTY_COMPONENTS = {
    "chain", "ring", "star", "grid", "file",  # topology
    "mim", "depolarizing",  # hardware
    "shortest-path", "min-cost",  # routing
    "fifo",  # scheduling
    "heralded", "asap", "none", "consume",  # entanglement
    "fidelity",  # backend
}


pytestmark = pytest.mark.usefixtures("default_plugin_loading")  # see the root conftest.py


def _run(capsys, *argv: str) -> tuple[int, str, str]:
    rc = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return rc, out, err


def _write_yaml(path: Path, data: dict) -> Path:
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def _example() -> dict:
    return yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))


def _check_results_document(data: dict) -> None:
    Results.model_validate(data)
    assert data["schema"] == SCHEMA == "qplane.results/2"
    assert TOP_KEYS <= data.keys()
    assert isinstance(data["scenario"], dict) and data["scenario"]["name"] == data["name"]
    assert data["requests"], "the example has one request"
    for req in data["requests"]:
        assert REQUEST_KEYS <= req.keys(), REQUEST_KEYS - req.keys()
    assert data["links"]
    for link in data["links"]:
        assert LINK_KEYS <= link.keys(), LINK_KEYS - link.keys()


# ------------------------------------------------------------------------------------ run


def test_run_prints_table_and_writes_results_json(capsys, tmp_path):
    out_file = tmp_path / "out" / "chain.json"
    out_file.parent.mkdir()
    rc, out, err = _run(capsys, "run", EXAMPLE, "--json", out_file)

    assert rc == 0, err
    assert err == ""
    lines = out.splitlines()
    assert lines[0].startswith("chain-5: backend fidelity, seed 7, ")
    header = lines[1].split()
    assert header[:6] == ["id", "src", "dst", "status", "hops", "delivered"]
    # the JSON's names, explained in a legend under the table
    assert {"rate_hz", "fidelity_mean", "fidelity_stderr", "fidelity_estimated_mean", "latency_p50_s"} <= set(header)
    row = lines[3].split()
    assert row[:6] == ["0", "n0", "n4", "completed", "4", "100"]
    assert lines[-1] == f"results: {out_file}"

    data = json.loads(out_file.read_text(encoding="utf-8"))
    _check_results_document(data)
    assert data["name"] == "chain-5"
    assert data["seed"] == 7
    assert data["backend"] == "fidelity"
    req = data["requests"][0]
    assert (req["src"], req["dst"], req["status"]) == ("n0", "n4", "completed")
    assert req["paths"] == [["n0", "n1", "n2", "n3", "n4"]]
    assert req["delivered"] == 100
    assert 0.5 <= req["fidelity_mean"] <= 1.0
    assert req["rate_hz"] > 0
    assert len(data["links"]) == 4
    assert all(link["pairs_generated"] >= 100 for link in data["links"])
    assert all(link["attempts"] >= link["pairs_generated"] for link in data["links"])
    assert data["events"] > 0 and data["sim_time_s"] > 0 and data["wall_time_s"] >= 0


def test_run_set_overrides_reach_nested_fields(capsys, tmp_path):
    out_file = tmp_path / "r.json"
    rc, out, err = _run(
        capsys, "run", EXAMPLE, "--set", "topology.nodes=3", "--set", "requests.0.dst=n2", "--json", out_file
    )
    assert rc == 0, err
    data = json.loads(out_file.read_text(encoding="utf-8"))
    req = data["requests"][0]
    assert req["dst"] == "n2"
    assert req["paths"] == [["n0", "n1", "n2"]]  # 2 hops
    assert len(data["links"]) == 2
    assert data["scenario"]["topology"]["nodes"] == 3


def test_run_seed_and_backend_options_replace_the_scenarios(capsys, tmp_path):
    scenario = _example()
    scenario["backend"] = "no-such-backend"  # only --backend makes this scenario runnable
    path = _write_yaml(tmp_path / "other-backend.yaml", scenario)
    out_file = tmp_path / "r.json"
    rc, out, err = _run(capsys, "run", path, "--seed", "11", "--backend", "fidelity", "--json", out_file)
    assert rc == 0, err
    assert "seed 11" in out.splitlines()[0]
    data = json.loads(out_file.read_text(encoding="utf-8"))
    assert data["seed"] == 11
    assert data["scenario"]["seed"] == 11
    assert data["backend"] == "fidelity"
    assert data["scenario"]["backend"] == "fidelity"


# ----------------------------------------------------------------- validate, schema, plugins


def test_validate_accepts_the_example(capsys):
    rc, out, err = _run(capsys, "validate", EXAMPLE)
    assert rc == 0, err
    assert out.startswith(f"{EXAMPLE}: valid")
    assert "5 nodes" in out and "4 links" in out


def test_schema_scenario_is_json_schema_with_the_fields(capsys):
    rc, out, err = _run(capsys, "schema", "scenario")
    assert rc == 0, err
    schema = json.loads(out)
    assert {"name", "seed", "duration", "backend", "topology", "hardware", "protocols", "requests"} <= set(
        schema["properties"]
    )
    assert schema["additionalProperties"] is False
    assert "duration" in schema["required"]


def test_schema_results_is_json_schema_with_the_fields(capsys):
    rc, out, err = _run(capsys, "schema", "results")
    assert rc == 0, err
    schema = json.loads(out)
    props = schema["properties"]
    assert TOP_KEYS <= set(props)
    assert "schema_" not in props  # the alias is what the document uses
    request_props = schema["$defs"]["RequestResult"]["properties"]
    assert REQUEST_KEYS <= set(request_props)
    assert LINK_KEYS <= set(schema["$defs"]["LinkResult"]["properties"])


def test_plugins_lists_every_first_party_component(capsys):
    rc, out, err = _run(capsys, "plugins")
    assert rc == 0, err
    assert "FAILED" not in out
    # component lines are indented: "    <kind> <name> <description>"
    listed = {line.split()[1] for line in out.splitlines() if line.startswith("    ")}
    assert FIRST_PARTY_COMPONENTS <= listed, FIRST_PARTY_COMPONENTS - listed
    plugin_lines = [line.split()[0] for line in out.splitlines() if line and not line.startswith(" ")]
    assert {"topology", "hardware", "routing", "scheduling", "entanglement", "backend-fidelity"} <= set(plugin_lines)


def test_plugins_json_lists_components_and_no_errors(capsys):
    rc, out, err = _run(capsys, "plugins", "--json")
    assert rc == 0, err
    data = json.loads(out)
    assert data["errors"] == {}
    names = {c["name"] for p in data["plugins"] for c in p["components"]}
    assert FIRST_PARTY_COMPONENTS <= names


def test_unknown_subcommand_is_a_one_line_usage_error(capsys):
    # argparse's own errors leave through SystemExit (the console script turns it into the code)
    with pytest.raises(SystemExit) as exc:
        main(["frobnicate"])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and err.startswith("qplane: error:")


# --------------------------------------------------------------------- plugin sub-commands


def test_plugin_registered_command_is_available(capsys, tmp_path, monkeypatch):
    """hookspecs.qplane_register_commands: "Called once by the CLI. factory(subparsers) adds a
    sub-parser whose func default is called with the parsed arguments and returns an exit code."
    """
    module = "qplane_test_hello_command"
    (tmp_path / f"{module}.py").write_text(
        textwrap.dedent(
            """
            from qplane.hookspecs import hookimpl

            def _hello(args):
                print(f"hello {args.who}")
                return 0

            def add_hello(subparsers):
                p = subparsers.add_parser("hello", help="say hello")
                p.add_argument("who")
                p.set_defaults(func=_hello)

            @hookimpl
            def qplane_register_commands(register):
                register("hello", add_hello, description="say hello")
            """
        ),
        encoding="utf-8",
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, module, raising=False)
    fake = metadata.EntryPoint(name="hello-command", value=module, group="qplane")
    real = qplane_plugins._entry_points()
    monkeypatch.setattr(qplane_plugins, "_entry_points", lambda: sorted([*real, fake], key=lambda ep: ep.name))

    rc, out, err = _run(capsys, "plugins")
    assert rc == 0 and "hello" in out  # the registry sees the command ...

    try:
        rc = main(["hello", "world"])  # ... and so must the command line
    except SystemExit as e:
        rc = e.code
    out, err = capsys.readouterr()
    assert rc == 0, err
    assert out.strip() == "hello world"


# ---------------------------------------------------------------------- the console script


def test_console_script_runs_the_example_like_main_does(tmp_path, capsys):
    assert CONSOLE_SCRIPT.exists(), f"{CONSOLE_SCRIPT} is not installed"
    env = {k: v for k, v in os.environ.items() if not k.startswith("QPLANE_")}
    out_file = tmp_path / "sub.json"
    proc = subprocess.run(
        [str(CONSOLE_SCRIPT), "run", str(EXAMPLE), "--json", str(out_file)],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    assert proc.stdout.startswith("chain-5: backend fidelity, seed 7")
    assert f"results: {out_file}" in proc.stdout
    sub = json.loads(out_file.read_text(encoding="utf-8"))
    _check_results_document(sub)

    # another process (another hash seed) gives the same numbers as this one
    in_file = tmp_path / "in.json"
    assert main(["run", str(EXAMPLE), "--json", str(in_file)]) == 0
    capsys.readouterr()
    here = json.loads(in_file.read_text(encoding="utf-8"))
    sub.pop("wall_time_s")
    here.pop("wall_time_s")
    assert sub == here


def test_a_reader_that_leaves_early_is_not_an_error(monkeypatch, capsys):
    """`qplane ... | head`: when the pipe's reader has gone, the command ends quietly, exit 0."""
    import sys

    class ClosedPipe:
        def write(self, text):
            raise BrokenPipeError(32, "Broken pipe")

        def flush(self):
            raise BrokenPipeError(32, "Broken pipe")

    monkeypatch.setattr(sys, "stdout", ClosedPipe())
    assert main(["schema", "scenario"]) == 0
    assert capsys.readouterr().err == ""


def test_run_builds_the_plugin_registry_once(capsys, monkeypatch, tmp_path):
    from qplane.registry import Registry

    built = []
    original = Registry.__init__

    def counting(self, *args, **kwargs):
        built.append(1)
        original(self, *args, **kwargs)

    monkeypatch.setattr(Registry, "__init__", counting)
    rc, out, err = _run(capsys, "run", EXAMPLE, "--json", str(tmp_path / "r.json"))
    assert rc == 0, err
    assert len(built) == 1
