"""Heralded link-generation schemes: the physics of one attempt on one memory pair.

Each scheme turns its parameters and a link length into the four numbers of
:class:`qplane.hal.LinkModel` — per-attempt success probability, attempt cycle, herald
delay and the heralded pair's Bell-diagonal state in Bell order (Phi+, Psi-, Psi+, Phi-),
written in the frame where the target is Phi+ (the herald pattern's known Pauli correction is
already applied). Storage noise during the herald wait is the memories' business, not this
module's; timing and scheduling of attempts belong to the link-generation protocol.

Schemes (the architectures of Jones et al., NJP 18, 083015 (2016), plus single-click):

* ``mim``  — :class:`MeetInTheMiddle`: both memories emit toward a Bell-state analyser at L/2;
* ``direct`` — :class:`DirectTransmission`: one memory emits, the other absorbs (their "SR");
* ``midpoint`` — :class:`MidpointSource`: a pair source at L/2, both memories absorb ("MS");
* ``single-click`` — :class:`SingleClick`: weakly excited memories, one click at L/2
  (Cabrillo et al., PRA 59, 1025 (1999)).

Shared imperfections: detector dark counts (``dark_count_prob``, per detector per attempt
window) turn into false heralds whose pair is modelled by :func:`herald_mixture`; imperfect
photon interference (``visibility``) dephases the heralded pair (:func:`interference_dephasing`).
The interfering schemes (``mim``, ``single-click``) also take the timing of photons
(:mod:`qplane_hardware.timing`: wave packets, arrival mismatch, jitter, detection window); the
midpoint source interferes no photons and ``direct`` detects one, so they have none.
"""

from __future__ import annotations

import math
from typing import Any, Sequence

from pydantic import BaseModel, ConfigDict, Field

import qplane_physics as physics

from .fiber import Detector, Fiber
from .timing import TimingParams, photon_timing

#: the maximally mixed two-qubit state, Bell-diagonal
MAXIMALLY_MIXED: physics.BellDiagonal = (0.25, 0.25, 0.25, 0.25)


# ------------------------------------------------------------------------------ helpers


def interference_dephasing(state: Sequence[float], coherence: float) -> physics.BellDiagonal:
    """Dephase a heralded pair whose which-path coherence is scaled by ``coherence`` (0..1).

    An interference-heralded pair is ``c |Psi><Psi| + (1-c) (|01><01| + |10><10|)/2``-like: the
    off-diagonal term shrinks by the photons' overlap while the populations stay. That is a
    phase flip (Z on one qubit) with probability ``(1 - c)/2``, so on Bell-diagonal states
    ``Phi+ <-> Phi-`` and ``Psi+ <-> Psi-`` mix: ``F -> F (1+c)/2 + D (1-c)/2``
    (e.g. Bernien et al., Nature 497, 86 (2013): ``F <= (1 + V)/2``)."""
    if coherence >= 1.0:
        return tuple(state)  # type: ignore[return-value]
    q = (1.0 - coherence) / 2.0
    v = physics.pauli_channel(physics.to_pauli_order(state), (1.0 - q, 0.0, q, 0.0))
    return physics.from_pauli_order(v)


def herald_mixture(
    p_true: float,
    true_state: Sequence[float],
    p_false: float,
    false_state: Sequence[float] = MAXIMALLY_MIXED,
) -> physics.BellDiagonal:
    """The pair behind a herald that is genuine with probability ``p_true / (p_true + p_false)``:
    ``(p_true * true_state + p_false * false_state) / (p_true + p_false)`` — Bayes over two
    disjoint herald causes. ``false_state`` defaults to I/4 (a false herald leaves at least one
    memory entangled with a lost photon, i.e. uncorrelated with the other)."""
    if p_false <= 0.0 or p_true + p_false <= 0.0:
        return tuple(true_state)  # type: ignore[return-value]
    n = p_true + p_false
    return tuple((p_true * t + p_false * f) / n for t, f in zip(true_state, false_state))  # type: ignore[return-value]


