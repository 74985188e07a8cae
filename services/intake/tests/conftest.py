"""Fixtures of the intake tests: a running intake app against the test's broker, topic readers."""

import asyncio
import copy
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import pytest
from aiokafka import ConsumerRecord
from fastapi import FastAPI
from iop_contracts.consume import read_records
from iop_contracts.examples import ENROLLMENT, SCREENING
from iop_contracts.kafka import KafkaSettings
from iop_intake.app import build_app
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
        self.app: FastAPI = build_app(settings)
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
    return await read_records(bootstrap, [topic], until=until, timeout_s=20, name="intake-tests")


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
