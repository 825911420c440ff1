"""Node programs: an application written as one program per node.

A node program is a Python generator function ``program(node: ProgramNode)``. It operates on
its node's qubits at once, through ``node`` (measure, gates, Paulis, a Bell measurement, a
fresh qubit), and *yields* a command whenever it talks to another node or lets time pass:

* ``yield send(to, *payload)`` — a classical message to the program at node ``to``, delivered
  after the network's classical delay between the two nodes (``context.network.send``); the
  program goes on at once;
* ``payload = yield receive()`` — wait for the next message to this node (a tuple);
* ``yield wait(seconds)`` — let ``seconds`` of simulated time pass.

What a program returns is its node's result. :meth:`Runtime.launch` starts one program per
node for one delivered pair (a *run*); when every program of the run has returned, the
run's ``on_done(results)`` is called with ``{node: returned value}``, and each node's
memories are freed (``context.inventory.free``). Programs are driven by the contract's clock
(``context.clock.call_at``) and network (``context.network.send``) only.

Quantum operations are capability checked: measurement and Clifford gates need the backend's
``clifford-gates`` or ``gates`` capability, other gates (``RY:0.3`` ...) need ``gates``; a
missing one raises :func:`qplane.backend.capability_error`, naming the backends that have it.
:func:`require_measurement` does the check when an application is built, so that a scenario
that cannot work ends before the run.

A memory is freed as soon as its qubit is measured, and the others when the program ends. A
run that cannot finish is *abandoned*: its programs are closed, what they hold is freed and
it is counted in ``Runtime.abandoned`` (by the ``key`` given to :meth:`Runtime.launch`),
never in an application's figures. That happens when a qubit it holds is taken back (the
request completed or was preempted while a message was in flight: ending a request frees its
memories; or the node failed), and, through :meth:`Runtime.close`, to every run still waiting
when the simulation stops.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Generator, Iterable

from qplane.backend import Capability, capability_error
from qplane.context import Context

#: gates every measuring backend applies (Clifford); any other gate needs ``gates``
CLIFFORD = frozenset({"I", "X", "Y", "Z", "H", "S", "SDG", "CNOT", "CX", "CZ", "SWAP"})
MEASURING = (Capability.GATES, Capability.CLIFFORD_GATES)


# ------------------------------------------------------------------------------ commands


@dataclass(frozen=True)
class Send:
    """Command: a classical message ``payload`` to the program at node ``to``."""

    to: str
    payload: tuple[Any, ...]


@dataclass(frozen=True)
class Receive:
    """Command: wait for the next message to this node; the program resumes with its payload."""


@dataclass(frozen=True)
class Wait:
    """Command: let ``seconds`` of simulated time pass."""

    seconds: float


def send(to: str, *payload: Any) -> Send:
    return Send(to, payload)


def receive() -> Receive:
    return Receive()


def wait(seconds: float) -> Wait:
    if not seconds >= 0.0:
        raise ValueError(f"wait(seconds) needs seconds >= 0, got {seconds!r}")
    return Wait(float(seconds))


Program = Callable[["ProgramNode"], Generator[Any, Any, Any]]


def can_measure(context: Context) -> bool:
    caps = context.backend.capabilities
    return any(c in caps for c in MEASURING)


def require_measurement(context: Context, needed_by: str) -> None:
    """Raise the capability error (one line naming ``needed_by`` and the backends that can)
    unless the run's backend can measure a qubit."""
    if not can_measure(context):
        raise capability_error(context.backend, Capability.CLIFFORD_GATES, needed_by)


def uses_gates(context: Context, asked: str, gated: str, needed_by: str) -> bool:
    """Whether an application runs its ``gated`` mode (the one that needs arbitrary gates): when
    ``asked`` for it (the capability error naming ``needed_by`` when the backend has no gates), or
    ``asked`` ``auto`` on a backend that has them."""
    gates = Capability.GATES in context.backend.capabilities
    if asked == gated and not gates:
        raise capability_error(context.backend, Capability.GATES, needed_by)
    return asked == gated or (asked == "auto" and gates)


# ------------------------------------------------------------------------- a node's view


class QubitLost(Exception):
    """A program's qubit is gone from its memory: the runtime abandons the program's run."""


