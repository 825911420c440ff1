"""``qplane draw SCENARIO|RESULTS -o FILE.png|.svg``: a picture of a network, no server needed.

From a scenario: the topology its builder makes (built with :func:`qplane.build`, read through
the Operator's ``context.network.graph``), node names, and each link's length in km.

From a results file (``qplane.results/2``): the same topology (rebuilt from the results'
``scenario``; when that fails, e.g. a topology file that is not where the run found it, from
the results' own ``links``), each link coloured and widened by the pairs it generated per
second of simulated time and labelled with its pair count, and each node coloured by the
time-averaged fraction of its memories reserved by sessions (``reserved_mean``; an inner dot
shows ``occupied_mean``, the fraction holding a qubit, when the run sampled it). ``--request N``
highlights request N's paths.

Node positions come from the builder's node attributes when every node has them (``pos``,
``x``/``y``, ``x_km``/``y_km`` as the random-graph builders set, ``Longitude``/``Latitude`` or
``lon``/``lat`` as Topology Zoo files carry); otherwise from a Kamada-Kawai layout weighted by
link length (deterministic: no random draw), turned so its longest extent is horizontal.

Figures are built on :class:`matplotlib.figure.Figure` (never ``pyplot``), as in
:mod:`.plots`; SVG text is kept as text (``svg.fonttype: none``), so names can be searched.
Bad input raises :class:`~qplane.errors.QPlaneError` (one line, exit 2 from the CLI).
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path
from typing import Any

from qplane.errors import QPlaneError
from qplane.results import SCHEMA, Results

#: the output formats, by suffix
FORMATS = {".png": "png", ".svg": "svg"}
DPI = 150
#: node attribute pairs read as positions, in this order of preference
POSITION_ATTRS = (("x", "y"), ("x_km", "y_km"), ("Longitude", "Latitude"), ("lon", "lat"),
                  ("longitude", "latitude"))
LINK_CMAP, NODE_CMAP = "viridis", "YlOrRd"


def km_label(length_km: float) -> str:
    """A link's length as drawn: ``20 km``, ``9.4 km``, ``0.25 km``."""
    text = f"{length_km:.1f}" if length_km >= 1 else f"{length_km:.2g}"
    return f"{text.rstrip('0').rstrip('.') if '.' in text else text} km"


def output_format(out: str | Path) -> str:
    """``png`` or ``svg`` from ``out``'s suffix; anything else is a one-line error."""
    suffix = Path(out).suffix.lower()
    if suffix not in FORMATS:
        got = f"suffix {Path(out).suffix!r}" if suffix else "no suffix"
        raise QPlaneError(f"-o {out}: {got}; expected .png or .svg")
    return FORMATS[suffix]


# ---------------------------------------------------------------------------- reading

def read_source(path: str | Path) -> tuple[str, Any]:
    """``("results", Results)`` or ``("scenario", raw mapping)`` for the file at ``path``."""
    import yaml

    p = Path(path)
    if not p.exists():
        raise QPlaneError(f"{p}: no such file")
    if not p.is_file():
        raise QPlaneError(f"{p}: not a file")
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise QPlaneError(f"{p}: cannot be read: {_one_line(e)}") from e
    try:
        data = json.loads(text) if p.suffix.lower() == ".json" else yaml.safe_load(text)
    except (ValueError, yaml.YAMLError) as e:
        raise QPlaneError(f"{p}: neither a scenario nor a results file: not valid "
                          f"{'JSON' if p.suffix.lower() == '.json' else 'YAML'} ({_one_line(e)})") from e
    if not isinstance(data, dict):
        raise QPlaneError(f"{p}: neither a scenario nor a results file: expected a mapping, "
                          f"got {type(data).__name__}")
    if "schema" in data:
        if data["schema"] != SCHEMA:
            raise QPlaneError(f"{p}: schema {data['schema']!r}; expected {SCHEMA!r} (a results file) "
                              "or a scenario")
        from pydantic import ValidationError

        try:
            return "results", Results.model_validate(data)
        except ValidationError as e:
            err = e.errors()[0]
            where = ".".join(str(x) for x in err["loc"]) or "(top level)"
            raise QPlaneError(f"{p}: results field {where}: {err['msg']}") from e
    if "topology" not in data:
        raise QPlaneError(f"{p}: neither a scenario (no 'topology' field) nor a results file "
                          f"(no 'schema': {SCHEMA!r})")
    return "scenario", data


def scenario_graph(path: str | Path, registry: Any = None) -> tuple[Any, str]:
    """The fibre graph of the scenario at ``path`` and its name."""
    import qplane

    scenario = qplane.load_scenario(path)
    return qplane.build(scenario, registry).context.network.graph, scenario.name


