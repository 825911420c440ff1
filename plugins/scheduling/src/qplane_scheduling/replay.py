"""``replay``: the requests of a recorded trace, a CSV file, reproduced exactly.

The first row is a header naming the columns, in any order: ``time`` (seconds into the run the
request arrives), ``src``, ``dst``, and ``pairs`` or ``rate`` (both columns may be present; each
row fills exactly one); optionally ``min_fidelity``, ``deadline`` (the request's end is its time
plus this many seconds) and ``priority``. An empty optional cell takes the model's parameter of
the same name. Rows are in arrival order (times never decrease); blank lines and lines starting
with ``#`` are skipped. A relative ``file`` is resolved against the scenario file's folder (the
working directory for a scenario given as a mapping). No random draw is made: the trace is the
same whatever the seed. A row at or after the run's end is kept (and never served).

Every error names the file as given, the line and the column:
``traffic.file: trace.csv line 4: src 'x' is not a node (nodes: ...)``.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from qplane.errors import ScenarioError
from qplane.requests import EntanglementRequest
from qplane.traffic import TrafficContext

from .traffic import shown_nodes

REQUIRED = ("time", "src", "dst")
OPTIONAL = ("pairs", "rate", "min_fidelity", "deadline", "priority")


class ReplayParams(BaseModel):
    """``traffic: {model: replay, file: trace.csv, ...}``."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    file: str = Field(min_length=1, description="the CSV trace: a header row (time, src, dst, pairs or rate, and "
                      "optionally min_fidelity, deadline, priority), then a request a row; relative to the scenario file")
    min_fidelity: float = Field(0.0, ge=0.0, le=1.0, description="min_fidelity of a row that leaves it empty")
    deadline: float | None = Field(None, gt=0.0, allow_inf_nan=False,
                                   description="deadline (seconds after the row's time) of a row that leaves it empty")
    priority: int = Field(0, description="priority of a row that leaves it empty")
    protocols: dict[str, Any] | None = Field(None, description="per-request protocols of every replayed request")

    def path(self, context: Any) -> Path:
        p = Path(self.file)
        return p if p.is_absolute() else Path(getattr(context, "base_dir", ".")) / p

    def expected_size(self, context: TrafficContext) -> dict[str, tuple[float, str]]:
        """The file's bytes, and at most one request a line (read before the file is parsed)."""
        try:
            data = self.path(context).read_bytes()
        except OSError:
            return {}  # generate says what is wrong with the file
        return {"file_bytes": (len(data), "file"), "requests": (data.count(b"\n") + 1, "file")}


def _number(kind: type, text: str, where: str, column: str) -> Any:
    try:
        return kind(text)
    except ValueError:
        what = "an integer" if kind is int else "a number"
        raise ScenarioError(f"{where}: {column} {text!r} is not {what}", field="file") from None


class ReplayTraffic:
    """The requests of a CSV trace (see the module)."""

    def __init__(self, params: ReplayParams):
        self.params = params

    def generate(self, context: TrafficContext) -> list[EntanglementRequest]:
        p = self.params
        path = p.path(context)
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise ScenarioError(f"{p.file}: no such file (looked for {path})", field="file") from None
        except (OSError, UnicodeDecodeError) as e:
            raise ScenarioError(f"{p.file}: cannot be read as UTF-8 text ({e.__class__.__name__})", field="file") from None
        reader = csv.reader(text.splitlines())
        header: list[str] | None = None
        nodes = list(context.nodes)
        known = set(nodes)
        out: list[EntanglementRequest] = []
        last = 0.0
        for row in reader:
            where = f"{p.file} line {reader.line_num}"
            if not row or not "".join(row).strip() or row[0].lstrip().startswith("#"):
                continue
            cells = [c.strip() for c in row]
            if header is None:
                header = cells
                unknown = [c for c in header if c not in REQUIRED + OPTIONAL]
                if unknown:
                    raise ScenarioError(f"{where}: unknown column {unknown[0]!r} (columns: "
                                        f"{', '.join(REQUIRED + OPTIONAL)})", field="file")
                missing = [c for c in REQUIRED if c not in header] + (
                    ["pairs or rate"] if "pairs" not in header and "rate" not in header else [])
                if missing:
                    raise ScenarioError(f"{where}: the header has no column {missing[0]!r} (it needs time, src, "
                                        "dst, and pairs or rate)", field="file")
                if len(set(header)) < len(header):
                    raise ScenarioError(f"{where}: the header names a column twice", field="file")
                continue
            if len(cells) != len(header):
                raise ScenarioError(f"{where}: {len(cells)} cells; the header has {len(header)} columns",
                                    field="file")
            rec = dict(zip(header, cells))
            for column in REQUIRED:
                if not rec[column]:
                    raise ScenarioError(f"{where}: {column} is empty", field="file")
            t = _number(float, rec["time"], where, "time")
            if not t >= 0.0 or t == float("inf"):
                raise ScenarioError(f"{where}: time {rec['time']!r} must be a finite number >= 0", field="file")
            if t < last:
                raise ScenarioError(f"{where}: time {rec['time']} is before the previous row's {last!r} "
                                    "(a trace is in arrival order)", field="file")
            last = t
            for column in ("src", "dst"):
                if rec[column] not in known:
                    raise ScenarioError(f"{where}: {column} {rec[column]!r} is not a node (nodes: {shown_nodes(nodes)})",
                                        field="file")
            pairs = _number(int, rec["pairs"], where, "pairs") if rec.get("pairs") else None
            rate = _number(float, rec["rate"], where, "rate") if rec.get("rate") else None
            if (pairs is None) == (rate is None):
                raise ScenarioError(f"{where}: give exactly one of pairs and rate", field="file")
            deadline = _number(float, rec["deadline"], where, "deadline") if rec.get("deadline") else p.deadline
            fields = {
                "src": rec["src"], "dst": rec["dst"], "pairs": pairs, "rate": rate, "start": t,
                "end": t + deadline if deadline is not None else None,
                "min_fidelity": (_number(float, rec["min_fidelity"], where, "min_fidelity")
                                 if rec.get("min_fidelity") else p.min_fidelity),
                "priority": _number(int, rec["priority"], where, "priority") if rec.get("priority") else p.priority,
                "protocols": p.protocols,
            }
            if deadline is not None and not deadline > 0.0:
                raise ScenarioError(f"{where}: deadline {deadline!r} must be > 0", field="file")
            try:
                out.append(EntanglementRequest(**fields))
            except ValidationError as e:
                err = e.errors()[0]
                column = {"end": "deadline", "start": "time"}.get(str(err["loc"][0]), str(err["loc"][0])) \
                    if err["loc"] else None
                msg = str(err["msg"]).removeprefix("Value error, ")
                msg = msg.replace("a 'rate' request needs an 'end'", "a rate needs a deadline (column or parameter)")
                raise ScenarioError(f"{where}: {column + ': ' if column else ''}{msg}", field="file") from None
        if header is None:
            raise ScenarioError(f"{p.file}: empty (it needs a header row: time, src, dst, pairs or rate)",
                                field="file")
        return out
