"""The controller's end of the southbound protocol: a listener that node agents connect to.

:class:`AgentHub` accepts agents, checks each ``hello`` (known node, protocol version, token,
no live agent already serving the node, inventory equal to the twin's model), answers
``welcome`` or ``reject``, and keeps one :class:`AgentConnection` per node. Operations go out
through :meth:`AgentConnection.call` (send, then wait for the ``result`` with the same id).

Liveness: an agent is *lost* when its socket closes (a killed process: the kernel closes it),
when it says ``bye``, when it sends an invalid message, when it stays silent longer than
``heartbeat_timeout`` (a hung process or a dead host), or when it leaves an operation
unanswered that long. The hub then calls ``on_lost(node, reason)`` once; the digital twin turns
that into a node failure (``Simulation.set_node_state(node, False)``), which its topology
manager handles like any failed node. An agent that connects again for a lost node calls
``on_joined(node)`` (the twin repairs the node).

Threads: one accepting, one reading per connection, one watching heartbeats. ``on_lost`` and
``on_joined`` run on those threads: they must only hand the news over (the twin queues it for
its simulation thread). This module must not touch simulation state itself.
"""

from __future__ import annotations

import hmac
import itertools
import socket
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable

from qplane.errors import QPlaneError

from .messages import (
    FROM_AGENT,
    MAX_MESSAGE_BYTES,
    Bye,
    Error,
    Heartbeat,
    Hello,
    MessageError,
    OperationQuality,
    Reject,
    Result,
    Welcome,
    decode,
    encode,
)


class SouthboundError(QPlaneError):
    """The southbound side cannot do what was asked (agents missing, a bad address, ...)."""


@dataclass(frozen=True)
class NodeSpec:
    """What the digital twin models of a node: its inventory and its operation quality."""

    memories: dict[str, int]
    operations: OperationQuality


@dataclass
class HubEvent:
    node: str
    event: str  # joined | lost | rejected
    wall_time: float
    reason: str = ""


class AgentConnection:
    """One agent's connection; its reader runs on a thread of its own."""

    def __init__(self, hub: "AgentHub", sock: socket.socket, peer: Any):
        self.hub = hub
        self.sock = sock
        self.peer = f"{peer[0]}:{peer[1]}" if isinstance(peer, tuple) else str(peer)
        self.node: str | None = None
        self.hello: Hello | None = None
        self.alive = False  # welcomed and not lost
        self.closed = False
        self.lost_reason: str | None = None
        self.connected_at = time.time()
        self.last_seen = time.monotonic()
        self.heartbeats = 0
        self.operations = 0
        self.refused = 0
        self.rpc_seconds = 0.0
        self.agent_seconds = 0.0
        self.errors_received: list[str] = []
        self._send_lock = threading.Lock()
        self._pending: dict[int, list[Any]] = {}  # id -> [threading.Event, Result | None]
        self._ids = itertools.count(1)

    # sending ------------------------------------------------------------------------------
    def send(self, message: Any) -> bool:
        data = encode(message)
        try:
            with self._send_lock:
                self.sock.sendall(data)
            return True
        except OSError as e:
            self.fail(f"connection to the agent broke: {e.strerror or e}")
            return False

    def call(self, make: Callable[[int], Any], timeout: float) -> Result | None:
        """Send the operation ``make(id)`` and wait for its result; None when the agent is
        lost before it answers (it has then been reported lost)."""
        if not self.alive:
            return None
        rid = next(self._ids)
        slot: list[Any] = [threading.Event(), None]
        self._pending[rid] = slot
        message = make(rid)
        t0 = time.perf_counter()
        try:
            if not self.send(message):
                return None
            if not slot[0].wait(timeout):
                self.fail(f"no answer to {message.type} within {timeout:g} s")
                return None
        finally:
            self._pending.pop(rid, None)
        result = slot[1]
        if result is not None:
            self.operations += 1
            self.rpc_seconds += time.perf_counter() - t0
            self.agent_seconds += result.duration_s
            if not result.ok:
                self.refused += 1
        return result

    # receiving ------------------------------------------------------------------------------
    def _read(self, f: Any) -> bytes | None:
        line = f.readline(MAX_MESSAGE_BYTES + 1)
        if not line:
            return None
        if not line.endswith(b"\n"):
            raise MessageError(f"message exceeds {MAX_MESSAGE_BYTES} bytes" if len(line) > MAX_MESSAGE_BYTES
                               else "connection closed in the middle of a message")
        return line

    def serve(self) -> None:
        """The reader thread: handshake, then every message until the connection ends."""
        try:
            f = self.sock.makefile("rb")
            self.sock.settimeout(self.hub.handshake_timeout)
            try:
                line = self._read(f)
            except socket.timeout:
                self._refuse(f"no hello within {self.hub.handshake_timeout:g} s")
                return
            if line is None:
                self._close()
                return
            try:
                hello = decode(line, FROM_AGENT)
            except MessageError as e:
                self._refuse(f"invalid hello: {e}")
                return
            if not isinstance(hello, Hello):
                self._refuse(f"the first message must be a hello, not {hello.type}")
                return
            problem = self.hub._admit(self, hello)
            if problem is not None:
                self._refuse(problem, node=hello.node)
                return
            self.sock.settimeout(None)
            while True:
                line = self._read(f)
                if line is None:
                    self.fail("the agent's connection closed")
                    return
                self.last_seen = time.monotonic()
                try:
                    msg = decode(line, FROM_AGENT)
                except MessageError as e:
                    self.send(Error(reason=e.reason, field=e.field))
                    self.fail(f"invalid message from the agent: {e}")
                    return
                if isinstance(msg, Heartbeat):
                    self.heartbeats += 1
                elif isinstance(msg, Result):
                    slot = self._pending.get(msg.id)
                    if slot is not None:  # else: an answer that came after its timeout
                        slot[1] = msg
                        slot[0].set()
                elif isinstance(msg, Bye):
                    self.fail(f"the agent left: {msg.reason or 'bye'}")
                    return
                elif isinstance(msg, Error):
                    self.errors_received.append(f"{msg.field}: {msg.reason}" if msg.field else msg.reason)
                    del self.errors_received[:-20]
                else:  # a second hello
                    self.send(Error(reason="already welcomed", field="type"))
        except MessageError as e:
            self.fail(str(e))
        except ConnectionResetError:  # a killed agent with unread data: the kernel resets
            self.fail("the agent's connection closed (reset)")
        except OSError as e:
            self.fail(f"connection error: {e.strerror or e}")

    def _refuse(self, reason: str, node: str | None = None) -> None:
        self.hub._record(node or "?", "rejected", reason)
        self.send(Reject(reason=reason))
        self._close()

    def _close(self) -> None:
        self.closed = True
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()

    def fail(self, reason: str) -> None:
        """The agent is gone (or unusable): close, wake waiting calls, report it once."""
        with self.hub._lock:
            if self.closed:
                return
            self.closed = True
            was_alive, self.alive = self.alive, False
            self.lost_reason = reason
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()
        for slot in list(self._pending.values()):
            slot[0].set()
        if was_alive:
            self.hub._lost(self, reason)

    def status(self) -> dict[str, Any]:
        h = self.hello
        return {
            "node": self.node,
            "state": "connected" if self.alive else "lost",
            "agent": h.agent if h else None,
            "pid": h.pid if h else None,
            "peer": self.peer,
            "connected_at": self.connected_at,
            "last_seen_s_ago": max(0.0, time.monotonic() - self.last_seen),
            "heartbeats": self.heartbeats,
            "operations": self.operations,
            "refused": self.refused,
            "rpc_mean_ms": (1e3 * self.rpc_seconds / self.operations) if self.operations else None,
            "lost_reason": self.lost_reason,
        }


