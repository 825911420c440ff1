"""Configuration management: a live PATCH of a link's parameters, versions, rollback.

Closed form: on the fidelity backend with no memory noise and perfect operations, a pair
delivered over one MIM link (visibility 1, no dark counts) is the Werner state of the link's
``pair_fidelity``, so every pair heralded after a change has exactly the new value.
"""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest
from qplane.scenario import load_scenario

from qplane_northbound.client import ApiError, Client

TOKEN = "config-token"
OLD, NEW = 0.95, 0.8
#: simulated seconds after a change by which every pair delivered was heralded after it (the
#: herald delay and the delivery messages over 20 km are ~0.1 ms)
SETTLE_S = 0.01


def one_link() -> Any:
    return load_scenario({
        "name": "one-link", "seed": 11, "duration": 1.0, "backend": "fidelity",
        "topology": {"builder": "chain", "nodes": 2, "spacing_km": 20},
        "hardware": {"memory": {"count": 2}, "link": {"scheme": "mim", "pair_fidelity": OLD}},
        "requests": [],
    })


def pairs_since(c: Client, rid: int, after: int) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    while True:
        page = c.pairs(rid, after=after, limit=1000)
        out += page["pairs"]
        if not page["pairs"]:
            return out
        after = page["next_after"]


def wait_pairs(c: Client, rid: int, after: int, since_s: float, n: int = 20) -> list[dict[str, Any]]:
    """Pairs with an index above ``after``, once at least ``n`` were delivered after ``since_s``."""
    deadline = time.monotonic() + 20
    while True:
        got = pairs_since(c, rid, after)
        if sum(p["sim_time_s"] > since_s for p in got) >= n or time.monotonic() > deadline:
            return got
        time.sleep(0.05)


@pytest.fixture()
def svc(make_service: Any) -> Any:
    # keep_pairs: the window holds every pair of the test (about 1,600 pairs per simulated second)
    return make_service(one_link(), token=TOKEN, keep_pairs=200_000)


def test_live_patch_changes_delivered_fidelity_and_rollback_restores_it(svc: Any) -> None:
    with Client(svc.url, token=TOKEN) as c:
        assert c.config() == {"version": 0, "links": [], "nodes": []}
        rid = c.submit(src="n0", dst="n1", pairs=1_000_000)["id"]
        before = wait_pairs(c, rid, -1, 0.0)
        assert before and all(p["fidelity"] == pytest.approx(OLD, abs=1e-12) for p in before)

        v1 = c.patch_link("n1", "n0", pair_fidelity=NEW)  # either order names the link
        assert v1["version"] == 1 and v1["kind"] == "patch"
        assert v1["changes"] == [{"target": "link", "action": "patch", "a": "n0", "b": "n1", "name": None,
                                  "set": {"pair_fidelity": NEW}, "unset": []}]
        t1 = v1["sim_time_s"]
        assert c.config() == {"version": 1, "links": [{"a": "n0", "b": "n1", "scheme": "mim",
                                                       "overrides": {"pair_fidelity": NEW}}], "nodes": []}
        assert c.links()[0]["pair_fidelity"] == pytest.approx(NEW, abs=1e-12)
        last = before[-1]["index"]
        after = wait_pairs(c, rid, last, t1 + SETTLE_S)
        late = [p for p in after if p["sim_time_s"] > t1 + SETTLE_S]
        assert len(late) >= 20
        assert all(p["fidelity"] == pytest.approx(NEW, abs=1e-12) for p in late)
        # before the change: the old model (a herald handled at the very instant of the change,
        # after it, already takes the new one, so that instant is left out)
        bad = [(p["sim_time_s"], p["fidelity"]) for p in after
               if p["sim_time_s"] < t1 and p["fidelity"] != pytest.approx(OLD, abs=1e-12)]
        assert not bad, (t1, bad)

        v2 = c.rollback(0)
        assert v2["version"] == 2 and v2["kind"] == "rollback" and v2["rollback_to"] == 0
        assert v2["changes"] == [{"target": "link", "action": "patch", "a": "n0", "b": "n1", "name": None,
                                  "set": {}, "unset": ["pair_fidelity"]}]
        assert c.config() == {"version": 2, "links": [], "nodes": []}
        t2 = v2["sim_time_s"]
        again = wait_pairs(c, rid, after[-1]["index"], t2 + SETTLE_S)
        late = [p for p in again if p["sim_time_s"] > t2 + SETTLE_S]
        assert len(late) >= 20 and all(p["fidelity"] == pytest.approx(OLD, abs=1e-12) for p in late)

        # rolling back to version 1 brings its override back
        v3 = c.rollback(1)
        assert v3["version"] == 3 and c.config()["links"][0]["overrides"] == {"pair_fidelity": NEW}
        history = c.config_history()
        assert [(h["version"], h["kind"], h["rollback_to"]) for h in history] == [
            (0, "initial", None), (1, "patch", None), (2, "rollback", 0), (3, "rollback", 1)]
        assert all(h["wall_time"] > 0 for h in history)
        assert [h["sim_time_s"] for h in history] == sorted(h["sim_time_s"] for h in history)
        c.cancel(rid)


def test_invalid_changes_answer_422_naming_the_field_and_make_no_version(svc: Any) -> None:
    with Client(svc.url, token=TOKEN) as c:
        for body, loc in (({"pair_fidelity": 1.5}, ["body", "pair_fidelity"]),
                          ({"pair_fidelity": "high"}, ["body", "pair_fidelity"]),
                          ({"no_such_parameter": 1}, ["body", "no_such_parameter"]),
                          ({"scheme": "sim"}, ["body", "scheme"]),
                          ({}, ["body"])):
            with pytest.raises(ApiError) as e:
                c.patch_link("n0", "n1", **body)
            assert e.value.status == 422, body
            assert e.value.detail[0]["loc"] == loc, body
        with pytest.raises(ApiError) as e:
            c.patch_link("n0", "n9", pair_fidelity=0.9)
        assert e.value.status == 404 and "n0-n9" in e.value.detail
        with pytest.raises(ApiError) as e:
            c.rollback(7)
        assert e.value.status == 404
        assert c.config() == {"version": 0, "links": [], "nodes": []}
        assert len(c.config_history()) == 1
        assert c.links()[0]["pair_fidelity"] == pytest.approx(OLD, abs=1e-12)


def test_config_changes_need_the_token(svc: Any) -> None:
    with httpx.Client(base_url=svc.url) as http:
        assert http.patch("/links/n0/n1", json={"pair_fidelity": 0.9}).status_code == 401
        assert http.post("/config/rollback", json={"version": 0}).status_code == 401
        assert http.get("/config").status_code == 200  # reads stay open
        assert http.get("/config").json()["version"] == 0
