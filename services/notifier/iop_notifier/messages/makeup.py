"""The make-up's messages: an email with a one-off calendar invite, and an SMS.

They name the session as every other message names a group session ("Group meeting", in person
or online) with its date and local times, and say that the weekly times stay as they are;
nothing about the group, its track or its modality (see iop_notifier/makeups.py).
"""

import hashlib
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime, formataddr

from iop_contracts.payloads import ClientMakeupScheduled

from iop_notifier.domain.contacts import ContactCard
from iop_notifier.domain.schedule_text import clock, language_of, long_date, short_date
from iop_notifier.messages.calendar import build_makeup_calendar
from iop_notifier.messages.gsm import to_gsm7
from iop_notifier.messages.render import (
    LABELS,
    Identity,
    calendar_labels,
    fit_sms,
    place_of,
    render_template,
)

TEMPLATE = "makeup"


def makeup_message_id(client_id: str, occasion: str, domain: str) -> str:
    """Stable per make-up, like a schedule's message id: a resend carries the same one."""
    key = f"{client_id}:makeup:{occasion}"
    return f"<{hashlib.sha256(key.encode()).hexdigest()[:32]}@{domain}>"


def _context(
    makeup: ClientMakeupScheduled, card: ContactCard, lang: str, identity: Identity
) -> dict[str, object]:
    return {
        "first_name": card.first_name,
        "label": LABELS[lang].group,
        "day": long_date(makeup.date, lang),
        "day_short": short_date(makeup.date, lang),
        "start": clock(makeup.start, lang),
        "end": clock(makeup.end, lang),
        "place": place_of(makeup.delivery, lang),
        "timezone": makeup.timezone,
        "callback_number": identity.callback_number,
        "network_name": identity.network_name,
        "sender_name": identity.sender_name,
    }


def render_makeup_email(
    makeup: ClientMakeupScheduled,
    card: ContactCard,
    identity: Identity,
    *,
    occasion: str,
    now: datetime,
) -> EmailMessage:
    """The whole email, addressed to the client, with the invite (invite.ics) attached."""
    if card.email is None:
        raise ValueError("client has no email address")
    lang = language_of(card.language)
    context = _context(makeup, card, lang, identity)
    message = EmailMessage()
    message["From"] = formataddr((identity.sender_name, identity.sender_address))
    message["To"] = card.email
    message["Subject"] = render_template(lang, TEMPLATE, "subject", context).strip()
    message["Date"] = format_datetime(now)
    message["Message-ID"] = makeup_message_id(makeup.client_id, occasion, identity.domain)
    message.set_content(render_template(lang, TEMPLATE, "txt", context))
    message.add_alternative(render_template(lang, TEMPLATE, "html", context), "html")
    ics = build_makeup_calendar(
        makeup,
        occasion=occasion,
        labels=calendar_labels(lang, identity),
        organizer_email=identity.sender_address,
        organizer_name=identity.sender_name,
        attendee_email=card.email,
        domain=identity.domain,
        stamp=now,
    )
    message.add_attachment(
        ics,
        maintype="text",
        subtype="calendar",
        filename="invite.ics",
        params={"method": "REQUEST", "charset": "utf-8"},
    )
    return message


def render_makeup_sms(makeup: ClientMakeupScheduled, card: ContactCard, identity: Identity) -> str:
    """One SMS of at most 160 GSM-7 characters; ValueError when the settings make it longer."""
    lang = language_of(card.language)
    context = _context(makeup, card, lang, identity)
    return fit_sms(to_gsm7(render_template(lang, TEMPLATE, "sms", context).strip()))
