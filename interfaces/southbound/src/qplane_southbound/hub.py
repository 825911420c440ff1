"""The controller's end of the southbound protocol: a listener that node agents connect to.

:class:`AgentHub` accepts agents, checks each ``hello`` (protocol version, then the token, then
known node, compatible qplane and plugin versions (:mod:`.versions`), operations, inventory equal
to the twin's model, no live agent already serving the node), answers ``welcome`` or ``reject``, and keeps one :class:`AgentConnection` per node.
Operations go out through :meth:`AgentConnection.call` (send, then wait for the ``result`` with
the same id).

The handshake is bounded (:mod:`.handshake` does it, on one thread), so that connections that
never become agents cannot keep an agent out:

* **deadline**: the whole hello must arrive within ``handshake_timeout`` seconds of the
  connection being accepted (not per read: trickling a byte now and then does not extend it);
  then the connection gets a ``reject`` and is closed;
* **caps**: at most ``max_pending_per_address`` connections from one remote address, and
  ``max_pending`` in all, may be waiting for their hello. A new connection is always taken: it
  displaces the oldest pending connection of its own address when that address is at its cap,
  else, when the total is at its cap, the oldest of the address that has the most. A pending
  connection is thus displaced only by newer ones from its own address, or for being the oldest
  of the busiest address; a flood from other addresses cannot keep out an agent that sends its
  hello on connecting (as ``qplane agent`` does), and the flood itself holds at most
  ``max_pending`` sockets;
* **size**: a line longer than ``MAX_MESSAGE_BYTES`` or nesting objects and arrays deeper than
  ``MAX_DEPTH`` (:mod:`.messages`) is answered with a ``reject`` (before the welcome) or an
  ``error`` (after it) and the connection closes;
* **nothing before the token**: when a token is set, a hello without the right one is
  rejected before anything else is checked, and its reject names no node, inventory or agent;
  the only thing said earlier is which protocol version this end speaks (and, to a hello that
  does not validate, which of its own fields is wrong). The controller's qplane and plugin
  versions are told only to a peer with the token.

Liveness: an agent is *lost* when its socket closes (a killed process: the kernel closes it),
when it says ``bye``, when it sends an invalid message, when it stays silent longer than
``heartbeat_timeout`` (a hung process or a dead host), or when it leaves an operation
unanswered that long. The hub then calls ``on_lost(node, reason)`` once; the digital twin turns
that into a node failure (``Simulation.set_node_state(node, False)``), which its topology
manager handles like any failed node. An agent that connects again for a lost node calls
``on_joined(node)`` (the twin repairs the node).

Threads: one accepting connections and reading every pending hello (a selector: a pending
connection costs a socket and a buffer, no thread), one reading per welcomed agent, one watching
heartbeats. No exception leaves a thread: one that is not the peer's doing is logged in one line
(logger ``qplane.southbound``) and closes that connection (a welcomed agent is then lost).
``on_lost`` and ``on_joined`` run on those threads: they must only hand the news over (the twin
queues it for its simulation thread). This module must not touch simulation state itself.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import logging
import socket
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable

from qplane.errors import QPlaneError

from .handshake import Handshakes, Pending, linger, peer_text
from .messages import (
    FROM_AGENT,
    MAX_MESSAGE_BYTES,
    Bye,
    Error,
    Heartbeat,
    Hello,
    MessageError,
    OperationQuality,
    Result,
    Versions,
    Welcome,
    decode,
    encode,
)
from .versions import incompatibility, local_versions, protocol_incompatibility

log = logging.getLogger("qplane.southbound")

#: seconds from accepting a connection to the end of its hello (``qplane serve --agent-handshake-timeout``)
HANDSHAKE_TIMEOUT_S = 5.0
#: handshakes pending at once from one remote address (``--agent-pending-per-address``)
MAX_PENDING_PER_ADDRESS = 8
#: handshakes pending at once from all addresses (``--agent-pending-max``)
MAX_PENDING = 64
#: how long sending the welcome may take (a fresh connection's send buffer takes it at once)
WELCOME_SEND_TIMEOUT_S = 2.0


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


class _LineReader:
    """Reads framed lines from a blocking socket, ``initial`` first (what the handshake read
    beyond the hello); a line longer than :data:`MAX_MESSAGE_BYTES` raises :class:`MessageError`
    without reading the rest of it."""

    def __init__(self, sock: socket.socket, initial: bytes = b""):
        self.sock = sock
        self.buf = bytearray(initial)
        self.partial = False  # the connection closed in the middle of a line

    def readline(self) -> bytes | None:
        """One line, or None when the connection has closed."""
        start = 0
        while True:
            end = self.buf.find(b"\n", start)
            if end >= 0:
                if end + 1 > MAX_MESSAGE_BYTES:
                    raise MessageError(f"message exceeds {MAX_MESSAGE_BYTES} bytes")
                line = bytes(self.buf[: end + 1])
                del self.buf[: end + 1]
                return line
            if len(self.buf) > MAX_MESSAGE_BYTES:
                raise MessageError(f"message exceeds {MAX_MESSAGE_BYTES} bytes")
            start = len(self.buf)
            chunk = self.sock.recv(65536)
            if not chunk:
                self.partial = bool(self.buf)
                return None
            self.buf += chunk


class AgentConnection:
    """One welcomed agent's connection; its reader runs on a thread of its own."""

    def __init__(self, hub: "AgentHub", sock: socket.socket, peer: Any):
        self.hub = hub
        self.sock = sock
        self.peer = peer_text(peer)
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
    def serve(self, initial: bytes = b"") -> None:
        """The reader thread, from the welcome on: every message until the connection ends.
        Whatever goes wrong ends here: the connection is closed and the agent reported lost,
        with one log line for anything that is not the agent's doing (never a traceback)."""
        try:
            self.sock.settimeout(None)
            reader = _LineReader(self.sock, initial)
            while True:
                try:
                    line = reader.readline()
                    if line is None:
                        self.fail("the agent's connection closed"
                                  + (" in the middle of a message" if reader.partial else ""))
                        return
                    self.last_seen = time.monotonic()
                    msg = decode(line, FROM_AGENT)
                except MessageError as e:
                    self.send(Error(reason=e.reason, field=e.field))
                    self.fail(f"invalid message from the agent: {e}", lingering=True)
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
        except ConnectionResetError:  # a killed agent with unread data: the kernel resets
            self.fail("the agent's connection closed (reset)")
        except OSError as e:
            self.fail(f"connection error: {e.strerror or e}")
        except Exception as e:  # a bug here, not the agent's doing: one line, and the node fails safe
            log.warning("qplane southbound: agent %s (%s): %s: %s", self.node, self.peer, type(e).__name__, e)
            self.fail(f"internal error: {type(e).__name__}: {e}")

    def fail(self, reason: str, *, lingering: bool = False) -> None:
        """The agent is gone (or unusable): close, wake waiting calls, report it once.
        ``lingering`` (the reader thread, after a last ``error``): report first, then close
        once the agent has read it (see :func:`.handshake.linger`)."""
        with self.hub._lock:
            if self.closed:
                return
            self.closed = True
            was_alive, self.alive = self.alive, False
            self.lost_reason = reason
        if lingering:
            for slot in list(self._pending.values()):
                slot[0].set()
            if was_alive:
                self.hub._lost(self, reason)
            was_alive = False
            linger(self.sock)
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
        v = h.versions if h else None
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
            # what the agent reported in its hello (None: a protocol 1.0 agent reports nothing)
            "protocol_version": v.protocol if v else ("1.0" if h else None),
            "qplane_version": v.qplane if v else None,
            "plugin_versions": dict(v.plugins) if v else None,
        }


