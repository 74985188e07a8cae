"""The shared parts of the consumption kernel: how a record is decoded and described, how a
record nobody can handle is dead-lettered, how trouble is retried, and the one fetch loop."""

from __future__ import annotations

import asyncio
import logging
import traceback
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any, TypeAlias

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.errors import KafkaError
from faststream.kafka import KafkaBroker, KafkaMessage

from iop_contracts import tracing
from iop_contracts.envelope import CloudEvent, ContractError, decode_record
from iop_contracts.kafka import KafkaTarget, client_options, dead_letter_record

log = logging.getLogger("iop.consume")

# Failures that say nothing about the record: retry it, do not dead-letter it.
TRANSIENT: tuple[type[BaseException], ...] = (KafkaError, OSError, TimeoutError)
MISSING_TOPIC_LOG_EVERY_S = 10.0
RETRY_MAX_S = 30.0

Record: TypeAlias = "ConsumerRecord[bytes, bytes]"


def describe(error: BaseException) -> str:
    """Why a record failed, fit for a log line and a ``dlq_reason``: a ContractError's message
    (it names fields, never values), otherwise the error's type and innermost code location
    (other messages may quote a payload, and payloads may be personal)."""
    if isinstance(error, ContractError):
        return str(error)[:500]
    frames = traceback.extract_tb(error.__traceback__) if error.__traceback__ else []
    site = f" at {frames[-1].filename.rsplit('/', 2)[-1]}:{frames[-1].lineno}" if frames else ""
    return f"{type(error).__name__}{site}"


def decode(record: Record) -> CloudEvent:
    """The record's event; every failure of any kind is a ContractError (decode_record's own
    rule, kept in one place: the envelope)."""
    return decode_record(record.value)


def where(record: Record | KafkaMessage) -> dict[str, Any]:
    raw = getattr(record, "raw_message", record)
    return {
        "topic": getattr(raw, "topic", None),
        "partition": getattr(raw, "partition", None),
        "offset": getattr(raw, "offset", None),
    }


class Backoff:
    """Capped exponential waits for retrying one thing until it works."""

    def __init__(self, first_s: float = 0.5, max_s: float = RETRY_MAX_S) -> None:
        self._first, self._max, self._next = first_s, max_s, first_s

    async def wait(self) -> None:
        await asyncio.sleep(self._next)
        self._next = min(self._next * 2, self._max)

    def reset(self) -> None:
        self._next = self._first


async def until_done(action: Callable[[], Awaitable[Any]], what: str) -> Any:
    """Run ``action`` until it does not fail transiently (the broker or network is back)."""
    backoff = Backoff()
    while True:
        try:
            return await action()
        except TRANSIENT as error:
            log.warning(f"{what} failed; retrying", extra={"reason": type(error).__name__})
            await backoff.wait()


class DeadLetters:
    """Sends records a consumer could not handle to ``<topic>.dlq``, acknowledged (acks=all)
    before it returns, retrying while the broker is away: a record is never dropped unrecorded."""

    def __init__(
        self, broker: KafkaBroker, consumer: str, counted: Callable[[str], None] | None = None
    ) -> None:
        self.broker = broker
        self.consumer = consumer
        self._counted = counted

    async def send(self, record: Record, reason: str) -> None:
        log.warning("dead-lettering a record", extra={**where(record), "reason": reason[:300]})
        tracing.refused(reason)
        await until_done(
            lambda: dead_letter_record(
                self.broker,
                topic=record.topic,
                key=record.key,
                value=record.value,
                headers=list(record.headers or ()),
                reason=reason,
                consumer=self.consumer,
            ),
            "dead letter",
        )
        if self._counted is not None:
            self._counted(record.topic)


def _consumer(kafka: KafkaTarget, client_id: str, **options: Any) -> AIOKafkaConsumer:
    """Every consumer of the kernel: address, TLS and SASL from the settings (an address alone
    takes them from the environment; see ``iop_contracts.kafka.client_options``)."""
    options.setdefault("fetch_max_wait_ms", 100)
    return AIOKafkaConsumer(
        **client_options(kafka),
        client_id=client_id,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        **options,
    )


async def _partitions(consumer: AIOKafkaConsumer, topics: Sequence[str]) -> list[TopicPartition]:
    """Every partition of ``topics``, waiting (and saying so) while one does not exist yet."""
    waited = 0.0
    while True:
        # Fresh metadata each time: consumer.topics() fetches it but leaves the consumer's own
        # copy as it was (refreshed every metadata_max_age_ms, 5 minutes), so a topic created
        # after we started would stay invisible that long. aiokafka has no public call for it.
        cluster = await consumer._client.fetch_all_metadata()
        found = {t: cluster.partitions_for_topic(t) for t in topics}
        missing = sorted(t for t, parts in found.items() if not parts)
        if not missing:
            return [TopicPartition(t, p) for t in topics for p in sorted(found[t] or ())]
        if waited % MISSING_TOPIC_LOG_EVERY_S < 0.5:
            log.warning("waiting for topics to exist", extra={"topics": ",".join(missing)})
        await asyncio.sleep(0.5)
        waited += 0.5


async def _fetch(
    consumer: AIOKafkaConsumer, *partitions: TopicPartition
) -> AsyncIterator[dict[TopicPartition, list[Record]]]:
    """Batches from the consumer for ever, riding out broker trouble."""
    backoff = Backoff()
    while True:
        try:
            batches = await consumer.getmany(*partitions, timeout_ms=500, max_records=1000)
        except TRANSIENT as error:
            log.warning("fetch failed; retrying", extra={"reason": type(error).__name__})
            await backoff.wait()
            continue
        backoff.reset()
        yield batches


async def _close(consumer: AIOKafkaConsumer) -> None:
    """Stop a consumer on shutdown, whatever state the broker is in: with the broker gone,
    aiokafka's fetcher ends in the CancelledError of its own cancelled fetch task."""
    current = asyncio.current_task()
    try:
        await consumer.stop()
    except asyncio.CancelledError:
        if current is not None and current.cancelling():
            raise  # we are being cancelled ourselves
    except Exception as error:
        log.info("consumer stopped uncleanly", extra={"reason": describe(error)})


def _report_exit(name: str) -> Callable[[asyncio.Task[Any]], None]:
    def report(task: asyncio.Task[Any]) -> None:
        if not task.cancelled() and task.exception() is not None:
            error = task.exception()
            assert error is not None
            log.error("reader stopped", extra={"reader": name, "reason": describe(error)})

    return report
