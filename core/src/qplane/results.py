"""The results of a run: a versioned JSON document (``"schema": "qplane.results/2"``).

The models here are the schema (``qplane schema results`` prints it); the engine
(``qplane_engine.results``) computes the figures docs/design.md defines ("The results file").
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


#: version 2 (from 1): one name per figure -- ``time_to_first_pair_s`` dropped (it was ``wait_s``),
#: ``path`` dropped (it was ``paths[0]``); the ``interrupted`` status (Ctrl-C)
SCHEMA = "qplane.results/2"


class RequestResult(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: int
    src: str
    dst: str
    parties: list[str] | None = Field(None, description="a GHZ request's parties (src, dst: its first and last)")
    status: str
    reason: str = ""
    protocols: dict[str, str] = Field(default_factory=dict, description="component kind -> name serving this request")
    pairs_requested: int | None
    rate_requested_hz: float | None
    min_fidelity: float
    delivered: int
    discarded: int = Field(description="pairs dropped because the network's estimate was below min_fidelity")
    losses: dict[str, int] = Field(default_factory=dict, description="stored pairs lost, by cause: cutoff, swap_failed, purification_failed, node_failed")
    reroutes: int = Field(0, description="times its path was replaced after a failure")
    rate_hz: float | None = Field(description="delivered / time served (start to completion, end or end of run)")
    fidelity_mean: float | None
    fidelity_stderr: float | None
    fidelity_estimated_mean: float | None
    latency_mean_s: float | None = Field(description="per pair: delivery time minus the start of its oldest link-level attempt")
    latency_p50_s: float | None
    latency_p95_s: float | None
    completion_time_s: float | None
    paths: list[list[str]] | None = Field(
        None, description="the node paths it was last routed over: one for a single-path router, several for a "
        "multipath one (paths[0] first); after a re-route, the new path; null when never routed or path-free (reactive)")
    wait_s: float | None = Field(None, description="time to the first pair: first delivery minus start (null: none delivered)")
    queued_s: float = Field(0.0, description="seconds it waited for memories (routed but holding none), preemptions included")
    preemptions: int = Field(0, description="times the scheduler took its memories back before it finished")
    served_fraction: float = Field(0.0, description="min(1, delivered / pairs), or min(1, rate_hz / rate) for a rate request")
    sla_met: bool = Field(False, description="completed (all pairs, or the rate until end) by its end, with a mean fidelity of at least min_fidelity")


class NodeResult(BaseModel):
    """Memory utilisation of one node over the run."""

    model_config = ConfigDict(extra="forbid")
    name: str
    memories: int = Field(description="memories of the node, all links together")
    reserved_mean: float = Field(description="time-averaged fraction reserved by sessions (exact)")
    reserved_peak: float = Field(description="largest fraction reserved at once")
    occupied_mean: float | None = Field(description="time-averaged fraction holding a qubit (sampled; null unless sampling was on)")
    occupied_peak: float | None = Field(description="largest sampled fraction holding a qubit")


class LinkResult(BaseModel):
    model_config = ConfigDict(extra="forbid")
    a: str
    b: str
    length_km: float
    scheme: str
    success_probability: float
    cycle_time_s: float
    attempts: int
    pairs_generated: int


class Results(BaseModel):
    model_config = ConfigDict(extra="forbid")
    schema_: str = Field(SCHEMA, alias="schema")
    name: str
    scenario: dict[str, Any]
    seed: int
    backend: str
    sim_time_s: float
    wall_time_s: float
    events: int
    classical_messages: int
    requests: list[RequestResult]
    links: list[LinkResult]
    nodes: list[NodeResult] = Field(default_factory=list, description="per-node memory utilisation")
    memory_timeline: list[list[float]] = Field(
        default_factory=list,
        description="[t, fraction of all memories reserved, fraction holding a qubit] at each occupancy sample "
        "(empty unless sampling was on)")
    topology: dict[str, Any] = Field(default_factory=dict, description="topology management: failures, detection latency, re-routes, discovery")
    plugins: dict[str, str | None]
    extra: dict[str, Any] = Field(default_factory=dict)


def counted(count: int, word: str, plural: str | None = None) -> str:
    """``1 request``, ``2 requests``: a count with its noun."""
    return f"{count} {word if count == 1 else plural or word + 's'}"


def table(head: list[str], rows: list[list[str]]) -> str:
    """Left-aligned columns under a dashed header (the command line's tables)."""
    widths = [max(len(h), *(len(row[i]) for row in rows)) if rows else len(h) for i, h in enumerate(head)]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip()
                     for row in [head, ["-" * w for w in widths], *rows])


def summary_table(results: dict[str, Any]) -> str:
    """The text ``qplane run`` prints for ``results`` (the engine writes it)."""
    from . import _engine

    return _engine().report.summary_table(results)
