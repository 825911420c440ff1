"""BBM92 (Bennett, Brassard, Mermin, PRL 68, 557 (1992)) on delivered pairs.

Each delivered pair is measured at once at both ends, each end in a basis (Z or X) it picks at
random; the pair's memories are then freed. Phi+ gives equal bits in both bases, so a sifted
pair (same basis at both ends) whose bits differ is an error. With the fidelity-only backend,
which cannot measure, outcomes are sampled from the pair's fidelity as if it were a Werner
state. This module touches only qplane's public API: the application contract
(``on_pair``), the state-backend protocol and the simulation's random streams.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from qplane.context import Context
from qplane.requests import DeliveredPair, RequestHandle
from qplane.backend import Capability, capability_error

#: where the results go: ``results["extra"]["qkd"]``
RESULTS_KEY = "qkd"
#: fraction of pairs kept by sifting when both ends choose Z or X with probability 1/2
SIFTING = 0.5


def binary_entropy(p: float) -> float:
    """``h(p) = -p log2 p - (1-p) log2 (1-p)``."""
    if p <= 0.0 or p >= 1.0:
        return 0.0
    return -p * math.log2(p) - (1.0 - p) * math.log2(1.0 - p)


def secret_fraction(qber: float) -> float:
    """Asymptotic secret bits per sifted bit, ``r = 1 - 2 h(Q)`` (Shor and Preskill, PRL 85,
    441 (2000), with equal bit- and phase-error rates, as BBM92 on depolarized pairs has);
    0 above Q ~ 11 %."""
    return max(0.0, 1.0 - 2.0 * binary_entropy(qber))


def werner_qber(fidelity: float) -> float:
    """QBER of a Werner pair of fidelity ``F``: in Z, Psi+ and Psi- flip the bits; in X, Psi-
    and Phi-: either way ``2 (1 - F) / 3``."""
    return 2.0 * (1.0 - fidelity) / 3.0


class Bbm92Params(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    measurement: Literal["auto", "backend", "werner"] = Field(
        "auto", description="'backend': the backend measures each qubit (needs gates or clifford-gates); "
        "'werner': outcomes sampled from the pair's fidelity as a Werner state; 'auto': backend when it can")


@dataclass
class Tally:
    """One request's counts: pairs measured, and sifted pairs and errors per basis."""

    pairs: int = 0
    fidelity_sum: float = 0.0
    sifted: dict[str, int] = field(default_factory=lambda: {"Z": 0, "X": 0})
    errors: dict[str, int] = field(default_factory=lambda: {"Z": 0, "X": 0})


class Bbm92Application:
    """BBM92 QKD: both ends measure every delivered pair in a random Z/X basis; reports the
    QBER and the asymptotic secret-key rate."""

    def __init__(self, params: Bbm92Params, context: Context):
        self.params = params
        self.ctx = context
        caps = context.backend.capabilities
        can_measure = Capability.GATES in caps or Capability.CLIFFORD_GATES in caps
        if params.measurement == "backend" and not can_measure:
            raise capability_error(context.backend, Capability.CLIFFORD_GATES, "application 'bbm92' (measurement: backend)")
        self.method = "backend" if params.measurement == "backend" or (params.measurement == "auto" and can_measure) else "werner"
        self.tallies: dict[int, Tally] = {}
        self._rngs: dict[int, Any] = {}

    def _measurement_error(self, node: str) -> float:
        device = self.ctx.network.nodes[node].device
        return float(getattr(getattr(device, "operations", None), "measurement_error", 0.0))

    def on_pair(self, request: RequestHandle, pair: DeliveredPair) -> bool:
        rng = self._rngs.get(request.id)
        if rng is None:  # one stream per request: adding a request does not shift another's bases
            rng = self._rngs[request.id] = self.ctx.clock.stream(f"qkd:bbm92:{request.id}")
        tally = self.tallies.setdefault(request.id, Tally())
        basis_a = "Z" if rng.random() < 0.5 else "X"
        basis_b = "Z" if rng.random() < 0.5 else "X"
        ma, mb = pair.src_memory, pair.dst_memory
        if self.method == "backend" and ma is not None and mb is not None and ma.qubit is not None and mb.qubit is not None:
            backend, now = self.ctx.backend, self.ctx.clock.now
            a = backend.measure(ma.qubit, basis_a, now)
            b = backend.measure(mb.qubit, basis_b, now)
            ma.qubit = mb.qubit = None  # measured: nothing is left to discard
        else:
            a = rng.getrandbits(1)
            if basis_a == basis_b:  # Werner pair: the bits differ with probability 2(1-F)/3
                b = a ^ (rng.random() < werner_qber(pair.fidelity))
            else:  # different bases: independent bits
                b = rng.getrandbits(1)
        src, dst = request.request.src, request.request.dst
        a ^= rng.random() < self._measurement_error(src)
        b ^= rng.random() < self._measurement_error(dst)
        tally.pairs += 1
        tally.fidelity_sum += pair.fidelity
        if basis_a == basis_b:
            tally.sifted[basis_a] += 1
            tally.errors[basis_a] += int(a != b)
        return False  # consumed: the network frees both memories

    def report(self, handle: Any, request_result: dict[str, Any]) -> dict[str, Any]:
        """This request's key figures, for ``results["extra"]["qkd"]``."""
        t = self.tallies.get(handle.id, Tally())
        sifted = t.sifted["Z"] + t.sifted["X"]
        errors = t.errors["Z"] + t.errors["X"]
        qber = errors / sifted if sifted else None
        rate = request_result.get("rate_hz")
        r = secret_fraction(qber) if qber is not None else None
        return {
            "request": handle.id,
            "src": handle.request.src,
            "dst": handle.request.dst,
            "measurement": self.method,
            "pairs": t.pairs,
            "sifted": sifted,
            "errors": errors,
            "qber": qber,
            "qber_stderr": math.sqrt(qber * (1 - qber) / sifted) if qber is not None else None,
            "qber_z": t.errors["Z"] / t.sifted["Z"] if t.sifted["Z"] else None,
            "qber_x": t.errors["X"] / t.sifted["X"] if t.sifted["X"] else None,
            "qber_werner": werner_qber(t.fidelity_sum / t.pairs) if t.pairs else None,
            "sifting": SIFTING,
            "secret_fraction": r,
            "pair_rate_hz": rate,
            "secret_key_rate_hz": r * SIFTING * rate if r is not None and rate is not None else None,
            "secret_key_bits": r * sifted if r is not None else 0.0,
        }
