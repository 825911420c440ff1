"""Quantum-memory models."""

from __future__ import annotations

import math
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from qplane.backend import Capability


class DepolarizingMemoryParams(BaseModel):
    """``hardware.memory`` with ``model: depolarizing`` (the default)."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

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


class T1T2MemoryParams(BaseModel):
    """``hardware.memory`` with ``model: t1t2``: amplitude damping (T1) and dephasing (T2)."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    count: int = Field(10, ge=1, description="memories a node has for each of its quantum links")
    t1: float | None = Field(None, gt=0.0, description="energy relaxation time, seconds; null = none")
    t2: float = Field(gt=0.0, description="coherence (dephasing) time, seconds; at most 2 T1")
    exact: bool = Field(False, description="require a backend that applies amplitude damping exactly (no Pauli twirl)")

    @model_validator(mode="after")
    def _physical(self) -> "T1T2MemoryParams":
        if self.t1 is not None and self.t2 > 2 * self.t1:
            raise ValueError(f"t2 ({self.t2}) must be at most 2 t1 ({2 * self.t1})")
        return self


class T1T2Memory:
    """A memory with energy relaxation (T1) and dephasing (T2).

    Exact channel over ``t`` (``kraus(t)``, for backends with non-Pauli noise): amplitude
    damping with ``gamma = 1 - exp(-t/T1)`` followed by pure dephasing that brings the
    coherence decay to ``exp(-t/T2)``: ``lambda = 1 - exp(-t/T2) / sqrt(1 - gamma)``
    (Nielsen & Chuang, sec. 8.3.5-8.3.6).

    Pauli twirl (``pauli_probs(t)``, what Pauli-only backends apply, an approximation):
    ``pX = pY = gamma / 4``, ``pZ = (1 - exp(-t/T2)) / 2 - gamma / 4`` (e.g. Ghosh, Fowler,
    Geller, PRA 86, 062318 (2012)).
    """

    depolarizing_time = None

    def __init__(self, params: T1T2MemoryParams):
        self.params = params
        self.count = params.count
        self.t1 = params.t1
        self.t2 = params.t2
        if params.exact:
            self.requires_capabilities = frozenset({Capability.NON_PAULI_NOISE})

    def _gamma(self, dt: float) -> float:
        return 0.0 if self.t1 is None else 1.0 - math.exp(-dt / self.t1)

    def pauli_probs(self, dt: float) -> tuple[float, float, float, float]:
        if dt <= 0.0:
            return (1.0, 0.0, 0.0, 0.0)
        g = self._gamma(dt)
        px = g / 4.0
        pz = (1.0 - math.exp(-dt / self.t2)) / 2.0 - g / 4.0
        return (1.0 - 2.0 * px - pz, px, pz, px)

    def kraus(self, dt: float) -> list[list[list[complex]]]:
        """Kraus operators (2x2 nested lists) of the exact channel over ``dt`` seconds."""
        g = self._gamma(dt)
        coh = math.exp(-dt / self.t2)  # target off-diagonal decay
        # amplitude damping alone decays coherences by sqrt(1-g); dephase the rest
        rest = coh / math.sqrt(1.0 - g) if g < 1.0 else 0.0
        lam = max(0.0, 1.0 - rest * rest)  # phase damping parameter: coherence * sqrt(1-lam)
        ad = [[[1.0, 0.0], [0.0, math.sqrt(1.0 - g)]], [[0.0, math.sqrt(g)], [0.0, 0.0]]]
        pd = [[[1.0, 0.0], [0.0, math.sqrt(1.0 - lam)]], [[0.0, 0.0], [0.0, math.sqrt(lam)]]]
        out = []
        for P in pd:
            for A in ad:
                out.append([[sum(P[i][k] * A[k][j] for k in range(2)) for j in range(2)] for i in range(2)])
        return out


#: platform -> (t1 seconds or None, t2 seconds, source). Values are single published
#: demonstrations, not typical devices: a study should say which it uses.
PLATFORMS: dict[str, tuple[float | None, float, str]] = {
    # Abobeih et al., Nat. Commun. 9, 2552 (2018): NV electron spin T2 = 1.58 s with dynamical
    # decoupling, T1 = 3.6e3 s at 3.7 K.
    "nv-electron": (3.6e3, 1.58, "Abobeih et al., Nat. Commun. 9, 2552 (2018)"),
    # Bradley et al., PRX 9, 031045 (2019): 13C nuclear-spin memory next to an NV, T2 > 10 s
    # with decoupling; T1 effectively unlimited on that scale.
    "nv-carbon": (None, 10.0, "Bradley et al., Phys. Rev. X 9, 031045 (2019)"),
    # Wang et al., Nat. Photonics 11, 646 (2017): 171Yb+ hyperfine qubit, coherence > 10 min
    # (T2 = 660 s with sympathetic cooling and decoupling); clock qubit: no T1 decay.
    "trapped-ion": (None, 660.0, "Wang et al., Nat. Photonics 11, 646 (2017)"),
    # Zhong et al., Nature 517, 177 (2015): 151Eu:YSO nuclear-spin coherence of six hours with
    # decoupling (spin-level storage of a rare-earth ensemble).
    "rare-earth-ensemble": (None, 6 * 3600.0, "Zhong et al., Nature 517, 177 (2015)"),
}


class PresetMemoryParams(BaseModel):
    """``hardware.memory`` with ``model: preset``: a platform's published T1/T2."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    platform: Literal["nv-electron", "nv-carbon", "trapped-ion", "rare-earth-ensemble"] = Field(
        description="which published memory to model (see the model's docstring for sources)")
    count: int = Field(10, ge=1, description="memories a node has for each of its quantum links")
    exact: bool = Field(False, description="require a backend that applies amplitude damping exactly")


class PresetMemory(T1T2Memory):
    """T1/T2 memory with a platform's literature values:

    * ``nv-electron``: T1 = 3.6e3 s, T2 = 1.58 s — Abobeih et al., Nat. Commun. 9, 2552 (2018);
    * ``nv-carbon``: T2 = 10 s (13C nuclear spin) — Bradley et al., Phys. Rev. X 9, 031045 (2019);
    * ``trapped-ion``: T2 = 660 s (171Yb+) — Wang et al., Nat. Photonics 11, 646 (2017);
    * ``rare-earth-ensemble``: T2 = 6 h (151Eu:YSO spins) — Zhong et al., Nature 517, 177 (2015).

    These are best published coherence times under dynamical decoupling; devices in a network
    node (with optical interfaces, crosstalk from entangling attempts) are usually worse.
    """

    def __init__(self, params: PresetMemoryParams):
        t1, t2, source = PLATFORMS[params.platform]
        self.platform = params.platform
        self.source = source
        super().__init__(T1T2MemoryParams(count=params.count, t1=t1, t2=t2, exact=params.exact))
