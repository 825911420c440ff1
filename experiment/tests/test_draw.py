"""``qplane draw``: pictures of a scenario's topology and of a run's results, through the CLI.

The SVG keeps its text as text, so each test reads the drawing back as XML and looks for every
node name and every link label the picture must show; the names and lengths expected come from
the scenario and topology files themselves (and the pair counts from the results file), not
from the drawing code. Bad input is one line on stderr and exit code 2."""

from __future__ import annotations

import json
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path

import networkx as nx
import pytest

from qplane.cli import main

ROOT = Path(__file__).resolve().parents[2]
CHAIN = ROOT / "examples" / "chain.yaml"
METRO = ROOT / "examples" / "metro.yaml"
METRO_GML = ROOT / "examples" / "metro.gml"

pytestmark = pytest.mark.usefixtures("default_plugin_loading")  # see the root conftest.py


def _svg_texts(path: Path) -> list[str]:
    """Every text run of an SVG file (one per <text>/<tspan> line)."""
    root = ET.parse(path).getroot()
    texts = []
    for el in root.iter():
        if el.tag.endswith("}text") or el.tag.endswith("}tspan"):
            texts.extend(t.strip() for t in el.itertext() if t.strip())
    return texts


def _km(x: float) -> str:
    return f"{x:g} km"


def _metro_graph() -> nx.Graph:
    return nx.read_gml(METRO_GML, label="label")


def _draw(capsys, *args: str) -> tuple[int, str, str]:
    code = main(["draw", *args])
    out, err = capsys.readouterr()
    return code, out, err


def _is_png(path: Path) -> bool:
    return path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 5000


