"""The service: the HTTP API on uvicorn in front of a digital twin, and ``qplane serve``.

Threads: uvicorn's event loop (the main thread under ``qplane serve``, a thread of its own with
:meth:`Service.start`), the twin's simulation thread, and — with agents — the southbound hub's
threads. Shutting down (SIGINT/SIGTERM, or :meth:`Service.stop`) first tells the twin to stop
taking requests and to end every unfinished one ``cancelled`` with the reason, so event streams
finish with a final status; then uvicorn closes its connections, the simulation thread ends
and the agents get a ``bye``.

Security: the service binds to 127.0.0.1 unless told otherwise, and refuses to listen beyond
loopback without a token; with a token every mutating call needs it (and agents must present
it in their ``hello``). Every HTTP request's ``Host`` header must name the service (its address
and port — on loopback, any of 127.0.0.1, localhost and [::1] — or an ``--allow-host`` name),
which keeps web pages out through DNS rebinding; browsers may call it cross-origin only from the
``--cors-origin`` origins.

Bounds: each request keeps running aggregates and its last ``--keep-pairs`` pairs, whatever it
delivered; at most ``--max-streams`` event streams are open at once; at most
``--max-unfinished`` requests are unfinished at once; bodies are at most ``--max-body`` bytes.
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import os
import re
import signal
import socket
import sys
import threading
from pathlib import Path
from typing import Any

from qplane.errors import QPlaneError

from .health import HealthOptions
from .models import MAX_BODY_BYTES, MAX_STREAMS
from .twin import KEEP_PAIRS, AgentOptions, DigitalTwin

#: GIL switch interval of a ``qplane serve`` process (Python's default is 5 ms)
SWITCH_INTERVAL_S = 0.0005


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a host name: it may resolve anywhere


def check_binding(host: str, token: str | None, what: str = "--host") -> None:
    if not is_loopback(host) and not token:
        raise QPlaneError(f"{what} {host} listens beyond loopback: a token is required for every mutating call "
                          "(give --token or set $QPLANE_TOKEN), or bind to 127.0.0.1")


def _bind(host: str, port: int) -> socket.socket:
    try:
        family, kind, proto, _, addr = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
        # proto IPPROTO_TCP, not 0: asyncio sets TCP_NODELAY on accepted sockets only then (without
        # it every small response waits ~40 ms for a delayed ACK)
        sock = socket.socket(family, kind, proto or socket.IPPROTO_TCP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(addr)
        sock.listen(2048)
    except OSError as e:
        raise QPlaneError(f"cannot listen on {host}:{port}: {e.strerror or e}") from e
    sock.set_inheritable(True)
    return sock


class Service:
    """A twin served over HTTP on ``host``:``port`` (0: any free port; see :attr:`port`)."""

    def __init__(self, twin: DigitalTwin, host: str = "127.0.0.1", port: int = 8080, *, token: str | None = None,
                 max_body: int = MAX_BODY_BYTES, log_level: str = "warning", max_streams: int = MAX_STREAMS,
                 allow_hosts: list[str] | tuple[str, ...] = (), cors_origins: list[str] | tuple[str, ...] = (),
                 health: HealthOptions | None = None):
        import uvicorn

        from .app import create_app
        from .guards import AllowedHosts
        from .wire import uvicorn_options

        token = token or None
        check_binding(host, token)
        self.twin = twin
        self.host = host
        self.port = port
        self.token = token
        try:
            self.hosts = AllowedHosts(host, port, loopback=is_loopback(host), extra=allow_hosts)
        except ValueError as e:
            raise QPlaneError(str(e)) from None
        self.app = create_app(twin, token=token, max_body=max_body, max_streams=max_streams, hosts=self.hosts,
                              cors_origins=cors_origins, health_options=health)
        # httptools and uvloop, a response in one write, no access log (:mod:`.wire`)
        config = uvicorn.Config(self.app, log_level=log_level, lifespan="off", timeout_graceful_shutdown=5,
                                timeout_keep_alive=30, **uvicorn_options())
        service = self

        class _Server(uvicorn.Server):
            stop_reason = "the service shut down"

            def handle_exit(self, sig: int, frame: Any) -> None:
                # a signal handler: only flags here (taking a lock could deadlock). Unlike uvicorn's
                # own, it does not re-raise the signal after shutting down, which would kill the
                # process before the twin stops and the results are written.
                self.stop_reason = f"the service received {signal.Signals(sig).name}"
                if self.should_exit and sig == signal.SIGINT:
                    self.force_exit = True  # a second Ctrl-C: do not wait for connections
                self.should_exit = True

            async def shutdown(self, sockets: Any = None) -> None:
                # before uvicorn waits for open connections: requests end cancelled, so every
                # event stream ends with its final status
                service.twin.request_stop(self.stop_reason)
                await super().shutdown(sockets=sockets)

        self.server = _Server(config)
        self._sock: socket.socket | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def _listen(self) -> None:
        self._sock = _bind(self.host, self.port)
        self.port = self.hosts.port = self._sock.getsockname()[1]

    def start(self, timeout: float = 15.0, **twin_start: Any) -> "Service":
        """Start the twin and serve on a thread of its own; returns once uvicorn is up."""
        self._listen()
        try:
            self.twin.start(**twin_start)
        except BaseException:
            self._sock.close()  # type: ignore[union-attr]
            raise
        self._thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self._sock]},
                                        name="qplane-northbound-http", daemon=True)
        self._thread.start()
        for _ in range(int(timeout / 0.01)):
            if self.server.started or not self._thread.is_alive():
                break
            threading.Event().wait(0.01)
        if not self.server.started:
            self.stop("the HTTP server did not start")
            raise QPlaneError(f"the HTTP server did not start on {self.url}")
        return self

    def stop(self, reason: str = "the service shut down", timeout: float = 15.0) -> dict[str, Any] | None:
        """Shut down: requests end cancelled, streams end, uvicorn and the twin stop."""
        self.twin.request_stop(reason)
        self.twin.wait(timeout)
        self.server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout)
        return self.twin.stop(reason, timeout)

    def __enter__(self) -> "Service":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()


# ---------------------------------------------------------------------------------- the command


def _speed(text: str) -> float | None:
    if text == "max":
        return None
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--speed takes a number or 'max' (got {text!r})") from None
    if not 0 < value <= 1e9:
        raise argparse.ArgumentTypeError(f"--speed must be > 0 simulated seconds per wall second (got {text})")
    return value


def _port(text: str) -> int:
    if not text.isdigit() or not 0 <= int(text) < 65536:
        raise argparse.ArgumentTypeError(f"--port takes 0..65535 (got {text!r})")
    return int(text)


def add_serve_command(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "serve", help="run the control plane as an HTTP service over the scenario's network (its digital twin)",
        description="Serve the northbound API (OpenAPI at /docs and /openapi.json) over the scenario's network "
                    "running live. The run lasts as long as the service: the scenario's duration bounds only "
                    "what the scenario schedules itself; on shutdown every unfinished request ends cancelled.")
    p.add_argument("scenario", help="scenario file (YAML or JSON)")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1; beyond loopback "
                                                       "a token is required)")
    p.add_argument("--port", type=_port, default=8080, help="port (default 8080; 0: any free port)")
    p.add_argument("--speed", type=_speed, default=1.0, metavar="X|max",
                   help="simulated seconds per wall second (default 1.0), or max: as fast as possible")
    p.add_argument("--token", default=os.environ.get("QPLANE_TOKEN"),
                   help="bearer token required on POST, PATCH and DELETE (default: $QPLANE_TOKEN)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="PATH=VALUE",
                   help="override a scenario field by dotted path (repeatable)")
    p.add_argument("--seed", type=int, help="replace the scenario's seed")
    p.add_argument("--backend", help="replace the scenario's state backend")
    p.add_argument("--agents", metavar="N1,N2,...", help="nodes driven by node agents (qplane agent) instead of "
                                                          "in-process simulated devices")
    p.add_argument("--southbound", default="127.0.0.1:0", metavar="HOST:PORT",
                   help="where agents connect (default 127.0.0.1:0, a free port, printed)")
    p.add_argument("--heartbeat", type=float, default=0.5, metavar="S", help="agent heartbeat interval (default 0.5 s)")
    p.add_argument("--misses", type=int, default=3, metavar="N",
                   help="heartbeat intervals of silence before an agent's node is failed (default 3)")
    p.add_argument("--agent-wait", type=float, default=30.0, metavar="S",
                   help="how long to wait for every agent before giving up (default 30 s)")
    p.add_argument("--agent-handshake-timeout", type=float, default=5.0, metavar="S",
                   help="an agent's hello must arrive this long after it connects, or it is rejected (default 5 s)")
    p.add_argument("--agent-pending-per-address", type=int, default=8, metavar="N",
                   help="connections from one address still waiting for their hello; beyond, the oldest is "
                        "closed (default 8)")
    p.add_argument("--agent-pending-max", type=int, default=64, metavar="N",
                   help="connections in all still waiting for their hello; beyond, the oldest from the busiest "
                        "address is closed (default 64)")
    p.add_argument("--max-body", type=int, default=MAX_BODY_BYTES, metavar="BYTES",
                   help=f"largest request body accepted (default {MAX_BODY_BYTES}; 413 beyond)")
    p.add_argument("--max-unfinished", type=int, default=10_000, metavar="N",
                   help="unfinished requests allowed at once (default 10000; 429 beyond)")
    p.add_argument("--keep-pairs", type=int, default=KEEP_PAIRS, metavar="N",
                   help=f"recent pairs kept per request for GET /requests/{{id}}/pairs and for event streams to "
                        f"catch up (default {KEEP_PAIRS}); every pair counts in the request's running aggregates")
    p.add_argument("--max-streams", type=int, default=MAX_STREAMS, metavar="N",
                   help=f"event streams open at once (default {MAX_STREAMS}; 503 beyond)")
    p.add_argument("--allow-host", dest="allow_hosts", action="append", default=[], metavar="NAME[:PORT]",
                   help="also answer to this Host header (repeatable; NAME: at any port), e.g. the name a reverse "
                        "proxy forwards; other names get 400")
    p.add_argument("--cors-origin", dest="cors_origins", action="append", default=[], metavar="ORIGIN",
                   help="let web pages from this origin (e.g. http://localhost:3000) call the API (repeatable; "
                        "default: none)")
    d = HealthOptions()
    p.add_argument("--health-interval", type=float, default=d.interval, metavar="S",
                   help=f"simulated seconds between two health checks of every link (default {d.interval:g}; 0: no "
                        "monitoring). A check compares each link's observed success rate and probed fidelity with "
                        "its configured model's (GET /health/links); a drifting link raises an alert (GET /alerts, "
                        "GET /alerts/events)")
    p.add_argument("--health-fidelity-drop", type=float, default=d.fidelity_drop, metavar="DF",
                   help=f"a fidelity alert when the probed fidelity is more than DF below the expected one "
                        f"(default {d.fidelity_drop:g}; and beyond {d.z:g} standard deviations of the probe)")
    p.add_argument("--health-rate-drop", type=float, default=d.rate_drop, metavar="FRACTION",
                   help=f"a rate alert when the observed success rate is below (1 - FRACTION) x the expected one "
                        f"(default {d.rate_drop:g}; and beyond {d.z:g} standard deviations of the count)")
    p.add_argument("--health-probe-pairs", type=int, default=d.probe_pairs, metavar="N",
                   help=f"sacrificial pairs measured per link and check (default {d.probe_pairs})")
    p.add_argument("--health-drain", action="store_true",
                   help="take a link with an active alert out of routing (requests re-route) until a check finds "
                        "it healthy again (default: alert only)")
    p.add_argument("--json", dest="json_out", metavar="OUT", help="write the run's results here at shutdown")
    p.add_argument("--log-level", default="warning", choices=("critical", "error", "warning", "info", "debug"),
                   help="uvicorn's log level (default warning)")
    from qplane.cli import add_allow_large

    add_allow_large(p)
    p.set_defaults(func=cmd_serve)


def cmd_serve(args: argparse.Namespace) -> int:
    from qplane.cli import warn_load_errors
    from qplane.results import summary_table
    from qplane.registry import Registry
    from qplane.scenario import load_scenario

    args.token = args.token or None  # an empty $QPLANE_TOKEN is no token
    check_binding(args.host, args.token)
    agents = None
    if args.agents:
        sb_host, sep, sb_port_text = args.southbound.rpartition(":")
        if not sep or not sb_host or not sb_port_text.isdigit() or int(sb_port_text) > 65535:
            raise QPlaneError(f"--southbound takes HOST:PORT, e.g. 127.0.0.1:7700 (got {args.southbound!r})")
        sb_host, sb_port = sb_host.strip("[]"), int(sb_port_text)
        check_binding(sb_host, args.token, "--southbound")
        if args.heartbeat <= 0 or args.misses < 1:
            raise QPlaneError("--heartbeat must be > 0 and --misses >= 1")
        if not args.agent_handshake_timeout > 0 or args.agent_pending_per_address < 1 or args.agent_pending_max < 1:
            raise QPlaneError("--agent-handshake-timeout must be > 0, --agent-pending-per-address and "
                              "--agent-pending-max >= 1")
        names = [n.strip() for n in args.agents.split(",") if n.strip()]
        agents = AgentOptions(names, sb_host, sb_port, heartbeat_interval=args.heartbeat, misses=args.misses,
                              token=args.token, wait_s=args.agent_wait,
                              handshake_timeout=args.agent_handshake_timeout,
                              max_pending_per_address=args.agent_pending_per_address,
                              max_pending=args.agent_pending_max)
    if args.max_body < 256 or args.max_unfinished < 1:
        raise QPlaneError("--max-body must be at least 256 bytes and --max-unfinished at least 1")
    if not 1 <= args.keep_pairs <= 10_000_000:
        raise QPlaneError(f"--keep-pairs must be between 1 and 10000000 (got {args.keep_pairs})")
    if args.max_streams < 1:
        raise QPlaneError(f"--max-streams must be at least 1 (got {args.max_streams})")
    for origin in args.cors_origins:
        if origin != "*" and not re.fullmatch(r"https?://[^/\s]+", origin):
            raise QPlaneError(f"--cors-origin takes an origin such as http://localhost:3000 (scheme://host[:port], "
                              f"no path) or * (got {origin!r})")
        if origin == "*" and not args.token:
            raise QPlaneError("--cors-origin * lets every web page call the service: give a token too (--token)")
    health = HealthOptions(interval=args.health_interval, fidelity_drop=args.health_fidelity_drop,
                           rate_drop=args.health_rate_drop, probe_pairs=args.health_probe_pairs,
                           drain=args.health_drain)
    try:
        health.check()
    except ValueError as e:
        raise QPlaneError(str(e)) from None
    scenario = load_scenario(args.scenario, overrides=args.overrides, seed=args.seed, backend=args.backend,
                             allow_large=args.allow_large)
    registry = getattr(args, "registry", None) or Registry()  # the CLI's, built once
    warn_load_errors(registry)
    twin = DigitalTwin(scenario, speed=args.speed, registry=registry, agents=agents,
                       max_unfinished=args.max_unfinished, keep_pairs=args.keep_pairs)
    service = Service(twin, args.host, args.port, token=args.token, max_body=args.max_body,
                      log_level=args.log_level, max_streams=args.max_streams, allow_hosts=args.allow_hosts,
                      cors_origins=args.cors_origins, health=health)
    service._listen()

    def listening(host: str, port: int) -> None:
        print(f"qplane serve: waiting for agents {', '.join(agents.nodes)} on {host}:{port} "  # type: ignore[union-attr]
              f"(qplane agent --node NODE --connect {host}:{port})", flush=True)

    try:
        twin.start(on_agents_listening=listening)
    except BaseException:
        service._sock.close()  # type: ignore[union-attr]
        raise
    net = twin.sim.context.network
    pace = "as fast as possible" if args.speed is None else f"speed {args.speed:g} simulated s per wall s"
    guard = "; token required for POST, PATCH and DELETE" if args.token else ""
    print(f"qplane serve: {scenario.name} ({len(net.nodes)} node{'s' * (len(net.nodes) != 1)}, {len(net.links)} link{'s' * (len(net.links) != 1)}, {pace}) "
          f"on {service.url}{guard}", flush=True)
    # the simulation thread is CPU-bound while it serves; hand the GIL to the HTTP thread more often
    # than every 5 ms (Python's default), or each request waits for it several times
    sys.setswitchinterval(SWITCH_INTERVAL_S)
    try:
        service.server.run(sockets=[service._sock])
    finally:
        results = twin.stop(twin.stop_reason or "the service shut down")
    if twin.error is not None:
        print(f"qplane serve: the simulation failed: {type(twin.error).__name__}: {twin.error}", file=sys.stderr)
    if results is not None:
        print(summary_table(results))
        if args.json_out:
            out = Path(args.json_out)
            try:
                out.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
            except OSError as e:
                raise QPlaneError(f"--json {out}: cannot write: {e.strerror}") from e
            print(f"results: {out}")
    return 0 if twin.error is None else 1
