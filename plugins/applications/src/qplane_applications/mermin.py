"""``mermin``: the Mermin operator on the GHZ states of a multipartite request.

Mermin's operator for n parties (N. D. Mermin, PRL 65, 1838 (1990)) is
``M_n = Re prod_j (X_j + i Y_j)``: the sum of the 2^(n-1) products of X and Y over all n qubits
with an even number k of Y, each with the sign ``(-1)^(k/2)``. On the GHZ state
``(|0..0> + |1..1>)/sqrt2`` every such term has expectation ``(-1)^(k/2) cos(k pi/2) = 1``, so
``<M_n> = 2^(n-1)``; local realism bounds it by ``2^(n/2)`` (n even) or ``2^((n-1)/2)`` (n odd).

Each delivered state is measured once, in one term's settings drawn uniformly from the 2^(n-1)
(the parity of Y settings made even by the last party): the product of the n outcomes (+-1)
times the term's sign is an unbiased estimate of ``<M_n> / 2^(n-1)``, so
``M = 2^(n-1) * mean`` with standard error ``2^(n-1) * sd / sqrt(N)``. Each share is
measured where it is by a node program (:mod:`qplane_applications.programs`), one per party;
the outcomes are combined when every program has returned, and each node's
``measurement_error`` flips its bit.

Over states whose qubits were each depolarized with Werner parameter w (GHZ states fused from
Werner pairs), every term scales by the product of the w's: ``M = 2^(n-1) prod_j w_j``
(:func:`qplane_physics.mermin_value`), the closed form the tests compare with.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict

from qplane.context import Context
from qplane.requests import DeliveredPair, RequestHandle

from .chsh import measure_program
from .programs import Runtime, require_measurement


class MerminParams(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


@dataclass
class Tally:
    """One request's signed products of outcomes, one per measured state."""

    states: int = 0
    fidelity_sum: float = 0.0
    values: list[int] = field(default_factory=list)


class MerminApplication:
    """Measure each delivered GHZ state in random Mermin settings; reports ``M`` and its
    standard error."""

    name = "mermin"

    def __init__(self, params: MerminParams, context: Context):
        require_measurement(context, "application 'mermin'")
        self.ctx = context
        self.runtime = Runtime(context, "application 'mermin'")
        self.tallies: dict[int, Tally] = {}

    def on_pair(self, request: RequestHandle, pair: DeliveredPair) -> bool:
        shares = list(pair.memories)
        if len(shares) < 3 or any(m.qubit is None for m in shares):  # a pair request, or a share lost
            return False
        tally = self.tallies.setdefault(request.id, Tally())
        tally.states += 1
        tally.fidelity_sum += pair.fidelity
        rng = self.ctx.clock.stream(f"applications:mermin:{request.id}")
        ys = [rng.randrange(2) for _ in shares[:-1]]
        ys.append(sum(ys) % 2)  # an even number of Y settings
        sign = (-1) ** (sum(ys) // 2)
        nodes = [m.node for m in shares]

        def done(results: dict[str, Any]) -> None:
            tally.values.append(sign * math.prod(results[n] for n in nodes))

        # one node program per party: measure its share in X or Y, return +-1
        self.runtime.launch({m.node: measure_program([], "Y" if y else "X") for m, y in zip(shares, ys)},
                            {m.node: [m] for m in shares}, on_done=done, key=request.id)
        return True  # the programs free each share once measured

    def report(self, handle: Any, request_result: dict[str, Any]) -> dict[str, Any]:
        """This request's figures, for ``results["extra"]["mermin"]["requests"]``."""
        t = self.tallies.get(handle.id, Tally())
        parties = handle.request.parties or [handle.request.src, handle.request.dst]
        scale, n = 2.0 ** (len(parties) - 1), len(t.values)
        mean = sum(t.values) / n if n else None
        sd = math.sqrt(max(1.0 - mean * mean, 0.0) * n / (n - 1)) if n > 1 and mean is not None else None
        return {
            "request": handle.id,
            "parties": parties,
            "measured": n,
            "M": scale * mean if mean is not None else None,
            "M_stderr": scale * sd / math.sqrt(n) if sd is not None else None,
            "M_ideal": scale,
            "local_bound": 2.0 ** (len(parties) // 2),
            "state_fidelity_mean": t.fidelity_sum / t.states if t.states else None,
        }
