"""Bell-diagonal state backend.

Every stored pair is a Bell-diagonal state, four floats kept in Pauli order (see
:mod:`qplane_physics`). This is exact for Pauli noise (depolarizing, dephasing, Pauli-twirled
T1/T2), Bell-state measurements and the Pauli frame; amplitude damping and arbitrary Kraus
channels are applied as their Pauli twirl (an approximation, declared by the capability set:
no ``non-pauli-noise``). Gate-level operations are not supported.

Storage noise is lazy: each qubit keeps the time up to which its memory's channel has been
applied and catches up when touched. Four Python floats per pair: for four numbers numpy costs
more than it saves. The pairs, qubits and operations are in :mod:`.states`, which the
distribution's build compiles when it can (its docstring says how and what stays the same).
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from . import states
from .states import FidelityBackend, Pair, Qubit  # noqa: F401 - the backend's public names

#: whether the pairs and operations run compiled (an extension module) or as Python source
COMPILED = not states.__file__.endswith(".py")


class FidelityParams(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)
