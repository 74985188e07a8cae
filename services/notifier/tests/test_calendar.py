"""The .ics attachment parsed back with icalendar: right local times across a DST change, one
recurring event per session, stable UIDs across reschedules, CANCEL on unschedule."""

from datetime import UTC, datetime, timedelta
from email.message import EmailMessage

from dateutil.rrule import rrulestr
from icalendar import Calendar
from iop_notifier.domain.contacts import ContactCard
from iop_notifier.domain.ledger import Purpose
from iop_notifier.messages.render import Identity, render_email

from .factories import schedule

IDENTITY = Identity("Appointments", "a@example.org", "Appointments", "+1 555 0100", "ex.org")
NOW = datetime(2026, 10, 1, tzinfo=UTC)
CARD = ContactCard("c-1", "Ana", "en", "c-1@example.org", None, True, False)


def calendar_of(message: EmailMessage) -> tuple[Calendar, str]:
    [part] = [p for p in message.iter_attachments() if p.get_content_type() == "text/calendar"]
    return Calendar.from_ical(part.get_content()), str(part.get_param("method"))


def occurrences_utc(cal: Calendar) -> dict[str, list[datetime]]:
    """Expand each VEVENT with the VTIMEZONE shipped in the file (not the host's tz database):
    this is what a calendar program does, so it checks the file itself."""
    zones = {str(tz["TZID"]): tz.to_tz() for tz in cal.walk("VTIMEZONE")}
    out = {}
    for event in cal.walk("VEVENT"):
        start = event["DTSTART"]
        tz = zones[str(start.params["TZID"])]
        dtstart = start.dt.replace(tzinfo=None)
        rule = rrulestr(event["RRULE"].to_ical().decode(), dtstart=dtstart, ignoretz=True)
        until = event["RRULE"]["UNTIL"][0].astimezone(tz).replace(tzinfo=None)
        rule = rule.replace(until=until)
        out[str(event["UID"])] = [d.replace(tzinfo=tz).astimezone(UTC) for d in rule]
    return out


def test_weekly_events_keep_local_time_across_dst_end() -> None:
    # 2026-10-20 .. 2026-11-24 in New York: EDT (UTC-4) until Nov 1, EST (UTC-5) after.
    sched = schedule("c-1", start="2026-10-20", end="2026-11-24")
    cal, method = calendar_of(
        render_email(sched, CARD, Purpose.CONFIRM, IDENTITY, updated=False, now=NOW)
    )
    assert method == "REQUEST" and str(cal["METHOD"]) == "REQUEST"
    events = cal.walk("VEVENT")
    assert len(events) == 3  # mon + wed group sessions, sat individual
    by_summary: dict[str, int] = {}
    for event in events:
        by_summary[str(event["SUMMARY"])] = by_summary.get(str(event["SUMMARY"]), 0) + 1
        assert event["DTSTART"].params["TZID"] == "America/New_York"
        assert int(event["SEQUENCE"]) == 2
    assert by_summary == {"Group meeting": 2, "One-on-one appointment": 1}

    mondays = next(
        occ for occ in occurrences_utc(cal).values() if occ[0].astimezone(UTC).weekday() == 0
    )
    # 18:00 local: 22:00Z while on EDT, 23:00Z once on EST.
    assert mondays[0] == datetime(2026, 10, 26, 22, 0, tzinfo=UTC)
    assert mondays[1] == datetime(2026, 11, 2, 23, 0, tzinfo=UTC)
    assert mondays[-1] == datetime(2026, 11, 23, 23, 0, tzinfo=UTC)  # last before end_date
    assert len(mondays) == 5


def test_events_start_on_the_first_matching_day_and_end_by_end_date() -> None:
    sched = schedule("c-1", start="2026-10-20", end="2026-11-24")  # a Tuesday .. a Tuesday
    cal, _ = calendar_of(
        render_email(sched, CARD, Purpose.CONFIRM, IDENTITY, updated=False, now=NOW)
    )
    for occurrences in occurrences_utc(cal).values():
        assert occurrences[0].date() >= datetime(2026, 10, 20).date()
        assert occurrences[0] - timedelta(days=7) < datetime(2026, 10, 20, 4, tzinfo=UTC)
        assert occurrences[-1] < datetime(2026, 11, 25, 5, tzinfo=UTC)


