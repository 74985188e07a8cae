"""Every rendered template, in every language and for every kind of notice, says nothing about
the kind of care: subject, text, HTML, calendar attachment, SMS and the HELP reply."""

from datetime import UTC, datetime
from email.message import EmailMessage

import pytest
from iop_notifier.domain.contacts import ContactCard
from iop_notifier.domain.discretion import denied_terms, is_discreet
from iop_notifier.domain.ledger import Purpose
from iop_notifier.domain.schedule_text import SUPPORTED_LANGUAGES
from iop_notifier.messages.gsm import is_gsm7
from iop_notifier.messages.render import (
    SMS_MAX_CHARS,
    TEMPLATES,
    Identity,
    render_email,
    render_help_sms,
    render_sms,
)
from iop_notifier.settings import NotifierSettings

from .factories import schedule

SETTINGS = NotifierSettings()
IDENTITY = Identity(
    sender_name=SETTINGS.sender_name,
    sender_address=SETTINGS.sender_address,
    network_name=SETTINGS.network_name,
    callback_number=SETTINGS.callback_number,
    domain=SETTINGS.message_domain,
)
NOW = datetime(2026, 11, 26, 17, 0, tzinfo=UTC)
# Long and short schedules, in person and online, so every branch of the templates renders.
SCHEDULES = [
    schedule("c-1"),
    schedule(
        "c-2",
        sessions=[{"day": d, "start": "09:00", "end": "12:00"} for d in ("tue", "thu", "sat")],
        timezone="America/Los_Angeles",
    ),
]


def card(lang: str) -> ContactCard:
    return ContactCard("c-1", "María José", lang, "c-1@example.org", "+16175550101", True, True)


def all_text(message: EmailMessage) -> list[str]:
    parts = [str(message["Subject"]), str(message["From"])]
    for part in message.walk():
        if part.get_content_maintype() == "multipart":
            continue
        parts.append(str(part.get_filename() or ""))
        content = part.get_content()
        parts.append(content.decode() if isinstance(content, bytes) else content)
    return parts


def test_every_template_is_exercised() -> None:
    # A template added later without being rendered here would escape the deny-list.
    names = {p.name for p in TEMPLATES.glob("*/*.j2")}
    assert names == {
        f"{purpose}.{kind}.j2"
        for purpose in ("confirm", "cancel")
        for kind in ("subject", "txt", "html", "sms")
    }
    assert {p.parent.name for p in TEMPLATES.glob("*/*.j2")} == set(SUPPORTED_LANGUAGES)
    # HELP has one text for every number, whatever its language (see render_help_sms).
    assert {p.name for p in TEMPLATES.glob("*.j2")} == {"help.sms.j2"}


@pytest.mark.parametrize("lang", SUPPORTED_LANGUAGES)
@pytest.mark.parametrize("purpose", list(Purpose))
@pytest.mark.parametrize("updated", [False, True])
@pytest.mark.parametrize("index", range(len(SCHEDULES)))
def test_rendered_messages_pass_the_deny_list(
    lang: str, purpose: Purpose, updated: bool, index: int
) -> None:
    sched = SCHEDULES[index]
    message = render_email(sched, card(lang), purpose, IDENTITY, updated=updated, now=NOW)
    for text in all_text(message):
        assert is_discreet(text), denied_terms(text)
    sms = render_sms(sched, card(lang), purpose, IDENTITY, updated=updated)
    assert len(sms) <= SMS_MAX_CHARS
    assert is_gsm7(sms)
    assert is_discreet(sms), denied_terms(sms)
    assert IDENTITY.network_name in sms and IDENTITY.callback_number in sms


def test_help_reply_is_short_and_discreet() -> None:
    reply = render_help_sms(IDENTITY)
    assert len(reply) <= SMS_MAX_CHARS and is_gsm7(reply) and is_discreet(reply)
    assert IDENTITY.callback_number in reply and "STOP" in reply and "START" in reply


def test_schedule_ids_that_spell_out_the_track_never_reach_the_message() -> None:
    # The factory's group id is "bos-1-sud-eve-a": "sud" is on the deny-list for this reason.
    message = render_email(
        SCHEDULES[0], card("en"), Purpose.CONFIRM, IDENTITY, updated=False, now=NOW
    )
    assert not any("bos-1" in text or "t-017" in text for text in all_text(message))


@pytest.mark.parametrize(
    "text",
    [
        "Your IOP group",
        "Intensive Outpatient Program",
        "recovery",
        "Addiction services",
        "Substance-use support",
        "Your therapist",
        "Terapéutico",
        "recuperación",
        "rehabbing",
        "DBT skills",
        "behavioral health",
    ],
)
def test_deny_list_catches(text: str) -> None:
    assert not is_discreet(text)


def test_deny_list_lets_plain_words_through() -> None:
    assert is_discreet("Your appointment times are confirmed. Group meeting on Mondays.")
