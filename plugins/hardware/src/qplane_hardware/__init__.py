"""Hardware models of qplane: links (fibre + detectors + sources) and memories."""

from .links import MeetInTheMiddle, MimParams
from .memory import DepolarizingMemory, DepolarizingMemoryParams

__all__ = ["MeetInTheMiddle", "MimParams", "DepolarizingMemory", "DepolarizingMemoryParams"]
