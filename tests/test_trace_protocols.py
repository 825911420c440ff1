"""Protocol-event traces beyond the path-based swapping policies: the reactive link pool, the
second- and third-generation repeaters, GHZ requests, and the pairs a session still holds when
it is stopped (docs/design.md §6).

In each, every delivered pair (or GHZ state) is the root of a tree of ids in the trace: the
events that made it (``herald``, ``encoding``, ``swap``, ``fusion``) list the ids they
``consumed``, down to the link-level heralds; every id is made once, and ends at most once
(consumed, delivered or discarded). A request cancelled while it holds pairs discards each of
them once, with reason ``released``.
"""

from __future__ import annotations

import json
from pathlib import Path

import qplane
from qplane.requests import EntanglementRequest
from qplane_devkit.conformance import chain_scenario

ROOT = Path(__file__).resolve().parents[1]
MADE = ("herald", "encoding", "swap", "fusion")  # the kinds that make a pair id


def _traced(scenario, path: Path, before_run=None) -> tuple[dict, list[dict], object]:
    sim = qplane.build(qplane.load_scenario(scenario) if not isinstance(scenario, qplane.Scenario) else scenario,
                       trace=path)
    if before_run is not None:
        before_run(sim)
    results = sim.run()
    return results, [json.loads(line) for line in path.read_text().splitlines()], sim


def _load(path: Path, overrides: list[str]) -> qplane.Scenario:
    return qplane.load_scenario(path, overrides=overrides)


def _trees(events: list[dict]) -> tuple[dict[int, dict], list[dict]]:
    """Check that every delivery's ids link up; returns (id -> event that made it, deliveries)."""
    made: dict[int, dict] = {}
    ended: dict[int, dict] = {}  # id -> the event that consumed, delivered or discarded it
    for e in events:
        if e["kind"] in MADE:
            assert e["pair"] not in made, e
            made[e["pair"]] = e
        ends = list(e.get("consumed") or ()) + ([e["sacrificed"]] if e["kind"] == "purification" else [])
        if e["kind"] == "discard" or e["kind"] == "delivery" and not (e["request"] or 0) < 0:
            ends.append(e["pair"])  # (a GHZ leg's delivery hands its pair to the hub's fusion)
        for p in ends:
            assert p not in ended, (e, ended.get(p))  # a pair ends once
            ended[p] = e
    deliveries = [e for e in events if e["kind"] == "delivery" and e["request"] is not None and e["request"] >= 0]
    for d in deliveries:
        assert d["pair"] in made, d
        stack, heralds = [d["pair"]], 0
        while stack:
            e = made[stack.pop()]
            assert e["t"] <= d["t"]
            assert e["request"] in (d["request"], None) or e["request"] < 0  # pool heralds: no request; GHZ legs: < 0
            if e["kind"] == "herald":
                heralds += 1
                assert len(e["nodes"]) == 2
                continue
            parts = [made[p] for p in e["consumed"]]
            if e["kind"] == "swap":  # two pairs that meet at the swapping node, joined
                left, right = (set(p["nodes"]) for p in parts)
                assert e["node"] in left & right and (left | right) - {e["node"]} == set(e["nodes"]), e
            elif e["kind"] == "encoding":  # n physical pairs on one hop
                assert all(set(p["nodes"]) == set(e["nodes"]) for p in parts), e
            else:  # fusion: one pair per leg, each between the hub and a party
                assert all(e["node"] in p["nodes"] for p in parts)
                assert {n for p in parts for n in p["nodes"]} - {e["node"]} <= set(e["nodes"])
            stack.extend(e["consumed"])
        assert heralds >= 1
    return made, deliveries


