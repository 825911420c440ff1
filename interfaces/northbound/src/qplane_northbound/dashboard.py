"""The web dashboard and the calls it needs beyond the request API.

Routes added to the app by :func:`add_dashboard_routes`:

* ``GET /`` — the dashboard page (``static/index.html``) and ``GET /static/{file}`` its scripts
  and style sheet: plain files shipped inside this package (no CDN, no build step). The page
  draws the topology as SVG, polls ``GET /topology``, ``GET /links``, ``GET /requests``,
  ``GET /agents`` and ``GET /health``, and follows each unfinished request it shows through its
  server-sent-event stream. It does not read ``GET /metrics``. Neither route is in the OpenAPI
  document: they are not part of the API.
* ``GET /topology/layout`` — where to draw each node, in ``[0, 1]`` squared: the builder's
  positions when every node has them (``x_km``/``y_km``, as the random-graph builders set), or
  else a networkx layout (Kamada–Kawai by fibre length, the shortest links stretched to
  :data:`SHORTEST_DRAWN` of the median; deterministic), computed once
  per topology off the simulation thread from a copy of the graph taken on it.
* ``POST /links/{a}/{b}/down`` and ``.../up``, ``POST /nodes/{name}/down`` and ``.../up`` — a
  failure drill: change the ground truth of a link or node (``Operator.set_link_state`` /
  ``set_node_state``), as a scheduled failure would; the topology manager decides when the
  controller learns of it. They need the bearer token like every mutating call, and answer
  the link's or node's state as ``GET /topology`` shows it (404 naming an unknown link or node).

The page is told the scenario's name and, when the service has a token, that it has one (``<meta
name="qplane-scenario">``, ``<meta name="qplane-token">``); then it shows
a field for it; the script sends it as ``Authorization: Bearer`` on mutating calls.
"""

from __future__ import annotations

import asyncio
import html
import math
from importlib import resources
from typing import Any, Awaitable, Callable, Literal

from fastapi import Depends, FastAPI, HTTPException
from fastapi.responses import HTMLResponse, Response
from pydantic import BaseModel, Field
from qplane.errors import QPlaneError

from .models import LinkInView, NodeState
from .twin import DigitalTwin

#: the dashboard's files, by the name they are served under (``/static/<name>``)
STATIC_TYPES = {"topology.js": "text/javascript; charset=utf-8", "app.js": "text/javascript; charset=utf-8",
                "style.css": "text/css; charset=utf-8"}
#: the page loads only its own files and calls only its own service
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
#: in a networkx layout, links shorter than this fraction of the median length are drawn at it
SHORTEST_DRAWN = 0.8


class Layout(BaseModel):
    source: Literal["builder", "networkx"] = Field(
        description="'builder': the topology builder's positions (x_km, y_km); 'networkx': a Kamada-Kawai "
                    "layout by fibre length (the shortest links stretched)")
    nodes: dict[str, list[float]] = Field(description="node name -> [x, y], both in [0, 1] (y grows downwards)")


def _static(name: str) -> str:
    return resources.files(__package__).joinpath("static", name).read_text(encoding="utf-8")


def _graph_copy(twin: DigitalTwin) -> Any:  # the simulation thread
    import networkx as nx

    g = nx.Graph()
    graph = twin.sim.context.network.graph
    g.add_nodes_from((n, {k: graph.nodes[n].get(k) for k in ("x_km", "y_km")}) for n in graph.nodes)
    g.add_edges_from((a, b, {"length_km": d.get("length_km", 1.0)}) for a, b, d in graph.edges(data=True))
    return g


