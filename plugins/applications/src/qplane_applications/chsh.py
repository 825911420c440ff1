"""``chsh``: every delivered pair is measured in CHSH settings chosen at random per pair.

The CHSH value (Clauser, Horne, Shimony, Holt, PRL 23, 880 (1969)) with Alice's observables
``A0 = Z``, ``A1 = X`` and Bob's ``B0 = (Z + X)/sqrt2``, ``B1 = (Z - X)/sqrt2``:
``S = <A0B0> + <A0B1> + <A1B0> - <A1B1>``; Phi+ gives ``2 sqrt2``, a Werner pair of fidelity
``F`` gives ``2 sqrt2 (4F - 1) / 3``.

Two ways to measure, by backend:

* ``rotated`` (backends with ``gates``, the density backend): per pair Alice picks ``a`` in
  {0, pi/2} and Bob ``b`` in {pi/4, -pi/4}; each measures the observable
  ``cos(x) Z + sin(x) X`` (gate ``RY(-x)``, then Z). Each correlator is the mean of the
  products of the +-1 outcomes over the pairs with its settings.
* ``pauli`` (Clifford-only backends, the stabilizer backend, where the +-pi/4 bases are not
  Clifford): per pair Alice and Bob each pick Z or X; the four Pauli correlators
  ``<ZZ> <ZX> <XZ> <XX>`` are estimated, and the CHSH correlators follow by linearity,
  ``<Ai B0> = (<Ai Z> + <Ai X>)/sqrt2``, ``<Ai B1> = (<Ai Z> - <Ai X>)/sqrt2``, so that
  ``S = sqrt2 (<ZZ> + <XX>)`` — exact for every state, not only Bell-diagonal ones.

Standard errors: a correlator ``E`` of ``n`` products has ``sqrt((1 - E^2) / n)``; ``S`` and
the derived correlators add the independent variances.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from qplane.context import Context
from qplane.requests import DeliveredPair, RequestHandle

from .programs import Runtime, require_measurement, uses_gates

SQRT2 = math.sqrt(2.0)
#: measurement angles in the X-Z plane: Alice's A0, A1 and Bob's B0, B1
ALICE = (0.0, math.pi / 2)
BOB = (math.pi / 4, -math.pi / 4)
CORRELATORS = ("A0B0", "A0B1", "A1B0", "A1B1")


def werner_chsh(fidelity: float) -> float:
    """CHSH value of a Werner pair of fidelity ``F``: ``2 sqrt2 (4F - 1) / 3``."""
    return 2.0 * SQRT2 * (4.0 * fidelity - 1.0) / 3.0


def measure_program(gates: list[str], basis: str):
    """A node program: apply ``gates`` to the node's qubit, measure it in ``basis``, return +-1."""

    def program(node):
        for gate in gates:
            node.apply(gate, node.qubit)
        return 1 - 2 * node.measure(node.qubit, basis)
        yield  # a generator: the runtime drives every program alike

    return program


def _correlator(products: list[int]) -> tuple[float | None, float | None]:
    n = len(products)
    if not n:
        return None, None
    e = sum(products) / n
    return e, math.sqrt(max(1.0 - e * e, 0.0) / n)


