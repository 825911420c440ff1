"""A run whose memory inventory is checked during and after it: the tests' shared helper
(``from inventory_checks import run_checked``: the root pyproject puts this folder on pytest's path)."""

from __future__ import annotations

from typing import Any

import qplane


def run_checked(sc: dict, every: float | None = 2e-4, counter: list[int] | None = None) -> tuple[Any, dict]:
    """Build and run ``sc``, checking the memory inventory every ``every`` simulated seconds
    (None: only after the run) and after the run; ``counter[0]`` counts the checks made during
    it. Returns the simulation and its results."""
    sim = qplane.build(qplane.load_scenario(sc))
    if every:
        def check() -> None:
            sim.check_memory_invariants()
            if counter is not None:
                counter[0] += 1
            sim.context.clock.call_at(every, check)
        sim.context.clock.call_at(0.0, check)
    res = sim.run()
    sim.check_memory_invariants(final=True)
    return sim, res
