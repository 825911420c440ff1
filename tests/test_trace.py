"""Protocol-event traces: ``qplane run --trace FILE`` and ``qplane trace FILE``.

A trace of ``examples/failures.yaml`` (with purification, an age cutoff and lossy Bell-state
measurements switched on, so every kind occurs) holds every event kind, and every delivered
pair's heralds and swaps are found from its id; tracing changes no number of the run; an
untraced run gives its components no tracer. ``qplane trace`` filters by request and kind.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import qplane
from qplane.cli import main
from qplane.context import TRACE

ROOT = Path(__file__).resolve().parents[1]
FAILURES = ROOT / "examples" / "failures.yaml"
#: every protocol (purification, cutoff, failing BSMs) on, 0.3 simulated s: under a second of wall time
EVERYTHING = ["protocols.purification={name: dejmps, rounds: 1}", "protocols.cutoff={name: age, max_age: 0.002}",
              "protocols.scheduling.max_memories_per_link=2", "hardware.operations.bsm_success=0.95", "duration=0.3"]
KINDS = {"herald", "swap", "purification", "delivery", "discard", "cutoff", "failure", "detection", "reroute", "finish"}


def _run(trace: Path | None, overrides: list[str] = EVERYTHING) -> tuple[dict, object]:
    sim = qplane.build(qplane.load_scenario(FAILURES, overrides=overrides), trace=trace)
    return sim.run(), sim


@pytest.fixture(scope="module")
def traced(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, list[dict]]:
    path = tmp_path_factory.mktemp("trace") / "failures.jsonl"
    results, _ = _run(path)
    return results, [json.loads(line) for line in path.read_text().splitlines()]


def test_every_kind_with_consistent_ids(traced: tuple[dict, list[dict]]) -> None:
    results, events = traced
    assert KINDS <= {e["kind"] for e in events}
    assert all(isinstance(e["t"], float) and 0.0 <= e["t"] <= results["sim_time_s"] for e in events)
    assert [e["t"] for e in events] == sorted(e["t"] for e in events)  # written as the run goes
    made = {}  # pair id -> the herald or swap event that made it (each id made once)
    for e in events:
        if e["kind"] in ("herald", "swap"):
            assert e["pair"] not in made
            made[e["pair"]] = e
    deliveries = [e for e in events if e["kind"] == "delivery"]
    assert len(deliveries) == sum(r["delivered"] for r in results["requests"])
    for d in deliveries:  # every delivered pair's heralds and swaps are in the trace, before it
        root = made[d["pair"]]
        assert root["request"] == d["request"] and root["nodes"] == d["nodes"]
        stack, heralds, swaps = [d["pair"]], [], []
        while stack:
            e = made[stack.pop()]
            assert e["request"] == d["request"] and e["t"] <= d["t"]
            if e["kind"] == "swap":
                swaps.append(e)
                stack.extend(e["consumed"])
                left, right = (made[p]["nodes"] for p in e["consumed"])  # joined at the swapping node
                assert left[1] == right[0] == e["node"] and [left[0], right[1]] == e["nodes"]
            else:
                heralds.append(e)
        assert len(heralds) == len(swaps) + 1  # a binary tree: n link pairs, n - 1 swaps
    per_request = {r["id"]: r for r in results["requests"]}
    for rid, r in per_request.items():
        assert sum(d["request"] == rid for d in deliveries) == r["delivered"]
    # the other kinds carry what they are about
    reasons = {e["reason"] for e in events if e["kind"] == "discard"}
    assert {"cutoff", "swap_failed", "purification_failed", "node_failed"} <= reasons
    assert all(e["pair"] in made for e in events if e["kind"] in ("discard", "cutoff", "purification"))
    assert {(e["element"], e["up"]) for e in events if e["kind"] == "failure"} == {
        ("link", False), ("link", True), ("node", False)}  # (the node comes back after the 0.3 s run)
    assert any(e["kind"] == "detection" and not e["up"] and e["latency"] > 0 for e in events)
    for why in ("cutoff", "swap_failed", "purification_failed", "node_failed"):  # as the results count them
        assert sum(e["kind"] == "discard" and e["reason"] == why for e in events) == sum(
            r["losses"].get(why, 0) for r in results["requests"]), why
    assert sum(e["kind"] == "discard" and e["reason"] == "below_min_fidelity" for e in events) == sum(
        r["discarded"] for r in results["requests"])
    assert sum(e["kind"] == "detection" and e["element"] == "link" and not e["up"] for e in events) == \
        results["topology"]["detections"]
    reroutes = [e for e in events if e["kind"] == "reroute"]
    assert sum(e["ok"] for e in reroutes) == results["topology"]["reroutes"] > 0
    assert all(e["old_path"] and (e["path"] is not None) == e["ok"] for e in reroutes)
    finishes = {e["request"]: e for e in events if e["kind"] == "finish"}
    assert {k: (e["status"], e["delivered"]) for k, e in finishes.items()} == {
        k: (r["status"], r["delivered"]) for k, r in per_request.items()}


def test_tracing_changes_no_number(tmp_path: Path) -> None:
    """Traced or not, the same results (wall time aside) and the same count of events; untraced,
    no component gets a tracer."""
    off, sim = _run(None, [])
    assert sim.context.services.get(TRACE) is None
    on, _ = _run(tmp_path / "t.jsonl", [])
    off.pop("wall_time_s"), on.pop("wall_time_s")
    assert on == off


def test_qplane_trace_filters(tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["run", str(FAILURES), "--trace", "f.jsonl", "--no-progress", *sum((["--set", o] for o in EVERYTHING), [])]) == 0
    events = [json.loads(line) for line in (tmp_path / "f.jsonl").read_text().splitlines()]
    capsys.readouterr()
    assert main(["trace", "f.jsonl", "--request", "3", "--kind", "reroute,finish", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    want = [e for e in events if e.get("request") == 3 and e["kind"] in ("reroute", "finish")]
    assert summary["count"] == len(want) > 0 and list(summary["requests"]) == ["3"]
    assert {k: g["count"] for k, g in summary["kinds"].items()} == {
        k: sum(e["kind"] == k for e in want) for k in {e["kind"] for e in want}}
    assert summary["first_t"] == min(e["t"] for e in want) and summary["last_t"] == max(e["t"] for e in want)
    assert main(["trace", "f.jsonl", "--kind", "swap", "--kind", "herald", "--request", "1", "--events"]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert lines == [e for e in events if e.get("request") == 1 and e["kind"] in ("swap", "herald")]
    assert main(["trace", "f.jsonl"]) == 0  # the table: every kind, every request
    out = capsys.readouterr().out
    assert f"{len(events)} events" in out and all(k in out for k in KINDS)


def test_qplane_trace_bad_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"t": 0.0, "kind": "herald"}\nnot json\n')
    for argv, says in ((["trace", str(bad)], f"{bad}: line 2: expected a JSON object"),
                       (["trace", str(tmp_path / "none.jsonl")], "cannot read"),
                       (["trace", str(bad), "--kind", "swapp"], "--kind: unknown kind 'swapp'")):
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert says in err and len(err.strip().splitlines()) == 1
    assert main(["run", str(FAILURES), "--trace", str(tmp_path / "no" / "dir.jsonl"), "--no-progress"]) == 2
    assert "--trace" in capsys.readouterr().err


def test_lines_are_json() -> None:
    """The tracer's hand-written JSON reads back as the fields it was given (nan and inf: null)."""
    from qplane_engine.trace import _line

    fields = {"request": 3, "pair": 10**20, "nodes": ["n0", 'a"b\\c\u00e9'], "fidelity": 0.1 + 0.2, "ok": True,
              "path": None, "old_path": ["x", "y", "z"], "consumed": [1, 2], "nested": {"a": [1.5, "s"]},
              "bad": float("nan"), "big": float("-inf"), "flag": False, "few": [], "np": 1e-300}
    event = json.loads(_line(0.25, "swap", fields))
    assert event == {"t": 0.25, "kind": "swap", **fields, "bad": None, "big": None}


