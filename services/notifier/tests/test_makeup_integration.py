"""A make-up on the real broker, with a real SMTP server (aiosmtpd) on loopback: the client gets
one invite email whose calendar is one event without recurrence at the session's local times;
the same event redelivered, the make-up published again under a new id, and a restart that
replays the whole schedule topic send nothing more; client.makeup_unavailable sends nothing.
Checked through the mailbox and iop.notification.v1 only.

Today is pinned (IOP_TODAY) and every date is built from it, so this runs on any real day."""

import asyncio
from datetime import date, datetime, time, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from aiokafka import AIOKafkaProducer
from icalendar import Calendar
from iop_contracts import TODAY_ENV, topics
from iop_contracts.envelope import CloudEvent, decode_record, encode_event
from iop_notifier.adapters.smtp_sink import SmtpSink
from iop_notifier.domain.discretion import denied_terms, is_discreet
from iop_notifier.runtime import NotifierRuntime
from iop_notifier.settings import NotifierSettings

from .factories import enrollment, makeup, makeup_unavailable, schedule
from .fakes import FakeClock
from .kafka_helpers import TopicReader, publish, wait_until
from .stubs import running, test_settings

pytestmark = pytest.mark.integration
NY = ZoneInfo("America/New_York")
TODAY = date(2026, 12, 1)
GROUP = "bos-1-sud-eve-a"  # spells out the track, as a real group id may


async def republish(bootstrap: str, event: CloudEvent) -> None:
    """The very same record again, as a broker redelivers it (same event id)."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        record = encode_event(event)
        await producer.send_and_wait(
            record.topic, record.value, key=record.key, headers=record.headers
        )
    finally:
        await producer.stop()


async def read_up_to(runtime: NotifierRuntime, bootstrap: str, client: str, week: date) -> None:
    """Publish a client.makeup_unavailable behind everything published for `client` (one
    partition, in order) and wait until the notifier has read it, then give its worker rounds
    in which anything it wanted to send would go."""
    [marker] = await publish(bootstrap, makeup_unavailable(client, week))
    ledger = runtime.ledger
    assert ledger is not None
    await wait_until(lambda: ledger.has_seen(marker.id), 30)
    await asyncio.sleep(5 * runtime.settings.worker_tick_s)


def decoded(message: EmailMessage) -> list[str]:
    """Every header and every part's decoded content (base64 undone)."""
    texts = [f"{name}: {value}" for name, value in message.items()]
    for part in message.walk():
        if part.get_content_maintype() != "multipart":
            content = part.get_content()
            texts.append(content.decode() if isinstance(content, bytes) else content)
    return texts


def invites(messages: list[EmailMessage]) -> list[EmailMessage]:
    return [m for m in messages if m["Subject"] == "An extra appointment"]


async def test_one_invite_through_redelivery_replay_and_restart(
    kafka_bootstrap: str, unique: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(TODAY_ENV, TODAY.isoformat())
    client = f"c-{unique}"
    thursday = TODAY + timedelta(days=9)
    clock = FakeClock(datetime.combine(TODAY, time(12, 0), tzinfo=NY))
    weekly = schedule(
        client,
        1,
        start=(TODAY + timedelta(days=6)).isoformat(),
        end=(TODAY + timedelta(days=48)).isoformat(),
    )
    with SmtpSink(tmp_path / "outbox") as sink:
        settings = test_settings(
            kafka_bootstrap, tmp_path, unique, smtp_port=sink.port, smtp_tls="plaintext"
        )
        async with running(settings, clock=clock) as runtime:
            published = await publish(
                kafka_bootstrap, enrollment(client), weekly, makeup(client, thursday)
            )
            await wait_until(lambda: len(invites(sink.messages())) == 1, 30)
            await republish(kafka_bootstrap, published[2])  # redelivered
            await publish(kafka_bootstrap, makeup(client, thursday))  # published again
            await read_up_to(runtime, kafka_bootstrap, client, thursday + timedelta(days=7))
            assert len(sink.messages()) == 2  # the confirmation and one invite

        # A restart in a new consumer group reads the schedule topic again from its start.
        replay: NotifierSettings = settings.model_copy(
            update={"consumer_group": f"notifier-{unique}-replay"}
        )
        async with running(replay, clock=clock) as runtime:
            await read_up_to(runtime, kafka_bootstrap, client, thursday + timedelta(days=14))
            async with TopicReader(kafka_bootstrap, topics.NOTIFICATION) as out:

                def makeup_outcomes() -> list[tuple[str, str, int, str | None]]:
                    return [
                        (e.type, e.data["channel"], e.data["schedule_version"], e.data["reason"])
                        for e in (decode_record(r.value) for r in out.records)
                        if e.subject == client and e.data["purpose"] == "makeup"
                    ]

                await wait_until(lambda: len(makeup_outcomes()) >= 2, 20, poll=out.poll)
                await asyncio.sleep(1)
                await out.poll()
                assert sorted(makeup_outcomes()) == [
                    ("iop.notification.sent", "email", 1, "makeup"),
                    ("iop.notification.suppressed", "sms", 1, "makeup:no_consent"),
                ]
        messages = sink.messages()

    assert len(messages) == 2
    [invite] = invites(messages)
    assert invite["To"] == f"{client}@example.org"
    text = invite.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert "Group meeting: Thursday, December 10, 2026, 6:00 PM - 9:00 PM (in person)" in text
    [part] = [p for p in invite.iter_attachments() if p.get_content_type() == "text/calendar"]
    assert part.get_param("method") == "REQUEST"
    calendar = Calendar.from_ical(part.get_content())
    events: list[Any] = calendar.walk("VEVENT")  # icalendar's property types vary
    [event] = events
    assert "RRULE" not in event and int(event["SEQUENCE"]) == 0
    assert event["DTSTART"].params["TZID"] == "America/New_York"
    assert event["DTSTART"].dt.replace(tzinfo=None) == datetime.combine(thursday, time(18, 0))
    assert event["DTEND"].dt.replace(tzinfo=None) == datetime.combine(thursday, time(21, 0))
    [confirmation] = [m for m in messages if m is not invite]
    [weekly_calendar] = [
        Calendar.from_ical(p.get_content())
        for p in confirmation.iter_attachments()
        if p.get_content_type() == "text/calendar"
    ]
    assert str(event["UID"]) not in {str(e["UID"]) for e in weekly_calendar.walk("VEVENT")}
    for text in decoded(invite):  # what reached the mail server, headers and attachments
        assert GROUP not in text and "t-017" not in text
        assert is_discreet(text), denied_terms(text)
