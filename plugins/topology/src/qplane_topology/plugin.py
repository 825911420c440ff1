"""Topology builders: regular shapes (chain, ring, star, grid), seeded random meshes (waxman,
random-geometric; :mod:`qplane_topology.random_graphs`) and graphs read from files.

Each builder is registered under the ``topology`` kind through
``qplane_register_topology_builders``; a scenario selects one with ``topology: {builder: NAME,
...params}``. Every builder returns a simple undirected :class:`networkx.Graph` whose nodes are
strings and whose every edge carries ``length_km`` (a finite float > 0).

Each parameter model declares the size its graph will have (``expected_size``: nodes and
links, or the file's bytes), which the core holds to its limits before the builder runs.

This module only builds graphs: it must not touch hardware, links or simulation state, which
the core derives from the graph afterwards.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Callable

import networkx as nx
from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic_core import PydanticCustomError
from qplane.errors import ScenarioError
from qplane.hookspecs import hookimpl
from qplane.registry import BuildContext

from .random_graphs import RandomGeometricParams, WaxmanParams, build_random_geometric, build_waxman

PATH_FIELD = "topology.path"
CONTENT_FIELD = "topology"


# ------------------------------------------------------------------------------ params


class _Params(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


def _spacing() -> Any:
    return Field(
        gt=0.0,
        allow_inf_nan=False,
        description="fiber length of every link, in km",
    )


class ChainParams(_Params):
    """A line of repeaters: ``nodes`` nodes, neighbours ``spacing_km`` apart."""

    nodes: int = Field(ge=2, description="number of nodes, end nodes included")
    spacing_km: float = _spacing()

    def expected_size(self, context: BuildContext) -> dict[str, int]:
        return {"nodes": self.nodes, "links": self.nodes - 1}


class RingParams(_Params):
    """A closed ring: ``nodes`` nodes, neighbours ``spacing_km`` apart."""

    nodes: int = Field(ge=3, description="number of nodes on the ring")
    spacing_km: float = _spacing()

    def expected_size(self, context: BuildContext) -> dict[str, int]:
        return {"nodes": self.nodes, "links": self.nodes}


class StarParams(_Params):
    """A hub with ``leaves`` leaf nodes, each ``spacing_km`` from the hub."""

    leaves: int = Field(ge=1, description="number of leaf nodes around the hub")
    spacing_km: float = _spacing()

    def expected_size(self, context: BuildContext) -> dict[str, int]:
        return {"nodes": self.leaves + 1, "links": self.leaves}


class GridParams(_Params):
    """A ``rows`` x ``cols`` square lattice, neighbours ``spacing_km`` apart."""

    rows: int = Field(ge=1, description="number of rows")
    cols: int = Field(ge=1, description="number of columns")
    spacing_km: float = _spacing()

    def expected_size(self, context: BuildContext) -> dict[str, int]:
        return {"nodes": self.rows * self.cols, "links": 2 * self.rows * self.cols - self.rows - self.cols}

    @model_validator(mode="after")
    def _at_least_two_nodes(self) -> "GridParams":
        if self.rows * self.cols < 2:
            # a custom error, so the message is not prefixed with pydantic's "Value error, "
            raise PydanticCustomError(
                "grid_too_small",
                "a grid needs at least 2 nodes (rows * cols); got {rows} x {cols}",
                {"rows": self.rows, "cols": self.cols},
            )
        return self


class FileParams(_Params):
    """A topology read from a GraphML (``.graphml``) or GML (``.gml``) file."""

    path: str = Field(
        min_length=1,
        description="GraphML (.graphml) or GML (.gml) file; a relative path is resolved "
        "against the scenario file's folder",
    )
    length_attr: str = Field(
        "length_km",
        min_length=1,
        description="edge attribute holding the link length in km",
    )
    default_length_km: float | None = Field(
        None,
        gt=0.0,
        allow_inf_nan=False,
        description="length in km of links that lack length_attr; when unset, such a link "
        "is an error",
    )

    def expected_size(self, context: BuildContext) -> dict[str, tuple[int, str]]:
        """The file's size in bytes (its nodes and links are known once it is read)."""
        try:
            return {"file_bytes": (_resolve_path(self.path, context).stat().st_size, "path")}
        except OSError:
            return {}  # the builder says what is wrong with the path


# ---------------------------------------------------------------------------- builders


