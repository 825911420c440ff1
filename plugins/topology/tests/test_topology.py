"""Tests of the qplane-topology builders: shapes, files, errors and registry discovery."""

from __future__ import annotations

from pathlib import Path

import networkx as nx
import pytest
from qplane.errors import ScenarioError
from qplane.registry import BuildContext, Registry

from qplane_topology.plugin import (
    BUILDERS,
    ChainParams,
    FileParams,
    GridParams,
    RingParams,
    StarParams,
    build_chain,
    build_from_file,
    build_grid,
    build_ring,
    build_star,
)

CTX = BuildContext()


def lengths(graph: nx.Graph) -> set[float]:
    return {d["length_km"] for _, _, d in graph.edges(data=True)}


def assert_topology_contract(graph: nx.Graph) -> None:
    assert type(graph) is nx.Graph
    assert all(isinstance(n, str) for n in graph.nodes)
    for _, _, d in graph.edges(data=True):
        assert isinstance(d["length_km"], float) and d["length_km"] > 0


# ------------------------------------------------------------------------------ shapes


def test_chain() -> None:
    g = build_chain(ChainParams(nodes=4, spacing_km=12.5), CTX)
    assert list(g.nodes) == ["n0", "n1", "n2", "n3"]
    assert sorted(tuple(sorted(e)) for e in g.edges) == [("n0", "n1"), ("n1", "n2"), ("n2", "n3")]
    assert lengths(g) == {12.5}
    assert_topology_contract(g)


def test_chain_of_two() -> None:
    g = build_chain(ChainParams(nodes=2, spacing_km=1), CTX)
    assert list(g.edges) == [("n0", "n1")]
    assert g["n0"]["n1"]["length_km"] == 1.0
    assert_topology_contract(g)


def test_ring() -> None:
    g = build_ring(RingParams(nodes=5, spacing_km=3), CTX)
    assert list(g.nodes) == [f"n{i}" for i in range(5)]
    assert g.number_of_edges() == 5
    assert g.has_edge("n4", "n0")
    assert all(g.degree(n) == 2 for n in g.nodes)
    assert lengths(g) == {3.0}
    assert_topology_contract(g)


def test_star() -> None:
    g = build_star(StarParams(leaves=4, spacing_km=7), CTX)
    assert list(g.nodes) == ["n0", "n1", "n2", "n3", "n4"]
    assert g.number_of_edges() == 4
    assert g.degree("n0") == 4
    assert all(set(g.neighbors(f"n{i}")) == {"n0"} for i in range(1, 5))
    assert lengths(g) == {7.0}
    assert_topology_contract(g)


def test_grid() -> None:
    g = build_grid(GridParams(rows=3, cols=4, spacing_km=2), CTX)
    assert set(g.nodes) == {f"n{r}_{c}" for r in range(3) for c in range(4)}
    assert g.number_of_edges() == 3 * 3 + 4 * 2  # rows*(cols-1) + cols*(rows-1)
    assert g.has_edge("n0_0", "n0_1") and g.has_edge("n0_0", "n1_0")
    assert not g.has_edge("n0_0", "n1_1")
    assert g.degree("n1_1") == 4 and g.degree("n0_0") == 2
    assert lengths(g) == {2.0}
    assert_topology_contract(g)


def test_grid_single_row() -> None:
    g = build_grid(GridParams(rows=1, cols=3, spacing_km=5), CTX)
    assert list(g.nodes) == ["n0_0", "n0_1", "n0_2"]
    assert g.number_of_edges() == 2


@pytest.mark.parametrize(
    "model, raw",
    [
        (ChainParams, {"nodes": 1, "spacing_km": 1}),
        (ChainParams, {"nodes": 3, "spacing_km": 0}),
        (ChainParams, {"nodes": 3, "spacing_km": float("inf")}),
        (ChainParams, {"nodes": 3, "spacing_km": 1, "colour": "red"}),
        (RingParams, {"nodes": 2, "spacing_km": 1}),
        (StarParams, {"leaves": 0, "spacing_km": 1}),
        (GridParams, {"rows": 1, "cols": 1, "spacing_km": 1}),
        (GridParams, {"rows": 0, "cols": 5, "spacing_km": 1}),
        (FileParams, {"path": ""}),
        (FileParams, {"path": "a.gml", "default_length_km": -1}),
    ],
)
def test_params_reject(model: type, raw: dict) -> None:
    with pytest.raises(ValueError):
        model.model_validate(raw)


# ------------------------------------------------------------------------------- files


