"""Schedulers of qplane: admit requests and allocate memories along their paths; traffic models."""

from .fifo import FifoParams, FifoScheduler
from .ordered import EdfScheduler, OrderedParams, PriorityScheduler
from .queueing import QueueScheduler, SchedulerParams
from .roundrobin import RoundRobinParams, RoundRobinScheduler
from .tdma import SlotGate, TdmaParams, TdmaScheduler
from .traffic import PoissonParams, PoissonTraffic

__all__ = [
    "EdfScheduler",
    "FifoParams",
    "FifoScheduler",
    "OrderedParams",
    "PoissonParams",
    "PoissonTraffic",
    "PriorityScheduler",
    "QueueScheduler",
    "RoundRobinParams",
    "RoundRobinScheduler",
    "SchedulerParams",
    "SlotGate",
    "TdmaParams",
    "TdmaScheduler",
]