#: photon timing per parameter object (it does not depend on the length, and a scenario's links
#: share their parameters): id -> (params, timing), the params kept so that an id is not reused
_TIMINGS: dict[int, tuple[Any, Any]] = {}


def _timing(params: Any) -> Any:
    hit = _TIMINGS.get(id(params))
    if hit is not None and hit[0] is params:
        return hit[1]
    if len(_TIMINGS) > 1024:  # many scenarios in one process (a sweep): start afresh
        _TIMINGS.clear()
    timing = photon_timing(params, params.speed_km_per_s)
    _TIMINGS[id(params)] = (params, timing)
    return timing


class _LinkBase:
    """What every scheme exposes besides the LinkModel fields: the two herald causes."""

    length_km: float
    success_probability: float
    cycle_time: float
    herald_delay: float
    pair_state: physics.BellDiagonal
    #: probability per attempt of a herald caused by the photons (dark counts may help none)
    true_herald_probability: float
    #: probability per attempt of a herald that needed a dark count (a false herald)
    false_herald_probability: float

    @property
    def heralded_fidelity(self) -> float:
        """Fidelity of a heralded pair with the target (before storage noise)."""
        return self.pair_state[0]

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(L={self.length_km} km, p={self.success_probability:.4g}, "
                f"cycle={self.cycle_time:.3g} s, F={self.pair_state[0]:.4g})")


def _dark_count_field() -> Any:
    return Field(0.0, ge=0.0, lt=1.0,
                 description="probability that one detector clicks without a photon in one attempt window")


def _attenuation_field() -> Any:
    return Field(0.2, ge=0.0, description="fibre loss, dB/km")


def _attempt_rate_field() -> Any:
    return Field(1.0e6, gt=0.0, description="highest attempt rate of the memories, Hz")


def _speed_field() -> Any:
    return Field(physics.SPEED_OF_LIGHT_FIBER_KM_S, gt=0.0, description="speed of light in fibre, km/s")


# ------------------------------------------------------------------- meet in the middle


