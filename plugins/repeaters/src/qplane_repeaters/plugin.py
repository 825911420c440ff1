"""The qplane plugin module of qplane-repeaters: registers the repeater generations ``2g`` and
``3g`` (kind ``repeater``, ``protocols.repeater``) and adds their figures to the results under
``results["extra"]["repeaters"]["requests"]``. Found by qplane through the ``qplane``
entry-point group."""

from __future__ import annotations

from qplane.context import RunContext
from qplane.hookspecs import hookimpl

from .serve import RESULTS_KEY, SecondGenParams, SecondGeneration, ThirdGeneration, ThirdGenParams

GENERATIONS = (SecondGeneration, ThirdGeneration)


@hookimpl
def qplane_register_repeaters(register):
    register("2g", SecondGeneration, params=SecondGenParams,
             description="second generation: encoded Bell pairs by teleported CNOTs, decoded transversal swaps")
    register("3g", ThirdGeneration, params=ThirdGenParams,
             description="third generation: one-way repeaters, logical qubits as photons of a loss-tolerant code")


@hookimpl
def qplane_results_assembled(context: RunContext, results: dict) -> None:
    rows = [h.protocols["repeater"].report(h) for h in context.sessions.requests
            if isinstance(h.protocols.get("repeater"), GENERATIONS)]
    if rows:
        results["extra"][RESULTS_KEY] = {"requests": rows}