def sample_graph() -> nx.Graph:
    g = nx.Graph()
    g.add_edge("Delft", "Leiden", length_km=30.5)
    g.add_edge("Leiden", "Amsterdam", length_km=40.0)
    g.add_edge("Delft", "Den Haag", length_km=10)
    return g


@pytest.mark.parametrize("ext, write", [(".graphml", nx.write_graphml), (".gml", nx.write_gml)])
def test_file_round_trip(tmp_path: Path, ext: str, write) -> None:
    src = sample_graph()
    write(src, tmp_path / f"net{ext}")
    g = build_from_file(FileParams(path=str(tmp_path / f"net{ext}")), CTX)
    assert set(g.nodes) == set(src.nodes)
    assert {frozenset(e) for e in g.edges} == {frozenset(e) for e in src.edges}
    for a, b, d in src.edges(data=True):
        assert g[a][b]["length_km"] == pytest.approx(d["length_km"])
    assert_topology_contract(g)


@pytest.mark.parametrize("ext, write", [(".graphml", nx.write_graphml), (".gml", nx.write_gml)])
def test_file_integer_node_names_become_strings(tmp_path: Path, ext: str, write) -> None:
    src = nx.path_graph(3)
    nx.set_edge_attributes(src, 5.0, "length_km")
    write(src, tmp_path / f"int{ext}")
    g = build_from_file(FileParams(path=str(tmp_path / f"int{ext}")), CTX)
    assert set(g.nodes) == {"0", "1", "2"}
    assert g["0"]["1"]["length_km"] == 5.0
    assert_topology_contract(g)


def test_file_relative_path_resolved_against_base_dir(tmp_path: Path, monkeypatch) -> None:
    (tmp_path / "nets").mkdir()
    nx.write_graphml(sample_graph(), tmp_path / "nets" / "net.graphml")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)  # the working directory must not matter
    g = build_from_file(FileParams(path="nets/net.graphml"), BuildContext(base_dir=tmp_path))
    assert g.number_of_nodes() == 4


def test_file_extension_is_case_insensitive(tmp_path: Path) -> None:
    nx.write_gml(sample_graph(), tmp_path / "NET.GML")
    g = build_from_file(FileParams(path="NET.GML"), BuildContext(base_dir=tmp_path))
    assert g.number_of_edges() == 3


def test_file_custom_length_attr_and_string_lengths(tmp_path: Path) -> None:
    src = nx.Graph()
    src.add_edge("a", "b", km="12.5")  # GraphML tools often store every attribute as a string
    src.add_edge("b", "c", km=3)
    nx.write_graphml(src, tmp_path / "net.graphml")
    g = build_from_file(FileParams(path="net.graphml", length_attr="km"), BuildContext(base_dir=tmp_path))
    assert g["a"]["b"]["length_km"] == 12.5
    assert g["b"]["c"]["length_km"] == 3.0
    assert_topology_contract(g)


def test_file_default_length(tmp_path: Path) -> None:
    src = nx.Graph()
    src.add_edge("a", "b", length_km=2.0)
    src.add_edge("b", "c")
    nx.write_gml(src, tmp_path / "net.gml")
    g = build_from_file(
        FileParams(path="net.gml", default_length_km=9), BuildContext(base_dir=tmp_path)
    )
    assert g["a"]["b"]["length_km"] == 2.0
    assert g["b"]["c"]["length_km"] == 9.0


def test_file_multigraph_keeps_shortest(tmp_path: Path) -> None:
    src = nx.MultiGraph()
    src.add_edge("a", "b", length_km=10.0)
    src.add_edge("a", "b", length_km=4.0)
    src.add_edge("b", "a", length_km=6.0)
    src.add_edge("b", "c", length_km=1.0)
    nx.write_graphml(src, tmp_path / "multi.graphml")
    g = build_from_file(FileParams(path="multi.graphml"), BuildContext(base_dir=tmp_path))
    assert type(g) is nx.Graph
    assert g.number_of_edges() == 2
    assert g["a"]["b"]["length_km"] == 4.0


def test_file_multigraph_gml(tmp_path: Path) -> None:
    src = nx.MultiGraph()
    src.add_edge("a", "b", length_km=8.0)
    src.add_edge("a", "b", length_km=2.0)
    nx.write_gml(src, tmp_path / "multi.gml")
    g = build_from_file(FileParams(path="multi.gml"), BuildContext(base_dir=tmp_path))
    assert type(g) is nx.Graph
    assert g["a"]["b"]["length_km"] == 2.0


