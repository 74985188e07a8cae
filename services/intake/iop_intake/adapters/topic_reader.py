"""Reads whole topics from the beginning and keeps following them, for intake's projections.

A plain aiokafka consumer without a group, not a FastStream subscriber: every intake instance needs
every partition (not a share of them), and readiness needs to know when the reader has caught up
with the end offsets it saw at start, which a subscriber does not expose.
"""

import asyncio
import logging
from collections.abc import Callable, Iterable

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaError
from iop_contracts import CloudEvent, ContractError, decode_record

log = logging.getLogger(__name__)

EventSink = Callable[[CloudEvent], object]


class TopicReader:
    """Folds every valid event of `topics` into `sink`; `caught_up` is set once it reached the end
    offsets the topics had when it started. Invalid records are skipped: their producer's consumer
    dead-letters them, intake only reads."""

    def __init__(
        self, bootstrap_servers: str, topic_names: Iterable[str], sink: EventSink, client_id: str
    ) -> None:
        self._bootstrap = bootstrap_servers
        self._topics = tuple(topic_names)
        self._sink = sink
        self._client_id = client_id
        self.caught_up = asyncio.Event()

    async def run(self, retry_s: float = 1.0) -> None:
        """Read until cancelled, reconnecting when the broker goes away."""
        while True:
            try:
                await self._read()
            except (KafkaError, OSError) as error:
                log.warning("topic reader reconnecting", extra={"reason": type(error).__name__})
            await asyncio.sleep(retry_s)

    async def read_to_end(self) -> None:
        """Read what the topics hold now, then return (the bulk import's view of the topic)."""
        await self._read(follow=False)

    async def _read(self, follow: bool = True) -> None:
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self._bootstrap,
            client_id=self._client_id,
            group_id=None,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
        )
        await consumer.start()
        try:
            available = await consumer.topics()
            partitions = [
                TopicPartition(topic, partition)
                for topic in self._topics
                if topic in available
                for partition in sorted(consumer.partitions_for_topic(topic) or ())
            ]
            if not partitions:
                # Nothing to read yet (topics not created): ready, and look again later.
                self.caught_up.set()
                return
            consumer.assign(partitions)
            await consumer.seek_to_beginning(*partitions)
            targets = await consumer.end_offsets(partitions) if partitions else {}
            pending = {tp for tp, end in targets.items() if end > 0}
            while True:
                if not pending:
                    self.caught_up.set()
                    if not follow:
                        return
                batches = await consumer.getmany(timeout_ms=500, max_records=1000)
                for records in batches.values():
                    for record in records:
                        self._fold(record.value)
                for tp in list(pending):
                    if await consumer.position(tp) >= targets[tp]:
                        pending.discard(tp)
        finally:
            await consumer.stop()

    def _fold(self, value: bytes | None) -> None:
        try:
            event = decode_record(value)
        except ContractError:
            return
        self._sink(event)
