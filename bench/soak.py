"""Soak test of the northbound service: one unending rate request, the service's memory watched.

Starts ``qplane serve SCENARIO --port 0 --speed max`` in a subprocess (127.0.0.1 only), submits
one request for ``rate: 1e7`` pairs per simulated second until ``end: 1e6`` (more than any
network here serves: the twin delivers pairs as fast as it can for the whole run), and every
``--interval`` seconds samples the service process's resident memory (psutil, or
``/proc/PID/status`` without it) and reads the request back (``GET /requests/{id}``: its latency
and size, which must not grow with the pairs). With ``--stream`` a client also follows the
request's event stream for the whole run (pairs received, gaps). After ``--duration`` seconds
it stops the service with SIGINT and times the shutdown.

Prints one JSON line per sample, then a summary line:

    {"summary": true, "rss_start_mb": ..., "rss_warm_mb": ..., "rss_end_mb": ...,
     "growth_after_warmup_mb": ..., "pairs_delivered": ..., "pairs_after_warmup": ...,
     "shutdown_s": ..., "ok": true}

``rss_warm_mb`` is the first sample at or after ``--warmup`` seconds; the growth is the end
minus that. Exit code 1 when the growth exceeds ``--max-growth-mb`` (default 20) or the shutdown
takes longer than ``--max-shutdown-s`` (default 2). Everything is bounded: the run by
``--duration`` (default 120 s), start-up and shutdown by 60 s each; the service is killed if it
does not stop by then.

    .venv/bin/python bench/soak.py [--duration 120] [--interval 5] [--warmup 20] [--stream]
                                   [--keep-pairs 1000] [--scenario examples/chain.yaml --src n0 --dst n4]
"""

from __future__ import annotations

import argparse
import json
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from service_load import launch, stop as stop_service  # noqa: E402  (the bench folder's own helper)

ROOT = Path(__file__).resolve().parent.parent


def rss_mb(pid: int) -> float:
    """The resident memory of process ``pid`` in MiB."""
    try:
        import psutil
    except ImportError:
        with open(f"/proc/{pid}/status", encoding="ascii") as f:
            kb = int(re.search(r"^VmRSS:\s+(\d+) kB", f.read(), re.M).group(1))  # type: ignore[union-attr]
        return kb / 1024
    return psutil.Process(pid).memory_info().rss / 2**20


def start_server(args: argparse.Namespace, deadline: float) -> tuple[subprocess.Popen, str]:
    cmd = [sys.executable, "-m", "qplane.cli", "serve", args.scenario, "--host", "127.0.0.1", "--port", "0",
           "--speed", "max", "--keep-pairs", str(args.keep_pairs)]
    return launch(cmd, deadline)


