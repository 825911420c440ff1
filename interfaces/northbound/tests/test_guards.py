"""The service's guards (issue 14): the Host check against DNS rebinding, CORS closed unless
configured, strict input types, non-finite numbers and deep nesting refused with a 422 that
names the field or the problem."""

from __future__ import annotations

import socket

import httpx
import pytest
from qplane.errors import QPlaneError

from qplane_northbound.client import Client
from qplane_northbound.guards import AllowedHosts, json_depth, split_host
from qplane_northbound.service import Service
from qplane_northbound.twin import DigitalTwin

GOOD = {"src": "n0", "dst": "n4", "pairs": 5}


def _post(http: httpx.Client, body: bytes, **headers: str) -> httpx.Response:
    return http.post("/requests", content=body, headers={"content-type": "application/json", **headers})


# ------------------------------------------------------------------------------ Host


def test_a_foreign_host_header_gets_400_and_changes_nothing(make_service) -> None:
    svc = make_service()
    port = svc.port
    with Client(svc.url) as c:
        rid = c.submit(src="n0", dst="n4", rate=5.0, end=1000.0)["id"]
        before = c.stats()["api"]["accepted"]
        for host in ("evil.example", f"evil.example:{port}", "127.0.0.1:1", "127.0.0.1", f"127.0.0.2:{port}",
                     f"localhost.evil.example:{port}", "", f"user@127.0.0.1:{port}"):
            r = c.http.post("/requests", json=GOOD, headers={"Host": host})
            assert r.status_code == 400, host
            assert "is not a name of this service" in r.json()["detail"] and "--allow-host" in r.json()["detail"]
            assert c.http.delete(f"/requests/{rid}", headers={"Host": host}).status_code == 400
            assert c.http.get("/topology", headers={"Host": host}).status_code == 400
        assert c.stats()["api"]["accepted"] == before and c.get(rid)["status"] != "cancelled"
        for host in (f"127.0.0.1:{port}", f"localhost:{port}", f"LocalHost:{port}", f"[::1]:{port}"):
            assert c.http.get("/health", headers={"Host": host}).status_code == 200, host
        assert c.http.post("/requests", json=GOOD, headers={"Host": f"localhost:{port}"}).status_code == 201
        c.cancel(rid)


def test_a_request_without_host_gets_400(service: Service) -> None:
    with socket.create_connection(("127.0.0.1", service.port), timeout=10) as sock:
        sock.sendall(b"GET /health HTTP/1.0\r\n\r\n")
        answer = b""
        while chunk := sock.recv(4096):
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 400") and b"a Host header is required" in answer


def test_allow_host_adds_names(make_service) -> None:
    svc = make_service(allow_hosts=["proxy.example", "pinned.example:9", "[fd00::1]:8443"])
    with httpx.Client(base_url=svc.url, timeout=10) as http:
        for host, status in (("proxy.example", 200), ("proxy.example:1234", 200), ("pinned.example:9", 200),
                             ("pinned.example:10", 400), ("pinned.example", 400), ("[fd00::1]:8443", 200),
                             ("[fd00::1]:80", 400), ("evil.example", 400)):
            assert http.get("/health", headers={"Host": host}).status_code == status, host
    twin = DigitalTwin(svc.twin.scenario, speed=None)
    for bad in ("a:b:c", "name:port", "[::1", ":80", "name:123456"):
        with pytest.raises(QPlaneError, match="--allow-host takes NAME or NAME:PORT"):
            Service(twin, "127.0.0.1", 0, allow_hosts=[bad])


def test_the_allowed_hosts_follow_the_address_bound() -> None:
    loop = AllowedHosts("127.0.0.1", 8080, loopback=True)
    assert all(loop.allows(h) for h in ("127.0.0.1:8080", "localhost:8080", "[::1]:8080"))
    assert not loop.allows("10.0.0.5:8080") and not loop.allows("localhost:8081") and not loop.allows("localhost")
    web = AllowedHosts("127.0.0.1", 80, loopback=True)
    assert web.allows("localhost") and web.allows("localhost:80")  # no port: 80
    lan = AllowedHosts("10.1.2.3", 8080, loopback=False, extra=["qnet.example"])
    assert lan.allows("10.1.2.3:8080") and lan.allows("qnet.example") and lan.allows("qnet.example:443")
    assert not lan.allows("localhost:8080") and not lan.allows("127.0.0.1:8080")
    assert split_host("[::1]:8080") == ("::1", 8080) and split_host("Example.ORG") == ("example.org", None)
    assert split_host("a:b") is None and split_host("[::1]x") is None and split_host("") is None


# ------------------------------------------------------------------------------ CORS


