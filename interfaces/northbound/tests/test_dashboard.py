"""The web dashboard in a real browser: headless Chromium (the system's, /usr/bin/chromium)
driven by Playwright, against a live service on examples/metro.yaml.

Skipped when Playwright or Chromium is missing (``.ci/run`` installs Chromium; Playwright is in
requirements-dev.txt). Screenshots go to the test's tmp dir; with
``QPLANE_DASHBOARD_SCREENSHOT=docs/dashboard.png`` the test also writes the README's copy::

    QPLANE_DASHBOARD_SCREENSHOT=docs/dashboard.png .venv/bin/python -m pytest -q \\
        interfaces/northbound/tests/test_dashboard.py
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path
from typing import Any, Iterator

import httpx
import pytest

from qplane.scenario import load_scenario

from qplane_northbound.dashboard import compute_layout

from playwright import sync_api  # requirements-dev.txt installs it; never skipped

ROOT = Path(__file__).resolve().parents[3]
METRO = ROOT / "examples" / "metro.yaml"
CHROMIUM = os.environ.get("QPLANE_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]
#: the link colours of the style sheet, by state
COLOURS = {"up": "rgb(46, 157, 79)", "down": "rgb(214, 39, 40)", "undetected": "rgb(255, 140, 0)"}

if not Path(CHROMIUM).exists():  # a missing browser is an error to fix, not a test to skip
    raise RuntimeError(f"the dashboard's browser tests need Chromium at {CHROMIUM}: apt-get install chromium "
                       "(.ci/run installs it), or set QPLANE_CHROMIUM")


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        yield b
        b.close()


@pytest.fixture()
def metro(make_service: Any) -> Any:
    return make_service(load_scenario(METRO), speed=1.0)


@pytest.fixture()
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1440, "height": 1000}, device_scale_factor=1)
    pg = context.new_page()
    pg.set_default_timeout(10_000)
    errors: list[str] = []
    pg.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    pg.on("pageerror", lambda e: errors.append(str(e)))
    pg.console_errors = errors  # type: ignore[attr-defined]
    yield pg
    context.close()


def _open(page: Any, url: str) -> None:
    page.goto(url + "/")
    page.wait_for_selector("body[data-ready='1']")
    page.wait_for_selector("#topology g.node")


def wire_colour(page: Any, a: str, b: str) -> str:
    return page.eval_on_selector(f'#topology g.link[data-link="{a}|{b}"] line.wire',
                                 "e => getComputedStyle(e).stroke")


def test_the_metro_dashboard_draws_every_site_submits_and_drills(metro: Any, page: Any, tmp_path: Path) -> None:
    sites = list(metro.twin.sim.context.network.nodes)
    _open(page, metro.url)
    # every site by name, drawn where the layout says
    names = page.eval_on_selector_all("#topology g.node text", "es => es.map(e => e.textContent)")
    assert sorted(names) == sorted(sites)
    for name in sites:
        assert page.locator(f'#topology g.node[data-node="{name}"] text').is_visible()
    labels = page.eval_on_selector_all("#topology .link-label", "es => es.map(e => e.textContent)")
    assert len(labels) == len(metro.twin.sim.context.network.links)
    page.wait_for_function("() => [...document.querySelectorAll('#topology .link-label')].every(e => e.dataset.full)")
    # each link is labelled by its success probability and fidelity (shortened, or in its
    # tooltip only, where the whole label does not fit between its nodes)
    full = page.eval_on_selector_all("#topology .link-label", "es => es.map(e => e.dataset.full)")
    assert all(t.startswith("p=") and " F=" in t for t in full)
    shown = page.eval_on_selector_all("#topology .link-label", "es => es.map(e => e.textContent)")
    assert all(t in (f, f.split()[1], "") for t, f in zip(shown, full))
    assert sum(t == f for t, f in zip(shown, full)) > len(full) / 3
    tips = page.eval_on_selector_all("#topology g.link title", "es => es.map(e => e.textContent)")
    assert all("p=" in t and "F=" in t for t in tips)
    assert wire_colour(page, "Central", "Harbour") == COLOURS["up"]
    # the scenario's own requests are listed
    page.wait_for_selector("#requests tbody tr")

    # a request submitted through the form appears and completes
    page.select_option("#f-src", "Bank-HQ")
    page.select_option("#f-dst", "Exchange")
    page.fill("#f-pairs", "25")
    page.fill("#f-minf", "0.6")
    page.click("#f-submit")
    page.wait_for_function("() => document.querySelector('#message')?.textContent.includes('accepted')")
    rid = int(page.text_content("#message").split()[1].rstrip(":"))
    row = f'#requests tr[data-id="{rid}"]'
    page.wait_for_selector(row)
    page.wait_for_function(f"() => document.querySelector('{row} .status')?.textContent === 'completed'")
    assert page.text_content(f"{row} .delivered") == "25"
    fmean = float(page.text_content(f"{row} .fmean"))
    api = httpx.get(f"{metro.url}/requests/{rid}").json()
    assert api["status"] == "completed" and abs(fmean - api["fidelity_mean"]) < 1e-3

    # a long request, then a link of its path taken down from the drill: it turns the failed
    # colour and the request re-routes around it
    page.select_option("#f-src", "Port")
    page.select_option("#f-dst", "Airport")
    page.fill("#f-rate", "200")
    page.fill("#f-end", "20")
    page.click("#f-submit")
    page.wait_for_function("() => document.querySelector('#message')?.textContent.includes('Port → Airport')")
    long_id = int(page.text_content("#message").split()[1].rstrip(":"))
    long_row = f'#requests tr[data-id="{long_id}"]'
    page.wait_for_function(f"() => document.querySelector('{long_row} .status')?.textContent === 'active'")
    page.wait_for_function(f"() => document.querySelector('{long_row} .spark polyline')")
    before = httpx.get(f"{metro.url}/requests/{long_id}").json()["path"]
    a, b = before[1], before[2]  # a ring link: there is another way round
    key = next(k for k in (f"{a}|{b}", f"{b}|{a}") if page.locator(f'#topology g.link[data-link="{k}"]').count())
    page.click(f'#topology g.link[data-link="{key}"] line.hit')
    assert page.input_value("#d-link") == key
    page.screenshot(path=str(tmp_path / "dashboard-before-drill.png"))
    page.click("#d-link-down")
    page.wait_for_function(
        f"() => document.querySelector('#topology g.link[data-link=\"{key}\"]')?.dataset.state === 'down'")
    assert wire_colour(page, *key.split("|")) == COLOURS["down"]
    deadline = time.monotonic() + 10
    while True:
        after = httpx.get(f"{metro.url}/requests/{long_id}").json()
        if after["path"] and after["path"] != before and after["status"] == "active":
            break
        assert time.monotonic() < deadline, f"no re-route: {after['status']} {after['path']} {after['reason']}"
        time.sleep(0.05)
    assert not ({a, b} <= set(after["path"]) and abs(after["path"].index(a) - after["path"].index(b)) == 1)
    assert after["reroutes"] >= 1
    page.wait_for_function(f"() => document.querySelector('{long_row} .path')?.textContent?.includes('re-routed')")
    # the request submitted last is selected: its (new) path is drawn
    assert "selected" in page.get_attribute(long_row, "class")
    page.wait_for_selector("#path-layer polyline")
    time.sleep(0.8)  # a few more points on the plots
    shot = tmp_path / "dashboard.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 10_000
    if os.environ.get("QPLANE_DASHBOARD_SCREENSHOT"):
        shutil.copy(shot, os.environ["QPLANE_DASHBOARD_SCREENSHOT"])

    # up again, and the cancel button ends the long request
    page.click("#d-link-up")
    page.wait_for_function(
        f"() => document.querySelector('#topology g.link[data-link=\"{key}\"]')?.dataset.state === 'up'")
    page.click(f"{long_row} button.cancel")
    page.wait_for_function(f"() => document.querySelector('{long_row} .status')?.textContent === 'cancelled'")
    assert httpx.get(f"{metro.url}/requests/{long_id}").json()["status"] == "cancelled"
    assert page.console_errors == []  # type: ignore[attr-defined]


def test_a_node_drill_and_the_token_field(make_service: Any, page: Any, make_chain: Any) -> None:
    svc = make_service(make_chain(4), speed=1.0, token="s3cret")
    _open(page, svc.url)
    assert page.locator("#token-box").is_visible()
    page.select_option("#d-node", "n2")
    page.click("#d-node-down")  # no token yet: refused, and the page says so
    page.wait_for_function("() => document.querySelector('#message')?.textContent.includes('token')")
    assert httpx.get(f"{svc.url}/topology").json()["nodes"][2]["up"] is True
    page.fill("#token", "s3cret")
    page.click("#d-node-down")
    page.wait_for_function("() => document.querySelector('#topology g.node[data-node=\"n2\"]')?.dataset.state === 'down'")
    assert httpx.get(f"{svc.url}/topology").json()["nodes"][2]["up"] is False
    page.click("#d-node-up")
    page.wait_for_function("() => document.querySelector('#topology g.node[data-node=\"n2\"]')?.dataset.state === 'up'")
    # the refused call is the only error the console saw (the browser logs the 401)
    assert all("401" in e for e in page.console_errors)  # type: ignore[attr-defined]


def test_a_failure_the_controller_has_not_detected_yet_has_its_own_colour(make_service: Any, page: Any,
                                                                         make_chain: Any) -> None:
    # LLDP-like discovery: a link down is noticed after 3 missed heartbeats of 2 ms, i.e. after
    # some 6 ms of simulated time, 1.2 s of wall time at this speed: the page sees both states
    scenario = make_chain(4, protocols={"topology_manager": {"name": "lldp", "heartbeat_interval": 0.002,
                                                             "misses": 3, "hello_wait": 0.001}})
    svc = make_service(scenario, speed=0.005)
    _open(page, svc.url)
    link = '#topology g.link[data-link="n1|n2"]'
    page.wait_for_function(f"() => document.querySelector('{link}')?.dataset.state === 'up'")
    page.select_option("#d-link", "n1|n2")
    page.click("#d-link-down")
    page.wait_for_function(f"() => document.querySelector('{link}')?.dataset.state === 'undetected'")
    assert wire_colour(page, "n1", "n2") == COLOURS["undetected"]
    page.wait_for_function(f"() => document.querySelector('{link}')?.dataset.state === 'down'")
    assert wire_colour(page, "n1", "n2") == COLOURS["down"]
    assert page.console_errors == []  # type: ignore[attr-defined]


def test_a_health_alert_appears_in_the_panel_and_marks_its_link(make_service: Any, page: Any, make_chain: Any,
                                                                tmp_path: Path) -> None:
    from qplane_northbound.health import HealthOptions

    svc = make_service(make_chain(4), speed=1.0, token="t", health=HealthOptions(interval=0.05, probe_pairs=500))
    _open(page, svc.url)
    assert page.locator("#alerts-none").is_visible() and page.locator("#alerts li").count() == 0
    auth = {"Authorization": "Bearer t"}
    assert httpx.post(f"{svc.url}/links/n1/n2/drift", json={"pair_fidelity": 0.7}, headers=auth).status_code == 200
    page.wait_for_selector("#alerts li.alert-fidelity")
    text = page.text_content("#alerts li")
    assert text.startswith("n1 – n2 fidelity") and "expected 0." in text
    assert not page.locator("#alerts-none").is_visible()
    link = '#topology g.link[data-link="n1|n2"]'
    page.wait_for_function(f"() => document.querySelector('{link}')?.classList.contains('alerted')")
    ring = page.eval_on_selector(f"{link} line.alert-ring", "e => getComputedStyle(e).strokeDasharray")
    assert ring not in ("", "none")
    assert not page.eval_on_selector('#topology g.link[data-link="n0|n1"]', "e => e.classList.contains('alerted')")
    page.screenshot(path=str(tmp_path / "dashboard-alert.png"), full_page=True)
    # the drift ends: the alert resolves and leaves the panel and the drawing
    assert httpx.delete(f"{svc.url}/links/n1/n2/drift", headers=auth).status_code == 200
    page.wait_for_function("() => document.querySelectorAll('#alerts li').length === 0")
    page.wait_for_function(f"() => !document.querySelector('{link}').classList.contains('alerted')")
    assert page.locator("#alerts-none").is_visible()
    assert page.console_errors == []  # type: ignore[attr-defined]


def test_the_drill_endpoints_need_the_token_and_name_what_is_missing(make_service: Any, make_chain: Any) -> None:
    svc = make_service(make_chain(3), speed=1.0, token="t")
    with httpx.Client(base_url=svc.url) as c:
        assert c.post("/links/n0/n1/down").status_code == 401
        auth = {"Authorization": "Bearer t"}
        r = c.post("/links/n0/n2/down", headers=auth)
        assert r.status_code == 404 and "n0-n2" in r.json()["detail"]
        assert c.post("/nodes/nx/down", headers=auth).json()["detail"] == "no node 'nx' in the topology"
        link = c.post("/links/n1/n0/down", headers=auth).json()
        assert (link["a"], link["b"], link["up"], link["operational"]) == ("n0", "n1", False, False)
        assert c.post("/links/n0/n1/up", headers=auth).json()["up"] is True
        assert c.get("/").headers["content-security-policy"].startswith("default-src 'none'")
        assert c.get("/static/app.js").status_code == 200
        assert c.get("/static/../app.py").status_code == 404


def test_the_layout_uses_the_builders_positions_or_a_networkx_layout() -> None:
    import networkx as nx

    g = nx.Graph()
    g.add_node("a", x_km=0.0, y_km=0.0)
    g.add_node("b", x_km=10.0, y_km=5.0)
    g.add_edge("a", "b", length_km=11.2)
    out = compute_layout(g)
    # the longer side spans [0, 1]; y grows downwards; the shorter side is centred
    assert out == {"source": "builder", "nodes": {"a": [0.0, 0.75], "b": [1.0, 0.25]}}
    ring = nx.cycle_graph([f"n{i}" for i in range(6)])
    nx.set_edge_attributes(ring, 5.0, "length_km")
    out = compute_layout(ring)
    assert out["source"] == "networkx" and set(out["nodes"]) == set(ring)
    assert all(0.0 <= v <= 1.0 for xy in out["nodes"].values() for v in xy)
    assert out == compute_layout(ring)  # deterministic
