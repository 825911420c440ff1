"""The conformance kit for schedulers: :class:`SchedulerConformance` runs scenarios with
contention for memories and checks that no memory is ever double-booked, every allocation lies
along its path, every memory is free again after the run, and every request is served.
"""

from __future__ import annotations

import copy
from typing import Any

from qplane.context import RunContext
from qplane.requests import RequestHandle

from .kit import _final_inventory_problems, _mark_hookimpls, run_scenario, scenario


class _InventoryWatch:
    """A plugin object that watches a run's memory inventory from the scheduler's side."""

    def __init__(self) -> None:
        self.problems: list[str] = []
        self.sessions_started = 0

    def _note(self, context: RunContext, message: str) -> None:
        if len(self.problems) < 50:
            self.problems.append(f"t={context.clock.now:.9g} s: {message}")

    def qplane_simulation_start(self, context: RunContext) -> None:
        sim = context
        start = context.sessions.start
        watch = self

        def start_session(handle: Any, allocation: Any, *args: Any, **kwargs: Any) -> Any:
            watch.sessions_started += 1
            path = kwargs.get("path", args[0] if args else None)
            path = list(path) if path is not None else list(handle.path or [])
            who = f"request {handle.id}"
            if handle.done:
                watch._note(sim, f"{who} is {handle.status.value} but a session was started for it")
            seen: set[int] = set()
            for h, hop in enumerate(allocation):
                if path and h < len(path) - 1 and not hop:
                    watch._note(sim, f"{who}: no memory pair on hop {h} ({path[h]}-{path[h + 1]})")
                for pair in hop:
                    for m in pair:
                        if id(m) in seen:
                            watch._note(sim, f"{who}: memory {m.label} is in the allocation twice")
                        seen.add(id(m))
                        if m.owner is not None:
                            other = getattr(getattr(m.owner, "handle", None), "id", m.owner)
                            watch._note(sim, f"{who}: memory {m.label} is double-booked (held by request {other})")
                    if path and h < len(path) - 1:
                        ma, mb = pair
                        u, v = path[h], path[h + 1]
                        if (ma.node, ma.neighbor, mb.node, mb.neighbor) != (u, v, v, u):
                            watch._note(sim, f"{who}: hop {h} is {u}-{v} but was given {ma.label} and {mb.label}")
            if path and len(allocation) != len(path) - 1:
                watch._note(sim, f"{who}: {len(allocation)} hop(s) allocated for a path of {len(path) - 1} link(s)")
            return start(handle, allocation, *args, **kwargs)

        context.sessions.start = start_session  # type: ignore[method-assign]

    def qplane_request_finished(self, context: RunContext, request: RequestHandle) -> None:
        sim = context
        for node in context.network.nodes.values():
            for m in node.device.all_memories():
                if m.owner is not None and getattr(m.owner, "handle", None) is request:
                    self._note(sim, f"request {request.id} finished ({request.status.value}) "
                                    f"but still holds memory {m.label}")


_mark_hookimpls(_InventoryWatch, ("qplane_simulation_start", "qplane_request_finished"))


