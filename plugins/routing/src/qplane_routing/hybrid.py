"""Hybrid routing with virtual links: end-to-end pairs kept in stock between chosen node pairs,
used by routing as links of the logical topology (Schoute et al., arXiv:1610.05238; Chakraborty
et al., PRA 99, 022317 (2019)).

``protocols.routing: {name: hybrid, virtual_links: [[a, b], ...], stock: 2, max_age: 0.05}``
declares the virtual links; the engine (``qplane_engine.virtual``, see
:class:`qplane.requests.Router`) keeps a stock of pairs on each — made in the background by an
internal request ``a -> b`` with the request's own scheduler, swapping, purification and cutoff
protocols — and routes every request of this router on the logical view: the controller's view
plus one edge per virtual link. This router chooses the path of least expected time: a physical
edge costs its ``expected_pair_time`` ((1/p - 1) cycles + herald delay), a virtual edge the
time until its stock has a pair (0 when one is stocked; otherwise the mean refill time so far).
A request whose path takes a virtual link swaps a stocked pair with pairs made on the rest of
its path; a request whose path takes none is served as an ordinary one. The keepers' own paths
(and the legs between virtual links) are routed by this router on the physical view.

Parameters per virtual link (``between`` plus any of ``stock``, ``max_age``, ``refill``), or
for all of them at the top level:

* ``stock`` — pairs kept at most (the keeper's memories at the ends bound it too);
* ``max_age`` — the age (from its oldest qubit) at which a stocked pair is discarded (its memories make a
  fresh one); None keeps pairs until they are used (their fidelity decays meanwhile);
* ``refill`` — ``from_start`` (the stock is filled from the start of the run when a request of
  the scenario uses this router; with a topology manager that discovers the network first, from
  the first request) or ``on_first_use`` (from the first request of this router).

With ``auto: k`` the controller also designates virtual links from observed demand: once two
nodes have been the ends of ``auto_threshold`` requests of this router, they get a virtual link
(up to ``k`` in all, busiest pairs first), stocked from then on (:meth:`HybridRouter.designate`).
"""

from __future__ import annotations

from typing import Any, Literal

import networkx as nx
from pydantic import BaseModel, ConfigDict, Field, model_validator
from qplane.requests import EntanglementRequest

#: a virtual edge costs a hair less than a physical path of the same expected time: its keeper is
#: already at work on those links (and holds their memories), so ties go virtual
_TIE = -1e-12

Refill = Literal["from_start", "on_first_use"]


class VirtualLinkParams(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    between: tuple[str, str] = Field(description="the two nodes the virtual link joins")
    stock: int | None = Field(None, ge=1, le=1000, description="pairs kept at most (default: the router's)")
    max_age: float | None = Field(None, gt=0.0, description="age (s, from its oldest qubit) at which a stocked pair is discarded (default: the router's)")
    refill: Refill | None = Field(None, description="when the stock starts filling (default: the router's)")

    @model_validator(mode="after")
    def _two_nodes(self) -> "VirtualLinkParams":
        if self.between[0] == self.between[1]:
            raise ValueError(f"a virtual link joins two different nodes (got {self.between[0]!r} twice)")
        return self


class HybridParams(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    virtual_links: list[VirtualLinkParams | tuple[str, str]] = Field(
        default_factory=list, description="node pairs [a, b] (or {between: [a, b], stock, max_age, refill}) "
                                          "kept stocked with end-to-end pairs")
    stock: int = Field(2, ge=1, le=1000, description="pairs kept at most per virtual link")
    max_age: float | None = Field(None, gt=0.0, description="age (s, from its oldest qubit) at which a stocked pair is "
                                                            "discarded (None: no limit)")
    refill: Refill = Field("from_start", description="from_start: filled from the start of the run; "
                                                     "on_first_use: from the first request that uses the router")
    auto: int = Field(2, ge=0, le=1000, description="virtual links the controller may add from observed demand "
                                                     "(node pairs with at least auto_threshold requests)")
    auto_threshold: int = Field(5, ge=1, description="requests between two nodes before they get a virtual link")

    @model_validator(mode="after")
    def _distinct(self) -> "HybridParams":
        seen: set[frozenset[str]] = set()
        for i, v in enumerate(self.virtual_links):
            ends = v.between if isinstance(v, VirtualLinkParams) else v
            if ends[0] == ends[1]:
                raise ValueError(f"virtual_links.{i}: a virtual link joins two different nodes (got {ends[0]!r} twice)")
            if frozenset(ends) in seen:
                raise ValueError(f"virtual_links.{i}: {ends[0]}-{ends[1]} is listed twice")
            seen.add(frozenset(ends))
        return self


class VirtualLink:
    """One virtual link as the engine reads it: ``a``, ``b``, ``stock``, ``max_age``, ``refill``."""

    __slots__ = ("a", "b", "stock", "max_age", "refill")

    def __init__(self, a: str, b: str, stock: int, max_age: float | None, refill: str):
        self.a, self.b, self.stock, self.max_age, self.refill = a, b, stock, max_age, refill

    def __repr__(self) -> str:
        return f"VirtualLink({self.a}-{self.b}, stock={self.stock}, max_age={self.max_age}, refill={self.refill})"


class HybridRouter:
    """Least expected time over the logical view (physical links and virtual links)."""

    def __init__(self, params: HybridParams):
        self.params = params
        self.designated: list[frozenset[str]] = []  # chosen from demand (``auto``)
        self.virtual_links = []
        for v in params.virtual_links:
            if not isinstance(v, VirtualLinkParams):
                v = VirtualLinkParams(between=v)
            self.virtual_links.append(VirtualLink(
                v.between[0], v.between[1], v.stock if v.stock is not None else params.stock,
                v.max_age if v.max_age is not None else params.max_age, v.refill or params.refill))

    def designate(self, demand: dict[tuple[str, str], int]) -> list[VirtualLink]:
        """Virtual links chosen from observed demand (requests so far per node pair, as the
        engine counts them): the busiest pairs with at least ``auto_threshold`` requests, up to
        ``auto`` of them in all (ties to the pair seen first); each is designated once."""
        p = self.params
        if len(self.designated) >= p.auto:
            return []
        declared = {frozenset((v.a, v.b)) for v in self.virtual_links} | set(self.designated)
        busy = [ends for ends, n in sorted(demand.items(), key=lambda kv: -kv[1])
                if n >= p.auto_threshold and frozenset(ends) not in declared]
        out = []
        for a, b in busy[:p.auto - len(self.designated)]:
            self.designated.append(frozenset((a, b)))
            out.append(VirtualLink(a, b, p.stock, p.max_age, "on_first_use"))
        return out

    def route(self, graph: nx.Graph, src: str, dst: str,
              request: EntanglementRequest | None = None) -> list[str] | None:
        def cost(u: str, v: str, data: dict[str, Any]) -> float:
            stock = data.get("virtual")
            return data["expected_pair_time"] if stock is None else max(0.0, stock.expected_wait() + _TIE)

        try:
            return nx.dijkstra_path(graph, src, dst, weight=cost)
        except (nx.NetworkXNoPath, nx.NodeNotFound):
            return None
