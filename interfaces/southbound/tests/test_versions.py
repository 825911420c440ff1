"""Software versions in the hello: a compatible agent is welcomed and its versions are shown;
an incompatible protocol, qplane or plugin version is refused with the reason, through the real
handshake (the agent prints it in one line and exits with 2)."""

from __future__ import annotations

import io
import json
import socket
import subprocess
import sys
import threading
from typing import Any

import pytest
from polling import until

import qplane
from qplane_southbound import AgentHub, NodeSpec
from qplane_southbound.agent import EXIT_REJECTED, NodeAgent
from qplane_southbound.messages import PROTOCOL_VERSION, OperationQuality, Versions
from qplane_southbound.versions import incompatibility, local_versions, major_minor

QUALITY = OperationQuality(gate_error=0.0, measurement_error=0.0, bsm_duration_s=0.0, bsm_success=1.0)
SPECS = {"n1": NodeSpec({"n0": 2}, QUALITY)}
CONTROLLER = Versions(protocol="1.1", qplane="0.4.2", plugins={"routing": "1.2.0", "hardware": "0.3.0"})


def _run(hub: AgentHub, versions: Versions | None, **kwargs: Any) -> tuple[NodeAgent, list[int]]:
    agent = NodeAgent("n1", hub.address, log=io.StringIO(), connect_timeout=2.0, versions=versions, **kwargs)
    code: list[int] = []
    t = threading.Thread(target=lambda: code.append(agent.run()), daemon=True)
    t.start()
    return agent, code


def _wait(cond: Any, timeout: float = 3.0) -> None:
    assert until(cond, timeout, interval=0.01)


@pytest.fixture()
def hub():
    h = AgentHub(SPECS, heartbeat_interval=0.05, versions=CONTROLLER).start()
    yield h
    h.close()


def test_this_process_reports_its_protocol_qplane_and_plugins() -> None:
    v = local_versions()
    assert v.protocol == PROTOCOL_VERSION == "1.1" and v.qplane == qplane.__version__
    assert v.plugins.get("southbound")  # this package is a qplane plugin (entry point), with its version
    assert major_minor("1.2.3") == (1, 2) and major_minor("2rc1") == (2, 0) and major_minor("dev") is None


def test_a_compatible_agent_is_welcomed_and_its_versions_are_shown(hub: AgentHub) -> None:
    # same qplane major.minor (another patch), same plugin majors, a plugin the controller does not use
    mine = Versions(protocol="1.0", qplane="0.4.7", plugins={"routing": "1.9.1", "hardware": "0.3.5", "extra": "7.0"})
    agent, code = _run(hub, mine)
    assert hub.wait_for(["n1"], timeout=3) == []
    (status,) = hub.status()
    assert status["protocol_version"] == "1.0" and status["qplane_version"] == "0.4.7"
    assert status["plugin_versions"] == {"routing": "1.9.1", "hardware": "0.3.5", "extra": "7.0"}
    agent.stop("done")


@pytest.mark.parametrize("versions, reason", [
    (Versions(protocol="2.0", qplane="0.4.2"),
     "incompatible protocol version: the agent speaks qplane.southbound 2.0, the controller qplane.southbound 1.1 "
     "(the major version must match)"),
    (Versions(protocol="1.1", qplane="0.5.0"),
     "incompatible qplane version: the agent runs qplane 0.5.0, the controller qplane 0.4.2 (major.minor must match)"),
    (Versions(protocol="1.1", qplane="0.4.2", plugins={"routing": "2.0.0", "hardware": "0.9"}),
     "incompatible plugin versions: routing 2.0.0 on the agent, 1.2.0 on the controller (the major version must match)"),
])
def test_an_incompatible_agent_is_refused_with_the_reason(hub: AgentHub, versions: Versions, reason: str) -> None:
    agent, code = _run(hub, versions)
    _wait(lambda: code == [EXIT_REJECTED])
    assert agent.log.getvalue() == f"qplane agent n1: rejected by the controller: {reason}\n"
    assert hub.connection("n1") is None
    assert hub.events[-1].event == "rejected" and hub.events[-1].reason == reason


def test_a_protocol_1_0_hello_without_versions_is_still_welcomed(hub: AgentHub) -> None:
    sock = socket.create_connection(hub.address)
    sock.sendall(b'{"v":1,"type":"hello","node":"n1"}\n')
    reply = json.loads(sock.makefile("rb").readline())
    assert reply["type"] == "welcome"
    assert hub.status()[0]["protocol_version"] == "1.0" and hub.status()[0]["qplane_version"] is None
    sock.close()


def test_without_the_token_only_the_protocol_version_is_told() -> None:
    h = AgentHub(SPECS, heartbeat_interval=0.05, token="s3cret", versions=CONTROLLER).start()
    try:
        for versions, words in ((Versions(protocol="2.0", qplane="0.4.2"), "incompatible protocol version"),
                                (Versions(protocol="1.1", qplane="0.5.0"), "a valid token is required")):
            agent, code = _run(h, versions, token="nope")
            _wait(lambda: code == [EXIT_REJECTED])
            assert words in agent.log.getvalue() and "0.4.2" not in agent.log.getvalue()
    finally:
        h.close()


def test_the_plugin_check_compares_majors_of_the_plugins_the_controller_uses() -> None:
    assert incompatibility(None, CONTROLLER) is None
    assert incompatibility(Versions(protocol="1.1", qplane="0.4.0", plugins={"other": "9"}), CONTROLLER) is None
    assert "hardware 1.0 on the agent" in incompatibility(
        Versions(protocol="1.1", qplane="0.4.0", plugins={"hardware": "1.0"}), CONTROLLER)


def test_qplane_agent_exits_2_with_the_reason_in_one_line() -> None:
    """The real command against a controller running another qplane minor version."""
    ours = major_minor(qplane.__version__)
    assert ours is not None
    other = Versions(protocol=PROTOCOL_VERSION, qplane=f"{ours[0]}.{ours[1] + 1}.0")
    h = AgentHub(SPECS, heartbeat_interval=0.05, versions=other).start()
    try:
        r = subprocess.run([sys.executable, "-m", "qplane.cli", "agent", "--node", "n1", "--connect",
                            f"127.0.0.1:{h.port}", "--connect-timeout", "5"],
                           capture_output=True, text=True, timeout=30)
    finally:
        h.close()
    assert r.returncode == 2
    assert r.stderr == (f"qplane agent n1: rejected by the controller: incompatible qplane version: the agent runs "
                        f"qplane {qplane.__version__}, the controller qplane {other.qplane} (major.minor must match)\n")
