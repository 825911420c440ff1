"""Registers qplane's first-party routers, and the reactive session model routing needs."""

from __future__ import annotations

from qplane.context import RunContext
from qplane.hookspecs import hookimpl

from .hybrid import HybridParams, HybridRouter
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


@hookimpl
def qplane_register_swap_policies(register):
    register("reactive", ReactiveSwapping, params=ReactiveParams,
             description="session model of routing: reactive (shared link-level pool, paths found per pair)")


@hookimpl
def qplane_simulation_end(context: RunContext) -> None:
    pool = context.services.get(POOL)
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
