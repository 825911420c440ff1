"""``GET /metrics``: the twin's state in the Prometheus text exposition format.

Each service has its own :class:`prometheus_client.CollectorRegistry` (never the process-wide
default one), so several services in one process — the tests run many — do not collide. It
holds one custom collector, :class:`TwinCollector`, which reads the twin on each scrape: the
snapshot is taken on the simulation thread, the way the service's JSON snapshots are
(:meth:`~qplane_northbound.twin.DigitalTwin.query`), so every figure of one scrape belongs to the
same simulated instant. Nothing is pushed to ``prometheus_client`` between scrapes; the only
state kept beside the twin's own is the delivered-fidelity histogram's buckets
(:class:`FidelityObserver`, a hook implementation on the twin's plugin manager, a fixed array).

Metrics (all ``qplane_``-prefixed; labels are bounded by the topology and by the request
statuses — never a request id):

* ``qplane_requests{status}`` (gauge): requests in each status, every status listed (0 included);
  ``qplane_requests_unfinished`` (gauge);
* ``qplane_pairs_delivered_total`` (counter): pairs delivered to requests;
* ``qplane_delivered_fidelity`` (histogram, buckets :data:`FIDELITY_BUCKETS`): the true fidelity
  of each delivered pair. A histogram, not a summary: its buckets add up across services and
  over time in PromQL (``histogram_quantile``), which a summary's quantiles do not;
* ``qplane_link_attempts_total{a,b}``, ``qplane_link_successes_total{a,b}`` (counters): heralded
  attempts and pairs generated per link; ``qplane_link_up{a,b}`` (gauge, 1 when the link is
  operational: the fibre and both end nodes up), ``qplane_link_success_probability{a,b}``
  (gauge, the model's), ``qplane_links_up`` and ``qplane_links`` (gauges);
* ``qplane_node_up{node}``, ``qplane_memories{node}``, ``qplane_memories_reserved{node}`` (held by
  a session), ``qplane_memories_occupied{node}`` (holding a qubit), ``qplane_memory_reserved_ratio{node}``
  (gauges);
* ``qplane_sim_time_seconds``, ``qplane_sim_lag_seconds`` (simulated seconds the twin runs behind
  the wall clock; 0 when unpaced), ``qplane_sim_speed`` (absent under ``--speed max``),
  ``qplane_sim_events_total``, ``qplane_classical_messages_total``;
* ``qplane_agents_expected``, ``qplane_agents_connected``, ``qplane_agents_lost`` (gauges);
* ``qplane_api_requests_accepted_total``, ``qplane_api_requests_rejected_total``,
  ``qplane_api_requests_cancelled_total`` (counters), ``qplane_api_streams_open`` (gauge);
* ``qplane_twin_running`` (gauge, 1 while the twin runs) and ``qplane_build_info{version}``;
* with the health monitor (``health.py``): ``qplane_alerts_active{kind}`` (gauge: ``fidelity``,
  ``rate``), ``qplane_alerts_raised_total`` (counter), ``qplane_links_drained`` (gauge: links the
  monitor took out of routing), ``qplane_health_checks_total`` (counter).

A scrape while the twin is not running answers 503, like the other snapshots.
"""

from __future__ import annotations

import bisect
from typing import Any, Iterator, Mapping

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    InfoMetricFamily,
    Metric,
)
from qplane.hookspecs import hookimpl
from qplane.requests import RequestStatus

from . import __version__

__all__ = ["CONTENT_TYPE", "FIDELITY_BUCKETS", "FidelityObserver", "TwinCollector", "make_registry", "render"]

#: the media type of the exposition: the text format 0.0.4, which every Prometheus version reads
#: (the text :func:`render` writes is that format; fixed here so that the OpenAPI document does not
#: change with the ``prometheus_client`` version, whose ``CONTENT_TYPE_LATEST`` has moved on)
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

#: upper bounds (``le``) of the delivered-fidelity histogram's buckets (``+Inf`` is added):
#: fine near 1, where the pairs of a working network are
FIDELITY_BUCKETS = (0.5, 0.6, 0.7, 0.75, 0.8, 0.85, 0.9, 0.925, 0.95, 0.97, 0.98, 0.99, 0.995, 0.999, 1.0)


