"""The conformance kit for purification protocols: :class:`PurificationConformance` checks
that a protocol declares a valid scheme, never lowers fidelity on a link, and that its
``best_case`` bounds what it delivers.
"""

from __future__ import annotations

from typing import Any

from .kit import kit_registry, run_scenario, scenario


class PurificationConformance:
    """Conformance checks for a purification protocol (as the first-party swapping policies
    use it; see :mod:`qplane_entanglement.purification`); subclass and set ``purification_name``.

    The object declares ``protocol`` (``bbpssw``, ``dejmps`` or None), ``scheme``
    (``recurrence`` or ``pumping``), ``rounds``, ``scope`` (``link`` or ``end-to-end``) and
    ``until`` (``rounds`` or ``min_fidelity``); on a single link of Werner pairs with perfect
    operations and no storage noise it never delivers worse pairs than no purification, and
    ``best_case`` (when it has one) bounds every fidelity it delivers; it serves a request
    over a chain with storage noise."""

    purification_name: str = ""
    params: dict[str, Any] = {}
    plugin: Any = None
    #: fidelity of the Werner pairs the kit's links herald (above 1/2: purifiable)
    link_fidelity: float = 0.8

    def make_purification(self) -> Any:
        comp = kit_registry(self.plugin).get("purification", self.purification_name)
        return comp.factory(comp.validate(dict(self.params), "protocols.purification"), None)

    def _scenario(self, nodes: int, coherence_time: float | None, pairs: int = 30) -> dict[str, Any]:
        return scenario({"builder": "chain", "nodes": nodes, "spacing_km": 10},
                        [{"src": "n0", "dst": f"n{nodes - 1}", "pairs": pairs}],
                        count=6, coherence_time=coherence_time, pair_fidelity=self.link_fidelity,
                        protocols={"purification": {"name": self.purification_name, **self.params}})

    def test_declares_a_valid_scheme(self) -> None:
        p = self.make_purification()
        assert p.protocol in (None, "bbpssw", "dejmps"), f"protocol {p.protocol!r}"
        if p.protocol is not None:
            assert p.scheme in ("recurrence", "pumping"), f"scheme {p.scheme!r}"
            assert isinstance(p.rounds, int) and p.rounds >= 1, f"rounds {p.rounds!r}"
        assert p.scope in ("link", "end-to-end"), f"scope {p.scope!r}"
        assert p.until in ("rounds", "min_fidelity"), f"until {p.until!r}"

    def test_never_lowers_fidelity_on_a_link(self) -> None:
        sim, results = run_scenario(self._scenario(2, None), self.plugin)
        r = results["requests"][0]
        assert r["status"] == "completed", f"{r['status']}: {r['reason']}"
        fids = [p.fidelity for h in sim.handles for p in h.delivered]
        assert min(fids) >= self.link_fidelity - 1e-9, f"delivered {min(fids)} < {self.link_fidelity} unpurified"
        best = sim.context.best_case_fidelity(r["paths"][0], sim.handles[0].protocols["purification"])
        assert max(fids) <= best + 1e-9, f"delivered {max(fids)} above the best case {best}"

    def test_serves_a_chain_with_storage_noise(self) -> None:
        _, results = run_scenario(self._scenario(4, 0.05, pairs=10), self.plugin)
        r = results["requests"][0]
        assert r["status"] == "completed", f"{r['status']}: {r['reason']}"
