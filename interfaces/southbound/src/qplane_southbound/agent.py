"""The node agent: one process per node, exposing that node's device to the controller.

``qplane agent --node n1 --connect 127.0.0.1:7700`` connects to the controller's southbound
listener (retrying until ``--connect-timeout``), introduces itself with ``hello``, sends a
heartbeat every interval the controller's ``welcome`` sets, and executes the operations it
receives (Bell-state measurement, Pauli correction, release) on its inventory: every memory it
is asked to use must exist there, or the operation is refused with a reason. ``--memory
NEIGHBOR=COUNT`` declares the node's own inventory, which the controller checks against its
digital twin; without it the agent takes the twin's. ``--op-latency`` makes every operation take
that many wall seconds (a slow device). The hello reports the agent's software versions
(protocol, qplane, installed qplane plugins: :mod:`.versions`); a controller for which they are
incompatible rejects the agent, which prints the reason in one line and exits with 2.

Exit codes: 0 after the controller's ``bye`` or a SIGTERM/SIGINT (the agent says ``bye``);
1 when the connection is lost; 2 when the controller rejects the agent or cannot be reached.

This module only speaks the protocol; the physics is the controller's digital twin's.
"""

from __future__ import annotations

import os
import signal
import socket
import sys
import threading
import time
from dataclasses import dataclass
from typing import Any, TextIO

from .messages import (
    FROM_CONTROLLER,
    MAX_MESSAGE_BYTES,
    ApplyPauli,
    BellMeasurement,
    Bye,
    Error,
    Heartbeat,
    Hello,
    MemoryRef,
    MessageError,
    Reject,
    Release,
    Result,
    Versions,
    Welcome,
    decode,
    encode,
)
from .versions import local_versions

EXIT_BYE, EXIT_LOST, EXIT_REJECTED = 0, 1, 2


@dataclass
class MemorySlot:
    """One memory of the agent's inventory and what was done with it."""

    neighbor: str
    index: int
    operations: int = 0
    last_operation: str | None = None
    last_sim_time_s: float | None = None


