"""A closure reaches the client's calendar: with the real broker and an SMTP server on
loopback, a client.rescheduled that only adds a cancelled date arrives as one update email whose
calendar has the same UIDs, a higher SEQUENCE and the EXDATE at the occurrence's local start
(after the start of DST); the notification events name their purpose; a client.completed that
follows is read and sends nothing."""

import asyncio
from datetime import UTC, date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from icalendar import Calendar
from iop_contracts import topics
from iop_contracts.envelope import decode_record
from iop_contracts.payloads import ClientCompleted
from iop_notifier.adapters.smtp_sink import SmtpSink

from .factories import enrollment, schedule
from .fakes import FakeClock
from .kafka_helpers import TopicReader, publish, wait_until
from .stubs import running, test_settings

pytestmark = pytest.mark.integration
NY = ZoneInfo("America/New_York")
# Mondays and Wednesdays 18:00, Saturdays 09:00; New York moves to EDT on March 14, 2027.
START, END = "2027-02-22", "2027-04-05"


def calendars(message: object) -> list[Calendar]:
    return [
        Calendar.from_ical(p.get_content())
        for p in message.iter_attachments()  # type: ignore[attr-defined]
        if p.get_content_type() == "text/calendar"
    ]


async def test_a_closure_is_one_update_email_with_the_exdate(
    kafka_bootstrap: str, unique: str, tmp_path: Path
) -> None:
    client = f"c-{unique}"
    clock = FakeClock(datetime(2027, 2, 1, 12, 0, tzinfo=NY))  # weeks before any reminder
    with SmtpSink(tmp_path / "outbox") as sink:
        settings = test_settings(
            kafka_bootstrap, tmp_path, unique, smtp_port=sink.port, smtp_tls="plaintext"
        )
        async with running(settings, clock=clock) as runtime:
            assert runtime.worker is not None and runtime.ledger is not None
            await publish(
                kafka_bootstrap,
                enrollment(client),
                schedule(client, 1, start=START, end=END),
            )
            await wait_until(lambda: len(sink.messages()) == 1, 30)
            await publish(
                kafka_bootstrap,
                schedule(
                    client, 2, start=START, end=END, rescheduled=True,
                    cancelled=[("2027-03-15", "group")], reason="site_closed",
                ),
            )  # fmt: skip
            await wait_until(lambda: len(sink.messages()) == 2, 30)

            [completed] = await publish(
                kafka_bootstrap,
                ClientCompleted(
                    client_id=client, region_id="ne", schedule_version=2,
                    end_date=date(2027, 4, 5),
                ),
            )  # fmt: skip
            ledger = runtime.ledger
            await wait_until(lambda: ledger.has_seen(completed.id), 30)
            clock.set(datetime(2027, 4, 6, 12, 0, tzinfo=NY))
            runtime.worker.wake()
            await asyncio.sleep(5 * settings.worker_tick_s)  # rounds in which nothing may go

            async with TopicReader(kafka_bootstrap, topics.NOTIFICATION) as out:

                def outcomes() -> set[tuple[str, str, int, str | None]]:
                    return {
                        (e.type, e.data["channel"], e.data["schedule_version"], e.data["purpose"])
                        for e in (decode_record(r.value) for r in out.records)
                        if e.subject == client
                    }

                expected = {
                    ("iop.notification.sent", "email", 1, "confirmation"),
                    ("iop.notification.suppressed", "sms", 1, "confirmation"),
                    ("iop.notification.sent", "email", 2, "update"),
                    ("iop.notification.suppressed", "sms", 2, "update"),
                }
                await wait_until(lambda: outcomes() >= expected, 20, poll=out.poll)
                assert outcomes() == expected

        first, update = sink.messages()
        assert len(sink.messages()) == 2
        assert update["Subject"] == "Changes to your appointments"
        text = update.get_body(("plain",)).get_content()
        assert "Your group meeting on Monday, March 15, 2027 at 6:00 PM is cancelled." in text
        assert "clos" not in text.lower()  # no reason: "cancelled", nothing more

        [before], [after] = calendars(first), calendars(update)
        assert str(after["METHOD"]) == "REQUEST"
        uids = {str(e["UID"]): e for e in after.walk("VEVENT")}
        assert set(uids) == {str(e["UID"]) for e in before.walk("VEVENT")}
        assert min(int(e["SEQUENCE"]) for e in after.walk("VEVENT")) > max(
            int(e["SEQUENCE"]) for e in before.walk("VEVENT")
        )
        excluded = {
            uid: [value for value in event["EXDATE"].dts]
            for uid, event in uids.items()
            if "EXDATE" in event
        }
        [(uid, [exdate])] = excluded.items()
        assert uids[uid]["DTSTART"].dt.weekday() == 0  # the Monday series
        assert exdate.params["TZID"] == "America/New_York"
        tz = after.walk("VTIMEZONE")[0].to_tz()
        local = exdate.dt.replace(tzinfo=None)
        assert local == datetime(2027, 3, 15, 18, 0)
        assert local.replace(tzinfo=tz).astimezone(UTC) == datetime(2027, 3, 15, 22, 0, tzinfo=UTC)
