"""The iCalendar attachment: one weekly recurring event per session, in the site's time zone.

UIDs are derived from the client and the session's slot (not from group or therapist ids, which
may spell out the track: "bos-1-sud-eve-a"), so the same slot keeps its UID across reschedules
and a calendar updates the entry instead of adding a second one.

A make-up (see iop_notifier/makeups.py) is one event of its own, without recurrence, whose UID
is derived from the client and the make-up's occasion (date and group), again never in clear.

Cancelled occurrences (closures, absences) are EXDATEs of their slot's event, at the
occurrence's local start in the event's TZID: a later request for the same UID with a higher
SEQUENCE replaces the event whole, so an occurrence whose cancellation is lifted simply loses its
EXDATE, and an extension simply moves UNTIL.
"""

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime, time
from zoneinfo import ZoneInfo

from icalendar import Calendar, Event, vCalAddress, vText
from iop_contracts.payloads import ClientMakeupScheduled, ClientScheduled
from iop_contracts.values import Delivery

from iop_notifier.domain.schedule_text import first_on_or_after
from iop_notifier.makeups import local_end, local_start
from iop_notifier.messages.occurrences import cancelled_occurrences
from iop_notifier.messages.schedule_slots import Slot, slots_of


@dataclass(frozen=True, slots=True)
class CalendarLabels:
    group: str
    individual: str
    in_person: str
    online: str
    questions: str


def event_uid(client_id: str, slot_key: str, domain: str) -> str:
    digest = hashlib.sha256(f"{client_id}:{slot_key}".encode()).hexdigest()[:32]
    return f"{digest}@{domain}"


def sequence_of(schedule_version: int, cancel: bool) -> int:
    """SEQUENCE must grow with every change a calendar should accept: a request for version v
    is 2v, its cancellation 2v+1, and a later version's request 2(v+1) is higher than both.
    Every change to a client's schedule (new times, a later end_date, a cancelled or reinstated
    occurrence) is a new schedule_version, so every update of a UID raises its SEQUENCE."""
    return 2 * schedule_version + (1 if cancel else 0)


def build_calendar(
    schedule: ClientScheduled,
    *,
    labels: CalendarLabels,
    organizer_email: str,
    organizer_name: str,
    attendee_email: str | None,
    domain: str,
    cancel: bool,
    stamp: datetime,
    only_slots: frozenset[str] | None = None,
    sequence_version: int | None = None,
) -> bytes:
    """An RFC 5545 calendar with METHOD:REQUEST (or METHOD:CANCEL) and its VTIMEZONE.

    `only_slots` limits it to some slots (the ones a reschedule dropped, cancelled with the
    new version's sequence number, `sequence_version`)."""
    zone = ZoneInfo(schedule.timezone)
    cal = Calendar()
    cal.add("prodid", f"-//{domain}//appointments//EN")
    cal.add("version", "2.0")
    cal.add("method", "CANCEL" if cancel else "REQUEST")
    for slot in slots_of(schedule):
        if only_slots is not None and slot.key not in only_slots:
            continue
        cal.add_component(
            _event(
                schedule,
                slot,
                zone=zone,
                labels=labels,
                organizer=_address(organizer_email, organizer_name),
                attendee=_address(attendee_email, None) if attendee_email else None,
                domain=domain,
                cancel=cancel,
                stamp=stamp,
                sequence=sequence_of(sequence_version or schedule.schedule_version, cancel),
                excluded=[] if cancel else _excluded(schedule, slot, zone),
            )
        )
    cal.add_missing_timezones()
    return bytes(cal.to_ical())


def _excluded(schedule: ClientScheduled, slot: Slot, zone: ZoneInfo) -> list[datetime]:
    """The slot's cancelled occurrences, as local start times in the event's zone (an EXDATE
    must equal the DTSTART of the instance it removes)."""
    return [
        datetime.combine(o.day, _time(o.start), tzinfo=zone)
        for o in cancelled_occurrences(schedule)
        if o.slot.key == slot.key
    ]


