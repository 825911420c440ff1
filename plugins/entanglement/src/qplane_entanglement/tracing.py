"""Pair ids for protocol-event traces (``qplane run --trace``; docs/design.md, "Traces").

In a traced run every pair record of the swapping policies gets a run-wide id, the trace's
``pair``: a link-level pair at its herald, a merged pair at its swap (which lists the two it
consumed), so a delivered pair's heralds and swaps are all found from its id. Untraced runs
number nothing.
"""

from __future__ import annotations

import itertools
from typing import Any

from qplane.context import ServiceKey

#: the run's pair-id counter, shared by every session of every request and every component that
#: numbers pairs (traced runs only; the engine sets it with its tracer, under this name)
PAIR_IDS: ServiceKey[itertools.count] = ServiceKey("qplane.trace.pair-ids", itertools.count)


def pair_ids(services: Any) -> itertools.count:
    """The run's pair-id counter (made on first use)."""
    ids = services.get(PAIR_IDS)
    if ids is None:
        services.set(PAIR_IDS, ids := itertools.count())
    return ids
