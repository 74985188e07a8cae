"""Reading topics outside the consumer group: the tables every instance keeps whole.

`TopicTail` follows every partition of a topic from its beginning for as long as the service
runs (the roster and the schedule topic are read whole by every instance: the roster is a table,
and any instance may take over any region and must know every client's latest schedule).
`read_until` reads a range once (an enrollment partition's processed history, on assignment).
Neither commits offsets: their position is where the state came from, not a promise of work.
"""

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.errors import KafkaError
from iop_contracts import CloudEvent, ContractError, decode_record

log = logging.getLogger(__name__)

Apply = Callable[[CloudEvent], None]
Reject = Callable[[ConsumerRecord, str, bool], Awaitable[None]]


def _consumer(bootstrap: str, client_id: str, fetch_max_wait_ms: int) -> AIOKafkaConsumer:
    return AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        client_id=client_id,
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        fetch_max_wait_ms=fetch_max_wait_ms,
    )


async def partitions_of(consumer: AIOKafkaConsumer, topic: str, timeout_s: float = 30) -> set[int]:
    """The topic's partitions, waiting for metadata (a topic may be created just after us)."""
    async with asyncio.timeout(timeout_s):
        while True:
            await consumer.topics()  # refreshes metadata
            found = consumer.partitions_for_topic(topic)
            if found:
                return set(found)
            await asyncio.sleep(0.2)


class TopicTail:
    """Apply every event of a topic, in partition order, from the beginning and on and on."""

    def __init__(
        self,
        bootstrap: str,
        topic: str,
        apply: Apply,
        *,
        reject: Reject | None = None,
        client_id: str = "iop-scheduler",
        fetch_max_wait_ms: int = 100,
    ) -> None:
        self.topic = topic
        self._apply = apply
        self._reject = reject
        # Made in start(): aiokafka objects need a running loop, and create_app() has none.
        self._make = lambda: _consumer(bootstrap, f"{client_id}-{topic}", fetch_max_wait_ms)
        self._consumer: AIOKafkaConsumer | None = None
        self._partitions: list[TopicPartition] = []
        self._positions: dict[TopicPartition, int] = {}
        self._progress = asyncio.Condition()
        self._task: asyncio.Task[None] | None = None
        self._live_from: dict[TopicPartition, int] = {}

    @property
    def consumer(self) -> AIOKafkaConsumer:
        if self._consumer is None:
            raise RuntimeError(f"tail of {self.topic} not started")
        return self._consumer

    async def start(self) -> None:
        self._consumer = consumer = self._make()
        await consumer.start()
        numbers = await partitions_of(consumer, self.topic)
        self._partitions = [TopicPartition(self.topic, p) for p in sorted(numbers)]
        consumer.assign(self._partitions)
        await consumer.seek_to_beginning(*self._partitions)
        # Records before these offsets were written before we started: a replay. A poison record
        # among them was reported when it was new, so it is logged, not dead-lettered again.
        self._live_from = await consumer.end_offsets(self._partitions)
        self._positions = {tp: 0 for tp in self._partitions}
        self._task = asyncio.create_task(self._run(), name=f"tail {self.topic}")
        self._task.add_done_callback(self._report_exit)

    def _report_exit(self, task: "asyncio.Task[None]") -> None:
        if not task.cancelled() and task.exception() is not None:
            log.error("topic tail died", exc_info=task.exception(), extra={"topic": self.topic})

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._consumer is not None:
            await self._consumer.stop()

    @property
    def alive(self) -> bool:
        return self._task is None or not self._task.done()

    async def caught_up(self, timeout_s: float = 30) -> None:
        """Return once everything written to the topic before this call has been applied."""
        ends = await self.consumer.end_offsets(self._partitions)
        async with asyncio.timeout(timeout_s), self._progress:
            await self._progress.wait_for(
                lambda: all(self._positions[tp] >= end for tp, end in ends.items())
            )

    async def _run(self) -> None:
        while True:
            try:
                batches = await self.consumer.getmany(timeout_ms=500)
            except KafkaError:
                log.warning("tail fetch failed; retrying", extra={"topic": self.topic})
                await asyncio.sleep(1)
                continue
            for tp, records in batches.items():
                for record in records:
                    await self._one(tp, record)
            async with self._progress:
                for tp in self._partitions:
                    with contextlib.suppress(KafkaError, AssertionError):
                        self._positions[tp] = await self.consumer.position(tp)
                self._progress.notify_all()

    async def _one(self, tp: TopicPartition, record: ConsumerRecord) -> None:
        try:
            self._apply(decode_record(record.value))
        except ContractError as error:
            live = record.offset >= self._live_from.get(tp, 0)
            log.warning(
                "unusable record on a table topic",
                extra={"topic": self.topic, "partition": tp.partition, "offset": record.offset},
            )
            if self._reject is not None:
                await self._reject(record, str(error), live)


async def read_until(
    bootstrap: str,
    until: dict[TopicPartition, int],
    *,
    client_id: str = "iop-scheduler-rebuild",
    timeout_s: float = 60,
) -> list[tuple[TopicPartition, CloudEvent]]:
    """The decodable events of each partition from its beginning up to (excluding) the given
    offset, partition by partition in offset order. Unusable records are skipped: they were
    dead-lettered when they were first consumed."""
    wanted = {tp: end for tp, end in until.items() if end > 0}
    if not wanted:
        return []
    consumer = _consumer(bootstrap, client_id, 100)
    events: list[tuple[TopicPartition, CloudEvent]] = []
    await consumer.start()
    try:
        consumer.assign(list(wanted))
        await consumer.seek_to_beginning(*wanted)
        remaining = dict(wanted)
        async with asyncio.timeout(timeout_s):
            while remaining:
                batches = await consumer.getmany(*remaining, timeout_ms=500)
                for tp, records in batches.items():
                    for record in records:
                        if record.offset >= wanted[tp]:
                            break
                        with contextlib.suppress(ContractError):
                            events.append((tp, decode_record(record.value)))
                for tp in list(remaining):
                    if await consumer.position(tp) >= wanted[tp]:
                        del remaining[tp]
    finally:
        await consumer.stop()
    return events
