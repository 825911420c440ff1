"""The southbound wire protocol ``qplane.southbound/1``: every message a node agent and the
controller exchange, as pydantic models, and their framing.

Framing: one JSON object per line (UTF-8, ``\\n``-terminated), at most
:data:`MAX_MESSAGE_BYTES` bytes and :data:`MAX_DEPTH` levels of nested objects and arrays (a
message of this version nests 3 deep; deeper lines are refused before they are parsed, so a
hostile line cannot exhaust the parser's recursion). Every message carries ``v`` (the protocol
version, 1) and ``type`` (which message it is); unknown fields are refused. The protocol's
full version is :data:`PROTOCOL_VERSION`, ``MAJOR.MINOR``: ``v`` is the major (a change that
old ends cannot read), the minor counts additions that leave every older message valid (1.1
added the hello's optional ``versions``; a 1.0 hello, without it, is still accepted). Both ends validate what they receive
with these models; ``interfaces/southbound/messages.schema.json`` is the language-neutral copy
of the same definitions (:func:`json_schema`, written by ``python -m qplane_southbound.spec``), and a test
keeps the two equal.

The conversation (agent A for node n, controller C)::

    A -> C  hello        node, agent name, pid, operations it executes, optional inventory, token,
                         versions (protocol MAJOR.MINOR, qplane, plugins; protocol 1.1 on)
    C -> A  welcome      heartbeat interval and timeout, the node's inventory, its operation quality
        or  reject       why (wrong protocol version, then a missing or wrong token -- saying
                         nothing about the nodes --, then unknown node, incompatible qplane or
                         plugin versions, inventory mismatch, a live agent already serves it; or a line too long or too deep, no hello in time); the
                         connection then closes
    A -> C  heartbeat    every heartbeat_interval_s
    C -> A  bell_measurement | apply_pauli | release   (an ``id``, memories by neighbour and index)
    A -> C  result       the same ``id``: ok, or error and why; the agent's own duration
    either  error        a message the other end could not accept (the field at fault)
    either  bye          an orderly goodbye; the connection then closes

This module only defines messages: it must not touch sockets or the simulation.
"""

from __future__ import annotations

import json
import re
from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

PROTOCOL = "qplane.southbound"
VERSION = 1
#: the protocol's version, ``MAJOR.MINOR`` (the major is :data:`VERSION`, the ``v`` of every
#: message): minor 1 added the hello's optional ``versions``
PROTOCOL_VERSION = f"{VERSION}.1"
SCHEMA_ID = f"urn:qplane:southbound:{VERSION}"
#: the longest line either end accepts (a message is far smaller)
MAX_MESSAGE_BYTES = 65536
#: the deepest nesting of objects and arrays either end accepts (a message nests at most 3 deep)
MAX_DEPTH = 16

Name = Annotated[str, Field(min_length=1, max_length=128, description="a node name of the topology")]
OperationName = Literal["bell_measurement", "apply_pauli", "release"]
#: the operations an agent of this version executes
OPERATIONS: tuple[str, ...] = ("bell_measurement", "apply_pauli", "release")


class _Message(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    v: Literal[1] = Field(VERSION, description="protocol version")


class MemoryRef(BaseModel):
    """One quantum memory of the agent's node: the ``index``-th memory dedicated to the link
    toward ``neighbor``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    neighbor: Name
    index: int = Field(ge=0, le=1_000_000)


class OperationQuality(BaseModel):
    """The node's local operation quality as the digital twin models it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    gate_error: float = Field(ge=0.0, le=1.0)
    measurement_error: float = Field(ge=0.0, le=1.0)
    bsm_duration_s: float = Field(ge=0.0, allow_inf_nan=False)
    bsm_success: float = Field(gt=0.0, le=1.0)


VersionText = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[0-9A-Za-z.+!_-]+$",
                                    description="a version, e.g. 0.1.0")]


