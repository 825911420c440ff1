"""How the service talks HTTP (qplane_northbound.wire): a response's writes of one event-loop turn
leave in one send, in order, before a close; the service runs on httptools with that protocol."""

from __future__ import annotations

import asyncio
import socket
from typing import Any

from qplane_northbound.service import Service
from qplane_northbound.wire import _TurnWrites, one_write_protocol, uvicorn_options


class FakeTransport:
    def __init__(self) -> None:
        self.log: list[Any] = []
        self.closing = False

    def write(self, data: bytes) -> None:
        self.log.append(bytes(data))

    def close(self) -> None:
        self.closing = True
        self.log.append("close")

    def abort(self) -> None:
        self.closing = True
        self.log.append("abort")

    def is_closing(self) -> bool:
        return self.closing

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return f"extra:{name}"


def test_the_writes_of_one_turn_leave_together_and_in_order() -> None:
    async def main() -> list[Any]:
        t = FakeTransport()
        w = _TurnWrites(t, asyncio.get_running_loop())  # type: ignore[arg-type]
        w.write(b"HTTP/1.1 200 OK\r\n\r\n")
        w.write(memoryview(b"body"))
        assert t.log == []  # nothing sent within the turn
        await asyncio.sleep(0)
        w.write(b"next")  # a later turn: a send of its own
        await asyncio.sleep(0)
        w.writelines([b"a", b"b"])
        w.close()  # flushes first
        await asyncio.sleep(0)
        w.write(b"after close")  # dropped like the transport would
        await asyncio.sleep(0)
        assert w.get_extra_info("peername") == "extra:peername"  # everything else is the transport's
        return t.log

    assert asyncio.run(main()) == [b"HTTP/1.1 200 OK\r\n\r\nbody", b"next", b"ab", "close"]


def test_abort_drops_what_is_pending() -> None:
    async def main() -> list[Any]:
        t = FakeTransport()
        w = _TurnWrites(t, asyncio.get_running_loop())  # type: ignore[arg-type]
        w.write(b"x")
        w.abort()
        await asyncio.sleep(0)
        return t.log

    assert asyncio.run(main()) == ["abort"]


def test_the_service_answers_a_call_in_one_segment(service: Service) -> None:
    # httptools (a dependency) with the one-write protocol, no access log
    opts = uvicorn_options()
    assert opts["http"] is one_write_protocol() is not None and opts["access_log"] is False
    assert service.server.config.http is opts["http"]
    with socket.create_connection(("127.0.0.1", service.port), timeout=5) as s:
        for _ in range(3):  # keep-alive: each answer whole in the first read
            s.sendall(f"GET /health HTTP/1.1\r\nHost: 127.0.0.1:{service.port}\r\n\r\n".encode())
            data = s.recv(65536)
            head, _, body = data.partition(b"\r\n\r\n")
            length = next(int(line.split(b":")[1]) for line in head.split(b"\r\n")
                          if line.lower().startswith(b"content-length:"))
            assert head.startswith(b"HTTP/1.1 200") and len(body) == length and b'"state":"running"' in body


def test_the_hot_routes_send_what_their_response_model_would(service: Service) -> None:
    # POST /requests and GET /requests/{id} build their JSON themselves (qplane_northbound.app.state_response)
    import time

    import httpx
    from fastapi.routing import serialize_response

    from qplane_northbound.app import request_state

    route = next(r for r in service.app.routes if getattr(r, "path", "") == "/requests/{request_id}"
                 and "GET" in getattr(r, "methods", ()))
    with httpx.Client(base_url=service.url) as http:
        posted = http.post("/requests", json={"src": "n0", "dst": "n4", "pairs": 2})
        assert posted.status_code == 201 and posted.headers["content-type"] == "application/json"
        rid = posted.json()["id"]
        assert posted.headers["location"] == f"/requests/{rid}"
        deadline = time.monotonic() + 10
        while not http.get(f"/requests/{rid}").json()["final"] and time.monotonic() < deadline:
            time.sleep(0.05)
        served = http.get(f"/requests/{rid}")
    rec = service.twin.records[rid]
    assert served.json()["final"] and served.json()["delivered"] == 2
    expected = asyncio.run(serialize_response(field=route.response_field, response_content=request_state(rec),
                                              dump_json=True))
    assert served.content == expected
