"""EHRs publish attendance.recorded straight to iop.attendance.v1; the clinic owns that topic's
dead letters. A record that does not decode, an event of another topic, and a record of a client
not expected at that session each go to iop.attendance.v1.dlq once, with the reason; the good
record after them is handled (its alert published)."""

import asyncio
from datetime import timedelta

import pytest
from iop_clinic.domain import testing as build
from iop_contracts import encode_event, header, new_event, topics, week_of
from iop_contracts.kafka import KafkaSettings, make_broker

from .conftest import (
    MONDAY,
    TODAY,
    Network,
    Record,
    clinic_settings,
    events_of,
    running_clinic,
    topic_records,
)

pytestmark = pytest.mark.integration


async def publish_raw(bootstrap: str, records: list[tuple[bytes, bytes]]) -> None:
    """Publish values as an EHR would, each keyed by the client it is about."""
    broker = make_broker(KafkaSettings.local(bootstrap), client_id="ehr")
    await broker.start()
    try:
        for key, value in records:
            await broker.publish(
                value,
                topics.ATTENDANCE,
                key=key,
                headers={"content-type": "application/cloudevents+json"},
            )
    finally:
        await broker.stop()


def ehr_record(network: Network, name: str, day: object, status: str) -> bytes:
    payload = build.record(
        network.client(name), day, status, group_id=network.group(1), region_id=network.region
    )
    return encode_event(new_event(payload, source="/ehr/epic"), topics.ATTENDANCE).value


async def test_bad_ehr_records_are_dead_lettered_once_and_the_next_good_one_is_handled(
    kafka_bootstrap: str, seeded: Network
) -> None:
    ana = seeded.client("ana")
    key = ana.encode()
    tuesday = MONDAY + timedelta(days=1)
    schedule = build.scheduled(ana, seeded.group_upserted(1), MONDAY, region_id=seeded.region)
    wrong_topic = encode_event(new_event(schedule, source="/ehr/epic"), topics.ATTENDANCE).value
    not_expected = ehr_record(seeded, "ana", tuesday, "present")  # no session on Tuesdays
    async with running_clinic(clinic_settings(kafka_bootstrap, seeded)):
        await publish_raw(
            kafka_bootstrap,
            [
                (key, b'{"specversion": "1.0", "id": '),  # cut short
                (key, wrong_topic),  # a schedule event on the attendance topic
                (key, not_expected),
                (key, ehr_record(seeded, "ana", MONDAY, "absent")),  # good: the week's lost
            ],
        )

        def at_risk(records: list[Record]) -> bool:
            return bool(events_of(records, ana, "iop.client.hours_at_risk"))

        records = await topic_records(kafka_bootstrap, topics.ATTENDANCE, until=at_risk)
        await asyncio.sleep(1)  # time for a second dead letter, were one to come
        dead = await topic_records(kafka_bootstrap, topics.dlq(topics.ATTENDANCE))

    [at_risk_event] = events_of(records, ana, "iop.client.hours_at_risk")
    assert at_risk_event.data["week"] == week_of(TODAY)
    mine = [r for r in dead if r.key == key]
    reasons = [header(r.headers, "dlq_reason") or "" for r in mine]
    assert len(mine) == 3, reasons
    assert reasons[0] == "value: not UTF-8 JSON (JSONDecodeError)"
    assert "iop.schedule.v1" in reasons[1]
    assert f"client {ana} is not expected" in reasons[2] and tuesday.isoformat() in reasons[2]
    assert {header(r.headers, "dlq_consumer") for r in mine} == {"iop-clinic-attendance"}
    assert mine[2].value == not_expected  # the dead letter keeps the record as it came
