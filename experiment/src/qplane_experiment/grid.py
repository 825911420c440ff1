"""Grid axes of parameter studies and ``--vary`` arms, and their labels.

Which lists of a raw scenario are sweep axes (a list where the schema expects a scalar, a name
or a component: :func:`qplane_experiment.lists.find_value_lists`, with the
experiment's registry), how ``--vary PATH=V1,V2`` parses, and how points are named. Used by
:mod:`qplane_experiment.plan`; see the package docstring for the rules."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Mapping, Sequence

from pydantic import BaseModel

from qplane.errors import ScenarioError, UnknownComponentError
from qplane.scenario import parse_set

from .lists import find_value_lists


# =============================================================================== grid axes


@dataclass
class Axis:
    """A dotted field path and the values it takes."""

    path: str
    values: list[Any]

    @property
    def parts(self) -> list[str]:
        return self.path.split(".")


def find_axes(data: dict[str, Any], registry: Any | None = None) -> list[Axis]:
    """The grid axes of a raw scenario dictionary: every list where the schema (or the chosen
    component's parameter model, looked up in ``registry`` or the installed plugins) expects
    one value. In the order they appear in the file (see :func:`qplane_experiment.lists.find_value_lists`)."""
    def lookup(kind: str, name: str) -> type[BaseModel] | None:
        try:
            return registry.get(kind, name).params
        except (UnknownComponentError, KeyError):
            return None

    found = find_value_lists(data, lookup if registry is not None else None)
    return [Axis(path, list(values)) for path, values in found]


# =============================================================================== --vary


def _split_values(raw: str) -> list[str]:
    """Split ``a,{name: b, rounds: 2},[1, 2]`` on the commas outside brackets and quotes."""
    out, depth, quote, cur = [], 0, "", []
    for ch in raw:
        if quote:
            if ch == quote:
                quote = ""
        elif ch in "'\"":
            quote = ch
        elif ch in "[{(":
            depth += 1
        elif ch in "]})":
            depth -= 1
        elif ch == "," and depth == 0:
            out.append("".join(cur).strip())
            cur = []
            continue
        cur.append(ch)
    out.append("".join(cur).strip())
    return out


def parse_vary(spec: str) -> Axis:
    """``"protocols.purification=none,bbpssw,dejmps"`` → an :class:`Axis` with three values.

    The path is a ``--set`` path; each value is a YAML scalar (or flow mapping, e.g.
    ``{name: dejmps, rounds: 2}``), split on the commas outside brackets and quotes. A single
    YAML flow sequence (``[10, 20]``) gives its items."""
    if "=" not in spec:
        raise ScenarioError(f"--vary {spec!r}: expected dotted.path=value1,value2,...")
    path, _, raw = spec.partition("=")
    values = []
    parts: list[str] = []
    for piece in _split_values(raw):
        try:
            parts, value = parse_set(f"{path}={piece}")
        except ScenarioError as e:
            raise ScenarioError(e.message.replace("--set", "--vary")) from e
        values.append(value)
    if len(values) == 1 and isinstance(values[0], list):
        values = values[0]
    if not values:
        raise ScenarioError(f"--vary {spec!r}: no values")
    return Axis(".".join(parts), values)


def vary_axes(vary: Mapping[str, Any] | Sequence[str] | None) -> list[Axis]:
    """The arm axes of ``vary``: ``{path: values}``, or ``--vary`` strings (or :class:`Axis`)."""
    if vary is None:
        return []
    if isinstance(vary, str):
        vary = [vary]
    if isinstance(vary, Mapping):
        axes = [Axis(str(k), list(v) if isinstance(v, (list, tuple)) else [v]) for k, v in vary.items()]
    else:
        axes = [parse_vary(s) if isinstance(s, str) else s for s in vary]
    seen: set[str] = set()
    for a in axes:
        if not a.values:
            raise ScenarioError(f"--vary {a.path}: no values", field=a.path)
        if a.path in seen:
            raise ScenarioError(f"--vary {a.path} given twice: put every value in one --vary", field=a.path)
        seen.add(a.path)
    return axes


# =============================================================================== labels


def count(n: int, word: str, plural: str | None = None) -> str:
    """``1 run``, ``8 runs``: a count with its noun."""
    return f"{n} {word if n == 1 else plural or word + 's'}"


def format_value(v: Any) -> str:
    """A value as labels show it: ``dejmps(rounds=2)`` for a component mapping, ``0.9`` for a float."""
    if isinstance(v, dict):
        name = next((v[k] for k in ("name", "builder", "scheme", "model") if k in v), None)
        rest = ", ".join(f"{k}={format_value(x)}" for k, x in v.items() if x is not name)
        return f"{name}({rest})" if name is not None else "{" + rest + "}"
    if isinstance(v, list):
        return "[" + ", ".join(format_value(x) for x in v) + "]"
    if v is None:
        return "null"
    if isinstance(v, float):
        return format(v, "g")
    return str(v)


def short_names(paths: Iterable[str]) -> dict[str, str]:
    """The last part of each dotted path, or more of it where two would be the same."""
    paths = list(paths)
    out = {}
    for p in paths:
        parts = p.split(".")
        for k in range(1, len(parts) + 1):
            cand = ".".join(parts[-k:])
            if sum(1 for q in paths if q == cand or q.endswith("." + cand)) == 1:
                out[p] = cand
                break
        else:
            out[p] = p
    return out


def point_label(values: Mapping[str, Any], names: Mapping[str, str]) -> str:
    """``spacing_km=10, count=2``: a point's values under their short names."""
    return ", ".join(f"{names[p]}={format_value(v)}" for p, v in values.items())