class ProgramNode:
    """What a program sees of its node: its name, its qubits (``qubits[0]`` is its half of
    the delivered pair; ``qubit`` for short) and capability-checked operations on them."""

    def __init__(self, runtime: "Runtime", name: str, memories: list[Any]):
        self.runtime = runtime
        self.name = name
        self.qubits = [m.qubit for m in memories]
        #: id(qubit) -> the memory holding it, for the qubits of memories still held
        self._held: dict[int, Any] = {id(m.qubit): m for m in memories}

    @property
    def qubit(self) -> Any:
        return self.qubits[0]

    @property
    def now(self) -> float:
        return self.runtime.context.clock.now

    def _operations(self) -> Any:
        device = self.runtime.context.network.nodes[self.name].device
        return getattr(device, "operations", None)

    def _check(self, *qubits: Any) -> None:
        """Raise :class:`QubitLost` when a memory no longer holds the qubit the program had
        there (the request ended or was preempted and its memories were taken back, or the
        node failed)."""
        for q in qubits:
            m = self._held.get(id(q))
            if m is not None and m.qubit is not q:
                raise QubitLost(f"{self.name}: {m.label} lost its qubit")

    def _consumed(self, *qubits: Any) -> None:
        """``qubits`` no longer exist (measured): their memories are freed at once."""
        for q in qubits:
            m = self._held.pop(id(q), None)
            if m is not None:
                m.qubit = None
                self.runtime.context.inventory.free(m)

    def release(self) -> None:
        """Free the memories that still hold this program's qubits (its end)."""
        for m in self._held.values():
            if m.qubit is not None and any(m.qubit is q for q in self.qubits):
                self.runtime.context.inventory.free(m)
        self._held.clear()

    def _need(self, capability: Capability, what: str) -> None:
        caps = self.runtime.context.backend.capabilities
        if capability not in caps and not (capability == Capability.CLIFFORD_GATES and Capability.GATES in caps):
            raise capability_error(self.runtime.context.backend, capability,
                                   f"{self.runtime.needed_by} ({what} at {self.name})")

    def measure(self, qubit: Any, basis: str = "Z") -> int:
        """Measure ``qubit`` in ``Z``, ``X`` or ``Y`` (0: the +1 eigenstate); the qubit is gone.
        The reported bit is flipped with the node's ``measurement_error``."""
        self._need(Capability.CLIFFORD_GATES, f"measure in {basis}")
        self._check(qubit)
        bit = self.runtime.context.backend.measure(qubit, basis, self.now)
        self._consumed(qubit)
        error = float(getattr(self._operations(), "measurement_error", 0.0) or 0.0)
        if error and self.runtime.rng.random() < error:
            bit ^= 1
        return bit

    def apply(self, gate: str, *qubits: Any) -> None:
        """Apply the named gate (``H``, ``S``, ``CNOT`` ...; ``RY:0.3`` needs ``gates``)."""
        name = gate.strip().upper()
        self._need(Capability.CLIFFORD_GATES if name in CLIFFORD else Capability.GATES, f"gate {gate}")
        self._check(*qubits)
        self.runtime.context.backend.apply_gate(gate, list(qubits), self.now)

    def pauli(self, qubit: Any, pauli: int) -> None:
        """Apply Pauli ``pauli`` (0=I, 1=X, 2=Z, 3=Y): every backend can (frame corrections)."""
        self._check(qubit)
        self.runtime.context.backend.apply_pauli(qubit, pauli, self.now)

    def bell_measure(self, q1: Any, q2: Any) -> int:
        """Bell-state measurement of two of this node's qubits (every backend can), with the
        node's gate and measurement errors; returns the outcome as a Pauli index: the partner
        of ``q2`` holds what ``q1`` held once that Pauli is applied to it."""
        self._check(q1, q2)
        ops = self._operations()
        outcome = self.runtime.context.backend.bell_measure(
            q1, q2, self.now, float(getattr(ops, "gate_error", 0.0) or 0.0),
            float(getattr(ops, "measurement_error", 0.0) or 0.0))
        self._consumed(q1, q2)
        return outcome

    def fresh(self) -> Any:
        """A new qubit in ``|0>``, held by the program (not in a memory, no storage noise).

        The backends have no "new qubit" operation; every backend creates pairs, so this
        makes a perfect local pair ``Phi+``, measures one half in Z and flips the other to
        ``|0>`` when the outcome was 1. Needs a backend that measures."""
        self._need(Capability.CLIFFORD_GATES, "a fresh qubit")
        backend, now = self.runtime.context.backend, self.now
        a, b = backend.create_pair((1.0, 0.0, 0.0, 0.0), None, None, now, now)
        if backend.measure(a, "Z", now):
            backend.apply_pauli(b, 1, now)
        return b


