"""Registers qplane's first-party entanglement protocols."""

from __future__ import annotations


from qplane.context import Context
from qplane.hookspecs import hookimpl
from qplane.requests import DeliveredPair, RequestHandle, Session

from .generation import HeraldedLinkGenerator, HeraldedParams
from pydantic import BaseModel, ConfigDict, Field

from .purification import Bbpssw, Dejmps, NoPurification, PurificationParams, Pumping, PumpingParams
from .purification import NoParams as _NoParams
from .swapping import AsapSwapPolicy, NestedSwapPolicy, SwapParams


class AgeCutoffParams(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    max_age: float = Field(gt=0.0, allow_inf_nan=False, description="seconds a pair's oldest qubit may be stored")


class AgeCutoff:
    """Discard any stored pair whose oldest qubit has waited longer than ``max_age``, freeing
    its memories for fresh attempts: bounds the storage decoherence of every delivered pair."""

    def __init__(self, params: AgeCutoffParams, context: Context):
        self.params = params
        self.max_age = params.max_age


class NoCutoff:
    """Keep stored pairs however long they wait."""

    max_age = None

    def __init__(self, params: _NoParams, context: Context):
        self.params = params


class ConsumeApplication:
    """Consumes every delivered pair at once, freeing its memories (the default application)."""

    def __init__(self, params: _NoParams, context: Context):
        self.params = params

    def on_pair(self, request: RequestHandle, pair: DeliveredPair) -> bool:
        return False


@hookimpl
def qplane_register_link_generators(register):
    register("heralded", HeraldedLinkGenerator, params=HeraldedParams,
             description="attempt until a herald; geometric skipping of failed attempts")


@hookimpl
def qplane_register_swap_policies(register):
    register("asap", AsapSwapPolicy, params=SwapParams,
             description="swap as soon as a repeater holds a qubit toward each end")
    register("nested", NestedSwapPolicy, params=SwapParams,
             description="doubling: swaps proceed level by level (2, 4, 8 ... links)")


class FirstGeneration:
    """The first repeater generation: heralded physical pairs, swapping and purification; it
    hands every session to the request's swapping policy (the second and third generations,
    qplane-repeaters, serve sessions themselves)."""

    def __init__(self, params: BaseModel, context: Context):
        pass

    def serve(self, session: Session) -> None:
        session.handle.protocols["swapping"].serve(session)


@hookimpl
def qplane_register_repeaters(register):
    register("1g", FirstGeneration, params=_NoParams, description="first generation: heralded pairs, swapping, "
             "purification (the swapping policy serves each session)")


@hookimpl
def qplane_register_purification(register):
    register("none", NoPurification, params=_NoParams, description="no purification")
    register("bbpssw", Bbpssw, params=PurificationParams,
             description="BBPSSW recurrence (twirl, bilateral CNOT), on links or end to end")
    register("dejmps", Dejmps, params=PurificationParams,
             description="DEJMPS recurrence (rotations, bilateral CNOT), on links or end to end")
    register("pumping", Pumping, params=PumpingParams,
             description="entanglement pumping: a kept pair purified again and again with fresh ones")


@hookimpl
def qplane_register_cutoff_policies(register):
    register("none", NoCutoff, params=_NoParams, description="keep stored pairs however long they wait")
    register("age", AgeCutoff, params=AgeCutoffParams,
             description="discard pairs whose oldest qubit is older than max_age")


@hookimpl
def qplane_register_applications(register):
    register("consume", ConsumeApplication, params=_NoParams,
             description="consume every delivered pair at once")
