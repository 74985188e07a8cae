"""Alerts on the real broker: client.hours_at_risk once per client-week and
client.attendance_alert once per streak, across a restart of the clinic; the clock's alert when
a cancellation puts a week out of reach with nothing recorded; make-up requests, by staff and
(CLINIC_AUTO_MAKEUP) by the clinic itself."""

import asyncio
from datetime import timedelta

import httpx
import pytest
from iop_clinic.domain import testing as build
from iop_contracts import CloudEvent, topics, week_of

from .conftest import (
    LAST_THURSDAY,
    MONDAY,
    PROGRAMME_START,
    TODAY,
    Network,
    Record,
    clinic_settings,
    events_of,
    publish,
    running_clinic,
    topic_records,
)

pytestmark = pytest.mark.integration

AT_RISK = "iop.client.hours_at_risk"
ALERT = "iop.client.attendance_alert"
MAKEUP = "iop.makeup.requested"
WEEK = week_of(TODAY)
LAST_WEEK = week_of(MONDAY - timedelta(days=1))


def absent(network: Network, name: str, day: object) -> dict[str, object]:
    return {
        "client_id": network.client(name),
        "date": str(day),
        "group_id": network.group(1),
        "status": "absent",
    }


async def record(client: httpx.AsyncClient, network: Network, body: dict[str, object]) -> None:
    response = await client.post("/v1/attendance", json=body, headers=network.key_of("s1"))
    assert response.status_code == 201, response.text


async def until_published(
    bootstrap: str, topic: str, client_id: str, event_type: str, count: int = 1
) -> list[Record]:
    def enough(records: list[Record]) -> bool:
        return len(events_of(records, client_id, event_type)) >= count

    return await topic_records(bootstrap, topic, until=enough)


def weeks(events: list[CloudEvent]) -> list[str]:
    return sorted(str(e.data["week"]) for e in events)


async def looks_twice(app_clinic: running_clinic) -> None:
    """Wait for two looks of the clock (the first after the start looks at everyone)."""
    clock = app_clinic.app.state.parts.clock
    async with asyncio.timeout(20):
        while clock.looks < 2:
            await asyncio.sleep(0.1)


async def test_hours_at_risk_and_the_absence_alert_are_published_once_across_a_restart(
    kafka_bootstrap: str, seeded: Network
) -> None:
    settings = clinic_settings(kafka_bootstrap, seeded)
    ana, ben = seeded.client("ana"), seeded.client("ben")
    async with running_clinic(settings) as (client, _):
        await record(client, seeded, absent(seeded, "ana", MONDAY))  # the week out of reach
        await record(client, seeded, absent(seeded, "ben", LAST_THURSDAY))
        await record(client, seeded, absent(seeded, "ben", MONDAY))  # two in a row
        await until_published(kafka_bootstrap, topics.ATTENDANCE, ana, AT_RISK)
        await until_published(kafka_bootstrap, topics.ATTENDANCE, ben, ALERT)

    restarted = running_clinic(settings)
    async with restarted as (client, _):
        await looks_twice(restarted)  # it has looked at everyone: nothing new is due
        await record(client, seeded, absent(seeded, "ana", TODAY))  # same week, a second miss
        # Mon and Wed missed: ana's streak alert proves this record was judged after restart.
        records = await until_published(kafka_bootstrap, topics.ATTENDANCE, ana, ALERT)

    [ana_at_risk] = events_of(records, ana, AT_RISK)
    assert ana_at_risk.data["week"] == WEEK
    assert ana_at_risk.data["attended_hours"] == 0
    assert ana_at_risk.data["minimum_hours"] == 9
    # Ben missed last Thursday too: last week's Mon, Wed and Sat (unrecorded, still counted as
    # reachable) leave seven hours, so each week is out of reach, each alerted once.
    assert weeks(events_of(records, ben, AT_RISK)) == [LAST_WEEK, WEEK]
    [ben_alert] = events_of(records, ben, ALERT)
    assert ben_alert.data["last_date"] == MONDAY.isoformat() and ben_alert.data["count"] == 2
    [ana_alert] = events_of(records, ana, ALERT)
    assert ana_alert.data["last_date"] == TODAY.isoformat()


