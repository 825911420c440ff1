"""The memory inventory: no memory is ever double-booked or leaked, whatever routes and schedules
the requests — checked during and after runs on a 50-node Waxman mesh with 20 Poisson-arriving
requests — and the checker itself catches both faults. Per-request and per-node results
(wait, served fraction, SLA, utilisation) mean what they say."""

from __future__ import annotations

import pytest

import inventory_checks
import qplane
from qplane.requests import Session
from qplane_engine.sim import build


def waxman_scenario(routing: str, scheduling: str | dict, seed: int = 4) -> dict:
    return {
        "name": "waxman-50", "seed": seed, "duration": 0.1,
        "topology": {"builder": "waxman", "nodes": 50, "region_km": 100, "beta": 0.8, "alpha": 0.2,
                     "max_length_km": 40, "seed": 2},
        "hardware": {"memory": {"count": 3, "coherence_time": 0.05},
                     "link": {"scheme": "mim", "pair_fidelity": 0.98}},
        "protocols": {"routing": routing, "scheduling": scheduling, "cutoff": {"max_age": 0.005}},
        "traffic": {"model": "poisson", "rate_hz": 400, "pairs": 20, "min_fidelity": 0.6, "max_requests": 20,
                    "deadline": 0.05, "priority": [0, 1, 2]},
    }


def run_checked(sc: dict, every: float = 5e-4):
    checks = [0]
    sim, res = inventory_checks.run_checked(sc, every, checks)
    return sim, res, checks[0]


# hybrid: virtual links for the first two node pairs requested (stocked pairs hold memories too)
ROUTERS = ["shortest-path", "max-fidelity", "k-shortest", "reactive", "opportunistic",
           {"name": "hybrid", "auto": 2, "auto_threshold": 1}]
SCHEDULERS = ["fifo", "priority", {"name": "edf", "preempt": True}, "round-robin", {"name": "tdma", "slot_s": 5e-4}]


@pytest.mark.parametrize("routing", ROUTERS, ids=lambda r: r if isinstance(r, str) else r["name"])
@pytest.mark.parametrize("scheduling", SCHEDULERS, ids=lambda s: s if isinstance(s, str) else s["name"])
def test_no_memory_is_double_booked_or_leaked_on_a_waxman_mesh(routing, scheduling):
    sim, res, checks = run_checked(waxman_scenario(routing, scheduling))
    assert len(sim.network.nodes) == 50 and len(res["requests"]) == 20
    assert checks > 50  # the invariant held at every check during the run, and after it
    statuses = {r["status"] for r in res["requests"]}
    assert statuses <= {"completed", "timed_out"}
    assert "completed" in statuses
    assert all(r["served_fraction"] == 1.0 for r in res["requests"] if r["status"] == "completed")


def test_the_checker_catches_a_leak(monkeypatch):
    from qplane_scheduling.queueing import QueueScheduler

    # a scheduler that forgets to free the memories of finished requests
    monkeypatch.setattr(QueueScheduler, "release", lambda self, handle: self.request_admission())
    sc = waxman_scenario("shortest-path", "fifo")
    sim = build(qplane.load_scenario(sc))
    sim.run()
    problems = sim.memory_violations(final=True)
    assert any("a finished session still holds memories" in p for p in problems)
    assert any("is not free after the run" in p for p in problems)
    with pytest.raises(AssertionError, match="memory inventory broken"):
        sim.check_memory_invariants()


def test_the_checker_catches_double_booking_and_stray_qubits():
    sc = waxman_scenario("shortest-path", "fifo")
    sim = build(qplane.load_scenario(sc))
    found: list[list[str]] = []

    def corrupt() -> None:
        session = next(iter(sim.inventory.holders))
        ma, mb = session.allocation[0][0]
        intruder = Session(session.handle, session.path, [[(ma, mb)]])
        sim.inventory.holders[intruder] = None  # a second session claims the same memories
        found.append(sim.memory_violations())
        del sim.inventory.holders[intruder]
        free = next(m for n in sim.network.nodes.values() for m in n.device.all_memories() if m.owner is None)
        free.qubit = object()  # a qubit nobody owns
        found.append(sim.memory_violations())
        free.qubit = None

    sim.env.call_at(0.01, corrupt)
    sim.run()
    assert any("in the allocations of request" in p for p in found[0])
    assert any("holds a qubit but no session owns it" in p for p in found[1])
    assert sim.memory_violations(final=True) == []


