"""Node agents in separate processes drive a live digital twin; killing one is a node failure.

The controller (the twin and its HTTP service) runs in this process on loopback; every node of
the network is a ``qplane agent`` process connected to it. A request is served across the
agents; then one agent is killed (SIGKILL: its socket closes) or frozen (SIGSTOP: its heartbeats
stop), and the topology manager handles the failed node like any other: the request is re-routed
when another path exists, or ends ``failed`` saying which node went down.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from typing import Any, Iterator

import pytest

pytest.importorskip("qplane_northbound")
pytest.importorskip("qplane_southbound")

from qplane.scenario import load_scenario  # noqa: E402

from qplane_northbound.client import Client  # noqa: E402
from qplane_northbound.service import Service  # noqa: E402
from qplane_northbound.twin import AgentOptions, DigitalTwin  # noqa: E402

SPEED = 0.05  # simulated seconds per wall second: a few dozen pairs a wall second


def scenario(topology: dict[str, Any], manager: Any = "oracle") -> Any:
    return load_scenario({
        "name": "agents", "seed": 5, "duration": 1.0, "backend": "fidelity", "topology": topology,
        "hardware": {"memory": {"count": 2, "coherence_time": 1.0}, "link": {"scheme": "mim", "pair_fidelity": 0.95}},
        "protocols": {"routing": "shortest-path", "swapping": "asap", "scheduling": "fifo",
                      "topology_manager": manager},
        "requests": [],
    })


class Network:
    """A served twin whose every node is an agent process."""

    def __init__(self, sc: Any, nodes: list[str], heartbeat: float = 0.1):
        self.procs: dict[str, subprocess.Popen] = {}  # the latest agent of each node
        self.spawned: list[subprocess.Popen] = []
        self.twin = DigitalTwin(sc, speed=SPEED, agents=AgentOptions(nodes, heartbeat_interval=heartbeat, misses=3,
                                                                     wait_s=30))
        self.service = Service(self.twin, "127.0.0.1", 0)

        self.service.start(on_agents_listening=lambda host, port: [self.spawn(n, host, port) for n in nodes])
        self.client = Client(self.service.url)

    def close(self) -> dict[str, Any] | None:
        self.client.close()
        results = self.service.stop()
        for p in self.spawned:
            if p.poll() is None:
                p.send_signal(signal.SIGCONT)
            try:
                p.communicate(timeout=5)  # also closes its pipes
            except subprocess.TimeoutExpired:
                p.kill()
                p.communicate(timeout=5)
        return results

    def spawn(self, node: str, host: str, port: int) -> subprocess.Popen:
        p = subprocess.Popen([sys.executable, "-m", "qplane.cli", "agent", "--node", node, "--connect", f"{host}:{port}"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.procs[node] = p
        self.spawned.append(p)
        return p

    def wait_delivered(self, rid: int, n: int, timeout: float = 20.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            state = self.client.get(rid)
            if state["delivered"] >= n or state["final"]:
                return state
            time.sleep(0.02)
        raise AssertionError(f"request {rid}: fewer than {n} pairs after {timeout} s: {state}")


@pytest.fixture()
def network() -> Iterator[Any]:
    made: list[Network] = []

    def make(*args: Any, **kwargs: Any) -> Network:
        net = Network(*args, **kwargs)
        made.append(net)
        return net

    yield make
    for net in made:
        net.close()


def test_killing_the_middle_agent_of_a_chain_fails_the_request_naming_the_node(network) -> None:
    net = network(scenario({"builder": "chain", "nodes": 3, "spacing_km": 20}), ["n0", "n1", "n2"])
    c = net.client
    agents = c.agents()
    assert [a["state"] for a in agents] == ["connected"] * 3
    assert {a["pid"] for a in agents} == {p.pid for p in net.procs.values()}
    rid = c.submit(src="n0", dst="n2", pairs=100_000, min_fidelity=0.5)["id"]
    served = net.wait_delivered(rid, 5)
    assert served["status"] == "active" and served["path"] == ["n0", "n1", "n2"]
    assert {a["node"]: a["operations"] for a in c.agents()}["n1"] >= 5  # the swaps ran on n1's agent

    net.procs["n1"].send_signal(signal.SIGKILL)
    t0 = time.monotonic()
    final = c.wait(rid, timeout=20)
    assert time.monotonic() - t0 < 5.0
    assert final["status"] == "failed"
    assert final["reason"] == "node n1 down; no other path from n0 to n2"
    assert final["delivered"] >= 5

    topo = {n["name"]: n for n in c.topology()["nodes"]}
    assert topo["n1"]["up"] is False and topo["n1"]["agent"] == "lost" and topo["n1"]["in_view"] is False
    assert topo["n0"]["up"] and topo["n0"]["agent"] == "connected"
    lost = next(a for a in c.agents() if a["node"] == "n1")
    assert lost["state"] == "lost" and lost["lost_reason"].startswith("the agent's connection closed")
    assert net.twin.node_events[0]["node"] == "n1" and net.twin.node_events[0]["up"] is False
    # a new request between the survivors' neighbours has no path either: a clear status too
    again = c.wait(c.submit(src="n0", dst="n2", pairs=1)["id"], timeout=20)
    assert again["status"] == "no_path"

    # a new agent for n1 repairs the node: the chain serves again
    killed = net.procs["n1"]
    net.spawn("n1", *net.twin.hub.address)
    deadline = time.monotonic() + 20
    while not {n["name"]: n for n in c.topology()["nodes"]}["n1"]["up"]:
        assert time.monotonic() < deadline, "n1 did not come back"
        time.sleep(0.05)
    back = c.wait(c.submit(src="n0", dst="n2", pairs=3)["id"], timeout=20)
    assert back["status"] == "completed" and back["path"] == ["n0", "n1", "n2"]

    results = net.close()
    assert killed.wait(5) == -signal.SIGKILL
    assert all(p.returncode == 0 for p in net.procs.values())  # bye from the controller
    assert results["topology"]["failures"] == 1 and results["topology"]["requests_failed"] == 1


def test_a_frozen_agent_stops_its_heartbeats_and_the_request_is_rerouted(network) -> None:
    ring = scenario({"builder": "ring", "nodes": 4, "spacing_km": 20},
                    {"name": "lldp", "heartbeat_interval": 0.002, "misses": 3, "hello_wait": 0.001})
    net = network(ring, ["n0", "n1", "n2", "n3"], heartbeat=0.05)
    c = net.client
    rid = c.submit(src="n0", dst="n2", pairs=60, min_fidelity=0.5)["id"]
    served = net.wait_delivered(rid, 5)
    first_path = served["path"]
    middle = first_path[1]
    other = "n3" if middle == "n1" else "n1"

    net.procs[middle].send_signal(signal.SIGSTOP)  # hung: the socket stays open, heartbeats stop
    final = c.wait(rid, timeout=30)
    assert final["status"] == "completed" and final["delivered"] == 60
    assert final["reroutes"] == 1 and final["path"] == ["n0", other, "n2"]
    lost = next(a for a in c.agents() if a["node"] == middle)
    assert lost["state"] == "lost"
    assert lost["lost_reason"].startswith(("no heartbeat for", "no answer to"))
    m = c.stats()
    assert m["topology"]["detections"] >= 2  # lldp: both links of the frozen node, seen by heartbeats
    assert m["agents"] == {"expected": 4, "connected": 3, "lost": 1}
