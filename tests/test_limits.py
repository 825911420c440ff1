"""Size limits (:mod:`qplane.limits`): a scenario or an experiment beyond them is refused before
anything is built — exit code 2, one line naming the field, its value and the limit, within a
few seconds and without the process growing — and ``--allow-large`` lifts them.

The refusals run the real command line in a subprocess whose address space is capped (a
regression fails there instead of exhausting the machine) and which reports its own peak RSS.
"""

from __future__ import annotations

import copy
import json
import math
import os
import resource
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import networkx as nx
import pytest
import yaml

import qplane
from qplane.cli import main
from qplane.errors import ScenarioError
from qplane.hookspecs import hookimpl
from qplane.limits import LIMITS
from qplane.plugins import make_plugin_manager
from qplane.registry import Registry

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "chain.yaml"
BASE: dict[str, Any] = yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))

#: the child reports its peak resident memory after the command: its own (``VmHWM``, reset by
#: the exec), not ``ru_maxrss``, which on Linux keeps the peak of the forked test process itself
#: (hundreds of MB late in a full run) across the exec
PROBE = textwrap.dedent("""
    import resource, sys
    from qplane.cli import main
    rc = main(sys.argv[1:])
    try:
        with open("/proc/self/status") as status:
            peak = next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))
    except (OSError, StopIteration):
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(f"maxrss_kb={peak}", file=sys.stderr)
    sys.exit(rc)
""")
ADDRESS_SPACE = 2 * 1024**3  # bytes: the child cannot grow past this, whatever goes wrong
MAX_RSS_MB = 300
MAX_WALL_S = 5.0


def _cap_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (ADDRESS_SPACE, ADDRESS_SPACE))


def _cli(cwd: Path, *argv: str) -> tuple[int, str, float, float]:
    """``qplane ARGV`` in a capped subprocess: (exit code, stderr without the probe line, wall
    seconds, peak RSS in MB)."""
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}
    for var in ("QPLANE_DISABLE_PLUGIN_AUTOLOAD", "QPLANE_PLUGINS", "QPLANE_TRACE_PLUGINS"):
        env.pop(var, None)
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", PROBE, *argv], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=10, preexec_fn=_cap_memory)
    wall = time.perf_counter() - t0
    lines = proc.stderr.strip().splitlines()
    rss = [int(line.split("=")[1]) / 1024 for line in lines if line.startswith("maxrss_kb=")]
    assert rss, proc.stderr[-2000:]
    return proc.returncode, "\n".join(x for x in lines if not x.startswith("maxrss_kb=")), wall, rss[0]


def _scenario(tmp_path: Path, change: dict[str, Any] | None = None, name: str = "s.yaml") -> Path:
    data = copy.deepcopy(BASE)
    data.update(change or {})
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def _refused(tmp_path: Path, *argv: str, field: str, value: str, limit: str) -> None:
    rc, err, wall, rss = _cli(tmp_path, *argv)
    assert rc == 2, err
    assert len(err.splitlines()) == 1 and err.startswith("qplane: error: "), err
    assert f": {field}: " in err and value in err and f"limit of {limit}" in err and "--allow-large" in err, err
    assert wall < MAX_WALL_S, f"{wall:.2f} s: {err}"
    assert rss < MAX_RSS_MB, f"{rss:.0f} MB: {err}"


# ----------------------------------------------------------------------- refused at once


