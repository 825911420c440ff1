"""Registers qplane's first-party hardware models."""

from __future__ import annotations

from qplane.hookspecs import hookimpl

from .links import (
    DirectParams,
    DirectTransmission,
    MeetInTheMiddle,
    MidpointParams,
    MidpointSource,
    MimParams,
    SingleClick,
    SingleClickParams,
)
from .memory import DepolarizingMemory, DepolarizingMemoryParams, PresetMemory, PresetMemoryParams, T1T2Memory, T1T2MemoryParams


@hookimpl
def qplane_register_link_models(register):
    register("mim", MeetInTheMiddle, params=MimParams,
             description="meet-in-the-middle: both ends emit to a Bell-state analyser at L/2")
    register("direct", DirectTransmission, params=DirectParams,
             description="direct transmission: one end emits, the other absorbs and heralds back")
    register("midpoint", MidpointSource, params=MidpointParams,
             description="midpoint source: a photon-pair source at L/2, both ends absorb")
    register("single-click", SingleClick, params=SingleClickParams,
             description="single-click: weakly excited memories, one click at L/2 (rate ~2 alpha eta, F ~1-alpha)")


@hookimpl
def qplane_register_memory_models(register):
    register("depolarizing", DepolarizingMemory, params=DepolarizingMemoryParams,
             description="memories that depolarize with coherence time T (null: no decoherence)")
    register("t1t2", T1T2Memory, params=T1T2MemoryParams,
             description="amplitude damping (T1) and dephasing (T2); Pauli-twirled on Pauli-only backends")
    register("preset", PresetMemory, params=PresetMemoryParams,
             description="a platform's published T1/T2: nv-electron, nv-carbon, trapped-ion, rare-earth-ensemble")