class AgentHub:
    """Accepts node agents for the nodes in ``nodes`` and watches their heartbeats."""

    handshake_timeout = 10.0
    max_connections = 256

    def __init__(
        self,
        nodes: dict[str, NodeSpec],
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        heartbeat_interval: float = 0.5,
        misses: int = 3,
        token: str | None = None,
        rpc_timeout: float | None = None,
        on_lost: Callable[[str, str], None] | None = None,
        on_joined: Callable[[str], None] | None = None,
    ):
        if heartbeat_interval <= 0 or misses < 1:
            raise SouthboundError("the heartbeat interval must be > 0 and misses >= 1")
        self.nodes = dict(nodes)
        self.host, self.port = host, port
        self.heartbeat_interval = heartbeat_interval
        self.heartbeat_timeout = heartbeat_interval * misses
        self.rpc_timeout = rpc_timeout if rpc_timeout is not None else self.heartbeat_timeout
        self.token = token
        self.on_lost = on_lost
        self.on_joined = on_joined
        self._lock = threading.RLock()
        self._live: dict[str, AgentConnection] = {}
        self._last: dict[str, AgentConnection] = {}  # the latest connection of each node, live or not
        self._conns: set[AgentConnection] = set()
        self._joined = threading.Condition(self._lock)
        self.events: list[HubEvent] = []
        self._closing = False
        self._sock: socket.socket | None = None
        self._threads: list[threading.Thread] = []

    # life cycle ---------------------------------------------------------------------------
    def start(self) -> "AgentHub":
        try:
            infos = socket.getaddrinfo(self.host, self.port, type=socket.SOCK_STREAM)
            family, _, _, _, addr = infos[0]
            sock = socket.socket(family, socket.SOCK_STREAM)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind(addr)
        except OSError as e:
            raise SouthboundError(f"cannot listen for agents on {self.host}:{self.port}: {e.strerror or e}") from e
        sock.listen(64)
        sock.settimeout(0.2)
        self._sock = sock
        self.port = sock.getsockname()[1]
        for target, name in ((self._accept_loop, "accept"), (self._watch_heartbeats, "heartbeats")):
            t = threading.Thread(target=target, name=f"qplane-southbound-{name}", daemon=True)
            t.start()
            self._threads.append(t)
        return self

    @property
    def address(self) -> tuple[str, int]:
        return self.host, self.port

    def close(self, reason: str = "the controller is shutting down") -> None:
        """Say ``bye`` to every agent and stop; no loss is reported from here on."""
        with self._lock:
            self._closing = True
            live = list(self._live.values())
            conns = list(self._conns)
        for conn in live:
            conn.send(Bye(reason=reason))
        for conn in conns:
            conn.fail(reason)
        if self._sock is not None:
            self._sock.close()
        for t in self._threads:
            t.join(timeout=2.0)

    # queries --------------------------------------------------------------------------------
    def connection(self, node: str) -> AgentConnection | None:
        conn = self._live.get(node)
        return conn if conn is not None and conn.alive else None

    def wait_for(self, nodes: list[str] | None = None, timeout: float = 30.0) -> list[str]:
        """Wait until every node in ``nodes`` (default: all) has a live agent; returns the
        nodes still missing when ``timeout`` seconds have passed (empty: all there)."""
        wanted = list(nodes if nodes is not None else self.nodes)
        deadline = time.monotonic() + timeout
        with self._joined:
            while True:
                missing = [n for n in wanted if self.connection(n) is None]
                left = deadline - time.monotonic()
                if not missing or left <= 0:
                    return missing
                self._joined.wait(min(left, 0.2))

    def status(self) -> list[dict[str, Any]]:
        out = []
        with self._lock:
            for node in self.nodes:
                conn = self._last.get(node)
                out.append(conn.status() if conn is not None else {"node": node, "state": "waiting"})
        return out

    # internals --------------------------------------------------------------------------------
    def _record(self, node: str, event: str, reason: str = "") -> None:
        with self._lock:
            self.events.append(HubEvent(node, event, time.time(), reason))
            del self.events[:-1000]

    def _accept_loop(self) -> None:
        assert self._sock is not None
        while not self._closing:
            try:
                sock, peer = self._sock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            with self._lock:
                if self._closing or len(self._conns) >= self.max_connections:
                    sock.close()
                    continue
                conn = AgentConnection(self, sock, peer)
                self._conns.add(conn)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            threading.Thread(target=self._serve, args=(conn,), name="qplane-southbound-agent", daemon=True).start()

    def _serve(self, conn: AgentConnection) -> None:
        try:
            conn.serve()
        finally:
            with self._lock:
                self._conns.discard(conn)

    def _admit(self, conn: AgentConnection, hello: Hello) -> str | None:
        """None when ``hello`` is accepted (the welcome is sent), else why not."""
        node = hello.node
        spec = self.nodes.get(node)
        if spec is None:
            return f"node {node!r} is not served by agents here (agent nodes: {', '.join(self.nodes) or 'none'})"
        if self.token is not None and not (hello.token and hmac.compare_digest(hello.token.encode(), self.token.encode())):
            return "a valid token is required (qplane agent --token)"
        missing = [op for op in ("bell_measurement", "apply_pauli", "release") if op not in hello.operations]
        if missing:
            return f"the agent must execute {', '.join(missing)}"
        if hello.memories is not None and hello.memories != spec.memories:
            theirs = ", ".join(f"{k}={v}" for k, v in sorted(hello.memories.items()))
            ours = ", ".join(f"{k}={v}" for k, v in sorted(spec.memories.items()))
            return f"inventory mismatch for {node}: the agent has {theirs}, the digital twin models {ours}"
        with self._lock:
            if self._closing:
                return "the controller is shutting down"
            if self.connection(node) is not None:
                other = self._live[node]
                return f"node {node!r} already has a live agent (pid {other.hello.pid if other.hello else '?'}, {other.peer})"
            conn.node, conn.hello = node, hello
            conn.alive = True
            conn.last_seen = time.monotonic()
            rejoined = node in self._last
            self._live[node] = conn
            self._last[node] = conn
            self.events.append(HubEvent(node, "joined", time.time(), f"pid {hello.pid}, {conn.peer}"))
            self._joined.notify_all()
        conn.send(Welcome(node=node, heartbeat_interval_s=self.heartbeat_interval,
                          heartbeat_timeout_s=self.heartbeat_timeout, memories=spec.memories,
                          operations=spec.operations))
        if rejoined and self.on_joined is not None:
            self.on_joined(node)
        return None

    def _lost(self, conn: AgentConnection, reason: str) -> None:
        node = conn.node
        assert node is not None
        with self._lock:
            if self._live.get(node) is conn:
                del self._live[node]
            self.events.append(HubEvent(node, "lost", time.time(), reason))
            closing = self._closing
        if not closing and self.on_lost is not None:
            self.on_lost(node, reason)

    def _watch_heartbeats(self) -> None:
        step = min(self.heartbeat_interval / 2, 0.25)
        while not self._closing:
            time.sleep(step)
            now = time.monotonic()
            with self._lock:
                live = list(self._live.values())
            for conn in live:
                silent = now - conn.last_seen
                if conn.alive and silent > self.heartbeat_timeout:
                    conn.fail(f"no heartbeat for {silent:.2f} s (timeout {self.heartbeat_timeout:g} s)")
