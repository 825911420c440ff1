"""Server-sent event streams of the service (a request's pairs and statuses, the alerts): the
event format, the resume cursor and the bound on open streams, shared by every stream route."""

from __future__ import annotations

import json
import weakref
from typing import Any, AsyncIterator, Callable

from fastapi import HTTPException
from fastapi.responses import StreamingResponse


def sse(event: str, data: dict[str, Any], event_id: int | None = None) -> str:
    """One server-sent event (``id`` when given, ``event``, compact JSON ``data``)."""
    head = f"id: {event_id}\n" if event_id is not None else ""
    return f"{head}event: {event}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n"


def resume_cursor(last_event_id: str | None) -> int:
    """The first event id to send: after ``Last-Event-ID`` (0 without one, or a malformed one)."""
    try:
        return int(last_event_id) + 1 if last_event_id is not None else 0
    except ValueError:
        return 0


def stream_responses(description: str, more: dict[int, Any] | None = None) -> dict[int | str, Any]:
    """The OpenAPI ``responses`` of a stream route: 200 with a ``text/event-stream`` body that
    ``description`` describes, the route's ``more`` (by status code), and 503 when too many
    streams are open (:func:`open_stream`)."""
    return {200: {"content": {"text/event-stream": {"schema": {"type": "string"}}}, "description": description},
            **(more or {}),
            503: {"description": "too many event streams are open (the service's --max-streams)"}}


def open_stream(counts: dict[str, int], limit: int | None,
                make: Callable[[Callable[[], None]], AsyncIterator[str]]) -> StreamingResponse:
    """A streaming response from ``make(release)``, counted in ``counts["streams_open"]`` until
    the stream ends or is dropped (``release`` runs once either way); 503 with ``Retry-After``
    when ``limit`` streams are open already."""
    if limit is not None and counts["streams_open"] >= limit:
        raise HTTPException(503, f"{counts['streams_open']} event streams are open (at most {limit}): "
                                 "try again later", headers={"Retry-After": "1"})
    counts["streams_open"] += 1
    released = False

    def release() -> None:
        nonlocal released
        if not released:
            released = True
            counts["streams_open"] -= 1

    stream = make(release)
    weakref.finalize(stream, release)  # also when the response never iterates it
    return StreamingResponse(stream, media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
