"""Updates, reminders and purposes through the worker: a real SQLite ledger, fake transports and
an injected clock. Cancelled occurrences go out as one update (EXDATE, SEQUENCE raised), a past
cancellation the scheduler no longer lists is kept, the reminder goes at 09:00 local the day
before the first session that takes place (once), and a completion sends nothing."""

import sqlite3
from datetime import UTC, date, datetime, time
from email.message import EmailMessage
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from icalendar import Calendar
from iop_contracts.envelope import new_event
from iop_contracts.payloads import ClientCompleted, ClientScheduled
from iop_contracts.values import Channel
from iop_notifier.adapters.kafka_io import ScheduleRecorder
from iop_notifier.adapters.ledger_sqlite import SqliteLedger
from iop_notifier.domain.ledger import DeliveryKey, DeliveryState, Purpose
from iop_notifier.errors import TransientDeliveryError
from iop_notifier.outcomes import outcome_event
from iop_notifier.reminders import reminder_timing

from .factories import schedule
from .test_worker import Harness

NY = ZoneInfo("America/New_York")
# Mondays and Wednesdays 18:00 (group), Saturdays 09:00 (one-on-one); starts Monday Dec 7.
START, END = "2026-12-07", "2027-01-25"


@pytest.fixture
def h(tmp_path: Path) -> Harness:
    return Harness(tmp_path, now=datetime(2026, 12, 1, 12, 0, tzinfo=NY))


def record(h: Harness, payload: ClientScheduled, published_on: date | None = None) -> bool:
    return h.ledger.record_schedule(
        event_id=f"ev-{payload.client_id}-{payload.schedule_version}",
        client_id=payload.client_id,
        schedule_version=payload.schedule_version,
        schedule_json=payload.model_dump_json(),
        correlation_id="corr",
        published_on=published_on,
    )


def at(h: Harness, *when: int) -> None:
    h.clock.set(datetime(*when, tzinfo=NY))  # type: ignore[misc]


def sched(version: int, **kwargs: Any) -> ClientScheduled:
    kwargs.setdefault("start", START)
    kwargs.setdefault("end", END)
    return schedule("c-1", version, rescheduled=version > 1, **kwargs)


def body(message: EmailMessage) -> str:
    return str(message.get_body(("plain",)).get_content())  # type: ignore[union-attr]


def calendars(message: EmailMessage) -> list[Calendar]:
    return [
        Calendar.from_ical(p.get_content())
        for p in message.iter_attachments()
        if p.get_content_type() == "text/calendar"
    ]


def exdates(message: EmailMessage) -> set[datetime]:
    [cal] = calendars(message)
    found = set()
    for event in cal.walk("VEVENT"):
        if "EXDATE" in event:
            found |= {value.dt for value in event["EXDATE"].dts}
    return found


def purposes(h: Harness) -> list[tuple[str, str, int, str]]:
    return [
        (e.type.removeprefix("iop.notification."), e.data["channel"], e.data["schedule_version"],
         e.data["purpose"])
        for e in h.published.events
    ]  # fmt: skip


# ---------------------------------------------------------------- cancelled occurrences


async def test_a_reschedule_that_only_cancels_is_one_update_email(h: Harness) -> None:
    h.contact("c-1")
    record(h, sched(1))
    await h.worker.run_once()
    record(h, sched(2, cancelled=[("2026-12-24", "group")]))  # not a Mon/Wed: nothing to tell
    record(h, sched(3, cancelled=[("2026-12-23", "group")]))
    await h.worker.run_once()

    first, update = h.email.sent
    assert update["Subject"] == "Changes to your appointments"
    assert [p.get_param("method") for p in update.iter_attachments()] == ["REQUEST"]
    assert exdates(update) == {datetime(2026, 12, 23, 18, 0, tzinfo=NY)}
    assert "Your group meeting on Wednesday, December 23, 2026 at 6:00 PM is cancelled." in (
        body(update)
    )
    [before], [after] = calendars(first), calendars(update)
    assert {str(e["UID"]) for e in after.walk("VEVENT")} == {
        str(e["UID"]) for e in before.walk("VEVENT")
    }
    assert {int(e["SEQUENCE"]) for e in after.walk("VEVENT")} == {6}  # version 3
    assert ("sent", "email", 1, "confirmation") in purposes(h)
    assert ("sent", "email", 3, "update") in purposes(h)
    assert ("suppressed", "sms", 3, "update") in purposes(h)  # no SMS consent


