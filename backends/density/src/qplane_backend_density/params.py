"""What the registry needs to know about the ``density`` backend without importing qutip
(about 0.7 s): its parameter model and its capabilities."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from qplane.backend import Capability

CAPABILITIES: frozenset[Capability] = frozenset({
    Capability.PAIR_OPERATIONS,
    Capability.PURIFICATION,
    Capability.NON_PAULI_NOISE,
    Capability.GATES,
    Capability.CLIFFORD_GATES,
    Capability.EXACT_FIDELITY,
    Capability.MULTIPARTITE,
})


class DensityParams(BaseModel):
    """``backend: density`` takes no parameters."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)
