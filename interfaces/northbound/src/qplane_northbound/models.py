"""The northbound API's bodies: what applications send and what they get back.

:class:`RequestIn` mirrors :class:`qplane.requests.EntanglementRequest` field by field, with
bounds that refuse absurd values (a fidelity outside [0, 1], a rate or a pair count no network
serves) and one difference, said in the field descriptions: ``start`` and ``end`` count
simulated seconds from the moment the service accepts the request (a client does not know the
twin's clock). Every error names its field (``loc`` of the 422 answer).

Input is strict: a number field takes a JSON number only (``"pairs": true``, ``"pairs": 2.0``
and ``"rate": "5"`` are refused; an integer is a number where a float is expected), and a
non-finite number (``NaN``, ``Infinity``, or ``1e999``, which a JSON parser turns into
infinity) is refused wherever it appears, the component parameters under ``protocols``
included, each with its path. Bodies nesting deeper than :data:`MAX_JSON_DEPTH` are refused
before they are parsed (:class:`qplane_northbound.app.BodyLimit`).

The OpenAPI document (``interfaces/northbound/openapi.json``) is generated from these models.
"""

from __future__ import annotations

import math
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model, model_validator
from pydantic_core import InitErrorDetails, PydanticCustomError
from qplane.components import PER_REQUEST
from qplane.requests import RequestStatus

#: the largest body POST /requests accepts (413 beyond)
MAX_BODY_BYTES = 16 * 1024
MAX_PAIRS = 1_000_000
#: most parties of one GHZ request
MAX_PARTIES = 64
MAX_RATE_HZ = 1e7
MAX_TIME_S = 1e6
#: deepest nesting of arrays and objects a JSON body may have (422 beyond)
MAX_JSON_DEPTH = 32
#: most pairs one page of GET /requests/{id}/pairs holds
MAX_PAGE = 1000
#: event streams open at once by default (``qplane serve --max-streams``; 503 beyond)
MAX_STREAMS = 100

NodeName = Annotated[str, Field(min_length=1, max_length=128, description="a node of the topology")]
ComponentRef = Annotated[
    str | dict[str, Any],
    Field(description="a component name, or {name: ..., <its parameters>}; validated by the component"),
]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


#: protocols for this request only, replacing the scenario's: one field per per-request key of
#: the core's component table (:data:`qplane.components.PER_REQUEST`)
ProtocolsIn = create_model(
    "ProtocolsIn", __base__=_In, __doc__="Protocols for this request only, replacing the scenario's.",
    **{key: (ComponentRef | None, None) for key in PER_REQUEST})


def _field_error(model: str, field: str, kind: str, message: str, value: Any) -> ValidationError:
    return ValidationError.from_exception_data(
        model, [InitErrorDetails(type=PydanticCustomError(kind, message), loc=(field,), input=value)])


def non_finite(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[tuple[Any, ...], float]]:
    """Every non-finite float in a parsed JSON value, with its path (keys and list indices)."""
    if isinstance(value, float):
        return [] if math.isfinite(value) else [(path, value)]
    if isinstance(value, dict):
        return [hit for k, v in value.items() for hit in non_finite(v, (*path, k))]
    if isinstance(value, list):
        return [hit for i, v in enumerate(value) for hit in non_finite(v, (*path, i))]
    return []


