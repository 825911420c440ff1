"""Size limits: how big a scenario (and an experiment) may be before anything is built.

A typo (``nodes: 1000000000``, ``count: 1e9``, ``--seeds 1000000000``) must not exhaust the
machine's memory: every size below is checked against :data:`LIMITS` before the structure it
measures is allocated, and beyond a limit the command stops with one line naming the field,
its value and the limit (exit code 2). ``--allow-large`` (``allow_large=True`` in Python)
lifts them all. Topology builders and traffic models declare the size they will make (see
:func:`declared_size`); the structure of the input itself (nesting depth, cycles) is checked
by :func:`check_structure`, and no flag lifts that.
"""

from __future__ import annotations

from typing import Any

from .errors import ScenarioError

#: name -> (limit, what is counted); documented in the README and docs/design.md
LIMITS: dict[str, tuple[int, str]] = {
    "nodes": (10_000, "nodes"),
    "links": (100_000, "quantum links"),
    "memories": (1_000_000, "memories (count per link end x link ends)"),
    "requests": (100_000, "requests (listed, and expected from traffic models)"),
    "pairs": (1_000_000, "pairs asked (a rate request asks rate x (end - start))"),
    "runs": (10_000, "runs (grid points x arms x seeds)"),
    "file_bytes": (20_000_000, "bytes of a topology file"),
    "values": (2_000_000, "values (YAML aliases expanded)"),
}
#: deepest nesting of lists and mappings a scenario may have (a real one needs under 10)
MAX_DEPTH = 100


def check(name: str, value: float, field: str | None, allow_large: bool, what: str | None = None,
          source: str | None = None) -> None:
    """Raise a :class:`ScenarioError` when ``value`` exceeds the limit ``name`` (unless ``allow_large``)."""
    limit, counted = LIMITS[name]
    if allow_large or value <= limit:
        return
    raise ScenarioError(f"{what or number(value) + ' ' + name.replace('_', ' ')}, above the limit of {limit:,} "
                        f"{counted}; --allow-large lifts the limits", field=field, source=source)


def number(value: float) -> str:
    """``1000000000`` as given; an estimate (a float) as ``about 628,219``."""
    return str(value) if isinstance(value, int) else f"about {value:,.0f}"


def pairs_asked(request: Any) -> float:
    """The pairs an :class:`~qplane.requests.EntanglementRequest` asks: ``pairs``, or
    ``rate x (end - start)``; a GHZ state of n parties takes n - 1 pairs (one per party but the hub)."""
    count = request.states if request.parties else request.pairs
    legs = len(request.parties) - 1 if request.parties else 1
    return legs * (count if count is not None else request.rate * (request.end - request.start))


def declared_size(params: Any, context: Any) -> dict[str, float]:
    """The sizes a component's parameters declare: ``params.expected_size(context)`` when the
    parameter model defines it (``{"nodes": N, "links": M}`` for a topology builder,
    ``{"file_bytes": B}`` for one that reads a file, ``{"requests": R, "pairs": P}`` for a
    traffic model; a value may be ``(size, "parameter")``, naming the parameter that sets
    it), else nothing."""
    method = getattr(params, "expected_size", None)
    return dict(method(context)) if callable(method) else {}


def check_structure(data: Any, source: str | None = None, field: str | None = None,
                    count_values: bool = False) -> None:
    """Refuse a value nested deeper than :data:`MAX_DEPTH`, one that contains itself (a YAML
    alias cycle), or, with ``count_values``, one holding more values than the limit ``values``
    once aliases are expanded. Iterative, and linear in the distinct containers: a shared
    (aliased) container is walked once."""
    size: dict[int, int] = {}  # container id -> values in it, expanded
    stack: list[tuple[Any, int, bool]] = [(data, 1, False)]
    open_: set[int] = set()
    while stack:
        obj, depth, done = stack.pop()
        if not isinstance(obj, (dict, list, tuple)):
            continue
        key = id(obj)
        items = list(obj.values()) if isinstance(obj, dict) else list(obj)
        if done:
            open_.discard(key)
            size[key] = 1 + sum(size.get(id(x), 1) for x in items)
            if count_values:
                check("values", size[key], field, False, source=source,
                      what=f"at least {size[key]:,} values")
            continue
        if key in open_:
            raise ScenarioError("a value contains itself (a YAML alias refers to its own anchor)",
                                field=field, source=source)
        if key in size:
            continue
        if depth > MAX_DEPTH:
            raise ScenarioError(f"lists and mappings nested more than {MAX_DEPTH} levels deep", field=field,
                                source=source)
        open_.add(key)
        stack.append((obj, depth, True))
        stack.extend((x, depth + 1, False) for x in items)
