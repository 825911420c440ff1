"""Registers the ``stabilizer`` backend."""

from __future__ import annotations

from qplane.hookspecs import hookimpl

from .backend import StabilizerBackend, StabilizerParams


@hookimpl
def qplane_register_backends(register):
    register("stabilizer", StabilizerBackend.from_params, params=StabilizerParams,
             description="stabilizer states on stim: sampled Pauli noise, swaps and purification "
                         "as Clifford circuits, 0/1 fidelity per pair")
