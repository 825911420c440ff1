"""``qplane plugins new``: a new plugin package, ready to install and tested, in one command.

:func:`create_plugin` writes a distribution laid out as qplane's own plugins are (and as
``contrib/`` shows): ``pyproject.toml`` (hatchling, the ``qplane`` entry point), ``src/<package>/``
with the component and the ``plugin`` module that registers it, ``tests/`` running the
conformance kit of its kind (:mod:`qplane.testing`) plus a test of its own, an example
scenario selecting it by name, and a README. Kinds: ``router``, ``scheduler``,
``purification``, ``backend``, ``application``. The generated package passes its tests as
generated; a user then edits the component.

The templates are string constants below (``$name``-style placeholders of
:class:`string.Template`; ``$$`` is a literal dollar). This module writes files only where it
is told to and never overwrites a non-empty folder unless asked.
"""

from __future__ import annotations

import keyword
import re
from dataclasses import dataclass
from pathlib import Path
from string import Template

from .errors import QPlaneError

KINDS = ("router", "scheduler", "purification", "backend", "application")
NAME_PATTERN = re.compile(r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$")


class ScaffoldError(QPlaneError):
    """``qplane plugins new`` cannot create the plugin (bad name or kind, folder in the way)."""


@dataclass(frozen=True)
class PluginNames:
    """The names of a new plugin, all derived from the one the user gives."""

    name: str  # component name and entry-point (plugin) name: my-router
    distribution: str  # qplane-my-router
    package: str  # qplane_my_router
    cls: str  # MyRouter (class-name prefix)
    kind: str
    module: str  # the component's module: router, scheduler, ...


def plugin_names(name: str, kind: str) -> PluginNames:
    """Validate ``name`` and ``kind`` and derive the distribution, package and class names."""
    if kind not in KINDS:
        raise ScaffoldError(f"--kind must be one of {', '.join(KINDS)} (got {kind!r})")
    if not NAME_PATTERN.match(name or ""):
        raise ScaffoldError(
            f"plugin name {name!r}: use lower-case letters, digits and single hyphens, starting with a "
            "letter (e.g. my-router)")
    base = name[len("qplane-"):] if name.startswith("qplane-") and len(name) > len("qplane-") else name
    package = "qplane_" + base.replace("-", "_")
    cls = "".join(part.capitalize() for part in base.split("-"))
    if keyword.iskeyword(package) or not package.isidentifier():
        raise ScaffoldError(f"plugin name {name!r} does not make a Python package name")
    return PluginNames(name=name, distribution="qplane-" + base, package=package, cls=cls, kind=kind, module=kind)


def _installed_plugin_names() -> set[str]:
    from .plugins import ENTRY_POINT_GROUP
    from importlib import metadata

    return {ep.name for ep in metadata.entry_points(group=ENTRY_POINT_GROUP)}


def create_plugin(name: str, kind: str, directory: str | Path | None = None, *, force: bool = False) -> list[Path]:
    """Write a new plugin package for a component ``name`` of ``kind`` into ``directory``
    (default: ``./qplane-<name>``). Returns the files written. Raises :class:`ScaffoldError`
    when the name or kind is invalid, when an installed plugin already has that name, or when
    ``directory`` exists and is not empty (unless ``force``)."""
    names = plugin_names(name, kind)
    if name in _installed_plugin_names():
        raise ScaffoldError(f"a plugin named {name!r} is installed already; choose another name")
    from .registry import KINDS as REGISTRY_KINDS, Registry

    providers = Registry().providers(kind, name)
    if providers:  # it would work, but every scenario selecting it would have to pin a plugin
        raise ScaffoldError(f"{REGISTRY_KINDS[kind][1]} {name!r} is provided by plugin {providers[0]!r} already; "
                            "choose another name")
    root = Path(directory) if directory is not None else Path(names.distribution)
    if root.exists() and not root.is_dir():
        raise ScaffoldError(f"{root} exists and is not a folder")
    if root.is_dir() and any(root.iterdir()) and not force:
        raise ScaffoldError(f"{root} exists and is not empty (choose another --dir, or --force to write into it)")
    from . import __version__

    major_minor = ".".join(__version__.split(".")[:2])
    values = {
        "name": names.name,
        "dist": names.distribution,
        "package": names.package,
        "cls": names.cls,
        "kind": kind,
        "module": names.module,
        "qplane_req": f"qplane>={major_minor}",
        "description": DESCRIPTIONS[kind],
        "hook": HOOKS[kind],
    }
    files = {
        "pyproject.toml": PYPROJECT,
        "README.md": README,
        f"src/{names.package}/__init__.py": INIT,
        f"src/{names.package}/plugin.py": PLUGIN[kind],
        f"src/{names.package}/{names.module}.py": COMPONENT[kind],
        f"tests/test_{names.module}.py": TESTS[kind],
        f"examples/{names.name}.yaml": EXAMPLE[kind],
    }
    written = []
    for rel, template in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(Template(template).substitute(values), encoding="utf-8")
        written.append(path)
    return written


DESCRIPTIONS = {
    "router": "a router for qplane",
    "scheduler": "a scheduler for qplane",
    "purification": "a purification protocol for qplane",
    "backend": "a state backend for qplane",
    "application": "an application for qplane",
}

HOOKS = {
    "router": "qplane_register_routers",
    "scheduler": "qplane_register_schedulers",
    "purification": "qplane_register_purification",
    "backend": "qplane_register_backends",
    "application": "qplane_register_applications",
}

# ----------------------------------------------------------------------------- common files

PYPROJECT = '''\
[build-system]
requires = ["hatchling"]
build-backend = "hatchling.build"

[project]
name = "$dist"
version = "0.1.0"
description = "$name: $description"
readme = "README.md"
requires-python = ">=3.11"
dependencies = ["$qplane_req", "pydantic>=2.6", "networkx>=3.2"]

[project.optional-dependencies]
# the conformance kits run scenarios with qplane's first-party plugins
test = [
  "pytest>=8",
  "qplane-topology", "qplane-hardware", "qplane-routing", "qplane-scheduling",
  "qplane-entanglement", "qplane-backend-fidelity",
]

# this is what makes it a qplane plugin: qplane loads the module named here at start-up
[project.entry-points.qplane]
$name = "$package.plugin"

[tool.hatch.build.targets.wheel]
packages = ["src/$package"]

[tool.pytest.ini_options]
testpaths = ["tests"]
addopts = "--import-mode=importlib"
'''

README = '''\
# $dist

$name: $description (a $kind, registered under the name `$name`).

    pip install -e ".[test]"     # from this folder
    pytest                       # the qplane conformance kit for a $kind, and its own tests
    qplane plugins               # lists $name
    qplane run examples/$name.yaml

Edit `src/$package/$module.py`; `src/$package/plugin.py` registers it through the
`$hook` hook; the entry point in `pyproject.toml` (group `qplane`) is how
qplane finds the plugin. See qplane's `docs/plugins.md` for the hooks, the registry,
parameter models, the testing kits and publishing.
'''

INIT = '''\
"""$name: $description."""
'''

# ------------------------------------------------------------------------------- router

PLUGIN = {}
COMPONENT = {}
TESTS = {}
EXAMPLE = {}

PLUGIN["router"] = '''\
"""The qplane plugin module: qplane finds it through the ``qplane`` entry point and calls its hooks."""

from qplane.hookspecs import hookimpl

from .router import ${cls}Params, ${cls}Router


@hookimpl
def qplane_register_routers(register):
    register("$name", ${cls}Router, params=${cls}Params,
             description="fewest hops; among those, the least fibre")
'''

COMPONENT["router"] = '''\
"""The ``$name`` router: fewest hops, ties broken by total fibre length.

A router gets the controller's view of the topology (a networkx graph it must not modify:
edges carry ``length_km``, ``link`` and ``expected_pair_time``; when the runner routes, nodes
carry ``memory`` and ``operations``) and returns a node path from ``src`` to ``dst`` — or None
when there is none. See :class:`qplane.requests.Router`.
"""

from __future__ import annotations

from typing import Any

import networkx as nx
from pydantic import BaseModel, ConfigDict, Field


class ${cls}Params(BaseModel):
    """What a scenario may set: ``routing: {name: $name, max_hops: 6}``."""

    model_config = ConfigDict(extra="forbid")  # a misspelt parameter is an error, not ignored

    max_hops: int | None = Field(None, ge=1, description="refuse paths longer than this (null: any)")


class ${cls}Router:
    """Fewest hops; among paths with as few hops, the one with the least fibre."""

    def __init__(self, params: ${cls}Params):
        self.params = params

    def route(self, graph: nx.Graph, src: str, dst: str, request: Any = None) -> list[str] | None:
        if src not in graph or dst not in graph:
            return None  # a failed node is not in the view
        total = sum(d.get("length_km", 0.0) for _, _, d in graph.edges(data=True)) + 1.0
        # one hop costs 1; the fibre adds less than 1 over a whole path: hops first, then length
        def cost(u: str, v: str, data: dict) -> float:
            return 1.0 + data.get("length_km", 0.0) / total

        try:
            path = nx.dijkstra_path(graph, src, dst, weight=cost)
        except nx.NetworkXNoPath:
            return None
        if self.params.max_hops is not None and len(path) - 1 > self.params.max_hops:
            return None
        return path
'''

TESTS["router"] = '''\
"""Tests of the $name router: qplane's conformance kit, and its own behaviour."""

from pathlib import Path

import networkx as nx

import qplane
from qplane_devkit.conformance import RouterConformance, kit_registry, network_view

from $package import plugin
from $package.router import ${cls}Params, ${cls}Router

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "$name.yaml"


class TestConformance(RouterConformance):
    router_name = "$name"
    plugin = plugin  # registered by hand when the package is not installed (harmless when it is)


def test_ties_go_to_the_shorter_fibre():
    g = nx.Graph()
    g.add_edge("a", "b", length_km=10.0)
    g.add_edge("b", "d", length_km=10.0)
    g.add_edge("a", "c", length_km=5.0)
    g.add_edge("c", "d", length_km=5.0)
    router = ${cls}Router(${cls}Params())
    assert router.route(network_view(g), "a", "d") == ["a", "c", "d"]


def test_max_hops():
    g = nx.path_graph(["a", "b", "c", "d"])
    router = ${cls}Router(${cls}Params(max_hops=2))
    assert router.route(network_view(g), "a", "d") is None
    assert router.route(network_view(g), "a", "c") == ["a", "b", "c"]


def test_the_example_selects_it_by_name():
    results = qplane.run(EXAMPLE, registry=kit_registry(plugin))
    request = results["requests"][0]
    assert request["protocols"]["router"] == "$name"
    assert request["status"] == "completed"
'''

EXAMPLE["router"] = '''\
# Select the router by name; its parameters go beside the name.
name: $name-example
seed: 1
duration: 1.0
topology: {builder: grid, rows: 2, cols: 3, spacing_km: 10}
hardware:
  memory: {count: 2, coherence_time: 0.1}
  link: {scheme: mim, pair_fidelity: 0.97}
protocols:
  routing: {name: $name, max_hops: 6}
requests:
  - {src: n0_0, dst: n1_2, pairs: 20}
'''

# ---------------------------------------------------------------------------- scheduler

PLUGIN["scheduler"] = '''\
"""The qplane plugin module: qplane finds it through the ``qplane`` entry point and calls its hooks."""

from qplane.hookspecs import hookimpl

from .scheduler import ${cls}Params, ${cls}Scheduler


@hookimpl
def qplane_register_schedulers(register):
    register("$name", ${cls}Scheduler, params=${cls}Params,
             description="fewest pairs first; each request reserves free memories along its path")
'''

COMPONENT["scheduler"] = '''\
"""The ``$name`` scheduler: the request asking for the fewest pairs goes first.

A scheduler admits routed requests and gives them memories (:class:`qplane.requests.Scheduler`):
``submit(handle)`` when a request's path is set, ``release(handle)`` when it has finished (free
its memories), ``reconsider()`` when paths changed after a failure. It starts a request with
``sim.start_session(handle, allocation)``, where ``allocation[h]`` lists the memory pairs
``(m_u, m_v)`` it reserves on hop ``h`` (``path[h]``-``path[h+1]``), and frees a session with
``sim.release_session(session)``. A memory belongs to one session at a time: take only
memories whose ``owner`` is None. (Fixed single paths only: multipath and path-free requests
need more; see qplane's own schedulers.)
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class ${cls}Params(BaseModel):
    """What a scenario may set: ``scheduling: {name: $name, memories_per_link: 2}``."""

    model_config = ConfigDict(extra="forbid")

    memories_per_link: int | None = Field(None, ge=1, description="memory pairs a request may reserve per hop (null: all free)")


class ${cls}Scheduler:
    """Shortest job first: waiting requests are admitted by fewest pairs asked (rate requests
    last), then by arrival."""

    def __init__(self, params: ${cls}Params, sim: Any):
        self.params = params
        self.sim = sim
        self.queue: list[Any] = []
        self._arrivals = 0
        self._order: dict[int, int] = {}
        self._admitting = False
        self._again = False

    # -- the contract ---------------------------------------------------------------
    def submit(self, handle: Any) -> None:
        self._order[handle.id] = self._arrivals
        self._arrivals += 1
        self.queue.append(handle)
        self._admit()

    def release(self, handle: Any) -> None:
        for session in list(handle.sessions):
            self.sim.release_session(session)
        self._admit()

    def reconsider(self) -> None:
        self._admit()

    # -- admission ------------------------------------------------------------------
    def _key(self, handle: Any) -> tuple:
        pairs = handle.request.pairs
        return (pairs is None, pairs or 0, self._order[handle.id])

    def _allocate(self, path: list[str]) -> list[list[tuple[Any, Any]]] | None:
        nodes = self.sim.network.nodes
        allocation = []
        for u, v in zip(path, path[1:]):
            free_u = [m for m in nodes[u].device.memories(v) if m.owner is None]
            free_v = [m for m in nodes[v].device.memories(u) if m.owner is None]
            k = min(len(free_u), len(free_v), self.params.memories_per_link or len(free_u))
            if k == 0:
                return None
            allocation.append(list(zip(free_u[:k], free_v[:k])))
        return allocation

    def _admit(self) -> None:
        # starting a session may finish a request at once, which releases and admits again:
        # never re-enter; run another pass when this one is over
        if self._admitting:
            self._again = True
            return
        self._admitting = True
        try:
            self._again = True
            while self._again:
                self._again = False
                for handle in sorted(self.queue, key=self._key):
                    if handle.done:
                        self.queue.remove(handle)
                        continue
                    allocation = self._allocate(handle.path or [])
                    if allocation is not None:
                        self.queue.remove(handle)
                        self.sim.start_session(handle, allocation)
        finally:
            self._admitting = False
'''

TESTS["scheduler"] = '''\
"""Tests of the $name scheduler: qplane's conformance kit, and its own behaviour."""

from pathlib import Path

import qplane
from qplane_devkit.conformance import SchedulerConformance, kit_registry, run_scenario, scenario

from $package import plugin

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "$name.yaml"


class TestConformance(SchedulerConformance):
    scheduler_name = "$name"
    plugin = plugin  # registered by hand when the package is not installed (harmless when it is)


def test_fewest_pairs_go_first():
    # one memory per link: the three requests share the n0-n1 link and are served one at a time
    data = scenario({"builder": "chain", "nodes": 3, "spacing_km": 10},
                    [{"src": "n0", "dst": "n2", "pairs": 30},
                     {"src": "n0", "dst": "n1", "pairs": 20, "start": 0.0001},
                     {"src": "n0", "dst": "n2", "pairs": 5, "start": 0.0001}],
                    count=1, protocols={"scheduling": "$name"})
    _, results = run_scenario(data, plugin)
    assert all(r["status"] == "completed" for r in results["requests"])
    finished_at = {r["id"]: data["requests"][r["id"]].get("start", 0.0) + r["completion_time_s"]
                   for r in results["requests"]}
    # request 0 arrived alone and went first; then 2 (5 pairs) before 1 (20 pairs)
    assert sorted(finished_at, key=finished_at.get) == [0, 2, 1]


def test_the_example_selects_it_by_name():
    results = qplane.run(EXAMPLE, registry=kit_registry(plugin))
    assert all(r["status"] == "completed" for r in results["requests"])
'''

EXAMPLE["scheduler"] = '''\
# Select the scheduler by name; its parameters go beside the name.
name: $name-example
seed: 1
duration: 1.0
topology: {builder: star, leaves: 3, spacing_km: 10}
hardware:
  memory: {count: 1, coherence_time: 0.1}
  link: {scheme: mim, pair_fidelity: 0.97}
protocols:
  scheduling: {name: $name, memories_per_link: 1}
requests:
  - {src: n1, dst: n2, pairs: 20}
  - {src: n1, dst: n3, pairs: 5}
  - {src: n2, dst: n3, pairs: 10}
'''

# ------------------------------------------------------------------------- purification

PLUGIN["purification"] = '''\
"""The qplane plugin module: qplane finds it through the ``qplane`` entry point and calls its hooks."""

from qplane.hookspecs import hookimpl

from .purification import ${cls}Params, ${cls}Purification


@hookimpl
def qplane_register_purification(register):
    register("$name", ${cls}Purification, params=${cls}Params,
             description="recurrence purification with a chosen circuit, on links or end to end")
'''

COMPONENT["purification"] = '''\
"""The ``$name`` purification protocol: recurrence rounds with the DEJMPS or BBPSSW circuit.

A purification protocol tells qplane's swapping policies (``asap``, ``nested``) what to do with
pairs before they are used: ``protocol`` is the circuit the state backend runs (``dejmps`` or
``bbpssw``), ``scheme`` ``recurrence`` (two pairs of level k make one of level k+1) or
``pumping``, ``rounds``, ``scope`` (``link`` or ``end-to-end``) and ``until`` (``rounds`` or
``min_fidelity``). ``best_case`` lets admission know the best fidelity it can reach, and
``memory_pairs_needed`` how many memory pairs it needs to make progress. It needs a backend
with the ``purification`` capability.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from qplane import physics
from qplane.backend import Capability


class ${cls}Params(BaseModel):
    """What a scenario may set: ``purification: {name: $name, circuit: bbpssw, rounds: 2}``."""

    model_config = ConfigDict(extra="forbid")

    circuit: Literal["dejmps", "bbpssw"] = Field("dejmps", description="the circuit of every round")
    rounds: int = Field(1, ge=1, le=6, description="purification rounds per pair")
    scope: Literal["link", "end-to-end"] = Field("link", description="purify each link, or between the end nodes")


class ${cls}Purification:
    """``rounds`` recurrence rounds of ``circuit`` on every pair."""

    scheme = "recurrence"
    until = "rounds"
    requires_capabilities = frozenset({Capability.PURIFICATION})

    def __init__(self, params: ${cls}Params, sim: Any):
        self.params = params
        self.protocol = params.circuit
        self.rounds = params.rounds
        self.scope = params.scope

    def best_case(self, v: list[float], scope: str) -> list[float]:
        """The best pair (Pauli order) ``rounds`` rounds make of pairs ``v`` at ``scope``,
        with perfect operations and no waiting (:func:`qplane.physics.purify`)."""
        if scope != self.scope:
            return v
        best = kept = v
        for _ in range(self.rounds):
            kept, _ = physics.purify(kept, kept, self.protocol)
            if kept[0] > best[0]:
                best = kept
        return best

    def memory_pairs_needed(self) -> int:
        # recurrence holds one waiting pair per level, plus the fresh one
        return self.rounds + 1
'''

TESTS["purification"] = '''\
"""Tests of the $name purification protocol: qplane's conformance kit, and the closed form."""

from pathlib import Path

import pytest

import qplane
from qplane import physics
from qplane_devkit.conformance import PurificationConformance, kit_registry, run_scenario, scenario

from $package import plugin

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "$name.yaml"


class TestConformance(PurificationConformance):
    purification_name = "$name"
    plugin = plugin  # registered by hand when the package is not installed (harmless when it is)


class TestConformanceBbpsswTwoRounds(PurificationConformance):
    purification_name = "$name"
    params = {"circuit": "bbpssw", "rounds": 2}
    plugin = plugin


@pytest.mark.parametrize("circuit", ["dejmps", "bbpssw"])
def test_one_round_on_a_link_is_the_closed_form(circuit):
    # one link of Werner pairs, perfect memories and gates: every delivered pair has exactly
    # the fidelity one round of the circuit gives (the fidelity backend is exact)
    data = scenario({"builder": "chain", "nodes": 2, "spacing_km": 10}, [{"src": "n0", "dst": "n1", "pairs": 20}],
                    count=3, pair_fidelity=0.8, protocols={"purification": {"name": "$name", "circuit": circuit}})
    sim, results = run_scenario(data, plugin)
    v = physics.to_pauli_order(physics.werner(0.8))
    expected, _ = physics.purify(v, v, circuit)
    fids = [p.fidelity for p in sim.handles[0].delivered]
    assert results["requests"][0]["status"] == "completed"
    assert max(abs(f - expected[0]) for f in fids) < 1e-9


def test_the_example_selects_it_by_name():
    results = qplane.run(EXAMPLE, registry=kit_registry(plugin))
    request = results["requests"][0]
    assert request["protocols"]["purification"] == "$name"
    assert request["status"] == "completed"
'''

EXAMPLE["purification"] = '''\
# Select the purification protocol by name; its parameters go beside the name.
name: $name-example
seed: 1
duration: 1.0
backend: fidelity          # purification needs a backend with the 'purification' capability
topology: {builder: chain, nodes: 3, spacing_km: 10}
hardware:
  memory: {count: 4, coherence_time: 0.1}
  link: {scheme: mim, pair_fidelity: 0.9}
protocols:
  purification: {name: $name, circuit: dejmps, rounds: 1}
requests:   # unpurified pairs would reach 0.81 over the two links: purification makes 0.84 possible
  - {src: n0, dst: n2, pairs: 20, min_fidelity: 0.84}
'''

# ------------------------------------------------------------------------------ backend

PLUGIN["backend"] = '''\
"""The qplane plugin module: qplane finds it through the ``qplane`` entry point and calls its hooks."""

from qplane.hookspecs import hookimpl

from .backend import ${cls}Backend, ${cls}Params


@hookimpl
def qplane_register_backends(register):
    register("$name", ${cls}Backend.from_params, params=${cls}Params,
             description="Bell-diagonal pairs in pure Python (a starting point for your own backend)")
'''

COMPONENT["backend"] = '''\
"""The ``$name`` state backend: every pair a Bell-diagonal state (four floats).

A backend owns the quantum state of every stored qubit (:class:`qplane.backend.StateBackend`):
it creates pairs, applies Pauli corrections and channels, performs Bell-state measurements
(entanglement swaps) and purification rounds, and reports fidelities. Storage noise is lazy: a
qubit remembers up to when its memory's noise was applied and catches up when touched. What it
cannot do (gates, measurements here) it refuses with a :class:`qplane.errors.CapabilityError`
naming the backends that can. Conventions (state order, Pauli indices) are
:mod:`qplane.physics`'s. Replace the state representation with yours and keep the kit passing.
"""

from __future__ import annotations

import random
from typing import Any, Sequence

from pydantic import BaseModel, ConfigDict

from qplane import physics
from qplane.backend import Capability, capability_error


class ${cls}Params(BaseModel):
    """What a scenario may set: ``backend: {name: $name}`` (nothing yet)."""

    model_config = ConfigDict(extra="forbid")


class Pair:
    __slots__ = ("v",)

    def __init__(self, v: list[float]):
        self.v = v  # Bell-diagonal coefficients in Pauli order (I, X, Z, Y)


class Qubit:
    __slots__ = ("pair", "partner", "t", "noise")

    def __init__(self, pair: Pair, t: float, noise: Any):
        self.pair = pair
        self.partner: Qubit | None = None
        self.t = t  # storage noise applied up to this time
        self.noise = noise  # the memory's noise model (pauli_probs(dt)), or None


class ${cls}Backend:
    """Bell-diagonal pairs: exact for Pauli noise."""

    name = "$name"
    capabilities = frozenset({Capability.PAIR_OPERATIONS, Capability.PURIFICATION, Capability.EXACT_FIDELITY})

    def __init__(self, rng: random.Random):
        self.rng = rng  # the backend's own random stream: same seed, same numbers

    @classmethod
    def from_params(cls, params: ${cls}Params, rng: random.Random) -> "${cls}Backend":
        return cls(rng)

    def _catch_up(self, q: Qubit, now: float) -> None:
        dt = now - q.t
        if dt > 0.0:
            q.t = now
            if q.noise is not None:
                q.pair.v = physics.pauli_channel(q.pair.v, q.noise.pauli_probs(dt))

    def create_pair(self, state: Sequence[float], noise_a: Any, noise_b: Any, t_a: float, t_b: float):
        pair = Pair(physics.to_pauli_order(state))
        qa, qb = Qubit(pair, t_a, noise_a), Qubit(pair, t_b, noise_b)
        qa.partner, qb.partner = qb, qa
        return qa, qb

    def apply_pauli(self, qubit: Qubit, pauli: int, now: float) -> None:
        self._catch_up(qubit, now)
        qubit.pair.v = physics.apply_pauli(qubit.pair.v, pauli)

    def apply_pauli_channel(self, qubit: Qubit, probs: Sequence[float], now: float) -> None:
        self._catch_up(qubit, now)
        qubit.pair.v = physics.pauli_channel(qubit.pair.v, probs)

    def bell_measure(self, q1: Qubit, q2: Qubit, now: float, gate_error: float = 0.0,
                     measurement_error: float = 0.0) -> int:
        if q1.pair is q2.pair:
            raise ValueError("Bell measurement of the two halves of one pair")
        self._catch_up(q1, now)
        self._catch_up(q2, now)
        outcome = self.rng.getrandbits(2)  # uniform for Bell-diagonal inputs
        v = physics.swap_pauli_order(q1.pair.v, q2.pair.v, outcome)
        if gate_error:
            v = physics.two_qubit_depolarize(v, gate_error)
        reported = outcome
        if measurement_error:
            if self.rng.random() < measurement_error:
                reported ^= 1
            if self.rng.random() < measurement_error:
                reported ^= 2
        a, b = q1.partner, q2.partner
        merged = Pair(v)
        a.pair = b.pair = merged
        a.partner, b.partner = b, a
        q1.partner = q2.partner = None
        return reported

    def fidelity(self, q1: Qubit, q2: Qubit, now: float) -> float:
        if q1.pair is not q2.pair:
            return 0.25
        self._catch_up(q1, now)
        self._catch_up(q2, now)
        return q1.pair.v[0]

    def purify(self, keep, sacrifice, now: float, protocol: str = "dejmps",
               gate_error: tuple[float, float] = (0.0, 0.0),
               measurement_error: tuple[float, float] = (0.0, 0.0)) -> bool:
        qa, qb = keep
        sa, sb = sacrifice
        for q in (qa, qb, sa, sb):
            self._catch_up(q, now)
        v, p_success = physics.purify(qa.pair.v, sa.pair.v, protocol, gate_error, measurement_error)
        self.discard(sa, now)
        self.discard(sb, now)
        if self.rng.random() < p_success:
            qa.pair.v = v
            return True
        qa.pair.v = [0.25, 0.25, 0.25, 0.25]  # failed: what is left is no use
        return False

    def apply_gate(self, gate: str, qubits, now: float) -> None:
        raise capability_error(self, Capability.GATES, f"apply_gate({gate!r})")

    def measure(self, qubit, basis: str, now: float) -> int:
        raise capability_error(self, Capability.GATES, f"measure(basis={basis!r})")

    def discard(self, qubit: Qubit, now: float) -> None:
        if qubit.partner is not None:
            qubit.partner.partner = None
        qubit.partner = None
'''

TESTS["backend"] = '''\
"""Tests of the $name backend: qplane's conformance kit (closed forms, agreement with the
fidelity backend on a chain), and the example scenario."""

from pathlib import Path

import qplane
from qplane_devkit.conformance import BackendConformance, kit_registry

from $package import plugin

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "$name.yaml"


class TestConformance(BackendConformance):
    backend_name = "$name"
    plugin = plugin  # registered by hand when the package is not installed (harmless when it is)


def test_the_example_selects_it_by_name():
    results = qplane.run(EXAMPLE, registry=kit_registry(plugin))
    assert results["backend"] == "$name"
    assert results["requests"][0]["status"] == "completed"
'''

EXAMPLE["backend"] = '''\
# Select the backend by name (or: qplane run SCENARIO --backend $name).
name: $name-example
seed: 1
duration: 1.0
backend: $name
topology: {builder: chain, nodes: 4, spacing_km: 10}
hardware:
  memory: {count: 2, coherence_time: 0.1}
  link: {scheme: mim, pair_fidelity: 0.97}
requests:
  - {src: n0, dst: n3, pairs: 20}
'''

# -------------------------------------------------------------------------- application

PLUGIN["application"] = '''\
"""The qplane plugin module: qplane finds it through the ``qplane`` entry point and calls its hooks."""

from qplane.hookspecs import hookimpl

from .application import ${cls}Application, ${cls}Params


@hookimpl
def qplane_register_applications(register):
    register("$name", ${cls}Application, params=${cls}Params,
             description="counts delivered pairs and those good enough to use")


@hookimpl
def qplane_results_assembled(sim, results):
    """Add this application's figures to the results, under results["extra"]["$name"]."""
    rows = [handle.protocols["application"].report(handle) for handle in sim.handles
            if isinstance(handle.protocols.get("application"), ${cls}Application)]
    if rows:
        results["extra"]["$name"] = {"requests": rows}
'''

COMPONENT["application"] = '''\
"""The ``$name`` application: consumes every delivered pair and counts the usable ones.

An application is handed each end-to-end pair as it is delivered:
``on_pair(request, pair) -> bool`` (:class:`qplane.requests.DeliveredPair`: ``fidelity``,
``fidelity_estimated``, ``time``, ``latency``, ``src_memory`` / ``dst_memory``). Return False
to let the network free the two memories at once, True to keep them — then free them yourself
with ``sim.free_memory(memory)`` (a request whose memories are all kept starves). The
plugin's ``qplane_results_assembled`` hook adds the figures to the results.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class ${cls}Params(BaseModel):
    """What a scenario may set: ``application: {name: $name, min_fidelity: 0.9}``."""

    model_config = ConfigDict(extra="forbid")

    min_fidelity: float = Field(0.5, ge=0.0, le=1.0, description="a pair at least this good is usable")


class ${cls}Application:
    """Counts every delivered pair, and the pairs of at least ``min_fidelity``."""

    def __init__(self, params: ${cls}Params, sim: Any):
        self.params = params
        self.sim = sim
        self.counts: dict[int, list] = {}  # request id -> [pairs, usable, fidelity sum]

    def on_pair(self, request: Any, pair: Any) -> bool:
        c = self.counts.setdefault(request.id, [0, 0, 0.0])
        c[0] += 1
        c[1] += pair.fidelity >= self.params.min_fidelity
        c[2] += pair.fidelity
        return False  # consumed: the network frees both memories

    def report(self, handle: Any) -> dict[str, Any]:
        pairs, usable, total = self.counts.get(handle.id, [0, 0, 0.0])
        return {"request": handle.id, "pairs": pairs, "usable": usable,
                "fidelity_mean": total / pairs if pairs else None}
'''

TESTS["application"] = '''\
"""Tests of the $name application: qplane's conformance kit, and its figures in the results."""

from pathlib import Path

import qplane
from qplane_devkit.conformance import ApplicationConformance, kit_registry

from $package import plugin

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "$name.yaml"


class TestConformance(ApplicationConformance):
    application_name = "$name"
    plugin = plugin  # registered by hand when the package is not installed (harmless when it is)


def test_the_example_reports_its_figures():
    results = qplane.run(EXAMPLE, registry=kit_registry(plugin))
    request = results["requests"][0]
    assert request["protocols"]["application"] == "$name"
    (row,) = results["extra"]["$name"]["requests"]
    assert row["pairs"] == request["delivered"] == 20
    assert 0 <= row["usable"] <= row["pairs"]
    assert abs(row["fidelity_mean"] - request["fidelity_mean"]) < 1e-12
'''

EXAMPLE["application"] = '''\
# Select the application by name; its parameters go beside the name.
name: $name-example
seed: 1
duration: 1.0
topology: {builder: chain, nodes: 3, spacing_km: 10}
hardware:
  memory: {count: 2, coherence_time: 0.01}
  link: {scheme: mim, pair_fidelity: 0.95}
protocols:
  application: {name: $name, min_fidelity: 0.9}
requests:
  - {src: n0, dst: n2, pairs: 20}
'''
