"""``teleport``: every delivered pair teleports a random pure state from ``src`` to ``dst``.

Written as two node programs (:mod:`qplane_applications.programs`):

* the source prepares the state ``|psi> = G|0>`` on a fresh qubit (``G``: the preparation
  gates drawn from the request's own stream), makes a Bell-state measurement of it with its
  half of the pair, and sends the outcome (two bits: a Pauli index) to the destination;
* the destination waits for the message (the network's classical delay), applies that Pauli
  to its half, and checks the state: it undoes ``G`` and measures in Z. Outcome 0 means the
  qubit was found in ``|psi>``; its probability is the fidelity of the teleported state with
  ``|psi>``, so the mean of these 0/1 successes estimates the average teleportation fidelity
  (``teleport_fidelity_mean``; standard error ``sqrt(m (1 - m) / n)``).

The states: with the ``gates`` capability (density backend), Haar-random states
``RZ(phi) RY(theta) |0>`` with ``cos theta`` uniform in [-1, 1] and ``phi`` in [0, 2 pi); with
Clifford gates only (stabilizer backend), one of the six Pauli eigenstates, uniformly. The
six form a 2-design, so their average fidelity equals the Haar average for every channel;
over Werner pairs of fidelity ``F`` the teleportation channel is depolarizing and every input
state has fidelity ``(2F + 1) / 3`` (Horodecki, Horodecki and Horodecki, PRA 60, 1888 (1999)),
which ``teleport_fidelity_werner`` reports at the delivered pairs' mean fidelity.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from qplane.context import Context
from qplane.requests import DeliveredPair, RequestHandle

from .programs import Runtime, receive, require_measurement, send, uses_gates

#: the six Pauli eigenstates as Clifford preparations from |0>: |0>, |1>, |+>, |->, |+i>, |-i>
PAULI_STATES: tuple[tuple[str, ...], ...] = ((), ("X",), ("H",), ("X", "H"), ("H", "S"), ("X", "H", "S"))
_INVERSE = {"S": "SDG", "SDG": "S"}


def inverse(gates: tuple[str, ...] | list[str]) -> list[str]:
    """The gates undoing ``gates`` (applied in order): reversed, S <-> SDG, rotations negated."""
    out = []
    for g in reversed(gates):
        head, colon, angle = g.partition(":")
        out.append(f"{head}:{-float(angle)!r}" if colon else _INVERSE.get(g, g))
    return out


def werner_teleport_fidelity(fidelity: float) -> float:
    """Average teleportation fidelity over a Werner pair of fidelity ``F``: ``(2F + 1) / 3``."""
    return (2.0 * fidelity + 1.0) / 3.0


def teleport_programs(src: str, dst: str, prepare: list[str]) -> dict[str, Any]:
    """The two node programs teleporting ``prepare|0>`` from ``src`` to ``dst``; the
    destination's returns 1 when it finds the state sent, else 0."""

    def source(node):
        psi = node.fresh()
        for gate in prepare:
            node.apply(gate, psi)
        outcome = node.bell_measure(psi, node.qubit)  # the two bits, as a Pauli index
        yield send(dst, outcome)

    def destination(node):
        (outcome,) = yield receive()
        node.pauli(node.qubit, outcome)  # the correction: dst now holds the state sent
        for gate in inverse(prepare):
            node.apply(gate, node.qubit)
        return 1 - node.measure(node.qubit, "Z")  # |psi> -> |0>: outcome 0 is a success

    return {src: source, dst: destination}


class TeleportParams(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    states: Literal["auto", "haar", "pauli"] = Field(
        "auto", description="states teleported: 'haar' (random pure states; needs gates), 'pauli' (the six "
        "Pauli eigenstates; Clifford backends too), 'auto': haar when the backend has gates, else pauli")


@dataclass
class Tally:
    """One request's teleportations."""

    pairs: int = 0
    pair_fidelity_sum: float = 0.0
    successes: list[int] = field(default_factory=list)
    delay_sum: float = 0.0


class TeleportApplication:
    """Teleport a random pure state over each delivered pair (node programs: Bell measurement
    at src, two classical bits, Pauli correction at dst); reports the average fidelity."""

    name = "teleport"

    def __init__(self, params: TeleportParams, context: Context):
        require_measurement(context, "application 'teleport'")
        haar = uses_gates(context, params.states, "haar", "application 'teleport' (states: haar)")
        self.states = "haar" if haar else "pauli"
        self.ctx = context
        self.runtime = Runtime(context, "application 'teleport'")
        self.tallies: dict[int, Tally] = {}

    def _prepare(self, rng: Any) -> list[str]:
        if self.states == "pauli":
            return list(PAULI_STATES[rng.randrange(6)])
        theta = math.acos(1.0 - 2.0 * rng.random())  # cos(theta) uniform: Haar on the sphere
        phi = 2.0 * math.pi * rng.random()
        return [f"RY:{theta!r}", f"RZ:{phi!r}"]

    def on_pair(self, request: RequestHandle, pair: DeliveredPair) -> bool:
        ma, mb = pair.src_memory, pair.dst_memory
        if ma is None or mb is None or ma.qubit is None or mb.qubit is None:
            return False
        tally = self.tallies.setdefault(request.id, Tally())
        tally.pairs += 1
        tally.pair_fidelity_sum += pair.fidelity
        rng = self.ctx.clock.stream(f"applications:teleport:{request.id}")  # one per request
        start = self.ctx.clock.now

        def done(results: dict[str, Any]) -> None:
            tally.successes.append(results[mb.node])
            tally.delay_sum += self.ctx.clock.now - start

        self.runtime.launch(teleport_programs(ma.node, mb.node, self._prepare(rng)),
                            {ma.node: [ma], mb.node: [mb]}, on_done=done, key=request.id)
        return True  # the programs free both memories when they end

    def report(self, handle: Any, request_result: dict[str, Any]) -> dict[str, Any]:
        """This request's figures, for ``results["extra"]["teleport"]["requests"]``."""
        t = self.tallies.get(handle.id, Tally())
        n = len(t.successes)
        mean = sum(t.successes) / n if n else None
        f_pairs = t.pair_fidelity_sum / t.pairs if t.pairs else None
        return {
            "request": handle.id,
            "src": handle.request.src,
            "dst": handle.request.dst,
            "states": self.states,
            "pairs": t.pairs,
            "teleported": n,
            "abandoned": self.runtime.abandoned.get(handle.id, 0),
            "teleport_fidelity_mean": mean,
            "teleport_fidelity_stderr": math.sqrt(mean * (1.0 - mean) / n) if n else None,
            "pair_fidelity_mean": f_pairs,
            "teleport_fidelity_werner": werner_teleport_fidelity(f_pairs) if f_pairs is not None else None,
            "correction_delay_mean_s": t.delay_sum / n if n else None,
        }