class FidelityObserver:
    """The delivered-fidelity histogram: bucket counts, count and sum of the pairs delivered to
    the twin's recorded requests. A hook implementation on the twin's plugin manager (simulation
    thread); register it before the twin starts (:meth:`attach` does, once per twin)."""

    def __init__(self, twin: Any):
        self.twin = twin
        self.buckets = [0] * (len(FIDELITY_BUCKETS) + 1)  # the last: above every bound (+Inf)
        self.count = 0
        self.sum = 0.0

    @classmethod
    def attach(cls, twin: Any) -> "FidelityObserver":
        name = f"qplane-northbound-prometheus-{id(twin):x}"
        pm = twin.registry.pm
        found = pm.get_plugin(name)
        if found is None:
            found = cls(twin)
            pm.register(found, name=name)
        return found

    @hookimpl
    def qplane_pair_delivered(self, context: Any, request: Any, pair: Any) -> None:
        twin = self.twin
        if context is twin.sim.context and request.id in twin.records:  # the pairs twin.pairs_delivered counts
            self.buckets[bisect.bisect_left(FIDELITY_BUCKETS, pair.fidelity)] += 1
            self.count += 1
            self.sum += pair.fidelity

    def cumulative(self) -> list[tuple[str, int]]:
        out, total = [], 0
        for bound, n in zip((*(repr(float(b)) for b in FIDELITY_BUCKETS), "+Inf"), self.buckets):
            total += n
            out.append((bound, total))
        return out


def _gauge(name: str, doc: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, doc, value=value)


def _counter(name: str, doc: str, value: float) -> CounterMetricFamily:
    return CounterMetricFamily(name, doc, value=value)


