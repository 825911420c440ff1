"""The agent hub and the node agent, in one process over loopback: handshake, operations through
RemoteDevice, refusals, and every way an agent is lost (closed socket, silence, refusal, bye)."""

from __future__ import annotations

import io
import json
import socket
import threading
import time
from typing import Any

import pytest
from qplane.hal import Device, Memory, Operations

from qplane_southbound import AgentHub, NodeSpec, RemoteDevice
from qplane_southbound.agent import EXIT_BYE, EXIT_LOST, EXIT_REJECTED, NodeAgent
from qplane_southbound.messages import OperationQuality

QUALITY = OperationQuality(gate_error=0.0, measurement_error=0.0, bsm_duration_s=0.0, bsm_success=1.0)
SPECS = {"n1": NodeSpec({"n0": 2, "n2": 2}, QUALITY), "n2": NodeSpec({"n1": 2}, QUALITY)}


class TwinDevice:
    """Stands in for the twin's SimulatedDevice: records the physics it is asked for."""

    def __init__(self, node: str = "n1"):
        self.node = node
        self.memory_model = None
        self.operations = Operations()
        self.calls: list[tuple] = []
        self._mems = {n: [Memory(node, n, i, None) for i in range(2)] for n in ("n0", "n2")}

    def memories(self, neighbor: str) -> list[Memory]:
        return self._mems[neighbor]

    def all_memories(self) -> list[Memory]:
        return [m for ms in self._mems.values() for m in ms]

    def bell_measurement(self, m1: Memory, m2: Memory, now: float) -> int:
        self.calls.append(("bsm", m1.label, m2.label))
        m1.qubit = m2.qubit = None
        return 2

    def apply_pauli(self, m: Memory, pauli: int, now: float) -> None:
        self.calls.append(("pauli", m.label, pauli))

    def release(self, m: Memory, now: float) -> None:
        self.calls.append(("release", m.label))
        m.qubit = None


class Harness:
    def __init__(self, **hub_kwargs: Any):
        self.lost: list[tuple[str, str]] = []
        self.joined: list[str] = []
        kwargs = {"heartbeat_interval": 0.05, "misses": 3, **hub_kwargs}
        self.hub = AgentHub(SPECS, on_lost=lambda n, r: self.lost.append((n, r)), on_joined=self.joined.append,
                            **kwargs).start()
        self.agents: list[tuple[NodeAgent, threading.Thread, list[int]]] = []

    def agent(self, node: str = "n1", **kwargs: Any) -> tuple[NodeAgent, list[int]]:
        agent = NodeAgent(node, self.hub.address, log=io.StringIO(), connect_timeout=2.0, **kwargs)
        code: list[int] = []
        t = threading.Thread(target=lambda: code.append(agent.run()), daemon=True)
        t.start()
        self.agents.append((agent, t, code))
        return agent, code

    def wait_lost(self, n: int = 1, timeout: float = 3.0) -> None:
        deadline = time.monotonic() + timeout
        while len(self.lost) < n and time.monotonic() < deadline:
            time.sleep(0.01)
        assert len(self.lost) >= n, self.lost

    def close(self) -> None:
        self.hub.close()
        for _, t, _ in self.agents:
            t.join(3)


@pytest.fixture()
def harness():
    h = Harness()
    yield h
    h.close()


