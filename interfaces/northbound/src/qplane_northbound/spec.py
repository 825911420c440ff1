"""The committed OpenAPI document: ``interfaces/northbound/openapi.json``.

The API does not depend on the scenario or on how the service was started (the bearer scheme
is always declared), so the document is generated from an app over a two-node network that
never runs. Regenerate after changing the API::

    python -m qplane_northbound.spec > interfaces/northbound/openapi.json

A test checks that a running service serves exactly this document.
"""

from __future__ import annotations

import json
import sys
from typing import Any

SPEC_SCENARIO: dict[str, Any] = {
    "name": "openapi",
    "duration": 1.0,
    "topology": {"builder": "chain", "nodes": 2, "spacing_km": 1.0},
    "requests": [],
}


def openapi_document() -> dict[str, Any]:
    from qplane.scenario import load_scenario

    from .app import create_app
    from .twin import DigitalTwin

    twin = DigitalTwin(load_scenario(SPEC_SCENARIO), speed=None)
    return create_app(twin).openapi()


def openapi_text(document: dict[str, Any] | None = None) -> str:
    return json.dumps(document if document is not None else openapi_document(), indent=2) + "\n"


if __name__ == "__main__":
    sys.stdout.write(openapi_text())
