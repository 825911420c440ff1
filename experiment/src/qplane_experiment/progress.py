"""A one-line progress bar on stderr for long work (``qplane compare`` and ``qplane sweep``).

``runs done / total``, runs failed, elapsed time and an estimate of the time left, redrawn in
place with a carriage return. Off when the stream is not a terminal (a log file, CI, a pipe)
unless forced; :meth:`Progress.note` prints a line above the bar (a failed run) whether or not
the bar is shown. No dependency, no thread: the bar moves when a run finishes.
"""

from __future__ import annotations

import shutil
import sys
import time
from typing import TextIO


def _clock(seconds: float) -> str:
    seconds = max(0, int(round(seconds)))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


class Progress:
    """Progress of ``total`` runs. ``enabled=None``: shown only when ``stream`` is a TTY."""

    #: at most this many redraws a second (the final state is always drawn)
    max_redraws_per_s = 10.0

    def __init__(self, total: int, *, enabled: bool | None = None, stream: TextIO | None = None,
                 what: str = "runs"):
        self.stream = stream if stream is not None else sys.stderr
        if enabled is None:
            isatty = getattr(self.stream, "isatty", None)
            enabled = bool(isatty and isatty())
        self.enabled = enabled
        self.total = total
        self.what = what
        self.done = 0
        self.failed = 0
        self.start = time.monotonic()
        self._last_draw = 0.0
        self._drawn = False

    # ------------------------------------------------------------------ text

    def line(self, width: int | None = None) -> str:
        """The bar as text (without the carriage return)."""
        elapsed = time.monotonic() - self.start
        if self.done and self.done < self.total:
            left = f"~{_clock(elapsed / self.done * (self.total - self.done))} left"
        elif self.done >= self.total:
            left = "done"
        else:
            left = "time left unknown"
        failed = f", {self.failed} failed" if self.failed else ""
        tail = f" {self.done}/{self.total} {self.what}{failed}, {_clock(elapsed)} elapsed, {left}"
        width = width if width is not None else shutil.get_terminal_size((80, 20)).columns
        bar_width = max(10, min(40, width - len(tail) - 3))
        filled = int(bar_width * self.done / self.total) if self.total else bar_width
        return f"[{'#' * filled}{'.' * (bar_width - filled)}]{tail}"[: max(width - 1, 20)]

    # ------------------------------------------------------------------ updates

    def update(self, done: int, failed: int) -> None:
        self.done, self.failed = done, failed
        if not self.enabled:
            return
        now = time.monotonic()
        if done < self.total and now - self._last_draw < 1.0 / self.max_redraws_per_s:
            return
        self._last_draw = now
        self._draw()

    def note(self, message: str) -> None:
        """Print ``message`` on its own line, above the bar."""
        if self.enabled and self._drawn:
            self.stream.write("\r\033[K")
        self.stream.write(message.rstrip("\n") + "\n")
        if self.enabled and self._drawn:
            self._draw()
        self.stream.flush()

    def close(self) -> None:
        """Leave the final bar on its own line."""
        if self.enabled and self._drawn:
            self._draw()
            self.stream.write("\n")
            self.stream.flush()
            self._drawn = False

    def _draw(self) -> None:
        self.stream.write("\r\033[K" + self.line())
        self.stream.flush()
        self._drawn = True
