"""The second and third repeater generations as components (kind ``repeater``): ``2g`` and
``3g``, selected by ``protocols.repeater`` (also per request). ``1g`` (qplane-entanglement)
hands a session to the swapping policy; these serve it themselves.

``2g`` (Jiang et al., PRA 79, 032325 (2009); :mod:`qplane_repeaters.second_gen`). The network
part runs in the event loop: on every hop of the session's path the link generator makes ``n``
heralded physical pairs (``n``: the code's block size; the session needs ``n`` memory pairs per
hop), the two nodes turn them into an encoded Bell pair by a teleported transversal CNOT
(``bsm_duration`` of the slower node), and once every hop holds its encoded pair the inner
nodes make their transversal logical Bell measurements together (``bsm_duration`` again) and
send the decoded outcomes to both ends (the classical delay to the farther one). The logical
pair is then delivered and the hops start over. Whether its Pauli frame is right is drawn from
the stim simulation of the same chain (the code, the number of links, the links' heralded pair
fidelity, the repeaters' gate and measurement errors: the worst along the path), one shot per
delivered pair from batches: its fidelity is 1 or 0, as on the stabilizer backend, and the mean
is one minus the logical error rate. Memory decoherence while the blocks wait is not modelled
(the stim chain's model).

``3g`` (Munro et al., Nat. Photon. 6, 777 (2012); :mod:`qplane_repeaters.third_gen`). No herald
is awaited: the source encodes a logical qubit every ``op_time_s`` and sends its photons; each
repeater corrects the erasures, re-encodes and forwards. A logical qubit arrives correctable
with probability ``P^N`` (``P``: the code's one-hop probability at the link's transmissivity),
so the delivered ones form a Bernoulli stream thinned from one per ``op_time_s``: the engine
draws the gap to the next success (geometric, one event per delivered qubit, none per loss)
and delivers it ``latency`` later (the light's travel and the ``N`` repeaters' operations). Loss
is the only error modelled: a delivered logical qubit has fidelity 1.

``2g`` declares that it needs ``clifford-gates`` (the stabilizer and density backends): its
logical frames are stim's, and on the fidelity backend the scenario fails before the run naming
the backends that can. Memory decoherence of the blocks and 2g's own pipelining (a hop starts
its next block only once the logical pair is delivered) are not modelled yet. Their resources go to ``results["extra"]["repeaters"]["requests"]``.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from qplane.backend import Capability
from qplane.context import TRACE, Context, ServiceKey
from qplane.requests import DeliveredPair, RequestStatus, Session
from qplane_physics import SPEED_OF_LIGHT_FIBER_KM_S, fiber_transmissivity

#: where the results go: ``results["extra"]["repeaters"]``
RESULTS_KEY = "repeaters"
#: the run's pair-id counter of traced runs (qplane_entanglement.tracing's key: one numbering)
PAIR_IDS: ServiceKey[itertools.count] = ServiceKey("qplane.trace.pair-ids", itertools.count)


def _tracing(context: Context) -> tuple[Any, Any]:
    """``(tracer, pair-id counter)`` of a traced run, ``(None, None)`` when off."""
    trace = context.services.get(TRACE)
    if trace is None:
        return None, None
    ids = context.services.get(PAIR_IDS)
    if ids is None:
        context.services.set(PAIR_IDS, ids := itertools.count())
    return trace, ids


class SecondGenParams(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    code: Literal["steane", "repetition"] = Field("steane", description="the code of the blocks: the [[7,1,3]] "
                                                  "Steane code, or the 3-qubit repetition code (bit flips only)")
    ec: Literal["noisy", "ideal", "none"] = Field("noisy", description="error correction at every node: with the "
                                                  "nodes' gate errors, ideal, or none (the swaps' decoding only)")
    batch: int = Field(4096, ge=1, le=1_000_000, description="logical pairs sampled from stim at once")


@dataclass
class Tally:
    """One request's figures."""

    code: str = ""
    links: int = 0
    pairs_per_logical: int = 0
    qubits: dict[str, int] = field(default_factory=dict)
    delivered: int = 0
    errors: int = 0


class _Hop:
    """One hop of a 2G session: its link, its ``n`` memory pairs and the heralds so far."""

    __slots__ = ("link", "pairs", "heralded", "first", "ids", "id")

    def __init__(self, link: Any, pairs: list[tuple[Any, Any]]):
        self.link, self.pairs, self.heralded, self.first = link, pairs, 0, math.inf
        self.ids: list[int] = []  # traced runs: the heralded physical pairs' ids, then
        self.id: int | None = None  # the encoded pair's


