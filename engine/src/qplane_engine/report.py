"""What ``qplane run`` shows: the summary table of a results dictionary and the progress bar.

The core's command line calls these through :func:`qplane.results.summary_table` and the
engine it runs the scenario with; they live here, beside the figures they print, so the core
stays the contract.
"""

from __future__ import annotations

import sys
from typing import Any

from qplane.results import counted, table


def _fmt(v: Any, spec: str = ".4g") -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return format(v, spec)
    return str(v)


#: under the summary table: what its columns are (docs/design.md, "The results file", defines them all)
LEGEND = """\
rate_hz: pairs delivered per simulated second served; latency_p50_s: median pair latency (simulated s)
fidelity_mean (± fidelity_stderr): the delivered pairs' true fidelity with Phi+ (GHZ states': with GHZ)
fidelity_estimated_mean: the controller's own estimate, from the link and memory models (what routing,
  admission and delivery decide with; it leaves out the final wait, so it may be above the true value)"""


def summary_table(results: dict[str, Any]) -> str:
    lines = [
        f"{results['name']}: backend {results['backend']}, seed {results['seed']}, "
        f"{results['sim_time_s']:.6g} simulated s in {results['wall_time_s']:.3f} wall s, "
        f"{counted(results['events'], 'event')}, {counted(results['classical_messages'], 'classical message')}"
    ]
    head = ["id", "src", "dst", "status", "hops", "delivered", "rate_hz", "fidelity_mean", "fidelity_stderr",
            "fidelity_estimated_mean", "latency_p50_s"]
    rows = []
    for r in results["requests"]:
        rows.append([
            str(r["id"]), *((",".join(r["parties"]), "(GHZ)") if r.get("parties") else (r["src"], r["dst"])), r["status"],
            ",".join(str(len(p) - 1) for p in r["paths"]) if r["paths"] else "-",
            str(r["delivered"]), _fmt(r["rate_hz"]), _fmt(r["fidelity_mean"]), _fmt(r["fidelity_stderr"], ".2g"),
            _fmt(r["fidelity_estimated_mean"]), _fmt(r["latency_p50_s"], ".3g"),
        ])
    lines.append(table(head, rows))
    lines.append(LEGEND)
    kinds = ("swapping", "purification", "cutoff", "router", "application")
    varied = [k for k in kinds if len({r["protocols"].get(k) for r in results["requests"]}) > 1]
    if varied:  # requests with protocols of their own: say which served each
        lines.append("")
        for r in results["requests"]:
            lines.append(f"request {r['id']}: " + ", ".join(f"{k} {r['protocols'].get(k)}" for k in varied))
    topo = results.get("topology") or {}
    if topo.get("failures") or topo.get("manager") not in (None, "oracle"):
        parts = [counted(topo.get("failures", 0), "failure")]
        if topo.get("detections") is not None:
            lat = topo.get("detection_latency_mean_s")
            parts.append(counted(topo["detections"], "link-down detection") + (
                f" (latency mean {lat * 1e3:.3g} ms, max {topo['detection_latency_max_s'] * 1e3:.3g} ms)" if lat is not None else ""))
        parts.append(counted(topo.get("reroutes", 0), "re-route"))
        parts.append(counted(topo.get("requests_failed", 0), "request") + " lost")
        if topo.get("discovery_converged_s") is not None:
            parts.append(f"discovery converged at {topo['discovery_converged_s'] * 1e3:.3g} ms")
        lines.append(f"topology ({topo.get('manager')}): " + ", ".join(parts))
    for r in results["requests"]:
        if r["reason"] and r["status"] != "completed":
            lines.append(f"request {r['id']}: {r['status']}: {r['reason']}")
    return "\n".join(lines)


def progress_bar(wanted: bool | None, duration: float) -> Any:
    """A tqdm bar on stderr: simulated time against the duration (the run may stop earlier, once
    every request has finished), and pairs delivered; or None. ``wanted``: ``--progress`` (True),
    ``--no-progress`` (False), or None: when stderr is a terminal."""
    if wanted is False or (wanted is None and not sys.stderr.isatty()):
        return None
    try:
        from tqdm import tqdm
    except ImportError:
        if wanted:
            print("qplane: warning: --progress needs tqdm (pip install tqdm)", file=sys.stderr)
        return None
    import shutil  # the terminal's size, 80x24 when it reports none (tqdm draws nothing at 0)

    cols, rows = shutil.get_terminal_size()
    return tqdm(total=duration, file=sys.stderr, leave=False, ncols=cols, nrows=rows, mininterval=0.1,
                bar_format="{percentage:3.0f}%|{bar}| {n:.4g}/{total:.4g} simulated s{postfix}, {elapsed} wall")
