"""Schedulers of qplane: admit requests and allocate memories along their paths; traffic models."""

from .fifo import FifoParams, FifoScheduler
from .ordered import EdfScheduler, OrderedParams, PriorityScheduler
from .queueing import QueueScheduler, SchedulerParams
from .roundrobin import RoundRobinParams, RoundRobinScheduler
from .tdma import SlotGate, TdmaParams, TdmaScheduler
from .replay import ReplayParams, ReplayTraffic
from .traffic import ArrivalParams, EndpointFields, PoissonParams, PoissonTraffic, RequestFields
from .traffic_models import (GravityParams, GravityTraffic, HotspotParams, HotspotTraffic, OnOffParams,
                             OnOffTraffic)

__all__ = [
    "ArrivalParams",
    "EdfScheduler",
    "EndpointFields",
    "FifoParams",
    "FifoScheduler",
    "GravityParams",
    "GravityTraffic",
    "HotspotParams",
    "HotspotTraffic",
    "OnOffParams",
    "OnOffTraffic",
    "OrderedParams",
    "PoissonParams",
    "PoissonTraffic",
    "PriorityScheduler",
    "QueueScheduler",
    "ReplayParams",
    "ReplayTraffic",
    "RequestFields",
    "RoundRobinParams",
    "RoundRobinScheduler",
    "SchedulerParams",
    "SlotGate",
    "TdmaParams",
    "TdmaScheduler",
]