async def test_a_past_cancellation_left_out_is_kept_and_a_lifted_one_is_not(h: Harness) -> None:
    """The scheduler lists only cancellations from the day it publishes: Dec 9's, published on
    Dec 10, is left out because it is past. The calendar keeps its EXDATE and no message says
    it takes place after all; Dec 23's, missing from a list published before it, was lifted."""
    h.contact("c-1")
    record(h, sched(1), published_on=date(2026, 12, 1))
    record(h, sched(2, cancelled=[("2026-12-09", "group")]), published_on=date(2026, 12, 1))
    await h.worker.run_once()
    at(h, 2026, 12, 10, 12, 0)
    record(h, sched(3, cancelled=[("2026-12-23", "group")]), published_on=date(2026, 12, 10))
    await h.worker.run_once()
    record(h, sched(4), published_on=date(2026, 12, 10))
    await h.worker.run_once()

    _, third, fourth = h.email.sent
    dec9, dec23 = (datetime(2026, 12, d, 18, 0, tzinfo=NY) for d in (9, 23))
    assert exdates(third) == {dec9, dec23}
    assert "December 23, 2026 at 6:00 PM is cancelled." in body(third)
    assert "December 9" not in body(third)
    assert exdates(fourth) == {dec9}
    assert "Wednesday, December 23, 2026 at 6:00 PM takes place after all." in body(fourth)
    assert "December 9" not in body(fourth)


async def test_a_reschedule_superseded_before_it_went_out_is_not_the_one_told(
    h: Harness,
) -> None:
    """v2 (Dec 23 cancelled) is replaced by v3 (lifted) before its email goes: the client was
    only ever told v1, so v3 says nothing about Dec 23."""
    h.contact("c-1")
    record(h, sched(1))
    await h.worker.run_once()
    record(h, sched(2, cancelled=[("2026-12-23", "group")]))
    record(h, sched(3))
    await h.worker.run_once()
    _, update = h.email.sent
    assert "December 23" not in body(update) and exdates(update) == set()


# ---------------------------------------------------------------- reminders


async def test_the_reminder_goes_at_nine_the_day_before_the_first_session_once(
    h: Harness,
) -> None:
    h.contact("c-1")
    record(h, sched(1))
    await h.worker.run_once()
    assert len(h.email.sent) == 1

    at(h, 2026, 12, 6, 8, 59)
    await h.worker.run_once()
    assert len(h.email.sent) == 1
    at(h, 2026, 12, 6, 9, 0)
    await h.worker.run_once()
    assert len(h.email.sent) == 2
    reminder = h.email.sent[1]
    assert reminder["Subject"] == "Appointment reminder"
    assert list(reminder.iter_attachments()) == []
    assert "Monday, December 7, 2026, 6:00 PM" in body(reminder)
    for when in ((2026, 12, 6, 18, 0), (2026, 12, 7, 12, 0), (2026, 12, 13, 9, 0)):
        at(h, *when)
        await h.worker.run_once()
    assert len(h.email.sent) == 2
    assert ("sent", "email", 1, "reminder") in purposes(h)
    assert ("suppressed", "sms", 1, "reminder") in purposes(h)
    sent = next(e for e in h.published.events if e.data["purpose"] == "reminder")
    assert sent.data["reason"] == "reminder"


async def test_a_reminder_for_a_cancelled_start_is_about_the_next_session(h: Harness) -> None:
    h.contact("c-1")
    record(h, sched(1))
    await h.worker.run_once()
    record(h, sched(2, cancelled=[("2026-12-07", "group")]))  # a closure on the first day
    await h.worker.run_once()
    assert len(h.email.sent) == 2

    at(h, 2026, 12, 6, 9, 30)
    await h.worker.run_once()
    assert len(h.email.sent) == 2  # nothing takes place on Dec 7
    at(h, 2026, 12, 8, 9, 0)
    await h.worker.run_once()
    reminder = h.email.sent[2]
    assert reminder["Subject"] == "Appointment reminder"
    assert "Wednesday, December 9, 2026, 6:00 PM" in body(reminder)


async def test_no_reminder_when_the_schedule_is_first_told_inside_the_window(
    h: Harness,
) -> None:
    at(h, 2026, 12, 6, 10, 0)
    h.contact("c-1")
    record(h, sched(1))
    for when in ((2026, 12, 6, 10, 0), (2026, 12, 6, 12, 0), (2026, 12, 7, 9, 0)):
        at(h, *when)
        await h.worker.run_once()
    assert [m["Subject"] for m in h.email.sent] == ["Your appointment times"]