def compute_layout(graph: Any) -> dict[str, Any]:
    """Positions of ``graph``'s nodes in [0, 1] squared, y downwards (see the module docstring)."""
    import networkx as nx

    names = list(graph.nodes)
    if names and all(isinstance(graph.nodes[n].get("x_km"), (int, float))
                     and isinstance(graph.nodes[n].get("y_km"), (int, float)) for n in names):
        raw = {n: (float(graph.nodes[n]["x_km"]), float(graph.nodes[n]["y_km"])) for n in names}
        source = "builder"
    else:
        source = "networkx"
        if len(names) <= 2:
            raw = {n: (float(i), 0.0) for i, n in enumerate(names)}
        elif nx.is_connected(graph):
            # by fibre length, short links stretched to SHORTEST_DRAWN of the median: drawn to
            # scale, a 3 km spur would sit on top of its node's 12 km ring neighbours
            lengths = sorted(float(d) for *_, d in graph.edges(data="length_km", default=1.0))
            floor = SHORTEST_DRAWN * lengths[len(lengths) // 2]
            drawn = nx.Graph(graph)
            for _, _, d in drawn.edges(data=True):
                d["drawn"] = max(float(d.get("length_km", 1.0)), floor)
            raw = nx.kamada_kawai_layout(drawn, weight="drawn")
        else:
            raw = nx.spring_layout(graph, seed=1, weight=None)
    xs = [p[0] for p in raw.values()] or [0.0]
    ys = [p[1] for p in raw.values()] or [0.0]
    span = max(max(xs) - min(xs), max(ys) - min(ys)) or 1.0
    # keep the aspect ratio; centre the shorter side
    ox = (span - (max(xs) - min(xs))) / 2
    oy = (span - (max(ys) - min(ys))) / 2
    nodes = {str(n): [round((float(p[0]) - min(xs) + ox) / span, 4), round((max(ys) - float(p[1]) + oy) / span, 4)]
             for n, p in raw.items()}
    assert all(math.isfinite(v) for xy in nodes.values() for v in xy)
    return {"source": source, "nodes": nodes}


def add_dashboard_routes(app: FastAPI, twin: DigitalTwin, *, token: str | None,
                         authorize: Callable[..., Awaitable[None]], wait: Callable[[Any], Awaitable[Any]]) -> None:
    """Add the dashboard's routes (see the module docstring) to ``app``."""
    cache: dict[Any, dict[str, Any]] = {}
    meta = f'<meta name="qplane-scenario" content="{html.escape(twin.scenario.name)}">'
    if token:
        meta += '<meta name="qplane-token" content="required">'

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    async def dashboard() -> Response:
        page = _static("index.html").replace("<!--qplane-token-->", meta)
        return HTMLResponse(page, headers={"Content-Security-Policy": CSP, "Cache-Control": "no-cache"})

    @app.get("/static/{name}", include_in_schema=False)
    async def static(name: str) -> Response:
        if name not in STATIC_TYPES:
            raise HTTPException(404, f"no static file {name!r} (files: {', '.join(STATIC_TYPES)})")
        return Response(_static(name), media_type=STATIC_TYPES[name], headers={"Cache-Control": "no-cache"})

    @app.get("/topology/layout", response_model=Layout, summary="where to draw each node (for the dashboard)",
             responses={503: {"description": "the twin is not running"}})
    async def layout() -> Any:
        graph = await wait(twin.query(lambda: _graph_copy(twin)))
        key = (tuple(sorted(graph.nodes)), tuple(sorted(tuple(sorted(e)) for e in graph.edges)))
        if key not in cache:
            cache.clear()
            cache[key] = await asyncio.get_running_loop().run_in_executor(None, compute_layout, graph)
        return cache[key]

    def _link_state(a: str, b: str, up: bool) -> dict[str, Any]:  # the simulation thread
        net = twin.sim.context.network
        if not net.graph.has_edge(a, b):
            raise KeyError(f"no link {a}-{b} in the topology")
        twin.sim.set_link_state(a, b, up)
        link = net.link(a, b)
        return {"a": link.a, "b": link.b, "length_km": link.length_km, "up": link.up,
                "operational": link.operational, "in_view": net.view().has_edge(link.a, link.b)}

    def _node_state(name: str, up: bool) -> dict[str, Any]:  # the simulation thread
        net = twin.sim.context.network
        if name not in net.nodes:
            raise KeyError(f"no node {name!r} in the topology")
        twin.sim.set_node_state(name, up)
        return next(n for n in twin.topology_snapshot()["nodes"] if n["name"] == name)

    async def _drill(fn: Callable[..., Any], *args: Any) -> Any:
        try:
            return await wait(twin.query(lambda: fn(*args)))
        except KeyError as e:
            raise HTTPException(404, e.args[0]) from None
        except QPlaneError as e:  # a removed link or node cannot come back
            raise HTTPException(409, str(e)) from None

    responses = {401: {"description": "a bearer token is required for this call"},
                 404: {"description": "no such link or node"},
                 503: {"description": "the twin is not running"}}
    def routes(up: bool) -> tuple[Callable[..., Any], Callable[..., Any]]:
        async def link_route(a: str, b: str) -> Any:
            return await _drill(_link_state, a, b, up)

        async def node_route(name: str) -> Any:
            return await _drill(_node_state, name, up)

        return link_route, node_route

    for state in ("down", "up"):
        link_route, node_route = routes(state == "up")
        app.post(f"/links/{{a}}/{{b}}/{state}", response_model=LinkInView, dependencies=[Depends(authorize)],
                 name=f"link_{state}", responses=responses,
                 summary=f"take a link {state} (a failure drill: the ground truth changes; the controller "
                         "learns of it through its topology manager)")(link_route)
        app.post(f"/nodes/{{name}}/{state}", response_model=NodeState, dependencies=[Depends(authorize)],
                 name=f"node_{state}", responses=responses,
                 summary=f"take a node {state} (a failure drill, as for links)")(node_route)
