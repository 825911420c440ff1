"""The figures of one run, aggregated over its requests: what ``qplane compare`` and
``qplane sweep`` summarise across seeds. Reads only the results dictionary of a run."""

from __future__ import annotations

import math
from typing import Any, Mapping

#: metrics of a run, aggregated over its requests (see :func:`run_metrics`):
#: name -> (what it is, unit)
METRICS: dict[str, tuple[str, str]] = {
    "rate_hz": ("delivered pairs per second served, mean over requests", "pairs/s"),
    "fidelity_mean": ("mean fidelity of every delivered pair (pairs-weighted over requests)", ""),
    "latency_mean_s": ("mean pair latency of every delivered pair (pairs-weighted over requests)", "s"),
    "served_fraction": ("delivered/requested pairs (or achieved/asked rate), mean over requests", ""),
    "completion_time_mean_s": ("time from a request's start to its completion, mean over completed requests", "s"),
    "completed_fraction": ("fraction of requests completed", ""),
    "fidelity_estimated_mean": ("the network's own fidelity estimate, pairs-weighted mean", ""),
    "delivered": ("pairs delivered, all requests", "pairs"),
    # the figures of qplane-applications' applications (results["extra"][<name>]["requests"]),
    # None in a run without them; weighted by the states each request measured
    "teleport_fidelity_mean": ("teleport: average fidelity of the teleported states", ""),
    "S": ("chsh: the CHSH value S (local bound 2, Tsirelson 2 sqrt2)", ""),
    "M": ("mermin: the Mermin value M of the GHZ states", ""),
}
#: the metrics the plots show (a 2 x 2 grid)
MAIN_METRICS = ("rate_hz", "fidelity_mean", "latency_mean_s", "served_fraction")
#: the metrics the terminal tables show: the plots' and the requests' completion time
TABLE_METRICS = ("rate_hz", "fidelity_mean", "latency_mean_s", "completion_time_mean_s", "served_fraction")
#: application figures: ``metric -> (application, its row key for the weight)``; the terminal
#: table adds them when a run has them
APPLICATION_METRICS = {"teleport_fidelity_mean": ("teleport", "teleported"), "S": ("chsh", "measured"),
                       "M": ("mermin", "measured")}


def run_metrics(results: Mapping[str, Any]) -> dict[str, float | None]:
    """The figures of one run, aggregated over its requests.

    * ``rate_hz`` — mean over requests of the request's ``rate_hz``; a request that was never
      served (no path, fidelity unreachable) counts as 0;
    * ``fidelity_mean``, ``fidelity_estimated_mean``, ``latency_mean_s`` — pairs-weighted:
      the mean over every delivered pair of the run (``None`` when none was delivered);
    * ``served_fraction`` — mean over requests of ``min(1, delivered / pairs)`` for a pairs
      request and ``min(1, rate_hz / rate)`` for a rate request;
    * ``completion_time_mean_s`` — mean over the completed requests of start to completion
      (the request's own latency, whatever its pairs' histories: comparable across routing kinds
      whose pairs are made ahead of demand);
    * ``completed_fraction`` — the fraction of requests that ended ``completed``;
    * ``delivered`` — pairs delivered over all requests;
    * ``distance_km`` — mean end-to-end length of the requests' first path (``paths[0]``), over
      the requests that had one.
    """
    reqs = list(results.get("requests") or [])
    out: dict[str, float | None] = {k: None for k in METRICS}
    out["distance_km"] = None
    if not reqs:
        return out
    n = len(reqs)
    out["rate_hz"] = math.fsum(r.get("rate_hz") or 0.0 for r in reqs) / n
    delivered = sum(int(r.get("delivered") or 0) for r in reqs)
    out["delivered"] = float(delivered)
    for key in ("fidelity_mean", "fidelity_estimated_mean", "latency_mean_s"):
        weighted = [(r["delivered"], r[key]) for r in reqs if r.get("delivered") and r.get(key) is not None]
        total = sum(w for w, _ in weighted)
        out[key] = math.fsum(w * v for w, v in weighted) / total if total else None
    served = []
    for r in reqs:
        if r.get("pairs_requested"):
            served.append(min(1.0, (r.get("delivered") or 0) / r["pairs_requested"]))
        elif r.get("rate_requested_hz"):
            served.append(min(1.0, (r.get("rate_hz") or 0.0) / r["rate_requested_hz"]))
        else:
            served.append(0.0)
    out["served_fraction"] = math.fsum(served) / n
    out["completed_fraction"] = sum(r.get("status") == "completed" for r in reqs) / n
    done = [r["completion_time_s"] for r in reqs if r.get("completion_time_s") is not None]
    out["completion_time_mean_s"] = math.fsum(done) / len(done) if done else None
    lengths = {frozenset((lk["a"], lk["b"])): lk["length_km"] for lk in results.get("links") or []}
    dists = []
    for r in reqs:
        path = (r.get("paths") or [None])[0]
        if path and len(path) > 1:
            try:
                dists.append(math.fsum(lengths[frozenset((u, v))] for u, v in zip(path, path[1:])))
            except KeyError:
                pass
    out["distance_km"] = math.fsum(dists) / len(dists) if dists else None
    extra = results.get("extra") or {}
    for metric, (app, weight) in APPLICATION_METRICS.items():
        rows = [(r.get(weight) or 0, r.get(metric)) for r in (extra.get(app) or {}).get("requests", [])
                if r.get(metric) is not None]
        total = sum(w for w, _ in rows)
        out[metric] = math.fsum(w * v for w, v in rows) / total if total else None
    return out

