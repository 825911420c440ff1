"""Third-generation (one-way) repeater chains (issue 16; Munro et al., Nat. Photon. 6, 777 (2012);
Muralidharan et al., PRL 112, 250501 (2014)).

The model
---------
A source sends a logical qubit, encoded in a loss-tolerant code of ``n`` photons
(:mod:`qplane_repeaters.erasure`), down a line of ``links`` links of ``link_km`` each. Every
photon crosses a link with the fibre's transmissivity ``eta = 10^(-alpha L / 10)``
(``qplane_physics.fiber_transmissivity``) and is otherwise lost, a heralded erasure. Each
repeater decodes the arriving block from the photons that arrived (a logical Bell measurement of
the block with one half of a freshly encoded logical Bell pair, on representatives of ``X_L``,
``Z_L`` avoiding the lost photons: teleportation into the new block) and forwards the other half
at once: it waits for no herald from the far end. A hop fails, heralded, when its erasure pattern
is not correctable; the attempt is then dropped and nothing further is sent for it. Operation
errors are not modelled (ideal encoding and measurements).

A repeater finishes one logical qubit every ``op_time_s`` (its local operation time) and works
as a pipeline, so with ``P = P(eta)`` the exact one-hop probability (erasure.py):

    success probability   = P^N                       (N = links)
    rate (logical / s)    = P^N / op_time_s           (no light-travel time in it)
    latency (s)           = N (link_km / c_fibre + op_time_s)   (only when a qubit arrives)
    photons per attempt   = n (1 + P + ... + P^(N-1))  (hop h+1 is sent only if hops 1..h succeeded)
    photons per delivered = photons per attempt / P^N
    qubits per repeater   = 2 n  (the fresh encoded pair: n kept for the Bell measurement, n sent)

The Monte Carlo (:meth:`ThirdGenChain.simulate`) emits one logical qubit per ``op_time_s`` (the
event-level view: attempt ``k`` leaves at ``k * op_time_s`` and, if delivered, arrives
``latency_s`` later), samples every hop's losses and decodes them, either

- ``method="stim"``: the chain itself on a ``stim.TableauSimulator``: a reference qubit at the
  source maximally entangled with the logical qubit, erasures as random Paulis, the logical Bell
  measurement at each repeater with its outcomes kept as a Pauli frame, and at the end stim
  checks that the reference and the delivered block form the logical Bell pair (``wrong`` counts
  declared successes it refutes: zero for a right decoder); or
- ``method="table"``: the same draws, each hop decided from the code's table of correctable
  patterns (vectorized; for long runs and the benchmark).

API
---
``ThirdGenChain(code, links, link_km, attenuation_db_per_km=0.2, op_time_s=1e-6, seed=None)``
(``code``: a name for ``erasure.code`` such as ``"qpc(3,3)"``, ``"steane"``, or a
``StabilizerCode`` with one logical qubit):

- ``eta``, ``hop_probability()``, ``success_probability()``, ``rate()``, ``latency_s()``;
- ``qubits_per_node()``, ``photons_per_attempt()``, ``photons_per_delivered()``;
- ``sample(shots, method="table") -> (success_fraction, stderr)``;
- ``simulate(shots, method="table") -> ChainSample`` (attempts, delivered, photons, wrong, and
  the derived fraction, stderr, rate and photons per delivered logical qubit).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import stim
from qplane_physics import SPEED_OF_LIGHT_FIBER_KM_S, fiber_transmissivity

from qplane_repeaters.erasure import StabilizerCode, code as code_by_name

__all__ = ["ThirdGenChain", "ChainSample"]


def _preparation(tableau: stim.Tableau, targets: list[int]) -> stim.Circuit:
    """Reset ``targets`` and prepare ``tableau|0...0>`` on them, as a circuit (stim runs a short
    circuit several times faster than ``do_tableau``)."""
    out = stim.Circuit()
    out.append("R", targets)
    for ins in tableau.to_circuit("elimination"):
        out.append(ins.name, [targets[t.value] for t in ins.targets_copy()], ins.gate_args_copy())
    return out

_METHODS = ("table", "stim")


@dataclass(frozen=True)
class ChainSample:
    """What a Monte Carlo of the chain counted."""

    attempts: int
    delivered: int
    photons: int
    wrong: int
    op_time_s: float

    @property
    def fraction(self) -> float:
        return self.delivered / self.attempts

    @property
    def stderr(self) -> float:
        f = self.fraction
        return math.sqrt(f * (1.0 - f) / self.attempts)

    @property
    def window_s(self) -> float:
        """Simulated time over which the attempts were emitted (one per ``op_time_s``)."""
        return self.attempts * self.op_time_s

    @property
    def rate(self) -> float:
        """Delivered logical qubits per simulated second."""
        return self.delivered / self.window_s

    @property
    def rate_stderr(self) -> float:
        return self.stderr / self.op_time_s

    @property
    def photons_per_delivered(self) -> float:
        return self.photons / self.delivered if self.delivered else math.inf


class ThirdGenChain:
    """A one-way repeater line of ``links`` links of ``link_km`` (see the module docstring)."""

    def __init__(self, code: str | StabilizerCode, links: int, link_km: float,
                 attenuation_db_per_km: float = 0.2, op_time_s: float = 1e-6,
                 seed: int | np.random.Generator | None = None):
        self.code = code_by_name(code) if isinstance(code, str) else code
        if not isinstance(self.code, StabilizerCode):
            raise ValueError(f"code: expected a code name or a StabilizerCode, got {type(code).__name__}")
        if self.code.k != 1:
            raise ValueError(f"code {self.code.name}: a chain carries one logical qubit per block, it has {self.code.k}")
        if isinstance(links, bool) or not isinstance(links, int) or links < 1:
            raise ValueError(f"links: expected a whole number >= 1, got {links!r}")
        for name, value in (("link_km", link_km), ("attenuation_db_per_km", attenuation_db_per_km)):
            if not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
                raise ValueError(f"{name}: expected a finite number >= 0, got {value!r}")
        if not isinstance(op_time_s, (int, float)) or not math.isfinite(op_time_s) or op_time_s <= 0:
            raise ValueError(f"op_time_s: expected a finite number > 0, got {op_time_s!r}")
        self.links = links
        self.link_km = float(link_km)
        self.attenuation_db_per_km = float(attenuation_db_per_km)
        self.op_time_s = float(op_time_s)
        self.rng = np.random.default_rng(seed)

    # ---- closed forms

    @property
    def n(self) -> int:
        return self.code.n

    @property
    def eta(self) -> float:
        return fiber_transmissivity(self.link_km, self.attenuation_db_per_km)

    def hop_probability(self) -> float:
        """``P(eta)``: the exact sum over correctable erasure patterns."""
        return self.code.success_probability(self.eta)

    def success_probability(self) -> float:
        return self.hop_probability() ** self.links

    def rate(self) -> float:
        """Delivered logical qubits per second: ``P^N / op_time_s``."""
        return self.success_probability() / self.op_time_s

    def latency_s(self) -> float:
        """From emission to delivery: ``N (link_km / c_fibre + op_time_s)``."""
        return self.links * (self.link_km / SPEED_OF_LIGHT_FIBER_KM_S + self.op_time_s)

    def qubits_per_node(self) -> int:
        """Physical qubits a repeater holds per pipeline slot: the fresh encoded pair, ``2 n``."""
        return 2 * self.n

    def photons_per_attempt(self) -> float:
        p = self.hop_probability()
        return self.n * sum(p ** h for h in range(self.links))

    def photons_per_delivered(self) -> float:
        s = self.success_probability()
        return self.photons_per_attempt() / s if s > 0 else math.inf

    # ---- Monte Carlo

    def sample(self, shots: int, method: str = "table") -> tuple[float, float]:
        """``(success_fraction, stderr)`` over ``shots`` logical qubits sent end to end."""
        s = self.simulate(shots, method)
        return s.fraction, s.stderr

    def simulate(self, shots: int, method: str = "table") -> ChainSample:
        if isinstance(shots, bool) or not isinstance(shots, int) or shots < 1:
            raise ValueError(f"shots: expected a whole number >= 1, got {shots!r}")
        if method not in _METHODS:
            raise ValueError(f"method: expected one of {', '.join(_METHODS)}, got {method!r}")
        if method == "table":
            return self._simulate_table(shots)
        return self._simulate_stim(shots)

    def _losses(self, shots: int) -> np.ndarray:
        """Bit masks of the lost photons, ``[shot, hop]``."""
        lost = self.rng.random((shots, self.links, self.n)) < 1.0 - self.eta
        return lost.astype(np.int64) @ (1 << np.arange(self.n, dtype=np.int64))

    def _simulate_table(self, shots: int) -> ChainSample:
        table = self.code.correctable_table()
        delivered = photons = 0
        chunk = max(1, 2_000_000 // (self.links * self.n))
        for start in range(0, shots, chunk):
            ok = table[self._losses(min(chunk, shots - start))]  # [shot, hop]
            first_fail = np.where(ok.all(axis=1), self.links - 1, np.argmin(ok, axis=1))
            delivered += int(ok.all(axis=1).sum())
            photons += int((first_fail + 1).sum()) * self.n
        return ChainSample(shots, delivered, photons, 0, self.op_time_s)

    def _simulate_stim(self, shots: int) -> ChainSample:
        c, n = self.code, self.n
        total = 1 + 3 * n  # the reference, then three blocks: arriving, kept half, sent half
        pair = c.encoded_pair_tableau()
        lx, lz = c.padded(c.logical_x[0]), c.padded(c.logical_z[0])

        def on(block: int, p: stim.PauliString) -> stim.PauliString:
            return stim.PauliString(1 + block * n) + p + stim.PauliString(total - 1 - (block + 1) * n)

        def qubits(block: int) -> list[int]:
            return list(range(1 + block * n, 1 + (block + 1) * n))

        source = _preparation(c.bell_tableau(), [0] + qubits(0))
        prepare = {(a, b): _preparation(pair, qubits(a) + qubits(b)) for a in range(3) for b in range(3) if a != b}
        observables: dict[tuple[int, int, int], tuple[stim.PauliString, stim.PauliString] | None] = {}
        delivered = photons = wrong = 0
        masks = self._losses(shots)
        for row in masks:
            sim = stim.TableauSimulator()
            sim.set_num_qubits(total)
            sim.do_circuit(source)
            arriving, kept, sent = 0, 1, 2
            sx = sz = 1  # the Pauli frame: X_R X_L and Z_R Z_L of the travelling block
            for hop in range(self.links):
                photons += n
                mask = int(row[hop])
                for q in range(n):
                    if mask >> q & 1:
                        r = int(self.rng.integers(4))  # erase: a uniformly random Pauli
                        if r:
                            getattr(sim, "xyz"[r - 1])(1 + arriving * n + q)
                last = hop == self.links - 1
                key = (arriving, -1 if last else kept, mask)
                if key not in observables:  # the decoder's observables for this pattern, once
                    rx, rz = c.clean(lx, mask), c.clean(lz, mask)
                    if rx is None or rz is None:
                        observables[key] = None
                    elif last:  # the reference with the delivered block
                        px, pz = on(arriving, rx), on(arriving, rz)
                        px[0], pz[0] = "X", "Z"
                        observables[key] = (px, pz)
                    else:  # the arriving block with the kept half of the fresh pair
                        observables[key] = (on(arriving, rx) * on(kept, lx), on(arriving, rz) * on(kept, lz))
                obs = observables[key]
                if obs is None:
                    break  # heralded: this attempt is dropped here
                if last:
                    good = sim.peek_observable_expectation(obs[0]) == sx and sim.peek_observable_expectation(obs[1]) == sz
                    delivered += good
                    wrong += not good
                    break
                sim.do_circuit(prepare[kept, sent])  # a fresh encoded logical Bell pair
                # logical Bell measurement of the arriving block with the kept half
                if sim.measure_observable(obs[0]):
                    sx = -sx
                if sim.measure_observable(obs[1]):
                    sz = -sz
                arriving, kept, sent = sent, arriving, kept
        return ChainSample(shots, delivered, photons, wrong, self.op_time_s)
