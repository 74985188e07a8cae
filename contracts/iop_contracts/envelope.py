"""The CloudEvents 1.0 envelope and its Kafka binding (structured mode).

A record's value is the whole event as UTF-8 JSON; headers repeat `id` and `type` so that a
consumer can route or drop a record without parsing it.
"""

import builtins
import json
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from iop_contracts.dates import check_in_window
from iop_contracts.payloads import PAYLOAD_TYPES, Payload

CONTENT_TYPE = "application/cloudevents+json; charset=utf-8"
TYPE_PREFIX = "iop."
SCHEMA_VERSION = 1

EVENT_TYPES: dict[str, type[Payload]] = {
    TYPE_PREFIX + payload.event_name: payload for payload in PAYLOAD_TYPES
}

P = TypeVar("P", bound=Payload)


class ContractError(ValueError):
    """A record or payload that does not meet the contract. The message names the field, never
    the value (values may be personal data)."""


# Validators of these fields (email-validator above all) quote parts of the value in their
# messages, so for them only the kind of problem is reported.
_PERSONAL_FIELDS = frozenset({"contact", "email", "phone", "first_name", "name"})


def describe_validation_error(error: ValidationError, prefix: str = "") -> str:
    """Field paths and reasons of a pydantic error, without the offending input values."""
    parts = []
    for problem in error.errors(include_input=False, include_url=False):
        path = ".".join(str(part) for part in problem["loc"]) or "(root)"
        personal = any(str(part) in _PERSONAL_FIELDS for part in problem["loc"])
        reason = f"invalid ({problem['type']})" if personal else problem["msg"]
        parts.append(f"{prefix}{path}: {reason}")
    return "; ".join(parts)


def dataschema_of(event_type: str) -> str:
    return f"urn:{event_type.replace('.', ':', 1)}:{SCHEMA_VERSION}"


class CloudEvent(BaseModel):
    """A CloudEvents 1.0 envelope whose `data` is one payload of the contract."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    specversion: Literal["1.0"] = "1.0"
    id: str = Field(min_length=1, max_length=200)
    source: str = Field(min_length=1)
    type: str
    subject: str | None = None
    time: datetime
    datacontenttype: str = "application/json"
    dataschema: str | None = None
    correlationid: str | None = None
    causationid: str | None = None
    data: dict[str, Any]

    @field_validator("time")
    @classmethod
    def _time_in_window(cls, value: datetime) -> datetime:
        check_in_window(value.date(), stamped=True)
        return value

    def payload(self) -> Payload:
        """The typed payload; raises ContractError naming the field when it is invalid."""
        return parse_payload(self.type, self.data)

    def payload_as(self, payload_type: builtins.type[P]) -> P:
        payload = self.payload()
        if not isinstance(payload, payload_type):
            raise ContractError(f"expected {payload_type.event_name}, got {self.type}")
        return payload


def parse_payload(event_type: str, data: Mapping[str, Any]) -> Payload:
    payload_type = EVENT_TYPES.get(event_type)
    if payload_type is None:
        raise ContractError(f"type: unknown event type {event_type!r}")
    try:
        return payload_type.model_validate(data)
    except ValidationError as error:
        raise ContractError(describe_validation_error(error, prefix="data.")) from None


def new_event(
    payload: Payload,
    *,
    source: str,
    correlationid: str | None = None,
    causationid: str | None = None,
    event_id: str | None = None,
    time: datetime | None = None,
) -> CloudEvent:
    """Wrap a payload in a fresh envelope. A chain's first event is its own correlation id."""
    event_type = TYPE_PREFIX + payload.event_name
    new_id = event_id or str(uuid.uuid4())
    return CloudEvent(
        id=new_id,
        source=source,
        type=event_type,
        subject=payload.subject,
        time=(time or datetime.now(UTC)).replace(microsecond=0),
        dataschema=dataschema_of(event_type),
        correlationid=correlationid or new_id,
        causationid=causationid,
        data=payload.model_dump(mode="json"),
    )


def follow_up(payload: Payload, *, cause: CloudEvent, source: str) -> CloudEvent:
    """An event caused by `cause`: same correlation id, causation id = the cause's id."""
    return new_event(
        payload, source=source, correlationid=cause.correlationid or cause.id, causationid=cause.id
    )


Headers = Sequence[tuple[str, bytes]]


@dataclass(frozen=True)
class KafkaRecord:
    """One record as it goes on the wire."""

    topic: str
    key: bytes
    value: bytes
    headers: list[tuple[str, bytes]] = field(default_factory=list)


def encode_event(event: CloudEvent, topic: str | None = None) -> KafkaRecord:
    """The Kafka record of an event: topic and key come from the payload unless overridden."""
    payload = event.payload()
    value = event.model_dump_json(exclude_none=False).encode()
    headers = [
        ("content-type", CONTENT_TYPE.encode()),
        ("ce_id", event.id.encode()),
        ("ce_type", event.type.encode()),
    ]
    return KafkaRecord(
        topic=topic or payload.topic,
        key=payload.kafka_key.encode(),
        value=value,
        headers=headers,
    )


def header(headers: Iterable[tuple[str, bytes | str | None]] | None, name: str) -> str | None:
    """The first header called `name`, decoded, or None."""
    for key, value in headers or ():
        if key == name and value is not None:
            return value.decode(errors="replace") if isinstance(value, bytes) else value
    return None


def decode_record(value: bytes | str | Mapping[str, Any] | None) -> CloudEvent:
    """Parse a record value into an envelope whose payload is valid; ContractError otherwise."""
    if value is None:
        raise ContractError("value: empty record")
    if isinstance(value, Mapping):
        raw: Any = value
    else:
        try:
            raw = json.loads(value)
        except (UnicodeDecodeError, json.JSONDecodeError) as error:
            raise ContractError(f"value: not UTF-8 JSON ({type(error).__name__})") from None
    if not isinstance(raw, dict):
        raise ContractError("value: not a JSON object")
    try:
        event = CloudEvent.model_validate(raw)
    except ValidationError as error:
        raise ContractError(describe_validation_error(error)) from None
    event.payload()
    return event


_DLQ_HEADERS = frozenset({"dlq_reason", "dlq_consumer", "dlq_at"})


def dead_letter_headers(
    original: Headers | None, reason: str, consumer: str
) -> list[tuple[str, bytes]]:
    """The headers of a dead-letter record: the original ones plus why, who and when."""
    kept = [(k, v) for k, v in (original or ()) if k not in _DLQ_HEADERS]
    return [
        *kept,
        ("dlq_reason", reason[:1000].encode()),
        ("dlq_consumer", consumer.encode()),
        ("dlq_at", datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ").encode()),
    ]
