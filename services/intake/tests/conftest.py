"""Fixtures of the intake tests: a running intake app against the test's broker, topic readers."""

import asyncio
import copy
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from fastapi import FastAPI
from iop_contracts.examples import ENROLLMENT, SCREENING
from iop_contracts.kafka import KafkaSettings
from iop_intake.app import create_app
from iop_intake.runtime import Intake
from iop_intake.settings import IntakeSettings

# CONTRACT.md's examples, made neutral for screening: a routine request from a client with no
# prior level of care, so that only what a test changes can turn it into a step-down or decline.
SAMPLE: dict[str, Any] = {**ENROLLMENT, "priority": "routine"}
SUITED_SCREENING: dict[str, Any] = {**SCREENING, "prior_level": "none"}


@pytest.fixture
def enrollment(unique: str) -> Callable[..., dict[str, Any]]:
    """A valid enrollment body with a unique client id (and region, so keys are unique too)."""
    counter = iter(range(1_000_000))

    def make(**changes: Any) -> dict[str, Any]:
        body = copy.deepcopy(SAMPLE)
        body["client_id"] = f"c-{unique}-{next(counter)}"
        body.update(changes)
        return body

    return make


def intake_settings(bootstrap: str, **changes: Any) -> IntakeSettings:
    kafka = KafkaSettings().model_copy(update={"bootstrap_servers": bootstrap})
    base: dict[str, Any] = {
        "kafka": kafka,
        "session_timeout_ms": 6000,
        "heartbeat_interval_ms": 1000,
        "publish_timeout_s": 3.0,
        "retry_after_s": 1,
    }
    return IntakeSettings(**{**base, **changes})


@pytest.fixture
def run_intake() -> Callable[..., Any]:
    """`async with run_intake(settings) as (client, intake)`: the app with its lifespan running."""
    return running_intake


class running_intake:
    def __init__(self, settings: IntakeSettings, wait_ready: bool = True) -> None:
        self.app: FastAPI = create_app(settings)
        self.wait_ready = wait_ready
        self._lifespan: Any = None
        self._client: httpx.AsyncClient | None = None

    async def __aenter__(self) -> tuple[httpx.AsyncClient, Intake]:
        self._lifespan = self.app.router.lifespan_context(self.app)
        await self._lifespan.__aenter__()
        intake: Intake = self.app.state.intake
        if self.wait_ready:
            async with asyncio.timeout(30):
                await intake.broker_connected.wait()
                await intake.projection_ready.wait()
        transport = httpx.ASGITransport(app=self.app)
        self._client = httpx.AsyncClient(transport=transport, base_url="http://intake")
        return self._client, intake

    async def __aexit__(self, *exc: object) -> None:
        if self._client is not None:
            await self._client.aclose()
        await self._lifespan.__aexit__(None, None, None)


async def read_topic(
    bootstrap: str, topic: str, until: Callable[[list[ConsumerRecord[bytes, bytes]]], bool] | None
) -> list[ConsumerRecord[bytes, bytes]]:
    """Every record of `topic` up to its current end (until=None), or until `until(records)`."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False
    )
    await consumer.start()
    try:
        partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
        if not partitions:
            await consumer.topics()
            partitions = [
                TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()
            ]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        ends = await consumer.end_offsets(partitions)
        records: list[ConsumerRecord[bytes, bytes]] = []
        async with asyncio.timeout(20):
            while True:
                if until is None:
                    positions = {tp: await consumer.position(tp) for tp in partitions}
                    if all(positions[tp] >= ends[tp] for tp in partitions):
                        return records
                elif until(records):
                    return records
                batch = await consumer.getmany(timeout_ms=200)
                for part in batch.values():
                    records.extend(part)
    finally:
        await consumer.stop()


ReadTopic = Callable[..., Awaitable[list[ConsumerRecord[bytes, bytes]]]]


@pytest.fixture
def topic_records() -> ReadTopic:
    return read_topic


@pytest.fixture(scope="module")
async def http_intake(
    kafka_bootstrap: str,
) -> AsyncIterator[tuple[httpx.AsyncClient, Intake]]:
    async with running_intake(intake_settings(kafka_bootstrap)) as running:
        yield running