def build_chain(params: ChainParams, context: BuildContext) -> nx.Graph:
    """A chain (linear repeater line) of nodes ``n0 … n{N-1}``, with links ``n{i}``–``n{i+1}``."""
    graph = nx.Graph()
    names = [f"n{i}" for i in range(params.nodes)]
    graph.add_nodes_from(names)
    graph.add_edges_from(zip(names, names[1:]), length_km=float(params.spacing_km))
    return graph


def build_ring(params: RingParams, context: BuildContext) -> nx.Graph:
    """A ring of nodes ``n0 … n{N-1}``: the chain's links plus the closing link ``n{N-1}``–``n0``."""
    graph = nx.Graph()
    names = [f"n{i}" for i in range(params.nodes)]
    graph.add_nodes_from(names)
    graph.add_edges_from(zip(names, names[1:] + names[:1]), length_km=float(params.spacing_km))
    return graph


def build_star(params: StarParams, context: BuildContext) -> nx.Graph:
    """A star: hub ``n0`` and leaves ``n1 … n{K}``, each leaf linked to the hub only."""
    graph = nx.Graph()
    graph.add_node("n0")
    for i in range(1, params.leaves + 1):
        graph.add_edge("n0", f"n{i}", length_km=float(params.spacing_km))
    return graph


def build_grid(params: GridParams, context: BuildContext) -> nx.Graph:
    """A square lattice of nodes ``n{r}_{c}`` (row r, column c, from 0), each linked to its
    4 neighbours (up, down, left, right)."""
    graph = nx.Graph()
    length = float(params.spacing_km)
    for r in range(params.rows):
        for c in range(params.cols):
            graph.add_node(f"n{r}_{c}")
    for r in range(params.rows):
        for c in range(params.cols):
            if c + 1 < params.cols:
                graph.add_edge(f"n{r}_{c}", f"n{r}_{c + 1}", length_km=length)
            if r + 1 < params.rows:
                graph.add_edge(f"n{r}_{c}", f"n{r + 1}_{c}", length_km=length)
    return graph


_FORMATS: dict[str, str] = {".graphml": "GraphML", ".gml": "GML"}


def build_from_file(params: FileParams, context: BuildContext) -> nx.Graph:
    """A topology read from a GraphML (``.graphml``) or GML (``.gml``) file.

    Node names are the file's node ids (GraphML) or labels (GML; ids when some node has no
    label), converted to strings. Each link's length is read from ``length_attr`` (a positive
    number, or a string holding one), else ``default_length_km``. A directed graph or a
    multigraph becomes a simple undirected graph; of parallel links the shortest is kept.
    """
    file = _resolve_path(params.path, context)
    shown = str(file)  # resolved, so the message says where it looked
    fmt = _FORMATS.get(file.suffix.lower())
    if fmt is None:
        raise ScenarioError(
            f"topology file {shown} has "
            f"{f'extension {file.suffix!r}' if file.suffix else 'no extension'}; "
            "expected .graphml (GraphML) or .gml (GML)",
            field=PATH_FIELD,
        )
    if not file.exists():
        raise ScenarioError(f"topology file {shown} does not exist", field=PATH_FIELD)
    if not file.is_file():
        raise ScenarioError(f"topology file {shown} is not a file", field=PATH_FIELD)

    raw = _read(file, fmt, shown)
    return _simple_graph(raw, params, shown)


def _resolve_path(path: str, context: BuildContext) -> Path:
    p = Path(path).expanduser()
    return p if p.is_absolute() else Path(context.base_dir) / p


def _read(file: Path, fmt: str, shown: str) -> nx.Graph:
    try:
        if fmt == "GraphML":
            return nx.read_graphml(file)
        # label=None keys nodes by id and leaves 'label' as data; named below, so that a
        # GML file without labels (legal GML) still loads
        return _name_gml_nodes(nx.read_gml(file, label=None), shown)
    except ScenarioError:
        raise
    except OSError as e:
        raise ScenarioError(
            f"topology file {shown} cannot be read: {_one_line(e)}", field=PATH_FIELD
        ) from e
    except Exception as e:  # networkx, XML and GML parsers raise many types; none may escape
        raise ScenarioError(
            f"topology file {shown} is not valid {fmt}: {_one_line(e)}", field=PATH_FIELD
        ) from e


def _name_gml_nodes(graph: nx.Graph, shown: str) -> nx.Graph:
    if not all("label" in data for _, data in graph.nodes(data=True)):
        return graph
    mapping = {n: data.pop("label") for n, data in graph.nodes(data=True)}
    seen: dict[str, Any] = {}
    for n, label in mapping.items():
        if str(label) in seen:
            raise ScenarioError(
                f"topology file {shown}: nodes {seen[str(label)]!r} and {n!r} share the "
                f"label {str(label)!r}; labels name the nodes and must be unique",
                field=CONTENT_FIELD,
            )
        seen[str(label)] = n
    return nx.relabel_nodes(graph, mapping, copy=True)