def test_reschedule_keeps_uids_and_raises_sequence() -> None:
    first = render_email(
        schedule("c-1", 1), CARD, Purpose.CONFIRM, IDENTITY, updated=False, now=NOW
    )
    moved = schedule(
        "c-1",
        2,
        sessions=[
            {"day": "tue", "start": "17:30", "end": "20:30"},
            {"day": "thu", "start": "17:30", "end": "20:30"},
        ],
        rescheduled=True,
    )
    second = render_email(moved, CARD, Purpose.CONFIRM, IDENTITY, updated=True, now=NOW)
    cal1, _ = calendar_of(first)
    cal2, _ = calendar_of(second)
    uids1 = {str(e["UID"]) for e in cal1.walk("VEVENT")}
    uids2 = {str(e["UID"]) for e in cal2.walk("VEVENT")}
    assert uids1 == uids2 and len(uids2) == 3
    assert all(int(e["SEQUENCE"]) > 2 for e in cal2.walk("VEVENT"))
    assert "changed" in second.get_body(("plain",)).get_content()
    # UIDs reveal nothing: not the client id, not the group id.
    assert not any("c-1" in uid or "bos" in uid for uid in uids2)


def test_cancel_uses_the_same_uids_with_method_cancel() -> None:
    sched = schedule("c-1", 3)
    request, _ = calendar_of(
        render_email(sched, CARD, Purpose.CONFIRM, IDENTITY, updated=False, now=NOW)
    )
    cancel, method = calendar_of(
        render_email(sched, CARD, Purpose.CANCEL, IDENTITY, updated=False, now=NOW)
    )
    assert method == "CANCEL" and str(cancel["METHOD"]) == "CANCEL"
    assert {str(e["UID"]) for e in cancel.walk("VEVENT")} == {
        str(e["UID"]) for e in request.walk("VEVENT")
    }
    assert all(str(e["STATUS"]) == "CANCELLED" for e in cancel.walk("VEVENT"))
    assert all(int(e["SEQUENCE"]) == 7 for e in cancel.walk("VEVENT"))


def test_spanish_client_gets_spanish_titles() -> None:
    es = ContactCard("c-1", "Ana", "es-MX", "c-1@example.org", None, True, False)
    cal, _ = calendar_of(
        render_email(schedule("c-1"), es, Purpose.CONFIRM, IDENTITY, updated=False, now=NOW)
    )
    assert {str(e["SUMMARY"]) for e in cal.walk("VEVENT")} == {
        "Reunión de grupo",
        "Cita individual",
    }


def test_reschedule_with_fewer_sessions_cancels_the_dropped_slot() -> None:
    before = schedule(
        "c-1",
        1,
        sessions=[{"day": d, "start": "18:00", "end": "21:00"} for d in ("mon", "wed", "thu")],
    )
    after = schedule("c-1", 2, rescheduled=True)  # mon + wed only
    message = render_email(
        after, CARD, Purpose.CONFIRM, IDENTITY, updated=True, now=NOW, previous=before
    )
    calendars = {
        str(p.get_param("method")): Calendar.from_ical(p.get_content())
        for p in message.iter_attachments()
    }
    assert set(calendars) == {"REQUEST", "CANCEL"}
    old_uids = {
        str(e["UID"])
        for e in calendar_of(
            render_email(before, CARD, Purpose.CONFIRM, IDENTITY, updated=False, now=NOW)
        )[0].walk("VEVENT")
    }
    kept = {str(e["UID"]) for e in calendars["REQUEST"].walk("VEVENT")}
    [dropped] = calendars["CANCEL"].walk("VEVENT")
    assert kept | {str(dropped["UID"])} == old_uids and str(dropped["UID"]) not in kept
    assert int(dropped["SEQUENCE"]) > 2  # newer than the request that created it


# ---------------------------------------------------------------- cancelled occurrences


def exdates_utc(cal: Calendar) -> dict[str, list[datetime]]:
    """Each VEVENT's EXDATEs as instants, read the way `occurrences_utc` reads DTSTART: the
    local wall time in the TZID it names, with the VTIMEZONE shipped in the file."""
    zones = {str(tz["TZID"]): tz.to_tz() for tz in cal.walk("VTIMEZONE")}
    out: dict[str, list[datetime]] = {}
    for event in cal.walk("VEVENT"):
        found = event.get("EXDATE")
        lists = [] if found is None else found if isinstance(found, list) else [found]
        instants = []
        for exdate in lists:
            for value in exdate.dts:
                assert value.params["TZID"] == event["DTSTART"].params["TZID"]
                tz = zones[str(value.params["TZID"])]
                instants.append(value.dt.replace(tzinfo=None).replace(tzinfo=tz).astimezone(UTC))
        out[str(event["UID"])] = instants
    return out


def by_weekday(cal: Calendar) -> dict[int, str]:
    """Local weekday of each series' first occurrence -> its UID."""
    return {e["DTSTART"].dt.weekday(): str(e["UID"]) for e in cal.walk("VEVENT")}


def sequences(cal: Calendar) -> set[int]:
    return {int(e["SEQUENCE"]) for e in cal.walk("VEVENT")}