# ---------------------------------------------------------------------------- the runtime


@dataclass(eq=False)
class _Program:
    node: ProgramNode
    gen: Generator[Any, Any, Any]
    run: "_Run"
    waiting: bool = False  # blocked on receive()
    done: bool = False


@dataclass(eq=False)
class _Run:
    """The programs started for one pair, their mailboxes and results."""

    programs: dict[str, _Program] = field(default_factory=dict)
    mailboxes: dict[str, list[tuple[Any, ...]]] = field(default_factory=dict)
    results: dict[str, Any] = field(default_factory=dict)
    on_done: Callable[[dict[str, Any]], None] | None = None
    key: Any = None
    closed: bool = False


class Runtime:
    """Runs node programs for one application. ``needed_by`` names the application in
    capability errors (``"application 'teleport'"``); ``rng`` is its random stream."""

    def __init__(self, context: Context, needed_by: str):
        self.context = context
        self.needed_by = needed_by
        self.rng = context.rng
        self._live: set[_Run] = set()
        #: runs abandoned when the simulation stopped, by the ``key`` given to :meth:`launch`
        self.abandoned: dict[Any, int] = {}

    def launch(self, programs: dict[str, Program], memories: dict[str, Iterable[Any]],
               on_done: Callable[[dict[str, Any]], None] | None = None, key: Any = None) -> None:
        """Start ``programs`` (node name -> program), each with its node's ``memories``, in the
        order given; they run at once up to their first wait or receive."""
        run = _Run(on_done=on_done, key=key)
        for name, program in programs.items():
            node = ProgramNode(self, name, list(memories.get(name, ())))
            run.mailboxes[name] = []
            run.programs[name] = _Program(node, program(node), run)
        self._live.add(run)
        for p in list(run.programs.values()):
            self._advance(p, None)

    def _advance(self, p: _Program, value: Any) -> None:
        """Resume ``p`` with ``value`` and carry out its commands until it blocks or returns."""
        if p.run.closed or p.done:
            return
        while True:
            try:
                command = p.gen.send(value)
            except StopIteration as stop:
                self._finished(p, stop.value)
                return
            except QubitLost:
                self._abandon(p.run)
                return
            value = None
            if isinstance(command, Send):
                self._send(p, command)
            elif isinstance(command, Wait):
                self.context.clock.call_at(command.seconds, self._advance, p, None)
                return
            elif isinstance(command, Receive):
                box = p.run.mailboxes[p.node.name]
                if not box:
                    p.waiting = True
                    return
                value = box.pop(0)
            else:
                raise TypeError(f"{self.needed_by}: a node program yielded {command!r}; "
                                "expected send(...), receive() or wait(...)")

    def _send(self, p: _Program, command: Send) -> None:
        if command.to not in p.run.programs:
            raise ValueError(f"{self.needed_by}: {p.node.name} sent to {command.to!r}, which runs no program")
        network = self.context.network
        instant = self.context.settings.classical_instant
        delay = 0.0 if instant else network.classical_delay(p.node.name, command.to)
        network.send(delay, self._deliver, p.run, command.to, command.payload)

    def _deliver(self, run: _Run, to: str, payload: tuple[Any, ...]) -> None:
        if run.closed:
            return
        target = run.programs[to]
        if target.waiting:
            target.waiting = False
            self._advance(target, payload)
        else:
            run.mailboxes[to].append(payload)

    def _finished(self, p: _Program, result: Any) -> None:
        p.done = True
        p.node.release()
        run = p.run
        run.results[p.node.name] = result
        if all(q.done for q in run.programs.values()):
            run.closed = True
            self._live.discard(run)
            if run.on_done is not None:
                run.on_done(run.results)

    def _abandon(self, run: _Run) -> None:
        """End ``run`` unfinished: close its programs, free what they hold, count it."""
        run.closed = True
        self._live.discard(run)
        for p in run.programs.values():
            if not p.done:
                p.done = True
                p.gen.close()
                p.node.release()
        self.abandoned[run.key] = self.abandoned.get(run.key, 0) + 1

    def close(self) -> None:
        """The simulation stopped: abandon every unfinished run, freeing its memories."""
        for run in list(self._live):
            self._abandon(run)
