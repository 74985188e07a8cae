"""The make-up's messages, rendered: a one-off calendar invite (one VEVENT, no RRULE, SEQUENCE 0,
local times with their TZID, a UID of its own that a resend keeps), an email and an SMS that
name the date, time and place and nothing of the kind of care, in English and Spanish.

Today is pinned (IOP_TODAY) so that the contract's date window admits the dates used here on
any day the suite runs."""

import dataclasses
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from email.message import EmailMessage
from typing import Any

import pytest
from icalendar import Calendar
from iop_contracts import TODAY_ENV
from iop_contracts.payloads import ClientMakeupScheduled
from iop_notifier.domain.contacts import ContactCard
from iop_notifier.domain.discretion import denied_terms, is_discreet
from iop_notifier.domain.schedule_text import SUPPORTED_LANGUAGES
from iop_notifier.makeups import occasion_of
from iop_notifier.messages.calendar import event_uid
from iop_notifier.messages.gsm import is_gsm7
from iop_notifier.messages.makeup import (
    makeup_message_id,
    render_makeup_email,
    render_makeup_sms,
)
from iop_notifier.messages.render import SMS_MAX_CHARS
from iop_notifier.runtime import identity_of
from iop_notifier.settings import NotifierSettings

from .factories import makeup

IDENTITY = identity_of(NotifierSettings())
TODAY = date(2026, 12, 1)  # a Tuesday; pinned below as the contract's today
THURSDAY = TODAY + timedelta(days=9)  # 2026-12-10
NOW = datetime(2026, 12, 1, 17, 0, tzinfo=UTC)
# What a make-up must never reveal: its ids (the group id spells out the track), the tracks,
# the modalities and the words around them, as substrings (case folded) of any part.
REVEALING = (
    "bos-1", "sud-eve", "t-017", "substance", "mental", "dual", "diagnos", "relapse",
    "prevention", "trauma", "mindful", "psychoed", "cbt", "dbt", "treatment", "therap",
    "rehab", "recovery", "addict", "iop", "intensive", "outpatient",
)  # fmt: skip


