"""Routers of qplane: choose a request's path over the controller's view of the topology."""

from .routers import MinCostRouter, ShortestPathRouter

__all__ = ["MinCostRouter", "ShortestPathRouter"]