def test_reactive_pool_is_traced(tmp_path: Path) -> None:
    sc = chain_scenario(4, 20.0, pairs=40, count=2, pair_fidelity=0.95, seed=3)
    sc["protocols"]["routing"] = "reactive"
    sc["protocols"]["cutoff"] = {"name": "age", "max_age": 2e-4}  # pool pairs expire
    results, events, sim = _traced(sc, tmp_path / "reactive.jsonl")
    made, deliveries = _trees(events)
    req = results["requests"][0]
    assert req["status"] == "completed" and len(deliveries) == req["delivered"] == 40
    assert all(d["nodes"] == ["n0", "n3"] for d in deliveries)
    heralds = [e for e in events if e["kind"] == "herald"]
    assert heralds and all(e["request"] is None for e in heralds)  # the pool's, before any path takes them
    swaps = [e for e in events if e["kind"] == "swap"]
    assert len(swaps) >= 2 * 40 and all(e["request"] == 0 for e in swaps)  # 2 per pair over 3 links
    expired = [e for e in events if e["kind"] == "discard" and e.get("reason") == "expired"]
    assert expired and all(e["request"] is None and made[e["pair"]]["kind"] == "herald" for e in expired)


def test_second_generation_is_traced(tmp_path: Path) -> None:
    sc = _load(ROOT / "examples" / "generations.yaml", ["protocols.repeater=2g", "requests.0.pairs=4"])
    results, events, _ = _traced(sc, tmp_path / "2g.jsonl")
    made, deliveries = _trees(events)
    assert len(deliveries) == results["requests"][0]["delivered"] == 4
    for d in deliveries:  # 3 logical swaps of 4 encoded hops, each of 7 heralded pairs (Steane)
        top = made[d["pair"]]
        assert top["kind"] == "swap" and top["node"] == "n3" and d["nodes"] == ["n0", "n4"]
    encodings = [e for e in events if e["kind"] == "encoding"]
    assert encodings and all(len(e["consumed"]) == 7 and e["code"] == "steane" for e in encodings)
    assert sum(e["kind"] == "swap" for e in events) >= 3 * 4


def test_third_generation_deliveries_are_traced(tmp_path: Path) -> None:
    sc = _load(ROOT / "examples" / "generations.yaml", ["protocols.repeater=3g", "requests.0.pairs=20",
                                                       "topology.spacing_km=2"])
    results, events, _ = _traced(sc, tmp_path / "3g.jsonl")
    deliveries = [e for e in events if e["kind"] == "delivery"]
    assert len(deliveries) == results["requests"][0]["delivered"] == 20
    assert len({d["pair"] for d in deliveries}) == 20  # one-way: no herald, no swap, an id each


def test_ghz_requests_are_traced(tmp_path: Path) -> None:
    sc = _load(ROOT / "examples" / "ghz.yaml", ["requests.0.states=6", "requests.0.protocols={}"])
    results, events, _ = _traced(sc, tmp_path / "ghz.jsonl")
    made, deliveries = _trees(events)
    req = results["requests"][0]
    assert len(deliveries) == req["delivered"] == 6
    for d in deliveries:
        fusion = made[d["pair"]]
        assert fusion["kind"] == "fusion" and fusion["node"] == "n0" and d["nodes"] == ["n1", "n2", "n3", "n4"]
        assert len(fusion["consumed"]) == 4 and all(made[p]["request"] < 0 for p in fusion["consumed"])  # legs'


def test_a_cancelled_request_discards_what_it_holds(tmp_path: Path) -> None:
    """Pairs stored when a request is cancelled appear once each, as discards (reason
    ``released``); over the whole run every pair id ends exactly once."""
    sc = qplane.load_scenario(chain_scenario(5, 20.0, pairs=10_000, count=4, seed=2))
    held: list[set[int]] = []

    def cancel_later(sim) -> None:
        handle = sim.lifecycle.requests[0]

        def cancel() -> None:
            records = {m.record for hop in handle.session.allocation for pair in hop for m in pair
                       if m.qubit is not None and m.record is not None}
            held.append({r.id for r in records})
            sim.cancel(handle)

        sim.env.call_at(0.01, cancel)

    results, events, sim = _traced(sc, tmp_path / "cancel.jsonl", cancel_later)
    assert results["requests"][0]["status"] == "cancelled"
    released = [e for e in events if e["kind"] == "discard" and e["reason"] == "released"]
    assert held[0] and {e["pair"] for e in released} == held[0] and len(released) == len(held[0])
    assert all(e["request"] == 0 and e["status"] == "cancelled" and e["t"] == 0.01 for e in released)
    made, _ = _trees(events)
    ended = {p for e in events for p in (e.get("consumed") or ())} | {
        e["pair"] for e in events if e["kind"] in ("delivery", "discard")} | {
        e["sacrificed"] for e in events if e["kind"] == "purification"}
    assert set(made) == ended  # nothing left unaccounted for