# ----------------------------------------------------------------------- results


def chain(requests: list[dict], scheduling="fifo", **proto) -> dict:
    return {
        "name": "chain", "seed": 2, "duration": 1.0,
        "topology": {"builder": "chain", "nodes": 3, "spacing_km": 20},
        "hardware": {"memory": {"count": 2, "coherence_time": 0.5}, "link": {"scheme": "mim", "pair_fidelity": 0.97}},
        "protocols": {"scheduling": scheduling, **proto},
        "requests": requests,
    }


def test_reserved_memory_is_integrated_exactly():
    sim, res, _ = run_checked(chain([{"src": "n0", "dst": "n2", "pairs": 100, "start": 0.01}]))
    end = res["sim_time_s"]
    assert res["requests"][0]["status"] == "completed" and end == pytest.approx(0.01 + res["requests"][0]["completion_time_s"])
    nodes = {n["name"]: n for n in res["nodes"]}
    # every memory on the path is reserved from the start until completion
    assert nodes["n0"]["memories"] == 2 and nodes["n1"]["memories"] == 4
    for name in ("n0", "n1", "n2"):
        assert nodes[name]["reserved_mean"] == pytest.approx((end - 0.01) / end, rel=1e-12)
        assert nodes[name]["reserved_peak"] == 1.0
        assert nodes[name]["occupied_mean"] is None  # not sampled
    assert res["memory_timeline"] == []


def test_occupancy_sampling_is_opt_in_and_consistent():
    reqs = [{"src": "n0", "dst": "n2", "pairs": 300}]
    _, plain, _ = run_checked(chain(reqs))
    _, res, _ = run_checked(chain(reqs, {"name": "fifo", "occupancy_sample_s": 1e-4}))
    assert res["requests"][0]["delivered"] == plain["requests"][0]["delivered"]
    assert res["events"] > plain["events"]  # one event per sample, none when off
    for n in res["nodes"]:
        assert 0.0 < n["occupied_mean"] <= n["reserved_mean"] + 1e-12
        assert n["occupied_peak"] <= n["reserved_peak"]
    timeline = res["memory_timeline"]
    assert len(timeline) == pytest.approx(res["sim_time_s"] / 1e-4, abs=2)
    assert all(0.0 <= occ <= reserved <= 1.0 for _, reserved, occ in timeline)


def test_wait_served_fraction_and_sla():
    reqs = [
        {"src": "n0", "dst": "n2", "pairs": 50, "min_fidelity": 0.5, "end": 0.9},  # met
        {"src": "n0", "dst": "n2", "pairs": 50, "min_fidelity": 0.5},  # waits for the first
        {"src": "n0", "dst": "n2", "pairs": 10000, "end": 0.1},  # cannot finish in time
        {"src": "n0", "dst": "n1", "rate": 100.0, "end": 0.2, "start": 0.05},  # a rate request
        {"src": "n0", "dst": "n2", "pairs": 5, "min_fidelity": 0.99},  # unreachable
    ]
    sim, res, _ = run_checked(chain(reqs, "fifo"))
    met, waited, late, rate, unreachable = res["requests"]
    assert met["sla_met"] and met["served_fraction"] == 1.0
    assert met["wait_s"] == sim.handles[0].delivered[0].time - 0.0 and met["queued_s"] == 0.0  # first pair - start
    assert "time_to_first_pair_s" not in met  # one name per figure (qplane.results/2)
    assert waited["status"] == "completed" and waited["queued_s"] == pytest.approx(met["completion_time_s"], abs=1e-3)
    assert waited["wait_s"] > waited["queued_s"]
    assert late["status"] == "timed_out" and not late["sla_met"] and 0.0 < late["served_fraction"] < 1.0
    assert rate["served_fraction"] == pytest.approx(min(1.0, rate["rate_hz"] / 100.0))
    assert rate["sla_met"] == (rate["status"] == "completed")
    assert unreachable["status"] == "fidelity_unreachable"
    assert unreachable["served_fraction"] == 0.0 and unreachable["wait_s"] is None and not unreachable["sla_met"]