class Versions(BaseModel):
    """The software an agent runs: checked by the controller, shown by ``GET /agents``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    protocol: str = Field(pattern=r"^[0-9]{1,6}\.[0-9]{1,6}$", description="the protocol version spoken, MAJOR.MINOR")
    qplane: VersionText = Field(description="the qplane core's version")
    plugins: dict[Annotated[str, Field(min_length=1, max_length=128)], VersionText] = Field(
        default_factory=dict, max_length=500, description="installed qplane plugins: entry-point name -> version")


# ------------------------------------------------------------------------- agent -> controller


class Hello(_Message):
    """First message of an agent: which node it serves and what it can do."""

    type: Literal["hello"] = "hello"
    node: Name
    agent: str = Field("qplane-agent", max_length=200, description="free text naming the agent software")
    pid: int | None = Field(None, ge=0, description="the agent's process id, for operators")
    operations: list[OperationName] = Field(default_factory=lambda: list(OPERATIONS),
                                            description="the operations this agent executes")
    memories: dict[Name, Annotated[int, Field(ge=1, le=1_000_000)]] | None = Field(
        None, description="the agent's own inventory: memories per neighbour (omitted: take the twin's)")
    token: str | None = Field(None, max_length=1024, description="shared secret, when the controller requires one")
    versions: Versions | None = Field(
        None, description="the agent's software (protocol 1.1 on; omitted by a 1.0 agent: not checked)")


class Heartbeat(_Message):
    """I am alive (sent every ``heartbeat_interval_s``)."""

    type: Literal["heartbeat"] = "heartbeat"
    seq: int = Field(ge=0)


class Result(_Message):
    """The outcome of one operation request (same ``id``)."""

    type: Literal["result"] = "result"
    id: int = Field(ge=1)
    ok: bool
    duration_s: float = Field(0.0, ge=0.0, allow_inf_nan=False, description="wall seconds the agent took")
    error: str | None = Field(None, max_length=2000, description="why the operation was refused (ok false)")


# ------------------------------------------------------------------------- controller -> agent


class Welcome(_Message):
    """The controller accepts the agent as its node's device."""

    type: Literal["welcome"] = "welcome"
    node: Name
    heartbeat_interval_s: float = Field(gt=0.0, allow_inf_nan=False)
    heartbeat_timeout_s: float = Field(gt=0.0, allow_inf_nan=False,
                                       description="silence after which the controller declares the node failed")
    memories: dict[Name, Annotated[int, Field(ge=1, le=1_000_000)]] = Field(
        description="the node's inventory: memories per neighbour")
    operations: OperationQuality


class Reject(_Message):
    """The controller refuses the agent; the connection closes."""

    type: Literal["reject"] = "reject"
    reason: str = Field(max_length=2000)


class _Operation(_Message):
    id: int = Field(ge=1, description="request id, echoed by the result")
    sim_time_s: float = Field(ge=0.0, allow_inf_nan=False, description="simulated time of the operation")


class BellMeasurement(_Operation):
    """Bell-state measurement of the qubits in two memories; both are emptied."""

    type: Literal["bell_measurement"] = "bell_measurement"
    memories: tuple[MemoryRef, MemoryRef]


class ApplyPauli(_Operation):
    """Pauli correction (1 = X, 2 = Y, 3 = Z) of the qubit in one memory."""

    type: Literal["apply_pauli"] = "apply_pauli"
    memory: MemoryRef
    pauli: int = Field(ge=1, le=3)


class Release(_Operation):
    """Discard the qubit in one memory; the memory is free."""

    type: Literal["release"] = "release"
    memory: MemoryRef


# ------------------------------------------------------------------------- both directions


class Error(_Message):
    """A message the sender received could not be accepted (``field`` names the culprit)."""

    type: Literal["error"] = "error"
    reason: str = Field(max_length=2000)
    field: str | None = Field(None, max_length=200)


class Bye(_Message):
    """An orderly goodbye; the connection then closes."""

    type: Literal["bye"] = "bye"
    reason: str = Field("", max_length=2000)


AGENT_MESSAGES = (Hello, Heartbeat, Result, Error, Bye)
CONTROLLER_MESSAGES = (Welcome, Reject, BellMeasurement, ApplyPauli, Release, Error, Bye)
ALL_MESSAGES = (Hello, Heartbeat, Result, Welcome, Reject, BellMeasurement, ApplyPauli, Release, Error, Bye)

AgentMessage = Annotated[Union[Hello, Heartbeat, Result, Error, Bye], Field(discriminator="type")]
ControllerMessage = Annotated[
    Union[Welcome, Reject, BellMeasurement, ApplyPauli, Release, Error, Bye], Field(discriminator="type")
]
Message = Annotated[Union[ALL_MESSAGES], Field(discriminator="type")]  # type: ignore[valid-type]

FROM_AGENT: TypeAdapter[Any] = TypeAdapter(AgentMessage)
FROM_CONTROLLER: TypeAdapter[Any] = TypeAdapter(ControllerMessage)