class NodeAgent:
    """The agent of node ``node``, connecting to the controller at ``address``."""

    def __init__(
        self,
        node: str,
        address: tuple[str, int],
        *,
        memories: dict[str, int] | None = None,
        token: str | None = None,
        name: str = "qplane-agent",
        connect_timeout: float = 10.0,
        op_latency: float = 0.0,
        log: TextIO | None = None,
        versions: Versions | None = None,
    ):
        self.node = node
        self.address = address
        self.memories = memories
        self.token = token
        self.name = name
        self.connect_timeout = connect_timeout
        self.op_latency = op_latency
        self.log = log if log is not None else sys.stderr
        #: reported in the hello (default: this process's protocol, qplane and plugin versions)
        self.versions = versions if versions is not None else local_versions()
        self.inventory: dict[str, list[MemorySlot]] = {}
        self.welcome: Welcome | None = None
        self.executed = 0
        self.refused = 0
        self._sock: socket.socket | None = None
        self._send_lock = threading.Lock()
        self._stop = threading.Event()
        self._stopping_reason: str | None = None

    def _say(self, text: str) -> None:
        print(f"qplane agent {self.node}: {text}", file=self.log, flush=True)

    def _send(self, message: Any) -> bool:
        if self._sock is None:
            return False
        try:
            with self._send_lock:
                self._sock.sendall(encode(message))
            return True
        except OSError:
            return False

    def _connect(self) -> socket.socket | None:
        deadline = time.monotonic() + self.connect_timeout
        last: OSError | None = None
        while True:
            try:
                sock = socket.create_connection(self.address, timeout=5.0)
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                return sock
            except OSError as e:
                last = e
            if time.monotonic() >= deadline:
                self._say(f"cannot reach the controller at {self.address[0]}:{self.address[1]}: {last}")
                return None
            time.sleep(0.1)

    def stop(self, reason: str) -> None:
        """Leave in an orderly way (from a signal handler or another thread)."""
        self._stopping_reason = reason
        self._stop.set()
        self._send(Bye(reason=reason))
        if self._sock is not None:
            try:
                self._sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    # ------------------------------------------------------------------------------ running
    def run(self) -> int:
        sock = self._connect()
        if sock is None:
            return EXIT_REJECTED
        self._sock = sock
        try:
            return self._converse(sock)
        finally:
            self._stop.set()
            sock.close()

    def _converse(self, sock: socket.socket) -> int:
        f = sock.makefile("rb")
        self._send(Hello(node=self.node, agent=self.name, pid=os.getpid(), memories=self.memories, token=self.token,
                         versions=self.versions))
        sock.settimeout(30.0)
        try:
            first = self._read(f)
        except (OSError, MessageError) as e:
            self._say(f"no welcome from the controller: {e}")
            return EXIT_LOST
        if first is None:
            if self._stopping_reason is not None:
                self._say(f"left before the welcome: {self._stopping_reason}")
                return EXIT_BYE
            self._say("the controller closed the connection before welcoming the agent")
            return EXIT_LOST
        if isinstance(first, Reject):
            self._say(f"rejected by the controller: {first.reason}")
            return EXIT_REJECTED
        if not isinstance(first, Welcome):
            self._say(f"expected a welcome, got {first.type}")
            return EXIT_LOST
        self.welcome = first
        self.inventory = {nbr: [MemorySlot(nbr, i) for i in range(n)] for nbr, n in first.memories.items()}
        sock.settimeout(None)
        self._say(f"welcomed by {self.address[0]}:{self.address[1]}: "
                  f"{sum(first.memories.values())} memories toward {', '.join(first.memories) or 'no neighbour'}, "
                  f"heartbeat every {first.heartbeat_interval_s:g} s")
        threading.Thread(target=self._heartbeats, args=(first.heartbeat_interval_s,), daemon=True).start()
        while True:
            try:
                msg = self._read(f)
            except MessageError as e:
                self._send(Error(reason=e.reason, field=e.field))
                continue
            except OSError as e:
                msg = None
                if not self._stop.is_set():
                    self._say(f"connection error: {e}")
            if msg is None:
                if self._stopping_reason is not None:
                    self._say(f"left: {self._stopping_reason} ({self.executed} operations executed)")
                    return EXIT_BYE
                self._say("lost the controller")
                return EXIT_LOST
            if isinstance(msg, Bye):
                self._say(f"the controller said goodbye: {msg.reason} ({self.executed} operations executed)")
                return EXIT_BYE
            if isinstance(msg, (BellMeasurement, ApplyPauli, Release)):
                self._send(self.execute(msg))
            elif isinstance(msg, Error):
                self._say(f"the controller could not accept a message: {msg.field or ''} {msg.reason}".strip())
            else:
                self._send(Error(reason=f"unexpected {msg.type} after the welcome", field="type"))

    def _read(self, f: Any) -> Any:
        line = f.readline(MAX_MESSAGE_BYTES + 1)
        if not line:
            return None
        if not line.endswith(b"\n"):
            raise MessageError(f"message exceeds {MAX_MESSAGE_BYTES} bytes")
        return decode(line, FROM_CONTROLLER)

    def _heartbeats(self, interval: float) -> None:
        seq = 0
        while not self._stop.wait(interval):
            if not self._send(Heartbeat(seq=seq)):
                return
            seq += 1

    # ------------------------------------------------------------------------------ operations
    def _slot(self, ref: MemoryRef) -> MemorySlot:
        slots = self.inventory.get(ref.neighbor)
        if slots is None:
            raise LookupError(f"{self.node} has no memories toward {ref.neighbor!r} "
                              f"(toward: {', '.join(self.inventory) or 'none'})")
        if ref.index >= len(slots):
            raise LookupError(f"{self.node} has {len(slots)} memor{'ies' if len(slots) != 1 else 'y'} toward {ref.neighbor}, no index {ref.index}")
        return slots[ref.index]

    def execute(self, op: BellMeasurement | ApplyPauli | Release) -> Result:
        """Check the memories the operation names against the inventory and execute it."""
        t0 = time.perf_counter()
        refs = list(op.memories) if isinstance(op, BellMeasurement) else [op.memory]
        try:
            slots = [self._slot(r) for r in refs]
            if len(slots) == 2 and slots[0] is slots[1]:
                raise LookupError("a Bell-state measurement needs two different memories")
        except LookupError as e:
            self.refused += 1
            return Result(id=op.id, ok=False, duration_s=time.perf_counter() - t0, error=str(e))
        if self.op_latency:
            time.sleep(self.op_latency)
        for s in slots:
            s.operations += 1
            s.last_operation = op.type
            s.last_sim_time_s = op.sim_time_s
        self.executed += 1
        return Result(id=op.id, ok=True, duration_s=time.perf_counter() - t0)


