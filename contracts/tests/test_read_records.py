"""The kernel's raw reader: records as written (key, value bytes, headers, partition, offset),
decodable or not, up to the end or until a condition holds; a missing topic is waited for."""

from __future__ import annotations

import asyncio

import pytest
from aiokafka import AIOKafkaProducer
from iop_contracts.consume import RecordReader, read_records

from iop.broker import ensure_topics

pytestmark = pytest.mark.integration


async def produce(bootstrap: str, topic: str, *records: tuple[int, bytes, bytes]) -> None:
    """(partition, key, value) each, with a header naming its value."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        for partition, key, value in records:
            await producer.send_and_wait(
                topic, value, key=key, partition=partition, headers=[("h", b"of-" + value)]
            )
    finally:
        await producer.stop()


async def test_a_read_to_the_end_returns_every_record_as_written(
    kafka_bootstrap: str, unique: str
) -> None:
    topic = f"iop.raw-{unique}.v1"
    await ensure_topics(kafka_bootstrap, {topic: 2})
    written = [(0, b"k0", b"\xff\xfe not json"), (1, b"k1", b"{}"), (0, b"k2", b"third")]
    await produce(kafka_bootstrap, topic, *written)

    records = await read_records(kafka_bootstrap, [topic], timeout_s=30)

    assert sorted((r.partition, r.key, r.value) for r in records) == sorted(written)
    assert all(dict(r.headers) == {"h": b"of-" + r.value} for r in records)
    assert [r.offset for r in records if r.partition == 0] == [0, 1]
    assert all(r.topic == topic for r in records)


async def test_an_empty_topic_reads_as_empty(kafka_bootstrap: str, unique: str) -> None:
    topic = f"iop.empty-{unique}.v1"
    await ensure_topics(kafka_bootstrap, {topic: 3})
    assert await read_records(kafka_bootstrap, [topic], timeout_s=30) == []


async def test_until_follows_the_topic_past_its_end(kafka_bootstrap: str, unique: str) -> None:
    topic = f"iop.follow-{unique}.v1"
    await ensure_topics(kafka_bootstrap, {topic: 1})
    await produce(kafka_bootstrap, topic, (0, b"k", b"before"))
    reading = asyncio.create_task(
        read_records(kafka_bootstrap, [topic], until=lambda r: len(r) >= 2, timeout_s=30)
    )
    await asyncio.sleep(1)  # the reader has read to the end and goes on waiting
    assert not reading.done()
    await produce(kafka_bootstrap, topic, (0, b"k", b"after"))
    assert [r.value for r in await reading] == [b"before", b"after"]


async def test_a_missing_topic_is_waited_for_not_read_as_empty(
    kafka_bootstrap: str, unique: str
) -> None:
    with pytest.raises(TimeoutError):
        await read_records(kafka_bootstrap, [f"iop.never-{unique}.v1"], timeout_s=2)


async def test_a_reader_from_the_end_reads_only_what_comes_after_entry(
    kafka_bootstrap: str, unique: str
) -> None:
    topic = f"iop.tail-{unique}.v1"
    await ensure_topics(kafka_bootstrap, {topic: 2})
    await produce(kafka_bootstrap, topic, (0, b"k", b"old"), (1, b"k", b"old"))
    async with RecordReader(kafka_bootstrap, [topic], from_end=True) as reader:
        await produce(kafka_bootstrap, topic, (1, b"k", b"new"))
        seen: list[bytes] = []
        async with asyncio.timeout(30):
            while not seen:
                seen.extend(r.value for r in await reader.fetch())
    assert seen == [b"new"]
