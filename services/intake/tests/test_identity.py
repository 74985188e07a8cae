"""Issue 10, identity: a client id belongs to the scope of its record, on every route and on the
referral path, in a running intake and in a fresh one rebuilt from the topics (real broker).

Each test is an attack seen at d4b245a: a site key reusing another site's client id took the
client over (202, then read and withdrew them while their own key got 403); scoped keys told out
of scope (403) from unknown (404).
"""

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaProducer
from iop_contracts import (
    ClientCompleted,
    ClientScheduled,
    CloudEvent,
    EnrollmentRequested,
    Payload,
    decode_record,
    encode_event,
    header,
    new_event,
    topics,
)
from iop_contracts.access import key_digest
from iop_intake.runtime import Intake
from iop_intake.settings import IntakeSettings

from .conftest import SUITED_SCREENING, intake_settings, running_intake
from .test_referrals import referral
from .test_status import scheduled

pytestmark = pytest.mark.integration

Enrollment = Callable[..., dict[str, Any]]

BOS1_KEY = "bos-1-desk-key-identity-0123"
BOS2_KEY = "bos-2-desk-key-identity-4567"
BOS1 = {"X-API-Key": BOS1_KEY}  # the attacker's desk
BOS2 = {"X-API-Key": BOS2_KEY}  # the client's own desk
KEYS = {
    key_digest(BOS1_KEY): {"name": "bos-1 desk", "sites": ["bos-1"], "regions": ["ne"]},
    key_digest(BOS2_KEY): {"name": "bos-2 desk", "sites": ["bos-2"], "regions": ["ne"]},
}
MALLORY = "mallory@example.org"


def keyed_settings(bootstrap: str, **changes: Any) -> IntakeSettings:
    return intake_settings(bootstrap, api_keys=KEYS, **changes)


@pytest.fixture(scope="module")
async def keyed(kafka_bootstrap: str) -> AsyncIterator[tuple[httpx.AsyncClient, Intake]]:
    async with running_intake(keyed_settings(kafka_bootstrap)) as running:
        yield running


@pytest.fixture
async def producer(kafka_bootstrap: str) -> AsyncIterator[AIOKafkaProducer]:
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
    await producer.start()
    try:
        yield producer
    finally:
        await producer.stop()


def at_bos2(enrollment: Enrollment) -> dict[str, Any]:
    return enrollment(preferred_site_ids=["bos-2"])


def taken_over(body: dict[str, Any]) -> dict[str, Any]:
    """The same client id, posted by another site's desk for its own site and another e-mail."""
    contact = {**body["contact"], "email": MALLORY}
    return {**body, "preferred_site_ids": ["bos-1"], "contact": contact}


async def events_of(read: Callable[..., Any], bootstrap: str, client_id: str) -> list[CloudEvent]:
    records = await read(bootstrap, topics.ENROLLMENT, None)
    return [e for e in (decode_record(r.value) for r in records) if e.subject == client_id]


async def wait_for(
    client: httpx.AsyncClient, client_id: str, headers: dict[str, str], status: str
) -> dict[str, Any]:
    async with asyncio.timeout(15):
        while True:
            response = await client.get(f"/v1/enrollments/{client_id}", headers=headers)
            if response.status_code == 200 and response.json()["status"] == status:
                return dict(response.json())
            await asyncio.sleep(0.1)


async def publish(producer: AIOKafkaProducer, payload: Payload, source: str) -> CloudEvent:
    """Put one event on its topic as another service (or d4b245a's intake) would have."""
    event = new_event(payload, source=source)
    record = encode_event(event)
    await producer.send_and_wait(record.topic, record.value, key=record.key, headers=record.headers)
    return event


def placed_at_bos2(client_id: str) -> ClientScheduled:
    data = scheduled(site="bos-2").model_dump(mode="json")
    return ClientScheduled.model_validate({**data, "client_id": client_id})


# ------------------------------------------------------------------ takeover by reusing an id


