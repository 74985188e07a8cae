"""The CloudEvents 1.0 envelope and its Kafka binding (structured mode).

A record's value is the whole event as UTF-8 JSON; headers repeat `id` and `type` so that a
consumer can route or drop a record without parsing it, and carry the W3C `traceparent` (and
`tracestate`) of the event's trace (see iop_contracts.tracing).
"""

import builtins
import json
import math
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal, NoReturn, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from iop_contracts import tracing
from iop_contracts.dates import check_in_window
from iop_contracts.payloads import PAYLOAD_TYPES, Payload
from iop_contracts.tracing import TraceContext

CONTENT_TYPE = "application/cloudevents+json; charset=utf-8"
TYPE_PREFIX = "iop."
SCHEMA_VERSION = 1
# The envelope is level 1 and its data level 2; no payload of the contract nests past level 5.
# Deeper values are refused before anything recursive (pydantic, logging, re-encoding) sees them.
MAX_DEPTH = 64
# Integers beyond 2^53 - 1 do not survive every JSON parser (RFC 8259, section 6).
MAX_SAFE_INTEGER = 2**53 - 1

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


def _absent(value: object) -> bool:
    return value is None


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
    # Extension attribute: the SHA-256 of the request body that created this event, so that a
    # key reused with another body is refused by any instance at any time (intake's
    # Idempotency-Key). Optional; absent on events not made from a keyed request.
    bodydigest: str | None = Field(default=None, pattern=r"^[0-9a-f]{64}$")
    # The CloudEvents distributed-tracing extension: the W3C context the event was created in,
    # kept as received. A malformed one is dropped, not refused: tracing never costs a record.
    # Written only when present: an event without one looks as it did before tracing.
    traceparent: str | None = Field(
        default=None, pattern=tracing.TRACEPARENT_PATTERN, exclude_if=_absent
    )
    tracestate: str | None = Field(
        default=None, max_length=tracing.TRACESTATE_MAX, exclude_if=_absent
    )
    data: dict[str, Any]

    @field_validator("traceparent", mode="before")
    @classmethod
    def _drop_bad_traceparent(cls, value: object) -> str | None:
        return tracing.valid_traceparent(value)

    @field_validator("tracestate", mode="before")
    @classmethod
    def _drop_bad_tracestate(cls, value: object) -> str | None:
        return tracing.valid_tracestate(value)

    @property
    def trace_context(self) -> TraceContext | None:
        """The distributed-tracing extension, when the event carries one."""
        if self.traceparent is None:
            return None
        return TraceContext(self.traceparent, self.tracestate)

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


# What validating untrusted input may raise besides ValidationError: none of it may escape as
# anything but a ContractError, or a consumer would retry the record forever.
_INPUT_ERRORS = (ValueError, TypeError, RecursionError, OverflowError)


def parse_payload(event_type: str, data: Mapping[str, Any]) -> Payload:
    """The typed payload of an event type; ContractError naming the field when it is invalid."""
    payload_type = EVENT_TYPES.get(event_type)
    if payload_type is None:
        raise ContractError(f"type: unknown event type {event_type[:100]!r}")
    _check_depth(data, "data", start=2)
    try:
        return payload_type.model_validate(data)
    except ValidationError as error:
        raise ContractError(describe_validation_error(error, prefix="data.")) from None
    except _INPUT_ERRORS as error:
        raise ContractError(f"data: invalid ({type(error).__name__})") from None


def new_event(
    payload: Payload,
    *,
    source: str,
    correlationid: str | None = None,
    causationid: str | None = None,
    event_id: str | None = None,
    time: datetime | None = None,
    bodydigest: str | None = None,
    trace: TraceContext | None = None,
) -> CloudEvent:
    """Wrap a payload in a fresh envelope. A chain's first event is its own correlation id.
    Its trace context is ``trace``, else the one it is created in (see
    ``tracing.creation_context``), else none (the first publish gives it one)."""
    event_type = TYPE_PREFIX + payload.event_name
    new_id = event_id or str(uuid.uuid4())
    trace = trace or tracing.creation_context(causationid)
    return CloudEvent(
        id=new_id,
        source=source,
        type=event_type,
        subject=payload.subject,
        time=(time or datetime.now(UTC)).replace(microsecond=0),
        dataschema=dataschema_of(event_type),
        correlationid=correlationid or new_id,
        causationid=causationid,
        bodydigest=bodydigest,
        traceparent=trace.traceparent if trace else None,
        tracestate=trace.tracestate if trace else None,
        data=payload.model_dump(mode="json"),
    )


