"""Quality-of-service routing for qplane: the fastest path good enough (a qplane plugin)."""

from .router import FidelityConstrainedParams, FidelityConstrainedRouter, path_werner

__all__ = ["FidelityConstrainedParams", "FidelityConstrainedRouter", "path_werner"]