async def test_another_sites_key_cannot_take_a_client_over_by_reusing_its_id(
    keyed: tuple[httpx.AsyncClient, Intake],
    kafka_bootstrap: str,
    enrollment: Enrollment,
    topic_records: Callable[..., Any],
) -> None:
    client, _ = keyed
    body = at_bos2(enrollment)
    client_id = body["client_id"]
    assert (await client.post("/v1/enrollments", json=body, headers=BOS2)).status_code == 202
    await wait_for(client, client_id, BOS2, "requested")

    takeover = await client.post("/v1/enrollments", json=taken_over(body), headers=BOS1)
    own_again = await client.post("/v1/enrollments", json=body, headers=BOS2)
    assert takeover.status_code == own_again.status_code == 409
    assert takeover.json() == own_again.json(), "one refusal, whoever asks and why"
    assert "bos-2" not in takeover.text and "requested" not in takeover.text

    assert (await client.get(f"/v1/enrollments/{client_id}", headers=BOS1)).status_code == 404
    withdraw = await client.post(f"/v1/enrollments/{client_id}/withdraw", headers=BOS1)
    assert withdraw.status_code == 404

    status = await wait_for(client, client_id, BOS2, "requested")
    events = await events_of(topic_records, kafka_bootstrap, client_id)
    assert [e.type for e in events] == ["iop.enrollment.requested"]
    assert status["event_id"] == events[0].id
    assert all(MALLORY not in str(e.data) for e in events)


async def test_a_fresh_instance_rebuilt_from_the_topics_refuses_the_takeover_too(
    keyed: tuple[httpx.AsyncClient, Intake],
    kafka_bootstrap: str,
    enrollment: Enrollment,
    topic_records: Callable[..., Any],
) -> None:
    client, _ = keyed
    body = at_bos2(enrollment)
    client_id = body["client_id"]
    assert (await client.post("/v1/enrollments", json=body, headers=BOS2)).status_code == 202

    async with running_intake(keyed_settings(kafka_bootstrap)) as (fresh, _):
        takeover = await fresh.post("/v1/enrollments", json=taken_over(body), headers=BOS1)
        assert takeover.status_code == 409
        assert (await fresh.get(f"/v1/enrollments/{client_id}", headers=BOS1)).status_code == 404
        withdraw = await fresh.post(f"/v1/enrollments/{client_id}/withdraw", headers=BOS1)
        assert withdraw.status_code == 404
        assert (await fresh.get(f"/v1/enrollments/{client_id}", headers=BOS2)).is_success

    events = await events_of(topic_records, kafka_bootstrap, client_id)
    assert [e.type for e in events] == ["iop.enrollment.requested"]


async def test_a_takeover_already_on_the_topic_moves_the_client_nowhere(
    keyed: tuple[httpx.AsyncClient, Intake],
    kafka_bootstrap: str,
    enrollment: Enrollment,
    producer: AIOKafkaProducer,
) -> None:
    # What d4b245a published for the attack: a second request for the id, while it was active.
    client, _ = keyed
    body = at_bos2(enrollment)
    client_id = body["client_id"]
    answer = await client.post("/v1/enrollments", json=body, headers=BOS2)
    assert answer.status_code == 202
    reused = EnrollmentRequested.model_validate(taken_over(body))
    await publish(producer, reused, source="/iop/intake")
    sentinel = at_bos2(enrollment)
    await publish(producer, EnrollmentRequested.model_validate(sentinel), source="/iop/intake")

    async with running_intake(keyed_settings(kafka_bootstrap)) as (fresh, _):
        for reader in (client, fresh):
            await wait_for(reader, sentinel["client_id"], BOS2, "requested")
            status = await reader.get(f"/v1/enrollments/{client_id}", headers=BOS2)
            assert status.status_code == 200
            assert status.json()["event_id"] == answer.json()["event_id"]
            assert (
                await reader.get(f"/v1/enrollments/{client_id}", headers=BOS1)
            ).status_code == 404
            withdraw = await reader.post(f"/v1/enrollments/{client_id}/withdraw", headers=BOS1)
            assert withdraw.status_code == 404