def _wait(cond, timeout: float = 3.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert cond()


def test_operations_reach_the_agent_through_the_device_protocol(harness: Harness) -> None:
    agent, _ = harness.agent()
    assert harness.hub.wait_for(["n1"], timeout=3) == []
    twin = TwinDevice()
    device = RemoteDevice(twin, harness.hub)
    assert isinstance(device, Device)
    a, b = twin.memories("n0")[0], twin.memories("n2")[1]
    assert device.bell_measurement(a, b, 0.25) == 2  # the twin's physics answers
    device.apply_pauli(b, 3, 0.5)
    device.apply_pauli(b, 0, 0.5)  # identity: nothing to do on the hardware
    a.qubit = object()
    device.release(a, 0.75)
    device.release(a, 0.75)  # already empty: not sent
    assert agent.executed == 3 and agent.refused == 0
    assert agent.inventory["n0"][0].last_operation == "release"
    assert agent.inventory["n2"][1].operations == 2
    assert [c[0] for c in twin.calls] == ["bsm", "pauli", "pauli", "release", "release"]
    st = harness.hub.status()[0]
    assert st["state"] == "connected" and st["operations"] == 3 and st["pid"] is not None
    assert harness.lost == []


def test_a_refused_operation_fails_the_node(harness: Harness) -> None:
    harness.agent(memories={"n0": 2, "n2": 2})
    assert harness.hub.wait_for(["n1"], timeout=3) == []
    device = RemoteDevice(TwinDevice(), harness.hub)
    stray = Memory("n1", "n9", 0, None)
    assert device.bell_measurement(stray, TwinDevice().memories("n0")[0], 0.1) == 2
    harness.wait_lost()
    node, reason = harness.lost[0]
    assert node == "n1" and "refused" in reason and "no memories toward 'n9'" in reason
    assert harness.hub.connection("n1") is None
    device.apply_pauli(stray, 1, 0.2)  # the node is down: the twin alone, no blocking
    assert device.unconfirmed == 1


def test_a_closed_socket_is_a_lost_agent_and_a_new_agent_repairs_the_node(harness: Harness) -> None:
    agent, code = harness.agent()
    assert harness.hub.wait_for(["n1"], timeout=3) == []
    agent._sock.shutdown(socket.SHUT_RDWR)  # what the kernel does for a killed process
    harness.wait_lost()
    assert harness.lost[0] == ("n1", "the agent's connection closed")
    _wait(lambda: code == [EXIT_LOST])
    harness.agent()
    assert harness.hub.wait_for(["n1"], timeout=3) == []
    _wait(lambda: harness.joined == ["n1"])


def test_a_silent_agent_is_lost_after_the_heartbeat_timeout(harness: Harness) -> None:
    sock = socket.create_connection(harness.hub.address)
    sock.sendall(b'{"v":1,"type":"hello","node":"n2"}\n')
    welcome = json.loads(sock.makefile("rb").readline())
    assert welcome["type"] == "welcome" and welcome["heartbeat_timeout_s"] == pytest.approx(0.15)
    t0 = time.monotonic()
    harness.wait_lost()
    assert 0.1 <= time.monotonic() - t0 < 1.0
    assert harness.lost[0][0] == "n2" and harness.lost[0][1].startswith("no heartbeat for")
    sock.close()


def test_an_orderly_bye_is_reported_too(harness: Harness) -> None:
    agent, code = harness.agent()
    _wait(lambda: agent.welcome is not None)
    agent.stop("SIGTERM")
    harness.wait_lost()
    assert harness.lost[0] == ("n1", "the agent left: SIGTERM")
    _wait(lambda: code == [EXIT_BYE])


def test_an_invalid_message_drops_the_agent(harness: Harness) -> None:
    sock = socket.create_connection(harness.hub.address)
    f = sock.makefile("rb")
    sock.sendall(b'{"v":1,"type":"hello","node":"n2"}\n')
    assert json.loads(f.readline())["type"] == "welcome"
    sock.sendall(b'{"v":1,"type":"heartbeat","seq":"soon"}\n')
    error = json.loads(f.readline())
    assert error == {"v": 1, "type": "error", "reason": error["reason"], "field": "seq"}
    harness.wait_lost()
    assert "invalid message from the agent: seq:" in harness.lost[0][1]
    sock.close()


@pytest.mark.parametrize("kwargs, words", [
    ({"node": "n7"}, "node 'n7' is not served by agents here (agent nodes: n1, n2)"),
    ({"memories": {"n0": 3, "n2": 2}}, "inventory mismatch for n1: the agent has n0=3, n2=2, the digital twin models n0=2, n2=2"),
])
def test_agents_are_rejected_with_a_reason(harness: Harness, kwargs, words) -> None:
    agent, code = harness.agent(**{"node": "n1", **kwargs})
    _wait(lambda: code == [EXIT_REJECTED])
    assert words in agent.log.getvalue()
    assert harness.lost == []


def test_a_node_has_one_live_agent(harness: Harness) -> None:
    harness.agent()
    assert harness.hub.wait_for(["n1"], timeout=3) == []
    second, code = harness.agent()
    _wait(lambda: code == [EXIT_REJECTED])
    assert "node 'n1' already has a live agent" in second.log.getvalue()


def test_a_token_is_checked() -> None:
    h = Harness(token="s3cret")
    try:
        bad, code = h.agent(token="nope")
        _wait(lambda: code == [EXIT_REJECTED])
        assert "a valid token is required" in bad.log.getvalue()
        h.agent(token="s3cret")
        assert h.hub.wait_for(["n1"], timeout=3) == []
    finally:
        h.close()


def test_a_wrong_version_or_garbage_hello_is_rejected(harness: Harness) -> None:
    for line, words in ((b'{"v":2,"type":"hello","node":"n1"}\n', "protocol version 2 is not supported"),
                        (b'{"v":1,"type":"heartbeat","seq":1}\n', "the first message must be a hello"),
                        (b'hello\n', "invalid hello: not a JSON object")):
        sock = socket.create_connection(harness.hub.address)
        sock.sendall(line)
        reply = json.loads(sock.makefile("rb").readline())
        assert reply["type"] == "reject" and words in reply["reason"]
        sock.close()


def test_closing_the_hub_says_bye_and_reports_no_loss(harness: Harness) -> None:
    _, code = harness.agent()
    assert harness.hub.wait_for(["n1"], timeout=3) == []
    harness.hub.close("maintenance")
    _wait(lambda: code == [EXIT_BYE])
    assert harness.lost == []


def test_the_agent_answers_an_invalid_operation_with_an_error_and_carries_on() -> None:
    server = socket.create_server(("127.0.0.1", 0))
    agent = NodeAgent("n1", server.getsockname(), log=io.StringIO())
    code: list[int] = []
    t = threading.Thread(target=lambda: code.append(agent.run()), daemon=True)
    t.start()
    conn, _ = server.accept()
    f = conn.makefile("rb")
    hello = json.loads(f.readline())
    assert hello["type"] == "hello" and hello["node"] == "n1" and hello["v"] == 1
    conn.sendall(b'{"v":1,"type":"welcome","node":"n1","heartbeat_interval_s":10,"heartbeat_timeout_s":30,'
                 b'"memories":{"n0":1},"operations":{"gate_error":0,"measurement_error":0,"bsm_duration_s":0,'
                 b'"bsm_success":1}}\n')
    conn.sendall(b'{"v":1,"type":"release","id":1,"memory":{"neighbor":"n0","index":-1},"sim_time_s":0}\n')
    assert json.loads(f.readline()) == {"v": 1, "type": "error", "field": "memory.index",
                                        "reason": "Input should be greater than or equal to 0"}
    conn.sendall(b'{"v":1,"type":"release","id":2,"memory":{"neighbor":"n0","index":0},"sim_time_s":0}\n')
    result = json.loads(f.readline())
    assert result["type"] == "result" and result["id"] == 2 and result["ok"] is True
    conn.sendall(b'{"v":1,"type":"release","id":3,"memory":{"neighbor":"n0","index":1},"sim_time_s":0}\n')
    result = json.loads(f.readline())
    assert result["ok"] is False and result["error"] == "n1 has 1 memory toward n0, no index 1"
    conn.shutdown(socket.SHUT_RDWR)
    conn.close()
    t.join(3)
    assert code == [EXIT_LOST]
    server.close()
