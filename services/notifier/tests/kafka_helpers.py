"""Raw aiokafka helpers for tests: publish contract events, collect what the notifier writes."""

import asyncio
import time
from collections.abc import Callable, Sequence

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from iop_contracts.envelope import CloudEvent, encode_event, new_event
from iop_contracts.payloads import Payload


async def publish(
    bootstrap: str, *payloads: Payload, raw: Sequence[tuple[str, bytes]] = ()
) -> list[CloudEvent]:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    events = []
    try:
        for payload in payloads:
            event = new_event(payload, source="/tests")
            record = encode_event(event)
            await producer.send_and_wait(
                record.topic, record.value, key=record.key, headers=record.headers
            )
            events.append(event)
        for topic, value in raw:
            await producer.send_and_wait(topic, value, key=b"bad")
    finally:
        await producer.stop()
    return events


class TopicReader:
    """Reads a topic from the beginning, without a group, into a list."""

    def __init__(self, bootstrap: str, topic: str) -> None:
        self.consumer = AIOKafkaConsumer(
            topic, bootstrap_servers=bootstrap, group_id=None, auto_offset_reset="earliest"
        )
        self.records: list = []

    async def __aenter__(self) -> "TopicReader":
        await self.consumer.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.consumer.stop()

    async def poll(self) -> None:
        batch = await self.consumer.getmany(timeout_ms=200)
        for records in batch.values():
            self.records.extend(records)


async def wait_until(
    condition: Callable[[], bool], timeout_s: float, poll: Callable[[], object] | None = None
) -> None:
    """Wait for `condition`, polling; fails the test when the deadline passes."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout_s} s")
        if poll is not None:
            result = poll()
            if asyncio.iscoroutine(result):
                await result
        else:
            await asyncio.sleep(0.05)
