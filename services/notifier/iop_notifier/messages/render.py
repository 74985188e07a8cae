"""Compose the client's messages: email (text + HTML + .ics) and SMS, in the client's language.

Everything a message shows comes from here and the templates next to it, so the discretion test
can render every template in every language and check the result.

Templates per message (`template_of`): `confirm` (a first schedule), `update` (a change to one
the client was told of: new times, a later last day, occurrences cancelled or taking place after
all), `cancel` (the schedule withdrawn) and `reminder` (the day before the first session, with
no calendar file: it changes nothing in the calendar); `makeup` (one extra dated session) is
composed in makeup.py from the same parts. No message gives a reason for a
cancelled occurrence: a closure and a therapist's absence are both just "cancelled".
"""

import hashlib
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime, formataddr
from pathlib import Path

from iop_contracts.payloads import ClientScheduled
from iop_contracts.values import Delivery
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from iop_notifier.domain.contacts import ContactCard
from iop_notifier.domain.ledger import Purpose
from iop_notifier.domain.schedule_text import (
    clock,
    first_on_or_after,
    language_of,
    long_date,
    short_date,
    weekday_plural,
)
from iop_notifier.messages.calendar import CalendarLabels, build_calendar
from iop_notifier.messages.gsm import to_gsm7
from iop_notifier.messages.occurrences import (
    Occurrence,
    ScheduleChange,
    cancelled_occurrences,
    change_between,
    first_occurrence,
)
from iop_notifier.messages.schedule_slots import Slot, slots_of

SMS_MAX_CHARS = 160
TEMPLATES = Path(__file__).parent / "templates"

_ENV = Environment(
    loader=FileSystemLoader(TEMPLATES),
    autoescape=select_autoescape(enabled_extensions=("html.j2",), default_for_string=False),
    undefined=StrictUndefined,  # a missing value is a bug, not an empty string in a message
    keep_trailing_newline=False,
)

LABELS = {
    "en": CalendarLabels(
        group="Group meeting",
        individual="One-on-one appointment",
        in_person="in person",
        online="online, video link to follow",
        questions="Questions or changes: call {callback}",
    ),
    "es": CalendarLabels(
        group="Reunión de grupo",
        individual="Cita individual",
        in_person="en persona",
        online="en línea, el enlace de video llegará aparte",
        questions="Preguntas o cambios: llame al {callback}",
    ),
}


@dataclass(frozen=True, slots=True)
class Identity:
    """Who the messages come from: all of it configurable, all of it neutral."""

    sender_name: str
    sender_address: str
    network_name: str
    callback_number: str
    domain: str


@dataclass(frozen=True, slots=True)
class SessionView:
    label: str
    days: str
    start: str
    end: str
    place: str


@dataclass(frozen=True, slots=True)
class OccurrenceView:
    """One dated session, as a sentence names it."""

    label: str  # as a title: "Group meeting"
    what: str  # inside a sentence: "group meeting"
    day: str  # "Thursday, December 24, 2026"
    time: str  # "6:00 PM"


def template_of(purpose: Purpose, updated: bool) -> str:
    """The templates' name for a message (see the module docstring)."""
    if purpose is Purpose.CONFIRM:
        return "update" if updated else "confirm"
    return purpose.value


def message_id(client_id: str, schedule_version: int, purpose: Purpose, domain: str) -> str:
    """Stable per notice: a resend after an ambiguous failure carries the same Message-ID, which
    lets mail systems (and tests) recognise it as the same message."""
    key = f"{client_id}:{schedule_version}:{purpose.value}"
    return f"<{hashlib.sha256(key.encode()).hexdigest()[:32]}@{domain}>"


def calendar_labels(lang: str, identity: Identity) -> CalendarLabels:
    """The calendar's words in `lang`, with the sender's callback number."""
    base = LABELS[lang]
    return CalendarLabels(
        group=base.group,
        individual=base.individual,
        in_person=base.in_person,
        online=base.online,
        questions=base.questions.format(callback=identity.callback_number),
    )


def _label(slot: Slot, lang: str) -> str:
    labels = LABELS[lang]
    return labels.group if slot.kind == "group" else labels.individual


