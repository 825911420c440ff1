"""Registers qplane's first-party hardware models."""

from __future__ import annotations

from qplane.hookspecs import hookimpl

from .links import MeetInTheMiddle, MimParams
from .memory import DepolarizingMemory, DepolarizingMemoryParams, T1T2Memory, T1T2MemoryParams


@hookimpl
def qplane_register_link_models(register):
    register("mim", MeetInTheMiddle, params=MimParams,
             description="meet-in-the-middle: both ends emit to a Bell-state analyser at L/2")


@hookimpl
def qplane_register_memory_models(register):
    register("depolarizing", DepolarizingMemory, params=DepolarizingMemoryParams,
             description="memories that depolarize with coherence time T (null: no decoherence)")
    register("t1t2", T1T2Memory, params=T1T2MemoryParams,
             description="amplitude damping (T1) and dephasing (T2); Pauli-twirled on Pauli-only backends")
