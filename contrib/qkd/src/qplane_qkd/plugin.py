"""The qplane plugin module of qplane-qkd: registers the ``bbm92`` application and adds its
key figures to the results. Found by qplane through the ``qplane`` entry-point group."""

from __future__ import annotations

from qplane.context import RunContext
from qplane.hookspecs import hookimpl

from .bbm92 import RESULTS_KEY, Bbm92Application, Bbm92Params


@hookimpl
def qplane_register_applications(register):
    register("bbm92", Bbm92Application, params=Bbm92Params,
             description="BBM92 QKD: random Z/X measurements, sifting, QBER and asymptotic secret-key rate")


@hookimpl
def qplane_results_assembled(context: RunContext, results: dict) -> None:
    by_id = {r["id"]: r for r in results["requests"]}
    rows, methods = [], set()
    for handle in context.sessions.requests:
        app = handle.protocols.get("application")
        if isinstance(app, Bbm92Application):
            rows.append(app.report(handle, by_id[handle.id]))
            methods.add(app.method)
    if rows:
        results["extra"][RESULTS_KEY] = {
            "protocol": "bbm92",
            "measurement": methods.pop() if len(methods) == 1 else "mixed",
            "requests": rows,
        }