def follow(url: str, rid: int, stop: threading.Event, seen: dict[str, int]) -> None:
    """Read the request's event stream until ``stop`` (or its end); count pairs and gaps."""
    try:
        with httpx.Client(base_url=url, timeout=httpx.Timeout(10.0, read=30.0)) as http:
            with http.stream("GET", f"/requests/{rid}/events") as resp:
                for line in resp.iter_lines():
                    if line.startswith("event: "):
                        kind = line[7:]
                        seen[kind] = seen.get(kind, 0) + 1
                    if stop.is_set():
                        return
    except httpx.HTTPError as e:
        seen["error"] = seen.get("error", 0) + 1
        seen.setdefault("error_text", str(e))  # type: ignore[arg-type]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--duration", type=float, default=120.0, help="wall seconds of load (default 120)")
    ap.add_argument("--interval", type=float, default=5.0, help="seconds between samples (default 5)")
    ap.add_argument("--warmup", type=float, default=20.0, help="seconds before the growth is measured (default 20)")
    ap.add_argument("--max-growth-mb", type=float, default=20.0, help="fail above this growth after warm-up")
    ap.add_argument("--max-shutdown-s", type=float, default=2.0, help="fail when the shutdown takes longer")
    ap.add_argument("--keep-pairs", type=int, default=1000, help="the service's --keep-pairs (default 1000)")
    ap.add_argument("--stream", action="store_true", help="also follow the request's event stream")
    ap.add_argument("--scenario", default=str(ROOT / "examples" / "chain.yaml"))
    ap.add_argument("--src", default="n0")
    ap.add_argument("--dst", default="n4")
    args = ap.parse_args(argv)
    if not 0 < args.duration <= 3600 or not 0 < args.interval <= args.duration or not 0 <= args.warmup < args.duration:
        ap.error("need 0 < --interval <= --duration <= 3600 and 0 <= --warmup < --duration")

    proc, url = start_server(args, time.monotonic() + 60)
    stop = threading.Event()
    seen: dict[str, int] = {}
    reader = None
    samples: list[dict] = []
    try:
        http = httpx.Client(base_url=url, timeout=30)
        r = http.post("/requests", json={"src": args.src, "dst": args.dst, "rate": 1e7, "end": 1e6})
        if r.status_code != 201:
            raise SystemExit(f"the request was refused: {r.status_code} {r.text}")
        rid = r.json()["id"]
        if args.stream:
            reader = threading.Thread(target=follow, args=(url, rid, stop, seen), daemon=True)
            reader.start()
        t0 = time.monotonic()
        last_t, last_n = t0, None
        times = [i * args.interval for i in range(int(args.duration / args.interval + 1e-9) + 1)]
        if times[-1] < args.duration - 1e-9:
            times.append(args.duration)
        for at in times:
            time.sleep(max(0.0, t0 + at - time.monotonic()))
            now = time.monotonic()
            rss = rss_mb(proc.pid)
            got = http.get(f"/requests/{rid}")
            get_ms = (time.monotonic() - now) * 1000
            delivered = got.json()["delivered"]
            rate = None if last_n is None else round((delivered - last_n) / max(now - last_t, 1e-9))
            sample = {"t_s": round(now - t0, 2), "rss_mb": round(rss, 2), "delivered": delivered,
                      "pairs_per_s": rate, "get_ms": round(get_ms, 2), "get_bytes": len(got.content)}
            if args.stream:
                sample["stream"] = {k: v for k, v in seen.items() if k != "error_text"}
            samples.append(sample)
            print(json.dumps(sample), flush=True)
            last_t, last_n = now, delivered
        http.close()
        stop.set()
        t = time.monotonic()
        stop_service(proc, signal.SIGINT, 60)
        shutdown_s = time.monotonic() - t
    finally:
        stop.set()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    warm = next((s for s in samples if s["t_s"] >= args.warmup - 0.01), samples[-1])
    growth = samples[-1]["rss_mb"] - warm["rss_mb"]
    summary = {
        "summary": True, "duration_s": samples[-1]["t_s"], "keep_pairs": args.keep_pairs,
        "rss_start_mb": samples[0]["rss_mb"], "rss_warm_mb": warm["rss_mb"], "rss_end_mb": samples[-1]["rss_mb"],
        "rss_max_mb": max(s["rss_mb"] for s in samples), "growth_after_warmup_mb": round(growth, 2),
        "pairs_delivered": samples[-1]["delivered"], "pairs_after_warmup": samples[-1]["delivered"] - warm["delivered"],
        "get_bytes_first_last": [samples[0]["get_bytes"], samples[-1]["get_bytes"]],
        "get_ms_max": max(s["get_ms"] for s in samples), "shutdown_s": round(shutdown_s, 3),
        "exit_code": proc.returncode,
    }
    if args.stream:
        summary["stream"] = dict(seen)
    summary["ok"] = growth <= args.max_growth_mb and shutdown_s <= args.max_shutdown_s and proc.returncode == 0
    print(json.dumps(summary), flush=True)
    return 0 if summary["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
