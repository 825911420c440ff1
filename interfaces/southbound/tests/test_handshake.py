"""The agent port under hostile connections: the handshake's deadline counts from the connection,
pending handshakes are capped per address and in all, over-long and deeply nested lines get a
reject (or an error after the welcome) and a closed connection, nothing leaves a thread as a
traceback, and nothing about the nodes is said before the token is checked.

Connections "from another address" bind to other loopback addresses (127.0.0.2, ...), which
Linux routes to 127.0.0.1; where that is not possible the tests that need it are skipped."""

from __future__ import annotations

import io
import json
import logging
import selectors
import socket
import threading
import time
from typing import Any, Iterator

import pytest
from polling import until

from qplane_southbound import AgentHub, NodeSpec
from qplane_southbound import hub as hub_module
from qplane_southbound.agent import EXIT_REJECTED, NodeAgent
from qplane_southbound.messages import MAX_DEPTH, MAX_MESSAGE_BYTES, OperationQuality

QUALITY = OperationQuality(gate_error=0.0, measurement_error=0.0, bsm_duration_s=0.0, bsm_success=1.0)
SPECS = {"n1": NodeSpec({"n0": 2, "n2": 2}, QUALITY), "secret-node": NodeSpec({"n1": 2}, QUALITY)}
HELLO_N1 = b'{"v":1,"type":"hello","node":"secret-node"}\n'


