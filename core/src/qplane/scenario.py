"""The scenario schema (pydantic, ``extra="forbid"``), loading YAML/JSON and ``--set`` overrides.

A scenario is validated in two steps: :func:`load_scenario` checks the structure (this
module's models); :func:`qplane.build` then resolves every component name against the
registry and validates each component's parameters with that component's own model, so a
third-party plugin's parameters are checked exactly like first-party ones. Every error names
the file and the dotted field path.

Input is strict: a duplicate key (YAML or JSON) is an error naming it and its line, a number
must be finite (``.inf`` and ``nan`` are refused), nesting is bounded, and the sizes of
:mod:`qplane.limits` are checked before anything is built.
"""

from __future__ import annotations

import copy
import hashlib
import json
import re
from pathlib import Path
from typing import Any, Sequence, Union

import yaml
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, field_validator, model_validator

from . import components, limits
from .errors import ScenarioError
from .requests import EntanglementRequest
from .registry import KINDS, scenario_error_from_validation as _from_validation

#: a component given by name, or as ``{<key>: name, <its params>}``
ComponentRef = Union[str, dict[str, Any]]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


def _doc(path: str, what: str) -> str:
    """The description of the component field ``path`` (:data:`qplane.components.BY_PATH`)."""
    f = components.BY_PATH[path]
    word = KINDS[f.kind][1]
    return (f"{what}: {'an' if word[0] in 'aeiou' else 'a'} {word} by name, or {{{f.key}: NAME, <its parameters>}}; "
            f"`qplane describe {f.leaf} NAME` lists them")


def _choice(path: str, what: str) -> Any:
    """A component field whose default is the table's."""
    return Field(components.BY_PATH[path].default, description=_doc(path, what))


class OperationsSpec(_Strict):
    """Local operations of a node."""

    gate_error: float = Field(0.0, ge=0.0, le=1.0, description="two-qubit depolarizing probability of the Bell measurement's gates")
    measurement_error: float = Field(0.0, ge=0.0, le=1.0, description="flip probability of each measured bit")
    bsm_duration: float = Field(0.0, ge=0.0, description="seconds a Bell-state measurement takes")
    bsm_success: float = Field(1.0, gt=0.0, le=1.0, description="probability a Bell-state measurement succeeds (0.5: linear optics)")


class NodeOverride(_Strict):
    """Per-node hardware: replaces the scenario-wide memory and operations for one node."""

    memory: dict[str, Any] | None = Field(
        None, description="memory-model parameters for this node (same model: merged into hardware.memory; "
        "another 'model': replaces it)")
    operations: OperationsSpec | None = Field(None, description="this node's local operations (replace the scenario's)")


class LinkOverride(BaseModel):
    """Per-link hardware: ``between: [a, b]`` and link-model parameters to change."""

    model_config = ConfigDict(extra="allow", allow_inf_nan=False)
    between: tuple[str, str] = Field(description="the two nodes the link joins")


class Hardware(_Strict):
    """The quantum hardware: memories, links and local operations, with per-node and per-link
    exceptions."""

    memory: dict[str, Any] = Field(default_factory=lambda: {"count": 10, "coherence_time": None},
                                   description=_doc("hardware.memory", "every node's quantum memories"))
    link: dict[str, Any] = Field(default_factory=lambda: {"scheme": "mim"},
                                 description=_doc("hardware.link", "every quantum link's physics"))
    operations: OperationsSpec = Field(default_factory=OperationsSpec, description="every node's local operations")
    nodes: dict[str, NodeOverride] = Field(default_factory=dict, description="node name -> its own hardware")
    links: list[LinkOverride] = Field(default_factory=list, description="links with their own link-model parameters")


