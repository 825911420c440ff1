"""Registers qplane's first-party routers."""

from __future__ import annotations

from qplane.hookspecs import hookimpl

from .routers import MinCostRouter, NoParams, ShortestPathRouter


@hookimpl
def qplane_register_routers(register):
    register("shortest-path", ShortestPathRouter, params=NoParams, description="fewest hops")
    register("min-cost", MinCostRouter, params=NoParams,
             description="least total expected link-generation time (mean attempts x cycle per link)")