@pytest.fixture()
def thread_errors(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every exception that escapes a thread while the test runs (there must be none)."""
    seen: list[str] = []
    monkeypatch.setattr(threading, "excepthook", lambda a: seen.append(f"{a.thread.name}: {a.exc_type.__name__}"))
    return seen


class Hub:
    def __init__(self, **kwargs: Any):
        self.lost: list[tuple[str, str]] = []
        self.joined: list[str] = []
        kwargs = {"heartbeat_interval": 0.1, "misses": 3, **kwargs}
        self.hub = AgentHub(SPECS, on_lost=lambda n, r: self.lost.append((n, r)), on_joined=self.joined.append,
                            **kwargs).start()
        self.threads: list[threading.Thread] = []

    def agent(self, node: str = "n1", **kwargs: Any) -> tuple[NodeAgent, list[int]]:
        agent = NodeAgent(node, self.hub.address, log=io.StringIO(), connect_timeout=2.0, **kwargs)
        code: list[int] = []
        t = threading.Thread(target=lambda: code.append(agent.run()), daemon=True)
        t.start()
        self.threads.append(t)
        return agent, code

    def close(self) -> None:
        self.hub.close()
        for t in self.threads:
            t.join(3)


@pytest.fixture()
def hub(request: pytest.FixtureRequest) -> Iterator[Hub]:
    h = Hub(**getattr(request, "param", {}))
    yield h
    h.close()


def _wait(cond: Any, timeout: float = 3.0) -> None:
    assert until(cond, timeout, interval=0.01)


def _connect(address: tuple[str, int], source: str = "127.0.0.1") -> socket.socket:
    s = socket.socket()
    try:
        s.bind((source, 0))
        s.connect(address)
    except OSError as e:
        s.close()
        if source != "127.0.0.1":
            pytest.skip(f"cannot connect from {source} on this machine: {e}")
        raise
    return s


def _reply_then_closed(s: socket.socket, timeout: float = 3.0) -> tuple[dict[str, Any], bool]:
    """The one message the hub sends, and whether the connection then closed (EOF or reset)."""
    s.settimeout(timeout)
    f = s.makefile("rb")
    reply = json.loads(f.readline())
    try:
        closed = f.read(1) == b""
    except ConnectionResetError:
        closed = True
    return reply, closed


# ------------------------------------------------------------------------------------- deadline


@pytest.mark.parametrize("hub", [{"handshake_timeout": 0.6}], indirect=True)
def test_the_handshake_deadline_counts_from_the_connection_not_per_read(hub: Hub, thread_errors: list[str]) -> None:
    s = _connect(hub.hub.address)
    t0 = time.monotonic()
    s.sendall(b'{"v":1,')
    s.settimeout(0.15)
    closed_at = None
    while closed_at is None and time.monotonic() - t0 < 3.0:  # a byte every 0.1 s: each read is quick
        try:
            s.sendall(b" ")
            data = s.recv(4096)
            if data:
                reply = json.loads(data.split(b"\n")[0])
                closed_at = time.monotonic() - t0
        except socket.timeout:
            pass
    assert closed_at is not None and 0.55 <= closed_at < 2.0, closed_at  # (the trickle alone would go on)
    assert reply == {"v": 1, "type": "reject", "reason": "no hello within 0.6 s of connecting"}
    s.close()
    assert thread_errors == []


# ------------------------------------------------------------------------------------- caps


@pytest.mark.parametrize("hub", [{"max_pending_per_address": 3, "max_pending": 100}], indirect=True)
def test_pending_handshakes_per_address_are_capped_and_the_oldest_goes(hub: Hub) -> None:
    socks = [_connect(hub.hub.address, "127.0.0.2") for _ in range(5)]
    _wait(lambda: hub.hub.pending == 3)
    for s in socks[:2]:  # the two oldest were closed, with a reject that says why
        reply, closed = _reply_then_closed(s)
        assert reply["type"] == "reject" and closed
        assert reply["reason"] == "too many pending handshakes from this address: this one, the oldest, is closed"
    other = _connect(hub.hub.address, "127.0.0.3")  # another address is not affected
    _wait(lambda: hub.hub.pending == 4)
    other.sendall(HELLO_N1)
    reply = json.loads(other.makefile("rb").readline())
    assert reply["type"] == "welcome" and reply["node"] == "secret-node"
    for s in socks[2:]:  # the three youngest are still waiting for their deadline
        s.setblocking(False)
        with pytest.raises(BlockingIOError):
            s.recv(1)
    for s in socks + [other]:
        s.close()


@pytest.mark.parametrize("hub", [{"max_pending_per_address": 4, "max_pending": 6}], indirect=True)
def test_at_the_total_cap_the_busiest_address_pays(hub: Hub) -> None:
    busy = [_connect(hub.hub.address, "127.0.0.2") for _ in range(4)]
    calm = [_connect(hub.hub.address, "127.0.0.3") for _ in range(2)]
    _wait(lambda: hub.hub.pending == 6)
    newcomer = _connect(hub.hub.address, "127.0.0.4")
    reply, closed = _reply_then_closed(busy[0])  # the oldest of the busiest address
    assert reply["reason"] == "too many pending handshakes: this one, the oldest, is closed" and closed
    _wait(lambda: hub.hub.pending == 6)
    newcomer.sendall(b'{"v":1,"type":"hello","node":"n1"}\n')
    assert json.loads(newcomer.makefile("rb").readline())["type"] == "welcome"
    for s in calm:  # the calm address kept both of its connections
        s.setblocking(False)
        with pytest.raises(BlockingIOError):
            s.recv(1)
    for s in busy + calm + [newcomer]:
        s.close()


class SlowLoris:
    """``count`` connections spread over ``sources``, each sending one byte every ``every``
    seconds; one that the hub closes comes back at the next tick (one selector thread)."""

    def __init__(self, address: tuple[str, int], sources: list[str], count: int, every: float):
        self.address, self.sources, self.count, self.every = address, sources, count, every
        self.connects = 0
        self.peak_open = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> "SlowLoris":
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        self._thread.join(5)

    def _open(self, sel: selectors.BaseSelector, i: int) -> None:
        s = socket.socket()
        s.bind((self.sources[i % len(self.sources)], 0))
        s.setblocking(False)
        s.connect_ex(self.address)
        sel.register(s, selectors.EVENT_READ, i)
        self.connects += 1

    def _run(self) -> None:
        sel = selectors.DefaultSelector()
        for i in range(self.count):
            self._open(sel, i)
        next_tick = time.monotonic()
        closed: list[int] = []
        while not self._stop.is_set():
            for key, _ in sel.select(max(0.0, next_tick - time.monotonic())):
                s = key.fileobj
                try:
                    gone = s.recv(65536) == b""  # type: ignore[union-attr]
                except BlockingIOError:
                    continue
                except OSError:
                    gone = True
                if gone:  # closed by the hub
                    sel.unregister(s)
                    s.close()  # type: ignore[union-attr]
                    closed.append(key.data)
            if time.monotonic() >= next_tick:
                next_tick += self.every
                for i in closed:
                    self._open(sel, i)
                closed.clear()
                for key in list(sel.get_map().values()):
                    try:
                        key.fileobj.send(b" ")  # type: ignore[union-attr]
                    except OSError:
                        pass
        for key in list(sel.get_map().values()):
            key.fileobj.close()  # type: ignore[union-attr]
        sel.close()


def test_a_slow_loris_flood_does_not_keep_an_agent_from_repairing_its_node(thread_errors: list[str]) -> None:
    # small bounds so that the test is quick: the deadline (1 s) is longer than the attackers'
    # byte interval (0.25 s), so only the deadline, not a per-read timeout, ends their connections
    h = Hub(token="s3cret", handshake_timeout=1.0, max_pending_per_address=4, max_pending=16)
    try:
        _connect(h.hub.address, "127.0.0.2").close()  # (skips the test where there is no 127.0.0.2)
        agent, code = h.agent(token="s3cret")
        assert h.hub.wait_for(["n1"], timeout=3) == []
        agent._sock.shutdown(socket.SHUT_RDWR)  # the agent dies: its node fails
        _wait(lambda: [n for n, _ in h.lost] == ["n1"])
        sources = [f"127.0.0.{i}" for i in range(2, 10)]  # 8 addresses x 4 > 16: the total is at its cap
        with SlowLoris(h.hub.address, sources, count=120, every=0.25) as flood:
            time.sleep(1.5)  # past one deadline: the attackers are reconnecting
            assert h.hub.pending <= 16
            t0 = time.monotonic()
            again, code = h.agent(token="s3cret")
            assert h.hub.wait_for(["n1"], timeout=5) == []
            _wait(lambda: h.joined == ["n1"], timeout=2)  # the node is repaired
            repaired_s = time.monotonic() - t0
            time.sleep(0.5)  # the welcomed agent stays, whatever the flood does
            assert h.hub.connection("n1") is not None and h.hub.pending <= 16
            assert flood.connects > 120  # the flood kept coming back
        assert repaired_s < 2.0, repaired_s
        assert "welcomed" in again.log.getvalue()
    finally:
        h.close()
    assert thread_errors == []


# ------------------------------------------------------------------------------------- size and depth


@pytest.mark.parametrize("line, words", [
    (b'{"v":1,"type":"hello","node":"n1","x":' + b"[" * 30_000 + b"]" * 30_000 + b"}\n",
     f"invalid hello: message nests objects and arrays more than {MAX_DEPTH} deep"),
    (b'{"v":1,"type":"hello","node":"n1","agent":"' + b"a" * MAX_MESSAGE_BYTES + b'"}\n',
     f"message exceeds {MAX_MESSAGE_BYTES} bytes"),
    (b"x" * (3 * MAX_MESSAGE_BYTES), f"message exceeds {MAX_MESSAGE_BYTES} bytes"),  # no newline at all
    (b'{"v":1,"type":"hello","node":"n1","' + b"k" * 5000 + b'":1}\n', "invalid hello: kkk"),
    (b'{"v":"' + b"9" * 5000 + b'","type":"hello","node":"n1"}\n', "invalid hello: v: protocol version"),
])
def test_a_bad_hello_gets_a_reject_and_a_closed_connection_never_a_traceback(
        hub: Hub, thread_errors: list[str], caplog: pytest.LogCaptureFixture, line: bytes, words: str) -> None:
    s = _connect(hub.hub.address)
    s.sendall(line)
    reply, closed = _reply_then_closed(s)
    assert reply["type"] == "reject" and reply["reason"].startswith(words) and closed
    assert len(reply["reason"]) <= 2000
    s.close()
    _wait(lambda: hub.hub.pending == 0)
    assert thread_errors == [] and [r for r in caplog.records if r.name == "qplane.southbound"] == []
    agent, _ = hub.agent()  # and the port still works
    assert hub.hub.wait_for(["n1"], timeout=3) == []


@pytest.mark.parametrize("line, words", [
    (b'{"v":1,"type":"heartbeat","seq":' + b"[" * 5000 + b"]" * 5000 + b"}\n", "nests objects and arrays"),
    (b'{"v":1,"type":"bye","reason":"' + b"x" * (2 * MAX_MESSAGE_BYTES) + b'"}\n', "exceeds 65536 bytes"),
])
def test_after_the_welcome_a_bad_line_gets_an_error_and_the_agent_is_lost(
        hub: Hub, thread_errors: list[str], caplog: pytest.LogCaptureFixture, line: bytes, words: str) -> None:
    s = _connect(hub.hub.address)
    s.sendall(HELLO_N1)
    f = s.makefile("rb")
    assert json.loads(f.readline())["type"] == "welcome"
    s.sendall(line)
    s.settimeout(3)
    error = json.loads(f.readline())
    assert error["type"] == "error" and words in error["reason"]
    assert f.read(1) == b""  # closed
    _wait(lambda: hub.lost != [])
    assert hub.lost[0][0] == "secret-node" and words in hub.lost[0][1]
    assert thread_errors == [] and [r for r in caplog.records if r.name == "qplane.southbound"] == []
    s.close()


def test_an_exception_in_a_connection_thread_is_one_log_line_and_a_closed_connection(
        hub: Hub, thread_errors: list[str], caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    real = hub_module.decode

    def faulty(line: bytes, adapter: Any) -> Any:
        if b"boom" in line:
            raise RuntimeError("boom")
        return real(line, adapter)

    monkeypatch.setattr(hub_module, "decode", faulty)
    caplog.set_level(logging.WARNING, logger="qplane.southbound")
    s = _connect(hub.hub.address)  # in the handshake thread
    s.sendall(b'{"v":1,"type":"hello","node":"n1","agent":"boom"}\n')
    s.settimeout(3)
    assert s.recv(100) == b""  # closed, no reply
    s.close()
    s = _connect(hub.hub.address)  # in a welcomed agent's reader thread
    s.sendall(HELLO_N1)
    f = s.makefile("rb")
    assert json.loads(f.readline())["type"] == "welcome"
    s.sendall(b'{"v":1,"type":"bye","reason":"boom"}\n')
    _wait(lambda: hub.lost != [])
    assert hub.lost == [("secret-node", "internal error: RuntimeError: boom")]
    s.close()
    lines = [r.getMessage() for r in caplog.records if r.name == "qplane.southbound"]
    assert len(lines) == 2 and all("RuntimeError: boom" in m and "\n" not in m for m in lines), lines
    assert all(r.exc_info is None for r in caplog.records)
    assert thread_errors == []
    hub.agent()  # the listener survived
    assert hub.hub.wait_for(["n1"], timeout=3) == []


# ------------------------------------------------------------------------------------- the token first


@pytest.mark.parametrize("hello", [
    {"node": "n7", "token": "wrong"},  # an unknown node: the agent nodes would be listed
    {"node": "n1"},  # no token; n1 has a live agent: its pid and address would be given
    {"node": "n1", "token": "s3cre"},  # a prefix of the token
    {"node": "secret-node", "token": "s3cret-", "memories": {"n0": 9}},  # the twin's inventory would be given
    {"node": "secret-node", "token": "", "operations": ["release"]},
])
def test_without_the_token_the_reject_says_nothing_about_the_nodes(hello: dict[str, Any]) -> None:
    h = Hub(token="s3cret")
    try:
        h.agent(token="s3cret")
        assert h.hub.wait_for(["n1"], timeout=3) == []
        s = _connect(h.hub.address)
        s.sendall(json.dumps({"v": 1, "type": "hello", **hello}).encode() + b"\n")
        reply, closed = _reply_then_closed(s)
        assert reply == {"v": 1, "type": "reject", "reason": "a valid token is required (qplane agent --token)"}
        assert closed
        s.close()
    finally:
        h.close()


def test_with_the_token_an_unknown_node_is_told_the_agent_nodes() -> None:
    h = Hub(token="s3cret")
    try:
        agent, code = h.agent("n7", token="s3cret")
        _wait(lambda: code == [EXIT_REJECTED])
        assert "node 'n7' is not served by agents here (agent nodes: n1, secret-node)" in agent.log.getvalue()
    finally:
        h.close()

