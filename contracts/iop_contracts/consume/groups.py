"""Reading topics as a member of a consumer group: isolated per-record subscribers (FastStream)
and the scheduler's partition lanes (raw aiokafka)."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, TopicPartition
from aiokafka.errors import KafkaError
from faststream.kafka import KafkaBroker, KafkaMessage
from faststream.middlewares import AckPolicy

from iop_contracts import tracing
from iop_contracts.consume.records import (
    TRANSIENT,
    Backoff,
    DeadLetters,
    Record,
    _close,
    _consumer,
    _fetch,
    _report_exit,
    decode,
    describe,
    log,
    until_done,
    where,
)
from iop_contracts.envelope import CloudEvent, ContractError
from iop_contracts.kafka import KafkaTarget

Handle = Callable[[CloudEvent, KafkaMessage], Awaitable[None]]


async def handle_isolated(
    message: KafkaMessage,
    handle: Handle,
    dead_letters: DeadLetters,
    transient: tuple[type[BaseException], ...] = TRANSIENT,
    *,
    group: str | None = None,
) -> None:
    """One record of a group subscriber: decode once, handle, then commit. A failure of the
    record's own (anything but ``transient``) dead-letters it; a transient one is retried in
    place, so the partition waits for the broker (or the service's storage) instead of
    skipping work. All of it inside the record's consumer span (see ``tracing.consuming``)."""
    raw: Record = message.raw_message
    try:
        event: CloudEvent | None = decode(raw)
        undecodable: Exception | None = None
    except Exception as error:
        event, undecodable = None, error
    with tracing.consuming(raw, event, group=group):
        if event is None:
            assert undecodable is not None
            await dead_letters.send(raw, describe(undecodable))
        else:
            await _handle_until_done(message, event, handle, dead_letters, transient)
    await until_done(message.ack, "commit")


async def _handle_until_done(
    message: KafkaMessage,
    event: CloudEvent,
    handle: Handle,
    dead_letters: DeadLetters,
    transient: tuple[type[BaseException], ...],
) -> None:
    raw: Record = message.raw_message
    backoff = Backoff()
    while True:
        try:
            await handle(event, message)
            return
        except asyncio.CancelledError:
            raise
        except transient as error:
            log.warning(
                "record waits for the broker, the network or local storage",
                extra={**where(raw), "reason": type(error).__name__},
            )
            await backoff.wait()
        except Exception as error:
            await dead_letters.send(raw, describe(error))
            return


def subscribe_isolated(
    broker: KafkaBroker,
    topic: str,
    *,
    group_id: str,
    handle: Handle,
    dead_letters: DeadLetters,
    transient: tuple[type[BaseException], ...] = (),
    **options: Any,
) -> Any:
    """A FastStream subscriber in ``group_id`` whose records each cost only themselves (see
    ``handle_isolated``; ``transient`` adds the service's own failures that are not a record's
    fault, such as its local storage). FastStream reads one record at a time (``getone``) and a
    manual ack commits the consumer's positions, so a commit covers exactly the records
    handled."""
    retried = TRANSIENT + transient

    async def on_record(message: KafkaMessage) -> None:
        await handle_isolated(message, handle, dead_letters, retried, group=group_id)

    options.setdefault("auto_offset_reset", "earliest")
    options.setdefault("parser", tolerant_headers)
    subscriber = broker.subscriber(topic, group_id=group_id, ack_policy=AckPolicy.MANUAL, **options)
    subscriber(on_record)
    return subscriber


async def tolerant_headers(record: Record, parse: Callable[[Any], Awaitable[Any]]) -> Any:
    """FastStream's parser decodes every header as UTF-8 before any handler runs, and drops a
    record whose header does not decode, with no dead letter: a garbled header on a good referral
    would lose the referral. Parse a copy whose headers are decoded leniently, and hand the kernel
    the record as it came. (Its dead letter keeps the value byte for byte; FastStream publishes
    headers as text, so there the undecodable bytes of a header are replaced.)"""
    lenient = [
        (key, (value or b"").decode(errors="replace").encode()) for key, value in record.headers
    ]
    copy = dataclasses.replace(record, headers=lenient)
    if hasattr(record, "consumer"):
        copy.consumer = record.consumer
    message = await parse(copy)
    message.raw_message = record
    return message


def subscriber_alive(subscriber: Any) -> bool:
    """A started FastStream subscriber still consumes: it runs and one of its consuming tasks
    (FastStream restarts a failed one beside it) has not ended."""
    tasks = getattr(subscriber, "tasks", None) or []
    return bool(getattr(subscriber, "running", False)) and any(not t.done() for t in tasks)


@dataclass(frozen=True)
class Delivery:
    """One decoded record of an owned partition."""

    record: Record
    event: CloudEvent

    @property
    def offset(self) -> int:
        return int(self.record.offset)


class PartitionHooks:
    """What a ``PartitionLanes`` consumer asks of its service."""

    async def assigned(self, partitions: set[TopicPartition]) -> None: ...

    async def revoked(self, partitions: set[TopicPartition]) -> None: ...

    def deliver(self, tp: TopicPartition, deliveries: list[Delivery], span: range) -> None:
        """Take a partition's next records, in order. ``span`` is the offsets fetched (records
        dead-lettered on the way included): commit ``span.stop`` once every delivery is done;
        a service that cannot take them yet seeks back to ``span.start``."""


class PartitionLanes:
    """A consumer-group member that hands each owned partition's records to the service, which
    commits per partition when its work is durable.

    Raw aiokafka rather than a FastStream subscriber: the scheduler batches each partition apart
    and commits it after an asynchronous solve (a subscriber commits every partition's position
    at once, after its handler returns), and must rebuild an assigned partition's state from its
    committed history inside the rebalance callback, before answering anything.
    Undecodable records are dead-lettered here and never reach the service."""

    def __init__(
        self,
        bootstrap: KafkaTarget,
        topic: str,
        hooks: PartitionHooks,
        dead_letters: DeadLetters,
        *,
        group_id: str,
        name: str,
        **options: Any,
    ) -> None:
        self.topic = topic
        self._group = group_id
        self._hooks = hooks
        self._dead_letters = dead_letters
        # Made in start(): aiokafka objects need a running loop, and create_app() has none.
        self._make = lambda: _consumer(bootstrap, name, group_id=group_id, **options)
        self._consumer_made: AIOKafkaConsumer | None = None
        self._task: asyncio.Task[None] | None = None

    @property
    def _consumer(self) -> AIOKafkaConsumer:
        if self._consumer_made is None:
            raise RuntimeError(f"consumer of {self.topic} not started")
        return self._consumer_made

    async def start(self) -> None:
        self._consumer_made = self._make()
        self._consumer.subscribe([self.topic], listener=_Listener(self._hooks))
        await until_done(self._consumer.start, "group consumer connect")
        self._task = asyncio.create_task(self._run(), name=f"lanes {self.topic}")
        self._task.add_done_callback(_report_exit(f"lanes {self.topic}"))

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def leave(self) -> None:
        """Leave the group (others take over at once)."""
        if self._consumer_made is not None:
            await _close(self._consumer_made)

    @property
    def alive(self) -> bool:
        return self._task is not None and not self._task.done()

    async def committed(self, tp: TopicPartition) -> int:
        return int(await until_done(lambda: self._consumer.committed(tp), "committed") or 0)

    async def commit(self, tp: TopicPartition, offset: int) -> bool:
        """Commit one partition; False when the partition was lost meanwhile (its next owner
        re-reads from the last commit, and idempotent handling makes that harmless)."""
        try:
            await self._consumer.commit({tp: offset})
        except KafkaError as error:
            log.warning(
                "commit failed",
                extra={"partition": tp.partition, "offset": offset, "reason": describe(error)},
            )
            return False
        return True

    def pause(self, tp: TopicPartition) -> None:
        self._consumer.pause(tp)

    def resume(self, tp: TopicPartition) -> None:
        self._consumer.resume(tp)

    def paused(self, tp: TopicPartition) -> bool:
        return tp in self._consumer.paused()

    def seek(self, tp: TopicPartition, offset: int) -> None:
        self._consumer.seek(tp, offset)

    def owns(self, tp: TopicPartition) -> bool:
        return tp in self._consumer.assignment()

    async def lag(self, tp: TopicPartition) -> int:
        """Records the broker holds beyond our position (known after the first fetch)."""
        position = await self._consumer.position(tp)
        return max(0, (self._consumer.highwater(tp) or position) - position)

    async def _run(self) -> None:
        async for batches in _fetch(self._consumer):
            for tp, records in batches.items():
                if not records:
                    continue
                deliveries = [d async for d in self._decoded(records)]
                span = range(records[0].offset, records[-1].offset + 1)
                self._hooks.deliver(tp, deliveries, span)

    async def _decoded(self, records: list[Record]) -> AsyncIterator[Delivery]:
        """Each record's receive span covers its decoding (and dead letter); the service's work
        on it comes later, in a batch, and joins the trace through ``tracing.creation_context``."""
        for record in records:
            try:
                event = decode(record)
            except ContractError as error:
                with tracing.consuming(record, None, group=self._group, operation="receive"):
                    await self._dead_letters.send(record, describe(error))
                continue
            with tracing.consuming(record, event, group=self._group, operation="receive"):
                pass
            yield Delivery(record, event)


class _Listener(ConsumerRebalanceListener):
    def __init__(self, hooks: PartitionHooks) -> None:
        self._hooks = hooks

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        await self._hooks.revoked(set(revoked))

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        await self._hooks.assigned(set(assigned))
