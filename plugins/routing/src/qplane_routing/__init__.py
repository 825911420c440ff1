"""Routers of qplane: choose a request's path(s) over the controller's view of the topology,
or (``reactive``) route each pair over the link-level entanglement that exists at the moment."""

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
    "ReactiveParams",
    "ReactiveRouter",
    "ReactiveSwapping",
    "ShortestPathRouter",
    "path_fidelity",
]
