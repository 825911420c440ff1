"""Registers qplane's first-party entanglement protocols."""

from __future__ import annotations

from typing import Any

from qplane.hookspecs import hookimpl

from .generation import HeraldedLinkGenerator, HeraldedParams
from .purification import Bbpssw, Dejmps, NoPurification, RecurrenceParams
from .purification import NoParams as _NoParams
from .swapping import AsapParams, AsapSwapPolicy


class ConsumeApplication:
    """Consumes every delivered pair at once, freeing its memories (the default application)."""

    def __init__(self, params: _NoParams, sim: Any):
        self.params = params

    def on_pair(self, request: Any, pair: Any) -> bool:
        return False


@hookimpl
def qplane_register_link_generators(register):
    register("heralded", HeraldedLinkGenerator, params=HeraldedParams,
             description="attempt until a herald; geometric skipping of failed attempts")


@hookimpl
def qplane_register_swap_policies(register):
    register("asap", AsapSwapPolicy, params=AsapParams,
             description="swap as soon as a repeater holds a qubit toward each end")


@hookimpl
def qplane_register_purification(register):
    register("none", NoPurification, params=_NoParams, description="no purification")
    register("bbpssw", Bbpssw, params=RecurrenceParams,
             description="BBPSSW recurrence on each link (twirl, bilateral CNOT)")
    register("dejmps", Dejmps, params=RecurrenceParams,
             description="DEJMPS recurrence on each link (rotations, bilateral CNOT)")


@hookimpl
def qplane_register_applications(register):
    register("consume", ConsumeApplication, params=_NoParams,
             description="consume every delivered pair at once")
