"""The Kafka front door: referrals on iop.referral.v1 answered on iop.enrollment.v1, or DLQ."""

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaProducer
from iop_contracts import (
    CloudEvent,
    ReferralSubmitted,
    decode_record,
    encode_event,
    header,
    new_event,
    topics,
)
from iop_intake.runtime import Intake

from .conftest import SUITED_SCREENING

pytestmark = pytest.mark.integration


@pytest.fixture
async def producer(kafka_bootstrap: str) -> AsyncIterator[AIOKafkaProducer]:
    """A plain producer: an EHR needs nothing of the project to send referrals."""
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
    await producer.start()
    try:
        yield producer
    finally:
        await producer.stop()


def referral(body: dict[str, Any], **screening: Any) -> CloudEvent:
    payload = ReferralSubmitted.model_validate(
        {**body, "screening": {**SUITED_SCREENING, **screening}}
    )
    return new_event(payload, source="/ehr/test", correlationid=f"ehr-{body['client_id']}")


async def send(producer: AIOKafkaProducer, event: CloudEvent, key: bytes | None = None) -> None:
    record = encode_event(event)
    await producer.send_and_wait(
        record.topic, record.value, key=key or record.key, headers=record.headers
    )


async def test_referrals_are_screened_answered_once_or_dead_lettered(
    http_intake: tuple[httpx.AsyncClient, Intake],
    kafka_bootstrap: str,
    producer: AIOKafkaProducer,
    enrollment: Callable[..., dict[str, Any]],
    topic_records: Callable[..., Any],
) -> None:
    suited = referral(enrollment(), prior_level="residential")
    declined = referral(enrollment(), needs_24h_supervision=True)
    sentinel = referral(enrollment())
    key = suited.data["client_id"].encode()

    await send(producer, suited)
    await send(producer, declined, key=key)
    await send(producer, suited)  # redelivered or resubmitted: answered once
    bad = {**suited.data, "program_weeks": 40, "client_id": "c-bad"}
    bad_event = suited.model_copy(update={"id": "bad-1", "data": bad})
    await producer.send_and_wait(
        topics.REFERRAL, bad_event.model_dump_json().encode(), key=key, headers=[]
    )
    await producer.send_and_wait(topics.REFERRAL, b"\xff not json", key=key)
    no_screening = {k: v for k, v in suited.data.items() if k != "screening"}
    await producer.send_and_wait(
        topics.REFERRAL,
        suited.model_copy(update={"id": "bad-2", "data": no_screening}).model_dump_json().encode(),
        key=key,
    )
    # Same key, same partition: once the sentinel is answered, everything before it was handled.
    await send(producer, sentinel, key=key)
    sentinel_id = sentinel.data["client_id"].encode()

    def answered(records: list[Any]) -> bool:
        return any(sentinel_id in r.value for r in records)

    records = await topic_records(kafka_bootstrap, topics.ENROLLMENT, answered)
    answers = {
        e.causationid: e
        for e in (decode_record(r.value) for r in records)
        if e.causationid in {suited.id, declined.id}
    }
    causes = [decode_record(r.value).causationid for r in records]
    assert causes.count(suited.id) == 1
    requested, refused = answers[suited.id], answers[declined.id]
    assert requested.type == "iop.enrollment.requested"
    assert requested.correlationid == suited.correlationid
    assert requested.data["priority"] == "step_down"
    assert "screening" not in requested.data
    assert refused.type == "iop.enrollment.declined"
    assert refused.correlationid == declined.correlationid
    assert refused.data["reasons"] == ["needs_24h_supervision"]

    dead = await topic_records(kafka_bootstrap, topics.dlq(topics.REFERRAL), None)
    reasons = [header(r.headers, "dlq_reason") or "" for r in dead]
    assert len(dead) == 3
    assert "data.program_weeks" in reasons[0]
    assert "not UTF-8 JSON" in reasons[1]
    assert "data.screening" in reasons[2]
    assert all(header(r.headers, "dlq_consumer") == "iop-intake" for r in dead)
    assert all(r.key == key for r in dead)

    client, _ = http_intake
    async with asyncio.timeout(10):
        while (await client.get(f"/v1/enrollments/{declined.subject}")).status_code != 200:
            await asyncio.sleep(0.1)
