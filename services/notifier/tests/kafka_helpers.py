"""Kafka helpers for tests: publish contract events (raw aiokafka, as any client would), collect
what the notifier writes (the kernel's record reader)."""

import asyncio
import time
from collections.abc import Callable, Sequence

from aiokafka import AIOKafkaProducer
from iop_contracts.consume import Record, RecordReader
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
    """Reads a topic from the beginning, without a group, into a list (``poll`` adds what came)."""

    def __init__(self, bootstrap: str, topic: str) -> None:
        self.reader = RecordReader(bootstrap, [topic], name="notifier-tests")
        self.records: list[Record] = []

    async def __aenter__(self) -> "TopicReader":
        async with asyncio.timeout(30):  # the kernel waits for a missing topic: not for ever here
            await self.reader.__aenter__()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.reader.__aexit__(*exc)

    async def poll(self) -> None:
        self.records.extend(await self.reader.fetch())


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