class RequestIn(_In):
    """Ask for entangled pairs between ``src`` and ``dst``: exactly one of ``pairs`` and
    ``rate`` (a rate needs an ``end``); or for GHZ states shared by ``parties`` (three or more,
    instead of ``src``/``dst``): exactly one of ``states`` and ``rate``."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"src": "n0", "dst": "n4", "pairs": 10, "min_fidelity": 0.8}]},
    )

    src: NodeName | None = None
    dst: NodeName | None = None
    parties: list[NodeName] | None = Field(None, min_length=3, max_length=MAX_PARTIES,
                                           description="the nodes sharing each GHZ state, instead of src/dst")
    states: int | None = Field(None, ge=1, le=MAX_PAIRS, strict=True, description="GHZ states to deliver (with parties)")
    min_fidelity: float = Field(0.0, ge=0.0, le=1.0, allow_inf_nan=False, strict=True,
                                description="deliver only pairs whose estimated fidelity reaches this")
    pairs: int | None = Field(None, ge=1, le=MAX_PAIRS, strict=True,
                              description="deliver this many pairs, then complete")
    rate: float | None = Field(None, gt=0.0, le=MAX_RATE_HZ, allow_inf_nan=False, strict=True,
                               description="pairs per simulated second to sustain from start until end")
    start: float = Field(0.0, ge=0.0, le=MAX_TIME_S, allow_inf_nan=False, strict=True,
                         description="simulated seconds after acceptance when service starts")
    end: float | None = Field(None, gt=0.0, le=MAX_TIME_S, allow_inf_nan=False, strict=True,
                              description="deadline, simulated seconds after acceptance; required with rate")
    priority: int = Field(0, ge=-1_000_000, le=1_000_000, strict=True,
                          description="higher is served first by priority schedulers")
    protocols: ProtocolsIn | None = None

    @model_validator(mode="before")
    @classmethod
    def _finite(cls, data: Any) -> Any:
        hits = non_finite(data)
        if hits:
            raise ValidationError.from_exception_data("RequestIn", [
                InitErrorDetails(type=PydanticCustomError("finite_number", "expected a finite number, got {value}",
                                                          {"value": str(value)}), loc=path, input=str(value))
                for path, value in hits])
        return data

    @model_validator(mode="after")
    def _consistent(self) -> "RequestIn":
        # each error is attached to the field the client should change
        if self.parties is not None:
            for name in ("src", "dst", "pairs"):
                if getattr(self, name) is not None:
                    raise _field_error("RequestIn", name, "with_parties",
                                       f"'{name}' does not go with 'parties' (give 'states' for a count)", getattr(self, name))
            if len(set(self.parties)) < len(self.parties):
                raise _field_error("RequestIn", "parties", "duplicate", "the parties must all differ", self.parties)
        elif self.src is None or self.dst is None or self.states is not None:
            what = "'states' goes with 'parties'" if self.states is not None else "give 'src' and 'dst', or 'parties'"
            raise _field_error("RequestIn", "states" if self.states is not None else "src" if self.src is None else "dst",
                               "missing", what, None)
        count = "states" if self.parties is not None else "pairs"
        if getattr(self, count) is None and self.rate is None:
            raise _field_error("RequestIn", count, "pairs_or_rate", f"give exactly one of '{count}' and 'rate'", None)
        if getattr(self, count) is not None and self.rate is not None:
            raise _field_error("RequestIn", "rate", "pairs_or_rate", f"give exactly one of '{count}' and 'rate'", self.rate)
        if self.rate is not None and self.end is None:
            raise _field_error("RequestIn", "end", "missing", "a 'rate' request needs an 'end'", None)
        if self.end is not None and self.end <= self.start:
            raise _field_error("RequestIn", "end", "end_before_start", "'end' must be after 'start'", self.end)
        if self.parties is None and self.src == self.dst:
            raise _field_error("RequestIn", "dst", "same_node", "'src' and 'dst' must differ", self.dst)
        return self

    def fields(self) -> dict[str, Any]:
        """The keyword arguments of :class:`~qplane.requests.EntanglementRequest` (times still
        relative)."""
        data = self.model_dump(exclude={"protocols"}, exclude_none=True)
        if self.protocols is not None:
            chosen = self.protocols.model_dump(exclude_none=True)
            data["protocols"] = chosen or None
        return data


class PairOut(BaseModel):
    index: int = Field(description="0 for the request's first pair, then 1, 2, ...")
    sim_time_s: float
    fidelity: float = Field(description="the twin's true fidelity with Phi+ at delivery")
    fidelity_estimated: float = Field(description="the network's own estimate")
    latency_s: float
    age_s: float


class Moments(BaseModel):
    mean: float
    variance: float | None = Field(description="sample variance (n - 1 in the denominator); null below two pairs")
    stderr: float | None = Field(description="standard error of the mean; null below two pairs")
    min: float
    max: float


class LatencyStats(BaseModel):
    mean_s: float
    min_s: float
    max_s: float
    p50_s: float = Field(description="quantiles from a DDSketch: within 1% of the exact value")
    p95_s: float
    p99_s: float


class PairStatsOut(BaseModel):
    """Running aggregates of every pair a request was delivered."""

    count: int
    fidelity: Moments | None = Field(description="the true fidelity (null: no pair yet)")
    fidelity_estimated: Moments | None = Field(description="the network's estimate")
    latency: LatencyStats | None
    first_at_s: float | None = Field(description="simulated time of the first pair")
    last_at_s: float | None = Field(description="simulated time of the latest pair")


class PairWindow(BaseModel):
    capacity: int = Field(description="most recent pairs kept per request (the service's --keep-pairs)")
    first: int = Field(description="index of the oldest pair still kept (= delivered when none is)")
    size: int = Field(description="pairs kept now: indices first .. first + size - 1")


class PairPage(BaseModel):
    """A page of a request's recent pairs."""

    request: int
    delivered: int = Field(description="pairs delivered so far")
    window: PairWindow
    skipped: int = Field(description="pairs after `after` no longer kept: when `after` is older than the window "
                                     "the page starts at its oldest pair, and this says how many were missed")
    pairs: list[PairOut]
    next_after: int = Field(description="the last index on this page (`after` when the page is empty): pass it "
                                        "as `after` for the next page")