def test_file_directed_becomes_undirected(tmp_path: Path) -> None:
    src = nx.DiGraph()
    src.add_edge("a", "b", length_km=5.0)
    src.add_edge("b", "a", length_km=3.0)
    src.add_edge("b", "c", length_km=1.0)
    nx.write_graphml(src, tmp_path / "dir.graphml")
    g = build_from_file(FileParams(path="dir.graphml"), BuildContext(base_dir=tmp_path))
    assert type(g) is nx.Graph
    assert g.number_of_edges() == 2
    assert g["a"]["b"]["length_km"] == 3.0
    assert g.has_edge("c", "b")


def test_gml_without_labels_uses_ids(tmp_path: Path) -> None:
    (tmp_path / "ids.gml").write_text(
        "graph [\n  node [ id 1 ]\n  node [ id 2 ]\n"
        "  edge [ source 1 target 2 length_km 4.5 ]\n]\n"
    )
    g = build_from_file(FileParams(path="ids.gml"), BuildContext(base_dir=tmp_path))
    assert set(g.nodes) == {"1", "2"}
    assert g["1"]["2"]["length_km"] == 4.5


# ------------------------------------------------------------------------------ errors


def file_error(tmp_path: Path, **params) -> ScenarioError:
    with pytest.raises(ScenarioError) as info:
        build_from_file(FileParams(**params), BuildContext(base_dir=tmp_path))
    err = info.value
    assert "\n" not in str(err)
    return err


def test_error_missing_file(tmp_path: Path) -> None:
    err = file_error(tmp_path, path="nowhere.graphml")
    assert err.field == "topology.path"
    assert "nowhere.graphml" in err.message and "does not exist" in err.message
    assert str(tmp_path) in err.message  # says where it looked


def test_error_path_is_a_directory(tmp_path: Path) -> None:
    (tmp_path / "d.gml").mkdir()
    err = file_error(tmp_path, path="d.gml")
    assert err.field == "topology.path"
    assert "not a file" in err.message


def test_error_unknown_extension(tmp_path: Path) -> None:
    (tmp_path / "net.txt").write_text("a b\n")
    err = file_error(tmp_path, path="net.txt")
    assert err.field == "topology.path"
    assert "net.txt" in err.message and ".graphml" in err.message and ".gml" in err.message


def test_error_no_extension(tmp_path: Path) -> None:
    err = file_error(tmp_path, path="network")
    assert err.field == "topology.path"
    assert "no extension" in err.message and ".graphml" in err.message


@pytest.mark.parametrize(
    "name, content, fmt",
    [
        ("broken.graphml", "<graphml><graph>", "GraphML"),
        ("text.graphml", "this is not xml", "GraphML"),
        ("empty.graphml", "", "GraphML"),
        ("nograph.graphml", '<?xml version="1.0"?><graphml xmlns="http://graphml.graphdrawing.org/xmlns"/>', "GraphML"),
        ("broken.gml", "graph [ node [ id 0 ", "GML"),
        ("garbage.gml", "garbage [[[", "GML"),
        ("dupe.gml", "graph [ node [ id 0 ] node [ id 0 ] ]", "GML"),
    ],
)
def test_error_unparsable_file(tmp_path: Path, name: str, content: str, fmt: str) -> None:
    (tmp_path / name).write_text(content)
    err = file_error(tmp_path, path=name)
    assert err.field == "topology.path"
    assert name in err.message and f"not valid {fmt}" in err.message
    assert err.__cause__ is not None  # chained, not swallowed


def test_error_not_utf8(tmp_path: Path) -> None:
    (tmp_path / "bin.gml").write_bytes(b"\xff\xfe\x00graph [")
    err = file_error(tmp_path, path="bin.gml")
    assert err.field == "topology.path"
    assert "bin.gml" in err.message


def test_error_edge_without_length(tmp_path: Path) -> None:
    src = nx.Graph()
    src.add_edge("a", "b", length_km=1.0)
    src.add_edge("b", "c")
    nx.write_graphml(src, tmp_path / "net.graphml")
    err = file_error(tmp_path, path="net.graphml")
    assert err.field == "topology"
    assert "net.graphml" in err.message
    assert "b-c" in err.message and "'length_km'" in err.message
    assert "default_length_km" in err.message