def _address(email: str, name: str | None) -> vCalAddress:
    address = vCalAddress(f"mailto:{email}")
    if name:
        address.params["cn"] = vText(name)
    return address


def _event(
    schedule: ClientScheduled,
    slot: Slot,
    *,
    zone: ZoneInfo,
    labels: CalendarLabels,
    organizer: vCalAddress,
    attendee: vCalAddress | None,
    domain: str,
    cancel: bool,
    stamp: datetime,
    sequence: int,
    excluded: list[datetime],
) -> Event:
    first = first_on_or_after(schedule.start_date, slot.day)
    event = Event()
    event.add("uid", event_uid(schedule.client_id, slot.key, domain))
    event.add("sequence", sequence)
    event.add("dtstamp", stamp.astimezone(UTC))
    event.add("dtstart", datetime.combine(first, _time(slot.start), tzinfo=zone))
    event.add("dtend", datetime.combine(first, _time(slot.end), tzinfo=zone))
    # UNTIL is UTC when DTSTART has a TZID (RFC 5545 3.3.10): the end of end_date, local time.
    until = datetime.combine(schedule.end_date, time(23, 59, 59), tzinfo=zone).astimezone(UTC)
    event.add("rrule", {"freq": "weekly", "until": until})
    if excluded:
        event.add("exdate", excluded)
    _describe(
        event,
        summary=labels.group if slot.kind == "group" else labels.individual,
        delivery=slot.delivery,
        labels=labels,
        organizer=organizer,
        attendee=attendee,
        cancel=cancel,
    )
    return event


def _describe(
    event: Event,
    *,
    summary: str,
    delivery: Delivery,
    labels: CalendarLabels,
    organizer: vCalAddress,
    attendee: vCalAddress | None,
    cancel: bool,
) -> None:
    """What every event says: a neutral title, in person or online, whom to call."""
    event.add("summary", summary)
    event.add("location", labels.online if delivery is Delivery.TELEHEALTH else labels.in_person)
    event.add("description", labels.questions)
    event.add("status", "CANCELLED" if cancel else "CONFIRMED")
    event.add("transp", "OPAQUE")
    event.add("organizer", organizer)
    if attendee is not None:
        attendee.params["rsvp"] = vText("FALSE")
        event.add("attendee", attendee)


def makeup_uid(client_id: str, occasion: str, domain: str) -> str:
    """A make-up's own UID: never one of the weekly slots' ("group-0", "individual")."""
    return event_uid(client_id, f"makeup:{occasion}", domain)


def build_makeup_calendar(
    makeup: ClientMakeupScheduled,
    *,
    occasion: str,
    labels: CalendarLabels,
    organizer_email: str,
    organizer_name: str,
    attendee_email: str,
    domain: str,
    stamp: datetime,
) -> bytes:
    """A METHOD:REQUEST calendar with one VEVENT (no RRULE, SEQUENCE 0) and its VTIMEZONE."""
    event = Event()
    event.add("uid", makeup_uid(makeup.client_id, occasion, domain))
    event.add("sequence", 0)
    event.add("dtstamp", stamp.astimezone(UTC))
    event.add("dtstart", local_start(makeup))
    event.add("dtend", local_end(makeup))
    _describe(
        event,
        summary=labels.group,
        delivery=makeup.delivery,
        labels=labels,
        organizer=_address(organizer_email, organizer_name),
        attendee=_address(attendee_email, None),
        cancel=False,
    )
    cal = Calendar()
    cal.add("prodid", f"-//{domain}//appointments//EN")
    cal.add("version", "2.0")
    cal.add("method", "REQUEST")
    cal.add_component(event)
    cal.add_missing_timezones()
    return bytes(cal.to_ical())


def _time(hhmm: str) -> time:
    hours, minutes = hhmm.split(":")
    return time(int(hours), int(minutes))