class MimParams(TimingParams):
    """Parameters of a meet-in-the-middle link (``hardware.link`` with ``scheme: mim``)."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    attenuation_db_per_km: float = Field(0.2, ge=0.0, description="fibre loss, dB/km")
    detector_efficiency: float = Field(0.9, gt=0.0, le=1.0, description="detection efficiency at the analyser")
    emit_efficiency: float = Field(1.0, gt=0.0, le=1.0, description="probability a memory emits a photon into the fibre")
    pair_fidelity: float = Field(1.0, ge=0.25, le=1.0, description="fidelity of a heralded pair (Werner state) with perfect interference")
    attempt_rate_hz: float = Field(1.0e6, gt=0.0, description="highest attempt rate of the memories")
    bsa_efficiency: float = Field(0.5, gt=0.0, le=1.0, description="Bell-state analyser success (0.5: linear optics)")
    speed_km_per_s: float = Field(physics.SPEED_OF_LIGHT_FIBER_KM_S, gt=0.0, description="speed of light in fibre")
    visibility: float = Field(1.0, ge=0.0, le=1.0,
                              description="Hong-Ou-Mandel visibility of the two photons at the analyser (1: indistinguishable)")
    dark_count_prob: float = _dark_count_field()


class MeetInTheMiddle(_LinkBase):
    """Meet-in-the-middle (MIM) link: both memories emit a photon entangled with them toward a
    Bell-state analyser at L/2; a coincidence heralds a pair.

    With ``a = eta_emit * eta(L/2) * eta_det`` (one arm: emission, half the fibre, detection;
    ``eta(L) = 10 ** (-alpha L / 10)``) and ``d`` the dark-count probability of each of the
    analyser's four detection modes (linear optics: two output ports x two polarisations or
    time bins; a herald is a click in exactly one of the four accepted mode pairs, each mode
    having two accepted partners; detectors do not resolve photon number):

    * genuine heralds: ``p_true = bsa * a**2 * (1-d)**2`` — both photons detected in an
      accepted pattern (docs/design.md, ``bsa`` = 1/2 for linear optics), and neither of the two
      remaining modes dark-clicks (a third click rejects the pattern);
    * false heralds: ``p_false = (1-d)**2 * (2d * n1 + 4 d**2 * (1-a)**2)`` with
      ``n1 = 2a(1-a) + (1-bsa) a**2 (1+V)/2`` the probability of exactly one genuine click
      (one photon lost, or two photons bunched into one mode, which happens with probability
      ``(1+V)/2`` for partly distinguishable photons): one dark click in one of its two
      partner modes completes a pattern; with no genuine click two dark clicks must form one
      of the four accepted pairs. The causes are disjoint, so
      ``success_probability = p_true + p_false`` exactly within this model (no overlap term);
    * pair: ``pair_fidelity`` describes the Werner pair of a perfect analyser; imperfect
      two-photon interference scales the which-path coherence by ``V = |<psi_a|psi_b>|**2``
      (a phase flip with probability ``(1-V)/2``, :func:`interference_dephasing`: at
      ``pair_fidelity = 1``, ``F = (1+V)/2``); a false herald brings I/4
      (:func:`herald_mixture`; exact for one-photon-plus-dark-count heralds, an approximation
      for the ``O(a**2 d)`` bunched ones, whose pair is orthogonal to the target);
    * herald delay: photon to the middle and herald back, ``L / c``;
    * attempt cycle: ``max(L / c, 1 / attempt_rate)`` — a memory cannot re-emit before it knows
      whether its last photon heralded a pair.

    Timing (:mod:`qplane_hardware.timing`): ``V = visibility * V_timing`` with ``V_timing`` the
    wave packets' overlap ``|<psi_a|psi_b>|**2`` (Gaussian closed form there); a detection window
    multiplies each arm by its acceptance, ``a_i = a P_i`` (the formulas above with ``a**2 ->
    a_a a_b``, ``2a(1-a) -> a_a(1-a_b) + a_b(1-a_a)``, ``(1-a)**2 -> (1-a_a)(1-a_b)``), and a
    dark-count rate gives ``d = rate x window``. Attributes ``timing`` and ``visibility`` (the
    total ``V``) say what was used.

    With ``visibility = 1`` and ``dark_count_prob = 0`` (the defaults) this is exactly the
    original scheme: ``p = bsa * a**2`` and a Werner pair of fidelity ``pair_fidelity``.
    """

    def __init__(self, params: MimParams, length_km: float):
        self.params = params
        self.length_km = length_km
        self.fiber = Fiber(params.attenuation_db_per_km, params.speed_km_per_s)
        self.detector = Detector(params.detector_efficiency)
        # one arm: memory emits, half the fibre, detector at the analyser
        arm = params.emit_efficiency * self.fiber.transmissivity(length_km / 2.0) * self.detector.efficiency
        # timing (perfect by default): V = visibility * V_timing; each arm times its window acceptance
        self.timing = _timing(params)
        a_a, a_b = arm * self.timing.acceptance[0], arm * self.timing.acceptance[1]
        d, bsa = self.timing.dark_count_prob, params.bsa_efficiency
        vis = self.visibility = params.visibility * self.timing.visibility
        quiet = (1.0 - d) ** 2  # the two modes outside the pattern stay dark
        self.true_herald_probability = bsa * a_a * a_b * quiet
        one_click = a_a * (1.0 - a_b) + a_b * (1.0 - a_a) + (1.0 - bsa) * a_a * a_b * (1.0 + vis) / 2.0
        none = (1.0 - a_a) ** 2 if a_a == a_b else (1.0 - a_a) * (1.0 - a_b)
        self.false_herald_probability = quiet * (2.0 * d * one_click + 4.0 * d * d * none) if d else 0.0
        self.success_probability = self.true_herald_probability + self.false_herald_probability
        # photon to the middle (L/2) and herald back (L/2)
        self.herald_delay = 2.0 * self.fiber.delay(length_km / 2.0)
        self.cycle_time = max(self.herald_delay, 1.0 / params.attempt_rate_hz)
        true_state = interference_dephasing(physics.werner(params.pair_fidelity), vis)
        self.pair_state = herald_mixture(self.true_herald_probability, true_state, self.false_herald_probability)

    def __repr__(self) -> str:
        return f"MeetInTheMiddle(L={self.length_km} km, p={self.success_probability:.4g}, cycle={self.cycle_time:.3g} s)"


# ------------------------------------------------------------------- direct transmission


class DirectParams(BaseModel):
    """Parameters of a direct-transmission link (``hardware.link`` with ``scheme: direct``)."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    attenuation_db_per_km: float = _attenuation_field()
    emit_efficiency: float = Field(1.0, gt=0.0, le=1.0, description="probability the sending memory emits a photon into the fibre")
    detector_efficiency: float = Field(
        0.9, gt=0.0, le=1.0,
        description="probability the receiving memory absorbs an arriving photon and detects (heralds) the absorption")
    pair_fidelity: float = Field(1.0, ge=0.25, le=1.0, description="fidelity of a genuinely heralded pair (Werner state)")
    attempt_rate_hz: float = _attempt_rate_field()
    speed_km_per_s: float = _speed_field()
    dark_count_prob: float = _dark_count_field()