class Protocols(_Strict):
    """The protocols of the network; each one is a component chosen by name."""

    routing: ComponentRef = _choice("protocols.routing", "how a request's path is chosen")
    scheduling: ComponentRef = _choice("protocols.scheduling", "which requests get the memories, and when")
    link_generation: ComponentRef = _choice("protocols.link_generation", "how links are entangled")
    swapping: ComponentRef = _choice("protocols.swapping", "when repeaters swap")
    repeater: ComponentRef = _choice("protocols.repeater", "the repeater generation: 1g (heralded pairs, swapping)")
    purification: ComponentRef = _choice("protocols.purification", "how pairs are purified")
    cutoff: ComponentRef = _choice("protocols.cutoff", "when stored pairs are discarded ({max_age: seconds} "
                                   "is policy 'age')")
    application: ComponentRef = _choice("protocols.application", "what is done with delivered pairs")
    topology_manager: ComponentRef = _choice(
        "protocols.topology_manager", "who tells the controller about the topology: 'oracle' (instantly, the "
        "truth) or 'lldp' (hello discovery, heartbeats, probes)")


class FailureEvent(_Strict):
    """A scheduled failure: a link (``link: [a, b]``) or a node (``node: n3``) goes down at
    ``at`` seconds, for ``down_for`` seconds (null: for the rest of the run)."""

    at: float = Field(ge=0.0, allow_inf_nan=False, description="seconds into the run")
    link: tuple[str, str] | None = Field(None, description="the link that fails, [a, b]")
    node: str | None = Field(None, description="the node that fails")
    down_for: float | None = Field(None, gt=0.0, allow_inf_nan=False,
                                   description="seconds until the repair (null: down for the rest of the run)")

    @model_validator(mode="after")
    def _one_target(self) -> "FailureEvent":
        if (self.link is None) == (self.node is None):
            raise ValueError("give exactly one of 'link: [a, b]' and 'node: NAME'")
        return self


class FailureRates(_Strict):
    """Random failures: exponential times between failures (mean ``mtbf`` seconds) and to
    repair (mean ``mttr`` seconds), independently per element, seeded by the scenario."""

    mtbf: float = Field(gt=0.0, allow_inf_nan=False, description="mean time between failures, seconds")
    mttr: float = Field(gt=0.0, allow_inf_nan=False, description="mean time to repair, seconds")


class RandomFailures(_Strict):
    """Random failures of links and of nodes."""

    links: FailureRates | None = Field(None, description="failure and repair rates of every link")
    nodes: FailureRates | None = Field(None, description="failure and repair rates of every node")


class Classical(_Strict):
    """The classical network carrying control messages."""

    speed_km_per_s: float = Field(2.0e5, gt=0.0, description="signal speed in fibre")
    instant: bool = Field(
        False, description="swap outcomes reach the end nodes at once (no delay, no message event), as "
        "simulators without classical control messages assume; for comparisons with them")


class Scenario(_Strict):
    """A complete simulation: network, hardware, protocols, requests."""

    name: str = Field("scenario", description="names the results (<name>.results.json)")
    seed: int = Field(0, ge=0, description="seed of every random stream of the run")
    repetitions: int = Field(
        1, ge=1, description="seeds per grid point of a parameter study (qplane sweep / compare), derived "
        "from 'seed'; a single run (qplane run) runs 'seed' once")
    duration: float = Field(gt=0.0, allow_inf_nan=False, description="simulated seconds")
    backend: ComponentRef = _choice("backend", "how quantum states are represented")
    topology: dict[str, Any] = Field(description=_doc("topology", "the network's nodes and links"))
    hardware: Hardware = Field(default_factory=Hardware, description="memories, links and local operations")
    protocols: Protocols = Field(default_factory=Protocols, description="the protocol of each task")
    classical: Classical = Field(default_factory=Classical, description="the classical control network")
    requests: list[EntanglementRequest] = Field(default_factory=list, description="the entanglement requests")
    traffic: Union[dict[str, Any], list[dict[str, Any]], None] = Field(
        None, description=_doc("traffic", "requests generated by a traffic model, after the listed ones") +
        "; or a list of such models")
    events: list[FailureEvent] = Field(default_factory=list, description="scheduled link and node failures")
    failures: RandomFailures | None = Field(None, description="random failures from MTBF/MTTR")

    _source: str = PrivateAttr("<scenario>")
    _base_dir: Path = PrivateAttr(Path("."))
    _allow_large: bool = PrivateAttr(False)

    @field_validator("topology")
    @classmethod
    def _has_builder(cls, v: dict[str, Any]) -> dict[str, Any]:
        if not isinstance(v.get("builder"), str):
            raise ValueError("needs 'builder: NAME' (e.g. chain, ring, star, grid, file)")
        return v


