"""``qplane trace FILE [--request N] [--kind K]``: filter and summarise a protocol-event trace.

A trace is what ``qplane run SCENARIO --trace FILE.jsonl`` writes: one JSON object per line,
each with ``t`` (simulated seconds) and ``kind``, and the event's own fields (docs/design.md,
"Traces"). The command reads it, keeps the events of one request and/or some kinds, and prints
counts by kind and by request with the first and last time of each (``--json``: the same as
JSON; ``--events``: the matching events themselves, one JSON line each).

Bad input (a missing file, a line that is not a JSON object with ``t`` and ``kind``, an unknown
``--kind``) is one line naming the file (and line) and what was expected; exit code 2.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path
from typing import Any, Iterable

from qplane.errors import QPlaneError

#: every event kind a first-party run writes (docs/design.md, "Traces")
KINDS = ("herald", "encoding", "swap", "purification", "fusion", "delivery", "discard", "cutoff", "failure", "detection",
         "reroute", "finish")


class TraceError(QPlaneError):
    """A trace file that cannot be read, or a filter that cannot match."""


def read_trace(path: str | Path) -> list[dict[str, Any]]:
    """The events of a trace file, in file order."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise TraceError(f"{path}: cannot read: {e.strerror}") from e
    except UnicodeDecodeError:
        raise TraceError(f"{path}: not a text file (expected JSON lines from `qplane run --trace`)") from None
    events = []
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            event = json.loads(line)
        except ValueError:
            event = None
        if not isinstance(event, dict) or not isinstance(event.get("kind"), str) \
                or not isinstance(event.get("t"), (int, float)):
            raise TraceError(f"{path}: line {n}: expected a JSON object with 't' and 'kind' "
                             "(a line of `qplane run --trace`)")
        events.append(event)
    return events


def filter_events(events: Iterable[dict[str, Any]], request: int | None = None,
                  kinds: Iterable[str] | None = None) -> list[dict[str, Any]]:
    """The events of request ``request`` (events with no request, such as failures, are left
    out) whose kind is among ``kinds`` (None: any)."""
    wanted = set(kinds) if kinds else None
    return [e for e in events
            if (request is None or e.get("request") == request) and (wanted is None or e["kind"] in wanted)]


def _span(group: dict[str, Any], e: dict[str, Any]) -> None:
    group["count"] += 1
    group["first_t"] = e["t"] if group["first_t"] is None else min(group["first_t"], e["t"])
    group["last_t"] = e["t"] if group["last_t"] is None else max(group["last_t"], e["t"])


def summarise(events: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """Counts with first and last times: in all, by kind, by request (with each request's
    deliveries' mean fidelity)."""
    total: dict[str, Any] = {"count": 0, "first_t": None, "last_t": None}
    kinds: dict[str, dict[str, Any]] = {}
    requests: dict[int, dict[str, Any]] = {}
    fid: dict[int, list[float]] = {}
    for e in events:
        _span(total, e)
        _span(kinds.setdefault(e["kind"], {"count": 0, "first_t": None, "last_t": None}), e)
        r = e.get("request")
        if isinstance(r, int):
            g = requests.setdefault(r, {"count": 0, "first_t": None, "last_t": None, "kinds": {}})
            _span(g, e)
            g["kinds"][e["kind"]] = g["kinds"].get(e["kind"], 0) + 1
            if e["kind"] == "delivery" and isinstance(e.get("fidelity"), (int, float)):
                fid.setdefault(r, []).append(e["fidelity"])
    for r, g in requests.items():
        values = fid.get(r)
        g["fidelity_mean"] = math.fsum(values) / len(values) if values else None
    return {**total, "kinds": dict(sorted(kinds.items())), "requests": dict(sorted(requests.items()))}


def _t(v: Any) -> str:
    return "-" if v is None else f"{v:.6g}"


def summary_text(path: str, summary: dict[str, Any]) -> str:
    from qplane.cli import table

    lines = [f"{path}: {summary['count']} event{'s' * (summary['count'] != 1)}, "
             f"t {_t(summary['first_t'])} .. {_t(summary['last_t'])} simulated s"]
    if summary["kinds"]:
        lines.append(table(["kind", "count", "first_t", "last_t"],
                           [[k, str(g["count"]), _t(g["first_t"]), _t(g["last_t"])] for k, g in summary["kinds"].items()]))
    if summary["requests"]:
        cols = ["herald", "swap", "purification", "delivery", "discard", "cutoff", "reroute"]
        lines.append("")
        lines.append(table(["request", "events", *cols, "fidelity_mean", "first_t", "last_t"], [
            [str(r), str(g["count"]), *(str(g["kinds"].get(c, 0)) for c in cols),
             "-" if g["fidelity_mean"] is None else f"{g['fidelity_mean']:.4g}", _t(g["first_t"]), _t(g["last_t"])]
            for r, g in summary["requests"].items()]))
    return "\n".join(lines)


def add_trace_command(subparsers: Any) -> None:
    """Add ``trace`` to the ``qplane`` command's sub-parsers."""
    p = subparsers.add_parser("trace", help="filter and summarise a protocol-event trace (qplane run --trace FILE)")
    p.add_argument("file", help="a trace written by `qplane run SCENARIO --trace FILE`")
    p.add_argument("--request", type=int, metavar="N", help="only the events of request N")
    p.add_argument("--kind", action="append", metavar="K",
                   help=f"only events of kind K (repeatable, or comma-separated): {', '.join(KINDS)}")
    p.add_argument("--events", action="store_true", help="print the matching events, one JSON line each")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.set_defaults(func=cmd_trace)


def cmd_trace(args: argparse.Namespace) -> int:
    kinds = [k.strip() for spec in args.kind or [] for k in spec.split(",") if k.strip()]
    unknown = [k for k in kinds if k not in KINDS]
    if unknown:
        raise TraceError(f"--kind: unknown kind {unknown[0]!r} (expected one of {', '.join(KINDS)})")
    events = filter_events(read_trace(args.file), args.request, kinds)
    if args.events:
        for e in events:
            print(json.dumps(e))
        return 0
    summary = summarise(events)
    print(json.dumps(summary, indent=2) if args.json else summary_text(args.file, summary))
    return 0