class MessageError(ValueError):
    """A line that is not a valid message for this end: ``reason`` says why, ``field`` where."""

    def __init__(self, reason: str, field: str | None = None):
        # both may echo what the sender wrote (a field name, a version): clipped so that the
        # error or reject that carries them back stays within its own limits
        self.reason = _clip(reason, 1000)
        self.field = _clip(field, 200) if field is not None else None
        super().__init__(f"{self.field}: {self.reason}" if self.field else self.reason)


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


# a JSON string (its closing quote optional, so that an unterminated one is consumed in one
# match: the scan stays linear) or a bracket
_TOKENS = re.compile(rb'"(?:[^"\\]|\\.)*"?|[\[\]{}]', re.DOTALL)


def too_deep(line: bytes, limit: int = MAX_DEPTH) -> bool:
    """Whether ``line`` nests objects and arrays more than ``limit`` deep (brackets inside
    strings do not count); linear in the line's length, and no scan at all for a line with
    at most ``limit`` opening brackets."""
    if line.count(b"[") + line.count(b"{") <= limit:
        return False
    depth = 0
    for token in _TOKENS.finditer(line):
        c = token.group()
        if c in (b"[", b"{"):
            depth += 1
            if depth > limit:
                return True
        elif c in (b"]", b"}"):
            depth -= 1
    return False


def encode(message: BaseModel) -> bytes:
    """One framed line."""
    return message.model_dump_json(exclude_none=True).encode() + b"\n"


def decode(line: bytes, adapter: TypeAdapter[Any]) -> Any:
    """Parse and validate one framed line with ``adapter`` (:data:`FROM_AGENT` or
    :data:`FROM_CONTROLLER`); raises :class:`MessageError` naming the field at fault."""
    if len(line) > MAX_MESSAGE_BYTES:
        raise MessageError(f"message exceeds {MAX_MESSAGE_BYTES} bytes")
    if too_deep(line):
        raise MessageError(f"message nests objects and arrays more than {MAX_DEPTH} deep")
    try:
        raw = json.loads(line)
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise MessageError(f"not a JSON object: {e}") from None
    except RecursionError:  # not reached after too_deep; kept so that no line can raise it
        raise MessageError(f"message nests objects and arrays more than {MAX_DEPTH} deep") from None
    if not isinstance(raw, dict):
        raise MessageError("not a JSON object")
    if raw.get("v") != VERSION:
        raise MessageError(f"protocol version {raw.get('v')!r} is not supported (this end speaks {PROTOCOL}/{VERSION})",
                           field="v")
    try:
        return adapter.validate_python(raw)
    except ValidationError as e:
        err = e.errors()[0]
        loc = [str(p) for p in err.get("loc", ())]
        if loc and loc[0] == raw.get("type"):
            loc = loc[1:]  # the discriminator's tag is not a field the sender wrote
        msg = err.get("msg", "invalid")
        kind = err.get("type")
        if kind == "extra_forbidden":
            msg = "unknown field"
        elif kind == "union_tag_invalid":
            expected = err.get("ctx", {}).get("expected_tags", "")
            msg, loc = f"message type {raw.get('type')!r} is not accepted here (expected {expected})", ["type"]
        elif kind == "union_tag_not_found":
            msg, loc = "missing", ["type"]
        raise MessageError(msg, field=".".join(loc) or None) from None


def json_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of every message; ``$defs`` also holds ``AgentMessage``
    and ``ControllerMessage``, the messages each end may receive."""
    schema = TypeAdapter(Message).json_schema()
    defs = schema.setdefault("$defs", {})
    for name, classes in (("AgentMessage", AGENT_MESSAGES), ("ControllerMessage", CONTROLLER_MESSAGES)):
        defs[name] = {
            "description": f"a message sent by the {'agent' if name == 'AgentMessage' else 'controller'}",
            "oneOf": [{"$ref": f"#/$defs/{c.__name__}"} for c in classes],
            "discriminator": {"propertyName": "type",
                              "mapping": {c.model_fields["type"].default: f"#/$defs/{c.__name__}" for c in classes}},
        }
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        "title": f"{PROTOCOL}/{VERSION}",
        "description": (
            "Messages between a qplane node agent and the controller: one JSON object per line (UTF-8, "
            f"newline-terminated, at most {MAX_MESSAGE_BYTES} bytes and {MAX_DEPTH} levels of nested objects and "
            "arrays), each with 'v' (protocol version) and 'type'."
        ),
        **{k: v for k, v in schema.items() if k != "$defs"},
        "$defs": dict(sorted(defs.items())),
    }


def schema_text() -> str:
    """The committed file's exact text."""
    return json.dumps(json_schema(), indent=2, sort_keys=False) + "\n"