# ------------------------------------------------------------------ which ids exist


async def test_out_of_scope_and_unknown_ids_get_the_same_answer_on_every_route(
    keyed: tuple[httpx.AsyncClient, Intake],
    kafka_bootstrap: str,
    enrollment: Enrollment,
    topic_records: Callable[..., Any],
) -> None:
    client, _ = keyed
    body = at_bos2(enrollment)
    client_id = body["client_id"]
    assert (await client.post("/v1/enrollments", json=body, headers=BOS2)).status_code == 202
    await wait_for(client, client_id, BOS2, "requested")

    unknown = f"{client_id}-nobody"
    routes = [
        (client.get, "/v1/enrollments/{}"),
        (client.post, "/v1/enrollments/{}/withdraw"),
        (client.post, "/v1/clients/{}/discharge"),
    ]
    for method, route in routes:
        theirs = await method(route.format(client_id), headers=BOS1)
        nobody = await method(route.format(unknown), headers=BOS1)
        assert theirs.status_code == nobody.status_code == 404, route
        assert theirs.headers["content-type"] == nobody.headers["content-type"]
        assert theirs.text == nobody.text.replace(unknown, client_id), route

    events = await events_of(topic_records, kafka_bootstrap, client_id)
    assert [e.type for e in events] == ["iop.enrollment.requested"]


# ------------------------------------------------------------------ re-enrollment


async def test_after_a_withdrawal_only_the_clients_own_scope_may_enroll_the_id_again(
    keyed: tuple[httpx.AsyncClient, Intake],
    kafka_bootstrap: str,
    enrollment: Enrollment,
    topic_records: Callable[..., Any],
) -> None:
    client, _ = keyed
    body = at_bos2(enrollment)
    client_id = body["client_id"]
    assert (await client.post("/v1/enrollments", json=body, headers=BOS2)).status_code == 202
    active = await client.post("/v1/enrollments", json=body, headers=BOS2)
    assert active.status_code == 409
    withdrawn = await client.post(f"/v1/enrollments/{client_id}/withdraw", headers=BOS2)
    assert withdrawn.status_code == 202
    await wait_for(client, client_id, BOS2, "withdrawn")

    takeover = await client.post("/v1/enrollments", json=taken_over(body), headers=BOS1)
    assert (takeover.status_code, takeover.json()) == (409, active.json())
    again = await client.post("/v1/enrollments", json=body, headers=BOS2)
    assert again.status_code == 202

    events = await events_of(topic_records, kafka_bootstrap, client_id)
    assert [e.type for e in events] == [
        "iop.enrollment.requested",
        "iop.enrollment.withdrawn",
        "iop.enrollment.requested",
    ]
    assert all(MALLORY not in str(e.data) for e in events)


async def test_after_completion_only_the_clients_own_scope_may_enroll_the_id_again(
    keyed: tuple[httpx.AsyncClient, Intake],
    enrollment: Enrollment,
    producer: AIOKafkaProducer,
) -> None:
    client, _ = keyed
    body = at_bos2(enrollment)
    client_id = body["client_id"]
    assert (await client.post("/v1/enrollments", json=body, headers=BOS2)).status_code == 202
    await publish(producer, placed_at_bos2(client_id), source="/iop/scheduler")
    await wait_for(client, client_id, BOS2, "scheduled")
    assert (await client.post("/v1/enrollments", json=body, headers=BOS2)).status_code == 409

    done = ClientCompleted(
        client_id=client_id, region_id="ne", schedule_version=1, end_date="2027-01-31"
    )
    await publish(producer, done, source="/iop/scheduler")
    await wait_for(client, client_id, BOS2, "completed")
    takeover = await client.post("/v1/enrollments", json=taken_over(body), headers=BOS1)
    assert takeover.status_code == 409
    assert (await client.post("/v1/enrollments", json=body, headers=BOS2)).status_code == 202


