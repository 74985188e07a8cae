"""The consumption kernel: the one way every service reads Kafka.

Three readers, one set of rules:
- ``TableReader`` reads whole topics (every partition, no consumer group) from the beginning and
  keeps following them: the roster table, and the topics a service folds into a read model.
- ``subscribe_isolated`` registers a FastStream subscriber in a consumer group for per-record
  work: decode once, hand the event to the service's handler, commit after the handler returned
  (its outputs are durable by then), dead-letter whatever cannot be handled.
- ``PartitionLanes`` is a group consumer that hands each owned partition's decoded records to the
  service and lets the service commit each partition when its batch is done (the scheduler's
  micro-batches), with rebalance hooks for rebuilding state before the first answer.
``read_partitions`` reads a range once (a partition's history up to a committed offset).

The rules every reader keeps:
- A record costs only itself. Any failure to decode or handle one record (ContractError,
  RecursionError, a domain error, a rendering error) is caught; a group consumer sends that
  record to ``<topic>.dlq`` with ``dlq_reason``, ``dlq_consumer`` and ``dlq_at`` and moves on; a
  table reader logs and skips it (the topic's group consumer owns its dead letters, so that N
  instances reading a table do not dead-letter one record N times).
- Infrastructure failures (``TRANSIENT``: the broker, the network, a timeout) are not the
  record's fault: the record is retried with backoff, never dead-lettered or skipped.
- A missing topic is waited for: the reader is not caught up until the topic exists and has been
  read to its end (a service must not answer from a table it has not read). It logs the wait.
- A reader whose task ends for any other reason reports ``alive == False``; services put that in
  liveness, so the orchestrator restarts them instead of leaving a deaf process ready.
- Nothing personal in logs: records are named by topic, partition and offset; errors by type,
  code location and (for ContractError, whose messages name fields and never values) message.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import traceback
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, TypeAlias

from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, ConsumerRecord, TopicPartition
from aiokafka.errors import KafkaError
from faststream.kafka import KafkaBroker, KafkaMessage
from faststream.middlewares import AckPolicy

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
    """The record's event; every failure of any kind is a ContractError."""
    try:
        return decode_record(record.value)
    except ContractError:
        raise
    except (RecursionError, ValueError, TypeError, UnicodeError) as error:
        raise ContractError(f"undecodable record ({type(error).__name__})") from None


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