async def test_a_cancellation_puts_a_week_out_of_reach_and_the_clock_alerts(
    kafka_bootstrap: str, seeded: Network
) -> None:
    cy = seeded.client("cy")
    thursday = TODAY + timedelta(days=1)
    async with running_clinic(clinic_settings(kafka_bootstrap, seeded)):
        # The site closes on Thursday: Mon (unrecorded), Wed and Sat leave seven hours.
        closed = build.scheduled(
            cy,
            seeded.group_upserted(1),
            PROGRAMME_START,
            version=2,
            facilitator_id=seeded.therapist,
            therapist_id=seeded.therapist,
            region_id=seeded.region,
            cancelled=[(thursday, "group", "site_closed")],
        )
        await publish(kafka_bootstrap, [closed])
        records = await until_published(kafka_bootstrap, topics.ATTENDANCE, cy, AT_RISK)
    [at_risk] = events_of(records, cy, AT_RISK)
    assert at_risk.data["week"] == WEEK
    assert at_risk.data["remaining_scheduled_hours"] == 4  # Wednesday's evening, Saturday's hour
    assert events_of(records, cy, "iop.attendance.recorded") == []


async def test_a_makeup_request_is_published_on_the_enrollment_topic(
    kafka_bootstrap: str, seeded: Network
) -> None:
    dee = seeded.client("dee")
    async with running_clinic(clinic_settings(kafka_bootstrap, seeded)) as (client, _):
        url = f"/v1/clients/{dee}/makeup"
        s2 = seeded.key_of("s2")
        past = week_of(MONDAY - timedelta(days=7))
        refused = await client.post(url, json={"week": past}, headers=s2)
        assert refused.status_code == 422 and refused.json()["errors"][0]["field"] == "week"
        response = await client.post(url, json={"week": WEEK}, headers=s2)
        assert response.status_code == 202, response.text
    records = await topic_records(kafka_bootstrap, topics.ENROLLMENT)
    [request] = events_of(records, dee, MAKEUP)
    assert request.id == response.json()["event_id"]
    assert request.data == {"client_id": dee, "region_id": seeded.region, "week": WEEK, "hours": 3}
    [on_topic] = [r for r in records if r.value and request.id.encode() in r.value]
    assert on_topic.key == seeded.region.encode()  # keyed by region, as every enrollment event


async def test_with_auto_makeup_an_hours_at_risk_asks_for_one_makeup(
    kafka_bootstrap: str, seeded: Network
) -> None:
    await publish(kafka_bootstrap, seeded.placed("fay"))
    fay = seeded.client("fay")
    settings = clinic_settings(kafka_bootstrap, seeded, auto_makeup=True, makeup_hours=2.5)
    running = running_clinic(settings)
    async with running as (client, _):
        desk = running.app.state.parts.desk
        await record(client, seeded, absent(seeded, "fay", MONDAY))
        await until_published(kafka_bootstrap, topics.ATTENDANCE, fay, AT_RISK)
        handled = desk.handled
        await record(client, seeded, {**absent(seeded, "fay", TODAY), "status": "excused"})
        async with asyncio.timeout(20):  # the front door judged the second record too
            while desk.handled <= handled:
                await asyncio.sleep(0.05)
    requests = events_of(await topic_records(kafka_bootstrap, topics.ENROLLMENT), fay, MAKEUP)
    assert [(e.data["week"], e.data["hours"]) for e in requests] == [(WEEK, 2.5)]
    assert (
        len(events_of(await topic_records(kafka_bootstrap, topics.ATTENDANCE), fay, AT_RISK)) == 1
    )
