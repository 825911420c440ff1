"""Hybrid routing with virtual links (qplane_engine.virtual, the routing plugin's ``hybrid``).

Closed forms, on the fidelity backend with perfect operations and MIM links of success
probability p per attempt (cycle time c, herald delay h) and classical signals at 2e5 km/s:

* a request served over a stocked virtual link and one more physical hop waits for that hop's
  pair — (K - 1) c + h with K ~ Geometric(p), mean (1/p - 1) c + h — then for the swap outcome
  to reach both ends: the slower of the junction's delays to them;
* a stock refilled over two hops by a keeper with one memory pair per hop, consumed as soon as
  it is stocked, refills in max(K1, K2) - 1 cycles plus h (both hops start together when the
  consumed pair frees the ends) plus the swap outcome's delay to the ends, L/c for hops of L km:
  E[max(K1, K2)] = 2/p - 1/(1 - (1 - p)^2).
"""

from __future__ import annotations

import math
import statistics

import pytest

import qplane
from qplane.errors import ScenarioError
from qplane_devkit.conformance import chain_scenario

C = 2e5  # km/s


def build(sc):
    return qplane.build(qplane.load_scenario(sc))


def hybrid(*links, **params):
    """The hybrid router with these virtual links only (none chosen from demand)."""
    return {"name": "hybrid", "virtual_links": [list(l) for l in links], "auto": 0, **params}


def latencies(sim):
    return [h.finished_at - h.request.start for h in sim.handles]


def test_a_stocked_virtual_link_cuts_short_requests_to_the_last_hop_and_the_swap_message():
    n, spacing, every = 5, 20.0, 0.02
    # one memory pair per link end: the last hop's pair is one geometric draw
    sc = chain_scenario(n, spacing, pairs=1, count=1, duration=10.0, seed=4)
    sc["requests"] = [{"src": "n0", "dst": "n4", "pairs": 1, "start": every * (i + 1)} for i in range(300)]
    sc["protocols"]["routing"] = hybrid(("n0", "n3"))
    sim = build(sc)
    res = sim.run()
    assert all(r["status"] == "completed" and r["paths"] == [["n0", "n3", "n4"]] for r in res["requests"])
    (vl,) = res["extra"]["virtual_links"]
    assert vl["path"] == ["n0", "n1", "n2", "n3"] and vl["pairs_consumed"] == 300
    assert vl["refill_time_mean_s"] < every  # the stock is full again before the next request
    m = sim.context.network.link("n3", "n4").model
    p, c, h = m.success_probability, m.cycle_time, m.herald_delay
    expected = (1 / p - 1) * c + h + 3 * spacing / C  # the junction n3 is 3 hops from n0, 1 from n4
    sd = c * math.sqrt(1 - p) / p
    got = latencies(sim)
    assert statistics.fmean(got) == pytest.approx(expected, abs=4 * sd / math.sqrt(len(got)))
    # the same requests over the physical chain wait for four hops and three swaps
    sc["protocols"]["routing"] = "min-cost"
    plain = build(sc)
    plain.run()
    assert statistics.fmean(latencies(plain)) > 1.3 * statistics.fmean(got)


def _max_geometric_moments(p: float) -> tuple[float, float]:
    """Mean and variance of max(K1, K2) for two independent Geometric(p) (support 1, 2, ...)."""
    q, mean, second, k, below = 1 - p, 0.0, 0.0, 1, 0.0
    while True:
        cdf = (1 - q**k) ** 2
        pk = cdf - below
        mean += k * pk
        second += k * k * pk
        below = cdf
        if 1 - cdf < 1e-15:
            return mean, second - mean * mean
        k += 1


def test_the_stock_refills_at_the_rate_of_its_two_hop_keeper():
    spacing = 20.0
    sc = chain_scenario(3, spacing, pairs=1, count=1, duration=3.0, seed=9)
    sc["requests"] = [{"src": "n0", "dst": "n2", "rate": 1.0, "start": 0.01, "end": 3.0}]
    sc["protocols"]["routing"] = hybrid(("n0", "n2"), stock=1)
    sim = build(sc)
    res = sim.run()
    (r,) = res["requests"]
    assert r["paths"] == [["n0", "n2"]]
    (vl,) = res["extra"]["virtual_links"]
    m = sim.context.network.link("n0", "n1").model
    p, c, h = m.success_probability, m.cycle_time, m.herald_delay
    mean_k, var_k = _max_geometric_moments(p)
    assert mean_k == pytest.approx(2 / p - 1 / (1 - (1 - p) ** 2), rel=1e-9)
    expected = (mean_k - 1) * c + h + spacing / C
    n = vl["pairs_stocked"]
    assert n > 1000
    assert vl["refill_time_mean_s"] == pytest.approx(expected, abs=4 * c * math.sqrt(var_k / n))
    rate = r["delivered"] / (3.0 - 0.01)
    assert rate == pytest.approx(1 / expected, rel=4 * math.sqrt(var_k) * c / expected / math.sqrt(n) + 0.01)
    assert vl["pairs_consumed"] == r["delivered"]


