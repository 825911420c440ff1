"""Fibre and detector models: the pieces link schemes are made of."""

from __future__ import annotations

from dataclasses import dataclass

import qplane_physics as physics


@dataclass(frozen=True)
class Fiber:
    """Optical fibre: ``eta(L) = 10 ** (-alpha L / 10)`` and delay ``L / v``."""

    attenuation_db_per_km: float = 0.2
    speed_km_per_s: float = physics.SPEED_OF_LIGHT_FIBER_KM_S

    def transmissivity(self, length_km: float) -> float:
        return physics.fiber_transmissivity(length_km, self.attenuation_db_per_km)

    def delay(self, length_km: float) -> float:
        return length_km / self.speed_km_per_s


@dataclass(frozen=True)
class Detector:
    """Single-photon detector: clicks on an arriving photon with probability ``efficiency``.
    (Dark counts and their false heralds come with the other link schemes.)"""

    efficiency: float = 0.9
