"""Schedulers resolve contention the way they say: priority serves the high-priority request
first (and may preempt), edf misses fewer deadlines than fifo, round-robin time-shares
contended memories in quanta, and tdma never generates outside a request's slots (checked on
every attempt window). The memory inventory is checked during and after every run."""

from __future__ import annotations

import bisect

import pytest

import qplane
from qplane_engine.sim import build


def chain(nodes: int, requests: list[dict], scheduling: str | dict = "fifo", *, count: int = 2,
          spacing_km: float = 20.0, duration: float = 1.0, seed: int = 3, mode: str = "geometric", **hw) -> dict:
    return {
        "name": "sched", "seed": seed, "duration": duration,
        "topology": {"builder": "chain", "nodes": nodes, "spacing_km": spacing_km},
        "hardware": {"memory": {"count": count, "coherence_time": None}, "link": {"scheme": "mim", **hw}},
        "protocols": {"scheduling": scheduling, "link_generation": {"name": "heralded", "mode": mode}},
        "requests": requests,
    }


def run_checked(sc: dict, every: float | None = 1e-3):
    sim = build(qplane.load_scenario(sc))
    if every:
        def check() -> None:
            sim.check_memory_invariants()
            sim.env.call_at(every, check)
        sim.env.call_at(0.0, check)
    res = sim.run()
    sim.check_memory_invariants(final=True)
    return sim, res


# ----------------------------------------------------------------------- priority


def test_priority_serves_the_high_priority_request_first():
    reqs = [{"src": "n0", "dst": "n2", "pairs": 200, "priority": 0},
            {"src": "n0", "dst": "n2", "pairs": 200, "priority": 5}]
    out = {s: run_checked(chain(3, reqs, s))[1]["requests"] for s in ("fifo", "priority")}
    low, high = out["priority"]
    assert high["status"] == low["status"] == "completed"
    assert high["queued_s"] == 0.0 and low["queued_s"] > 0.0
    assert high["completion_time_s"] < low["wait_s"]  # the low one got nothing before the high one was done
    f_low, f_high = out["fifo"]  # fifo: arrival order (the low one was listed first)
    assert f_low["completion_time_s"] < f_high["wait_s"]


def test_preemptive_priority_takes_memories_from_a_running_low_priority_request():
    reqs = [{"src": "n0", "dst": "n2", "pairs": 300, "priority": 0},
            {"src": "n0", "dst": "n2", "pairs": 50, "priority": 5, "start": 0.01}]
    plain = run_checked(chain(3, reqs, "priority"))[1]["requests"]
    sim, res = run_checked(chain(3, reqs, {"name": "priority", "preempt": True}))
    low, high = res["requests"]
    assert plain[1]["completion_time_s"] + 0.01 > plain[0]["completion_time_s"]  # without: waits for the low one
    assert low["preemptions"] == 1 and high["preemptions"] == 0
    assert high["queued_s"] == 0.0
    assert high["completion_time_s"] + 0.01 < low["completion_time_s"]
    assert low["status"] == "completed" and low["delivered"] == 300
    # the low one resumed after the high one finished
    resumed = [p.time for p in sim.handles[0].delivered if p.time > 0.01]
    assert min(resumed) > 0.01 + high["completion_time_s"]


# ----------------------------------------------------------------------- edf


def edf_workload() -> list[dict]:
    """A single link, requests that all arrive at once: a big one with a lax deadline first,
    then small ones with tight deadlines (~0.4 ms of work each at ~5000 pairs/s)."""
    reqs = [{"src": "n0", "dst": "n1", "pairs": 400, "end": 0.5}]
    reqs += [{"src": "n0", "dst": "n1", "pairs": 20, "end": 0.01 + 0.006 * i} for i in range(5)]
    return reqs


def test_edf_misses_fewer_deadlines_than_fifo():
    missed = {}
    for name in ("fifo", "edf"):
        sim, res = run_checked(chain(2, edf_workload(), name))
        missed[name] = sum(not r["sla_met"] for r in res["requests"])
        assert all(r["status"] in ("completed", "timed_out") for r in res["requests"])
    assert missed["edf"] == 0
    assert missed["fifo"] >= 4  # the big request holds both memories past their deadlines


