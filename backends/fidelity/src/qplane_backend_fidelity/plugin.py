"""Registers the ``fidelity`` backend."""

from __future__ import annotations

from qplane.hookspecs import hookimpl

from .backend import FidelityBackend, FidelityParams


@hookimpl
def qplane_register_backends(register):
    register("fidelity", FidelityBackend.from_params, params=FidelityParams,
             description="Bell-diagonal pairs: exact for Pauli noise, closed-form swaps, lazy decoherence")