class TableReader:
    """Folds every event of ``topics`` into ``apply``, from the beginning, and keeps following.

    Raw aiokafka rather than a FastStream subscriber: every instance needs every partition, not
    a group's share, and readiness needs to know when the reader reached the topics' end
    offsets, which a subscriber does not expose. ``apply`` is the service's pure projection; a
    record it cannot decode or apply is logged and skipped (see the module docstring)."""

    def __init__(
        self,
        bootstrap: KafkaTarget,
        topics: Iterable[str],
        apply: Callable[[CloudEvent], object],
        *,
        name: str,
        fetch_max_wait_ms: int = 100,
    ) -> None:
        self.topics = tuple(topics)
        self.name = name
        self.skipped = 0
        self._apply = apply
        self._make = lambda: _consumer(bootstrap, name, fetch_max_wait_ms=fetch_max_wait_ms)
        self._consumer: AIOKafkaConsumer | None = None
        self._positions: dict[TopicPartition, int] = {}
        self._progress = asyncio.Condition()
        self._first_catch_up = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Start reading in the background (returns at once; see ``caught_up``)."""
        self._task = asyncio.create_task(self._run(), name=f"table {self.name}")
        self._task.add_done_callback(_report_exit(self.name))

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._consumer is not None:
            await _close(self._consumer)

    @property
    def alive(self) -> bool:
        return self._task is not None and not self._task.done()

    @property
    def has_caught_up(self) -> bool:
        """Read, at least once, everything the topics held when they were first found."""
        return self._first_catch_up.is_set()

    async def caught_up(self, timeout_s: float | None = 30) -> None:
        """Return once everything written to the topics before this call has been applied."""
        async with asyncio.timeout(timeout_s):
            await self._first_catch_up.wait()
            consumer = self._consumer
            assert consumer is not None
            ends = await until_done(
                lambda: consumer.end_offsets(list(self._positions)), "end offsets"
            )
            async with self._progress:
                await self._progress.wait_for(
                    lambda: all(self._positions.get(tp, 0) >= end for tp, end in ends.items())
                )

    async def _run(self) -> None:
        self._consumer = consumer = self._make()
        await until_done(consumer.start, "table reader connect")
        partitions = await until_done(lambda: _partitions(consumer, self.topics), "metadata")
        consumer.assign(partitions)
        await until_done(lambda: consumer.seek_to_beginning(*partitions), "seek")
        targets = await until_done(lambda: consumer.end_offsets(partitions), "end offsets")
        self._positions = {tp: 0 for tp in partitions}
        await self._note_progress(targets)
        async for batches in _fetch(consumer):
            for records in batches.values():
                for record in records:
                    self._fold(record)
            await self._note_progress(targets)

    def _fold(self, record: Record) -> None:
        try:
            self._apply(decode(record))
        except Exception as error:  # one record costs only itself
            self.skipped += 1
            log.warning(
                "skipped a record the read model cannot use",
                extra={**where(record), "reader": self.name, "reason": describe(error)},
            )

    async def _note_progress(self, targets: dict[TopicPartition, int]) -> None:
        assert self._consumer is not None
        async with self._progress:
            for tp in self._positions:
                with contextlib.suppress(KafkaError, AssertionError):
                    self._positions[tp] = await self._consumer.position(tp)
            self._progress.notify_all()
        if all(self._positions[tp] >= end for tp, end in targets.items()):
            if not self._first_catch_up.is_set():
                log.info("table caught up", extra={"reader": self.name})
            self._first_catch_up.set()


async def read_table(
    bootstrap: KafkaTarget,
    topics: Iterable[str],
    apply: Callable[[CloudEvent], object],
    *,
    name: str,
    timeout_s: float | None = 60,
) -> None:
    """Read ``topics`` to their current end once, folding every event into ``apply``."""
    reader = TableReader(bootstrap, topics, apply, name=name)
    await reader.start()
    try:
        await reader.caught_up(timeout_s)
    finally:
        await reader.stop()


async def read_partitions(
    bootstrap: KafkaTarget, until: dict[TopicPartition, int], *, name: str, timeout_s: float = 60
) -> list[tuple[TopicPartition, CloudEvent]]:
    """The decodable events of each partition from its beginning up to (excluding) the given
    offset, in offset order per partition. Records that do not decode are skipped: they were
    dead-lettered when first consumed."""
    wanted = {tp: end for tp, end in until.items() if end > 0}
    if not wanted:
        return []
    consumer = _consumer(bootstrap, name)
    events: list[tuple[TopicPartition, CloudEvent]] = []
    await until_done(consumer.start, "connect")
    try:
        consumer.assign(list(wanted))
        await consumer.seek_to_beginning(*wanted)
        remaining = dict(wanted)
        async with asyncio.timeout(timeout_s):
            async for batches in _fetch(consumer, *remaining):
                for tp, records in batches.items():
                    for record in records:
                        if record.offset >= wanted[tp]:
                            break
                        with contextlib.suppress(ContractError):
                            events.append((tp, decode(record)))
                for tp in list(remaining):
                    if await consumer.position(tp) >= wanted[tp]:
                        del remaining[tp]
                if not remaining:
                    break
    finally:
        await _close(consumer)
    return events


class RecordReader:
    """Every partition of ``topics``, without a consumer group, from their beginning (or, with
    ``from_end``, from their end as they were when entered); ``fetch`` returns the records as
    written (key, value bytes, headers, partition, offset), decodable or not. For tests, tools
    and benchmarks that look at records themselves; services read events with the readers
    above. A missing topic is waited for, as everywhere in the kernel."""

    def __init__(
        self,
        bootstrap: KafkaTarget,
        topics: Iterable[str],
        *,
        name: str = "iop-record-reader",
        from_end: bool = False,
        fetch_max_wait_ms: int = 100,
    ) -> None:
        self.topics = tuple(topics)
        self.partitions: list[TopicPartition] = []
        self._from_end = from_end
        # Made on entry: aiokafka objects need a running loop.
        self._make = lambda: _consumer(bootstrap, name, fetch_max_wait_ms=fetch_max_wait_ms)
        self._consumer: AIOKafkaConsumer | None = None
        self._batches: AsyncIterator[dict[TopicPartition, list[Record]]] | None = None

    async def __aenter__(self) -> RecordReader:
        self._consumer = consumer = self._make()
        try:
            await consumer.start()
            self.partitions = await _partitions(consumer, self.topics)
            consumer.assign(self.partitions)
            seek = consumer.seek_to_end if self._from_end else consumer.seek_to_beginning
            await seek(*self.partitions)
            for tp in self.partitions:  # settles the start now: what comes later is read
                await consumer.position(tp)
        except BaseException:
            await _close(consumer)
            raise
        # _fetch holds nothing but the consumer, which __aexit__ closes.
        self._batches = _fetch(consumer)
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._consumer is not None:
            await _close(self._consumer)

    async def fetch(self) -> list[Record]:
        """The next records of any partition (none when nothing came within half a second)."""
        assert self._batches is not None, "enter the reader first"
        batches = await anext(self._batches)
        return [record for records in batches.values() for record in records]

    async def end_offsets(self) -> dict[TopicPartition, int]:
        assert self._consumer is not None, "enter the reader first"
        return dict(await self._consumer.end_offsets(self.partitions))

    async def reached(self, ends: dict[TopicPartition, int]) -> bool:
        """Read up to (at least) these offsets."""
        assert self._consumer is not None, "enter the reader first"
        return all([await self._consumer.position(tp) >= end for tp, end in ends.items()])


async def read_records(
    bootstrap: KafkaTarget,
    topics: Iterable[str],
    *,
    until: Callable[[list[Record]], bool] | None = None,
    timeout_s: float = 30,
    name: str = "iop-record-reader",
) -> list[Record]:
    """The records of every partition of ``topics`` as written, from the beginning: up to the
    topics' end when reading began (``until`` None), or, following them, until ``until(the
    records read so far)`` holds. TimeoutError when ``timeout_s`` passes first.

    A read to the end keeps every fetched batch whole, so it may hold records written meanwhile:
    a broker may report a partition's end as its last batch's base offset + 1 (the embedded one
    does), and cutting there would drop the rest of that batch."""
    records: list[Record] = []
    async with asyncio.timeout(timeout_s), RecordReader(bootstrap, topics, name=name) as reader:
        ends = await reader.end_offsets()
        while not (until(records) if until is not None else await reader.reached(ends)):
            records.extend(await reader.fetch())
    return records


Handle = Callable[[CloudEvent, KafkaMessage], Awaitable[None]]


async def handle_isolated(
    message: KafkaMessage,
    handle: Handle,
    dead_letters: DeadLetters,
    transient: tuple[type[BaseException], ...] = TRANSIENT,
) -> None:
    """One record of a group subscriber: decode once, handle, then commit. A failure of the
    record's own (anything but ``transient``) dead-letters it; a transient one is retried in
    place, so the partition waits for the broker (or the service's storage) instead of
    skipping work."""
    raw: Record = message.raw_message
    backoff = Backoff()
    while True:
        try:
            event = decode(raw)
            await handle(event, message)
            break
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
            break
    await until_done(message.ack, "commit")


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
        await handle_isolated(message, handle, dead_letters, retried)

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
        for record in records:
            try:
                yield Delivery(record, decode(record))
            except ContractError as error:
                await self._dead_letters.send(record, describe(error))


class _Listener(ConsumerRebalanceListener):
    def __init__(self, hooks: PartitionHooks) -> None:
        self._hooks = hooks

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        await self._hooks.revoked(set(revoked))

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        await self._hooks.assigned(set(assigned))