class SecondGeneration:
    """``2g``: encoded Bell pairs by teleported CNOTs, decoded transversal swaps (see the module)."""

    name = "2g"
    requires_capabilities = (Capability.CLIFFORD_GATES,)

    def __init__(self, params: SecondGenParams, context: Context):
        from .codes import get_code

        self.params, self.ctx = params, context
        self.n = get_code(params.code).n
        self._chains: dict[tuple[Any, ...], Any] = {}
        self._draws: dict[tuple[Any, ...], list[Any]] = {}
        self._means: dict[tuple[Any, ...], float] = {}  # the first batch's logical error rate: the estimate
        self.tallies: dict[int, Tally] = {}
        self.trace, self.ids = _tracing(context)  # the protocol-event tracer, None when off

    def _chain(self, key: tuple[Any, ...]) -> Any:
        """The stim chain of ``key`` = (links, pair fidelity, gate error, measurement error),
        made once and seeded from this component's stream."""
        chain = self._chains.get(key)
        if chain is None:
            from .second_gen import SecondGenChain

            links, fidelity, gate, meas = key
            chain = self._chains[key] = SecondGenChain(
                self.params.code, links, fidelity, gate, meas, seed=self.ctx.rng.getrandbits(62), ec=self.params.ec)
        return chain

    def _frames(self, key: tuple[Any, ...]) -> tuple[bool, bool]:
        """One delivered pair's ``(X frame wrong, Z frame wrong)``, drawn from batches sampled
        from the chain of ``key``."""
        draws = self._draws.get(key)
        if not draws:
            rows = self._chain(key).sample_errors(self.params.batch)
            self._means.setdefault(key, float(rows.any(axis=1).mean()))
            draws = self._draws[key] = [tuple(row) for row in rows.tolist()][::-1]
        return draws.pop()

    def serve(self, session: Session) -> None:
        handle, path = session.handle, session.path
        net = self.ctx.network
        short = [(u, v) for (u, v), hop in zip(zip(path, path[1:]), session.allocation) if len(hop) < self.n]
        if short:
            u, v = short[0]
            self.ctx.sessions.finish(handle, RequestStatus.INSUFFICIENT_RESOURCES,
                                     f"2g with the {self.params.code} code needs {self.n} memories per link end on "
                                     f"every hop; {u}-{v} has {len(session.allocation[path.index(u)])}")
            return
        hops = [_Hop(net.link(u, v), list(pairs[:self.n])) for (u, v), pairs in zip(zip(path, path[1:]), session.allocation)]
        ops = [net.nodes[x].device.operations for x in path]
        fidelity = min(h.link.model.pair_state[0] for h in hops)
        gate, meas = max(o.gate_error for o in ops), max(o.measurement_error for o in ops)
        local = max(o.bsm_duration for o in ops)  # the teleported CNOTs, and the logical Bell measurements
        delay = 0.0 if self.ctx.settings.classical_instant else max(
            max(net.classical_delay(x, path[0]), net.classical_delay(x, path[-1])) for x in path[1:-1] or path[:1])
        key = (len(hops), round(fidelity, 12), gate, meas)
        chain = self._chain(key)
        tally = self.tallies.setdefault(handle.id, Tally())
        tally.code, tally.links = self.params.code, len(hops)
        tally.pairs_per_logical, tally.qubits = chain.pairs_per_logical_pair, chain.physical_qubits_per_node
        state: dict[str, Any] = {"encoded": 0, "id": None}
        trace, ids = self.trace, self.ids

        def start(hop: _Hop) -> None:
            hop.heralded, hop.first = 0, math.inf
            if trace is not None:
                hop.ids = []
            for ma, mb in hop.pairs:
                self.ctx.link_generation.start(session, hop.link, ma, mb, lambda a, b, t, h=hop: herald(h, a, b, t))

        def herald(hop: _Hop, ma: Any, mb: Any, t_start: float) -> None:
            if not session.active:
                return
            now = self.ctx.clock.now
            for m in (ma, mb):  # the physical pair is used up by the teleported CNOT
                net.nodes[m.node].device.release(m, now)
            hop.heralded += 1
            hop.first = min(hop.first, t_start)
            if trace is not None:
                hop.ids.append(pid := next(ids))
                trace("herald", request=handle.id, pair=pid, nodes=[ma.node, mb.node],
                      fidelity_estimated=hop.link.model.pair_state[0], emitted=now - hop.link.model.herald_delay)
            if hop.heralded == self.n:
                self.ctx.clock.call_at(local, encoded, hop)

        def encoded(hop: _Hop) -> None:
            state["encoded"] += 1
            if trace is not None and session.active:  # the hop's n physical pairs make one encoded pair
                hop.id = next(ids)
                u, v = path[hops.index(hop)], path[hops.index(hop) + 1]
                trace("encoding", request=handle.id, pair=hop.id, consumed=list(hop.ids), nodes=[u, v],
                      code=self.params.code)
            if session.active and state["encoded"] == len(hops):
                if trace is not None:  # the inner nodes' logical Bell measurements, all at once
                    made = hops[0].id
                    for i in range(1, len(hops)):
                        consumed, made = [made, hops[i].id], next(ids)
                        trace("swap", request=handle.id, pair=made, node=path[i], consumed=consumed,
                              nodes=[path[0], path[i + 1]], outcome=None, ok=True,
                              fidelity_estimated=1.0 - self._means[key] if key in self._means else None)
                    state["id"] = made
                self.ctx.clock.call_at(local + delay, deliver)  # the swaps, then their outcomes travel

        def deliver() -> None:
            if not session.active:
                return
            now = self.ctx.clock.now
            x, z = self._frames(key)
            oldest = min(h.first for h in hops)
            tally.delivered += 1
            tally.errors += int(x or z)
            state["encoded"] = 0
            # the teleported CNOTs' outcomes (two per physical pair) and the swaps' (one per inner node)
            net.count_messages(2 * self.n * len(hops) + len(hops) - 1)
            for hop in hops:
                start(hop)
            if trace is not None:
                trace("delivery", request=handle.id, pair=state["id"], nodes=[path[0], path[-1]],
                      fidelity=0.0 if (x or z) else 1.0, fidelity_estimated=1.0 - self._means[key], latency=now - oldest)
            self.ctx.sessions.deliver(session, DeliveredPair(
                time=now, fidelity=0.0 if (x or z) else 1.0,
                fidelity_estimated=1.0 - self._means[key],
                latency=now - oldest, age=now - oldest))

        for hop in hops:
            start(hop)

    def report(self, handle: Any) -> dict[str, Any]:
        t = self.tallies.get(handle.id, Tally())
        rate = t.errors / t.delivered if t.delivered else None
        return {"request": handle.id, "repeater": self.name, "code": t.code, "links": t.links,
                "logical_pairs": t.delivered, "logical_error_rate": rate,
                "logical_error_stderr": math.sqrt(rate * (1 - rate) / t.delivered) if rate is not None else None,
                "physical_pairs_per_logical_pair": t.pairs_per_logical, "physical_qubits_per_node": t.qubits}


