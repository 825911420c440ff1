"""``RequestHandle.keep_delivered``: a handle may keep only its most recent delivered pairs
(a long-lived service must not hold every pair) while ``delivered_count`` counts them all, and
everything that counts pairs — completion, the rate achieved, the reactive router, the results'
``delivered``, ``rate_hz`` and ``served_fraction`` — counts them all."""

from __future__ import annotations

from typing import Any

import pytest
import qplane
from qplane.scenario import load_scenario


def _scenario(requests: list[dict[str, Any]], **protocols: Any) -> Any:
    return load_scenario({
        "name": "keep", "seed": 3, "duration": 5.0, "backend": "fidelity",
        "topology": {"builder": "chain", "nodes": 3, "spacing_km": 10},
        "hardware": {"memory": {"count": 4, "coherence_time": 1.0}, "link": {"pair_fidelity": 0.97}},
        "protocols": protocols, "requests": requests,
    })


def _run(scenario: Any, keep: int | None) -> tuple[dict[str, Any], list[Any]]:
    sim = qplane.build(scenario)
    for handle in sim.handles:
        handle.keep_delivered = keep
    return sim.run(), list(sim.handles)


@pytest.mark.parametrize("protocols", [{}, {"routing": "reactive"}])
def test_a_handle_keeps_its_last_pairs_and_counts_them_all(protocols: dict[str, Any]) -> None:
    scenario = _scenario([{"src": "n0", "dst": "n2", "pairs": 300},
                          {"src": "n0", "dst": "n2", "rate": 50.0, "end": 2.0}], **protocols)
    full, full_handles = _run(scenario, None)
    kept, kept_handles = _run(scenario, 7)
    for whole, trimmed in zip(full_handles, kept_handles):
        n = len(whole.delivered)
        assert n > 20 and whole.delivered_count == n
        assert trimmed.delivered_count == n  # the same run: same seed, same pairs
        assert 7 <= len(trimmed.delivered) <= 14
        assert [p.time for p in trimmed.delivered] == [p.time for p in whole.delivered[-len(trimmed.delivered):]]
        assert (trimmed.status, trimmed.reason) == (whole.status, whole.reason)
    assert kept_handles[0].status.value == "completed" and kept_handles[0].delivered_count == 300
    for a, b in zip(full["requests"], kept["requests"]):
        for key in ("status", "delivered", "rate_hz", "served_fraction", "completion_time_s"):
            assert a[key] == b[key], key
    # the per-pair statistics cover the pairs kept
    last = kept_handles[0].delivered
    assert kept["requests"][0]["fidelity_mean"] == pytest.approx(sum(p.fidelity for p in last) / len(last))


def test_keeping_none_still_completes_and_counts() -> None:
    results, handles = _run(_scenario([{"src": "n0", "dst": "n2", "pairs": 40}]), 0)
    assert handles[0].status.value == "completed" and handles[0].delivered_count == 40
    assert handles[0].delivered == [] and results["requests"][0]["delivered"] == 40
