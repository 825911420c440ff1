"""One quantum link between two nodes, run to a number of pairs: the link-physics tests' shared
helper (``from link_runs import run_link``: the root pyproject puts this folder on pytest's path)."""

from __future__ import annotations

from typing import Any

import qplane
from qplane_devkit.conformance import chain_scenario


def run_link(link: dict, length_km: float = 20.0, pairs: int = 2000, seed: int = 1,
             **kw: Any) -> tuple[Any, dict, Any]:
    """Build and run a chain of two nodes ``length_km`` apart, one memory per end, whose
    ``hardware.link`` is ``link`` (``kw``: more :func:`chain_scenario` arguments). Returns the
    simulation, its results and the link's model."""
    sc = chain_scenario(2, length_km, pairs=pairs, count=1, seed=seed, **kw)
    sc["hardware"]["link"] = link
    sim = qplane.build(qplane.load_scenario(sc))
    res = sim.run()
    return sim, res, sim.context.network.link("n0", "n1").model
