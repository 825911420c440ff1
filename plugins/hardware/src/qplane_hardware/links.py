"""Heralded link-generation schemes: the physics of one attempt on one memory pair."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from qplane import physics

from .fiber import Detector, Fiber


class MimParams(BaseModel):
    """Parameters of a meet-in-the-middle link (``hardware.link`` with ``scheme: mim``)."""

    model_config = ConfigDict(extra="forbid")

    attenuation_db_per_km: float = Field(0.2, ge=0.0, description="fibre loss, dB/km")
    detector_efficiency: float = Field(0.9, gt=0.0, le=1.0, description="detection efficiency at the analyser")
    emit_efficiency: float = Field(1.0, gt=0.0, le=1.0, description="probability a memory emits a photon into the fibre")
    pair_fidelity: float = Field(1.0, ge=0.25, le=1.0, description="fidelity of a heralded pair (Werner state)")
    attempt_rate_hz: float = Field(1.0e6, gt=0.0, description="highest attempt rate of the memories")
    bsa_efficiency: float = Field(0.5, gt=0.0, le=1.0, description="Bell-state analyser success (0.5: linear optics)")
    speed_km_per_s: float = Field(physics.SPEED_OF_LIGHT_FIBER_KM_S, gt=0.0, description="speed of light in fibre")


class MeetInTheMiddle:
    """Meet-in-the-middle (MIM) link: both memories emit a photon entangled with them toward a
    Bell-state analyser at L/2; a coincidence heralds a pair.

    * success per attempt: ``p = bsa * (eta_emit * eta(L/2) * eta_det) ** 2`` with
      ``eta(L) = 10 ** (-alpha L / 10)`` (DESIGN.md; bsa = 1/2 for linear optics);
    * herald delay: photon to the middle and herald back, ``L / c``;
    * attempt cycle: ``max(L / c, 1 / attempt_rate)`` — a memory cannot re-emit before it knows
      whether its last photon heralded a pair;
    * the heralded pair is a Werner state of fidelity ``pair_fidelity`` (storage noise during
      the herald wait is added by the memories).
    """

    def __init__(self, params: MimParams, length_km: float):
        self.params = params
        self.length_km = length_km
        self.fiber = Fiber(params.attenuation_db_per_km, params.speed_km_per_s)
        self.detector = Detector(params.detector_efficiency)
        # one arm: memory emits, half the fibre, detector at the analyser
        arm = params.emit_efficiency * self.fiber.transmissivity(length_km / 2.0) * self.detector.efficiency
        self.success_probability = params.bsa_efficiency * arm * arm
        # photon to the middle (L/2) and herald back (L/2)
        self.herald_delay = 2.0 * self.fiber.delay(length_km / 2.0)
        self.cycle_time = max(self.herald_delay, 1.0 / params.attempt_rate_hz)
        self.pair_state = physics.werner(params.pair_fidelity)

    def __repr__(self) -> str:
        return f"MeetInTheMiddle(L={self.length_km} km, p={self.success_probability:.4g}, cycle={self.cycle_time:.3g} s)"
