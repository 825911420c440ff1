"""Fixtures: real services on loopback (uvicorn on a free port, in a thread of this process)."""

from __future__ import annotations

from typing import Any, Iterator

import pytest
from qplane.scenario import load_scenario

from qplane_northbound.client import Client
from qplane_northbound.service import Service
from qplane_northbound.twin import DigitalTwin


def chain(nodes: int = 5, **extra: Any) -> Any:
    return load_scenario({
        "name": f"chain-{nodes}", "seed": 7, "duration": 1.0, "backend": "fidelity",
        "topology": {"builder": "chain", "nodes": nodes, "spacing_km": 20},
        "hardware": {"memory": {"count": 4, "coherence_time": 1.0},
                     "link": {"scheme": "mim", "pair_fidelity": 0.95}},
        "requests": [], **extra,
    })


#: keyword arguments of :class:`Service` (the others go to the twin)
SERVICE_KWARGS = ("max_streams", "allow_hosts", "cors_origins", "max_body", "health")


def start_service(scenario: Any = None, *, speed: float | None = 1.0, token: str | None = None,
                  **kwargs: Any) -> Service:
    service_kwargs = {k: kwargs.pop(k) for k in SERVICE_KWARGS if k in kwargs}
    twin = DigitalTwin(scenario if scenario is not None else chain(), speed=speed, **kwargs)
    return Service(twin, "127.0.0.1", 0, token=token, **service_kwargs).start()


@pytest.fixture(scope="module")
def service() -> Iterator[Service]:
    svc = start_service()
    yield svc
    svc.stop()


@pytest.fixture()
def client(service: Service) -> Iterator[Client]:
    with Client(service.url) as c:
        yield c


@pytest.fixture()
def make_service() -> Iterator[Any]:
    """``make_service(scenario=None, speed=1.0, token=None, **kwargs)``: a started service,
    stopped after the test (``kwargs``: the twin's, and the service's :data:`SERVICE_KWARGS`)."""
    made: list[Service] = []

    def make(*args: Any, **kwargs: Any) -> Service:
        svc = start_service(*args, **kwargs)
        made.append(svc)
        return svc

    yield make
    for svc in made:
        svc.stop()


@pytest.fixture()
def make_chain() -> Any:
    return chain
