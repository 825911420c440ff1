"""Registers qplane's first-party routers, and the reactive session model routing needs."""

from __future__ import annotations

from qplane.context import RunContext
from qplane.hookspecs import hookimpl

from .hybrid import HybridParams, HybridRouter
from .opportunistic import OPP_POOL, OPP_STATS, OpportunisticParams, OpportunisticRouter, OpportunisticSwapping
from .reactive import POOL, STATS, ReactiveParams, ReactiveRouter, ReactiveSwapping
from .routers import (
    KShortestParams,
    KShortestRouter,
    MaxFidelityParams,
    MaxFidelityRouter,
    MinCostRouter,
    NoParams,
    ShortestPathRouter,
)


@hookimpl
def qplane_register_routers(register):
    register("shortest-path", ShortestPathRouter, params=NoParams, description="fewest hops")
    register("min-cost", MinCostRouter, params=NoParams,
             description="least total expected link-generation time (mean attempts x cycle per link)")
    register("max-fidelity", MaxFidelityRouter, params=MaxFidelityParams,
             description="best expected delivered fidelity (link fidelity, storage, swap noise)")
    register("k-shortest", KShortestRouter, params=KShortestParams,
             description="multipath: up to k link-disjoint shortest paths, pairs spread over them")
    register("reactive", ReactiveRouter, params=MaxFidelityParams,
             description="entanglement-graph routing: swap over the link pairs that exist at the moment")
    register("hybrid", HybridRouter, params=HybridParams,
             description="virtual links: stocks of end-to-end pairs between chosen nodes, used as links of the logical topology")
    register("opportunistic", OpportunisticRouter, params=MaxFidelityParams,
             description="no path: each node swaps towards its neighbour closest to the destination")


@hookimpl
def qplane_register_swap_policies(register):
    register("reactive", ReactiveSwapping, params=ReactiveParams,
             description="session model of routing: reactive (shared link-level pool, paths found per pair)")
    register("opportunistic", OpportunisticSwapping, params=OpportunisticParams,
             description="session model of routing: opportunistic (pairs grow hop by hop over a link-level pool)")


@hookimpl
def qplane_simulation_end(context: RunContext) -> None:
    for key in (POOL, OPP_POOL):
        pool = context.services.get(key)
        if pool is not None:  # pending reactive requests never arrived: let the pool's memories go
            pool.stop()


@hookimpl
def qplane_results_assembled(context: RunContext, results: dict) -> None:
    stats = context.services.get(STATS)
    if stats is not None:
        results.setdefault("extra", {})["reactive"] = {
            "pairs_heralded": stats["pairs_heralded"],
            "pairs_expired": stats["pairs_expired"],
            "paths": {str(k): v for k, v in sorted(stats["paths"].items())},
        }
    stats = context.services.get(OPP_STATS)
    if stats is not None:
        results.setdefault("extra", {})["opportunistic"] = {
            "pairs_heralded": stats["pairs_heralded"],
            "pairs_expired": stats["pairs_expired"],
            "paths": {str(k): v for k, v in sorted(stats["paths"].items())},
            "swaps": {str(k): {str(n): c for n, c in sorted(v.items())} for k, v in sorted(stats["swaps"].items())},
        }