@pytest.mark.parametrize("bad", [0, -3.0, "far", "nan", float("inf")])
def test_error_edge_with_bad_length(tmp_path: Path, bad) -> None:
    src = nx.Graph()
    src.add_edge("a", "b", length_km=1.0)
    src.add_edge("x", "y", length_km=bad)
    nx.write_graphml(src, tmp_path / "net.graphml")
    err = file_error(tmp_path, path="net.graphml", default_length_km=5)
    assert err.field == "topology"
    assert "x-y" in err.message and "positive number" in err.message


def test_error_custom_length_attr_missing(tmp_path: Path) -> None:
    nx.write_gml(sample_graph(), tmp_path / "net.gml")
    err = file_error(tmp_path, path="net.gml", length_attr="distance")
    assert err.field == "topology"
    assert "'distance'" in err.message


@pytest.mark.parametrize("count", [0, 1])
def test_error_too_few_nodes(tmp_path: Path, count: int) -> None:
    src = nx.Graph()
    src.add_nodes_from(["solo"][:count])
    nx.write_graphml(src, tmp_path / "small.graphml")
    err = file_error(tmp_path, path="small.graphml")
    assert err.field == "topology"
    assert "small.graphml" in err.message and "at least 2" in err.message


def test_error_self_loop(tmp_path: Path) -> None:
    src = nx.Graph()
    src.add_edge("a", "b", length_km=1.0)
    src.add_edge("a", "a", length_km=1.0)
    nx.write_graphml(src, tmp_path / "loop.graphml")
    err = file_error(tmp_path, path="loop.graphml")
    assert err.field == "topology"
    assert "a-a" in err.message


def test_error_duplicate_gml_labels(tmp_path: Path) -> None:
    (tmp_path / "dup.gml").write_text(
        'graph [ node [ id 0 label "x" ] node [ id 1 label "x" ] '
        "edge [ source 0 target 1 length_km 1 ] ]"
    )
    err = file_error(tmp_path, path="dup.gml")
    assert err.field == "topology"
    assert "'x'" in err.message


# ---------------------------------------------------------------------------- registry


@pytest.fixture
def registry(monkeypatch) -> Registry:
    # only this distribution's entry point: other plugins must not affect these tests
    monkeypatch.setenv("QPLANE_PLUGINS", "topology")
    monkeypatch.delenv("QPLANE_DISABLE_PLUGIN_AUTOLOAD", raising=False)
    reg = Registry()
    assert reg.errors == {}
    return reg


def test_registry_finds_builders(registry: Registry) -> None:
    assert registry.names("topology") == sorted(BUILDERS)
    for comp in registry.components("topology"):
        assert comp.plugin == "topology"
        assert comp.description
        assert comp.params.model_config.get("extra") == "forbid"


def test_registry_chain_end_to_end(registry: Registry) -> None:
    comp = registry.get("topology", "chain")
    g = comp.factory(comp.validate({"nodes": 3, "spacing_km": 10}, "topology"), BuildContext())
    assert list(g.nodes) == ["n0", "n1", "n2"]
    assert g.number_of_edges() == 2
    assert lengths(g) == {10.0}


def test_registry_file_end_to_end(registry: Registry, tmp_path: Path) -> None:
    nx.write_gml(sample_graph(), tmp_path / "net.gml")
    comp = registry.get("topology", "file")
    g = comp.factory(comp.validate({"path": "net.gml"}, "topology"), BuildContext(base_dir=tmp_path))
    assert g.number_of_nodes() == 4


@pytest.mark.parametrize(
    "name, raw, field",
    [
        ("chain", {"nodes": 3, "spacing_km": -5}, "topology.spacing_km"),
        ("chain", {"nodes": 1, "spacing_km": 5}, "topology.nodes"),
        ("ring", {"nodes": 2, "spacing_km": 5}, "topology.nodes"),
        ("star", {"leaves": 3}, "topology.spacing_km"),
        ("grid", {"rows": 2, "cols": 2, "spacing_km": 1, "depth": 2}, "topology.depth"),
        ("file", {"path": "x.gml", "default_length_km": 0}, "topology.default_length_km"),
    ],
)
def test_registry_validation_errors_name_the_field(
    registry: Registry, name: str, raw: dict, field: str
) -> None:
    comp = registry.get("topology", name)
    with pytest.raises(ScenarioError) as info:
        comp.validate(raw, "topology")
    assert field in str(info.value)
    assert info.value.field == field


def test_registry_grid_too_small(registry: Registry) -> None:
    comp = registry.get("topology", "grid")
    with pytest.raises(ScenarioError) as info:
        comp.validate({"rows": 1, "cols": 1, "spacing_km": 1}, "topology")
    assert info.value.field == "topology"
    assert "at least 2 nodes" in str(info.value)