async def test_no_reminder_after_the_schedule_is_withdrawn(h: Harness) -> None:
    h.contact("c-1")
    record(h, sched(1))
    await h.worker.run_once()
    h.ledger.record_cancel(event_id="ev-cancel", client_id="c-1", correlation_id=None)
    await h.worker.run_once()
    at(h, 2026, 12, 6, 9, 0)
    await h.worker.run_once()
    assert [m["Subject"] for m in h.email.sent] == [
        "Your appointment times",
        "Your appointment times were cancelled",
    ]
    assert ("sent", "email", 1, "cancellation") in purposes(h)


async def test_a_reminder_the_notifier_only_reaches_after_the_session_is_dropped(
    h: Harness,
) -> None:
    h.contact("c-1")
    record(h, sched(1))
    await h.worker.run_once()
    at(h, 2026, 12, 7, 18, 30)  # down from before 09:00 the day before until after the start
    await h.worker.run_once()
    assert len(h.email.sent) == 1 and h.ledger.due_reminders(h.clock()) == []


async def test_the_reminder_sms_waits_for_the_daily_cap_but_not_past_the_session(
    tmp_path: Path,
) -> None:
    """Saturday Dec 12 at 09:00 is the first session (a one-on-one): its reminder is due Friday
    at 09:00, but an SMS already went that day. Tomorrow 08:00 is still before the session;
    a worker that only runs again after 09:00 drops it (expired)."""
    for late in (False, True):
        h = Harness(tmp_path / str(late), now=datetime(2026, 12, 11, 8, 30, tzinfo=NY))
        h.contact("c-1", sms_consent=True)
        record(h, sched(1, start="2026-12-12"))
        await h.worker.run_once()
        assert len(h.sms.sent) == 1  # the confirmation, 08:30 Friday
        at(h, 2026, 12, 11, 9, 0)
        await h.worker.run_once()
        assert h.email.sent[-1]["Subject"] == "Appointment reminder"
        key = DeliveryKey("c-1", 1, Purpose.REMINDER, Channel.SMS)
        assert h.state("c-1", 1, Channel.SMS, Purpose.REMINDER) is DeliveryState.DEFERRED
        deferred = h.ledger.get(key)
        assert deferred is not None
        assert deferred.next_attempt_at == datetime(2026, 12, 12, 8, 0, tzinfo=NY)
        at(h, 2026, 12, 12, 9, 30) if late else at(h, 2026, 12, 12, 8, 0)
        await h.worker.run_once()
        if late:
            assert len(h.sms.sent) == 1
            assert h.state("c-1", 1, Channel.SMS, Purpose.REMINDER) is DeliveryState.SUPPRESSED
            assert ("suppressed", "sms", 1, "reminder") in purposes(h)
        else:
            assert len(h.sms.sent) == 2 and "Sat Dec 12 9:00 AM" in h.sms.sent[1][1]


async def test_one_reminder_per_start_and_a_new_start_gets_its_own(h: Harness) -> None:
    h.contact("c-1")
    record(h, sched(1))
    await h.worker.run_once()
    at(h, 2026, 12, 6, 9, 0)
    await h.worker.run_once()
    record(h, sched(2, cancelled=[("2026-12-07", "group")]))  # after the reminder went
    at(h, 2026, 12, 8, 9, 0)
    await h.worker.run_once()
    assert [m["Subject"] for m in h.email.sent].count("Appointment reminder") == 1

    moved = sched(
        3, start="2026-12-14", sessions=[{"day": "tue", "start": "17:00", "end": "20:00"}]
    )
    record(h, moved)
    await h.worker.run_once()
    at(h, 2026, 12, 14, 9, 0)  # the new first session: Tuesday Dec 15, 17:00
    await h.worker.run_once()
    subjects = [m["Subject"] for m in h.email.sent]
    assert subjects.count("Appointment reminder") == 2
    assert "Tuesday, December 15, 2026, 5:00 PM" in body(h.email.sent[-1])


