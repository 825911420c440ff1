"""Helpers for testing qplane and plugins against it: scenario builders (more to come:
the backend conformance kit)."""

from __future__ import annotations

from typing import Any


def chain_scenario(nodes: int = 2, spacing_km: float = 20.0, *, pairs: int = 1000, count: int = 1,
                   coherence_time: float | None = None, pair_fidelity: float = 1.0, seed: int = 1,
                   duration: float = 1.0e4, mode: str = "geometric", **link: Any) -> dict[str, Any]:
    return {
        "name": f"chain-{nodes}",
        "seed": seed,
        "duration": duration,
        "topology": {"builder": "chain", "nodes": nodes, "spacing_km": spacing_km},
        "hardware": {
            "memory": {"count": count, "coherence_time": coherence_time},
            "link": {"scheme": "mim", "pair_fidelity": pair_fidelity, **link},
        },
        "protocols": {"link_generation": {"name": "heralded", "mode": mode}},
        "requests": [{"src": "n0", "dst": f"n{nodes - 1}", "pairs": pairs, "min_fidelity": 0.0}],
    }
