"""The contract's Kafka binding for FastStream services: one way to publish, decode and dead-letter.

Every service builds its broker with `make_broker`, publishes with `publish_event` (returns once the
broker acknowledged the record with acks=all) and turns a record it cannot use into a dead-letter
record with `dead_letter`, so the wire format lives in one place.
"""

import logging
from typing import Any

from aiokafka.structs import RecordMetadata
from faststream.kafka import KafkaBroker, KafkaMessage
from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from iop_contracts import topics
from iop_contracts.envelope import (
    CloudEvent,
    dead_letter_headers,
    decode_record,
    encode_event,
)


class KafkaSettings(BaseSettings):
    """Broker settings shared by every service; read from unprefixed environment variables.

    In code, the field names work too: `KafkaSettings(bootstrap_servers="host:9092")`.
    """

    model_config = SettingsConfigDict(populate_by_name=True)

    bootstrap_servers: str = Field(
        "127.0.0.1:9092", validation_alias=AliasChoices("KAFKA_BOOTSTRAP_SERVERS")
    )
    # On for Apache Kafka; the embedded broker does not implement InitProducerId.
    enable_idempotence: bool = Field(
        False, validation_alias=AliasChoices("KAFKA_ENABLE_IDEMPOTENCE")
    )
    request_timeout_ms: int = Field(
        15000, validation_alias=AliasChoices("KAFKA_REQUEST_TIMEOUT_MS")
    )


def make_broker(settings: KafkaSettings, client_id: str, **options: Any) -> KafkaBroker:
    """A FastStream Kafka broker whose publishes wait for acks from all in-sync replicas. Its
    per-message lines go to DEBUG: at INFO they would be one line per record received and
    processed; the consumption kernel logs what goes wrong."""
    options.setdefault("log_level", logging.DEBUG)
    return KafkaBroker(
        settings.bootstrap_servers,
        client_id=client_id,
        acks="all",
        enable_idempotence=settings.enable_idempotence,
        request_timeout_ms=settings.request_timeout_ms,
        **options,
    )


def _str_headers(headers: list[tuple[str, bytes]]) -> dict[str, str]:
    return {key: value.decode() for key, value in headers}


async def publish_event(
    broker: KafkaBroker, event: CloudEvent, *, topic: str | None = None
) -> RecordMetadata:
    """Publish one event (structured CloudEvents mode) and wait for the broker's acknowledgement."""
    record = encode_event(event, topic)
    return await broker.publish(
        record.value,
        record.topic,
        key=record.key,
        headers=_str_headers(record.headers),
        correlation_id=event.correlationid or event.id,
    )


def decode_message(message: KafkaMessage) -> CloudEvent:
    """The event in a consumed record; ContractError naming the field when it is not valid."""
    body = message.body
    return decode_record(body if isinstance(body, bytes | str) else None)


async def dead_letter(
    broker: KafkaBroker, message: KafkaMessage, *, reason: str, consumer: str
) -> RecordMetadata:
    """Copy a record we cannot process to `<topic>.dlq` with why, who and when, keeping its key."""
    raw = message.raw_message
    return await dead_letter_record(
        broker,
        topic=str(getattr(raw, "topic", "")),
        key=getattr(raw, "key", None),
        value=message.body if isinstance(message.body, bytes) else None,
        headers=list(getattr(raw, "headers", None) or []),
        reason=reason,
        consumer=consumer,
    )


async def dead_letter_record(
    broker: KafkaBroker,
    *,
    topic: str,
    key: bytes | None,
    value: bytes | None,
    headers: list[tuple[str, bytes]] | None,
    reason: str,
    consumer: str,
) -> RecordMetadata:
    """The `<topic>.dlq` record of one consumed record: its original value, key and headers, plus
    why, who and when; acknowledged with acks=all before it returns. Consumers that read raw
    aiokafka records call this directly; FastStream handlers call `dead_letter`."""
    dlq_headers = dead_letter_headers(headers, reason, consumer)
    return await broker.publish(
        value or b"",
        topics.dlq(topic),
        key=key,
        headers={name: data.decode(errors="replace") for name, data in dlq_headers},
    )