class ChshParams(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    settings: Literal["auto", "rotated", "pauli"] = Field(
        "auto", description="'rotated': CHSH angles, needs gates; 'pauli': Z/X settings and the CHSH "
        "correlators by linearity (Clifford backends); 'auto': rotated when the backend has gates, else pauli")


@dataclass
class Tally:
    """One request's products of outcomes, by pair of settings (``"01"``: Alice 0, Bob 1)."""

    pairs: int = 0
    pair_fidelity_sum: float = 0.0
    products: dict[str, list[int]] = field(default_factory=lambda: {k: [] for k in ("00", "01", "10", "11")})


class ChshApplication:
    """Measure each delivered pair in random CHSH settings; reports S and the correlators."""

    name = "chsh"

    def __init__(self, params: ChshParams, context: Context):
        require_measurement(context, "application 'chsh'")
        rotated = uses_gates(context, params.settings, "rotated", "application 'chsh' (settings: rotated)")
        self.settings = "rotated" if rotated else "pauli"
        self.ctx = context
        self.runtime = Runtime(context, "application 'chsh'")
        self.tallies: dict[int, Tally] = {}

    def _program(self, angles: tuple[float, float], i: int):
        if self.settings == "pauli":
            return measure_program([], "ZX"[i])
        return measure_program([f"RY:{-angles[i]!r}"], "Z")

    def on_pair(self, request: RequestHandle, pair: DeliveredPair) -> bool:
        ma, mb = pair.src_memory, pair.dst_memory
        if ma is None or mb is None or ma.qubit is None or mb.qubit is None:
            return False
        tally = self.tallies.setdefault(request.id, Tally())
        tally.pairs += 1
        tally.pair_fidelity_sum += pair.fidelity
        rng = self.ctx.clock.stream(f"applications:chsh:{request.id}")
        i, j = rng.randrange(2), rng.randrange(2)

        def done(results: dict[str, Any]) -> None:
            tally.products[f"{i}{j}"].append(results[ma.node] * results[mb.node])

        self.runtime.launch({ma.node: self._program(ALICE, i), mb.node: self._program(BOB, j)},
                            {ma.node: [ma], mb.node: [mb]}, on_done=done, key=request.id)
        return True

    def _figures(self, t: Tally) -> tuple[dict[str, float | None], dict[str, float | None], float | None, float | None]:
        """The four CHSH correlators, their standard errors, S and its standard error."""
        est = {k: _correlator(v) for k, v in t.products.items()}
        if any(e is None for e, _ in est.values()):
            return {k: None for k in CORRELATORS}, {k: None for k in CORRELATORS}, None, None
        if self.settings == "rotated":
            values = {f"A{k[0]}B{k[1]}": est[k][0] for k in est}
            errors = {f"A{k[0]}B{k[1]}": est[k][1] for k in est}
        else:  # est["ab"]: Alice Z (0) / X (1), Bob Z (0) / X (1); Bob's B0, B1 by linearity
            values, errors = {}, {}
            for a in "01":
                (ez, sz), (ex, sx) = est[a + "0"], est[a + "1"]
                spread = math.sqrt(sz * sz + sx * sx) / SQRT2
                values[f"A{a}B0"], values[f"A{a}B1"] = (ez + ex) / SQRT2, (ez - ex) / SQRT2
                errors[f"A{a}B0"] = errors[f"A{a}B1"] = spread
            s_value = SQRT2 * (est["00"][0] + est["11"][0])
            s_error = SQRT2 * math.sqrt(est["00"][1] ** 2 + est["11"][1] ** 2)
            return values, errors, s_value, s_error
        s_value = values["A0B0"] + values["A0B1"] + values["A1B0"] - values["A1B1"]
        s_error = math.sqrt(sum(e * e for e in errors.values()))
        return values, errors, s_value, s_error

    def report(self, handle: Any, request_result: dict[str, Any]) -> dict[str, Any]:
        """This request's figures, for ``results["extra"]["chsh"]["requests"]``."""
        t = self.tallies.get(handle.id, Tally())
        values, errors, s_value, s_error = self._figures(t)
        f_pairs = t.pair_fidelity_sum / t.pairs if t.pairs else None
        return {
            "request": handle.id,
            "src": handle.request.src,
            "dst": handle.request.dst,
            "settings": self.settings,
            "pairs": t.pairs,
            "measured": sum(len(v) for v in t.products.values()),
            "S": s_value,
            "S_stderr": s_error,
            **values,
            **{f"{k}_stderr": v for k, v in errors.items()},
            "pair_fidelity_mean": f_pairs,
            "S_werner": werner_chsh(f_pairs) if f_pairs is not None else None,
        }
