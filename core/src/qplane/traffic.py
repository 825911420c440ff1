"""The traffic-model contract: requests generated from a model instead of listed one by one.

A scenario's ``traffic`` field names a traffic model (``{model: poisson, rate_hz: ..., ...}``,
or a list of them); each is a named component of kind ``traffic``, registered through
``qplane_register_traffic_models``. At build time the runner calls its ``generate`` once with a
:class:`TrafficContext` and appends the requests it returns after the scenario's listed ones;
from then on they are ordinary requests (ids, statuses and results like any other).

Generation happens up front, from the model's own random stream (``"traffic"``, or
``"traffic.<i>"`` for the i-th model of a list), so the same seed gives the same requests and
adding a model or a component never shifts another's numbers. The core ships the contract only;
the first-party ``poisson`` model lives in the scheduling plugin.

This module must not touch the network or the kernel: a model sees node names, fibre distances,
the run's duration, its random stream and the scenario's folder, nothing else.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Callable, Protocol, Sequence

from .requests import EntanglementRequest


@dataclass(frozen=True)
class TrafficContext:
    """What a traffic model may use to generate its requests."""

    #: the model's own random stream
    rng: random.Random
    #: node names of the topology, in the topology's order
    nodes: Sequence[str]
    #: simulated seconds of the run (arrivals at or after it would never be served)
    duration: float
    #: fibre distance in km between two nodes (shortest over the topology; inf when unreachable)
    distance_km: Callable[[str, str], float] | None = None
    #: folder relative file paths (e.g. a replayed trace) resolve against: the scenario file's
    base_dir: str = "."


class TrafficModel(Protocol):
    """Generates the requests of a run."""

    def generate(self, context: TrafficContext) -> list[EntanglementRequest]:
        """Every request of the run, in arrival order. Raise :class:`qplane.errors.ScenarioError`
        with ``field`` relative to the model's parameters (e.g. ``"endpoints.2.0"``) when a
        parameter does not fit the topology; the runner prefixes ``traffic``."""
        ...
