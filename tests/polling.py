"""Waiting in a test for something another thread or process does (a test helper, on the
tests' path): the services' and agents' tests poll until a condition holds or time runs out."""

from __future__ import annotations

import time
from typing import Any, Callable


def until(check: Callable[[], Any], timeout: float = 20.0, interval: float = 0.05) -> Any:
    """``check()``'s first truthy value, polled every ``interval`` s; its last value (falsy) once
    ``timeout`` wall seconds have passed."""
    deadline = time.monotonic() + timeout
    while True:
        got = check()
        if got or time.monotonic() > deadline:
            return got
        time.sleep(interval)