def test_reminder_time_is_local_on_both_sides_of_a_dst_change() -> None:
    # First session Monday Nov 2 (EST); the day before, Nov 1, is the day the clocks go back.
    timing = reminder_timing(schedule("c-1", start="2026-11-02", end="2026-11-30"), time(9, 0))
    assert timing is not None
    assert timing.due_at == datetime(2026, 11, 1, 14, 0, tzinfo=UTC)  # 09:00 EST
    assert timing.session_at == datetime(2026, 11, 2, 23, 0, tzinfo=UTC)  # 18:00 EST
    before = reminder_timing(schedule("c-1", start="2026-10-26", end="2026-11-30"), time(9, 0))
    assert before is not None and before.due_at == datetime(2026, 10, 25, 13, 0, tzinfo=UTC)


async def test_a_waiting_reminder_outlives_a_reschedule_that_keeps_its_session(
    h: Harness,
) -> None:
    """A reminder whose email is waiting for a retry is not superseded by a reschedule that
    leaves the first session alone; one that cancels that session does supersede it."""
    h.contact("c-1")
    record(h, sched(1))
    await h.worker.run_once()
    at(h, 2026, 12, 6, 9, 0)
    h.email.failures = [TransientDeliveryError("smtp_unreachable")]
    await h.worker.run_once()
    assert h.state("c-1", 1, Channel.EMAIL, Purpose.REMINDER) is DeliveryState.PENDING
    record(h, sched(2, cancelled=[("2026-12-23", "group")]))
    await h.worker.run_once()
    h.clock.advance(minutes=1)
    await h.worker.run_once()
    assert h.state("c-1", 1, Channel.EMAIL, Purpose.REMINDER) is DeliveryState.SENT
    assert [m["Subject"] for m in h.email.sent][1:] == [
        "Changes to your appointments",
        "Appointment reminder",
    ]


async def test_a_waiting_reminder_whose_session_is_cancelled_is_superseded(h: Harness) -> None:
    h.contact("c-1")
    record(h, sched(1))
    await h.worker.run_once()
    at(h, 2026, 12, 6, 9, 0)
    h.email.failures = [TransientDeliveryError("smtp_unreachable")]
    await h.worker.run_once()
    record(h, sched(2, cancelled=[("2026-12-07", "group")]))
    h.clock.advance(minutes=1)
    await h.worker.run_once()
    assert h.state("c-1", 1, Channel.EMAIL, Purpose.REMINDER) is DeliveryState.SUPERSEDED
    assert [m["Subject"] for m in h.email.sent][1:] == ["Changes to your appointments"]


# ---------------------------------------------------------------- completion


async def test_a_completion_is_read_and_sends_nothing(h: Harness) -> None:
    h.contact("c-1")
    record(h, sched(1))
    await h.worker.run_once()
    published = len(h.published.events)
    recorder = ScheduleRecorder(h.metrics, h.worker.wake)
    recorder.open(h.ledger)
    completed = new_event(
        ClientCompleted(
            client_id="c-1", region_id="ne", schedule_version=1, end_date=date(2027, 1, 25)
        ),
        source="/tests",
    )
    await recorder(completed, None)  # type: ignore[arg-type]
    assert h.ledger.mark_seen(completed.id) is False  # it was read
    at(h, 2027, 1, 26, 9, 0)
    await h.worker.run_once()
    assert len(h.email.sent) == 1 and len(h.published.events) == published


def test_a_ledger_from_before_purposes_opens_and_reports_its_rows_as_confirmations(
    tmp_path: Path,
) -> None:
    path = tmp_path / "old.sqlite3"
    db = sqlite3.connect(path)
    db.executescript(OLD_DELIVERIES)
    db.execute(
        "INSERT INTO deliveries (client_id, schedule_version, purpose, channel, state, "
        "next_attempt_at, cause_event_id, updated_at) VALUES ('c-1', 2, 'confirm', 'email', "
        "'sent', '2026-12-01T00:00:00+00:00', 'ev', '2026-12-01T00:00:00+00:00')"
    )
    db.commit()
    db.close()
    ledger = SqliteLedger(path)
    [delivery] = ledger.deliveries_of("c-1")
    assert delivery.updated is False
    assert outcome_event(delivery).data["purpose"] == "confirmation"


OLD_DELIVERIES = """
CREATE TABLE deliveries (
    client_id TEXT NOT NULL, schedule_version INTEGER NOT NULL, purpose TEXT NOT NULL,
    channel TEXT NOT NULL, state TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TEXT NOT NULL, reason TEXT, sent_at TEXT,
    reported INTEGER NOT NULL DEFAULT 0, cause_event_id TEXT NOT NULL, correlation_id TEXT,
    updated_at TEXT NOT NULL, PRIMARY KEY (client_id, schedule_version, purpose, channel)
);
"""