class DirectTransmission(_LinkBase):
    """Direct transmission (Jones et al. 2016's "sender-receiver"): the memory at one end emits
    a photon entangled with it; the memory at the other end absorbs it and heralds the
    absorption with a detector; the herald returns to the sender.

    * genuine heralds: ``p_true = eta_emit * eta(L) * eta_det`` — the photon crosses the whole
      fibre and is absorbed and detected (``eta_det``: the receiver's absorption/detection);
    * false heralds: ``p_false = (1 - p_true) * d`` — the receiver's one herald detector dark-
      clicks in an attempt whose photon was lost (a dark click beside a genuine one changes
      nothing); disjoint causes, so ``success_probability = p_true + p_false
      = 1 - (1 - p_true)(1 - d)``;
    * pair: Werner of fidelity ``pair_fidelity`` when genuine; a false herald leaves the sender
      entangled with a lost photon (I/2) and the receiver in a known state, whose
      Bell-diagonal twirl is exactly I/4 (:func:`herald_mixture`);
    * herald delay: the photon crosses L (the receiver knows), the herald crosses L back (the
      sender knows): ``2 L / c``;
    * attempt cycle: ``max(2 L / c, 1 / attempt_rate)`` — the sender cannot re-emit before it
      knows whether its last photon was absorbed (its memory would be overwritten).

    No interference is involved, so there is no visibility parameter.
    """

    def __init__(self, params: DirectParams, length_km: float):
        self.params = params
        self.length_km = length_km
        self.fiber = Fiber(params.attenuation_db_per_km, params.speed_km_per_s)
        self.detector = Detector(params.detector_efficiency)
        a = params.emit_efficiency * self.fiber.transmissivity(length_km) * self.detector.efficiency
        d = params.dark_count_prob
        self.true_herald_probability = a
        self.false_herald_probability = (1.0 - a) * d
        self.success_probability = self.true_herald_probability + self.false_herald_probability
        self.herald_delay = 2.0 * self.fiber.delay(length_km)
        self.cycle_time = max(self.herald_delay, 1.0 / params.attempt_rate_hz)
        self.pair_state = herald_mixture(a, physics.werner(params.pair_fidelity), self.false_herald_probability)


# ----------------------------------------------------------------------- midpoint source