class TwinCollector:
    """A ``prometheus_client`` collector over a twin (see the module docstring). ``counts``: the
    API's counters (the app's ``accepted``, ``rejected``, ``cancelled``, ``streams_open``);
    ``timeout``: seconds a scrape waits for the simulation thread."""

    def __init__(self, twin: Any, counts: Mapping[str, int], timeout: float = 10.0):
        self.twin = twin
        self.counts = counts
        self.timeout = timeout
        self.fidelity = FidelityObserver.attach(twin)

    def snapshot(self) -> dict[str, Any]:
        """Everything a scrape shows, read on the simulation thread."""
        twin = self.twin
        sim = twin.sim
        net = sim.context.network
        by_status = {s.value: 0 for s in RequestStatus}
        unfinished = 0
        for h in sim.handles:
            by_status[h.status.value] = by_status.get(h.status.value, 0) + 1
            unfinished += not h.done
        nodes = []
        for name, node in net.nodes.items():
            mems = node.device.all_memories()
            nodes.append((name, node.up, len(mems), sum(m.owner is not None for m in mems),
                          sum(m.qubit is not None for m in mems)))
        links = [(l.a, l.b, l.operational, l.stats.attempts, l.stats.pairs_generated, l.model.success_probability)
                 for l in net.links.values()]
        agents = twin.hub.status() if twin.hub is not None else []
        health = getattr(twin, "health", None)
        alerts = None
        if health is not None:
            active = {"fidelity": 0, "rate": 0}
            for _, kind in health.active:
                active[kind] = active.get(kind, 0) + 1
            alerts = (active, health.log.raised, len(health.drained), health.checks)
        return {
            "alerts": alerts,
            "scenario": twin.scenario.name, "state": twin.state, "sim_time_s": sim.now, "lag_s": twin.kernel.lag(),
            "speed": twin.speed, "events": twin.kernel.events_processed,
            "classical_messages": net.messages_sent, "by_status": by_status, "unfinished": unfinished,
            "pairs_delivered": twin.pairs_delivered, "fidelity": (self.fidelity.cumulative(), self.fidelity.sum),
            "nodes": nodes, "links": links,
            "agents": (len(agents), sum(a["state"] == "connected" for a in agents),
                       sum(a["state"] == "lost" for a in agents)),
        }

    def families(self, snap: Mapping[str, Any]) -> Iterator[Metric]:
        """The metric families of a :meth:`snapshot` (any thread)."""
        info = InfoMetricFamily("qplane_build", "the qplane northbound service's version and scenario")
        info.add_metric([], {"version": __version__, "scenario": str(snap["scenario"])})
        yield info
        yield _gauge("qplane_twin_running", "1 while the digital twin runs, else 0", float(snap["state"] == "running"))
        g = GaugeMetricFamily("qplane_requests", "requests in each status (final statuses included)", labels=["status"])
        for status, n in snap["by_status"].items():
            g.add_metric([status], n)
        yield g
        yield _gauge("qplane_requests_unfinished", "requests not yet in a final status", snap["unfinished"])
        yield _counter("qplane_pairs_delivered", "entangled pairs delivered to requests", snap["pairs_delivered"])
        buckets, total = snap["fidelity"]
        h = HistogramMetricFamily("qplane_delivered_fidelity", "true fidelity of each pair delivered to a request")
        h.add_metric([], buckets, total)
        yield h
        families = {
            "attempts": CounterMetricFamily("qplane_link_attempts", "entanglement attempts per link", labels=["a", "b"]),
            "successes": CounterMetricFamily("qplane_link_successes", "heralded pairs generated per link",
                                             labels=["a", "b"]),
            "up": GaugeMetricFamily("qplane_link_up", "1 when the link is operational (its fibre and both end "
                                                      "nodes up), else 0", labels=["a", "b"]),
            "p": GaugeMetricFamily("qplane_link_success_probability", "the link model's success probability per "
                                                                       "attempt", labels=["a", "b"]),
        }
        for a, b, up, attempts, pairs, p in snap["links"]:
            families["attempts"].add_metric([a, b], attempts)
            families["successes"].add_metric([a, b], pairs)
            families["up"].add_metric([a, b], float(up))
            families["p"].add_metric([a, b], p)
        yield from families.values()
        yield _gauge("qplane_links_up", "links operational (fibre and both end nodes up)",
                     sum(1 for link in snap["links"] if link[2]))
        yield _gauge("qplane_links", "links in the topology", len(snap["links"]))
        per_node = {
            "up": GaugeMetricFamily("qplane_node_up", "1 when the node is up, else 0", labels=["node"]),
            "memories": GaugeMetricFamily("qplane_memories", "quantum memories of the node", labels=["node"]),
            "reserved": GaugeMetricFamily("qplane_memories_reserved", "memories of the node reserved by a session",
                                          labels=["node"]),
            "occupied": GaugeMetricFamily("qplane_memories_occupied", "memories of the node holding a qubit",
                                          labels=["node"]),
            "ratio": GaugeMetricFamily("qplane_memory_reserved_ratio", "fraction of the node's memories reserved "
                                                                       "by a session (0 without memories)",
                                       labels=["node"]),
        }
        for name, up, total, reserved, occupied in snap["nodes"]:
            per_node["up"].add_metric([name], float(up))
            per_node["memories"].add_metric([name], total)
            per_node["reserved"].add_metric([name], reserved)
            per_node["occupied"].add_metric([name], occupied)
            per_node["ratio"].add_metric([name], reserved / total if total else 0.0)
        yield from per_node.values()
        yield _gauge("qplane_sim_time_seconds", "the twin's simulated time", snap["sim_time_s"])
        yield _gauge("qplane_sim_lag_seconds", "simulated seconds the twin runs behind the wall clock "
                                               "(0 when unpaced)", snap["lag_s"])
        if snap["speed"] is not None:
            yield _gauge("qplane_sim_speed", "simulated seconds per wall second (absent: as fast as possible)",
                         snap["speed"])
        yield _counter("qplane_sim_events", "simulation events processed", snap["events"])
        yield _counter("qplane_classical_messages", "classical messages sent in the network", snap["classical_messages"])
        expected, connected, lost = snap["agents"]
        yield _gauge("qplane_agents_expected", "nodes driven by node agents", expected)
        yield _gauge("qplane_agents_connected", "node agents connected", connected)
        yield _gauge("qplane_agents_lost", "node agents lost", lost)
        counts = self.counts
        yield _counter("qplane_api_requests_accepted", "requests accepted by POST /requests", counts.get("accepted", 0))
        yield _counter("qplane_api_requests_rejected", "requests POST /requests refused (422, 413)",
                       counts.get("rejected", 0))
        yield _counter("qplane_api_requests_cancelled", "requests cancelled by DELETE /requests/{id}",
                       counts.get("cancelled", 0))
        yield _gauge("qplane_api_streams_open", "event streams open", counts.get("streams_open", 0))
        if snap.get("alerts") is not None:
            active, raised, drained, checks = snap["alerts"]
            g = GaugeMetricFamily("qplane_alerts_active", "link health alerts not yet resolved", labels=["kind"])
            for kind, n in sorted(active.items()):
                g.add_metric([kind], n)
            yield g
            yield _counter("qplane_alerts_raised", "link health alerts raised", raised)
            yield _gauge("qplane_links_drained", "links the health monitor took out of routing", drained)
            yield _counter("qplane_health_checks", "health checks of every link made", checks)

    def collect(self) -> Iterator[Metric]:
        """The ``prometheus_client`` collector protocol: blocks until the simulation thread has
        taken the snapshot (call it off the event loop: :func:`render` in a worker thread)."""
        snap = self.twin.query(self.snapshot).result(self.timeout)
        yield from self.families(snap)


def make_registry(twin: Any, counts: Mapping[str, int], timeout: float = 10.0) -> CollectorRegistry:
    """A registry of its own for one service, holding a :class:`TwinCollector`."""
    registry = CollectorRegistry(auto_describe=False)  # no scrape at registration
    registry.register(TwinCollector(twin, counts, timeout))
    return registry


def render(registry: CollectorRegistry) -> bytes:
    """The exposition text of ``registry`` (blocking: a scrape of every collector)."""
    return generate_latest(registry)
