"""Protocol-event traces: ``qplane run SCENARIO --trace FILE.jsonl``.

A traced run holds a :class:`Tracer` under the contract's :data:`qplane.context.TRACE` service
key, set before any component is built; a component fetches it once at construction
(``context.services.get(TRACE)``) and guards each event with ``if trace is not None``, so an
untraced run pays one attribute test per protocol event and nothing else. The engine traces
failures, re-routes and request ends itself; the swapping policies, purification and the
topology managers trace theirs (docs/design.md, "Traces", lists every kind and field).

Each event is one JSON object on one line: ``t`` (simulated seconds) and ``kind`` first, then
the event's own fields. Writing goes through a large buffer; the file is closed when the run
ends (or is interrupted).
"""

from __future__ import annotations

import itertools
import json
from json.encoder import encode_basestring as _s  # a str as JSON text (C)
from pathlib import Path
from typing import Any

from qplane.context import ServiceKey
from qplane.errors import QPlaneError

#: the run's pair-id counter (traced runs only): one numbering of every pair and GHZ state, shared
#: by the swapping policies, the reactive pool, the repeaters and the engine's GHZ fusion (each
#: declares this key by its name; the engine sets it when it makes the tracer)
PAIR_IDS: ServiceKey[itertools.count] = ServiceKey("qplane.trace.pair-ids", itertools.count)

_encode = json.JSONEncoder(separators=(",", ":"), default=str).encode


def _value(v: Any) -> str:
    """JSON text of one field's value (the general case: see :func:`_line`)."""
    tv = type(v)
    if tv is float:
        return repr(v) if v - v == 0.0 else "null"  # inf and nan are not JSON
    if tv is list and all(type(x) is str for x in v):
        return "[" + ",".join(map(_s, v)) + "]"
    if tv is list and all(type(x) is int for x in v):
        return "[" + ",".join(map(str, v)) + "]"
    return _encode(v)


def _line(now: float, kind: str, fields: dict[str, Any]) -> str:
    """One event as a JSON line. Written by hand for the common value types (ints, floats,
    a pair of node names): several times faster than :func:`json.dumps` of the same dict,
    which is what keeps a traced run within twice the untraced run time (bench/chain.py
    --trace). Keys are keyword
    names, so they need no escaping."""
    out = f'{{"t":{now!r},"kind":{_s(kind)}'
    for k, v in fields.items():
        tv = type(v)
        if tv is int:
            out += f',"{k}":{v}'
        elif tv is float:
            out += f',"{k}":{v!r}' if v - v == 0.0 else f',"{k}":null'
        elif tv is list and len(v) == 2:  # a pair of node names, or of pair ids
            a, b = v
            if type(a) is str and type(b) is str:
                out += f',"{k}":[{_s(a)},{_s(b)}]'
            elif type(a) is int and type(b) is int:
                out += f',"{k}":[{a},{b}]'
            else:
                out += f',"{k}":{_value(v)}'
        elif tv is bool:
            out += f',"{k}":true' if v else f',"{k}":false'
        elif tv is str:
            out += f',"{k}":{_s(v)}'
        else:
            out += f',"{k}":{_value(v)}'
    return out + "}\n"


_int = int.__repr__  # TypeError for anything but an int (or a bool): the fast paths' guard


def _float(v: float) -> str:
    return float.__repr__(v) if v - v == 0.0 else "null"


def _herald(now: float, f: dict[str, Any]) -> str:
    a, b = f["nodes"]
    return ('{"t":%s,"kind":"herald","request":%s,"pair":%s,"nodes":[%s,%s],"fidelity_estimated":%s,"emitted":%s}\n'
            % (_float(now), _int(f["request"]), _int(f["pair"]), _s(a), _s(b), _float(f["fidelity_estimated"]),
               _float(f["emitted"])))


def _swap(now: float, f: dict[str, Any]) -> str:
    a, b = f["nodes"]
    left, right = f["consumed"]
    return ('{"t":%s,"kind":"swap","request":%s,"pair":%s,"node":%s,"consumed":[%s,%s],"nodes":[%s,%s],"outcome":%s,'
            '"ok":%s,"fidelity_estimated":%s}\n'
            % (_float(now), _int(f["request"]), _int(f["pair"]), _s(f["node"]), _int(left), _int(right), _s(a), _s(b),
               _int(f["outcome"]), "true" if f["ok"] is True else "false" if f["ok"] is False else _encode(f["ok"]),
               _float(f["fidelity_estimated"])))


def _delivery(now: float, f: dict[str, Any]) -> str:
    a, b = f["nodes"]
    return ('{"t":%s,"kind":"delivery","request":%s,"pair":%s,"nodes":[%s,%s],"fidelity":%s,"fidelity_estimated":%s,'
            '"latency":%s}\n'
            % (_float(now), _int(f["request"]), _int(f["pair"]), _s(a), _s(b), _float(f["fidelity"]),
               _float(f["fidelity_estimated"]), _float(f["latency"])))


#: the kinds a chain writes most of (one per link pair, per swap, per pair delivered), by fixed
#: templates: used when an event has exactly a template's fields, of its types (else :func:`_line`)
_FAST = {("herald", 5): _herald, ("swap", 8): _swap, ("delivery", 6): _delivery}


class Tracer:
    """Writes protocol events to a JSON-lines file: ``tracer(kind, **fields)``. Lines are kept
    in a list and written a few thousand at a time (one ``write`` per line costs more than
    making it)."""

    __slots__ = ("_clock", "_file", "_lines", "path", "events", "last_delivery")

    def __init__(self, path: str | Path, clock: Any):
        self.path = Path(path)
        self._clock = clock
        try:
            self._file = self.path.open("w", encoding="utf-8")
        except OSError as e:
            raise QPlaneError(f"--trace {self.path}: cannot write: {e.strerror}") from e
        self._lines: list[str] = []
        #: events written so far
        self.events = 0
        #: the ``pair`` of the last ``delivery`` event: a GHZ leg's application (called right
        #: after its pair's delivery event) learns from it which pair it holds
        self.last_delivery: Any = None

    def __call__(self, kind: str, **fields: Any) -> None:
        lines = self._lines
        if kind == "delivery":
            self.last_delivery = fields.get("pair")
        fast = _FAST.get((kind, len(fields)))
        if fast is not None:
            try:
                lines.append(fast(self._clock.now, fields))
            except (KeyError, TypeError, ValueError):  # other fields, or other types
                lines.append(_line(self._clock.now, kind, fields))
        else:
            lines.append(_line(self._clock.now, kind, fields))
        if len(lines) >= 4096:
            self._flush()

    def _flush(self) -> None:
        self.events += len(self._lines)
        self._file.write("".join(self._lines))
        self._lines.clear()

    def close(self) -> None:
        """Write what is left and close the file (once; later events are an error)."""
        if not self._file.closed:
            self._flush()
            self._file.close()
