"""Optional OpenTelemetry spans: one per request life cycle, from acceptance to its final status.

When the OpenTelemetry API is importable (``pip install opentelemetry-sdk`` brings it), the
service records, for every request that reaches a final status, a span ``qplane.request`` that
starts at the request's acceptance (wall clock) and ends when the simulation thread publishes its
final status, with the attributes ``qplane.request.id``, ``.origin``, ``.src``, ``.dst``,
``.status``, ``.reason``, ``.delivered``, ``.pairs`` / ``.rate`` (what was asked), ``.parties``
(a GHZ request's),
``.reroutes``, ``.accepted_at_s`` and ``.finished_at_s`` (simulated seconds); a ``failed``
request's span has the status ERROR. The span is made whole at the end (start time given), so
nothing is kept open for a request that never ends and no state grows with the requests.

Spans go to the tracer provider given to :func:`instrument`, else the process's global one
(``opentelemetry.trace.set_tracer_provider``; without one configured the API's default drops
them). Without OpenTelemetry installed :func:`instrument` does nothing: there is no hard
dependency.
"""

from __future__ import annotations

import time
from typing import Any

from qplane.hookspecs import hookimpl

try:  # optional: no hard dependency on OpenTelemetry
    from opentelemetry import trace as _otel_trace
except ImportError:  # pragma: no cover - exercised where OpenTelemetry is not installed
    _otel_trace = None  # type: ignore[assignment]

#: the span name of a request's life cycle
SPAN_NAME = "qplane.request"


def available() -> bool:
    """Is the OpenTelemetry API importable?"""
    return _otel_trace is not None


class RequestSpans:
    """A hook implementation on the twin's plugin manager: a span per finished request."""

    def __init__(self, twin: Any, tracer_provider: Any = None):
        self.twin = twin
        self.tracer = _otel_trace.get_tracer("qplane_northbound", tracer_provider=tracer_provider)

    @hookimpl(trylast=True)  # after the twin has published the final state
    def qplane_request_finished(self, context: Any, request: Any) -> None:
        twin = self.twin
        if context is not twin.sim.context:
            return
        rec = twin.records.get(request.id)
        req = request.request
        now_ns = time.time_ns()
        start_ns = int(rec.accepted_wall * 1e9) if rec is not None else now_ns
        attributes = {
            "qplane.request.id": request.id,
            "qplane.request.src": req.src, "qplane.request.dst": req.dst,
            "qplane.request.status": request.status.value, "qplane.request.reason": request.reason or "",
            "qplane.request.delivered": request.delivered_count, "qplane.request.reroutes": request.reroutes,
            "qplane.request.accepted_at_s": rec.accepted_sim_s if rec is not None else req.start,
        }
        if rec is not None:
            attributes["qplane.request.origin"] = rec.origin
        if req.pairs is not None:
            attributes["qplane.request.pairs"] = req.pairs
        if req.rate is not None:
            attributes["qplane.request.rate"] = req.rate
        if req.parties is not None:
            attributes["qplane.request.parties"] = list(req.parties)
        if request.finished_at is not None:
            attributes["qplane.request.finished_at_s"] = request.finished_at
        span = self.tracer.start_span(SPAN_NAME, start_time=min(start_ns, now_ns), attributes=attributes)
        if request.status.value == "failed":
            span.set_status(_otel_trace.Status(_otel_trace.StatusCode.ERROR, request.reason or "failed"))
        span.end(end_time=now_ns)


def instrument(twin: Any, tracer_provider: Any = None) -> RequestSpans | None:
    """Record a span per request life cycle of ``twin`` (once per twin: a second call returns
    the first's; None without OpenTelemetry). Call it before the twin starts."""
    if _otel_trace is None:
        return None
    name = f"qplane-northbound-otel-{id(twin):x}"
    pm = twin.registry.pm
    found = pm.get_plugin(name)
    if found is None:
        found = RequestSpans(twin, tracer_provider)
        pm.register(found, name=name)
    return found