@pytest.mark.parametrize("change,field,value,limit", [
    ({"topology": {"builder": "chain", "nodes": 1_000_000_000, "spacing_km": 10}},
     "topology.nodes", "1000000000 nodes", "10,000 nodes"),
    ({"topology": {"builder": "ring", "nodes": 50_000, "spacing_km": 10}}, "topology.nodes", "50000", "10,000"),
    ({"topology": {"builder": "star", "leaves": 10**9, "spacing_km": 10}}, "topology", "1000000001 nodes", "10,000"),
    ({"topology": {"builder": "grid", "rows": 100_000, "cols": 100_000, "spacing_km": 1}},
     "topology", "10000000000 nodes", "10,000"),
    ({"topology": {"builder": "waxman", "nodes": 9000, "region_km": 100, "alpha": 1.0, "beta": 1.0}},
     "topology", "links", "100,000 quantum links"),
    ({"topology": {"builder": "random-geometric", "nodes": 9000, "region_km": 10, "radius_km": 10}},
     "topology", "links", "100,000 quantum links"),
    ({"hardware": {"memory": {"count": 1_000_000_000}}}, "hardware.memory.count",
     "8000000000 memories (1000000000 per link end", "1,000,000 memories"),
    ({"requests": [{"src": "n0", "dst": "n4", "pairs": 10**9}]}, "requests.0.pairs", "1000000000 pairs", "1,000,000"),
    ({"requests": [{"src": "n0", "dst": "n4", "rate": 1e6, "end": 100.0}]}, "requests.0.rate",
     "about 100,000,000 pairs", "1,000,000"),
    ({"traffic": {"model": "poisson", "rate_hz": 1e9, "pairs": 1}}, "traffic.rate_hz", "requests", "100,000 requests"),
    ({"traffic": {"model": "poisson", "rate_hz": 1000, "pairs": 10**6}}, "traffic.pairs", "pairs", "1,000,000"),
])
def test_a_scenario_beyond_a_limit_is_refused_before_anything_is_built(tmp_path, change, field, value, limit):
    path = _scenario(tmp_path, change)
    for command in ("validate", "run"):
        _refused(tmp_path, command, str(path), field=field, value=value, limit=limit)


def test_a_limit_is_reached_through_set_too(tmp_path):
    _refused(tmp_path, "run", str(EXAMPLE), "--set", "topology.nodes=1000000000",
             field="topology.nodes", value="1000000000", limit="10,000")


def test_listed_requests_are_counted_before_they_are_validated(tmp_path):
    path = tmp_path / "many.json"
    path.write_text(json.dumps({**BASE, "requests": [{"src": "n0", "dst": "n4", "pairs": 1}] * 150_000}))
    _refused(tmp_path, "validate", str(path), field="requests", value="150000 requests", limit="100,000")


def test_a_huge_topology_file_is_refused_by_its_size(tmp_path):
    graphml = tmp_path / "huge.graphml"
    with graphml.open("wb") as f:  # sparse: 30 MB on paper, nothing to read
        f.truncate(30_000_000)
    path = _scenario(tmp_path, {"topology": {"builder": "file", "path": "huge.graphml"},
                                "requests": []})
    _refused(tmp_path, "validate", str(path), field="topology.path", value="30000000 file bytes",
             limit="20,000,000 bytes")


def test_an_alias_bomb_is_refused_by_its_expanded_size(tmp_path):
    levels = ["a: &a [1, 1, 1, 1, 1, 1, 1, 1, 1, 1]"]
    levels += [f"{c}: &{c} [{', '.join(['*' + p] * 10)}]" for p, c in zip("abcdefg", "bcdefgh")]
    path = tmp_path / "bomb.yaml"
    path.write_text(EXAMPLE.read_text() + "\n".join(levels) + "\n", encoding="utf-8")
    rc, err, wall, rss = _cli(tmp_path, "validate", str(path))
    assert rc == 2 and "values, above the limit of 2,000,000" in err, err
    assert wall < MAX_WALL_S and rss < MAX_RSS_MB


def test_compare_refuses_seeds_beyond_the_limit_before_deriving_them(tmp_path):
    _refused(tmp_path, "compare", str(EXAMPLE), "--vary", "protocols.routing=shortest-path,min-cost",
             "--seeds", "1000000000", "--dry-run", field="--seeds", value="1000000000 seeds = 2000000000 runs",
             limit="10,000 runs")


def test_sweep_refuses_repetitions_beyond_the_limit(tmp_path):
    path = _scenario(tmp_path, {"repetitions": 10**9, "topology": {"builder": "chain", "nodes": 5,
                                                                   "spacing_km": [10, 20]}})
    _refused(tmp_path, "sweep", str(path), "--dry-run", field="repetitions",
             value="2 grid points x 1 arms x 1000000000 seeds", limit="10,000 runs")