def test_edf_admits_in_deadline_order():
    sim, res = run_checked(chain(2, edf_workload(), "edf"))
    starts = [r["wait_s"] for r in res["requests"]]
    order = sorted(range(6), key=starts.__getitem__)
    assert order == [1, 2, 3, 4, 5, 0]


# ----------------------------------------------------------------------- round-robin


def test_round_robin_time_shares_contended_memories():
    reqs = [{"src": "n0", "dst": "n2", "pairs": 400}, {"src": "n0", "dst": "n2", "pairs": 400}]
    fifo = run_checked(chain(3, reqs, "fifo"))[1]["requests"]
    sim, res = run_checked(chain(3, reqs, {"name": "round-robin", "quantum_s": 0.005}))
    a, b = res["requests"]
    assert a["status"] == b["status"] == "completed"
    assert a["preemptions"] >= 2 and b["preemptions"] >= 2  # turns, both ways
    assert b["wait_s"] < fifo[1]["wait_s"] / 4  # the second got pairs long before fifo's
    assert b["wait_s"] >= 0.005  # but only after the first's quantum
    # turns: the deliveries of the two interleave in blocks
    times = sorted([(p.time, 0) for p in sim.handles[0].delivered] + [(p.time, 1) for p in sim.handles[1].delivered])
    switches = sum(1 for x, y in zip(times, times[1:]) if x[1] != y[1])
    assert switches >= 4
    assert a["losses"].get("preempted", 0) + b["losses"].get("preempted", 0) > 0


def test_round_robin_leaves_an_uncontended_request_alone():
    reqs = [{"src": "n0", "dst": "n1", "pairs": 200}, {"src": "n2", "dst": "n3", "pairs": 200}]
    _, res = run_checked(chain(4, reqs, {"name": "round-robin", "quantum_s": 1e-3}))
    assert [r["preemptions"] for r in res["requests"]] == [0, 0]
    assert all(r["status"] == "completed" and r["queued_s"] == 0 for r in res["requests"])


# ----------------------------------------------------------------------- tdma


def grid_requests() -> list[dict]:
    return [
        {"src": "n0_0", "dst": "n2_2", "pairs": 30},
        {"src": "n0_2", "dst": "n2_0", "pairs": 30},
        {"src": "n1_0", "dst": "n1_2", "pairs": 30, "start": 0.0003},
        {"src": "n0_0", "dst": "n0_2", "pairs": 30, "start": 0.001},
        {"src": "n2_2", "dst": "n0_1", "pairs": 30},
    ]


def run_tdma(params: dict, mode: str = "geometric"):
    sc = {
        "name": "tdma", "seed": 9, "duration": 1.0,
        "topology": {"builder": "grid", "rows": 3, "cols": 3, "spacing_km": 10},
        "hardware": {"memory": {"count": 2, "coherence_time": None}, "link": {"scheme": "mim"}},
        "protocols": {"scheduling": {"name": "tdma", **params}, "link_generation": {"name": "heralded", "mode": mode}},
        "requests": grid_requests(),
    }
    sim = build(qplane.load_scenario(sc))
    windows: list[tuple[int, float, int, float, object]] = []
    sim.link_generator.attempt_observer = (
        lambda session, link, t0, n, cycle: windows.append((session.handle.id, t0, n, cycle, link)))
    res = sim.run()
    sim.check_memory_invariants(final=True)
    return sim, res, windows


def outside_slots(slots, windows) -> list:
    """The attempt windows ``[t0, t0 + n cycle]`` that do not lie inside one slot of their request."""
    starts = [s[0] for s in slots]
    bad = []
    for rid, t0, n, cycle, _link in windows:
        i = bisect.bisect_right(starts, t0 + 1e-15) - 1
        if i < 0:
            bad.append((rid, t0, n, None))
            continue
        start, end, members = slots[i]
        if rid not in members or not (start - 1e-15 <= t0 and t0 + n * cycle <= end + 1e-12):
            bad.append((rid, t0, n, slots[i]))
    return bad