# ---------------------------------------------------------------------------------- the command


def parse_address(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"expected HOST:PORT, e.g. 127.0.0.1:7700 (got {text!r})")
    return host.strip("[]"), int(port)


def _parse_memories(items: list[str]) -> dict[str, int] | None:
    if not items:
        return None
    out: dict[str, int] = {}
    for item in items:
        nbr, sep, count = item.partition("=")
        if not sep or not nbr or not count.isdigit() or int(count) < 1:
            raise ValueError(f"--memory takes NEIGHBOR=COUNT with COUNT >= 1 (got {item!r})")
        out[nbr] = int(count)
    return out


def add_agent_command(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "agent", help="run a node agent: expose one node's device to a controller (qplane serve --agents)")
    p.add_argument("--node", required=True, help="the node this agent is the device of")
    p.add_argument("--connect", required=True, metavar="HOST:PORT", help="the controller's southbound address")
    p.add_argument("--memory", action="append", default=[], metavar="NEIGHBOR=COUNT",
                   help="the node's inventory toward one neighbour (repeatable; default: the controller's model)")
    p.add_argument("--token", default=os.environ.get("QPLANE_AGENT_TOKEN"),
                   help="shared secret the controller requires (default: $QPLANE_AGENT_TOKEN)")
    p.add_argument("--name", default="qplane-agent", help="agent name reported to the controller")
    p.add_argument("--connect-timeout", type=float, default=10.0, metavar="S",
                   help="keep trying to reach the controller this long (default 10 s)")
    p.add_argument("--op-latency", type=float, default=0.0, metavar="S",
                   help="wall seconds every operation takes (emulates a slow device; default 0)")
    p.set_defaults(func=cmd_agent)


def cmd_agent(args: Any) -> int:
    from qplane.errors import QPlaneError

    try:
        address = parse_address(args.connect)
        memories = _parse_memories(args.memory)
    except ValueError as e:
        raise QPlaneError(str(e)) from None
    if args.op_latency < 0 or args.connect_timeout < 0:
        raise QPlaneError("--op-latency and --connect-timeout must be >= 0")
    agent = NodeAgent(args.node, address, memories=memories, token=args.token, name=args.name,
                      connect_timeout=args.connect_timeout, op_latency=args.op_latency)

    def leave(signum: int, _frame: Any) -> None:
        agent.stop(signal.Signals(signum).name)

    signal.signal(signal.SIGTERM, leave)
    signal.signal(signal.SIGINT, leave)
    return agent.run()


def main(argv: list[str] | None = None) -> int:  # python -m qplane_southbound.agent (no plugin loading)
    import argparse

    parser = argparse.ArgumentParser(prog="qplane-agent")
    add_agent_command(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["agent", *(sys.argv[1:] if argv is None else argv)])
    try:
        return args.func(args)
    except Exception as e:
        print(f"qplane agent: error: {e}", file=sys.stderr)
        return EXIT_REJECTED


if __name__ == "__main__":
    sys.exit(main())