def split_ref(ref: ComponentRef, key: str = "name", default: str | None = None) -> tuple[str, dict[str, Any]]:
    """``"asap"`` → ``("asap", {})``; ``{name: asap, x: 1}`` → ``("asap", {"x": 1})``."""
    try:
        return components.split_ref(ref, key, default)
    except ValueError as e:
        raise ScenarioError(str(e)) from None


# ----------------------------------------------------------------------------- loading


class _DuplicateKey(yaml.constructor.ConstructorError):
    """A mapping gives the same key twice (the last would silently win)."""


class _Loader(yaml.SafeLoader):
    """YAML 1.1 reads ``1.0e6`` (no exponent sign) and ``1e-3`` as strings; YAML 1.2 and every
    user read them as numbers. A key given twice in one mapping is an error (merge keys,
    ``<<: *base``, may still be overridden)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge" or not isinstance(key_node, yaml.ScalarNode):
                continue
            key = self.construct_object(key_node)
            if key in seen:
                raise _DuplicateKey(None, None, f"duplicate key {key!r} (first given at line {seen[key] + 1})",
                                    key_node.start_mark)
            seen[key] = key_node.start_mark.line
        return super().construct_mapping(node, deep)


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(
        r"""^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?
        |[-+]?(?:[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)
        |\.[0-9_]+(?:[eE][-+]?[0-9]+)?
        |[-+]?\.(?:inf|Inf|INF)
        |\.(?:nan|NaN|NAN))$""",
        re.X,
    ),
    list("-+0123456789."),
)


def yaml_load(text: str) -> Any:
    return yaml.load(text, Loader=_Loader)  # noqa: S506 - a SafeLoader subclass


class _DuplicateJsonKey(ValueError):
    pass


def _json_object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise _DuplicateJsonKey(key)
        out[key] = value
    return out


def _json_duplicate_line(text: str, key: str) -> int:
    """The line of the first repeat of ``key`` within one object of (well-formed) JSON ``text``."""
    stack: list[set[str] | None] = []
    last = None
    for m in re.finditer(r'"(?:[^"\\]|\\.)*"|[{}\[\]:]', text):
        t = m.group()
        if t in ("{", "["):
            stack.append(set() if t == "{" else None)
        elif t in ("}", "]"):
            stack and stack.pop()
        elif t == ":" and last is not None and stack and stack[-1] is not None:
            k = json.loads(last.group())
            if k == key and k in stack[-1]:
                return text.count("\n", 0, last.start()) + 1
            stack[-1].add(k)
        last = m if t.startswith('"') else None
    return 0


def _parse_text(text: str, source: str) -> Any:
    deep = f"lists and mappings nested more than {limits.MAX_DEPTH} levels deep"
    try:
        if source.endswith(".json"):
            data = json.loads(text, object_pairs_hook=_json_object)
        else:
            data = yaml_load(text)
    except RecursionError:
        raise ScenarioError(deep, source=source) from None
    except _DuplicateJsonKey as e:
        raise ScenarioError(f"duplicate key {e.args[0]!r} at line {_json_duplicate_line(text, e.args[0])}",
                            source=source) from None
    except json.JSONDecodeError as e:
        raise ScenarioError(f"malformed JSON at line {e.lineno}, column {e.colno}: {e.msg}", source=source) from e
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(e, "problem", None) or str(e).splitlines()[0]
        raise ScenarioError(f"malformed YAML{where}: {problem}", source=source) from e
    limits.check_structure(data, source)
    return data


def parse_set(expr: str) -> tuple[list[str], Any]:
    """``"requests.0.src=n2"`` → ``(["requests", "0", "src"], "n2")``; values are YAML scalars."""
    if "=" not in expr:
        raise ScenarioError(f"--set {expr!r}: expected dotted.path=value")
    path, _, raw = expr.partition("=")
    parts = [p for p in path.strip().split(".")]
    if not all(parts):
        raise ScenarioError(f"--set {expr!r}: empty component in the dotted path")
    try:
        value = yaml_load(raw) if raw.strip() else ""
    except RecursionError:
        raise ScenarioError(f"--set {path.strip()}: the value's lists and mappings are nested more than "
                            f"{limits.MAX_DEPTH} levels deep") from None
    except _DuplicateKey as e:
        raise ScenarioError(f"--set {path.strip()}: {e.problem}") from None
    except yaml.YAMLError:
        value = raw
    try:
        limits.check_structure(value)
    except ScenarioError as e:
        raise ScenarioError(f"--set {path.strip()}: the value's {e.message}") from None
    return parts, value


def apply_set(data: dict[str, Any], parts: list[str], value: Any) -> None:
    node: Any = data
    for i, key in enumerate(parts):
        last = i == len(parts) - 1
        where = ".".join(parts[: i + 1])
        if isinstance(node, list):
            if not key.isdigit() or int(key) >= len(node):
                raise ScenarioError(f"--set: no list item {key!r} (the list has {len(node)} item{'s' * (len(node) != 1)})", field=where)
            if last:
                node[int(key)] = value
            else:
                node = node[int(key)]
        elif isinstance(node, dict):
            if last:
                node[key] = value
            else:
                if not isinstance(node.get(key), (dict, list)):
                    node[key] = _scalar_to_ref(node.get(key), parts[: i + 1], parts[i + 1])
                node = node[key]
        else:
            raise ScenarioError(f"--set: {where!r} is inside a value that is not a mapping or list", field=where)


def _scalar_to_ref(value: Any, path: list[str], inner: str) -> dict[str, Any]:
    """The mapping ``--set PATH.INNER=...`` writes into when PATH holds none. A component field
    (:data:`qplane.components.BY_PATH`) holding a name becomes ``{<its key>: name}``
    (``routing: shortest-path`` and ``--set protocols.routing.k=3``: ``{name: shortest-path, k: 3}``);
    one the file leaves out, ``{<its key>: <its default>}``, unless a mapping without the key
    already means a component (cutoff ``{max_age: 0.1}`` is policy 'age'); anything else absent, ``{}``."""
    f = components.BY_PATH.get(".".join(path))
    key = f.key if f is not None else "name"
    if value is None:
        return {key: f.default} if f is not None and f.default is not None and f.implied is None else {}
    if isinstance(value, str):
        return {key: value}
    raise ScenarioError(f"--set: cannot set {inner!r} inside {value!r}")


def read_scenario_source(source: str | Path | dict[str, Any]) -> tuple[dict[str, Any], str, Path]:
    """The raw scenario mapping of a file (YAML or JSON) or a dictionary (copied), its label for
    error messages and the folder relative paths in it are resolved against."""
    if isinstance(source, dict):
        limits.check_structure(source, "<scenario>")  # before deepcopy, which recurses
        data, label, base = copy.deepcopy(source), "<scenario>", Path(".")
    else:
        path = Path(source)
        label = str(source)
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise ScenarioError("no such file", source=label) from None
        except UnicodeDecodeError as e:
            raise ScenarioError(f"not UTF-8 text (byte {e.start}: {e.reason})", source=label) from e
        except OSError as e:
            raise ScenarioError(f"cannot read: {e.strerror}", source=label) from e
        data = _parse_text(text, label)
        base = path.resolve().parent
    if not isinstance(data, dict):
        raise ScenarioError("a scenario is a mapping of fields (name, seed, duration, topology, ...)", source=label)
    return data, label, base


def apply_overrides(data: dict[str, Any], label: str, overrides: Sequence[str] | None = None,
                    seed: int | None = None, backend: str | None = None) -> None:
    """Apply ``--set`` expressions, then ``--seed`` and ``--backend``, to a raw scenario mapping;
    errors name ``label`` (the file)."""
    try:
        for expr in overrides or []:
            apply_set(data, *parse_set(expr))
    except ScenarioError as e:
        raise e.with_source(label) from e
    if seed is not None:
        data["seed"] = seed
    if backend is not None:
        data["backend"] = backend


def load_scenario(
    source: str | Path | dict[str, Any],
    overrides: list[str] | None = None,
    seed: int | None = None,
    backend: str | None = None,
    allow_large: bool = False,
) -> Scenario:
    """Read and validate a scenario file (YAML or JSON) or dictionary.

    ``overrides`` are ``dotted.path=value`` strings applied before validation; ``seed`` and
    ``backend`` replace the scenario's; ``allow_large`` lifts the size limits of
    :mod:`qplane.limits` (here and when it is built). Raises :class:`ScenarioError` naming the
    file and field.
    """
    data, label, base = read_scenario_source(source)
    apply_overrides(data, label, overrides, seed, backend)
    return validate_scenario(data, label, base, allow_large)


def validate_scenario(data: dict[str, Any], source: str = "<scenario>", base_dir: Path = Path("."),
                      allow_large: bool = False) -> Scenario:
    """Validate a raw scenario mapping; errors name ``source``, relative paths in it resolve
    against ``base_dir``. The requests (listed, and the pairs they ask) are held to
    :data:`qplane.limits.LIMITS` unless ``allow_large``; so is the scenario when it is built."""
    if isinstance(data.get("requests"), list):
        limits.check("requests", len(data["requests"]), "requests", allow_large, source=source)
    limits.check_structure(data, source, count_values=not allow_large)
    try:
        scenario = Scenario.model_validate(data)
    except ValidationError as e:
        raise _from_validation(e, model=Scenario).with_source(source) from e  # unknown fields: the valid ones
    asked = [(limits.pairs_asked(r), i, "pairs" if r.pairs else "states" if r.states else "rate")
             for i, r in enumerate(scenario.requests)]
    if asked:
        total, (most, i, key) = sum(a[0] for a in asked), max(asked)
        limits.check("pairs", total, f"requests.{i}.{key}", allow_large, source=source,
                     what=f"{limits.number(total)} pairs asked by the requests ({limits.number(most)} by this one)")
    scenario._source = source
    scenario._base_dir = base_dir
    scenario._allow_large = allow_large
    return scenario


def file_stem(name: str) -> str:
    """The scenario ``name`` made safe as a file name in the current folder (for the default
    ``<name>.results.json``, ``<name>-compare``): anything but letters, digits and ``.,=+[]-``
    (path separators, spaces, control characters) becomes ``_``, ``..`` cannot remain, leading
    and trailing dots, spaces and ``_`` go; ``scenario`` when nothing is left; a name over 120
    characters is shortened with a hash."""
    safe = re.sub(r"[^\w.,=+\[\]-]", "_", str(name))  # letters, digits and a few marks: no separator
    stem = re.sub(r"\.{2,}", ".", safe).strip(" ._") or "scenario"
    # a long label (many overrides) is shortened, with a hash of the whole keeping labels apart
    return stem if len(stem) <= 120 else f"{stem[:100]}~{hashlib.sha1(str(name).encode()).hexdigest()[:10]}"


def scenario_allows_large(scenario: Scenario) -> bool:
    """Whether ``scenario`` was loaded with ``allow_large`` (the size limits lifted)."""
    return scenario._allow_large


def scenario_source(scenario: Scenario) -> str:
    return scenario._source


def scenario_base_dir(scenario: Scenario) -> Path:
    return scenario._base_dir