class MidpointParams(BaseModel):
    """Parameters of a midpoint-source link (``hardware.link`` with ``scheme: midpoint``)."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    attenuation_db_per_km: float = _attenuation_field()
    pair_probability: float = Field(1.0, gt=0.0, le=1.0, description="probability the source emits a photon pair in an attempt")
    absorb_efficiency: float = Field(
        0.9, gt=0.0, le=1.0,
        description="probability a memory absorbs an arriving photon and heralds the absorption")
    pair_fidelity: float = Field(1.0, ge=0.25, le=1.0, description="fidelity of a heralded pair (Werner state)")
    attempt_rate_hz: float = _attempt_rate_field()
    speed_km_per_s: float = _speed_field()


class MidpointSource(_LinkBase):
    """Midpoint source (MS): an entangled-photon source at L/2 sends one photon to each memory;
    a pair exists when both memories absorb theirs, and each memory tells the other end.

    * success per attempt: ``p = p_pair * (eta(L/2) * eta_absorb) ** 2`` (docs/design.md): a pair
      is emitted and each photon crosses L/2 and is absorbed;
    * herald delay (from the source's emission): the photons reach the memories after
      ``L / 2c``; each memory announces its absorption to the other end, which takes ``L / c``;
      so both ends know after ``L / 2c + L / c = 3 L / 2c``;
    * attempt cycle: ``max(L / c, 1 / attempt_rate)`` — a memory that absorbed a photon must
      hold it until the far end's announcement arrives (``L / c`` after its own absorption)
      to know whether to keep or reset it, so photons may reach it at most once per ``L / c``;
      the source is pipelined, so the herald delay may exceed the cycle;
    * pair: Werner of fidelity ``pair_fidelity``.

    Storage: the generation protocol counts storage from the emission, so each qubit is
    charged ``3 L / 2c`` of storage noise where it is really held ``L / c`` (an overestimate
    of ``L / 2c`` per qubit; exact when memories do not decohere). No detectors at the
    source, so no dark counts here.
    """

    def __init__(self, params: MidpointParams, length_km: float):
        self.params = params
        self.length_km = length_km
        self.fiber = Fiber(params.attenuation_db_per_km, params.speed_km_per_s)
        arm = self.fiber.transmissivity(length_km / 2.0) * params.absorb_efficiency
        self.true_herald_probability = params.pair_probability * arm * arm
        self.false_herald_probability = 0.0
        self.success_probability = self.true_herald_probability
        self.herald_delay = self.fiber.delay(length_km / 2.0) + self.fiber.delay(length_km)
        self.cycle_time = max(self.fiber.delay(length_km), 1.0 / params.attempt_rate_hz)
        self.pair_state = physics.werner(params.pair_fidelity)


# -------------------------------------------------------------------------- single click


class SingleClickParams(TimingParams):
    """Parameters of a single-click link (``hardware.link`` with ``scheme: single-click``)."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    bright_state_population: float = Field(
        0.1, gt=0.0, le=0.5,
        description="alpha: population of the emitting (bright) state; trades rate (~2 alpha eta) for fidelity (~1 - alpha when eta << 1)")
    attenuation_db_per_km: float = _attenuation_field()
    emit_efficiency: float = Field(1.0, gt=0.0, le=1.0, description="probability a bright memory emits a photon into the fibre")
    detector_efficiency: float = Field(0.9, gt=0.0, le=1.0, description="detection efficiency at the midpoint")
    visibility: float = Field(
        1.0, ge=0.0, le=1.0,
        description="Hong-Ou-Mandel visibility V = |<psi_a|psi_b>|^2 of the two memories' photons (1: indistinguishable)")
    phase_stability: float = Field(
        1.0, ge=0.0, le=1.0,
        description="|<exp(i dphi)>| of the optical phase difference of the two arms (exp(-sigma^2/2) for Gaussian noise)")
    attempt_rate_hz: float = _attempt_rate_field()
    speed_km_per_s: float = _speed_field()
    dark_count_prob: float = _dark_count_field()


