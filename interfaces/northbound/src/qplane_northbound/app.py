"""The northbound HTTP API (FastAPI) over a :class:`~qplane_northbound.twin.DigitalTwin`.

Routes: ``POST /requests``, ``GET /requests``, ``GET /requests/{id}``,
``GET /requests/{id}/pairs`` (the recent pairs, paged), ``GET /requests/{id}/events``
(server-sent events), ``DELETE /requests/{id}``, ``GET /topology``, ``GET /links``,
``GET /metrics`` (Prometheus text, :mod:`.prometheus`), ``GET /stats`` (the same counters as JSON),
``GET /agents``, ``GET /health``. With OpenTelemetry installed, a span per request life cycle
(:mod:`.tracing`). The web dashboard at ``/`` and its calls (``GET /topology/layout``,
``POST /links/{a}/{b}/down|up``, ``POST /nodes/{name}/down|up``) are in :mod:`.dashboard`; the
configuration routes (``PATCH /links/{a}/{b}``, ``GET /config``, ``GET /config/history``,
``POST /config/rollback``) in :mod:`.config`; health monitoring (``GET /alerts``,
``GET /alerts/events``, ``GET /health/links``, the drift drill ``POST|DELETE /links/{a}/{b}/drift``)
in :mod:`.health`.

* every body is validated by :mod:`.models`; an error answers 422 with the field in ``loc``
  (``["body", "min_fidelity"]``), including a node that is not in the topology and the
  request's own protocols; a body over ``max_body`` bytes answers 413 before it is parsed, and
  one nesting deeper than :data:`~qplane_northbound.models.MAX_JSON_DEPTH` a 422 (``loc``
  ``["body"]``, type ``json_too_deep``) before it is parsed;
* the ``Host`` header must name the service (:class:`~qplane_northbound.guards.AllowedHosts`;
  400 otherwise), so a web page cannot reach a local service through DNS rebinding; CORS is
  closed unless origins are given (``cors_origins``);
* a request's state has a fixed size whatever the pairs delivered (running aggregates; the
  recent pairs are paged by ``GET /requests/{id}/pairs``); at most ``max_streams`` event
  streams are open at once (503 beyond);
* with a ``token`` every mutating call (POST, PATCH, DELETE) needs ``Authorization: Bearer <token>``
  (401 otherwise); reads stay open. The OpenAPI document always declares the bearer scheme on
  them, so it does not depend on how the service was started;
* the handlers run on the event loop and never touch simulation state: they hand work to the
  simulation thread and await its future (503 when the twin does not answer within
  ``timeout`` seconds, is shutting down, or its simulation failed).

This module must not import the southbound package: agents are the twin's business.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import hmac
import math
from typing import Any, AsyncIterator, Callable, Iterable

from fastapi import Depends, FastAPI, Header, HTTPException, Query, Request, Response, Security
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse, StreamingResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from qplane.requests import RequestStatus

from . import __version__
from .models import (
    MAX_BODY_BYTES,
    MAX_PAGE,
    MAX_STREAMS,
    AgentState,
    Health,
    LinkState,
    Metrics,
    PairPage,
    RequestIn,
    RequestState,
    RequestSummary,
    Topology,
)
from .config import add_config_routes
from .topology_ops import add_topology_routes
from .dashboard import add_dashboard_routes
from .guards import AllowedHosts, BodyLimit, HostCheck
from .health import HealthOptions, add_health_routes
from . import prometheus, tracing
from .stats import pair_data
from .streams import open_stream, resume_cursor, sse, stream_responses
from .twin import Conflict, DigitalTwin, Overloaded, RequestRecord, RequestRejected, ServiceUnavailable

DESCRIPTION = """\
The control-and-service plane of a quantum network, with the simulated network as its digital
twin. Applications submit entanglement requests, follow them (state, or a server-sent-event
stream of delivered pairs and status changes), cancel them, and read the topology, the links and
the metrics. Times are simulated seconds; a request's `start` and `end` count from its
acceptance. Mutating calls need `Authorization: Bearer <token>` when the service has a token
(always when it listens beyond loopback). Every call's `Host` header must name the service (its
address and port, or a name it was given with `--allow-host`): 400 otherwise.
"""

#: seconds between two looks at a request's log in an event stream
STREAM_POLL_S = 0.02
#: seconds between keep-alive comments on a quiet stream
STREAM_KEEPALIVE_S = 15.0
#: most events an event stream sends in one write
STREAM_BATCH = 500

_ERRORS = {
    401: {"description": "a bearer token is required for this call"},
    404: {"description": "no such request"},
    413: {"description": "the body is larger than the service accepts"},
    503: {"description": "the twin is not running (starting, shutting down, or its simulation failed)"},
}


def request_state(rec: RequestRecord) -> RequestState:
    """Read a record from the event loop: the final state once published, else the live one.
    Its size does not depend on the pairs delivered."""
    h = rec.handle
    req = h.request
    final = rec.final
    if final is not None:
        status, reason, path = RequestStatus(final["status"]), final["reason"], final["path"]
    else:
        status, reason, path = h.status, h.reason, (list(h.path) if h.path else None)
    delivered, first, stats = rec.log.snapshot()
    fidelity = stats["fidelity"]
    return RequestState(
        id=h.id, origin=rec.origin, src=req.src, dst=req.dst, parties=req.parties, states=req.states,
        min_fidelity=req.min_fidelity, pairs=req.pairs,
        rate=req.rate, start_s=req.start, end_s=req.end, accepted_at_s=rec.accepted_sim_s, status=status,
        final=final is not None, reason=reason, delivered=delivered,
        fidelity_mean=fidelity["mean"] if fidelity else None, stats=stats,
        window={"capacity": rec.log.keep, "first": first, "size": delivered - first}, discarded=h.discarded,
        losses=dict(h.losses), path=path, reroutes=h.reroutes, finished_at_s=final["finished_at_s"] if final else None,
    )


def state_response(rec: RequestRecord, status_code: int = 200, headers: dict[str, str] | None = None) -> Response:
    """A request's state as its routes' response model (:class:`RequestState`) sends it, by alias,
    without FastAPI validating again the model :func:`request_state` has just built (the hot
    routes: a submission and a read)."""
    return Response(request_state(rec).model_dump_json(by_alias=True), status_code=status_code,
                    media_type="application/json", headers=headers)


def _finite(value: Any) -> Any:
    """JSON has no NaN or infinity: an error echoing such an input shows it as a string."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value