def update_of(
    previous: object, current: object, updated: bool = True
) -> tuple[EmailMessage, Calendar]:
    message = render_email(
        current,  # type: ignore[arg-type]
        CARD,
        Purpose.CONFIRM,
        IDENTITY,
        updated=updated,
        now=NOW,
        previous=previous,  # type: ignore[arg-type]
    )
    [part] = [p for p in message.iter_attachments() if p.get_content_type() == "text/calendar"]
    assert part.get_param("method") == "REQUEST"
    return message, Calendar.from_ical(part.get_content())


# Across the end of DST in New York (Nov 1): Monday Oct 26 is EDT (UTC-4), Monday Nov 2 EST.
CLOSED = [("2026-10-26", "group"), ("2026-11-02", "group"), ("2026-10-31", "individual")]


def test_cancelled_occurrences_are_exdates_at_their_local_start_across_dst() -> None:
    told = schedule("c-1", 1)
    _, before = update_of(None, told, updated=False)
    closed = schedule("c-1", 2, cancelled=CLOSED, rescheduled=True)
    message, after = update_of(told, closed)

    assert {str(e["UID"]) for e in after.walk("VEVENT")} == {
        str(e["UID"]) for e in before.walk("VEVENT")
    }
    assert min(sequences(after)) > max(sequences(before))
    uid = by_weekday(after)
    excluded = exdates_utc(after)
    assert excluded[uid[0]] == [  # Mondays 18:00 local, on both sides of the change
        datetime(2026, 10, 26, 22, 0, tzinfo=UTC),
        datetime(2026, 11, 2, 23, 0, tzinfo=UTC),
    ]
    assert excluded[uid[5]] == [datetime(2026, 10, 31, 13, 0, tzinfo=UTC)]  # Sat 09:00 EDT
    assert excluded[uid[2]] == []  # Wednesdays: nothing cancelled
    # Each EXDATE is one of the series' own instances (else a calendar would ignore it).
    instances = occurrences_utc(after)
    for series, instants in excluded.items():
        assert set(instants) <= set(instances[series])
    text = message.get_body(("plain",)).get_content()
    assert "Your group meeting on Monday, November 2, 2026 at 6:00 PM is cancelled." in text
    assert "after all" not in text and "have changed" not in text


def test_a_lifted_closure_loses_its_exdate_and_takes_place_after_all() -> None:
    closed = schedule("c-1", 2, cancelled=CLOSED, rescheduled=True)
    _, before = update_of(None, closed, updated=False)
    lifted = schedule("c-1", 3, cancelled=CLOSED[1:], rescheduled=True)  # Oct 26 is back
    message, after = update_of(closed, lifted)

    assert by_weekday(after) == by_weekday(before)
    assert min(sequences(after)) > max(sequences(before))
    assert exdates_utc(after)[by_weekday(after)[0]] == [datetime(2026, 11, 2, 23, 0, tzinfo=UTC)]
    text = message.get_body(("plain",)).get_content()
    assert "Monday, October 26, 2026 at 6:00 PM takes place after all." in text
    assert "November 2" not in text.split("Your weekly times")[0]  # unchanged: not repeated


def test_an_extension_moves_until_and_raises_sequence_on_the_same_uids() -> None:
    told = schedule("c-1", 1, end="2026-11-24")
    _, before = update_of(None, told, updated=False)
    longer = schedule("c-1", 2, end="2026-12-22", rescheduled=True)
    message, after = update_of(told, longer)

    assert [p.get_param("method") for p in message.iter_attachments()] == ["REQUEST"]
    assert by_weekday(after) == by_weekday(before)
    assert min(sequences(after)) > max(sequences(before))
    for event in after.walk("VEVENT"):  # the end of Dec 22, local (EST), as UTC
        assert event["RRULE"]["UNTIL"][0] == datetime(2026, 12, 23, 4, 59, 59, tzinfo=UTC)
    mondays = occurrences_utc(after)[by_weekday(after)[0]]
    assert mondays[-1] == datetime(2026, 12, 21, 23, 0, tzinfo=UTC)
    assert occurrences_utc(before)[by_weekday(before)[0]][-1] < mondays[-1]
    text = message.get_body(("plain",)).get_content()
    assert "stay the same, and now continue until Tuesday, December 22, 2026." in text


def test_a_reminder_carries_no_calendar() -> None:
    message = render_email(
        schedule("c-1"), CARD, Purpose.REMINDER, IDENTITY, updated=False, now=NOW
    )
    assert [p.get_content_type() for p in message.iter_attachments()] == []
    assert "Wednesday, October 21, 2026, 6:00 PM" in message.get_body(("plain",)).get_content()
