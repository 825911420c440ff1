"""Quantum-memory models."""

from __future__ import annotations

import math

from pydantic import BaseModel, ConfigDict, Field


class DepolarizingMemoryParams(BaseModel):
    """``hardware.memory`` with ``model: depolarizing`` (the default)."""

    model_config = ConfigDict(extra="forbid")

    count: int = Field(10, ge=1, description="memories a node has for each of its quantum links")
    coherence_time: float | None = Field(None, gt=0.0, description="seconds; null = no decoherence")


class DepolarizingMemory:
    """A memory whose stored qubit depolarizes with coherence time ``T``:
    ``rho -> (1-lam) rho + lam I/2`` with ``lam = 1 - exp(-t/T)``; a Werner pair whose two
    qubits are stored for ``t1`` and ``t2`` goes to ``F = 1/4 + (F0 - 1/4) exp(-(t1+t2)/T)``."""

    def __init__(self, params: DepolarizingMemoryParams):
        self.params = params
        self.count = params.count
        self.depolarizing_time = params.coherence_time

    def pauli_probs(self, dt: float) -> tuple[float, float, float, float]:
        if self.depolarizing_time is None or dt <= 0.0:
            return (1.0, 0.0, 0.0, 0.0)
        lam = 1.0 - math.exp(-dt / self.depolarizing_time)
        q = lam / 4.0
        return (1.0 - 3.0 * q, q, q, q)
