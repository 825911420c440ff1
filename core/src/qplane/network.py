"""The network's data types: nodes with their devices, quantum links and their statistics.

Plugins meet them through :attr:`qplane.context.NetworkView.nodes` and ``links``; the engine
builds them once per run from the topology graph and the hardware section.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .hal import Device, LinkModel


@dataclass(eq=False)
class LinkStats:
    attempts: int = 0
    pairs_generated: int = 0


@dataclass(eq=False)
class QuantumLink:
    """A fibre between two nodes with a heralded entanglement-generation scheme."""

    a: str
    b: str
    length_km: float
    model: LinkModel
    scheme: str
    up: bool = True  # the fibre (ground truth)
    stats: LinkStats = field(default_factory=LinkStats)
    #: the fibre and both end nodes are up: attempts can succeed (ground truth)
    operational: bool = True
    #: incremented whenever the link stops being operational: attempts begun before are void
    epoch: int = 0
    #: attempts in flight: first memory -> (session, second memory, on_herald, t_start, attempts)
    inflight: dict = field(default_factory=dict)
    #: attempts waiting for the link to work again: (session, mem_a, mem_b, on_herald)
    parked: list = field(default_factory=list)
    #: ground-truth intervals during which the link was not operational: [start, end)
    outages: list = field(default_factory=list)
    #: the link's random stream for attempts (set by the link generator on first use)
    rng: Any = None

    def other(self, node: str) -> str:
        return self.b if node == self.a else self.a


@dataclass(eq=False)
class Node:
    name: str
    device: Device
    up: bool = True  # ground truth
    outages: list = field(default_factory=list)