def create_app(twin: DigitalTwin, *, token: str | None = None, max_body: int = MAX_BODY_BYTES,
               timeout: float = 10.0, max_streams: int = MAX_STREAMS, hosts: AllowedHosts | None = None,
               cors_origins: Iterable[str] = (), health_options: HealthOptions | None = None) -> FastAPI:
    """The FastAPI application serving ``twin``. ``hosts``: the Host headers it answers to
    (None: any; :class:`~qplane_northbound.service.Service` always gives one);
    ``cors_origins``: the web origins allowed to call it from a browser (none by default);
    ``health_options``: how the health monitor watches the links (:mod:`.health`; its defaults when None)."""
    token = token or None
    app = FastAPI(title="qplane northbound", version=__version__, description=DESCRIPTION,
                  generate_unique_id_function=lambda route: route.name)
    counts = {"accepted": 0, "rejected": 0, "cancelled": 0, "streams_open": 0}

    def body_rejected(scope: Any) -> None:
        if scope["method"] == "POST" and scope["path"] == "/requests":
            counts["rejected"] += 1

    # the last added is the outermost: the Host check comes first, then CORS, then the body
    app.add_middleware(BodyLimit, max_bytes=max_body, on_reject=body_rejected)
    origins = list(cors_origins)
    if origins:
        app.add_middleware(CORSMiddleware, allow_origins=origins, allow_methods=["GET", "POST", "PATCH", "DELETE"],
                           allow_headers=["Authorization", "Content-Type", "Last-Event-ID"],
                           expose_headers=["Location"], max_age=600)
    if hosts is not None:
        app.add_middleware(HostCheck, policy=hosts)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        if request.method == "POST" and request.url.path == "/requests":
            counts["rejected"] += 1
        return JSONResponse({"detail": _finite(jsonable_encoder(exc.errors()))}, status_code=422)

    app.state.twin = twin
    app.state.counts = counts
    app.state.max_streams = max_streams
    nodes = twin.sim.context.network.nodes  # live: nodes added at run time are valid ends (read only here)
    bearer = HTTPBearer(auto_error=False, description="required on POST, PATCH and DELETE when the service has a token")

    async def authorize(credentials: HTTPAuthorizationCredentials | None = Security(bearer)) -> None:
        # async: FastAPI runs a plain ``def`` dependency on a worker thread, a hop per mutating call
        if token is None:
            return
        if credentials is None or not hmac.compare_digest(credentials.credentials.encode(), token.encode()):
            raise HTTPException(401, "this call needs Authorization: Bearer <token>",
                                headers={"WWW-Authenticate": "Bearer"})

    async def wait(fut: concurrent.futures.Future[Any]) -> Any:
        try:
            return await asyncio.wait_for(asyncio.wrap_future(fut), timeout)
        except asyncio.TimeoutError:
            raise HTTPException(503, f"the simulation did not answer within {timeout:g} s") from None
        except Overloaded as e:
            raise HTTPException(429, str(e)) from None
        except ServiceUnavailable as e:
            raise HTTPException(503, str(e)) from None

    def find(request_id: int) -> RequestRecord:
        rec = twin.record(request_id)
        if rec is None:
            raise HTTPException(404, f"no request {request_id}")
        return rec

    @app.post("/requests", status_code=201, response_model=RequestState, dependencies=[Depends(authorize)],
              summary="submit an entanglement request",
              responses={**{k: _ERRORS[k] for k in (401, 413, 503)},
                         429: {"description": "too many requests are unfinished: try again later"}})
    async def submit(body: RequestIn) -> Response:
        ends = ([(("parties", i), p) for i, p in enumerate(body.parties)] if body.parties is not None
                else [((end,), getattr(body, end)) for end in ("src", "dst")])
        for where, name in ends:
            if name not in nodes:
                names = list(nodes.copy())  # copy(): atomic against a node added meanwhile
                shown = ", ".join(names[:8]) + (", ..." if len(names) > 8 else "")
                raise RequestValidationError([{"type": "unknown_node", "loc": ("body", *where), "input": name,
                                               "msg": f"node {name!r} is not in the topology (nodes: {shown})"}])
        try:
            rec = await wait(twin.submit(body.fields()))
        except RequestRejected as e:
            loc = ("body", *(e.field.split(".") if e.field else ()))
            raise RequestValidationError([{"type": "rejected", "loc": loc, "msg": e.message, "input": None}]) from None
        counts["accepted"] += 1
        return state_response(rec, 201, {"Location": f"/requests/{rec.id}"})

    @app.get("/requests", response_model=list[RequestSummary], summary="list requests")
    async def list_requests(
        status: RequestStatus | None = Query(None, description="only requests in this status"),
        after: int = Query(-1, ge=-1, description="only ids greater than this (paging)"),
        limit: int = Query(100, ge=1, le=1000),
    ) -> list[RequestSummary]:
        out = []
        for rid in sorted(twin.records):
            if rid <= after:
                continue
            rec = twin.records[rid]
            h = rec.handle
            st = RequestStatus(rec.final["status"]) if rec.final else h.status
            if status is not None and st != status:
                continue
            out.append(RequestSummary(id=rid, origin=rec.origin, src=h.request.src, dst=h.request.dst, status=st,
                                      final=rec.final is not None, delivered=rec.log.delivered))
            if len(out) >= limit:
                break
        return out

    @app.get("/requests/{request_id}", response_model=RequestState, summary="a request's state",
             responses={404: _ERRORS[404]})
    async def get_request(request_id: int) -> Response:
        return state_response(find(request_id))

    @app.get("/requests/{request_id}/pairs", response_model=PairPage, summary="a page of a request's recent pairs",
             responses={404: _ERRORS[404]})
    async def pairs(
        request_id: int,
        after: int = Query(-1, ge=-1, description="only pairs with a greater index (-1: from the oldest kept). "
                                                  "The service keeps each request's last --keep-pairs pairs: when "
                                                  "`after` is older than that window, the page starts at its "
                                                  "oldest pair and `skipped` counts the pairs missed"),
        limit: int = Query(100, ge=1, le=MAX_PAGE, description="most pairs on the page"),
    ) -> Any:
        rec = find(request_id)
        delivered, first, items = rec.log.page(after, limit)
        return {"request": rec.id, "delivered": delivered,
                "window": {"capacity": rec.log.keep, "first": first, "size": delivered - first},
                "skipped": max(0, first - (after + 1)) if delivered > after + 1 else 0,
                "pairs": [pair_data(rec.id, p) for p in items],
                "next_after": items[-1][0] if items else after}

    @app.delete("/requests/{request_id}", response_model=RequestState, dependencies=[Depends(authorize)],
                summary="cancel a request", responses={**{k: _ERRORS[k] for k in (401, 404, 503)},
                                                       409: {"description": "the request has already ended"}})
    async def cancel(request_id: int) -> RequestState:
        find(request_id)
        try:
            rec = await wait(twin.cancel(request_id, f"cancelled by the application (DELETE /requests/{request_id})"))
        except Conflict as e:
            raise HTTPException(409, str(e)) from None
        counts["cancelled"] += 1
        return request_state(rec)

    @app.get("/requests/{request_id}/events", summary="stream a request's delivered pairs and status changes",
             response_class=StreamingResponse,
             responses=stream_responses(
                 "server-sent events: `status` (data: request, status, final, reason, sim_time_s, delivered, "
                 "path) and `pair` (data: request, index, sim_time_s, fidelity, fidelity_estimated, latency_s, "
                 "age_s); the stream ends after the final status. Events carry ids: send Last-Event-ID to resume "
                 "(at or after a finished request's last event: its final status, then the end). The service "
                 "keeps each request's recent events (its last --keep-pairs pairs and status changes): a stream "
                 "that falls behind them, or resumes before them, gets a `gap` event (data: request, "
                 "missed_from, missed_to: the event ids no longer kept; reason) and goes on with the oldest kept.",
                 {404: _ERRORS[404]}))
    async def events(request_id: int, last_event_id: str | None = Header(None)) -> StreamingResponse:
        rec = find(request_id)
        cursor = max(0, resume_cursor(last_event_id))
        return open_stream(counts, max_streams, lambda release: _stream(rec, cursor, release))

    async def _stream(rec: RequestRecord, cursor: int, release: Callable[[], None]) -> AsyncIterator[str]:
        loop = asyncio.get_running_loop()
        log = rec.log
        last_status = None
        quiet_since = loop.time()
        try:
            cursor = min(cursor, log.next_event)  # an id from the future: go on from now
            while True:
                first, batch, _ = log.read_events(cursor, STREAM_BATCH)
                out = []
                if cursor < first:
                    out.append(sse("gap", {"request": rec.id, "missed_from": cursor, "missed_to": first - 1,
                                            "reason": f"events {cursor}..{first - 1} are no longer kept (the service "
                                                      f"keeps the last {log.keep} pairs of a request)"}))
                    cursor = first
                for eid, kind, data in batch:
                    cursor = eid + 1
                    if kind == "pair":
                        out.append(sse("pair", pair_data(rec.id, data), eid))
                        continue
                    last_status = data["status"]
                    out.append(sse("status", data, eid))
                    if data["final"]:
                        yield "".join(out)
                        return
                if out:
                    yield "".join(out)
                    quiet_since = loop.time()
                    if len(batch) == STREAM_BATCH:
                        await asyncio.sleep(0)  # more to send: let the others run, then go on
                        continue
                elif rec.final is not None and cursor > rec.final_id:  # type: ignore[operator]
                    # resumed at or after the last event of a finished request: its final status, then
                    # the end (final_id is set before final; the events before it were all sent)
                    yield sse("status", rec.final, rec.final_id)
                    return
                live = rec.handle.status
                if rec.final is None and not live.final and live.value != last_status and last_status is not None:
                    # a change no hook announces (e.g. back to waiting after a re-route)
                    last_status = live.value
                    yield sse("status", {"request": rec.id, "status": live.value, "final": False,
                                          "reason": rec.handle.reason, "sim_time_s": twin.kernel.now,
                                          "delivered": log.delivered,
                                          "path": list(rec.handle.path) if rec.handle.path else None})
                if loop.time() - quiet_since > STREAM_KEEPALIVE_S:
                    quiet_since = loop.time()
                    yield ": keep-alive\n\n"
                await asyncio.sleep(STREAM_POLL_S)
        finally:
            release()

    @app.get("/topology", response_model=Topology, summary="nodes and links, as they are and as the controller sees them",
             responses={503: _ERRORS[503]})
    async def topology() -> Any:
        return await wait(twin.query(twin.topology_snapshot))

    @app.get("/links", response_model=list[LinkState], summary="every link's state and statistics",
             responses={503: _ERRORS[503]})
    async def links() -> Any:
        return await wait(twin.query(twin.links_snapshot))

    @app.get("/stats", response_model=Metrics, summary="the twin's and the API's counters (JSON)",
             responses={503: _ERRORS[503]})
    async def stats() -> Any:
        snap = await wait(twin.query(twin.metrics_snapshot))
        return {**snap, "api": dict(counts)}

    # Prometheus: a registry of this service's own; a scrape takes the twin's snapshot on the
    # simulation thread (in a worker thread, so the event loop never blocks); OpenTelemetry
    # spans per request when it is installed
    registry = prometheus.make_registry(twin, counts, timeout)
    app.state.prometheus = registry
    tracing.instrument(twin)

    @app.get("/metrics", summary="the twin's and the API's metrics in the Prometheus text format",
             response_class=Response,
             responses={200: {"content": {prometheus.CONTENT_TYPE: {"schema": {"type": "string"}}},
                              "description": "the Prometheus text exposition format (version 0.0.4): "
                                             "qplane_-prefixed counters, gauges and a histogram"},
                        503: _ERRORS[503]})
    async def metrics() -> Response:
        text = await wait(asyncio.get_running_loop().run_in_executor(None, prometheus.render, registry))
        return Response(text, media_type=prometheus.CONTENT_TYPE)

    @app.get("/agents", response_model=list[AgentState], summary="the node agents (empty without agents)")
    async def agents() -> Any:
        return twin.hub.status() if twin.hub is not None else []

    @app.get("/health", response_model=Health, summary="is the twin running (503 when not)",
             responses={503: {"model": Health, "description": "the twin is not running"}})
    async def health() -> Any:
        error = f"{type(twin.error).__name__}: {twin.error}" if twin.error is not None else None
        body = Health(state=twin.state, sim_time_s=twin.kernel.now, speed=twin.speed, error=error)
        return JSONResponse(body.model_dump(), status_code=200 if twin.state == "running" else 503)

    add_dashboard_routes(app, twin, token=token, authorize=authorize, wait=wait)
    store = add_config_routes(app, twin, authorize=authorize, wait=wait)
    add_topology_routes(app, twin, store, authorize=authorize, wait=wait)
    add_health_routes(app, twin, authorize=authorize, wait=wait, options=health_options)
    return app
