"""Registers the ``density`` backend. qutip is imported when a backend is built, not when the
plugin is discovered, so listing plugins or running another backend does not pay for it."""

from __future__ import annotations

import random
from typing import Any

from qplane.hookspecs import hookimpl

from .params import CAPABILITIES, DensityParams


def density_backend(params: DensityParams, rng: random.Random) -> Any:
    """Exact density matrices (qutip) of groups of entangled qubits."""
    from .backend import DensityBackend

    return DensityBackend.from_params(params, rng)


density_backend.capabilities = CAPABILITIES  # type: ignore[attr-defined]


@hookimpl
def qplane_register_backends(register):
    register("density", density_backend, params=DensityParams,
             description="exact density matrices (qutip): circuit swaps and purification, "
                         "exact Kraus noise, gates and measurements")