def _same_secret(given: str | None, expected: str) -> bool:
    # digests of equal length: the comparison's time tells nothing, not even the token's length
    if not given:
        return False
    return hmac.compare_digest(hashlib.sha256(given.encode()).digest(), hashlib.sha256(expected.encode()).digest())


class AgentHub:
    """Accepts node agents for the nodes in ``nodes`` and watches their heartbeats.

    ``handshake_timeout``, ``max_pending_per_address`` and ``max_pending`` bound the connections
    that have not been welcomed yet (see the module's docstring). ``versions`` are the
    controller's: its qplane and the plugins it uses for the agents' nodes (default: this
    process's qplane, no plugins); an agent reporting incompatible ones is rejected
    (:func:`.versions.incompatibility`)."""

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
        handshake_timeout: float = HANDSHAKE_TIMEOUT_S,
        max_pending_per_address: int = MAX_PENDING_PER_ADDRESS,
        max_pending: int = MAX_PENDING,
        on_lost: Callable[[str, str], None] | None = None,
        on_joined: Callable[[str], None] | None = None,
        versions: Versions | None = None,
    ):
        if heartbeat_interval <= 0 or misses < 1:
            raise SouthboundError("the heartbeat interval must be > 0 and misses >= 1")
        if not handshake_timeout > 0 or max_pending_per_address < 1 or max_pending < 1:
            raise SouthboundError("the handshake timeout must be > 0, and the pending-handshake caps >= 1")
        self.nodes = dict(nodes)
        self.host, self.port = host, port
        self.heartbeat_interval = heartbeat_interval
        self.heartbeat_timeout = heartbeat_interval * misses
        self.rpc_timeout = rpc_timeout if rpc_timeout is not None else self.heartbeat_timeout
        self.token = token
        self.handshake_timeout = handshake_timeout
        self.max_pending_per_address = max_pending_per_address
        self.max_pending = max_pending
        self.on_lost = on_lost
        self.on_joined = on_joined
        self.versions = versions if versions is not None else local_versions(plugins={})
        self._lock = threading.RLock()
        self._live: dict[str, AgentConnection] = {}
        self._last: dict[str, AgentConnection] = {}  # the latest connection of each node, live or not
        self._conns: set[AgentConnection] = set()
        self._joined = threading.Condition(self._lock)
        self.events: list[HubEvent] = []
        self._closing = False
        self._sock: socket.socket | None = None
        self._threads: list[threading.Thread] = []
        self._handshakes: Handshakes | None = None  # the pending connections (the handshake thread's)

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
        sock.listen(128)
        self._sock = sock
        self.port = sock.getsockname()[1]
        self._handshakes = Handshakes(
            sock, timeout=self.handshake_timeout, per_address=self.max_pending_per_address, total=self.max_pending,
            on_hello=self._hello, record=lambda node, reason: self._record(node or "?", "rejected", reason))
        handshakes = self._handshakes
        for target, name in ((lambda: handshakes.run(lambda: self._closing), "handshakes"),
                             (self._watch_heartbeats, "heartbeats")):
            t = threading.Thread(target=target, name=f"qplane-southbound-{name}", daemon=True)
            t.start()
            self._threads.append(t)
        return self

    @property
    def address(self) -> tuple[str, int]:
        return self.host, self.port

    @property
    def pending(self) -> int:
        """Connections whose handshake is pending (rejected ones still closing included)."""
        return len(self._handshakes) if self._handshakes is not None else 0

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
        for t in self._threads:
            t.join(timeout=2.0)
        if self._sock is not None:
            self._sock.close()  # (the handshake thread has closed it, unless it did not stop)

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

    # internals: the handshake thread ------------------------------------------------------------
    def _record(self, node: str, event: str, reason: str = "") -> None:
        with self._lock:
            self.events.append(HubEvent(node, event, time.time(), reason))
            del self.events[:-1000]

    def _hello(self, p: Pending, line: bytes, rest: bytes) -> None:
        """A pending connection's first line (on the handshake thread): welcome or reject."""
        assert self._handshakes is not None
        refuse = self._handshakes.refuse
        try:
            hello = decode(line, FROM_AGENT)
        except MessageError as e:
            refuse(p, f"invalid hello: {e}")
            return
        if not isinstance(hello, Hello):
            refuse(p, f"the first message must be a hello, not {hello.type}")
            return
        problem = self._check(hello)
        if problem is not None:
            refuse(p, problem, node=hello.node)
            return
        conn = AgentConnection(self, p.sock, p.peer)
        spec = self.nodes[hello.node]
        welcome = Welcome(node=hello.node, heartbeat_interval_s=self.heartbeat_interval,
                          heartbeat_timeout_s=self.heartbeat_timeout, memories=spec.memories,
                          operations=spec.operations)
        broke: OSError | None = None
        with conn._send_lock:  # no operation overtakes the welcome
            problem, rejoined = self._admit(conn, hello)
            if problem is not None:
                refuse(p, problem, node=hello.node)
                return
            sock = self._handshakes.take(p)  # the connection is the agent's now, no longer pending
            try:
                sock.settimeout(WELCOME_SEND_TIMEOUT_S)
                sock.sendall(encode(welcome))
            except OSError as e:
                broke = e
        if broke is not None:
            conn.fail(f"connection to the agent broke: {broke.strerror or broke}")
            return
        threading.Thread(target=self._serve, args=(conn, rest), name="qplane-southbound-agent", daemon=True).start()
        if rejoined and self.on_joined is not None:
            try:
                self.on_joined(hello.node)
            except Exception as e:
                log.warning("qplane southbound: on_joined(%s): %s: %s", hello.node, type(e).__name__, e)

    def _check(self, hello: Hello) -> str | None:
        """Why ``hello`` cannot be welcomed, whatever else is connected (None: it can). The
        token comes first: a peer without it learns nothing about the nodes (only the protocol
        version, which the framing tells anyway)."""
        if hello.versions is not None:
            protocol = protocol_incompatibility(hello.versions.protocol, self.versions.protocol)
            if protocol is not None:
                return protocol
        if self.token is not None and not _same_secret(hello.token, self.token):
            return "a valid token is required (qplane agent --token)"
        node = hello.node
        spec = self.nodes.get(node)
        if spec is None:
            return f"node {node!r} is not served by agents here (agent nodes: {', '.join(self.nodes) or 'none'})"
        software = incompatibility(hello.versions, self.versions)
        if software is not None:
            return software
        missing = [op for op in ("bell_measurement", "apply_pauli", "release") if op not in hello.operations]
        if missing:
            return f"the agent must execute {', '.join(missing)}"
        if hello.memories is not None and hello.memories != spec.memories:
            theirs = ", ".join(f"{k}={v}" for k, v in sorted(hello.memories.items()))
            ours = ", ".join(f"{k}={v}" for k, v in sorted(spec.memories.items()))
            return f"inventory mismatch for {node}: the agent has {theirs}, the digital twin models {ours}"
        return None

    def _admit(self, conn: AgentConnection, hello: Hello) -> tuple[str | None, bool]:
        """Register ``conn`` as its node's live agent: (None, whether the node had an agent
        before), or (why not, False)."""
        node = hello.node
        with self._lock:
            if self._closing:
                return "the controller is shutting down", False
            if self.connection(node) is not None:
                other = self._live[node]
                return (f"node {node!r} already has a live agent "
                        f"(pid {other.hello.pid if other.hello else '?'}, {other.peer})"), False
            conn.node, conn.hello = node, hello
            conn.alive = True
            conn.last_seen = time.monotonic()
            rejoined = node in self._last
            self._live[node] = conn
            self._last[node] = conn
            self._conns.add(conn)
            self.events.append(HubEvent(node, "joined", time.time(), f"pid {hello.pid}, {conn.peer}"))
            self._joined.notify_all()
        return None, rejoined

    # internals: the other threads -----------------------------------------------------------------
    def _serve(self, conn: AgentConnection, initial: bytes) -> None:
        try:
            conn.serve(initial)
        finally:
            with self._lock:
                self._conns.discard(conn)

    def _lost(self, conn: AgentConnection, reason: str) -> None:
        node = conn.node
        assert node is not None
        with self._lock:
            if self._live.get(node) is conn:
                del self._live[node]
            self.events.append(HubEvent(node, "lost", time.time(), reason))
            closing = self._closing
        if not closing and self.on_lost is not None:
            try:
                self.on_lost(node, reason)
            except Exception as e:
                log.warning("qplane southbound: on_lost(%s): %s: %s", node, type(e).__name__, e)

    def _watch_heartbeats(self) -> None:
        step = min(self.heartbeat_interval / 2, 0.25)
        while not self._closing:
            time.sleep(step)
            try:
                now = time.monotonic()
                with self._lock:
                    live = list(self._live.values())
                for conn in live:
                    silent = now - conn.last_seen
                    if conn.alive and silent > self.heartbeat_timeout:
                        conn.fail(f"no heartbeat for {silent:.2f} s (timeout {self.heartbeat_timeout:g} s)")
            except Exception as e:
                log.warning("qplane southbound: heartbeat watch: %s: %s", type(e).__name__, e)

