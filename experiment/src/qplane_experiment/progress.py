"""The progress bar of ``qplane compare`` and ``qplane sweep``: a tqdm bar on stderr.

Runs done / total, runs failed, elapsed time and an estimate of the time left. Off when the
stream is not a terminal (a log file, CI, a pipe) unless forced; :meth:`Progress.note` prints
a line above the bar (a failed run) whether or not the bar is shown.
"""

from __future__ import annotations

import sys
from typing import TextIO

from tqdm import tqdm

BAR_FORMAT = "{percentage:3.0f}%|{bar}| {n_fmt}/{total_fmt} runs{postfix}, {elapsed} elapsed, {remaining} left"


class Progress:
    """Progress of ``total`` runs. ``enabled=None``: shown only when ``stream`` is a TTY."""

    def __init__(self, total: int, *, enabled: bool | None = None, stream: TextIO | None = None):
        self.stream = stream if stream is not None else sys.stderr
        self.failed = 0
        self.bar = tqdm(total=total, file=self.stream, disable=None if enabled is None else not enabled,
                        bar_format=BAR_FORMAT, dynamic_ncols=True, mininterval=0.1)

    @property
    def enabled(self) -> bool:
        return not self.bar.disable

    def advance(self, ok: bool) -> None:
        """One more run finished (``ok``: without an error)."""
        if not ok:
            self.failed += 1
            self.bar.set_postfix_str(f"{self.failed} failed", refresh=False)
        self.bar.update(1)

    def note(self, message: str) -> None:
        """Print ``message`` on its own line, above the bar."""
        tqdm.write(message.rstrip("\n"), file=self.stream)

    def close(self) -> None:
        """Leave the final bar on its own line."""
        self.bar.close()