def test_stocked_pairs_hold_their_memories_and_expire_at_max_age():
    sc = chain_scenario(4, 20.0, pairs=1, count=2, duration=1.0, seed=2, coherence_time=0.5)
    sc["requests"] = [{"src": "n0", "dst": "n3", "pairs": 5, "start": 0.5}]
    sc["protocols"]["routing"] = hybrid(("n0", "n3"), stock=2, max_age=0.01)
    sim = build(sc)
    seen = {}

    def midway():
        sim.check_memory_invariants()
        net = sim.context.network
        held = [m for end, nbr in (("n0", "n1"), ("n3", "n2")) for m in net.nodes[end].device.memories(nbr)
                if m.qubit is not None]
        seen["held"] = len(held)

    sim.context.clock.call_at(0.3, midway)
    res = sim.run()
    sim.check_memory_invariants(final=True)
    (vl,) = res["extra"]["virtual_links"]
    assert seen["held"] == 4  # two stocked pairs, each holding a memory at n0 and at n3
    assert vl["pairs_expired"] > 10  # kept no longer than 10 ms: remade many times before 0.5 s
    (r,) = res["requests"]
    assert r["status"] == "completed" and r["delivered"] == 5
    assert max(p.age for p in sim.handles[0].delivered) <= 0.01 + 1e-9  # a request that is the virtual link


def test_a_request_that_uses_no_virtual_link_is_an_ordinary_one():
    sc = chain_scenario(4, 20.0, pairs=3, count=2, duration=1.0)
    sc["requests"] = [{"src": "n1", "dst": "n2", "pairs": 3}]
    # the keeper takes the memories its scheduler gives it: one pair per hop leaves one for others
    sc["protocols"]["scheduling"] = {"name": "fifo", "max_memories_per_link": 1}
    sc["protocols"]["routing"] = hybrid(("n0", "n3"), refill="on_first_use")
    res = build(sc).run()
    (r,) = res["requests"]
    assert r["status"] == "completed" and r["paths"] == [["n1", "n2"]]
    (vl,) = res["extra"]["virtual_links"]  # its keeper started with the first request
    assert vl["path"] == ["n0", "n1", "n2", "n3"] and vl["failed"] == "the run ended"


@pytest.mark.parametrize("links, message", [
    ([["n0", "n0"]], "two different nodes"),
    ([["n0", "n3"], ["n3", "n0"]], "listed twice"),
    ([["n0", "n3"], ["n1", "zz"]], r"protocols.routing.virtual_links.1: virtual link n1-zz: node 'zz' is not in the topology"),
])
def test_bad_virtual_links_are_one_line_errors(links, message):
    sc = chain_scenario(4, 20.0, pairs=3)
    sc["protocols"]["routing"] = {"name": "hybrid", "virtual_links": links}
    with pytest.raises(ScenarioError, match=message):
        build(sc)


def test_the_controller_designates_a_virtual_link_from_observed_demand():
    sc = chain_scenario(5, 20.0, pairs=1, count=1, duration=5.0, seed=6)
    sc["requests"] = [{"src": "n0", "dst": "n4", "pairs": 1, "start": 0.02 * (i + 1)} for i in range(12)]
    sc["requests"].insert(0, {"src": "n1", "dst": "n3", "pairs": 1, "start": 0.001})
    sc["protocols"]["routing"] = {"name": "hybrid", "auto": 1, "auto_threshold": 4}
    res = build(sc).run()
    paths = [r["paths"] for r in res["requests"][1:]]
    # the 4th request between n0 and n4 designates the link; it and the rest take stocked pairs
    assert paths[:3] == [[["n0", "n1", "n2", "n3", "n4"]]] * 3
    assert paths[3:] == [[["n0", "n4"]]] * 9
    (vl,) = res["extra"]["virtual_links"]
    assert (vl["a"], vl["b"]) == ("n0", "n4") and vl["pairs_consumed"] >= 6
    assert all(r["status"] == "completed" for r in res["requests"])
