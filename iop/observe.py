"""Read what the system published, the way an outside client would: a plain Kafka reader."""

import asyncio
from collections.abc import Callable

from aiokafka import AIOKafkaConsumer, TopicPartition
from iop_contracts import CloudEvent, ContractError, decode_record


async def read_events(
    bootstrap: str,
    topic: str,
    done: Callable[[list[CloudEvent]], bool],
    timeout_s: float,
) -> list[CloudEvent]:
    """Every valid event of `topic` from the beginning, until `done(events)` or the timeout.

    Reads without a consumer group (assigned partitions), so it joins nothing and commits nothing.
    Returns what it has at the timeout; the caller decides whether that is enough.
    """
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    events: list[CloudEvent] = []
    try:
        partitions = consumer.partitions_for_topic(topic)
        if partitions is None:
            await consumer._client.force_metadata_update()
            partitions = consumer.partitions_for_topic(topic) or set()
        assigned = [TopicPartition(topic, p) for p in sorted(partitions)]
        consumer.assign(assigned)
        await consumer.seek_to_beginning(*assigned)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while not done(events) and loop.time() < deadline:
            batch = await consumer.getmany(timeout_ms=300)
            for records in batch.values():
                for record in records:
                    try:
                        events.append(decode_record(record.value))
                    except ContractError:
                        continue
    finally:
        await consumer.stop()
    return events


def latest_by_subject(events: list[CloudEvent]) -> dict[str, CloudEvent]:
    """The last event per subject, in the order read (a topic keyed by client: its table view)."""
    latest: dict[str, CloudEvent] = {}
    for event in events:
        if event.subject is not None:
            latest[event.subject] = event
    return latest
