"""The full HTTP API against the real broker: idempotency, screening, withdraw/discharge, status,
API keys and scopes, status rebuilt from the topics by a fresh instance."""

import asyncio
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from iop_contracts import (
    ClientScheduled,
    decode_record,
    new_event,
    topics,
)
from iop_contracts.access import key_digest
from iop_contracts.kafka import KafkaSettings, make_broker, publish_event
from iop_intake.runtime import Intake

from .conftest import SUITED_SCREENING, intake_settings, running_intake
from .test_status import scheduled

pytestmark = pytest.mark.integration

Enrollment = Callable[..., dict[str, Any]]


def mine(records: list[Any], client_id: str) -> list[Any]:
    return [r for r in records if f'"{client_id}"'.encode() in r.value]


async def wait_for_status(client: httpx.AsyncClient, client_id: str, status: str) -> dict[str, Any]:
    async with asyncio.timeout(15):
        while True:
            response = await client.get(f"/v1/enrollments/{client_id}")
            if response.status_code == 200 and response.json()["status"] == status:
                return dict(response.json())
            await asyncio.sleep(0.1)


async def publish_schedule(bootstrap: str, client_id: str) -> None:
    """Stand in for the scheduler: one client.scheduled on iop.schedule.v1."""
    data = scheduled().model_dump(mode="json")
    payload = ClientScheduled.model_validate({**data, "client_id": client_id})
    broker = make_broker(KafkaSettings().model_copy(update={"bootstrap_servers": bootstrap}), "t")
    await broker.start()
    try:
        await publish_event(broker, new_event(payload, source="/iop/scheduler"))
    finally:
        await broker.stop()


async def test_a_retried_post_with_the_same_idempotency_key_publishes_once(
    http_intake: tuple[httpx.AsyncClient, Intake],
    kafka_bootstrap: str,
    enrollment: Enrollment,
    topic_records: Callable[..., Any],
) -> None:
    client, _ = http_intake
    body = enrollment()
    headers = {"Idempotency-Key": f"retry-{body['client_id']}"}
    first = await client.post("/v1/enrollments", json=body, headers=headers)
    second = await client.post("/v1/enrollments", json=body, headers=headers)
    assert first.status_code == second.status_code == 202
    assert first.json()["event_id"] == second.json()["event_id"]
    assert second.headers.get("Idempotent-Replayed") == "true"

    reused = await client.post(
        "/v1/enrollments", json={**body, "program_weeks": 9}, headers=headers
    )
    assert reused.status_code == 422
    assert reused.json()["detail"][0]["field"] == "Idempotency-Key"

    records = mine(await topic_records(kafka_bootstrap, topics.ENROLLMENT, None), body["client_id"])
    assert len(records) == 1


async def test_concurrent_retries_with_one_key_publish_once(
    http_intake: tuple[httpx.AsyncClient, Intake],
    kafka_bootstrap: str,
    enrollment: Enrollment,
    topic_records: Callable[..., Any],
) -> None:
    client, _ = http_intake
    body = enrollment()
    headers = {"Idempotency-Key": f"burst-{body['client_id']}"}
    answers = await asyncio.gather(
        *(client.post("/v1/enrollments", json=body, headers=headers) for _ in range(5))
    )
    assert {a.status_code for a in answers} == {202}
    assert len({a.json()["event_id"] for a in answers}) == 1
    records = mine(await topic_records(kafka_bootstrap, topics.ENROLLMENT, None), body["client_id"])
    assert len(records) == 1


async def test_a_screened_out_client_is_declined_and_the_screening_is_not_forwarded(
    http_intake: tuple[httpx.AsyncClient, Intake],
    kafka_bootstrap: str,
    enrollment: Enrollment,
    topic_records: Callable[..., Any],
) -> None:
    client, _ = http_intake
    body = enrollment(screening={**SUITED_SCREENING, "needs_medical_detox": True})
    response = await client.post("/v1/enrollments", json=body)
    assert response.status_code == 202
    answer = response.json()
    assert answer["status"] == "declined"
    assert answer["reasons"] == ["needs_medical_detox"]
    assert answer["recommended_level"] == "inpatient"
    assert "clinician" in answer["notice"]

    records = mine(await topic_records(kafka_bootstrap, topics.ENROLLMENT, None), body["client_id"])
    assert len(records) == 1
    event = decode_record(records[0].value)
    assert event.type == "iop.enrollment.declined"
    assert b"ana@example.org" not in records[0].value and b"screening" not in records[0].value
    assert (await wait_for_status(client, body["client_id"], "declined"))["reasons"] == [
        "needs_medical_detox"
    ]


async def test_a_step_down_referral_is_enrolled_with_step_down_priority(
    http_intake: tuple[httpx.AsyncClient, Intake],
    kafka_bootstrap: str,
    enrollment: Enrollment,
    topic_records: Callable[..., Any],
) -> None:
    client, _ = http_intake
    body = enrollment(screening={**SUITED_SCREENING, "prior_level": "php"})
    response = await client.post("/v1/enrollments", json=body)
    assert response.status_code == 202
    assert response.json()["priority"] == "step_down"
    records = mine(await topic_records(kafka_bootstrap, topics.ENROLLMENT, None), body["client_id"])
    event = decode_record(records[0].value)
    assert event.data["priority"] == "step_down"
    assert "screening" not in event.data


