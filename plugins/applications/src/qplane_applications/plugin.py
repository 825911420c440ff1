"""The qplane plugin module of qplane-applications: registers the ``teleport``, ``chsh`` and
``mermin`` applications, abandons their unfinished node programs when the simulation stops, and adds
their figures to the results under ``results["extra"][<application name>]["requests"]``
(the convention of contrib's ``bbm92``). Found by qplane through the ``qplane`` entry-point
group."""

from __future__ import annotations

from typing import Any

from qplane.context import RunContext
from qplane.hookspecs import hookimpl

from .chsh import ChshApplication, ChshParams
from .mermin import MerminApplication, MerminParams
from .teleport import TeleportApplication, TeleportParams

APPLICATIONS = (TeleportApplication, ChshApplication, MerminApplication)


@hookimpl
def qplane_register_applications(register):
    register("teleport", TeleportApplication, params=TeleportParams,
             description="teleport a random pure state over each pair (node programs): average fidelity")
    register("chsh", ChshApplication, params=ChshParams,
             description="measure each pair in random CHSH settings: S and the four correlators")
    register("mermin", MerminApplication, params=MerminParams,
             description="measure each GHZ state in random Mermin settings: the Mermin value M")


def _applications(context: RunContext) -> list[tuple[Any, Any]]:
    """``(handle, application)`` for every request served by one of this plugin's applications."""
    return [(h, h.protocols.get("application")) for h in context.sessions.requests
            if isinstance(h.protocols.get("application"), APPLICATIONS)]


@hookimpl
def qplane_simulation_end(context: RunContext) -> None:
    for app in {id(app): app for _, app in _applications(context)}.values():
        app.runtime.close()


@hookimpl
def qplane_results_assembled(context: RunContext, results: dict) -> None:
    by_id = {r["id"]: r for r in results["requests"]}
    for cls in APPLICATIONS:
        rows = [app.report(h, by_id[h.id]) for h, app in _applications(context) if isinstance(app, cls)]
        if rows:
            results["extra"][cls.name] = {"application": cls.name, "requests": rows}
