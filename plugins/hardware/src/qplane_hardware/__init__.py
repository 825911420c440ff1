"""Hardware models of qplane: links (fibre + detectors + sources) and memories."""

from .fiber import Detector, Fiber
from .links import MeetInTheMiddle, MimParams
from .memory import DepolarizingMemory, DepolarizingMemoryParams

__all__ = ["Detector", "Fiber", "MeetInTheMiddle", "MimParams", "DepolarizingMemory", "DepolarizingMemoryParams"]