class RequestState(BaseModel):
    """A request as the service knows it now."""

    id: int
    origin: Literal["scenario", "api"] = Field(description="from the scenario file or submitted over the API")
    src: str
    dst: str
    parties: list[str] | None = Field(None, description="a GHZ request's parties (src, dst: its first and last)")
    states: int | None = Field(None, description="a GHZ request's count of states (delivered counts states)")
    min_fidelity: float
    pairs: int | None
    rate: float | None
    start_s: float = Field(description="simulated time its service starts")
    end_s: float | None = Field(description="simulated deadline")
    accepted_at_s: float = Field(description="simulated time the service accepted it")
    status: RequestStatus
    final: bool = Field(description="the status will not change any more")
    reason: str = Field(description="why it ended so (or what it waits for)")
    delivered: int
    fidelity_mean: float | None = Field(description="mean true fidelity of every pair delivered (stats.fidelity.mean)")
    stats: PairStatsOut = Field(description="running aggregates of every pair delivered; their size does not "
                                              "grow with the pairs")
    window: PairWindow = Field(description="the recent pairs the service keeps (GET /requests/{id}/pairs)")
    discarded: int = Field(description="pairs dropped because their estimate was below min_fidelity")
    losses: dict[str, int] = Field(description="pairs lost on the way, by cause")
    path: list[str] | None
    reroutes: int
    finished_at_s: float | None


class RequestSummary(BaseModel):
    id: int
    origin: Literal["scenario", "api"]
    src: str
    dst: str
    status: RequestStatus
    final: bool
    delivered: int


class NodeState(BaseModel):
    name: str
    up: bool = Field(description="ground truth")
    in_view: bool = Field(description="the controller believes it is up")
    remote: bool = Field(description="driven by a node agent")
    agent: Literal["connected", "lost", "waiting"] | None
    memories: int
    removed: bool = Field(False, description="removed at run time (DELETE /nodes/{name}): it never comes back")


class LinkInView(BaseModel):
    a: str
    b: str
    length_km: float
    up: bool = Field(description="the fibre (ground truth)")
    operational: bool = Field(description="the fibre and both end nodes are up")
    in_view: bool = Field(description="the controller believes it works")
    removed: bool = Field(False, description="removed at run time (DELETE /links/{a}/{b}): it never comes back")
    routable: bool = Field(True, description="routing may use it (false: taken out of routing by the health monitor)")


class Topology(BaseModel):
    sim_time_s: float
    manager: str = Field(description="the topology manager telling the controller about the network")
    ready: bool = Field(description="initial discovery has converged")
    nodes: list[NodeState]
    links: list[LinkInView]


class LinkState(BaseModel):
    a: str
    b: str
    length_km: float
    scheme: str
    up: bool
    operational: bool
    success_probability: float
    cycle_time_s: float
    herald_delay_s: float
    pair_fidelity: float
    attempts: int
    pairs_generated: int
    outages: int
    downtime_s: float


class RequestCounts(BaseModel):
    total: int
    unfinished: int
    by_status: dict[str, int]


class AgentCounts(BaseModel):
    expected: int
    connected: int
    lost: int


class ApiCounts(BaseModel):
    accepted: int
    rejected: int
    cancelled: int
    streams_open: int = Field(description="event streams open now (at most the service's --max-streams)")


class Metrics(BaseModel):
    sim_time_s: float
    wall_time_s: float
    speed: float | None = Field(description="simulated seconds per wall second; null: as fast as possible")
    lag_s: float = Field(description="simulated seconds the twin runs behind the wall clock")
    events: int
    classical_messages: int
    requests: RequestCounts
    pairs_delivered: int
    fidelity_mean: float | None
    topology: dict[str, Any] = Field(description="failures, re-routes and the topology manager's own metrics")
    agents: AgentCounts
    api: ApiCounts


class AgentState(BaseModel):
    node: str
    state: Literal["connected", "lost", "waiting"]
    agent: str | None = None
    pid: int | None = None
    peer: str | None = None
    connected_at: float | None = Field(None, description="wall clock (Unix time)")
    last_seen_s_ago: float | None = None
    heartbeats: int | None = None
    operations: int | None = None
    refused: int | None = None
    rpc_mean_ms: float | None = None
    lost_reason: str | None = None
    protocol_version: str | None = Field(None, description="the southbound protocol the agent speaks, MAJOR.MINOR")
    qplane_version: str | None = Field(None, description="the agent's qplane (None: a protocol 1.0 agent)")
    plugin_versions: dict[str, str] | None = Field(None, description="the agent's qplane plugins -> versions")


class Health(BaseModel):
    state: Literal["built", "running", "stopping", "stopped", "failed"]
    sim_time_s: float
    speed: float | None
    error: str | None = None