def test_cors_is_closed_unless_origins_are_given(service: Service, make_service) -> None:
    preflight = {"Origin": "http://evil.example", "Access-Control-Request-Method": "POST",
                 "Access-Control-Request-Headers": "content-type"}
    with httpx.Client(base_url=service.url, timeout=10) as http:
        r = http.options("/requests", headers=preflight)
        assert "access-control-allow-origin" not in r.headers and r.status_code >= 400
        r = http.get("/health", headers={"Origin": "http://evil.example"})
        assert "access-control-allow-origin" not in r.headers
    svc = make_service(cors_origins=["http://app.example"])
    with httpx.Client(base_url=svc.url, timeout=10) as http:
        r = http.options("/requests", headers={**preflight, "Origin": "http://app.example"})
        assert r.status_code == 200 and r.headers["access-control-allow-origin"] == "http://app.example"
        assert "POST" in r.headers["access-control-allow-methods"]
        r = http.get("/health", headers={"Origin": "http://app.example"})
        assert r.headers["access-control-allow-origin"] == "http://app.example"
        r = http.options("/requests", headers=preflight)
        assert "access-control-allow-origin" not in r.headers


# ------------------------------------------------------------------------------ strict input


@pytest.mark.parametrize("change, loc, words", [
    ({"pairs": True}, ["body", "pairs"], "valid integer"),
    ({"pairs": 5.0}, ["body", "pairs"], "valid integer"),
    ({"pairs": "5"}, ["body", "pairs"], "valid integer"),
    ({"min_fidelity": True}, ["body", "min_fidelity"], "valid number"),
    ({"min_fidelity": "0.5"}, ["body", "min_fidelity"], "valid number"),
    ({"pairs": None, "rate": False, "end": 5.0}, ["body", "rate"], "valid number"),
    ({"start": "0"}, ["body", "start"], "valid number"),
    ({"end": [5.0]}, ["body", "end"], "valid number"),
    ({"priority": True}, ["body", "priority"], "valid integer"),
    ({"priority": 1.0}, ["body", "priority"], "valid integer"),
    ({"src": 5}, ["body", "src"], "valid string"),
])
def test_numbers_and_strings_are_strict(client: Client, change: dict, loc: list, words: str) -> None:
    body = {k: v for k, v in {**GOOD, **change}.items() if v is not None}
    r = client.http.post("/requests", json=body)
    assert r.status_code == 422, r.text
    assert r.json()["detail"][0]["loc"] == loc and words in r.json()["detail"][0]["msg"]


def test_an_integer_is_a_number(client: Client) -> None:
    r = client.http.post("/requests", json={"src": "n0", "dst": "n4", "rate": 10, "end": 5, "start": 0,
                                            "min_fidelity": 0})
    assert r.status_code == 201, r.text
    assert r.json()["rate"] == 10.0
    client.cancel(r.json()["id"])


@pytest.mark.parametrize("fields, loc", [
    ('"pairs": 3, "min_fidelity": NaN', ["body", "min_fidelity"]),
    ('"rate": Infinity, "end": 5', ["body", "rate"]),
    ('"pairs": 3, "start": -Infinity', ["body", "start"]),
    ('"pairs": 3, "end": 1e999', ["body", "end"]),
    ('"pairs": NaN', ["body", "pairs"]),
    ('"pairs": 3, "priority": Infinity', ["body", "priority"]),
    ('"pairs": 3, "protocols": {"routing": {"name": "shortest-path", "weight": NaN}}',
     ["body", "protocols", "routing", "weight"]),
    ('"pairs": 3, "protocols": {"routing": {"name": "k-shortest", "x": [1.0, -1e400]}}',
     ["body", "protocols", "routing", "x", 1]),
])
def test_non_finite_numbers_are_refused_with_their_field(client: Client, fields: str, loc: list) -> None:
    r = _post(client.http, ('{"src": "n0", "dst": "n4", ' + fields + "}").encode())
    assert r.status_code == 422, r.text
    err = r.json()["detail"][0]
    assert err["loc"] == loc and err["type"] == "finite_number"
    assert "expected a finite number" in err["msg"]


def test_deep_nesting_is_a_422_naming_the_problem(client: Client) -> None:
    before = client.stats()["api"]["rejected"]
    deep = b"[" * 5000 + b"]" * 5000
    for body in (b'{"src": "n0", "dst": "n4", "pairs": 1, "protocols": {"routing": {"name": "x", "p": ' + deep + b"}}}",
                 b"[" * 8000 + b"]" * 8000, b"{" * 3000):
        r = _post(client.http, body)
        assert r.status_code == 422, r.text
        (err,) = r.json()["detail"]
        assert err["type"] == "json_too_deep" and err["loc"] == ["body"]
        assert "levels deep; at most 32 levels of arrays and objects are accepted" in err["msg"]
    assert client.stats()["api"]["rejected"] == before + 3
    # brackets inside strings do not count; 32 levels pass the guard
    r = _post(client.http, b'{"src": "' + b"[" * 100 + b'", "dst": "n4", "pairs": 1}')
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "src"]
    ok = b'{"src": "n0", "dst": "n4", "pairs": 1, "protocols": {"routing": {"name": "x", "p": ' + \
        b"[" * 29 + b"]" * 29 + b"}}}"
    assert json_depth(ok) == 32
    r = _post(client.http, ok)
    assert r.status_code == 422 and r.json()["detail"][0]["type"] != "json_too_deep"
    assert json_depth(b'{"a": "[[{{\\"", "b": [{}]}') == 3