def _place(slot: Slot, lang: str) -> str:
    return place_of(slot.delivery, lang)


def place_of(delivery: Delivery, lang: str) -> str:
    """In person or online, as a message says it."""
    labels = LABELS[lang]
    return labels.online if delivery is Delivery.TELEHEALTH else labels.in_person


def render_template(lang: str, name: str, kind: str, context: dict[str, object]) -> str:
    """One template (`kind`: subject, txt, html or sms) of message `name` in `lang`."""
    return _ENV.get_template(f"{lang}/{name}.{kind}.j2").render(context)


def _first(schedule: ClientScheduled) -> Occurrence:
    """The first session that takes place; if none does, the first on the schedule."""
    found = first_occurrence(schedule)
    if found is not None:
        return found
    slot = min(
        slots_of(schedule), key=lambda s: (first_on_or_after(schedule.start_date, s.day), s.start)
    )
    return Occurrence(first_on_or_after(schedule.start_date, slot.day), slot.start, slot)


def _occurrence_view(occurrence: Occurrence, lang: str) -> OccurrenceView:
    label = _label(occurrence.slot, lang)
    return OccurrenceView(
        label=label,
        what=label[0].lower() + label[1:],
        day=long_date(occurrence.day, lang),
        time=clock(occurrence.start, lang),
    )


def _short_dates(occurrences: list[Occurrence], lang: str) -> list[str]:
    """Distinct dates, for SMS: a group meeting and a one-on-one the same day are one date."""
    return [short_date(day, lang) for day in sorted({o.day for o in occurrences})]


def _context(
    schedule: ClientScheduled,
    card: ContactCard,
    lang: str,
    identity: Identity,
    change: ScheduleChange,
) -> dict[str, object]:
    sessions = [
        SessionView(
            label=_label(slot, lang),
            days=weekday_plural(slot.day, lang),
            start=clock(slot.start, lang),
            end=clock(slot.end, lang),
            place=_place(slot, lang),
        )
        for slot in slots_of(schedule)
    ]
    first = _first(schedule)
    return {
        "first_name": card.first_name,
        "sessions": sessions,
        "first_visit": f"{long_date(first.day, lang)}, {clock(first.start, lang)}",
        "first_visit_short": short_date(first.day, lang),
        "first_time": clock(first.start, lang),
        "first_label": _label(first.slot, lang),
        "first_place": _place(first.slot, lang),
        "last_day": long_date(schedule.end_date, lang),
        "last_day_short": short_date(schedule.end_date, lang),
        "timezone": schedule.timezone,
        "times_changed": change.times_changed,
        "end_changed": change.end_changed,
        "cancelled": [_occurrence_view(o, lang) for o in change.cancelled],
        "cancelled_dates": _short_dates(change.cancelled, lang),
        "reinstated": [_occurrence_view(o, lang) for o in change.reinstated],
        "reinstated_dates": _short_dates(change.reinstated, lang),
        "brief": False,
        "callback_number": identity.callback_number,
        "network_name": identity.network_name,
        "sender_name": identity.sender_name,
    }


def _change(
    schedule: ClientScheduled, previous: ClientScheduled | None, updated: bool
) -> ScheduleChange:
    """What the message tells: for an update, the change since `previous`; otherwise the
    schedule as it is (its cancelled occurrences among it)."""
    if updated:
        return change_between(previous, schedule)
    return ScheduleChange(False, False, cancelled_occurrences(schedule), [])


