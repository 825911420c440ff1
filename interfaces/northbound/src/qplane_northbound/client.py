"""A small Python client of the northbound API (httpx), event streams included.

    from qplane_northbound.client import Client
    with Client("http://127.0.0.1:8080") as c:
        r = c.submit(src="n0", dst="n4", pairs=10, min_fidelity=0.8)
        for event, data in c.events(r["id"]):
            print(event, data)          # status ..., pair ..., ..., the final status
"""

from __future__ import annotations

import json
from typing import Any, Iterator

import httpx


class ApiError(Exception):
    """A non-2xx answer: ``status`` and the body's ``detail``."""

    def __init__(self, status: int, detail: Any):
        self.status = status
        self.detail = detail
        super().__init__(f"HTTP {status}: {detail}")


class Client:
    def __init__(self, base_url: str, *, token: str | None = None, timeout: float = 10.0):
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.http = httpx.Client(base_url=base_url, headers=headers, timeout=timeout)

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def _json(self, response: httpx.Response) -> Any:
        if response.status_code >= 400:
            try:
                detail = response.json().get("detail")
            except ValueError:
                detail = response.text
            raise ApiError(response.status_code, detail)
        return response.json()

    def submit(self, **fields: Any) -> dict[str, Any]:
        return self._json(self.http.post("/requests", json=fields))

    def get(self, request_id: int) -> dict[str, Any]:
        return self._json(self.http.get(f"/requests/{request_id}"))

    def list(self, **params: Any) -> list[dict[str, Any]]:
        return self._json(self.http.get("/requests", params=params))

    def pairs(self, request_id: int, after: int = -1, limit: int = 100) -> dict[str, Any]:
        """A page of the request's recent pairs with an index above ``after`` (the service keeps
        the last ``--keep-pairs``; ``skipped`` counts those an old ``after`` missed); pass
        ``next_after`` as ``after`` for the next page."""
        return self._json(self.http.get(f"/requests/{request_id}/pairs", params={"after": after, "limit": limit}))

    def cancel(self, request_id: int) -> dict[str, Any]:
        return self._json(self.http.delete(f"/requests/{request_id}"))

    def topology(self) -> dict[str, Any]:
        return self._json(self.http.get("/topology"))

    def links(self) -> list[dict[str, Any]]:
        return self._json(self.http.get("/links"))

    def stats(self) -> dict[str, Any]:
        """The twin's and the API's counters as JSON (``GET /stats``)."""
        return self._json(self.http.get("/stats"))

    def metrics(self) -> dict[str, Any]:
        """The same as :meth:`stats` (the JSON counters were served at ``/metrics`` before it
        became the Prometheus text; kept so that callers of ``metrics()`` go on working)."""
        return self.stats()

    def prometheus(self) -> str:
        """The Prometheus text exposition of ``GET /metrics``."""
        response = self.http.get("/metrics")
        if response.status_code >= 400:
            self._json(response)
        return response.text

    def patch_link(self, a: str, b: str, **params: Any) -> dict[str, Any]:
        """Change link ``a``-``b``'s model parameters live (``PATCH /links/{a}/{b}``; None
        removes an override); the new configuration version."""
        return self._json(self.http.patch(f"/links/{a}/{b}", json=params))

    def patch_node(self, name: str, memory: dict[str, Any] | None = None,
                   operations: dict[str, Any] | None = None) -> dict[str, Any]:
        """Change node ``name``'s memory and operation parameters live (``PATCH /nodes/{name}``)."""
        body = {k: v for k, v in (("memory", memory), ("operations", operations)) if v is not None}
        return self._json(self.http.patch(f"/nodes/{name}", json=body))

    def add_node(self, name: str, **hardware: Any) -> dict[str, Any]:
        """Add a node (``POST /nodes``; ``memory=``, ``operations=``); the new version."""
        return self._json(self.http.post("/nodes", json={"name": name, **hardware}))

    def add_link(self, a: str, b: str, length_km: float, **link: Any) -> dict[str, Any]:
        """Add a link (``POST /links``; keyword arguments: its link-model parameters)."""
        return self._json(self.http.post("/links", json={"a": a, "b": b, "length_km": length_km, "link": link}))

    def remove_link(self, a: str, b: str) -> dict[str, Any]:
        return self._json(self.http.delete(f"/links/{a}/{b}"))

    def remove_node(self, name: str) -> dict[str, Any]:
        return self._json(self.http.delete(f"/nodes/{name}"))

    def config(self) -> dict[str, Any]:
        """The current configuration version and the per-link and per-node overrides (``GET /config``)."""
        return self._json(self.http.get("/config"))

    def config_history(self) -> list[dict[str, Any]]:
        return self._json(self.http.get("/config/history"))

    def rollback(self, version: int) -> dict[str, Any]:
        """Restore configuration ``version`` (``POST /config/rollback``); the new version."""
        return self._json(self.http.post("/config/rollback", json={"version": version}))

    def agents(self) -> list[dict[str, Any]]:
        return self._json(self.http.get("/agents"))

    def events(self, request_id: int, *, timeout: float | None = 60.0,
               last_event_id: int | None = None) -> Iterator[tuple[str, dict[str, Any]]]:
        """The request's server-sent events as ``(event, data)``, until its final status:
        ``status``, ``pair``, and ``gap`` when the stream fell behind the pairs the service keeps
        (data: ``missed_from``, ``missed_to``, the event ids no longer kept)."""
        for event, data, _ in self._sse(f"/requests/{request_id}/events", timeout, last_event_id):
            yield event, data

    def _sse(self, path: str, timeout: float | None, last_event_id: int | None
             ) -> Iterator[tuple[str, dict[str, Any], int | None]]:
        """A server-sent event stream as ``(event, data, id)``."""
        headers = {"Last-Event-ID": str(last_event_id)} if last_event_id is not None else {}
        with self.http.stream("GET", path, headers=headers,
                              timeout=httpx.Timeout(10.0, read=timeout)) as response:
            if response.status_code >= 400:
                response.read()
                self._json(response)
            event, data, eid = "message", [], None
            for line in response.iter_lines():
                if line == "":
                    if data:
                        yield event, json.loads("\n".join(data)), eid
                    event, data, eid = "message", [], None
                elif line.startswith(":"):
                    continue  # a keep-alive comment
                else:
                    name, _, value = line.partition(":")
                    value = value[1:] if value.startswith(" ") else value
                    if name == "event":
                        event = value
                    elif name == "data":
                        data.append(value)
                    elif name == "id":
                        eid = int(value)

    def drift(self, a: str, b: str, **params: Any) -> dict[str, Any]:
        """Drift drill: link ``a``-``b``'s hardware takes ``params`` over its configuration, with no
        configuration version (``POST /links/{a}/{b}/drift``)."""
        return self._json(self.http.post(f"/links/{a}/{b}/drift", json=params))

    def end_drift(self, a: str, b: str) -> dict[str, Any]:
        """End the link's drift drill (``DELETE /links/{a}/{b}/drift``)."""
        return self._json(self.http.delete(f"/links/{a}/{b}/drift"))

    def alerts(self, active: bool = False) -> list[dict[str, Any]]:
        """The health monitor's alerts (``GET /alerts``; ``active``: the unresolved ones)."""
        return self._json(self.http.get("/alerts", params={"active": str(active).lower()}))

    def health_links(self) -> list[dict[str, Any]]:
        """Each link's last health check (``GET /health/links``)."""
        return self._json(self.http.get("/health/links"))

    def alert_events(self, *, timeout: float | None = 60.0,
                     last_event_id: int | None = None) -> Iterator[tuple[str, dict[str, Any], int | None]]:
        """The alert stream (``GET /alerts/events``) as ``(event, data, id)``: ``alert``,
        ``resolved``, and ``gap`` when resuming before the events the service keeps. It does not
        end while the service runs: stop iterating when done."""
        return self._sse("/alerts/events", timeout, last_event_id)

    def wait(self, request_id: int, timeout: float = 60.0) -> dict[str, Any]:
        """Follow the request's events until its final status; returns its state."""
        for event, data in self.events(request_id, timeout=timeout):
            if event == "status" and data.get("final"):
                break
        return self.get(request_id)