def test_a_submitted_request_cancelled_from_code_is_traced(tmp_path: Path) -> None:
    """The same through the operator's API (``submit`` then ``cancel``), on a request that
    never got memories: nothing to discard, one ``finish``."""
    sc = qplane.load_scenario(chain_scenario(3, 20.0, pairs=5, count=1))
    handles = []

    def submit(sim) -> None:
        handles.append(sim.submit(EntanglementRequest(src="n1", dst="n2", pairs=5, start=0.7)))
        sim.env.call_at(0.6, sim.cancel, handles[0])

    _, events, _ = _traced(sc, tmp_path / "submit.jsonl", submit)
    mine = [e for e in events if e.get("request") == handles[0].id]
    assert [e["kind"] for e in mine] == ["finish"] and mine[0]["status"] == "cancelled"


def test_requests_over_virtual_links_are_traced(tmp_path: Path) -> None:
    """The keeper's pairs (request id < 0) are swapped at the junction with the leg's pair into
    the request's pair; expired stocked pairs are discarded by the stock (request None)."""
    sc = chain_scenario(5, 20.0, pairs=1, count=1, seed=4, duration=1.0)
    sc["requests"] = [{"src": "n0", "dst": "n4", "pairs": 1, "start": 0.02 * (i + 1)} for i in range(10)]
    sc["protocols"]["routing"] = {"name": "hybrid", "virtual_links": [["n0", "n3"]], "auto": 0, "max_age": 0.004}
    results, events, _ = _traced(sc, tmp_path / "virtual.jsonl")
    made, deliveries = _trees(events)
    assert len(deliveries) == sum(r["delivered"] for r in results["requests"]) == 10
    for d in deliveries:  # the junction n3 joins the stocked pair n0-n3 and the leg's n3-n4
        top = made[d["pair"]]
        assert top["kind"] == "swap" and top["node"] == "n3" and d["nodes"] == ["n0", "n4"]
        assert [made[p]["nodes"] for p in top["consumed"]] == [["n0", "n3"], ["n3", "n4"]]
        assert all(made[p]["request"] < 0 for p in top["consumed"])  # the keeper's and the leg's own
    expired = [e for e in events if e["kind"] == "discard" and e.get("reason") == "expired"]
    assert expired and all(e["request"] is None and e["nodes"] == ["n0", "n3"] for e in expired)


def test_opportunistic_growth_is_traced(tmp_path: Path) -> None:
    """Each hop's swap consumes the growing pair and a pool pair; the delivered pair's tree holds
    one herald per hop of the path it took."""
    sc = chain_scenario(2, 20.0, pairs=30, count=2, pair_fidelity=0.97, seed=2)
    sc["topology"] = {"builder": "grid", "rows": 3, "cols": 3, "spacing_km": 10}
    sc["requests"] = [{"src": "n0_0", "dst": "n2_2", "pairs": 30}]
    sc["protocols"]["routing"] = "opportunistic"
    results, events, _ = _traced(sc, tmp_path / "opportunistic.jsonl")
    made, deliveries = _trees(events)
    assert len(deliveries) == results["requests"][0]["delivered"] == 30
    for d in deliveries:
        assert d["nodes"] == ["n0_0", "n2_2"]
        stack, heralds = [d["pair"]], 0
        while stack:
            e = made[stack.pop()]
            heralds += e["kind"] == "herald"
            stack.extend(e.get("consumed") or ())
        assert heralds == 4  # corner to corner on a 3 x 3 grid: 4 hops, 3 swaps
