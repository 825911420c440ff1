"""The swapping policies' record of one stored pair (:class:`PairRecord`): what the control
plane knows of it, from its herald (or the swap that made it) until it is merged, delivered or
discarded. In its own module to keep :mod:`qplane_entanglement.swapping` within 500 lines.
"""

from __future__ import annotations

from qplane.hal import Memory


class PairRecord:
    """What the control plane knows of one stored pair.

    The swapping policy's hot paths (a herald, a swap) make records without ``__init__``
    (``object.__new__`` and the same attributes set): an attribute added here must be set there
    too (:meth:`qplane_entanglement.swapping._PathState._heralded` and ``_swap``)."""

    __slots__ = ("left", "right", "lo", "hi", "est", "t_left", "t_right", "t_attempt", "born",
                 "src_at", "dst_at", "frame", "merged_into", "level", "alive", "failed", "id")

    def __init__(self, left: Memory, right: Memory, lo: int, hi: int, est: list[float],
                 t_left: float, t_right: float, t_attempt: float, born: float):
        self.left = left
        self.right = right
        self.lo = lo
        self.hi = hi
        self.est = est  # Bell-diagonal estimate in Pauli order, noise applied up to t_left/t_right
        self.t_left = t_left
        self.t_right = t_right
        self.t_attempt = t_attempt  # start of the oldest link-level attempt in this pair
        self.born = born  # emission of its oldest qubit
        self.src_at = t_left  # when the source end knows every outcome of the swaps in it
        self.dst_at = t_right  # ... and the destination end (link pairs: at the herald)
        self.frame = 0  # XOR of the reported outcomes of its swaps
        self.merged_into: PairRecord | None = None
        self.level = 0  # purification rounds survived
        self.alive = True  # False once merged, delivered or discarded
        self.failed = False  # a Bell-state measurement that built it failed
        # ``id``: set in traced runs only (the trace's ``pair``; unset otherwise, for speed)

    def root(self) -> "PairRecord":
        r = self
        while r.merged_into is not None:
            r = r.merged_into
        node = self
        while node.merged_into is not None and node.merged_into is not r:  # path compression
            node.merged_into, node = r, node.merged_into
        return r
