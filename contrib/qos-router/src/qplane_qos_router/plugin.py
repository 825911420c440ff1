"""The qplane plugin module of qplane-qos-router: registers the ``fidelity-constrained`` router."""

from __future__ import annotations

from qplane.hookspecs import hookimpl

from .router import FidelityConstrainedParams, FidelityConstrainedRouter


@hookimpl
def qplane_register_routers(register):
    register("fidelity-constrained", FidelityConstrainedRouter, params=FidelityConstrainedParams,
             description="fastest path (expected generation time) whose estimated fidelity reaches min_fidelity")