async def test_an_id_that_only_had_a_decline_can_be_enrolled(
    keyed: tuple[httpx.AsyncClient, Intake], enrollment: Enrollment
) -> None:
    # A decline records no site, so it gives the id to no scope: the desk that was declined
    # may enroll the client once a clinician has screened them again.
    client, _ = keyed
    body = at_bos2(enrollment)
    unsuited = {**body, "screening": {**SUITED_SCREENING, "needs_24h_supervision": True}}
    declined = await client.post("/v1/enrollments", json=unsuited, headers=BOS2)
    assert (declined.status_code, declined.json()["status"]) == (202, "declined")
    assert (await client.post("/v1/enrollments", json=body, headers=BOS2)).status_code == 202
    assert (await client.post("/v1/enrollments", json=body, headers=BOS2)).status_code == 409


# ------------------------------------------------------------------ referrals


async def test_a_referral_cannot_take_over_another_scopes_client(
    keyed: tuple[httpx.AsyncClient, Intake],
    kafka_bootstrap: str,
    enrollment: Enrollment,
    producer: AIOKafkaProducer,
    topic_records: Callable[..., Any],
) -> None:
    client, _ = keyed
    body = at_bos2(enrollment)
    client_id = body["client_id"]
    assert (await client.post("/v1/enrollments", json=body, headers=BOS2)).status_code == 202
    await wait_for(client, client_id, BOS2, "requested")

    other_ehr = referral(taken_over(body))  # ids collide with another EHR's client
    same_ehr = referral(body)  # the client's own EHR, while the enrollment is active
    for event in (other_ehr, same_ehr):
        await publish_referral(producer, event)
    dead = await dead_letters(topic_records, kafka_bootstrap, {other_ehr.id, same_ehr.id})
    reasons = {header(r.headers, "dlq_reason") for r in dead}
    assert len(reasons) == 1, "one reason for another scope and for an active enrollment"
    reason = reasons.pop() or ""
    assert "data.client_id" in reason and "bos-" not in reason and client_id not in reason

    withdrawn = await client.post(f"/v1/enrollments/{client_id}/withdraw", headers=BOS2)
    assert withdrawn.status_code == 202
    await wait_for(client, client_id, BOS2, "withdrawn")
    late_other = referral(taken_over(body))
    returning = referral(body)
    await publish_referral(producer, late_other)
    await publish_referral(producer, returning)
    dead = await dead_letters(topic_records, kafka_bootstrap, {late_other.id})
    assert header(dead[0].headers, "dlq_reason") == reason

    def answered(records: list[Any]) -> bool:
        return any(returning.id.encode() in r.value for r in records)

    records = await topic_records(kafka_bootstrap, topics.ENROLLMENT, answered)
    events = [e for e in (decode_record(r.value) for r in records) if e.subject == client_id]
    assert [(e.type, e.causationid) for e in events] == [
        ("iop.enrollment.requested", None),
        ("iop.enrollment.withdrawn", None),
        ("iop.enrollment.requested", returning.id),
    ]
    assert all(MALLORY not in str(e.data) for e in events)


async def publish_referral(producer: AIOKafkaProducer, event: CloudEvent) -> None:
    record = encode_event(event)
    await producer.send_and_wait(record.topic, record.value, key=record.key, headers=record.headers)


async def dead_letters(
    read: Callable[..., Any], bootstrap: str, referral_ids: set[str]
) -> list[Any]:
    """The dead letters of these referrals, once there is one for each."""

    def of_ours(records: list[Any]) -> list[Any]:
        return [r for r in records if decode_record(r.value).id in referral_ids]

    records = await read(
        bootstrap, topics.dlq(topics.REFERRAL), lambda rs: len(of_ours(rs)) >= len(referral_ids)
    )
    return of_ours(records)
