"""The renderer at the edges of the contract's date window: the latest and earliest schedule the
contract admits render to email, calendar and SMS in the zones furthest from UTC (no
OverflowError, which once made a schedule ending 9999-12-31 fail on every round)."""

from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from email.message import EmailMessage
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from icalendar import Calendar
from iop_contracts import TODAY_ENV, date_window
from iop_notifier.domain.contacts import ContactCard
from iop_notifier.domain.ledger import Purpose
from iop_notifier.domain.schedule_text import long_date
from iop_notifier.makeups import occasion_of
from iop_notifier.messages.makeup import render_makeup_email, render_makeup_sms
from iop_notifier.messages.render import SMS_MAX_CHARS, Identity, render_email, render_sms
from iop_notifier.reminders import reminder_timing

from .factories import makeup, schedule

IDENTITY = Identity("Appointments", "a@example.org", "Appointments", "+1 555 0100", "ex.org")
CARD = ContactCard("c-1", "Ana", "en", "c-1@example.org", "+16175550101", True, True)
# The zones furthest ahead of and behind UTC, and one that changes offset during the year.
ZONES = ["Pacific/Kiritimati", "Pacific/Pago_Pago", "America/New_York"]
PROGRAMME = timedelta(weeks=16, days=-1)


@pytest.fixture(autouse=True)
def pinned_today(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv(TODAY_ENV, "2026-11-30")
    yield


def _edges() -> list[tuple[date, date]]:
    window = date_window(date(2026, 11, 30), derived=True)
    return [
        (window.last - PROGRAMME, window.last),  # the longest programme, ending on the last day
        (window.last, window.last),  # a one-day schedule on the very last day
        (window.first, window.first + PROGRAMME),  # the earliest start there can be
    ]


def _calendar(message: EmailMessage) -> Calendar:
    [part] = [p for p in message.iter_attachments() if p.get_content_type() == "text/calendar"]
    return Calendar.from_ical(part.get_content())


# Every message about a schedule: (purpose, updated); an update of a schedule told with another
# end. A make-up is one dated session, rendered on its own (below).
MESSAGES = [(p, False) for p in Purpose if p is not Purpose.MAKEUP] + [(Purpose.CONFIRM, True)]


@pytest.mark.parametrize("zone", ZONES)
@pytest.mark.parametrize(("start", "end"), _edges())
@pytest.mark.parametrize(("purpose", "updated"), MESSAGES)
def test_schedules_at_the_window_edges_render_everywhere(
    zone: str, start: date, end: date, purpose: Purpose, updated: bool
) -> None:
    sched = schedule("c-1", start=start.isoformat(), end=end.isoformat(), timezone=zone)
    told = schedule("c-1", start=start.isoformat(), end=start.isoformat(), timezone=zone)
    now = datetime(2026, 11, 30, 12, tzinfo=UTC)
    message = render_email(sched, CARD, purpose, IDENTITY, updated=updated, now=now, previous=told)
    sms = render_sms(sched, CARD, purpose, IDENTITY, updated=updated, previous=told)
    assert 0 < len(sms) <= SMS_MAX_CHARS
    if purpose is Purpose.REMINDER:  # no calendar: a reminder changes nothing in it
        assert not [p for p in message.iter_attachments() if p.get_content_maintype() == "text"]
        timing = reminder_timing(sched, time(9, 0))
        assert timing is None or timing.due_at < timing.session_at
        return
    events: list[Any] = _calendar(message).walk("VEVENT")  # icalendar's property types vary
    assert len(events) == 3
    local_end_of_day = datetime.combine(end, time(23, 59, 59), tzinfo=ZoneInfo(zone))
    for event in events:
        first = event["DTSTART"].dt
        assert start <= first.date() < start + timedelta(days=7)
        assert event["RRULE"]["UNTIL"][0] == local_end_of_day.astimezone(UTC)
    if purpose is Purpose.CONFIRM:
        assert long_date(end, "en") in message.get_body(("plain",)).get_content()


@pytest.mark.parametrize("zone", ZONES)
@pytest.mark.parametrize("day", sorted({day for edge in _edges() for day in edge}))
def test_makeups_at_the_window_edges_render_everywhere(zone: str, day: date) -> None:
    session = makeup("c-1", day, timezone=zone)
    now = datetime(2026, 11, 30, 12, tzinfo=UTC)
    message = render_makeup_email(session, CARD, IDENTITY, occasion=occasion_of(session), now=now)
    assert 0 < len(render_makeup_sms(session, CARD, IDENTITY)) <= SMS_MAX_CHARS
    events: list[Any] = _calendar(message).walk("VEVENT")  # icalendar's property types vary
    [event] = events
    assert event["DTSTART"].dt.date() == day
    body: Any = message.get_body(("plain",))
    assert long_date(day, "en") in body.get_content()


def test_a_makeup_is_not_rendered_as_a_schedule() -> None:
    sched = schedule("c-1")
    now = datetime(2026, 11, 30, 12, tzinfo=UTC)
    with pytest.raises(ValueError, match="make-up"):
        render_email(sched, CARD, Purpose.MAKEUP, IDENTITY, updated=False, now=now)
    with pytest.raises(ValueError, match="make-up"):
        render_sms(sched, CARD, Purpose.MAKEUP, IDENTITY, updated=False)
