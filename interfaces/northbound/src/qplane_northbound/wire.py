"""How the service talks HTTP: uvicorn's options, and a response in one write.

* :func:`uvicorn_options`: httptools (the C parser) and uvloop when they are installed (both are
  dependencies of this distribution; uvicorn's pure-Python h11 and asyncio's own loop otherwise),
  no access log.
* :class:`OneWriteHttpTools`: uvicorn's httptools protocol, but the writes a response makes in
  one turn of the event loop (its head, then its body) reach the socket in one ``send``: uvicorn
  writes the head and the body separately, two system calls and two wake-ups of the client on a
  keep-alive connection, per call. The bytes, their order and the flow control are unchanged;
  a write waits at most until the end of the loop's current turn (a streamed response's head and
  each of its chunks still leave at once, when the handler awaits).
"""

from __future__ import annotations

import asyncio
import functools
from typing import Any


class _TurnWrites:
    """A transport that gathers the writes of one turn of the event loop and sends them together
    at the end of it (or before a close). Everything else is the wrapped transport's."""

    __slots__ = ("_transport", "_loop", "_pending")

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop):
        self._transport = transport
        self._loop = loop
        self._pending: list[bytes] = []

    def write(self, data: bytes) -> None:
        if not self._pending:
            self._loop.call_soon(self._flush)
        self._pending.append(bytes(data))

    def writelines(self, lines: Any) -> None:
        for data in lines:
            self.write(data)

    def _flush(self) -> None:
        if self._pending:
            data = b"".join(self._pending) if len(self._pending) > 1 else self._pending[0]
            self._pending.clear()
            if not self._transport.is_closing():
                self._transport.write(data)

    def close(self) -> None:
        self._flush()
        self._transport.close()

    def abort(self) -> None:
        self._pending.clear()
        self._transport.abort()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


@functools.cache
def one_write_protocol() -> type[asyncio.Protocol] | None:
    """:class:`OneWriteHttpTools` when httptools is installed, else None (uvicorn's default)."""
    try:
        from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
    except ImportError:  # httptools missing: uvicorn's h11 protocol, two writes a response
        return None

    class OneWriteHttpTools(HttpToolsProtocol):
        """uvicorn's httptools protocol; a response's writes in one turn leave in one ``send``."""

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(_TurnWrites(transport, self.loop))  # type: ignore[arg-type]

    return OneWriteHttpTools


def uvicorn_options() -> dict[str, Any]:
    """The keyword arguments of :class:`uvicorn.Config` that make the service fast."""
    protocol = one_write_protocol()
    options: dict[str, Any] = {"access_log": False, "loop": "auto"}  # auto: uvloop when installed
    if protocol is not None:
        options["http"] = protocol
    return options
