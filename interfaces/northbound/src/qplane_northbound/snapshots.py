"""What the service shows of its twin: consistent snapshots of the topology, the links and the
counters, taken on the simulation thread (through :meth:`DigitalTwin.query`) — a mixin of
:class:`~qplane_northbound.twin.DigitalTwin`."""

from __future__ import annotations

import time
from typing import Any


class Snapshots:
    """``topology_snapshot``, ``links_snapshot`` and ``metrics_snapshot`` of a twin (``self``
    has ``sim``, ``hub``, ``kernel``, ``speed``, ``started_wall`` and the pair counters)."""

    sim: Any
    hub: Any
    kernel: Any
    speed: float | None
    started_wall: float | None
    pairs_delivered: int
    fidelity_sum: float

    def topology_snapshot(self) -> dict[str, Any]:
        sim = self.sim
        net = sim.context.network
        view = net.view()
        status = sim.topology_status()
        agents = {a["node"]: a for a in self.hub.status()} if self.hub is not None else {}
        removed_nodes = set(status.get("removed_nodes", ()))
        removed_links = {frozenset(k) for k in status.get("removed_links", ())}
        unroutable = {frozenset(k) for k in status.get("unroutable_links", ())}
        return {
            "sim_time_s": sim.now,
            "manager": status["manager"],
            "ready": status["ready"],
            "nodes": [
                {"name": name, "up": node.up, "in_view": name in view, "remote": name in agents,
                 "agent": agents[name]["state"] if name in agents else None,
                 "memories": len(node.device.all_memories()), "removed": name in removed_nodes}
                for name, node in net.nodes.items()
            ],
            "links": [
                {"a": l.a, "b": l.b, "length_km": l.length_km, "up": l.up, "operational": l.operational,
                 "in_view": view.has_edge(l.a, l.b), "removed": frozenset((l.a, l.b)) in removed_links,
                 "routable": frozenset((l.a, l.b)) not in unroutable}
                for l in net.links.values()
            ],
        }

    def links_snapshot(self) -> list[dict[str, Any]]:
        now = self.sim.now
        out = []
        for l in self.sim.context.network.links.values():
            m = l.model
            down = sum((end if end is not None else now) - start for start, end in l.outages)
            out.append({
                "a": l.a, "b": l.b, "length_km": l.length_km, "scheme": l.scheme, "up": l.up,
                "operational": l.operational, "success_probability": m.success_probability,
                "cycle_time_s": m.cycle_time, "herald_delay_s": m.herald_delay,
                "pair_fidelity": m.pair_state[0], "attempts": l.stats.attempts,
                "pairs_generated": l.stats.pairs_generated, "outages": len(l.outages), "downtime_s": down,
            })
        return out

    def metrics_snapshot(self) -> dict[str, Any]:
        sim = self.sim
        by_status: dict[str, int] = {}
        for h in sim.handles:
            by_status[h.status.value] = by_status.get(h.status.value, 0) + 1
        topo = {k: v for k, v in sim.topology_status().items() if k not in ("events", "probes", "manager", "ready")}
        agents = self.hub.status() if self.hub is not None else []
        return {
            "sim_time_s": sim.now,
            "wall_time_s": (time.monotonic() - self.started_wall) if self.started_wall else 0.0,
            "speed": self.speed,
            "lag_s": self.kernel.lag(),
            "events": self.kernel.events_processed,
            "classical_messages": sim.context.network.messages_sent,
            "requests": {"total": len(sim.handles), "unfinished": sum(not h.done for h in sim.handles),
                         "by_status": dict(sorted(by_status.items()))},
            "pairs_delivered": self.pairs_delivered,
            "fidelity_mean": (self.fidelity_sum / self.pairs_delivered) if self.pairs_delivered else None,
            "topology": {**topo, "requests_failed": by_status.get("failed", 0)},
            "agents": {"expected": len(agents), "connected": sum(a["state"] == "connected" for a in agents),
                       "lost": sum(a["state"] == "lost" for a in agents)},
        }