@pytest.fixture(autouse=True)
def pinned_today(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv(TODAY_ENV, TODAY.isoformat())
    yield


def card(lang: str = "en") -> ContactCard:
    return ContactCard("c-1", "María José", lang, "c-1@example.org", "+16175550101", True, True)


def email_of(session: ClientMakeupScheduled, lang: str = "en", now: datetime = NOW) -> EmailMessage:
    return render_makeup_email(
        session, card(lang), IDENTITY, occasion=occasion_of(session), now=now
    )


def invite(message: EmailMessage) -> Calendar:
    [part] = [p for p in message.iter_attachments() if p.get_content_type() == "text/calendar"]
    assert part.get_filename() == "invite.ics"
    assert part.get_param("method") == "REQUEST"
    return Calendar.from_ical(part.get_content())


def only(cal: Calendar, kind: str = "VEVENT") -> Any:
    """The one component of `kind` (icalendar's property types vary: Any)."""
    [component] = cal.walk(kind)
    return component


def all_text(message: EmailMessage) -> list[str]:
    parts = [str(message["Subject"]), str(message["From"]), str(message["Message-ID"])]
    for part in message.walk():
        if part.get_content_maintype() == "multipart":
            continue
        parts.append(str(part.get_filename() or ""))
        content = part.get_content()
        parts.append(content.decode() if isinstance(content, bytes) else content)
    return parts


def test_the_invite_is_one_event_without_recurrence_at_local_times() -> None:
    cal = invite(email_of(makeup("c-1", THURSDAY)))
    assert str(cal["METHOD"]) == "REQUEST"
    event = only(cal)
    assert "RRULE" not in event and "EXDATE" not in event and "RECURRENCE-ID" not in event
    assert int(event["SEQUENCE"]) == 0
    start, end = event["DTSTART"], event["DTEND"]
    assert start.params["TZID"] == end.params["TZID"] == "America/New_York"
    assert start.dt.replace(tzinfo=None) == datetime(2026, 12, 10, 18, 0)
    assert end.dt.replace(tzinfo=None) == datetime(2026, 12, 10, 21, 0)
    # The zone is in the file, and it places 18:00 local at 23:00 UTC (EST) that day.
    zone = only(cal, "VTIMEZONE")
    assert str(zone["TZID"]) == "America/New_York"
    assert start.dt.replace(tzinfo=zone.to_tz()).astimezone(UTC) == datetime(
        2026, 12, 10, 23, 0, tzinfo=UTC
    )
    assert str(event["SUMMARY"]) == "Group meeting"
    assert str(event["LOCATION"]) == "in person"
    assert str(event["STATUS"]) == "CONFIRMED"
    assert str(event["ATTENDEE"]) == "mailto:c-1@example.org"


def test_the_invite_keeps_the_session_wall_clock_across_a_dst_change(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(TODAY_ENV, "2027-03-01")
    after_dst = makeup("c-1", date(2027, 3, 15))  # New York is on EDT from March 14
    event = only(invite(email_of(after_dst)))
    assert event["DTSTART"].dt.replace(tzinfo=None) == datetime(2027, 3, 15, 18, 0)
    assert event["DTSTART"].dt.astimezone(UTC) == datetime(2027, 3, 15, 22, 0, tzinfo=UTC)


def test_the_uid_is_the_make_ups_own_and_stable() -> None:
    session = makeup("c-1", THURSDAY)
    first = only(invite(email_of(session)))
    later = email_of(session, now=datetime(2026, 12, 3, 9, 0, tzinfo=UTC))
    again = only(invite(later))
    uid = str(first["UID"])
    assert str(again["UID"]) == uid  # a resend updates the same calendar entry
    assert str(later["Message-ID"]) == str(email_of(session)["Message-ID"])
    assert uid.endswith(f"@{IDENTITY.domain}")
    others = [
        makeup("c-1", THURSDAY + timedelta(days=1)),  # another date
        makeup("c-1", THURSDAY, group_id="bos-1-mh-eve-b"),  # another group, same date
        makeup("c-2", THURSDAY),  # another client
    ]
    for other in others:
        event = only(invite(email_of(other)))
        assert str(event["UID"]) != uid
    weekly = {
        event_uid("c-1", key, IDENTITY.domain) for key in ("group-0", "group-1", "individual")
    }
    assert uid not in weekly  # never overwrites an entry of the weekly series


def test_the_email_names_the_date_time_and_place_and_says_the_week_stays() -> None:
    message = email_of(makeup("c-1", THURSDAY))
    assert message["To"] == "c-1@example.org"
    assert message["Subject"] == "An extra appointment"
    assert message["Message-ID"] == makeup_message_id(
        "c-1", "2026-12-10:bos-1-sud-eve-a", IDENTITY.domain
    )
    text = message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert "Hello María José," in text
    assert "- Group meeting: Thursday, December 10, 2026, 6:00 PM - 9:00 PM (in person)" in text
    assert "Times are local time (America/New_York). Your weekly times stay the same." in text
    assert IDENTITY.callback_number in text
    html = message.get_body(("html",)).get_content()  # type: ignore[union-attr]
    assert "Thursday, December 10, 2026, 6:00 PM - 9:00 PM (in person)" in html


def test_spanish_and_online() -> None:
    session = makeup("c-1", THURSDAY, delivery="telehealth", start="09:00", end="12:00")
    message = email_of(session, "es")
    assert message["Subject"] == "Una cita adicional"
    text = message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert (
        "- Reunión de grupo: jueves, 10 de diciembre de 2026, 09:00 - 12:00 "
        "(en línea, el enlace de video llegará aparte)"
    ) in text
    event = only(invite(message))
    assert str(event["LOCATION"]) == "en línea, el enlace de video llegará aparte"
    sms = render_makeup_sms(session, card("es"), IDENTITY)
    assert "jue 10 dic a las 09:00" in sms


def test_the_sms_names_the_date_and_time() -> None:
    sms = render_makeup_sms(makeup("c-1", THURSDAY), card(), IDENTITY)
    assert sms == (
        f"{IDENTITY.network_name}: an extra appointment is booked for you, Thu Dec 10 6:00 PM. "
        f"Questions: {IDENTITY.callback_number}. Reply STOP to opt out"
    )


def test_an_sms_the_settings_make_too_long_is_refused_not_cut() -> None:
    long_name = dataclasses.replace(IDENTITY, network_name="N" * 120)
    with pytest.raises(ValueError, match="more than 160"):
        render_makeup_sms(makeup("c-1", THURSDAY), card(), long_name)


@pytest.mark.parametrize("lang", SUPPORTED_LANGUAGES)
@pytest.mark.parametrize("delivery", ["in_person", "telehealth"])
@pytest.mark.parametrize(
    "group_id", ["bos-1-sud-eve-a", "bos-1-mental-health-dbt", "bos-1-dual-relapse-prevention"]
)
def test_nothing_reveals_the_kind_of_care(lang: str, delivery: str, group_id: str) -> None:
    session = makeup("c-1", THURSDAY, group_id=group_id, delivery=delivery)
    message = email_of(session, lang)
    sms = render_makeup_sms(session, card(lang), IDENTITY)
    assert len(sms) <= SMS_MAX_CHARS and is_gsm7(sms)
    for text in [*all_text(message), sms]:
        assert is_discreet(text), denied_terms(text)
        folded = text.casefold()
        assert not [word for word in REVEALING if word in folded], text
        assert group_id not in text