def follow_up(payload: Payload, *, cause: CloudEvent, source: str) -> CloudEvent:
    """An event caused by `cause`: same correlation id, causation id = the cause's id. It joins
    the cause's trace: in the span that handled the cause here, else in the cause's own context."""
    return new_event(
        payload,
        source=source,
        correlationid=cause.correlationid or cause.id,
        causationid=cause.id,
        trace=tracing.creation_context(cause.id) or cause.trace_context,
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
    if event.trace_context is not None:
        headers += event.trace_context.headers()
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
    """Parse a record value into an envelope whose payload is valid.

    Every way a value can fail (bad UTF-8 or JSON, nesting deeper than MAX_DEPTH, numbers out of
    range, a top level that is not an object, a field the contract refuses) is a ContractError
    whose message names the field or the problem, never a value."""
    if value is None:
        raise ContractError("value: empty record")
    raw = value if isinstance(value, Mapping) else _parse_json(value)
    if not isinstance(raw, Mapping):
        raise ContractError("value: not a JSON object")
    _check_depth(raw, "value")
    try:
        event = CloudEvent.model_validate(raw)
    except ValidationError as error:
        raise ContractError(describe_validation_error(error)) from None
    except _INPUT_ERRORS as error:
        raise ContractError(f"value: invalid ({type(error).__name__})") from None
    event.payload()
    return event


class _Refused(ValueError):
    """A number the contract does not carry; its message is ours and quotes no value."""


def _refuse_constant(_: str) -> NoReturn:
    raise _Refused("NaN and Infinity are not JSON")


def _safe_int(digits: str) -> int:
    # Checked on the text first: converting thousands of digits is slow, and Python refuses
    # more than 4300 with a message of its own.
    if len(digits.lstrip("-")) > 16 or abs(number := int(digits)) > MAX_SAFE_INTEGER:
        raise _Refused(f"an integer beyond +-{MAX_SAFE_INTEGER}")
    return number


def _finite_float(text: str) -> float:
    number = float(text)
    if not math.isfinite(number):
        raise _Refused("a number too large for a double")
    return number


def _parse_json(value: bytes | str) -> Any:
    try:
        text = value.decode("utf-8") if isinstance(value, bytes) else value
        return json.loads(
            text,
            parse_int=_safe_int,
            parse_float=_finite_float,
            parse_constant=_refuse_constant,
        )
    except _Refused as error:
        raise ContractError(f"value: {error}") from None
    except RecursionError:  # json's own recursion gives out near 1000 levels
        raise ContractError(f"value: nested deeper than {MAX_DEPTH} levels") from None
    except (ValueError, TypeError) as error:  # UnicodeDecodeError and JSONDecodeError among them
        raise ContractError(f"value: not UTF-8 JSON ({type(error).__name__})") from None


def _check_depth(root: Any, where: str, *, start: int = 1) -> None:
    """ContractError when `root` nests deeper than MAX_DEPTH levels; iterative, so it cannot run
    out of stack on the values it exists to refuse."""
    pending: list[tuple[Any, int]] = [(root, start)]
    while pending:
        node, depth = pending.pop()
        if isinstance(node, Mapping):
            children: Iterable[Any] = node.values()
        elif isinstance(node, list | tuple):
            children = node
        else:
            continue
        if depth > MAX_DEPTH:
            raise ContractError(f"{where}: nested deeper than {MAX_DEPTH} levels")
        pending.extend((child, depth + 1) for child in children)


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