def _simple_graph(raw: nx.Graph, params: FileParams, shown: str) -> nx.Graph:
    """Copy ``raw`` into a simple undirected graph of string-named nodes with ``length_km``."""
    names: dict[Any, str] = {}
    owner: dict[str, Any] = {}
    for n in raw.nodes:
        name = str(n)
        if name in owner:
            raise ScenarioError(
                f"topology file {shown}: nodes {owner[name]!r} and {n!r} both become {name!r} "
                "as node names; node names must be unique as strings",
                field=CONTENT_FIELD,
            )
        names[n] = name
        owner[name] = n

    if len(names) < 2:
        raise ScenarioError(
            f"topology file {shown} has {len(names)} node(s); a network needs at least 2",
            field=CONTENT_FIELD,
        )

    graph = nx.Graph()
    for n, data in raw.nodes(data=True):
        graph.add_node(names[n], **data)

    for u, v, data in raw.edges(data=True):
        a, b = names[u], names[v]
        if a == b:
            raise ScenarioError(
                f"topology file {shown}: link {a}-{b} joins node {a!r} to itself; "
                "a link must join two different nodes",
                field=CONTENT_FIELD,
            )
        length = _edge_length(a, b, data, params, shown)
        if graph.has_edge(a, b) and graph[a][b]["length_km"] <= length:
            continue  # parallel link (multigraph or both directions): the shortest is kept
        if graph.has_edge(a, b):
            graph.remove_edge(a, b)
        graph.add_edge(a, b, **{**data, "length_km": length})
    return graph


def _edge_length(a: str, b: str, data: dict[str, Any], params: FileParams, shown: str) -> float:
    attr = params.length_attr
    if attr not in data:
        if params.default_length_km is not None:
            return float(params.default_length_km)
        raise ScenarioError(
            f"topology file {shown}: link {a}-{b} has no {attr!r} attribute; give every link "
            "a positive length in km or set default_length_km",
            field=CONTENT_FIELD,
        )
    value = data[attr]
    length = _positive_number(value)
    if length is None:
        raise ScenarioError(
            f"topology file {shown}: link {a}-{b} has {attr}={value!r}; "
            "expected a positive number of km",
            field=CONTENT_FIELD,
        )
    return length


def _positive_number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        x = float(value)
    elif isinstance(value, str):
        # GraphML files often declare every attribute as a string
        try:
            x = float(value.strip())
        except ValueError:
            return None
    else:
        return None
    return x if math.isfinite(x) and x > 0 else None


def _one_line(e: BaseException) -> str:
    return " ".join(str(e).split()) or type(e).__name__


# ---------------------------------------------------------------------------- the hook

BUILDERS: dict[str, tuple[Callable[[Any, BuildContext], nx.Graph], type[BaseModel], str]] = {
    "chain": (build_chain, ChainParams, "a line of nodes n0..n{N-1}, neighbours linked"),
    "ring": (build_ring, RingParams, "a ring of nodes n0..n{N-1}, the last linked back to n0"),
    "star": (build_star, StarParams, "hub n0 with leaves n1..n{K}, each linked to the hub"),
    "grid": (build_grid, GridParams, "a rows x cols lattice of nodes n{r}_{c}, 4-neighbour links"),
    "file": (build_from_file, FileParams, "a topology read from a GraphML (.graphml) or GML (.gml) file"),
    "waxman": (build_waxman, WaxmanParams, "a seeded Waxman random mesh in a square region, lengths in km"),
    "random-geometric": (build_random_geometric, RandomGeometricParams,
                         "a seeded random geometric mesh: nodes closer than radius_km are linked"),
}


@hookimpl
def qplane_register_topology_builders(register: Callable[..., None]) -> None:
    """Register the chain, ring, star, grid, file, waxman and random-geometric topology builders."""
    for name, (factory, params, description) in BUILDERS.items():
        register(name, factory, params=params, description=description)


@hookimpl
def qplane_register_topology_managers(register):
    from .manager import LldpManager, LldpParams, NoParams, OracleManager

    register("oracle", OracleManager, params=NoParams,
             description="the controller knows the ground truth at once (no discovery, no detection delay)")
    register("lldp", LldpManager, params=LldpParams,
             description="hello discovery, QPing-like probes, heartbeat failure detection")