class ThirdGenParams(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    code: str = Field("qpc(3,3)", description="the loss-tolerant code: qpc(n,m) (quantum parity code), steane, "
                      "five or c422")
    op_time_s: float = Field(1e-6, gt=0.0, le=1.0, description="a repeater's local operation time: one logical "
                             "qubit per op_time_s leaves the source and every repeater")

    @field_validator("code")
    @classmethod
    def _known(cls, v: str) -> str:
        from .erasure import code

        code(v)  # a ValueError names the codes
        return v


class ThirdGeneration:
    """``3g``: one-way repeaters, logical qubits as photons of a loss-tolerant code (see the module)."""

    name = "3g"

    def __init__(self, params: ThirdGenParams, context: Context):
        from .erasure import code

        self.params, self.ctx = params, context
        self.code = code(params.code)
        self.tallies: dict[int, dict[str, Any]] = {}
        self.trace, self.ids = _tracing(context)  # the protocol-event tracer, None when off

    def serve(self, session: Session) -> None:
        handle, path, net = session.handle, session.path, self.ctx.network
        op, n = self.params.op_time_s, self.code.n
        hops = [net.link(u, v) for u, v in zip(path, path[1:])]
        # each photon crosses one fibre: its loss is the fibre's (the link scheme's fibre, else 0.2 dB/km)
        probs = [self.code.success_probability(fiber_transmissivity(
            h.length_km, getattr(getattr(h.model, "fiber", None), "attenuation_db_per_km", 0.2))) for h in hops]
        success = math.prod(probs)
        latency = sum(h.length_km / SPEED_OF_LIGHT_FIBER_KM_S + op for h in hops)
        photons = n * sum(math.prod(probs[:i]) for i in range(len(hops)))  # hop i+1 sent only if 1..i succeeded
        tally = self.tallies[handle.id] = {
            "request": handle.id, "repeater": self.name, "code": self.code.name, "links": len(hops),
            "hop_probabilities": probs, "success_probability": success, "rate_closed_form_hz": success / op,
            "latency_s": latency, "physical_qubits_per_node": 2 * n,
            "photons_per_logical_qubit": photons / success if success > 0 else None, "sent": 0, "logical_qubits": 0}
        if success <= 0.0:
            return  # nothing ever arrives: the request ends at its deadline or the run's end
        rng = self.ctx.rng
        log_fail = math.log1p(-success) if success < 1.0 else None

        def next_qubit(t_free: float) -> None:
            """From ``t_free`` (when the source may send), the next logical qubit that arrives:
            the number sent until one does is geometric (one event per delivered qubit)."""
            k = 1 if log_fail is None else 1 + int(math.log(1.0 - rng.random()) / log_fail)
            tally["sent"] += k
            emitted = t_free + (k - 1) * op
            self.ctx.clock.call_at(emitted + latency - self.ctx.clock.now, arrive, emitted)

        def arrive(emitted: float) -> None:
            if not session.active:
                return
            tally["logical_qubits"] += 1
            next_qubit(emitted + op)
            now = self.ctx.clock.now
            if self.trace is not None:  # no herald, no swap: the logical qubit went through (one-way)
                self.trace("delivery", request=handle.id, pair=next(self.ids), nodes=[path[0], path[-1]],
                           fidelity=1.0, fidelity_estimated=1.0, latency=now - emitted)
            self.ctx.sessions.deliver(session, DeliveredPair(time=now, fidelity=1.0, fidelity_estimated=1.0,
                                                             latency=now - emitted, age=now - emitted))

        next_qubit(self.ctx.clock.now)

    def report(self, handle: Any) -> dict[str, Any]:
        return dict(self.tallies.get(handle.id, {"request": handle.id, "repeater": self.name}))
