"""A stopped broker answers 503 with Retry-After; once back, the retried request is accepted."""

import asyncio
import time
from collections.abc import Callable
from typing import Any

import pytest
from iop_contracts import topics

from iop.broker import EmbeddedBroker

from .conftest import intake_settings, running_intake

pytestmark = pytest.mark.integration


async def test_503_while_the_broker_is_down_then_the_retry_is_accepted_once(
    embedded_broker: EmbeddedBroker,
    enrollment: Callable[..., dict[str, Any]],
    topic_records: Callable[..., Any],
) -> None:
    bootstrap = embedded_broker.bootstrap_servers
    async with running_intake(intake_settings(bootstrap, publish_timeout_s=2.0)) as (client, _):
        assert (await client.post("/v1/enrollments", json=enrollment())).status_code == 202

        await asyncio.to_thread(embedded_broker.stop)
        body = enrollment()
        headers = {"Idempotency-Key": f"outage-{body['client_id']}"}
        started = time.monotonic()
        refused = await client.post("/v1/enrollments", json=body, headers=headers)
        assert refused.status_code == 503
        assert refused.headers["Retry-After"] == "1"
        assert time.monotonic() - started < 6  # bounded by the publish timeout, not hanging
        not_ready = await client.get("/health/ready")
        assert not_ready.status_code == 503 and not_ready.json()["broker"] is False

        # The embedded broker restarts empty on the same port; its topics are created again.
        await asyncio.to_thread(embedded_broker.start)
        async with asyncio.timeout(30):
            while True:
                retried = await client.post("/v1/enrollments", json=body, headers=headers)
                if retried.status_code == 202:
                    break
                assert retried.status_code == 503
                await asyncio.sleep(float(retried.headers["Retry-After"]) / 4)
        assert (await client.get("/health/ready")).status_code == 200

    records = await topic_records(bootstrap, topics.ENROLLMENT, None)
    # Only the accepted retry is there: the refused attempt expired in the producer instead of
    # being delivered late behind the caller's back.
    assert [r for r in records if body["client_id"].encode() in r.value] != []
    assert len([r for r in records if body["client_id"].encode() in r.value]) == 1
