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
from .timing import PhotonTiming, TimingParams, overlap_visibility, photon_timing, window_acceptance

__all__ = [
    "Detector", "Fiber",
    "MeetInTheMiddle", "MimParams",
    "DirectTransmission", "DirectParams",
    "MidpointSource", "MidpointParams",
    "SingleClick", "SingleClickParams",
    "herald_mixture", "interference_dephasing",
    "DepolarizingMemory", "DepolarizingMemoryParams",
    "TimingParams", "PhotonTiming", "photon_timing", "overlap_visibility", "window_acceptance",
]