def test_compare_names_the_varied_value_beyond_a_limit(tmp_path):
    values = ",".join(str(n) for n in range(5, 45)) + ",100000000"
    _refused(tmp_path, "compare", str(EXAMPLE), "--vary", f"topology.nodes={values}", "--dry-run",
             field="topology.nodes", value="[nodes=100000000]", limit="10,000")


# ----------------------------------------------------------------------- --allow-large


@pytest.fixture
def small_limits(monkeypatch):
    """The limits shrunk so that lifting them is cheap to show."""
    for name, value in {"nodes": 6, "memories": 100, "runs": 3, "requests": 2, "pairs": 1000}.items():
        monkeypatch.setitem(LIMITS, name, (value, LIMITS[name][1]))


def test_allow_large_lifts_the_limits_of_run_and_validate(small_limits, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    path = _scenario(tmp_path, {"topology": {"builder": "chain", "nodes": 7, "spacing_km": 10},
                                "requests": [{"src": "n0", "dst": "n6", "pairs": 5}]})
    assert main(["validate", str(path)]) == 2
    assert "topology.nodes: 7 nodes, above the limit of 6 nodes" in capsys.readouterr().err
    assert main(["validate", str(path), "--allow-large"]) == 0
    assert "valid (7 nodes" in capsys.readouterr().out
    assert main(["run", str(path), "--allow-large", "--json", "r.json"]) == 0
    assert (tmp_path / "r.json").exists()
    assert qplane.run(path, allow_large=True)["requests"][0]["delivered"] == 5
    with pytest.raises(ScenarioError, match="above the limit of 6 nodes"):
        qplane.run(path)


def test_the_built_graph_is_held_to_the_limits_when_its_builder_declares_nothing(small_limits):
    class Outsider:
        """A third-party builder that does not declare its size."""

        @hookimpl
        def qplane_register_topology_builders(self, register):
            register("outsider", lambda params, context: _lengths(nx.path_graph([f"n{i}" for i in range(8)])))

    registry = Registry(make_plugin_manager([Outsider()]))
    data = {**copy.deepcopy(BASE), "topology": {"builder": "outsider"}, "requests": []}
    with pytest.raises(ScenarioError, match="topology: 8 nodes, above the limit of 6") as exc:
        qplane.build(qplane.load_scenario(data), registry)
    assert exc.value.field == "topology"
    assert len(qplane.build(qplane.load_scenario(data, allow_large=True), registry).network.nodes) == 8


def _lengths(graph: nx.Graph) -> nx.Graph:
    nx.set_edge_attributes(graph, 1.0, "length_km")
    return graph


def test_a_declared_size_is_checked_before_the_builder_runs(small_limits):
    built = []

    class Declaring:
        @hookimpl
        def qplane_register_topology_builders(self, register):
            from pydantic import BaseModel

            class Params(BaseModel):
                size: int

                def expected_size(self, context):
                    return {"nodes": (self.size, "size")}

            def build(params, context):
                built.append(params.size)
                return _lengths(nx.path_graph([f"n{i}" for i in range(params.size)]))
            register("declaring", build, params=Params)

    registry = Registry(make_plugin_manager([Declaring()]))
    data = {**copy.deepcopy(BASE), "topology": {"builder": "declaring", "size": 50}, "requests": []}
    with pytest.raises(ScenarioError, match="50 nodes, above the limit") as exc:
        qplane.build(qplane.load_scenario(data), registry)
    assert exc.value.field == "topology.size" and built == []


def test_memories_count_every_link_end_with_its_own_nodes_count(small_limits):
    data = copy.deepcopy(BASE)  # 5-node chain: 8 link ends
    data["topology"]["nodes"] = 5
    data["hardware"]["memory"]["count"] = 10  # 80 memories: within 100
    qplane.build(qplane.load_scenario(data))
    data["hardware"]["nodes"] = {"n2": {"memory": {"count": 20}}}  # n2 has 2 link ends: 80 + 20 = 100
    qplane.build(qplane.load_scenario(data))
    data["hardware"]["nodes"] = {"n2": {"memory": {"count": 21}}}
    with pytest.raises(ScenarioError, match=r"102 memories \(21 per link end at n2, 8 link ends\)") as exc:
        qplane.build(qplane.load_scenario(data))
    assert exc.value.field == "hardware.nodes.n2.memory.count"


def test_traffic_requests_add_to_the_listed_ones(small_limits):
    data = copy.deepcopy(BASE)
    data["traffic"] = {"model": "poisson", "rate_hz": 0.5, "pairs": 1}  # 1 expected over 2 s, plus 1 listed
    qplane.build(qplane.load_scenario(data))
    data["traffic"]["rate_hz"] = 1.0  # 2 expected, plus 1 listed: 3 > 2
    with pytest.raises(ScenarioError, match="about 3 requests, above the limit of 2") as exc:
        qplane.build(qplane.load_scenario(data))
    assert exc.value.field == "traffic.rate_hz"


def test_allow_large_reaches_every_run_of_an_experiment(small_limits, tmp_path):
    from qplane_experiment import compare
    from qplane_experiment.plan import make_plan

    data = {**copy.deepcopy(BASE), "topology": {"builder": "chain", "nodes": 5, "spacing_km": 10},
            "requests": [{"src": "n0", "dst": "n4", "pairs": 3}]}
    vary = {"topology.nodes": [5, 7]}
    with pytest.raises(ScenarioError, match="7 nodes, above the limit of 6"):
        make_plan("compare", data, vary, seeds=1)
    with pytest.raises(ScenarioError, match="4 runs, above the limit of 3 runs"):
        make_plan("compare", data, {"topology.nodes": [5, 6]}, seeds=2)
    study = compare(data, vary, seeds=2, executor="serial", allow_large=True, progress=False)
    assert not study.failures and len(study.runs) == 4


# ----------------------------------------------------------------------- the declared sizes


@pytest.mark.parametrize("builder,params", [
    ("waxman", {"nodes": 300, "region_km": 100, "alpha": 0.1, "beta": 0.4}),
    ("waxman", {"nodes": 300, "region_km": 100, "alpha": 0.3, "beta": 1.0}),
    ("random-geometric", {"nodes": 300, "region_km": 100, "radius_km": 10}),
    ("random-geometric", {"nodes": 300, "region_km": 100, "radius_km": 40}),
])
def test_random_builders_declare_at_least_the_links_they_make(builder, params):
    """The declared links bound the expectation from above (see the models' docstrings); the
    graphs of several seeds stay under it."""
    comp = Registry().get("topology", builder)
    for seed in range(5):
        p = comp.validate({**params, "seed": seed, "connect": "largest"}, "topology")
        declared = p.expected_size(None)
        graph = comp.factory(p, None)
        assert declared["nodes"] == params["nodes"]
        assert graph.number_of_edges() <= declared["links"], (seed, graph.number_of_edges(), declared)
    if builder == "random-geometric":  # far from the walls the bound is the expectation: within 25 %
        r, side, n = params["radius_km"], params["region_km"], params["nodes"]
        assert graph.number_of_edges() > 0.75 * n * (n - 1) / 2 * math.pi * (r / side) ** 2 * (1 - 8 * r / (3 * math.pi * side))


@pytest.mark.parametrize("builder,params,nodes,links", [
    ("chain", {"nodes": 7, "spacing_km": 1}, 7, 6),
    ("ring", {"nodes": 7, "spacing_km": 1}, 7, 7),
    ("star", {"leaves": 7, "spacing_km": 1}, 8, 7),
    ("grid", {"rows": 3, "cols": 4, "spacing_km": 1}, 12, 17),
])
def test_regular_builders_declare_exactly_what_they_build(builder, params, nodes, links):
    comp = Registry().get("topology", builder)
    p = comp.validate(params, "topology")
    graph = comp.factory(p, None)
    assert p.expected_size(None) == {"nodes": nodes, "links": links}
    assert (graph.number_of_nodes(), graph.number_of_edges()) == (nodes, links)
