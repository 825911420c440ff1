"""The service's guards, as ASGI middleware in front of the API: the Host check and the body
limits.

* :class:`HostCheck` answers 400 to a request whose ``Host`` header does not name the service
  (:class:`AllowedHosts`: its address and port — on loopback, each of ``127.0.0.1``,
  ``localhost`` and ``[::1]`` — and the names given with ``--allow-host``). A web page that
  rebinds a name of its own to 127.0.0.1 (DNS rebinding) sends that name as ``Host``, so it
  cannot submit or cancel on a service that has no token.
* :class:`BodyLimit` answers 413 to a body over ``max_bytes`` (declared or read) and 422 to
  one nesting arrays and objects deeper than ``max_depth``, before anything parses it (a JSON
  parser recurses once per level; FastAPI answers a parser's RecursionError with a bare 400).

Their error bodies have the API's format: ``{"detail": "..."}``, and for the 422 a list of
errors with ``type``, ``loc``, ``msg`` and ``input``.
"""

from __future__ import annotations

import json
import re
from typing import Any, Callable, Iterable

from .models import MAX_BODY_BYTES, MAX_JSON_DEPTH

_JSON_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.S)
_JSON_NEST = re.compile(rb"[\[\]{}]")


def json_depth(body: bytes) -> int:
    """The deepest nesting of arrays and objects in a JSON text (strings skipped)."""
    depth = deepest = 0
    for m in _JSON_NEST.finditer(_JSON_STRING.sub(b'""', body)):
        if m.group() in (b"[", b"{"):
            depth += 1
            deepest = max(deepest, depth)
        else:
            depth -= 1
    return deepest


def split_host(value: str) -> tuple[str, int | None] | None:
    """``(name, port)`` of a Host header or ``--allow-host`` value (``name``, ``name:port``,
    ``[v6]``, ``[v6]:port``; port None when absent); None when malformed."""
    value = value.strip().lower()
    if value.startswith("["):
        end = value.find("]")
        if end < 0:
            return None
        name, rest = value[1:end], value[end + 1:]
        if not rest:
            return (name, None) if name else None
        if not rest.startswith(":"):
            return None
        port_text = rest[1:]
    else:
        name, sep, port_text = value.partition(":")
        if not sep:
            return (name, None) if name else None
    if not name or not port_text.isdigit() or len(port_text) > 5:
        return None
    return name, int(port_text)


class AllowedHosts:
    """The ``Host`` header values a service answers to.

    Its own address at its port — with ``loopback``, each of ``127.0.0.1``, ``localhost`` and
    ``[::1]`` — and every ``extra`` name (``NAME``: at any port; ``NAME:PORT``: at that port).
    A Host without a port means port 80. ``port`` may be set once the socket is bound."""

    LOOPBACK = ("127.0.0.1", "localhost", "::1")

    def __init__(self, host: str, port: int, *, loopback: bool, extra: Iterable[str] = ()):
        own = host.strip("[]").lower()
        self.names = {own, *self.LOOPBACK} if loopback else {own}
        self.port = port
        self.extra: set[tuple[str, int | None]] = set()
        for value in extra:
            parsed = split_host(value)
            if parsed is None:
                raise ValueError(f"--allow-host takes NAME or NAME:PORT (got {value!r})")
            self.extra.add(parsed)

    def allows(self, header: str) -> bool:
        parsed = split_host(header)
        if parsed is None:
            return False
        name, port = parsed
        if name in self.names and (port if port is not None else 80) == self.port:
            return True
        return (name, None) in self.extra or (name, port) in self.extra

    def shown(self) -> str:
        def at(name: str) -> str:
            return f"[{name}]" if ":" in name else name

        names = [f"{at(n)}:{self.port}" for n in sorted(self.names)]
        names += [at(n) + (f":{p}" if p is not None else "") for n, p in sorted(self.extra, key=str)]
        return ", ".join(names)


def _answer(status: int, detail: Any) -> Callable[[Any], Any]:
    payload = json.dumps({"detail": detail}).encode()

    async def send_it(send: Any) -> None:
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode()),
                                (b"connection", b"close")]})
        await send({"type": "http.response.body", "body": payload})

    return send_it


class HostCheck:
    """ASGI middleware: answer 400 to a request whose ``Host`` header ``policy`` does not allow
    (DNS rebinding: a web page's script reaching a local service under a name of its own)."""

    def __init__(self, app: Any, policy: AllowedHosts):
        self.app = app
        self.policy = policy

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] in ("http", "websocket"):
            host = next((v.decode("latin-1") for k, v in scope.get("headers", ()) if k == b"host"), None)
            if host is None:
                await _answer(400, "a Host header is required")(send)
                return
            if not self.policy.allows(host):
                await _answer(400, f"Host {host!r} is not a name of this service (it answers to "
                                   f"{self.policy.shown()}; add a name with --allow-host)")(send)
                return
        await self.app(scope, receive, send)


class BodyLimit:
    """ASGI middleware: refuse a request body over ``max_bytes`` with 413, and one nesting
    deeper than ``max_depth`` with 422, before any parsing."""

    def __init__(self, app: Any, max_bytes: int = MAX_BODY_BYTES, max_depth: int = MAX_JSON_DEPTH,
                 on_reject: Callable[[Any], None] | None = None):
        self.app = app
        self.max_bytes = max_bytes
        self.max_depth = max_depth
        self.on_reject = on_reject

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["method"] not in ("POST", "PUT", "PATCH"):
            await self.app(scope, receive, send)
            return
        for name, value in scope.get("headers", ()):
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    await self._answer(send, 400, "invalid Content-Length")
                    return
                if declared > self.max_bytes:
                    await self._answer(send, 413, f"the body is {declared} bytes; at most {self.max_bytes} are accepted")
                    return
        body = bytearray()
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body += message.get("body", b"")
            if len(body) > self.max_bytes:
                await self._answer(send, 413, f"the body exceeds {self.max_bytes} bytes")
                return
            if not message.get("more_body", False):
                break
        depth = json_depth(bytes(body)) if body else 0
        if depth > self.max_depth:
            if self.on_reject is not None:
                self.on_reject(scope)
            await _answer(422, [{"type": "json_too_deep", "loc": ["body"], "input": None,
                                 "msg": f"the JSON body nests {depth} levels deep; at most {self.max_depth} "
                                        "levels of arrays and objects are accepted"}])(send)
            return
        replayed = False

        async def replay() -> Any:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": bytes(body), "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    @staticmethod
    async def _answer(send: Any, status: int, detail: str) -> None:
        await _answer(status, detail)(send)