async def test_withdraw_discharge_and_status_follow_the_topics(
    http_intake: tuple[httpx.AsyncClient, Intake],
    kafka_bootstrap: str,
    enrollment: Enrollment,
    topic_records: Callable[..., Any],
) -> None:
    client, _ = http_intake
    assert (await client.get("/v1/enrollments/c-nobody")).status_code == 404
    assert (await client.post("/v1/enrollments/c-nobody/withdraw")).status_code == 404

    leaving, staying = enrollment(), enrollment()
    for body in (leaving, staying):
        assert (await client.post("/v1/enrollments", json=body)).status_code == 202
    await wait_for_status(client, leaving["client_id"], "requested")

    # Discharge is for clients in care; this one was never scheduled.
    refused = await client.post(f"/v1/clients/{leaving['client_id']}/discharge")
    assert refused.status_code == 409
    withdrawn = await client.post(f"/v1/enrollments/{leaving['client_id']}/withdraw")
    assert withdrawn.status_code == 202
    assert withdrawn.json()["event_type"] == "iop.enrollment.withdrawn"
    await wait_for_status(client, leaving["client_id"], "withdrawn")
    again = await client.post(f"/v1/enrollments/{leaving['client_id']}/withdraw")
    assert again.status_code == 409

    await publish_schedule(kafka_bootstrap, staying["client_id"])
    status = await wait_for_status(client, staying["client_id"], "scheduled")
    assert status["schedule"]["group"]["site_id"] == "bos-1"
    assert "contact" not in status
    discharged = await client.post(f"/v1/clients/{staying['client_id']}/discharge")
    assert discharged.status_code == 202
    await wait_for_status(client, staying["client_id"], "discharged")

    records = await topic_records(kafka_bootstrap, topics.ENROLLMENT, None)
    types = [decode_record(r.value).type for r in mine(records, staying["client_id"])]
    assert types == ["iop.enrollment.requested", "iop.client.discharged"]
    assert records[-1].key == b"ne"


async def test_a_fresh_instance_rebuilds_status_from_the_topics(
    http_intake: tuple[httpx.AsyncClient, Intake], kafka_bootstrap: str, enrollment: Enrollment
) -> None:
    client, _ = http_intake
    body = enrollment()
    assert (await client.post("/v1/enrollments", json=body)).status_code == 202
    await publish_schedule(kafka_bootstrap, body["client_id"])

    async with running_intake(intake_settings(kafka_bootstrap)) as (fresh, _):
        # Ready means caught up: the status is there on the first read, no waiting.
        response = await fresh.get(f"/v1/enrollments/{body['client_id']}")
        assert response.status_code == 200
        assert response.json()["status"] == "scheduled"


BOS1_KEY = "bos-1-desk-key-0123456789"
NETWORK_KEY = "network-admin-key-9876543210"


async def test_api_keys_and_site_scope(
    kafka_bootstrap: str,
    enrollment: Enrollment,
    topic_records: Callable[..., Any],
    caplog: pytest.LogCaptureFixture,
) -> None:
    keys = {
        key_digest(BOS1_KEY): {"name": "bos-1 desk", "sites": ["bos-1"], "regions": ["ne"]},
        key_digest(NETWORK_KEY): {"name": "network admin", "network": True},
    }
    settings = intake_settings(kafka_bootstrap, api_keys=keys)
    bos1 = {"X-API-Key": BOS1_KEY}
    network = {"Authorization": f"Bearer {NETWORK_KEY}"}
    async with running_intake(settings) as (client, _):
        ours = enrollment(preferred_site_ids=["bos-1"])
        theirs = enrollment(preferred_site_ids=["bos-2"])

        assert (await client.post("/v1/enrollments", json=ours)).status_code == 401
        wrong = {"X-API-Key": "guess"}
        assert (await client.post("/v1/enrollments", json=ours, headers=wrong)).status_code == 401
        refused = await client.post("/v1/enrollments", json=theirs, headers=bos1)
        assert refused.status_code == 403
        assert (await client.post("/v1/enrollments", json=ours, headers=bos1)).status_code == 202
        assert (
            await client.post("/v1/enrollments", json=theirs, headers=network)
        ).status_code == 202

        other = theirs["client_id"]
        await wait_for_status_with(client, other, network)
        # Outside the key's scope is answered as an unknown id (issue 10): nothing to learn.
        unseen = await client.get(f"/v1/enrollments/{other}", headers=bos1)
        assert (unseen.status_code, unseen.json()) == (404, not_found(other))
        withdraw = await client.post(f"/v1/enrollments/{other}/withdraw", headers=bos1)
        assert (withdraw.status_code, withdraw.json()) == (404, not_found(other))
        assert (await client.get(f"/v1/enrollments/{ours['client_id']}", headers=bos1)).is_success

    records = mine(await topic_records(kafka_bootstrap, topics.ENROLLMENT, None), other)
    assert [decode_record(r.value).type for r in records] == ["iop.enrollment.requested"]
    assert BOS1_KEY not in caplog.text and NETWORK_KEY not in caplog.text


def not_found(client_id: str) -> dict[str, str]:
    """What intake answers for an id it does not know."""
    return {"detail": f"no enrollment known for client {client_id}"}


async def wait_for_status_with(
    client: httpx.AsyncClient, client_id: str, headers: dict[str, str]
) -> None:
    async with asyncio.timeout(15):
        while (
            await client.get(f"/v1/enrollments/{client_id}", headers=headers)
        ).status_code != 200:
            await asyncio.sleep(0.1)
