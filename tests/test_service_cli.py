"""``qplane serve`` and ``qplane agent`` as commands: start, serve, shut down in order, refuse
bad options with one line and exit code 2."""

from __future__ import annotations

import json
import re
import selectors
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytest.importorskip("qplane_northbound")

from qplane_northbound.client import Client  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
CHAIN = str(ROOT / "examples" / "chain.yaml")
QPLANE = [sys.executable, "-m", "qplane.cli"]


def _read_until(proc: subprocess.Popen, pattern: str, timeout: float = 20.0) -> re.Match:
    sel = selectors.DefaultSelector()
    sel.register(proc.stdout, selectors.EVENT_READ)
    deadline = time.monotonic() + timeout
    seen = []
    while time.monotonic() < deadline:
        if not sel.select(timeout=max(0.0, deadline - time.monotonic())):
            break
        line = proc.stdout.readline()
        if not line:
            break
        seen.append(line)
        m = re.search(pattern, line)
        if m:
            return m
    proc.kill()
    raise AssertionError(f"no line matching {pattern!r}; got {seen!r}; stderr {proc.stderr.read()!r}")


def test_serve_runs_until_sigterm_then_cancels_what_is_unfinished(tmp_path: Path) -> None:
    out = tmp_path / "served.json"
    proc = subprocess.Popen([*QPLANE, "serve", CHAIN, "--port", "0", "--speed", "max", "--json", str(out)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path)
    try:
        url = _read_until(proc, r"on (http://127\.0\.0\.1:\d+)").group(1)
        with Client(url) as c:
            assert c.http.get("/health").json()["state"] == "running"
            done = c.wait(c.submit(src="n0", dst="n4", pairs=5)["id"], timeout=20)
            assert done["status"] == "completed"
            long = c.submit(src="n0", dst="n4", rate=1.0, end=1e5, start=1e4)["id"]
            assert c.get(0)["origin"] == "scenario"
        proc.send_signal(signal.SIGTERM)
        stdout, stderr = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, stderr
    assert "cancelled" in stdout and f"results: {out}" in stdout
    results = json.loads(out.read_text())
    by_id = {r["id"]: r for r in results["requests"]}
    assert by_id[0]["status"] == "completed" and by_id[1]["status"] == "completed"
    assert by_id[long]["status"] == "cancelled"
    assert by_id[long]["reason"].startswith("the service received SIGTERM at t=")


@pytest.mark.parametrize("args, words", [
    (["serve", CHAIN, "--host", "0.0.0.0"], "listens beyond loopback: a token is required"),
    (["serve", CHAIN, "--speed", "0"], "--speed must be > 0"),
    (["serve", CHAIN, "--speed", "fast"], "--speed takes a number or 'max'"),
    (["serve", CHAIN, "--agents", "n9", "--port", "0"], "--agents: n9 not in the topology"),
    (["serve", CHAIN, "--agents", "n1", "--southbound", "0.0.0.0:0", "--port", "0"], "--southbound 0.0.0.0"),
    (["serve", CHAIN, "--agents", "n1", "--agent-wait", "0.3", "--port", "0"],
     "no agent connected for n1 within 0.3 s"),
    (["serve", CHAIN, "--agents", "n1", "--agent-pending-max", "0", "--port", "0"], "--agent-pending-max >= 1"),
    (["serve", CHAIN, "--keep-pairs", "0"], "--keep-pairs must be between 1 and 10000000 (got 0)"),
    (["serve", CHAIN, "--max-streams", "0"], "--max-streams must be at least 1"),
    (["serve", CHAIN, "--port", "0", "--allow-host", "a:b:c"], "--allow-host takes NAME or NAME:PORT (got 'a:b:c')"),
    (["serve", CHAIN, "--cors-origin", "*"], "--cors-origin * lets every web page call the service: give a token"),
    (["serve", CHAIN, "--cors-origin", "app.example/x"], "--cors-origin takes an origin such as"),
    (["agent", "--node", "n1", "--connect", "127.0.0.1:1", "--connect-timeout", "0.2"], "cannot reach the controller"),
    (["agent", "--node", "n1", "--connect", "nowhere"], "expected HOST:PORT"),
])
def test_bad_options_give_one_line_and_exit_2(args: list[str], words: str, tmp_path: Path) -> None:
    r = subprocess.run([*QPLANE, *args], capture_output=True, text=True, timeout=30, cwd=tmp_path,
                       env={"PATH": "/usr/bin:/bin", "QPLANE_TOKEN": ""})
    assert r.returncode == 2, (r.stdout, r.stderr)
    assert words in r.stderr
    assert "Traceback" not in r.stderr


def test_serve_bounds_the_agent_handshakes_as_its_options_say(tmp_path: Path) -> None:
    import socket

    proc = subprocess.Popen([*QPLANE, "serve", CHAIN, "--agents", "n1", "--port", "0", "--agent-wait", "3",
                             "--agent-handshake-timeout", "0.4", "--agent-pending-per-address", "2"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path)
    try:
        m = _read_until(proc, r"waiting for agents n1 on (127\.0\.0\.1):(\d+)")
        socks = [socket.create_connection((m.group(1), int(m.group(2))), timeout=5) for _ in range(3)]
        t0 = time.monotonic()
        replies = [json.loads(s.makefile("rb").readline()) for s in socks[:2]]
        waited = time.monotonic() - t0
        assert replies[0]["reason"] == "too many pending handshakes from this address: this one, the oldest, is closed"
        assert replies[1]["reason"] == "no hello within 0.4 s of connecting" and waited < 2.0
        for s in socks:
            s.close()
        assert proc.wait(timeout=10) == 2  # no agent came
    finally:
        if proc.poll() is None:
            proc.kill()


def test_the_serve_options_default_to_the_hubs_bounds() -> None:
    import argparse

    from qplane_northbound.service import add_serve_command
    from qplane_northbound.twin import AgentOptions
    from qplane_southbound import hub

    parser = argparse.ArgumentParser()
    add_serve_command(parser.add_subparsers())
    args = parser.parse_args(["serve", "x.yaml"])
    options = AgentOptions(["n1"])
    assert args.agent_handshake_timeout == options.handshake_timeout == hub.HANDSHAKE_TIMEOUT_S
    assert args.agent_pending_per_address == options.max_pending_per_address == hub.MAX_PENDING_PER_ADDRESS
    assert args.agent_pending_max == options.max_pending == hub.MAX_PENDING


def test_the_commands_are_registered_through_the_plugin_hook() -> None:
    r = subprocess.run([*QPLANE, "--help"], capture_output=True, text=True, timeout=30)
    assert "serve" in r.stdout and "agent" in r.stdout
    r = subprocess.run([*QPLANE, "plugins", "--json"], capture_output=True, text=True, timeout=30)
    comps = {(p["name"], c["kind"], c["name"]) for p in json.loads(r.stdout)["plugins"] for c in p["components"]}
    assert ("northbound", "command", "serve") in comps and ("southbound", "command", "agent") in comps