def render_email(
    schedule: ClientScheduled,
    card: ContactCard,
    purpose: Purpose,
    identity: Identity,
    *,
    updated: bool,
    now: datetime,
    previous: ClientScheduled | None = None,
) -> EmailMessage:
    """The whole email, addressed to the client, with its calendar attachment (none for a
    reminder).

    A reschedule that has fewer sessions than `previous` (what the client was last sent) also
    carries a METHOD:CANCEL attachment for the slots that are gone: keeping UIDs per slot
    updates the others in place, but a slot that no longer exists must be removed explicitly.
    """
    if card.email is None:
        raise ValueError("client has no email address")
    _about_a_schedule(purpose)
    lang = language_of(card.language)
    updated = updated and purpose is Purpose.CONFIRM
    context = _context(schedule, card, lang, identity, _change(schedule, previous, updated))
    name = template_of(purpose, updated)
    cancel = purpose is Purpose.CANCEL
    message = EmailMessage()
    message["From"] = formataddr((identity.sender_name, identity.sender_address))
    message["To"] = card.email
    message["Subject"] = _ENV.get_template(f"{lang}/{name}.subject.j2").render(context).strip()
    message["Date"] = format_datetime(now)
    message["Message-ID"] = message_id(
        schedule.client_id, schedule.schedule_version, purpose, identity.domain
    )
    message.set_content(_ENV.get_template(f"{lang}/{name}.txt.j2").render(context))
    message.add_alternative(_ENV.get_template(f"{lang}/{name}.html.j2").render(context), "html")
    if purpose is Purpose.REMINDER:
        return message
    ics = build_calendar(
        schedule,
        labels=calendar_labels(lang, identity),
        organizer_email=identity.sender_address,
        organizer_name=identity.sender_name,
        attendee_email=card.email,
        domain=identity.domain,
        cancel=cancel,
        stamp=now,
    )
    method = "CANCEL" if cancel else "REQUEST"
    message.add_attachment(
        ics,
        maintype="text",
        subtype="calendar",
        filename="cancel.ics" if cancel else "invite.ics",
        params={"method": method, "charset": "utf-8"},
    )
    dropped = _dropped_slots(previous, schedule) if not cancel else frozenset()
    if previous is not None and dropped:
        removal = build_calendar(
            previous,
            labels=calendar_labels(lang, identity),
            organizer_email=identity.sender_address,
            organizer_name=identity.sender_name,
            attendee_email=card.email,
            domain=identity.domain,
            cancel=True,
            stamp=now,
            only_slots=dropped,
            sequence_version=schedule.schedule_version,
        )
        message.add_attachment(
            removal,
            maintype="text",
            subtype="calendar",
            filename="cancel.ics",
            params={"method": "CANCEL", "charset": "utf-8"},
        )
    return message


def _about_a_schedule(purpose: Purpose) -> None:
    """A make-up is one dated session, not a schedule: makeup.py renders it."""
    if purpose is Purpose.MAKEUP:
        raise ValueError("a make-up is rendered by messages/makeup.py, not as a schedule")


def _dropped_slots(previous: ClientScheduled | None, current: ClientScheduled) -> frozenset[str]:
    if previous is None:
        return frozenset()
    keep = {slot.key for slot in slots_of(current)}
    return frozenset(slot.key for slot in slots_of(previous) if slot.key not in keep)


def render_sms(
    schedule: ClientScheduled,
    card: ContactCard,
    purpose: Purpose,
    identity: Identity,
    *,
    updated: bool,
    previous: ClientScheduled | None = None,
) -> str:
    """One SMS of at most 160 GSM-7 characters; ValueError when the settings make it longer.

    An update that does not fit (new times and several dates) is sent in its brief form, which
    says that appointments changed and whom to call."""
    _about_a_schedule(purpose)
    lang = language_of(card.language)
    updated = updated and purpose is Purpose.CONFIRM
    context = _context(schedule, card, lang, identity, _change(schedule, previous, updated))
    template = _ENV.get_template(f"{lang}/{template_of(purpose, updated)}.sms.j2")
    body = to_gsm7(template.render(context).strip())
    if len(body) > SMS_MAX_CHARS and updated:
        body = to_gsm7(template.render({**context, "brief": True}).strip())
    return fit_sms(body)


def render_help_sms(identity: Identity) -> str:
    """The one reply to HELP, in English and Spanish for every number: a reply that depended on
    the number (its client's language) would tell anyone who asks that it is a client's."""
    context = {"network_name": identity.network_name, "callback_number": identity.callback_number}
    return fit_sms(to_gsm7(_ENV.get_template("help.sms.j2").render(context).strip()))


def fit_sms(body: str) -> str:
    """`body`, when it fits one SMS; else ValueError (a message is never split or cut)."""
    if len(body) > SMS_MAX_CHARS:
        raise ValueError(f"SMS body is {len(body)} characters, more than {SMS_MAX_CHARS}")
    return body
