"""Scenarios the applications' tests share."""

from __future__ import annotations

from typing import Any

from qplane_devkit.conformance import run_scenario, scenario

from qplane_applications import plugin

#: tolerance of every statistical comparison with a closed form: 4 standard errors
SIGMAS = 4.0


def link_scenario(application: Any, pairs: int, fidelity: float = 1.0, backend: str = "density",
                  nodes: int = 2, seed: int = 11, spacing_km: float = 10.0) -> dict[str, Any]:
    """A chain of ``nodes`` nodes with ``direct`` links delivering Werner pairs of ``fidelity``
    (no memory noise, ideal operations), one request from the first node to the last."""
    data = scenario({"builder": "chain", "nodes": nodes, "spacing_km": spacing_km},
                    [{"src": "n0", "dst": f"n{nodes - 1}", "pairs": pairs}], count=4, seed=seed,
                    backend=backend, duration=100.0, protocols={"application": application})
    data["hardware"]["link"] = {"scheme": "direct", "pair_fidelity": fidelity}
    return data


def figures(data: dict[str, Any], name: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """Run ``data``; the application's figures and the request's row, both of request 0."""
    _, results = run_scenario(data, plugin)
    return results["extra"][name]["requests"][0], results["requests"][0]
