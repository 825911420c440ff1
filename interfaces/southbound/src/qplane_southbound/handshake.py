"""Connections to the agent port that have not said hello yet, and the bounds they are held to.

:class:`Handshakes` runs on one thread (the hub's handshake thread) over a selector: it accepts
connections, reads each one's first line without blocking, and hands every complete line to
``on_hello(pending, line, rest)``, which either rejects the connection (:meth:`Handshakes.refuse`)
or takes it over (:meth:`Handshakes.take`). A pending connection costs a socket and a buffer, no
thread. The bounds:

* **deadline**: the first line must be complete within ``timeout`` seconds of the connection
  being accepted, counted once (trickling a byte now and then does not extend it); then the
  connection is rejected;
* **per address**: at most ``per_address`` pending connections from one remote address (the
  peer's IP address as the socket reports it); a new one from an address at its cap displaces
  that address's oldest;
* **in all**: at most ``total`` pending connections; a new one when the total is at its cap
  displaces the oldest pending connection of the address that has the most (rejected
  connections still closing go first, in both cases).

A new connection is thus never refused: a flood only ever displaces its own connections (or
those of the busiest address), and a connection whose first line has arrived is read before any
connection accepted after it can displace it.

* **size**: a first line longer than :data:`MAX_MESSAGE_BYTES` is rejected as soon as that many
  bytes have come without a newline.

A rejected connection gets the protocol's ``reject`` (sent without blocking), its sending side
is shut, and what the peer still sends is read and dropped until the peer closes or
:data:`LINGER_S` passes; then it is closed (closing with unread data would reset the connection
and could destroy the reject before the peer reads it).

This module does not know what a hello must contain (the hub checks it); it never blocks and
lets no exception out of its thread: one that is not the peer's doing is logged in one line
(logger ``qplane.southbound``) and closes that connection.
"""

from __future__ import annotations

import logging
import selectors
import socket
import time
from typing import Any, Callable

from .messages import MAX_MESSAGE_BYTES, Reject, encode

log = logging.getLogger("qplane.southbound")

#: how long a rejected connection is read (and what it sends dropped) before it is closed
LINGER_S = 1.0
#: how many connections are accepted in a row before the pending ones are read again
ACCEPT_BATCH = 16


def peer_text(peer: Any) -> str:
    return f"{peer[0]}:{peer[1]}" if isinstance(peer, tuple) else str(peer)


def send_now(sock: socket.socket, message: Any) -> None:
    """Best effort, never blocking: a reject to a pending connection (its send buffer is empty:
    nothing was sent on it before)."""
    try:
        sock.send(encode(message), getattr(socket, "MSG_DONTWAIT", 0))
    except OSError:
        pass


def linger(sock: socket.socket) -> None:
    """After a last message on a blocking socket whose peer may still be sending: shut our
    sending side, and read (and drop) what still comes for up to :data:`LINGER_S`."""
    try:
        sock.shutdown(socket.SHUT_WR)
        deadline = time.monotonic() + LINGER_S
        dropped = 0
        while dropped < 4 * MAX_MESSAGE_BYTES:
            left = deadline - time.monotonic()
            if left <= 0:
                return
            sock.settimeout(left)
            chunk = sock.recv(65536)
            if not chunk:
                return
            dropped += len(chunk)
    except OSError:
        pass


class Pending:
    """A connection whose first line has not come yet."""

    __slots__ = ("sock", "peer", "address", "accepted", "deadline", "buf", "rejected", "discarded")

    def __init__(self, sock: socket.socket, peer: Any, now: float, deadline: float):
        self.sock = sock
        self.address = str(peer[0]) if isinstance(peer, tuple) else str(peer)
        self.peer = peer_text(peer)
        self.accepted = now
        self.deadline = deadline
        self.buf = bytearray()
        self.rejected = False  # the reject is sent: what still comes is dropped until it closes
        self.discarded = 0


