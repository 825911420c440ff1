"""Schedulers of qplane: admit requests and allocate memories along their paths."""

from .fifo import FifoParams, FifoScheduler

__all__ = ["FifoParams", "FifoScheduler"]