class SingleClick(_LinkBase):
    """Single-click (single-photon) scheme, Cabrillo et al., PRA 59, 1025 (1999); as run by
    Humphreys et al., Nature 558, 268 (2018). Each memory is prepared in
    ``sqrt(1-alpha)|0> + sqrt(alpha)|1>`` and its bright state ``|1>`` emits a photon; the
    photons meet at a 50:50 beam splitter at L/2 with two detectors, and exactly one click
    heralds ``Psi+`` or ``Psi-`` (which detector says which; the frame correction is known).

    Per arm ``eta = eta_emit * eta(L/2) * eta_det``; ``alpha`` the bright-state population,
    ``V`` the HOM visibility, ``s`` the phase stability, ``d`` each detector's dark-count
    probability. Photon events (memory states are incoherent where a photon was lost):

    * one memory bright and its photon detected: ``P_psi = 2 alpha (1-alpha) eta`` — the
      which-path information is erased, the memories are in ``Psi+-``;
    * both bright, one click: ``P_11 = alpha**2 (2 eta (1-eta) + eta**2 (1+V)/2)`` — one
      photon lost, or both detected and bunched into one detector (HOM: probability
      ``(1+V)/2``; otherwise two clicks, rejected); the memories are in ``|11>``;
    * genuine heralds: ``p_true = (P_psi + P_11) (1-d)`` (the other detector must stay dark).
      At ``V = 1``: ``P_psi + P_11 = alpha eta (2 - alpha eta) = 1 - (1 - alpha eta)**2``
      (each memory independently sends a detected photon with probability ``alpha eta``),
      ``= 2 alpha eta - alpha**2 eta**2``, i.e. ``p ~ 2 alpha eta`` to first order;
    * false heralds: ``p_false = (1 - alpha eta)**2 * 2 d (1-d)`` — no photon detected
      (``P_0 = (1 - alpha eta)**2``) and exactly one detector dark-clicks; disjoint from the
      genuine causes, so ``success_probability = p_true + p_false``.

    Heralded pair (Bell-diagonal approximation, in the corrected frame where Psi+- became
    Phi+; off-diagonal terms between Bell states are dropped, i.e. the pair is Pauli-twirled,
    which keeps every Bell-state population and hence the fidelity):

    * genuine: ``F_t = P_psi / (P_psi + P_11)`` of the ideal Bell state, which at ``V = 1`` is
      ``2 (1-alpha) / (2 - alpha eta) = 1 - alpha (2 - eta) / (2 - alpha eta)``, i.e.
      ``1 - alpha (1 - eta/2)`` to first order and ``1 - alpha`` for lossy links
      (a both-bright event has two photons to detect: it clicks with ``~2 eta`` when
      ``eta << 1`` but at most with probability 1); the ``|11>`` admixture, corrected,
      is ``|10>``, i.e. half Psi+ half Psi-. The ideal part's which-path coherence is scaled by
      ``c = sqrt(V) * s`` — single-photon (first-order) interference depends on the amplitude
      overlap ``|<psi_a|psi_b>| = sqrt(V)``, unlike two-photon interference (``mim``), which
      depends on ``V`` — and by the phase stability ``s``; so (:func:`interference_dephasing`)
      ``state_true = (F_t (1+c)/2, (1-F_t)/2, (1-F_t)/2, F_t (1-c)/2)``;
    * false: the memories conditioned on no photon detected: ``|00>`` (weight ``(1-alpha)**2``),
      ``|11>`` (``alpha**2 (1-eta)**2``) and ``|01>``/``|10>`` (``alpha (1-alpha)(1-eta)``
      each), over ``P_0``; corrected, ``|00>``/``|11>`` are Psi-type and ``|01>``/``|10>``
      Phi-type, so ``state_false = (x/2, (1-x)/2, (1-x)/2, x/2)`` with
      ``x = 2 alpha (1-alpha)(1-eta) / (1 - alpha eta)**2`` — fidelity ``x/2 ~ alpha (1-eta)``,
      lower than the I/4 the other schemes use, because here a false herald's memories are
      mostly both dark (a product state the correction maps away from the target);
    * ``pair_state = (p_true state_true + p_false state_false) / (p_true + p_false)``.

    Timing as ``mim``: herald delay ``L / c`` (photon to the middle, herald back), cycle
    ``max(L / c, 1 / attempt_rate)``.

    Timing of photons (:mod:`qplane_hardware.timing`): ``V = visibility * V_timing``, so the
    coherence is ``c = sqrt(visibility * V_timing) * s``; a detection window multiplies each
    arm by its acceptance, ``eta_i = eta P_i``, and a dark-count rate gives ``d = rate x window``.
    With unequal arms (unequal wave packets in a window) the formulas generalise: ``P_psi =
    alpha (1-alpha)(eta_a + eta_b)``, ``P_11 = alpha**2 (eta_a (1-eta_b) + eta_b (1-eta_a) +
    eta_a eta_b (1+V)/2)``, ``P_0 = (1 - alpha eta_a)(1 - alpha eta_b)``, ``x = alpha (1-alpha)
    (2 - eta_a - eta_b) / P_0``, and the bright part ``sqrt(eta_a)|10> + sqrt(eta_b)|01>`` puts
    ``u = (sqrt(eta_a) + sqrt(eta_b))**2 / (2 (eta_a + eta_b))`` of ``F_t`` on the target and
    ``1 - u`` on Phi- before dephasing.
    """

    def __init__(self, params: SingleClickParams, length_km: float):
        self.params = params
        self.length_km = length_km
        self.fiber = Fiber(params.attenuation_db_per_km, params.speed_km_per_s)
        self.detector = Detector(params.detector_efficiency)
        eta = params.emit_efficiency * self.fiber.transmissivity(length_km / 2.0) * self.detector.efficiency
        self.timing = _timing(params)
        e_a, e_b = eta * self.timing.acceptance[0], eta * self.timing.acceptance[1]
        alpha, d = params.bright_state_population, self.timing.dark_count_prob
        vis = self.visibility = params.visibility * self.timing.visibility
        if e_a == e_b:  # the symmetric link (always so without a window), as originally written
            eta = e_a
            p_psi = 2.0 * alpha * (1.0 - alpha) * eta
            p_11 = alpha * alpha * (2.0 * eta * (1.0 - eta) + eta * eta * (1.0 + vis) / 2.0)
            p_none = (1.0 - alpha * eta) ** 2
            u, lost = 1.0, 2.0 * (1.0 - eta)
        else:
            p_psi = alpha * (1.0 - alpha) * (e_a + e_b)
            p_11 = alpha * alpha * (e_a * (1.0 - e_b) + e_b * (1.0 - e_a) + e_a * e_b * (1.0 + vis) / 2.0)
            p_none = (1.0 - alpha * e_a) * (1.0 - alpha * e_b)
            u = (math.sqrt(e_a) + math.sqrt(e_b)) ** 2 / (2.0 * (e_a + e_b))
            lost = 2.0 - e_a - e_b
        self.true_herald_probability = (p_psi + p_11) * (1.0 - d)
        self.false_herald_probability = p_none * 2.0 * d * (1.0 - d)
        self.success_probability = self.true_herald_probability + self.false_herald_probability
        self.herald_delay = 2.0 * self.fiber.delay(length_km / 2.0)
        self.cycle_time = max(self.herald_delay, 1.0 / params.attempt_rate_hz)
        f_t = p_psi / (p_psi + p_11)
        self.bright_fidelity = f_t  # before interference imperfections and dark counts
        coherence = math.sqrt(vis) * params.phase_stability  # sqrt(V): the amplitude overlap
        true_state = interference_dephasing((f_t * u, (1.0 - f_t) / 2.0, (1.0 - f_t) / 2.0, f_t * (1.0 - u)), coherence)
        x = alpha * (1.0 - alpha) * lost / p_none
        false_state = (x / 2.0, (1.0 - x) / 2.0, (1.0 - x) / 2.0, x / 2.0)
        self.pair_state = herald_mixture(self.true_herald_probability, true_state,
                                         self.false_herald_probability, false_state)
