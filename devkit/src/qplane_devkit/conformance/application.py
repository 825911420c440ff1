"""The conformance kit for applications: :class:`ApplicationConformance` checks that an
application handles delivered pairs (once each, on every backend it names), frees what it
keeps, survives runs with no pair, and keeps the results valid JSON and deterministic.
"""

from __future__ import annotations

import json
from typing import Any

from qplane.context import RunContext

from .kit import _final_inventory_problems, _mark_hookimpls, run_scenario, scenario


class _PairWatch:
    """A plugin object that wraps every application instance's ``on_pair`` in a run."""

    def __init__(self) -> None:
        self.calls: dict[int, int] = {}  # request id -> on_pair calls
        self.problems: list[str] = []

    def qplane_simulation_start(self, context: RunContext) -> None:
        apps = {id(h.protocols.get("application")): h.protocols.get("application") for h in context.sessions.requests}
        watch = self
        for app in apps.values():
            if app is None:
                continue
            original = app.on_pair

            def on_pair(request: Any, pair: Any, _original: Any = original) -> Any:
                watch.calls[request.id] = watch.calls.get(request.id, 0) + 1
                if pair.src_memory is not None and pair.src_memory.node != request.request.src:
                    watch.problems.append(f"pair handed over at {pair.src_memory.node}, not {request.request.src}")
                keep = _original(request, pair)
                if not isinstance(keep, bool):
                    watch.problems.append(f"on_pair returned {keep!r}; it must return True (keep) or False")
                return keep

            app.on_pair = on_pair


_mark_hookimpls(_PairWatch, ("qplane_simulation_start",))


class ApplicationConformance:
    """Conformance checks for an application; subclass and set ``application_name``::

        class TestMyApplication(ApplicationConformance):
            application_name = "my-app"
            params = {}                       # optional
            backends = ("fidelity", "stabilizer")   # backends to try it on (installed ones)
            plugin = my_plugin.plugin         # only needed when the plugin is not installed

    On every backend named in ``backends``: the application is handed every delivered pair once,
    at the request's source node, and answers True (it keeps the pair's memories and must free
    them with ``sim.free_memory``) or False; requests complete (an application that keeps pairs
    and never frees them starves its request); every memory is free after the run; the results
    stay valid (schema and JSON) and are the same for the same seed; it works when selected for
    one request only and when no pair is ever delivered."""

    application_name: str = ""
    params: dict[str, Any] = {}
    plugin: Any = None
    backends: tuple[str, ...] = ("fidelity",)
    pairs: int = 40

    def _ref(self) -> dict[str, Any]:
        return {"name": self.application_name, **self.params}

    def delivery_scenario(self, backend: str = "fidelity", seed: int = 4) -> dict[str, Any]:
        return scenario({"builder": "chain", "nodes": 3, "spacing_km": 10},
                        [{"src": "n0", "dst": "n2", "pairs": self.pairs},
                         {"src": "n1", "dst": "n2", "pairs": self.pairs // 2, "start": 0.0001}],
                        count=2, coherence_time=0.05, pair_fidelity=0.95, seed=seed, backend=backend,
                        protocols={"application": self._ref()})

    def _run(self, data: dict[str, Any]) -> tuple[Any, dict[str, Any], _PairWatch]:
        from qplane.results import Results

        watch = _PairWatch()
        sim, results = run_scenario(data, self.plugin, watch)
        assert not watch.problems, "\n".join(watch.problems[:20])
        problems = _final_inventory_problems(sim)
        assert not problems, "\n".join(problems[:20])
        Results.model_validate(results)
        json.dumps(results, allow_nan=False)
        return sim, results, watch

    def test_handles_delivered_pairs(self) -> None:
        for backend in self.backends:
            _, results, watch = self._run(self.delivery_scenario(backend))
            for r in results["requests"]:
                assert r["status"] == "completed", f"{backend}: request {r['id']}: {r['status']}: {r['reason']}"
                assert watch.calls.get(r["id"], 0) == r["delivered"], \
                    f"{backend}: request {r['id']}: on_pair called {watch.calls.get(r['id'], 0)} times for {r['delivered']} pair(s)"

    def test_results_are_deterministic(self) -> None:
        a = self._run(self.delivery_scenario(seed=8))[1]
        b = self._run(self.delivery_scenario(seed=8))[1]
        assert json.dumps(a["extra"], sort_keys=True) == json.dumps(b["extra"], sort_keys=True)
        assert [r["delivered"] for r in a["requests"]] == [r["delivered"] for r in b["requests"]]

    def test_runs_with_no_delivered_pair(self) -> None:
        data = self.delivery_scenario()
        for req in data["requests"]:
            req["min_fidelity"] = 0.999  # unreachable over these links: nothing is delivered
        _, results, watch = self._run(data)
        assert all(r["delivered"] == 0 for r in results["requests"])
        assert not watch.calls

    def test_selected_for_one_request(self) -> None:
        data = self.delivery_scenario()
        data["protocols"].pop("application")
        data["requests"][0]["protocols"] = {"application": self._ref()}
        _, results, watch = self._run(data)
        r0, r1 = results["requests"]
        assert r0["protocols"]["application"] == self.application_name
        if self.application_name != "consume":  # the scenario-wide default serves the other one
            assert r1["protocols"]["application"] != self.application_name
        assert r0["status"] == r1["status"] == "completed"
        assert watch.calls.get(0) == r0["delivered"]
