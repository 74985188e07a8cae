"""The embedded broker is a real Kafka-compatible broker: topics, keys, headers, groups, offsets."""

import asyncio
import socket
import subprocess
import sys

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from iop_contracts import topics
from iop_contracts.consume import read_records

from iop.broker import free_ports

pytestmark = pytest.mark.integration


async def test_topics_are_created_with_their_partitions(kafka_bootstrap: str) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    await admin.start()
    try:
        described = await admin.describe_topics([topics.ENROLLMENT, topics.ROSTER])
    finally:
        await admin.close()
    partitions = {t["topic"]: len(t["partitions"]) for t in described}
    assert partitions[topics.ENROLLMENT] == 6
    assert partitions[topics.ROSTER] == 1


async def test_the_record_topics_keep_their_events(kafka_bootstrap: str) -> None:
    """The services rebuild from these topics: nothing may age out, the roster is compacted."""
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    await admin.start()
    try:
        responses = await admin.describe_configs(
            [ConfigResource(ConfigResourceType.TOPIC, name) for name in topics.CONFIGS]
        )
    finally:
        await admin.close()
    configs = {
        resource[3]: {entry[0]: entry[1] for entry in resource[4]}
        for response in responses
        for resource in response.resources
    }
    for topic, wanted in topics.CONFIGS.items():
        for key, value in wanted.items():
            assert configs[topic].get(key) == value, (topic, key)


async def test_keyed_records_with_headers_round_trip_and_offsets_commit(
    kafka_bootstrap: str, unique: str
) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
    await producer.start()
    try:
        for i in range(10):
            await producer.send_and_wait(
                topics.ENROLLMENT,
                f"v{i}-{unique}".encode(),
                key=f"r{i % 3}-{unique}".encode(),
                headers=[("ce_id", f"{unique}-{i}".encode())],
            )
    finally:
        await producer.stop()

    records = await read_records(kafka_bootstrap, [topics.ENROLLMENT], timeout_s=30)
    seen = [r for r in records if r.value.endswith(unique.encode())]
    assert sorted(r.value for r in seen) == sorted(f"v{i}-{unique}".encode() for i in range(10))
    assert all(dict(r.headers)["ce_id"].startswith(unique.encode()) for r in seen)
    # one key always lands on one partition: that is what keeps a region on one scheduler
    partitions_by_key: dict[bytes, set[int]] = {}
    for record in seen:
        partitions_by_key.setdefault(record.key, set()).add(record.partition)
    assert all(len(p) == 1 for p in partitions_by_key.values())

    read_to: dict[TopicPartition, int] = {}
    for record in seen:
        tp = TopicPartition(record.topic, record.partition)
        read_to[tp] = max(read_to.get(tp, 0), record.offset + 1)
    assert await commit_as_group_member(kafka_bootstrap, f"test-{unique}", read_to) == read_to


class Assigned(ConsumerRebalanceListener):
    def __init__(self) -> None:
        self.event = asyncio.Event()

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        pass

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        self.event.set()


async def commit_as_group_member(
    bootstrap: str, group: str, offsets: dict[TopicPartition, int]
) -> dict[TopicPartition, int | None]:
    """Join `group` on the enrollment topic, commit `offsets` once the group has assigned this
    member its partitions, and return what the broker then says the group committed."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=group,
        enable_auto_commit=False,
        session_timeout_ms=6000,
        heartbeat_interval_ms=500,
    )
    assigned = Assigned()
    consumer.subscribe([topics.ENROLLMENT], listener=assigned)
    await consumer.start()
    try:
        async with asyncio.timeout(30):
            await assigned.event.wait()
        await consumer.commit(offsets)
        return {tp: await consumer.committed(tp) for tp in offsets}
    finally:
        await consumer.stop()


def test_iop_broker_command_prints_bootstrap_and_stops_on_interrupt() -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "iop.cli", "broker"], stdout=subprocess.PIPE, text=True
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline().strip()
        assert line.startswith("KAFKA_BOOTSTRAP_SERVERS=127.0.0.1:")
        process.send_signal(subprocess.signal.SIGINT)
        assert process.wait(timeout=15) == 0
    finally:
        if process.poll() is None:
            process.kill()


def test_free_ports_are_distinct_and_free() -> None:
    ports = free_ports(32)
    assert len(set(ports)) == 32, "every draw its own port (a system's services must not share)"
    for port in ports:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", port))  # free again once chosen