@pytest.mark.parametrize("params,mode", [
    ({"slot_s": 2e-4}, "geometric"),
    ({"slot_s": 2e-4}, "per_attempt"),
    ({"slot_s": 3e-4, "mode": "continuous"}, "geometric"),
    ({"slot_s": 1e-4, "reuse": False}, "geometric"),
    ({"slot_s": 2e-4, "max_memories_per_link": None}, "geometric"),
])
def test_tdma_never_generates_outside_a_requests_slots(params, mode):
    sim, res, windows = run_tdma(params, mode)
    slots = sim.scheduler.slots
    assert all(r["status"] == "completed" for r in res["requests"]), [r["status"] for r in res["requests"]]
    assert windows and slots
    assert outside_slots(slots, windows) == []
    # every attempt made was observed, so none escaped the check
    made = sum(l.stats.attempts for l in sim.network.links.values())
    assert 0 < made <= sum(w[2] for w in windows)
    # a slot never gives one link to two requests; without reuse, one request per slot
    links = {h.id: {frozenset(e) for p in h.paths for e in zip(p, p[1:])} for h in sim.handles}
    for _, _, members in slots:
        for i, a in enumerate(members):
            assert all(not links[a] & links[b] for b in members[:i])
        if params.get("reuse") is False:
            assert len(members) == 1
    # slots follow each other without overlap; continuous mode keeps to its grid
    for (s1, e1, _), (s2, _, _) in zip(slots, slots[1:]):
        assert s2 >= e1 - 1e-15
    if params.get("mode") == "continuous":
        for s, _, _ in slots:
            assert abs(s / params["slot_s"] - round(s / params["slot_s"])) < 1e-6


def test_the_slot_check_catches_generation_outside_the_slots(monkeypatch):
    from qplane_scheduling.tdma import SlotGate

    # a broken controller that lets a request generate past the end of its slot
    monkeypatch.setattr(SlotGate, "open_until", lambda self, now: now + 1e-3)
    sim, res, windows = run_tdma({"slot_s": 2e-4})
    assert outside_slots(sim.scheduler.slots, windows)


def test_tdma_serves_each_contender_in_turn():
    sim, res, windows = run_tdma({"slot_s": 2e-4, "reuse": False})
    slots = sim.scheduler.slots
    assert {members[0] for _, _, members in slots} == {h.id for h in sim.handles}
    # round robin: while several requests want slots, none gets a second slot before each of
    # the others has had one
    early = [members[0] for _, _, members in slots[:3]]
    assert len(set(early)) == 3


def test_tdma_slot_shorter_than_an_attempt_is_refused_clearly():
    sc = chain(3, [{"src": "n0", "dst": "n2", "pairs": 5}], {"name": "tdma", "slot_s": 1e-5}, spacing_km=20.0)
    _, res = run_checked(sc)
    req = res["requests"][0]
    assert req["status"] == "insufficient_resources"
    assert "shorter than the attempt cycle" in req["reason"]


# ----------------------------------------------------------------------- the metro example


def test_metro_example_runs_twenty_plus_concurrent_requests_and_reports_each(tmp_path, capsys):
    from pathlib import Path

    from qplane.cli import main

    example = Path(__file__).resolve().parent.parent / "examples" / "metro.yaml"
    sim = build(qplane.load_scenario(example))
    res = sim.run()
    sim.check_memory_invariants(final=True)
    # the most requests in the network (arrived, not finished) at one time
    events = sorted([(h.request.start, 1) for h in sim.handles] + [(h.finished_at, -1) for h in sim.handles])
    level = peak = 0
    for _, step in events:
        level += step
        peak = max(peak, level)
    assert peak >= 20
    assert len(sim.network.nodes) == 23
    assert main(["run", str(example), "--json", str(tmp_path / "metro.json")]) == 0
    out = capsys.readouterr().out
    rows = {line.split()[0]: line.split()[3] for line in out.splitlines()[3:] if line[:1].isdigit()}
    assert rows == {str(r["id"]): r["status"] for r in res["requests"]}
    # deadlines vary between the two flows: edf meets more of them than fifo
    fifo = qplane.run(example, overrides=["protocols.scheduling=fifo"])
    assert sum(r["sla_met"] for r in res["requests"]) > sum(r["sla_met"] for r in fifo["requests"])
