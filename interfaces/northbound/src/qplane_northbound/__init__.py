"""qplane-northbound: qplane's control plane as an HTTP service over a digital twin.

* :mod:`.kernel` — the real-time, thread-fed kernel the twin runs on;
* :mod:`.twin` — :class:`DigitalTwin`, the scenario's network running live on its own thread;
* :mod:`.models` and :mod:`.app` — the HTTP API (FastAPI) and its bodies;
* :mod:`.service` — :class:`Service` (uvicorn + twin) and the ``qplane serve`` command;
* :mod:`.client` — a small Python client (httpx), server-sent events included.
"""

__version__ = "0.1.0"
