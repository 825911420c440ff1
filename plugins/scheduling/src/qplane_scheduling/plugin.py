"""Registers qplane's first-party schedulers and traffic models."""

from __future__ import annotations

from qplane.hookspecs import hookimpl

from .fifo import FifoParams, FifoScheduler
from .ordered import EdfScheduler, OrderedParams, PriorityScheduler
from .roundrobin import RoundRobinParams, RoundRobinScheduler
from .tdma import TdmaParams, TdmaScheduler
from .replay import ReplayParams, ReplayTraffic
from .traffic import PoissonParams, PoissonTraffic
from .traffic_models import (GravityParams, GravityTraffic, HotspotParams, HotspotTraffic, OnOffParams,
                             OnOffTraffic)


@hookimpl
def qplane_register_schedulers(register):
    register("fifo", FifoScheduler, params=FifoParams,
             description="arrival order; each request reserves the free memories on its path")
    register("priority", PriorityScheduler, params=OrderedParams,
             description="highest request priority first (optionally preemptive)")
    register("edf", EdfScheduler, params=OrderedParams,
             description="earliest deadline (request end) first (optionally preemptive)")
    register("round-robin", RoundRobinScheduler, params=RoundRobinParams,
             description="contending requests take turns of quantum_s on shared memories")
    register("tdma", TdmaScheduler, params=TdmaParams,
             description="central controller: link generation only in each request's time slots")


@hookimpl
def qplane_register_traffic_models(register):
    register("poisson", PoissonTraffic, params=PoissonParams,
             description="Poisson arrivals, uniform random or listed endpoints")
    register("onoff", OnOffTraffic, params=OnOffParams,
             description="bursty: sources alternate ON and OFF periods, Poisson arrivals while ON")
    register("gravity", GravityTraffic, params=GravityParams,
             description="Poisson arrivals; pair (i, j) drawn in proportion to w_i w_j f(fibre distance)")
    register("hotspot", HotspotTraffic, params=HotspotParams,
             description="Poisson arrivals; a fraction p_hot of them to a few hot-spot destinations")
    register("replay", ReplayTraffic, params=ReplayParams,
             description="the requests of a CSV trace (time, src, dst, pairs or rate, ...), exactly")
