"""Routers of qplane: choose a request's path(s) over the controller's view of the topology,
or (``reactive``) route each pair over the link-level entanglement that exists at the moment, or
(``opportunistic``) let each node choose the next swap towards the destination."""

from .opportunistic import OpportunisticParams, OpportunisticPool, OpportunisticRouter, OpportunisticSwapping
from .reactive import LinkPool, ReactiveParams, ReactiveRouter, ReactiveSwapping
from .routers import (
    KShortestParams,
    KShortestRouter,
    MaxFidelityParams,
    MaxFidelityRouter,
    MinCostRouter,
    ShortestPathRouter,
    path_fidelity,
)

__all__ = [
    "KShortestParams",
    "KShortestRouter",
    "LinkPool",
    "MaxFidelityParams",
    "MaxFidelityRouter",
    "MinCostRouter",
    "OpportunisticParams",
    "OpportunisticPool",
    "OpportunisticRouter",
    "OpportunisticSwapping",
    "ReactiveParams",
    "ReactiveRouter",
    "ReactiveSwapping",
    "ShortestPathRouter",
    "path_fidelity",
]