def results_graph(path: str | Path, results: Results, registry: Any = None) -> tuple[Any, str | None]:
    """The topology of a run: its builder's graph rebuilt from ``results.scenario`` (relative
    files resolved beside the results file, then in the current folder) for node attributes,
    with the lengths the run reports; else a graph of the results' links. Also a note saying
    why the builder's graph was not used (None when it was)."""
    import networkx as nx
    import qplane
    from qplane.scenario import validate_scenario

    built, why = None, None
    for base in dict.fromkeys([Path(path).resolve().parent, Path.cwd()]):
        try:
            sc = validate_scenario(dict(results.scenario), f"{path} (its scenario)", base, allow_large=True)
            built = qplane.build(sc, registry).context.network.graph
            break
        except QPlaneError as e:
            why = why or _one_line(e)
    graph = nx.Graph()
    names = [n.name for n in results.nodes] or [n for link in results.links for n in (link.a, link.b)]
    for n in (list(built.nodes) if built is not None else []) + names:
        graph.add_node(n, **(dict(built.nodes[n]) if built is not None and n in built else {}))
    for link in results.links:
        graph.add_edge(link.a, link.b, length_km=link.length_km)
    return graph, (None if built is not None else why)


# ---------------------------------------------------------------------------- positions

def positions(graph: Any) -> dict[str, tuple[float, float]]:
    """Each node's position: the builder's, when every node has one, else a layout."""
    import networkx as nx
    import numpy as np

    nodes = list(graph.nodes)
    if all(_pos_attr(d) is not None for _, d in graph.nodes(data=True)) and nodes:
        return {n: _pos_attr(graph.nodes[n]) for n in nodes}  # type: ignore[misc]
    if len(nodes) == 1:
        return {nodes[0]: (0.0, 0.0)}
    ends = [v for v in nodes if graph.degree(v) == 1]
    if nx.is_connected(graph) and graph.number_of_edges() == len(nodes) - 1 and len(ends) == 2:
        # a chain: a straight line, the first end on the left, hops evenly spaced
        line = nx.shortest_path(graph, *sorted(ends, key=nodes.index))
        return {v: (float(i), 0.0) for i, v in enumerate(line)}
    try:
        # to scale, except that no link is drawn shorter than 3/4 of the median one: a short spur
        # still leaves room for its names
        lengths = sorted(d["length_km"] for _, _, d in graph.edges(data=True)) or [1.0]
        floor = 0.75 * lengths[len(lengths) // 2]
        drawn = nx.Graph()
        drawn.add_nodes_from(nodes)
        drawn.add_weighted_edges_from((a, b, max(d["length_km"], floor)) for a, b, d in graph.edges(data=True))
        pos = nx.kamada_kawai_layout(drawn)
    except Exception:  # noqa: BLE001 - a degenerate graph for the optimiser: a seeded spring layout
        pos = nx.spring_layout(graph, seed=1, weight=None)
    xy = np.array([pos[n] for n in nodes], dtype=float)
    xy -= xy.mean(axis=0)
    # turn the picture so its principal axis is horizontal (a chain lies flat)
    _, vecs = np.linalg.eigh(xy.T @ xy)
    xy = xy @ vecs[:, ::-1]
    if np.ptp(xy[:, 0]) > 0 and xy[0, 0] > xy[-1, 0]:
        xy[:, 0] = -xy[:, 0]  # the first node on the left
    return {n: (float(x), float(y)) for n, (x, y) in zip(nodes, xy)}


def _pos_attr(data: dict[str, Any]) -> tuple[float, float] | None:
    p = data.get("pos")
    if isinstance(p, (list, tuple)) and len(p) == 2 and all(_finite(v) for v in p):
        return float(p[0]), float(p[1])
    for kx, ky in POSITION_ATTRS:
        if _finite(data.get(kx)) and _finite(data.get(ky)):
            return float(data[kx]), float(data[ky])
    return None


def _finite(v: Any) -> bool:
    if isinstance(v, str):
        try:
            v = float(v)
        except ValueError:
            return False
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


# ---------------------------------------------------------------------------- drawing

def draw(source: str | Path, out: str | Path, request: int | None = None, registry: Any = None) -> Path:
    """Draw the scenario or results file ``source`` into ``out`` (``.png`` or ``.svg``)."""
    fmt = output_format(out)
    kind, doc = read_source(source)
    if kind == "scenario":
        if request is not None:
            raise QPlaneError(f"--request {request}: {source} is a scenario; a request's paths are in a results file")
        graph, name = scenario_graph(source, registry)
        results, note = None, None
    else:
        results = doc
        graph, note = results_graph(source, results, registry)
        name = results.name
        if note:
            print(f"qplane: note: {source}: drawing the results' own links ({note})", file=sys.stderr)
    pos = positions(graph)
    fig = _figure(graph, pos, name, results, request, source)
    return _save(fig, Path(out), fmt)


def _figure(graph: Any, pos: dict[str, tuple[float, float]], name: str, results: Results | None,
            request: int | None, source: Any) -> Any:
    from matplotlib.figure import Figure

    xs, ys = [p[0] for p in pos.values()], [p[1] for p in pos.values()]
    span_x, span_y = (max(xs) - min(xs)) or 1.0, (max(ys) - min(ys)) or 0.0
    n = graph.number_of_nodes()
    width = 9.0 if n <= 12 else 12.0
    height = min(max(width * span_y / span_x, 2.2 if span_y else 1.4), width * 0.85) + (1.6 if results is not None else 0.8)
    fig = Figure(figsize=(width, height), dpi=DPI, layout="constrained")
    ax = fig.add_subplot()
    ax.set_axis_off()
    ax.set_aspect("equal", adjustable="box")
    # margins in data units, so labels at the edges stay inside
    pad = 0.08 * max(span_x, span_y or span_x)
    ax.set_xlim(min(xs) - pad, max(xs) + pad)
    ax.set_ylim(min(ys) - pad * (1.0 if span_y else 0.6), max(ys) + pad * (1.0 if span_y else 0.6))
    small = n > 15
    if results is None:
        _draw_topology(ax, graph, pos, small)
        fig.suptitle(f"{name}: {n} nodes, {graph.number_of_edges()} links (lengths in km)", fontsize=12)
    else:
        _draw_results(fig, ax, graph, pos, results, request, small, source)
    return fig


def _draw_topology(ax: Any, graph: Any, pos: dict[str, tuple[float, float]], small: bool) -> None:
    import networkx as nx

    nx.draw_networkx_edges(graph, pos, ax=ax, width=2.0, edge_color="#4a6fa5")
    nx.draw_networkx_nodes(graph, pos, ax=ax, node_size=160 if small else 260, node_color="#f2f2f2",
                           edgecolors="#333333", linewidths=1.2)
    _edge_labels(ax, graph, pos, {(a, b): km_label(d["length_km"]) for a, b, d in graph.edges(data=True)}, small)
    _node_labels(ax, graph, pos, small)


def _draw_results(fig: Any, ax: Any, graph: Any, pos: dict[str, tuple[float, float]], results: Results,
                  request: int | None, small: bool, source: Any) -> None:
    import matplotlib as mpl
    import networkx as nx
    from matplotlib.lines import Line2D

    t = results.sim_time_s or 0.0
    by_link = {frozenset((lk.a, lk.b)): lk for lk in results.links}
    edges = list(graph.edges)
    rates = [(by_link[frozenset(e)].pairs_generated / t) if t > 0 and frozenset(e) in by_link else 0.0
             for e in edges]
    top = max(rates, default=0.0) or 1.0
    link_norm = mpl.colors.Normalize(vmin=0.0, vmax=top)
    link_cmap = mpl.colormaps[LINK_CMAP]
    legend: list[Any] = []
    if request is not None:
        legend += _highlight(ax, graph, pos, results, request, source)
    nx.draw_networkx_edges(graph, pos, ax=ax, edgelist=edges, edge_color=[link_cmap(link_norm(r)) for r in rates],
                           width=[1.2 + 5.0 * r / top for r in rates])
    occ = {nd.name: nd for nd in results.nodes}
    node_norm = mpl.colors.Normalize(vmin=0.0, vmax=1.0)
    node_cmap = mpl.colormaps[NODE_CMAP]
    nodes = list(graph.nodes)
    size = 200 if small else 330
    nx.draw_networkx_nodes(graph, pos, ax=ax, nodelist=nodes, node_size=size, edgecolors="#333333", linewidths=1.2,
                           node_color=[node_cmap(node_norm(occ[v].reserved_mean)) if v in occ else "#dddddd"
                                       for v in nodes])
    sampled = [v for v in nodes if v in occ and occ[v].occupied_mean is not None]
    if sampled:
        nx.draw_networkx_nodes(graph, pos, ax=ax, nodelist=sampled, node_size=size * 0.3, edgecolors="#333333",
                               linewidths=0.6, node_color=[node_cmap(node_norm(occ[v].occupied_mean)) for v in sampled])
    labels = {}
    for a, b, d in graph.edges(data=True):
        lk = by_link.get(frozenset((a, b)))
        pairs = f"{lk.pairs_generated:,} pairs" if lk is not None else "no data"
        labels[(a, b)] = f"{km_label(d['length_km'])}\n{pairs}"
    _edge_labels(ax, graph, pos, labels, small)
    _node_labels(ax, graph, pos, small)
    fig.colorbar(mpl.cm.ScalarMappable(norm=link_norm, cmap=link_cmap), ax=ax, orientation="horizontal",
                 fraction=0.035, pad=0.01, aspect=40, label="link: pairs generated per simulated second (colour and width)")
    what = "reserved by sessions" + ("; inner dot: holding a qubit" if sampled else "")
    fig.colorbar(mpl.cm.ScalarMappable(norm=node_norm, cmap=node_cmap), ax=ax, orientation="horizontal",
                 fraction=0.035, pad=0.02, aspect=40, format=mpl.ticker.PercentFormatter(1.0),
                 label=f"node: memories {what} (time-averaged)")
    legend.append(Line2D([], [], color=link_cmap(0.6), lw=3, label="link labels: length, pairs generated"))
    fig.legend(handles=legend, loc="outside lower center", ncols=len(legend), fontsize=8, frameon=False)
    pairs = sum(r.delivered for r in results.requests)
    fig.suptitle(f"{results.name}: {_seconds(t)} simulated, seed {results.seed}, "
                 f"{len(results.requests)} request{'' if len(results.requests) == 1 else 's'}, {pairs:,} pairs delivered", fontsize=12)


def _highlight(ax: Any, graph: Any, pos: dict[str, tuple[float, float]], results: Results, request: int,
               source: Any) -> list[Any]:
    import networkx as nx
    from matplotlib.lines import Line2D

    req = next((r for r in results.requests if r.id == request), None)
    if req is None:
        ids = [r.id for r in results.requests]
        shown = f"{min(ids)}..{max(ids)}" if ids else "none"
        raise QPlaneError(f"--request {request}: {source} has no request {request} (ids: {shown})")
    paths = [p for p in (req.paths or []) if len(p) > 1]
    hops = [(a, b) for p in paths for a, b in zip(p, p[1:]) if graph.has_edge(a, b)]
    if hops:
        nx.draw_networkx_edges(graph, pos, ax=ax, edgelist=hops, width=12, edge_color="#ff66cc", alpha=0.55)
    ends = [v for v in (req.parties or [req.src, req.dst]) if v in graph]
    nx.draw_networkx_nodes(graph, pos, ax=ax, nodelist=ends, node_size=900, node_color="#ff66cc", alpha=0.45,
                           linewidths=0)
    how = f"{req.status}, {req.delivered} delivered" + ("" if paths else ", never routed")
    return [Line2D([], [], color="#ff66cc", lw=8, alpha=0.45,
                   label=f"request {request}: {req.src} to {req.dst} ({how})")]


def _edge_labels(ax: Any, graph: Any, pos: dict[str, tuple[float, float]], labels: dict[tuple[str, str], str],
                 small: bool) -> None:
    import networkx as nx

    nx.draw_networkx_edge_labels(graph, pos, edge_labels=labels, ax=ax, font_size=6.5 if small else 8,
                                 font_color="#1f3b63", rotate=True,
                                 bbox={"boxstyle": "round,pad=0.15", "fc": "white", "ec": "none", "alpha": 0.8})


def _node_labels(ax: Any, graph: Any, pos: dict[str, tuple[float, float]], small: bool) -> None:
    """Names beside the nodes (above, offset in points so the marker stays visible)."""
    for v in graph.nodes:
        x, y = pos[v]
        ax.annotate(str(v), (x, y), xytext=(0, 9 if small else 11), textcoords="offset points", ha="center",
                    va="bottom", fontsize=7.5 if small else 9.5, fontweight="bold", color="#111111", zorder=5,
                    bbox={"boxstyle": "round,pad=0.15", "fc": "white", "ec": "none", "alpha": 0.7})


def _save(fig: Any, out: Path, fmt: str) -> Path:
    import matplotlib as mpl

    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        with mpl.rc_context({"svg.fonttype": "none"}):  # text stays text in the SVG
            fig.savefig(out, format=fmt, dpi=DPI)
    except OSError as e:
        raise QPlaneError(f"-o {out}: cannot write: {e.strerror or _one_line(e)}") from e
    return out


def _seconds(t: float) -> str:
    return f"{t:.3g} s" if t >= 1 or t == 0 else f"{t * 1e3:.3g} ms" if t >= 1e-3 else f"{t * 1e6:.3g} us"


def _one_line(e: BaseException) -> str:
    return " ".join(str(e).split()) or type(e).__name__