def test_fast_templates_match_the_general_lines(tmp_path: Path) -> None:
    """Herald, swap and delivery events go through fixed templates: the same JSON as the general path;
    other fields or types fall back to it."""
    from qplane_engine.trace import Tracer, _line

    class Clock:
        now = 0.125

    tracer = Tracer(tmp_path / "t.jsonl", Clock())
    given = [("herald", {"request": 1, "pair": 2, "nodes": ["a", 'b"'], "fidelity_estimated": 0.9, "emitted": 0.1}),
             ("swap", {"request": 1, "pair": 3, "node": "b", "consumed": [2, 1], "nodes": ["a", "c"], "outcome": 3,
                       "ok": False, "fidelity_estimated": float("nan")}),
             ("swap", {"request": 1, "pair": 3, "node": "b", "consumed": [2, 1], "nodes": ["a", "c"], "outcome": 3,
                       "ok": True, "fidelity_estimated": 0.5}),
             ("delivery", {"request": 0, "pair": 9, "nodes": ["a", "c"], "fidelity": 0.8, "fidelity_estimated": 0.81,
                           "latency": 1e-3}),
             ("herald", {"request": 1.5, "pair": 2, "nodes": ["a", "b"], "fidelity_estimated": 0.9, "emitted": 0.1}),
             ("herald", {"request": 1, "pair": 2, "nodes": ["a", "b"], "fidelity_estimated": 0.9, "other": 0.1})]
    for kind, fields in given:
        tracer(kind, **fields)
    tracer.close()
    assert (tmp_path / "t.jsonl").read_text() == "".join(_line(0.125, k, f) for k, f in given)
