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

import json
from pathlib import Path
from typing import Any

from qplane.errors import QPlaneError

_encode = json.JSONEncoder(separators=(",", ":"), default=str).encode


class Tracer:
    """Writes protocol events to a JSON-lines file: ``tracer(kind, **fields)``."""

    __slots__ = ("_clock", "_file", "path", "events")

    def __init__(self, path: str | Path, clock: Any):
        self.path = Path(path)
        self._clock = clock
        try:
            self._file = self.path.open("w", encoding="utf-8", buffering=1 << 20)
        except OSError as e:
            raise QPlaneError(f"--trace {self.path}: cannot write: {e.strerror}") from e
        #: events written so far
        self.events = 0

    def __call__(self, kind: str, **fields: Any) -> None:
        self.events += 1
        self._file.write(_encode({"t": self._clock.now, "kind": kind, **fields}) + "\n")

    def close(self) -> None:
        """Flush and close the file (once; later events are an error)."""
        if not self._file.closed:
            self._file.close()
