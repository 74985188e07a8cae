"""The consumption kernel: every record costs only itself, transient trouble is retried, a missing
topic is waited for, and a table reader survives whatever a record holds.

Handler rules run on FastStream's TestKafkaBroker (no broker needed); the table reader runs on
the real embedded broker."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer
from faststream.kafka import KafkaBroker, KafkaMessage, TestKafkaBroker
from iop_contracts import CONTENT_TYPE, CloudEvent, encode_event, new_event, topics
from iop_contracts.consume import (
    DeadLetters,
    TableReader,
    describe,
    read_records,
    subscribe_isolated,
)
from iop_contracts.envelope import ContractError
from iop_contracts.examples import SITE
from iop_contracts.payloads import SiteUpserted

from iop.broker import ensure_topics

TOPIC = "iop.test.v1"


def site_event(site_id: str) -> CloudEvent:
    return new_event(SiteUpserted.model_validate({**SITE, "site_id": site_id}), source="/test")


def deep(levels: int) -> bytes:
    return ("[" * levels + "]" * levels).encode()


BAD_RECORDS: dict[str, bytes] = {
    "deep json": b'{"specversion": "1.0", "data": ' + deep(6001) + b"}",
    "invalid utf-8": b"\xff\xfe{not utf-8",
    "array top level": b"[1, 2, 3]",
    "wrong schema": json.dumps({"specversion": "1.0", "id": "x"}).encode(),
    "unknown type": json.dumps(
        {**json.loads(encode_event(site_event("s-u")).value), "type": "iop.nothing.known"}
    ).encode(),
    "far-future date": json.dumps(
        {**json.loads(encode_event(site_event("s-f")).value), "time": "9999-12-30T00:00:00Z"}
    ).encode(),
    "far-past date": json.dumps(
        {**json.loads(encode_event(site_event("s-p")).value), "time": "0001-01-02T00:00:00Z"}
    ).encode(),
}


# As on the wire: FastStream then hands the body over as bytes, undecoded.
WIRE = {"content-type": CONTENT_TYPE}


class Harness:
    """A subscribe_isolated subscriber on TestKafkaBroker, with its dead letters captured."""

    def __init__(self, handle: Any, transient: tuple[type[BaseException], ...] = ()) -> None:
        self.broker = KafkaBroker()
        self.handled: list[str] = []
        self.dead: list[tuple[bytes, dict[str, str]]] = []
        subscribe_isolated(
            self.broker,
            TOPIC,
            group_id="g",
            handle=handle,
            dead_letters=DeadLetters(self.broker, "test-consumer"),
            transient=transient,
        )

        @self.broker.subscriber(topics.dlq(TOPIC))
        async def dead_letter(message: KafkaMessage) -> None:
            headers = {k: str(v) for k, v in message.headers.items()}
            self.dead.append((bytes(message.body), headers))


async def test_a_good_record_is_handled_and_a_bad_one_dead_lettered_once() -> None:
    async def handle(event: CloudEvent, message: KafkaMessage) -> None:
        event.payload()  # as every real handler does: an unknown type fails here
        harness.handled.append(event.id)

    harness = Harness(handle)
    good = site_event("s-1")
    async with TestKafkaBroker(harness.broker) as broker:
        for value in BAD_RECORDS.values():
            await broker.publish(value, TOPIC, headers=WIRE)
        await broker.publish(encode_event(good).value, TOPIC, headers=WIRE)
    assert harness.handled == [good.id]
    assert [body for body, _ in harness.dead] == list(BAD_RECORDS.values())
    for _, headers in harness.dead:
        assert headers["dlq_consumer"] == "test-consumer"
        assert headers["dlq_reason"] and headers["dlq_at"]


async def test_a_handler_that_raises_costs_only_its_record() -> None:
    async def handle(event: CloudEvent, message: KafkaMessage) -> None:
        if event.subject == "s-boom":
            raise RecursionError("deep inside the domain")
        harness.handled.append(str(event.subject))

    harness = Harness(handle)
    async with TestKafkaBroker(harness.broker) as broker:
        for site_id in ("s-1", "s-boom", "s-2"):
            await broker.publish(encode_event(site_event(site_id)).value, TOPIC, headers=WIRE)
    assert harness.handled == ["s-1", "s-2"]
    [(_, headers)] = harness.dead
    assert headers["dlq_reason"].startswith("RecursionError at ")
    assert "deep inside" not in headers["dlq_reason"]  # messages may quote personal data


async def test_transient_trouble_is_retried_not_dead_lettered() -> None:
    failures = iter([ConnectionError("broker away"), TimeoutError(), None])

    async def handle(event: CloudEvent, message: KafkaMessage) -> None:
        error = next(failures)
        if error is not None:
            raise error
        harness.handled.append(event.id)

    harness = Harness(handle)
    good = site_event("s-1")
    async with TestKafkaBroker(harness.broker) as broker:
        await asyncio.wait_for(broker.publish(encode_event(good).value, TOPIC), timeout=10)
    assert harness.handled == [good.id]
    assert harness.dead == []


async def test_a_services_own_transient_failure_is_retried_too() -> None:
    class LedgerBusy(Exception):
        pass

    attempts: list[int] = []

    async def handle(event: CloudEvent, message: KafkaMessage) -> None:
        attempts.append(1)
        if len(attempts) == 1:
            raise LedgerBusy
        harness.handled.append(event.id)

    harness = Harness(handle, transient=(LedgerBusy,))
    async with TestKafkaBroker(harness.broker) as broker:
        await broker.publish(encode_event(site_event("s-1")).value, TOPIC, headers=WIRE)
    assert len(attempts) == 2 and len(harness.handled) == 1 and harness.dead == []


def test_describe_keeps_contract_messages_and_hides_other_messages() -> None:
    assert describe(ContractError("data.region_id: field required")) == (
        "data.region_id: field required"
    )
    try:
        raise ValueError("ana@example.org is not valid")
    except ValueError as error:
        reason = describe(error)
    assert reason.startswith("ValueError at ") and "ana@" not in reason


@pytest.mark.integration
async def test_table_reader_skips_poison_and_keeps_following(
    kafka_bootstrap: str, unique: str
) -> None:
    topic = f"iop.table-{unique}.v1"
    await ensure_topics(kafka_bootstrap, {topic: 2})
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap)
    await producer.start()
    seen: list[str] = []

    def apply(event: CloudEvent) -> None:
        if event.subject == "s-raise":
            raise RuntimeError("a bug in the projection")
        seen.append(str(event.subject))

    reader = TableReader(kafka_bootstrap, [topic], apply, name=f"test-{unique}")
    try:
        await producer.send_and_wait(topic, encode_event(site_event("s-1")).value, partition=0)
        for value in BAD_RECORDS.values():
            await producer.send_and_wait(topic, value, partition=0)
        await producer.send_and_wait(topic, encode_event(site_event("s-raise")).value, partition=1)
        await reader.start()
        await reader.caught_up(timeout_s=30)
        assert seen == ["s-1"] and reader.skipped == len(BAD_RECORDS) + 1
        await producer.send_and_wait(topic, encode_event(site_event("s-2")).value, partition=1)
        await reader.caught_up(timeout_s=30)
        assert seen == ["s-1", "s-2"]
        assert reader.alive
    finally:
        await reader.stop()
        await producer.stop()


@pytest.mark.integration
async def test_a_missing_topic_is_waited_for_not_taken_as_empty(
    kafka_bootstrap: str, unique: str
) -> None:
    topic = f"iop.later-{unique}.v1"
    seen: list[str] = []
    reader = TableReader(
        kafka_bootstrap, [topic], lambda e: seen.append(str(e.subject)), name=unique
    )
    await reader.start()
    try:
        with pytest.raises(TimeoutError):
            await reader.caught_up(timeout_s=2)
        assert not reader.has_caught_up and reader.alive
        await ensure_topics(kafka_bootstrap, {topic: 1})
        producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap)
        await producer.start()
        try:
            await producer.send_and_wait(topic, encode_event(site_event("s-1")).value)
        finally:
            await producer.stop()
        await reader.caught_up(timeout_s=30)
        assert seen == ["s-1"]
    finally:
        await reader.stop()


@pytest.mark.integration
async def test_a_record_with_a_garbled_header_is_dead_lettered_not_dropped(
    kafka_bootstrap: str, unique: str
) -> None:
    """FastStream's own parser drops a record whose header is not UTF-8 before any handler runs
    (no dead letter): the kernel parses headers leniently, so the record reaches the handler and,
    here, is dead-lettered with its value intact (FastStream publishes headers as text, so the
    dead letter's copy of that header has the undecodable bytes replaced)."""
    topic = f"iop.garbled-{unique}.v1"
    await ensure_topics(kafka_bootstrap, {topic: 1, topics.dlq(topic): 1})
    broker = KafkaBroker(kafka_bootstrap)
    handled: list[str] = []

    async def handle(event: CloudEvent, message: KafkaMessage) -> None:
        event.payload()
        handled.append(str(event.subject))
        if event.subject == "s-bad":
            raise ContractError("data: refused by the test handler")

    subscribe_isolated(
        broker,
        topic,
        group_id=f"g-{unique}",
        handle=handle,
        dead_letters=DeadLetters(broker, "test-consumer"),
        session_timeout_ms=6000,
        heartbeat_interval_ms=1000,
    )
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap)
    await producer.start()
    try:
        garbled = [("content-type", CONTENT_TYPE.encode()), ("x-note", b"\xff\xfe")]
        values = {
            site_id: encode_event(site_event(site_id)).value for site_id in ("s-bad", "s-good")
        }
        for value in values.values():
            await producer.send_and_wait(topic, value, headers=garbled)
        await broker.start()
        dead = await read_records(
            kafka_bootstrap, [topics.dlq(topic)], until=lambda found: len(found) >= 1
        )
        async with asyncio.timeout(30):
            while handled != ["s-bad", "s-good"]:
                await asyncio.sleep(0.1)
    finally:
        await broker.stop()
        await producer.stop()
    [letter] = dead
    assert dict(letter.headers)["x-note"] == "\ufffd\ufffd".encode()
    assert letter.value == values["s-bad"]
