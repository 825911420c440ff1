"""Load test of the northbound service on loopback: many clients submitting at once.

Starts ``qplane serve SCENARIO --port 0`` in a subprocess (127.0.0.1 only), then ``--clients``
threads, each with its own keep-alive HTTP connection, share ``--requests`` API calls: each
client submits a request (``POST /requests``, one pair between two random nodes) and reads it
back (``GET /requests/{id}``), so half the calls are submissions and half are reads. Everything
is bounded: the calls by ``--requests``, the whole run by ``--timeout`` wall seconds (clients stop
when it is reached and the figures say so).

Afterwards it waits (within the same time budget) until every accepted request has a final
status, then stops the service with SIGTERM and checks the results file: every accepted request
must be there with a final status (none lost).

Prints a JSON line, then a short summary: calls per second, latency p50/p99/max of each kind
of call, errors by status code, accepted/finished/lost requests.

    .venv/bin/python bench/service_load.py [--clients 20] [--requests 2000] [--timeout 60]
                                           [--speed 1.0|max] [--scenario examples/chain.yaml]

It prints figures; it is not a timed test.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import selectors
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    s = sorted(values)
    return s[min(len(s) - 1, max(0, int(round(q / 100 * len(s) + 0.5)) - 1))]


def start_server(scenario: str, speed: str, out: Path, deadline: float) -> tuple[subprocess.Popen, str]:
    cmd = [sys.executable, "-m", "qplane.cli", "serve", scenario, "--host", "127.0.0.1", "--port", "0",
           "--speed", speed, "--json", str(out), "--max-unfinished", "100000"]
    return launch(cmd, deadline)


def stop(proc: subprocess.Popen, sig: int, timeout: float) -> None:
    """Ask the service to shut down with ``sig``; kill it when it has not ended after ``timeout`` s."""
    proc.send_signal(sig)
    try:
        proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()


def launch(cmd: list[str], deadline: float) -> tuple[subprocess.Popen, str]:
    """Start ``qplane serve`` (``cmd``) without a token and wait for the URL it prints."""
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "QPLANE_TOKEN": ""})
    sel = selectors.DefaultSelector()
    sel.register(proc.stdout, selectors.EVENT_READ)  # type: ignore[arg-type]
    while time.monotonic() < deadline:
        if not sel.select(timeout=max(0.0, deadline - time.monotonic())):
            break
        line = proc.stdout.readline()  # type: ignore[union-attr]
        if not line:
            break
        m = re.search(r"on (http://127\.0\.0\.1:\d+)", line)
        if m:
            return proc, m.group(1)
    proc.kill()
    raise SystemExit(f"the service did not start: {proc.stderr.read()}")  # type: ignore[union-attr]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clients", type=int, default=20)
    ap.add_argument("--requests", type=int, default=2000, help="API calls in all (half POST, half GET)")
    ap.add_argument("--timeout", type=float, default=60.0, help="wall seconds for everything")
    ap.add_argument("--speed", default="1.0", help="the service's --speed (default 1.0; or max)")
    ap.add_argument("--scenario", default=str(ROOT / "examples" / "chain.yaml"))
    ap.add_argument("--seed", type=int, default=1, help="seed of the clients' random node pairs")
    args = ap.parse_args(argv)
    if args.clients < 1 or args.requests < 2 or not 0 < args.timeout <= 600:
        ap.error("--clients >= 1, --requests >= 2 and 0 < --timeout <= 600")

    t_start = time.monotonic()
    deadline = t_start + args.timeout
    tmp = Path(tempfile.mkdtemp(prefix="qplane-load-"))
    out = tmp / "results.json"
    proc, url = start_server(args.scenario, args.speed, out, deadline)
    try:
        topo = httpx.get(f"{url}/topology", timeout=10).json()
        nodes = [n["name"] for n in topo["nodes"]]
        lock = threading.Lock()
        tickets = iter(range(args.requests // 2))
        lat: dict[str, list[float]] = {"POST": [], "GET": []}
        codes: dict[str, int] = {}
        accepted: list[int] = []
        stopped_by_timeout = threading.Event()

        def client(k: int) -> None:
            rng = random.Random(args.seed * 1000 + k)
            rid = -1
            with httpx.Client(base_url=url, timeout=10) as http:
                while True:
                    with lock:
                        ticket = next(tickets, None)
                    if ticket is None:
                        return
                    if time.monotonic() > deadline:
                        stopped_by_timeout.set()
                        return
                    src, dst = rng.sample(nodes, 2)
                    for kind in ("POST", "GET"):
                        t0 = time.perf_counter()
                        try:
                            if kind == "POST":
                                r = http.post("/requests", json={"src": src, "dst": dst, "pairs": 1})
                            else:
                                r = http.get(f"/requests/{rid}")
                            code = str(r.status_code)
                        except httpx.HTTPError as e:
                            code = type(e).__name__
                        dt = time.perf_counter() - t0
                        with lock:
                            lat[kind].append(dt)
                            codes[code] = codes.get(code, 0) + 1
                        if kind == "POST":
                            if code != "201":
                                break
                            rid = r.json()["id"]
                            with lock:
                                accepted.append(rid)

        threads = [threading.Thread(target=client, args=(k,), daemon=True) for k in range(args.clients)]
        t0 = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join(max(0.0, deadline - time.monotonic()) + 10)
        load_wall = time.perf_counter() - t0
        calls = len(lat["POST"]) + len(lat["GET"])

        # every accepted request must end with a final status (bounded by the same deadline)
        unfinished = None
        while time.monotonic() < deadline:
            m = httpx.get(f"{url}/stats", timeout=10).json()
            unfinished = m["requests"]["unfinished"]
            if unfinished == 0:
                break
            time.sleep(0.1)
    finally:
        stop(proc, signal.SIGTERM, 30)
    results = json.loads(out.read_text()) if out.exists() else {"requests": []}
    final = {r["id"]: r["status"] for r in results["requests"]}
    lost = [rid for rid in accepted if rid not in final]
    by_status: dict[str, int] = {}
    for rid in accepted:
        st = final.get(rid, "lost")
        by_status[st] = by_status.get(st, 0) + 1

    def stats(v: list[float]) -> dict[str, float | None]:
        return {"n": len(v), "p50_ms": _ms(percentile(v, 50)), "p99_ms": _ms(percentile(v, 99)),
                "max_ms": _ms(max(v) if v else None)}

    report = {
        "bench": "service_load", "clients": args.clients, "calls": calls, "wall_s": round(load_wall, 3),
        "calls_per_s": round(calls / load_wall, 1) if load_wall else None,
        "post": stats(lat["POST"]), "get": stats(lat["GET"]), "all": stats(lat["POST"] + lat["GET"]),
        "codes": dict(sorted(codes.items())), "accepted": len(accepted), "finished_by_status": by_status,
        "lost": len(lost), "unfinished_at_end_of_wait": unfinished, "stopped_by_timeout": stopped_by_timeout.is_set(),
        "speed": args.speed, "server_exit_code": proc.returncode,
        "total_wall_s": round(time.monotonic() - t_start, 2),
    }
    print(json.dumps(report))
    a = report["all"]
    print(f"{calls} calls from {args.clients} clients in {load_wall:.2f} s: {report['calls_per_s']} calls/s; "
          f"latency p50 {a['p50_ms']} ms, p99 {a['p99_ms']} ms (POST p99 {report['post']['p99_ms']} ms, "
          f"GET p99 {report['get']['p99_ms']} ms); codes {report['codes']}; "
          f"{len(accepted)} accepted, {len(accepted) - len(lost)} with a final status, {len(lost)} lost",
          file=sys.stderr)
    ok = not lost and proc.returncode == 0 and set(codes) <= {"200", "201"}
    return 0 if ok else 1


def _ms(v: float | None) -> float | None:
    return None if v is None else round(1e3 * v, 2)


if __name__ == "__main__":
    sys.exit(main())