def test_draw_is_a_command_of_the_experiment_plugin(capsys):
    assert main(["plugins", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    comps = {(p["name"], c["kind"], c["name"]) for p in doc["plugins"] for c in p["components"]}
    assert ("experiment", "command", "draw") in comps


@pytest.mark.parametrize("scenario", [CHAIN, METRO], ids=["chain", "metro"])
def test_a_scenario_is_drawn_as_png_and_svg_with_every_name_and_length(capsys, tmp_path, scenario):
    for suffix in ("png", "svg"):
        code, out, err = _draw(capsys, str(scenario), "-o", str(tmp_path / f"topo.{suffix}"))
        assert code == 0, err
        assert f"topo.{suffix}" in out
    assert _is_png(tmp_path / "topo.png")
    texts = _svg_texts(tmp_path / "topo.svg")
    if scenario == CHAIN:  # topology: {builder: chain, nodes: 5, spacing_km: 20}
        names, lengths = [f"n{i}" for i in range(5)], [20.0] * 4
    else:
        g = _metro_graph()
        names, lengths = list(g.nodes), [d["length_km"] for _, _, d in g.edges(data=True)]
    assert len(names) in (5, 23)
    for name in names:
        assert name in texts, name
    labels = [t for t in texts if t.endswith(" km")]
    assert len(labels) == len(lengths)  # one label per link
    assert sorted(labels) == sorted(_km(x) for x in lengths)


def test_a_results_file_shows_pairs_per_link_memory_use_and_a_request(capsys, tmp_path):
    assert main(["run", str(CHAIN), "--json", str(tmp_path / "chain.json")]) == 0
    capsys.readouterr()
    results = json.loads((tmp_path / "chain.json").read_text())
    for suffix in ("png", "svg"):
        code, _, err = _draw(capsys, str(tmp_path / "chain.json"), "-o", str(tmp_path / f"run.{suffix}"),
                             "--request", "0")
        assert code == 0, err
        assert err == ""  # the chain builder needs no file: the topology was rebuilt, no note
    assert _is_png(tmp_path / "run.png")
    texts = _svg_texts(tmp_path / "run.svg")
    for name in (n["name"] for n in results["nodes"]):
        assert name in texts
    assert texts.count("20 km") == len(results["links"]) == 4
    for link in results["links"]:
        assert f"{link['pairs_generated']:,} pairs" in texts
    whole = " ".join(texts)
    assert "memories reserved by sessions" in whole and "pairs generated per simulated second" in whole
    assert "request 0: n0 to n4" in whole
    assert "holding a qubit" not in whole  # the run did not sample occupancy


def test_sampled_occupancy_is_drawn_when_the_results_have_it(capsys, tmp_path):
    assert main(["run", str(CHAIN), "--json", str(tmp_path / "chain.json")]) == 0
    results = json.loads((tmp_path / "chain.json").read_text())
    for node in results["nodes"]:
        node["occupied_mean"], node["occupied_peak"] = 0.25, 0.5
    (tmp_path / "sampled.json").write_text(json.dumps(results))
    capsys.readouterr()
    code, _, err = _draw(capsys, str(tmp_path / "sampled.json"), "-o", str(tmp_path / "s.svg"))
    assert code == 0, err
    assert "inner dot: holding a qubit" in " ".join(_svg_texts(tmp_path / "s.svg"))


def test_metro_results_rebuild_the_file_topology_or_fall_back_to_the_links(capsys, tmp_path):
    assert main(["run", str(METRO), "--json", str(tmp_path / "metro.json")]) == 0
    capsys.readouterr()
    results = json.loads((tmp_path / "metro.json").read_text())
    g = _metro_graph()
    # metro.gml is not beside the results: the results' own links are drawn, with a note
    code, _, err = _draw(capsys, str(tmp_path / "metro.json"), "-o", str(tmp_path / "a.svg"))
    assert code == 0
    assert err.count("\n") == 1 and "qplane: note:" in err and "metro.gml" in err
    # beside it: rebuilt from the scenario, no note
    shutil.copy(METRO_GML, tmp_path / "metro.gml")
    code, _, err = _draw(capsys, str(tmp_path / "metro.json"), "-o", str(tmp_path / "b.svg"), "--request", "1")
    assert code == 0 and err == ""
    for svg in ("a.svg", "b.svg"):
        texts = _svg_texts(tmp_path / svg)
        for name in g.nodes:
            assert name in texts
        for link in results["links"]:
            assert f"{link['pairs_generated']:,} pairs" in texts
        assert sorted(t for t in texts if t.endswith(" km")) == sorted(_km(d["length_km"])
                                                                        for _, _, d in g.edges(data=True))


@pytest.mark.parametrize("make, args, words", [
    (None, ["missing.yaml", "-o", "x.png"], "missing.yaml: no such file"),
    ("list", ["bad.yaml", "-o", "x.png"], "neither a scenario nor a results file"),
    ("other", ["other.json", "-o", "x.svg"], "expected 'qplane.results/2'"),
    ("text", ["notes.txt", "-o", "x.png"], "neither a scenario"),
    (None, [str(CHAIN), "-o", "x.jpg"], "-o x.jpg: suffix '.jpg'; expected .png or .svg"),
    (None, [str(CHAIN), "-o", "x"], "-o x: no suffix"),
    (None, [str(CHAIN), "-o", "x.png", "--request", "0"], "a request's paths are in a results file"),
], ids=["missing", "a-list", "other-schema", "plain-text", "suffix", "no-suffix", "request-on-scenario"])
def test_bad_input_is_one_line_and_exit_2(capsys, tmp_path, make, args, words):
    if make == "list":
        (tmp_path / "bad.yaml").write_text("- a\n- b\n")
    elif make == "other":
        (tmp_path / "other.json").write_text(json.dumps({"schema": "something/1", "x": 1}))
    elif make == "text":
        (tmp_path / "notes.txt").write_text("just some words\n")
    code, out, err = _draw(capsys, *args)
    assert code == 2
    assert err.startswith("qplane: error: ") and err.count("\n") == 1, err
    assert words in err
    assert not list(tmp_path.glob("x.*"))


def test_an_unknown_request_is_one_line(capsys, tmp_path):
    assert main(["run", str(CHAIN), "--json", str(tmp_path / "chain.json")]) == 0
    capsys.readouterr()
    code, _, err = _draw(capsys, str(tmp_path / "chain.json"), "-o", str(tmp_path / "x.png"), "--request", "7")
    assert code == 2 and err.count("\n") == 1
    assert "has no request 7 (ids: 0..0)" in err
