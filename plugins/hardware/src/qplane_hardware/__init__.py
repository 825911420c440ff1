"""Hardware models of qplane: links (fibre + detectors + sources) and memories."""

from .fiber import Detector, Fiber
from .links import (
    DirectParams,
    DirectTransmission,
    MeetInTheMiddle,
    MidpointParams,
    MidpointSource,
    MimParams,
    SingleClick,
    SingleClickParams,
    herald_mixture,
    interference_dephasing,
)
from .memory import DepolarizingMemory, DepolarizingMemoryParams

__all__ = [
    "Detector", "Fiber",
    "MeetInTheMiddle", "MimParams",
    "DirectTransmission", "DirectParams",
    "MidpointSource", "MidpointParams",
    "SingleClick", "SingleClickParams",
    "herald_mixture", "interference_dephasing",
    "DepolarizingMemory", "DepolarizingMemoryParams",
]
