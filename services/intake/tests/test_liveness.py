"""Liveness tells the truth: a status reader that stopped (it used to die on a deeply nested
record, unnoticed) turns /health/live to 500 and /health/ready to 503."""

import asyncio

import pytest

from .conftest import intake_settings, running_intake

pytestmark = pytest.mark.integration


async def test_a_stopped_status_reader_turns_liveness_false(kafka_bootstrap: str) -> None:
    harness = running_intake(intake_settings(kafka_bootstrap))
    async with harness as (client, _):
        assert (await client.get("/health/live")).status_code == 200
        assert (await client.get("/health/ready")).status_code == 200
        reader = harness.app.state.status_reader
        reader._task.cancel()
        async with asyncio.timeout(10):
            while reader.alive:
                await asyncio.sleep(0.05)
        assert (await client.get("/health/live")).status_code == 500
        ready = await client.get("/health/ready")
        assert ready.status_code == 503 and ready.json()["readers"] is False