class SchedulerConformance:
    """Conformance checks for a scheduler; subclass and set ``scheduler_name``::

        class TestMyScheduler(SchedulerConformance):
            scheduler_name = "my-scheduler"
            params = {}                     # optional
            plugin = my_plugin.plugin       # only needed when the plugin is not installed

    Runs scenarios where requests contend for few memories — a chain, a star whose hub every
    request crosses, a grid — and checks, at every session the scheduler starts: the request is
    not finished, no memory is double-booked or given twice, the allocation lies along the
    session's path with at least one memory pair per hop; when a request finishes, it holds no
    memory; after the run every memory is free (owner, qubit and record cleared). Every request
    without a deadline must complete (``expect_all_completed``); a request whose deadline
    passes while it waits must end ``timed_out`` without trouble."""

    scheduler_name: str = ""
    params: dict[str, Any] = {}
    plugin: Any = None
    #: every request without a deadline completes (a scheduler that may starve some sets False)
    expect_all_completed: bool = True

    def contention_scenarios(self) -> dict[str, dict[str, Any]]:
        sched = {"scheduling": {"name": self.scheduler_name, **self.params}}
        chain = scenario({"builder": "chain", "nodes": 4, "spacing_km": 10},
                         [{"src": "n0", "dst": "n3", "pairs": 4},
                          {"src": "n1", "dst": "n2", "pairs": 4},
                          {"src": "n0", "dst": "n2", "pairs": 4, "priority": 2},
                          {"src": "n1", "dst": "n3", "pairs": 4, "start": 0.0001},
                          {"src": "n2", "dst": "n3", "pairs": 4, "start": 0.0002, "priority": 1},
                          {"src": "n3", "dst": "n0", "pairs": 3, "start": 0.0002}],
                         count=1, protocols=sched)
        star = scenario({"builder": "star", "leaves": 4, "spacing_km": 10},
                        [{"src": f"n{i}", "dst": f"n{j}", "pairs": 3, "start": 0.0001 * k, "priority": k % 3}
                         for k, (i, j) in enumerate([(1, 2), (3, 4), (1, 3), (2, 4), (4, 1), (2, 3)])]
                        + [{"src": "n1", "dst": "n4", "pairs": 10_000, "end": 0.002}],
                        count=1, seed=5, protocols=sched)
        grid = scenario({"builder": "grid", "rows": 2, "cols": 3, "spacing_km": 10},
                        [{"src": "n0_0", "dst": "n1_2", "pairs": 5},
                         {"src": "n0_2", "dst": "n1_0", "pairs": 5},
                         {"src": "n0_1", "dst": "n1_1", "pairs": 5, "start": 0.0003},
                         {"src": "n1_2", "dst": "n0_0", "pairs": 5, "start": 0.0005}],
                        count=2, seed=9, protocols=sched)
        return {"chain": chain, "star": star, "grid": grid}

    def _run_watched(self, label: str, data: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
        watch = _InventoryWatch()
        try:
            sim, results = run_scenario(data, self.plugin, watch)
        except Exception as e:
            if watch.problems:  # the run broke after the scheduler broke the inventory
                raise AssertionError(f"{label}: " + "\n".join(watch.problems[:20])) from e
            raise
        problems = watch.problems + _final_inventory_problems(sim)
        assert not problems, f"{label}: " + "\n".join(problems[:20])
        assert watch.sessions_started > 0, f"{label}: the scheduler never started a session"
        return sim, results

    def _check_served(self, label: str, results: dict[str, Any]) -> None:
        for r in results["requests"]:
            assert r["status"] not in ("pending", "waiting", "active"), f"{label}: request {r['id']} not final"
            deadline = results["scenario"]["requests"][r["id"]].get("end") is not None
            if deadline:
                assert r["status"] in ("completed", "timed_out"), f"{label}: request {r['id']}: {r['status']}"
            elif self.expect_all_completed:
                assert r["status"] == "completed", f"{label}: request {r['id']}: {r['status']}: {r['reason']}"

    def test_never_double_books_under_contention(self) -> None:
        for label, data in self.contention_scenarios().items():
            _, results = self._run_watched(label, data)
            self._check_served(label, results)

    def test_with_several_memories_and_seeds(self) -> None:
        for seed in (1, 2):
            data = self.contention_scenarios()["chain"]
            data["seed"] = seed
            data["hardware"]["memory"]["count"] = 3
            _, results = self._run_watched(f"chain, 3 memories, seed {seed}", data)
            self._check_served(f"seed {seed}", results)

    def test_survives_a_link_failure(self) -> None:
        data = self.contention_scenarios()["grid"]
        data["events"] = [{"at": 0.0002, "link": ["n0_1", "n1_1"], "down_for": 0.001}]
        _, results = self._run_watched("grid with a failure", data)
        for r in results["requests"]:
            assert r["status"] not in ("pending", "waiting", "active"), f"request {r['id']} not final"

    def test_is_deterministic(self) -> None:
        data = self.contention_scenarios()["star"]
        a = run_scenario(copy.deepcopy(data), self.plugin)[1]
        b = run_scenario(copy.deepcopy(data), self.plugin)[1]
        assert [r["delivered"] for r in a["requests"]] == [r["delivered"] for r in b["requests"]]
        assert [r["completion_time_s"] for r in a["requests"]] == [r["completion_time_s"] for r in b["requests"]]
