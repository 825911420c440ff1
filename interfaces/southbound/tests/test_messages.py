"""The southbound messages: the committed JSON Schema is the generated one, every message
round-trips and validates against it, and every bad message is refused naming the field."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from qplane_southbound.messages import (
    FROM_AGENT,
    FROM_CONTROLLER,
    MAX_DEPTH,
    MAX_MESSAGE_BYTES,
    ApplyPauli,
    BellMeasurement,
    Bye,
    Error,
    Heartbeat,
    Hello,
    MemoryRef,
    MessageError,
    OperationQuality,
    Reject,
    Release,
    Result,
    Versions,
    Welcome,
    decode,
    encode,
    json_schema,
    schema_text,
    too_deep,
)

COMMITTED = Path(__file__).resolve().parents[1] / "messages.schema.json"
M = MemoryRef(neighbor="n0", index=2)
FROM_AGENT_EXAMPLES = [
    Hello(node="n1", pid=42, memories={"n0": 4, "n2": 4}, token="t"),
    Hello(node="n1", versions=Versions(protocol="1.1", qplane="0.1.0", plugins={"routing": "0.1.0"})),
    Heartbeat(seq=7),
    Result(id=3, ok=True, duration_s=1e-5),
    Result(id=4, ok=False, error="no memories toward 'n9'"),
    Error(reason="unknown field", field="x"),
    Bye(reason="SIGTERM"),
]
FROM_CONTROLLER_EXAMPLES = [
    Welcome(node="n1", heartbeat_interval_s=0.5, heartbeat_timeout_s=1.5, memories={"n0": 4},
            operations=OperationQuality(gate_error=0.0, measurement_error=0.01, bsm_duration_s=0.0, bsm_success=1.0)),
    Reject(reason="node 'n9' is not served by agents here"),
    BellMeasurement(id=1, memories=(M, MemoryRef(neighbor="n2", index=0)), sim_time_s=0.25),
    ApplyPauli(id=2, memory=M, pauli=3, sim_time_s=0.5),
    Release(id=3, memory=M, sim_time_s=0.75),
    Bye(reason="shutting down"),
]


def test_the_committed_schema_is_the_generated_one() -> None:
    assert COMMITTED.read_text() == schema_text(), \
        "regenerate: python -m qplane_southbound.spec > interfaces/southbound/messages.schema.json"


@pytest.mark.parametrize("message, adapter", [(m, FROM_AGENT) for m in FROM_AGENT_EXAMPLES]
                         + [(m, FROM_CONTROLLER) for m in FROM_CONTROLLER_EXAMPLES])
def test_every_message_round_trips_and_matches_the_committed_schema(message, adapter) -> None:
    line = encode(message)
    assert line.endswith(b"\n") and line.count(b"\n") == 1
    assert decode(line, adapter) == message
    jsonschema = pytest.importorskip("jsonschema")
    schema = json.loads(COMMITTED.read_text())
    jsonschema.Draft202012Validator(schema).validate(json.loads(line))
    side = "AgentMessage" if adapter is FROM_AGENT else "ControllerMessage"
    jsonschema.Draft202012Validator({**schema, "$ref": f"#/$defs/{side}"}).validate(json.loads(line))


def test_the_schema_refuses_what_the_models_refuse() -> None:
    jsonschema = pytest.importorskip("jsonschema")
    validator = jsonschema.Draft202012Validator(json_schema())
    for bad in ({"v": 1, "type": "heartbeat", "seq": -1}, {"v": 2, "type": "heartbeat", "seq": 1},
                {"v": 1, "type": "apply_pauli", "id": 1, "memory": {"neighbor": "n0", "index": 0}, "pauli": 4,
                 "sim_time_s": 0.0},
                {"v": 1, "type": "hello", "node": "n1", "colour": "red"}):
        assert not validator.is_valid(bad), bad


@pytest.mark.parametrize("raw, adapter, field, words", [
    (b'{"v":1,"type":"hello"}', FROM_AGENT, "node", "Field required"),
    (b'{"v":1,"type":"hello","node":"n1","colour":1}', FROM_AGENT, "colour", "unknown field"),
    (b'{"v":2,"type":"hello","node":"n1"}', FROM_AGENT, "v", "version 2 is not supported"),
    (b'{"type":"hello","node":"n1"}', FROM_AGENT, "v", "version None is not supported"),
    (b'{"v":1,"type":"heartbeat","seq":-1}', FROM_AGENT, "seq", "greater than or equal to 0"),
    (b'{"v":1,"type":"welcome"}', FROM_AGENT, "type", "is not accepted here"),
    (b'{"v":1,"type":"hello","node":"n1"}', FROM_CONTROLLER, "type", "is not accepted here"),
    (b'{"v":1}', FROM_AGENT, "type", "missing"),
    (b'{"v":1,"type":"hello","node":"n1","versions":{"protocol":"one","qplane":"0.1"}}', FROM_AGENT,
     "versions.protocol", "should match pattern"),
    (b'{"v":1,"type":"apply_pauli","id":1,"memory":{"neighbor":"n0","index":0},"pauli":0,"sim_time_s":0}',
     FROM_CONTROLLER, "pauli", "greater than or equal to 1"),
    (b'{"v":1,"type":"bell_measurement","id":1,"memories":[{"neighbor":"n0","index":0}],"sim_time_s":0}',
     FROM_CONTROLLER, "memories.1", "Field required"),
    (b'[1, 2]', FROM_AGENT, None, "not a JSON object"),
    (b'{"v":1,', FROM_AGENT, None, "not a JSON object"),
])
def test_bad_messages_are_refused_naming_the_field(raw, adapter, field, words) -> None:
    with pytest.raises(MessageError) as e:
        decode(raw, adapter)
    assert e.value.field == field
    assert words in e.value.reason


def test_oversized_messages_are_refused() -> None:
    with pytest.raises(MessageError, match=f"exceeds {MAX_MESSAGE_BYTES} bytes"):
        decode(b'{"v":1,"type":"bye","reason":"' + b"x" * MAX_MESSAGE_BYTES + b'"}', FROM_AGENT)


def test_too_deep_counts_brackets_outside_strings_and_is_linear() -> None:
    import time

    assert not too_deep(b'{"a":[[{"b":1}]]}')
    assert not too_deep(b'{"a":"' + b"[" * 100 + b'"}')  # inside a string: no nesting
    assert not too_deep(b'{"a":"\\"' + b"[" * 100 + b'"}')  # an escaped quote does not end the string
    assert too_deep(b"[" * (MAX_DEPTH + 1))
    assert not too_deep(b"[" * MAX_DEPTH + b"]" * MAX_DEPTH)
    assert too_deep(b"[]" * 100 + b"{" * (MAX_DEPTH + 1))
    worst = b"[" * (MAX_DEPTH + 1) + b'"' + b'\\"' * 30_000  # an unterminated string of escapes
    t0 = time.perf_counter()
    assert too_deep(worst) and not too_deep(b'["' + b"[" * 60_000 + b'"]')
    assert time.perf_counter() - t0 < 0.5


def test_a_deeply_nested_line_is_refused_before_it_is_parsed() -> None:
    for line in (b'{"v":1,"type":"heartbeat","seq":' + b"[" * 30_000 + b"]" * 30_000 + b"}",
                 b"[" * 60_000):  # deep enough to exhaust json's recursion
        with pytest.raises(MessageError, match=f"nests objects and arrays more than {MAX_DEPTH} deep"):
            decode(line, FROM_AGENT)
    assert decode(b'{"v":1,"type":"bye","reason":"' + b"[" * 100 + b'"}', FROM_AGENT) == Bye(reason="[" * 100)


def test_what_an_error_echoes_is_clipped_to_fit_the_messages_that_carry_it() -> None:
    with pytest.raises(MessageError) as e:
        decode(b'{"v":1,"type":"hello","node":"n1","' + b"k" * 5000 + b'":1}', FROM_AGENT)
    assert len(e.value.field) == 200 and e.value.field.endswith("...") and e.value.reason == "unknown field"
    Error(reason=e.value.reason, field=e.value.field)  # fits
    with pytest.raises(MessageError) as e:
        decode(b'{"v":"' + b"9" * 5000 + b'","type":"hello","node":"n1"}', FROM_AGENT)
    assert len(e.value.reason) == 1000 and len(str(e.value)) < 2000
    Reject(reason=f"invalid hello: {e.value}")  # fits
