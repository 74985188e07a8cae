"""The CloudEvents envelope and its Kafka binding."""

import json

import pytest
from iop_contracts import (
    CONTENT_TYPE,
    ClientScheduled,
    ContractError,
    EnrollmentRequested,
    GroupUpserted,
    SiteUpserted,
    TherapistRetired,
    decode_record,
    encode_event,
    follow_up,
    header,
    new_event,
    topics,
)
from iop_contracts.examples import ENROLLMENT, GROUP, SCHEDULED, SITE


def test_enrollment_event_round_trips_through_a_kafka_record() -> None:
    payload = EnrollmentRequested.model_validate(ENROLLMENT)
    event = new_event(payload, source="/iop/intake")
    record = encode_event(event)

    assert record.topic == topics.ENROLLMENT
    assert record.key == b"ne"
    assert header(record.headers, "content-type") == CONTENT_TYPE
    assert header(record.headers, "ce_id") == event.id
    assert header(record.headers, "ce_type") == "iop.enrollment.requested"

    decoded = decode_record(record.value)
    assert decoded == event
    assert decoded.payload() == payload
    value = json.loads(record.value)
    assert value["specversion"] == "1.0"
    assert value["dataschema"] == "urn:iop:enrollment.requested:1"
    assert value["subject"] == "c-8f3a"
    assert value["correlationid"] == event.id  # the first event of a chain is its own correlation
    assert value["time"].endswith("Z")


@pytest.mark.parametrize(
    ("payload", "key"),
    [
        (SiteUpserted.model_validate(SITE), b"site:bos-1"),
        (GroupUpserted.model_validate(GROUP), b"group:bos-1-sud-eve-a"),
        (TherapistRetired(therapist_id="t-017"), b"therapist:t-017"),
        (ClientScheduled.model_validate(SCHEDULED), b"c-8f3a"),
    ],
)
def test_each_topic_is_keyed_as_the_contract_says(payload: object, key: bytes) -> None:
    record = encode_event(new_event(payload, source="/test"))  # type: ignore[arg-type]
    assert record.key == key


def test_follow_up_carries_correlation_and_names_its_cause() -> None:
    cause = new_event(EnrollmentRequested.model_validate(ENROLLMENT), source="/iop/intake")
    effect = follow_up(ClientScheduled.model_validate(SCHEDULED), cause=cause, source="/iop/s")
    assert effect.correlationid == cause.id
    assert effect.causationid == cause.id
    assert effect.id != cause.id


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (b"\xff\xfe not utf-8", "not UTF-8 JSON"),
        (b"[1, 2]", "not a JSON object"),
        (b'{"specversion": "1.0"}', "id"),
        (None, "empty record"),
    ],
)
def test_undecodable_records_raise_contract_error(value: bytes | None, message: str) -> None:
    with pytest.raises(ContractError, match=message):
        decode_record(value)


def test_unknown_event_type_is_refused() -> None:
    event = new_event(GroupUpserted.model_validate(GROUP), source="/t")
    raw = json.loads(encode_event(event).value)
    raw["type"] = "iop.group.exploded"
    with pytest.raises(ContractError, match="unknown event type"):
        decode_record(json.dumps(raw).encode())


def test_invalid_payload_inside_a_valid_envelope_names_the_data_field() -> None:
    event = new_event(GroupUpserted.model_validate(GROUP), source="/t")
    raw = json.loads(encode_event(event).value)
    raw["data"]["capacity"] = 0
    with pytest.raises(ContractError, match=r"data\.capacity"):
        decode_record(json.dumps(raw).encode())


def test_unknown_envelope_attributes_are_ignored() -> None:
    event = new_event(GroupUpserted.model_validate(GROUP), source="/t")
    raw = json.loads(encode_event(event).value)
    raw["traceparent"] = "00-abc"
    assert decode_record(json.dumps(raw).encode()).id == event.id
