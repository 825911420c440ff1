"""Registers qplane's first-party schedulers."""

from __future__ import annotations

from qplane.hookspecs import hookimpl

from .fifo import FifoParams, FifoScheduler


@hookimpl
def qplane_register_schedulers(register):
    register("fifo", FifoScheduler, params=FifoParams,
             description="arrival order; each request reserves the free memories on its path")
