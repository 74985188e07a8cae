"""Reading topics whole, without a consumer group: the table readers and one-shot reads."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Iterable

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaError

from iop_contracts.consume.records import (
    Record,
    _close,
    _consumer,
    _fetch,
    _partitions,
    _report_exit,
    decode,
    describe,
    log,
    until_done,
    where,
)
from iop_contracts.envelope import CloudEvent, ContractError
from iop_contracts.kafka import KafkaTarget


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
