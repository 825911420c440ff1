"""The timing of photons at an interfering analyser (``mim``, ``single-click``).

Four effects, all off by default (perfect timing), so a scenario without them keeps its
numbers bit for bit and a given ``visibility`` keeps its meaning:

* **wave packets** — each emitter's photon is a Gaussian, transform-limited wave packet
  (no chirp, both at the same carrier frequency) whose arrival-time density ``|psi(t)|**2``
  has rms duration ``tau`` (``wave_packet_ps``; one value for both ends or ``[tau_a, tau_b]``;
  FWHM of the intensity ``= 2 sqrt(2 ln 2) tau ~ 2.355 tau``);
* **arrival-time mismatch** between the two arms, ``dt = t_b - t_a`` at the analyser, from a
  fibre length difference (``arm_mismatch_km``, the b arm longer when positive: ``dt += dL / c``)
  and a clock offset between the nodes (``clock_offset_ps``: b emits that much later). The
  length difference is a timing quantity only: each arm keeps the transmissivity of ``L/2``
  (a few metres change the loss by ~1e-3 dB);
* **detector timing jitter** — Gaussian, rms ``timing_jitter_ps``, the same for every detector;
* **detection window** — ``detection_window_ps`` (None: unbounded), centred on the mean of the
  two photons' expected arrival times (the analyser's best setting when it cannot tell them
  apart). A photon whose *detection* time falls outside is not counted: for the herald logic
  it is lost. Dark counts are counted inside the window only.

**Two-photon (Hong-Ou-Mandel) visibility from the temporal overlap.** Cited result: behind a
50:50 beam splitter two single photons in modes ``psi_a``, ``psi_b`` give a coincidence with
probability ``P_c = (1 - |<psi_a|psi_b>|**2) / 2`` when detection is not time-resolved, so the
HOM visibility is ``V = |<psi_a|psi_b>|**2 = |integral psi_a*(t) psi_b(t) dt|**2`` (Hong, Ou &
Mandel, PRL 59, 2044 (1987); for wave packets in time, Legero, Wilk, Kuhn & Rempe, Appl. Phys.
B 77, 797 (2003), "Time-resolved two-photon quantum interference"). The Gaussian closed form
below is our derivation, not a quotation. With

    psi_i(t) = (2 pi tau_i**2) ** (-1/4) exp(-(t - t_i)**2 / (4 tau_i**2))

(normalised, ``|psi_i|**2`` Gaussian of standard deviation ``tau_i``), the product of two
Gaussians integrates as ``integral exp(-a (t-t_a)**2 - b (t-t_b)**2) dt = sqrt(pi/(a+b))
exp(-a b dt**2 / (a+b))`` with ``a = 1/(4 tau_a**2)``, ``b = 1/(4 tau_b**2)``, so
``a + b = (tau_a**2 + tau_b**2) / (4 tau_a**2 tau_b**2)``, ``a b / (a+b) = 1 / (4 (tau_a**2 +
tau_b**2))`` and, with the normalisations ``(2 pi)**(-1/2) (tau_a tau_b)**(-1/2)``,

    <psi_a|psi_b> = sqrt(2 tau_a tau_b / (tau_a**2 + tau_b**2)) exp(-dt**2 / (4 (tau_a**2 + tau_b**2)))
    V_timing = |<psi_a|psi_b>|**2 = 2 tau_a tau_b / (tau_a**2 + tau_b**2) * exp(-dt**2 / (2 (tau_a**2 + tau_b**2)))

which for equal durations is ``exp(-dt**2 / (4 tau**2))`` and at ``dt = 0`` is the duration
mismatch factor ``2 tau_a tau_b / (tau_a**2 + tau_b**2)``. ``plugins/hardware/tests/
test_timing.py`` checks it against a numerical integral. The total visibility is the product
``V = visibility * V_timing``: ``visibility`` stands for every other distinguishing degree of
freedom (polarisation, frequency, spectral purity) and the overlap of a product of independent
degrees of freedom is the product of their overlaps. Single-photon interference
(``single-click``) depends on the amplitude overlap ``|<psi_a|psi_b>| = sqrt(V)``.

**Jitter does not restore indistinguishability** (our model). The analyser accepts or rejects
click patterns; it does not post-select on the time difference of two clicks. The
interference of the time-integrated detection is fixed by the photons' state, ``V`` above,
whatever the detectors' time resolution: jitter is classical noise added to the record after
the photon is absorbed, so it changes no probability of the time-integrated patterns. It would
matter only to a time-resolved post-selection on ``|t_1 - t_2|`` (which can raise the
visibility of mismatched packets at the cost of rate, Legero et al. 2003): a jitter ``sigma_j``
blurs ``t_1 - t_2`` by ``sqrt(2) sigma_j``, so such filtering cannot select interfering events
once ``sigma_j >> tau``; qplane does not model that post-selection, so jitter never changes
``V``. Jitter enters through the window: a photon's detection time is its arrival time (density
``|psi_i|**2``, rms ``tau_i``) plus the jitter, a Gaussian of rms
``sigma_i = sqrt(tau_i**2 + sigma_j**2)`` centred at ``+-dt/2`` from the window's centre, so it
falls inside a window of width ``W`` with probability

    P_i = (erf((W/2 - m_i) / (sqrt(2) sigma_i)) + erf((W/2 + m_i) / (sqrt(2) sigma_i))) / 2

(``m_a = -dt/2``, ``m_b = +dt/2``; ``erf(W / (2 sqrt(2) sigma))`` when ``dt = 0``). Each arm's
efficiency is multiplied by its ``P_i``. Approximation: the window's slight temporal filtering
of the interference itself is neglected (exact when the packets are identical and aligned).

**Dark counts grow with the window**: with a dark-count rate ``R`` (``dark_count_rate_hz``)
each detector dark-clicks in a window of width ``W`` with probability ``R W`` (the first-order
Poisson probability; the parameters require ``R W < 1``), combined as an independent cause
with a fixed per-attempt ``dark_count_prob``: ``d = d0 + R W - d0 R W`` (``= R W`` when
``d0 = 0``, ``= d0`` when no window or no rate is given: today's treatment).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Annotated, Any, Optional, Union

from pydantic import BaseModel, Field, model_validator

#: one picosecond in seconds
PS = 1e-12

_Duration = Annotated[float, Field(gt=0.0)]


def overlap_visibility(tau_a_ps: float, tau_b_ps: float, dt_ps: float) -> float:
    """``|<psi_a|psi_b>|**2`` of two Gaussian wave packets of rms durations ``tau_a``, ``tau_b``
    arriving ``dt`` apart: ``2 tau_a tau_b / (tau_a**2 + tau_b**2) exp(-dt**2 / (2 (tau_a**2 +
    tau_b**2)))`` (module docstring for the derivation)."""
    s = tau_a_ps * tau_a_ps + tau_b_ps * tau_b_ps
    return 2.0 * tau_a_ps * tau_b_ps / s * math.exp(-dt_ps * dt_ps / (2.0 * s))


def window_acceptance(offset_ps: float, sigma_ps: float, window_ps: Optional[float]) -> float:
    """Probability that a Gaussian detection time of mean ``offset`` (from the window's centre)
    and rms ``sigma`` falls in a window of width ``window`` (None: unbounded, 1)."""
    if window_ps is None:
        return 1.0
    half = window_ps / 2.0
    if sigma_ps <= 0.0:
        return 1.0 if abs(offset_ps) <= half else 0.0
    r = math.sqrt(2.0) * sigma_ps
    return 0.5 * (math.erf((half - offset_ps) / r) + math.erf((half + offset_ps) / r))


class TimingParams(BaseModel):
    """Timing fields shared by the interfering schemes (defaults: perfect timing)."""

    wave_packet_ps: Optional[Union[_Duration, tuple[_Duration, _Duration]]] = Field(
        None,
        description="rms duration (ps) of each photon's Gaussian arrival-time density |psi(t)|^2, "
                    "one value or [end a, end b]; null: not modelled (needed by a mismatch)")
    arm_mismatch_km: float = Field(
        0.0, description="fibre length of arm b minus arm a (km; 1e-6 km = 1 mm ~ 4.9 ps of arrival mismatch)")
    clock_offset_ps: float = Field(0.0, description="emission time of end b minus end a (ps), a clock offset between the nodes")
    timing_jitter_ps: float = Field(0.0, ge=0.0, description="rms Gaussian timing jitter of each detector (ps)")
    detection_window_ps: Optional[float] = Field(
        None, gt=0.0, description="width (ps) of the detection window around the expected arrival; null: unbounded")
    dark_count_rate_hz: float = Field(
        0.0, ge=0.0, description="dark-count rate of each detector (Hz); needs detection_window_ps: d = rate x window")

    @model_validator(mode="after")
    def _check_timing(self) -> "TimingParams":
        if (self.arm_mismatch_km or self.clock_offset_ps) and self.wave_packet_ps is None:
            raise ValueError("arm_mismatch_km / clock_offset_ps need wave_packet_ps (the photons' duration)")
        if self.dark_count_rate_hz:
            if self.detection_window_ps is None:
                raise ValueError("dark_count_rate_hz needs detection_window_ps (dark counts grow with the window)")
            if self.dark_count_rate_hz * self.detection_window_ps * PS >= 1.0:
                raise ValueError("dark_count_rate_hz x detection_window_ps must be below 1 per window")
        return self


@dataclass(frozen=True)
class PhotonTiming:
    """What timing does to one attempt at the analyser."""

    #: arrival-time mismatch t_b - t_a at the analyser (ps)
    mismatch_ps: float
    #: V_timing = |<psi_a|psi_b>|^2 (1 when not modelled)
    visibility: float
    #: probability that each end's photon is detected inside the window (a, b)
    acceptance: tuple[float, float]
    #: dark-click probability of one detector in one attempt window
    dark_count_prob: float


def photon_timing(params: Any, speed_km_per_s: float) -> PhotonTiming:
    """Evaluate :class:`TimingParams` fields (plus ``dark_count_prob``) of a link's parameters."""
    dt = params.arm_mismatch_km / speed_km_per_s / PS + params.clock_offset_ps
    taus = params.wave_packet_ps
    if taus is None:
        tau_a = tau_b = 0.0
        v = 1.0
    else:
        tau_a, tau_b = (taus, taus) if isinstance(taus, (int, float)) else taus
        v = 1.0 if (dt == 0.0 and tau_a == tau_b) else overlap_visibility(tau_a, tau_b, dt)
    w, jit = params.detection_window_ps, params.timing_jitter_ps
    acc = (window_acceptance(-dt / 2.0, math.hypot(tau_a, jit), w),
           window_acceptance(dt / 2.0, math.hypot(tau_b, jit), w))
    d0 = params.dark_count_prob
    if w is None or not params.dark_count_rate_hz:
        d = d0
    else:
        dw = params.dark_count_rate_hz * w * PS
        d = dw if d0 == 0.0 else d0 + dw - d0 * dw
    return PhotonTiming(dt, v, acc, d)
