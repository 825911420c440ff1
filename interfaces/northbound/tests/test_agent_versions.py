"""``GET /agents`` shows every agent's software versions, as its hello reported them; the twin
checks them against the plugins its scenario uses."""

from __future__ import annotations

import io
import threading
from typing import Any

import pytest

pytest.importorskip("qplane_southbound")

import qplane  # noqa: E402
from qplane.scenario import load_scenario  # noqa: E402
from qplane_southbound.agent import NodeAgent  # noqa: E402

from qplane_northbound.client import Client  # noqa: E402
from qplane_northbound.service import Service  # noqa: E402
from qplane_northbound.twin import AgentOptions, DigitalTwin  # noqa: E402


def test_get_agents_shows_each_agents_versions() -> None:
    sc = load_scenario({
        "name": "versions", "seed": 1, "duration": 1.0, "backend": "fidelity",
        "topology": {"builder": "chain", "nodes": 2, "spacing_km": 10}, "requests": [],
    })
    twin = DigitalTwin(sc, speed=0.05, agents=AgentOptions(["n0", "n1"], heartbeat_interval=0.1, wait_s=10))
    used = twin.hub.versions.plugins
    assert twin.hub.versions.qplane == qplane.__version__
    assert used.get("backend-fidelity") and used.get("routing")  # the plugins of the scenario's components
    assert "northbound" not in used and "devkit" not in used  # loaded, but no component of the twin's
    service = Service(twin, "127.0.0.1", 0)
    agents: list[NodeAgent] = []
    threads: list[threading.Thread] = []

    def spawn(host: str, port: int) -> None:
        for node in ("n0", "n1"):
            a = NodeAgent(node, (host, port), log=io.StringIO(), connect_timeout=5.0)
            t = threading.Thread(target=a.run, daemon=True)
            t.start()
            agents.append(a)
            threads.append(t)

    service.start(on_agents_listening=spawn)
    client = Client(service.url)
    try:
        shown: list[dict[str, Any]] = client.agents()
        assert [a["state"] for a in shown] == ["connected", "connected"]
        for a in shown:
            assert a["protocol_version"] == "1.1" and a["qplane_version"] == qplane.__version__
            assert a["plugin_versions"]["routing"] == used["routing"]
    finally:
        client.close()
        service.stop()
        for t in threads:
            t.join(5)