class Handshakes:
    """The pending connections of one listening socket (see the module's docstring)."""

    def __init__(self, listener: socket.socket, *, timeout: float, per_address: int, total: int,
                 on_hello: Callable[[Pending, bytes, bytes], None],
                 record: Callable[[str | None, str], None]):
        self.listener = listener
        self.timeout = timeout
        self.per_address = per_address
        self.total = total
        self.on_hello = on_hello
        self.record = record  # told every rejection: the node the peer named (None: none yet), why
        self._sel = selectors.DefaultSelector()
        self._pending: dict[Pending, None] = {}  # in the order they came
        self._by_address: dict[str, list[Pending]] = {}
        self._trouble_logged = 0.0

    def __len__(self) -> int:
        return len(self._pending)

    def run(self, stopping: Callable[[], bool]) -> None:
        """Serve until ``stopping()``; then close every pending connection and the listener."""
        self.listener.setblocking(False)
        self._sel.register(self.listener, selectors.EVENT_READ, None)
        try:
            while not stopping():
                now = time.monotonic()
                wait = min([0.2] + [p.deadline - now for p in self._pending])
                ready = self._sel.select(max(0.0, wait))
                # the lines that have come first, then new connections: a connection whose first
                # line is here is never displaced by connections accepted after it
                for key, _ in sorted(ready, key=lambda r: r[0].data is None):
                    if stopping():
                        break
                    if key.data is None:
                        self._accept()
                    elif key.data in self._pending:  # (not displaced earlier in this round)
                        self._guarded(key.data, self._readable)
                now = time.monotonic()
                for p in [p for p in self._pending if p.deadline <= now]:
                    self._guarded(p, self._expired)
        except Exception as e:  # not expected: say so in one line (agents can no longer connect)
            log.error("qplane southbound: the agent listener stopped: %s: %s", type(e).__name__, e)
        finally:
            for p in list(self._pending):
                self._drop(p)
            self._sel.close()
            self.listener.close()

    def refuse(self, p: Pending, reason: str, node: str | None = None) -> None:
        """Reject ``p`` with ``reason``; it closes once its peer has closed, or after LINGER_S."""
        reason = reason if len(reason) <= 2000 else reason[:1997] + "..."
        self.record(node, reason)
        send_now(p.sock, Reject(reason=reason))
        try:
            p.sock.shutdown(socket.SHUT_WR)
        except OSError:
            self._drop(p)
            return
        p.rejected = True
        p.buf = bytearray()
        p.deadline = time.monotonic() + LINGER_S

    def take(self, p: Pending) -> socket.socket:
        """``p`` is no longer pending: its socket (still non-blocking) is the caller's now."""
        self._forget(p)
        return p.sock

    # internals ------------------------------------------------------------------------------
    def _guarded(self, p: Pending, step: Callable[[Pending], None]) -> None:
        try:
            step(p)
        except Exception as e:  # a bug, not the peer's doing: one line, and that connection closes
            log.warning("qplane southbound: connection from %s: %s: %s", p.peer, type(e).__name__, e)
            self._drop(p)

    def _accept(self) -> None:
        for _ in range(ACCEPT_BATCH):
            try:
                sock, peer = self.listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as e:  # out of descriptors or buffers: say so (at most once a second)
                if time.monotonic() - self._trouble_logged > 1.0:
                    self._trouble_logged = time.monotonic()
                    log.warning("qplane southbound: cannot accept a connection: %s", e.strerror or e)
                time.sleep(0.01)
                return
            try:
                sock.setblocking(False)
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                now = time.monotonic()
                p = Pending(sock, peer, now, now + self.timeout)
                self._make_room(p.address)
                self._pending[p] = None
                self._by_address.setdefault(p.address, []).append(p)
                self._sel.register(sock, selectors.EVENT_READ, p)
            except Exception as e:
                log.warning("qplane southbound: connection from %s: %s: %s", peer_text(peer), type(e).__name__, e)
                sock.close()

    def _make_room(self, address: str) -> None:
        """Before a new pending connection from ``address``: displace the oldest one from that
        address when it has its cap, else the oldest one of the busiest address when the total
        is at its cap (rejected connections still closing go first)."""
        mine = self._by_address.get(address, [])
        if len(mine) >= self.per_address:
            victim = next((p for p in mine if p.rejected), mine[0])
            why, cap = "too many pending handshakes from this address", f"{self.per_address} per address"
        elif len(self._pending) >= self.total:
            victim = next((p for p in self._pending if p.rejected), None) or \
                max(self._by_address.values(), key=lambda ps: (len(ps), -ps[0].accepted))[0]
            why, cap = "too many pending handshakes", f"{self.total} in all"
        else:
            return
        if not victim.rejected:
            self.record(None, f"{victim.peer}: {why} (at most {cap}): the oldest is closed")
            send_now(victim.sock, Reject(reason=f"{why}: this one, the oldest, is closed"))
        self._drop(victim)

    def _readable(self, p: Pending) -> None:
        try:
            data = p.sock.recv(65536)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""  # reset
        if not data:
            self._drop(p)
            return
        if p.rejected:
            p.discarded += len(data)
            if p.discarded > 4 * MAX_MESSAGE_BYTES:
                self._drop(p)
            return
        end = data.find(b"\n")  # only the new bytes are searched
        if end >= 0:
            end += len(p.buf)
        p.buf += data
        if (end < 0 and len(p.buf) > MAX_MESSAGE_BYTES) or end + 1 > MAX_MESSAGE_BYTES:
            self.refuse(p, f"message exceeds {MAX_MESSAGE_BYTES} bytes")
            return
        if end < 0:
            return
        line, rest = bytes(p.buf[: end + 1]), bytes(p.buf[end + 1:])
        p.buf = bytearray()
        self.on_hello(p, line, rest)

    def _expired(self, p: Pending) -> None:
        if p.rejected:
            self._drop(p)
        else:
            self.refuse(p, f"no hello within {self.timeout:g} s of connecting")

    def _forget(self, p: Pending) -> None:
        if p in self._pending:
            del self._pending[p]
            mine = self._by_address[p.address]
            mine.remove(p)
            if not mine:
                del self._by_address[p.address]
        try:
            self._sel.unregister(p.sock)
        except (KeyError, ValueError, OSError):
            pass

    def _drop(self, p: Pending) -> None:
        self._forget(p)
        p.sock.close()
