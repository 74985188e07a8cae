"""Every rendered template, in every language and for every kind of message (confirmation,
update, cancellation, reminder, each branch of them), says nothing about the kind of care:
subject, text, HTML, calendar attachment, SMS and the HELP reply; nor why an occurrence is
cancelled."""

from datetime import UTC, date, datetime
from email.message import EmailMessage

import pytest
from iop_contracts.payloads import ClientScheduled
from iop_notifier.domain.contacts import ContactCard
from iop_notifier.domain.discretion import denied_terms, is_discreet
from iop_notifier.domain.ledger import Purpose
from iop_notifier.domain.schedule_text import SUPPORTED_LANGUAGES, short_date
from iop_notifier.messages.gsm import is_gsm7, to_gsm7
from iop_notifier.messages.render import (
    SMS_MAX_CHARS,
    TEMPLATES,
    Identity,
    render_email,
    render_help_sms,
    render_sms,
    template_of,
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
# The factory's schedule: group meetings on Mondays and Wednesdays, a one-on-one on Saturdays.
ONE_CLOSURE = [("2026-10-26", "group")]
CLOSURES = [("2026-10-26", "group"), ("2026-10-31", "individual"), ("2026-11-02", "group")]
NEW_TIMES = [{"day": d, "start": "17:00", "end": "20:00"} for d in ("tue", "thu")]
# Every kind of message and every branch of its templates: name -> (purpose, updated, the
# schedule the client was told of, the schedule the message is about).
Scenario = tuple[Purpose, bool, ClientScheduled | None, ClientScheduled]
SCENARIOS: dict[str, Scenario] = {
    "confirmation": (Purpose.CONFIRM, False, None, SCHEDULES[0]),
    "confirmation, online": (Purpose.CONFIRM, False, None, SCHEDULES[1]),
    "confirmation with cancelled dates": (
        Purpose.CONFIRM, False, None, schedule("c-1", cancelled=CLOSURES)
    ),
    "update: new times": (
        Purpose.CONFIRM, True, SCHEDULES[0],
        schedule("c-1", 2, sessions=NEW_TIMES, cancelled=[("2026-10-27", "group")]),
    ),
    "update: extension": (
        Purpose.CONFIRM, True, SCHEDULES[0], schedule("c-1", 2, end="2026-12-22")
    ),
    "update: one cancelled": (
        Purpose.CONFIRM, True, SCHEDULES[0], schedule("c-1", 2, cancelled=ONE_CLOSURE)
    ),
    "update: several cancelled": (
        Purpose.CONFIRM, True, SCHEDULES[0], schedule("c-1", 2, cancelled=CLOSURES)
    ),
    "update: one takes place after all": (
        Purpose.CONFIRM, True, schedule("c-1", 2, cancelled=ONE_CLOSURE), schedule("c-1", 3)
    ),
    "update: several take place after all": (
        Purpose.CONFIRM, True, schedule("c-1", 2, cancelled=CLOSURES), schedule("c-1", 3)
    ),
    "update: nothing the client sees": (Purpose.CONFIRM, True, SCHEDULES[0], schedule("c-1", 2)),
    "update, online": (Purpose.CONFIRM, True, SCHEDULES[0], SCHEDULES[1]),
    "cancellation": (Purpose.CANCEL, False, None, SCHEDULES[0]),
    "cancellation, online": (Purpose.CANCEL, False, None, SCHEDULES[1]),
    "reminder": (Purpose.REMINDER, False, None, SCHEDULES[0]),
    "reminder, start cancelled": (
        Purpose.REMINDER, False, None, schedule("c-1", cancelled=[("2026-10-21", "group")])
    ),
    "reminder, online": (Purpose.REMINDER, False, None, SCHEDULES[1]),
}  # fmt: skip


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


def render_both(scenario: Scenario, lang: str) -> tuple[EmailMessage, str]:
    purpose, updated, previous, current = scenario
    message = render_email(
        current, card(lang), purpose, IDENTITY, updated=updated, now=NOW, previous=previous
    )
    sms = render_sms(current, card(lang), purpose, IDENTITY, updated=updated, previous=previous)
    return message, sms


def test_every_template_is_exercised() -> None:
    # A template added later without being rendered here would escape the deny-list. The
    # make-up's are rendered, every language, through it and a scan for ids, tracks and
    # modalities in test_makeup_messages.py (test_nothing_reveals_the_kind_of_care).
    names = {p.name for p in TEMPLATES.glob("*/*.j2")}
    assert names == {
        f"{name}.{kind}.j2"
        for name in ("confirm", "update", "cancel", "reminder", "makeup")
        for kind in ("subject", "txt", "html", "sms")
    }
    assert {template_of(p, u) for p, u, _, _ in SCENARIOS.values()} == {
        "confirm",
        "update",
        "cancel",
        "reminder",
    }
    assert {p.parent.name for p in TEMPLATES.glob("*/*.j2")} == set(SUPPORTED_LANGUAGES)
    # HELP has one text for every number, whatever its language (see render_help_sms).
    assert {p.name for p in TEMPLATES.glob("*.j2")} == {"help.sms.j2"}


@pytest.mark.parametrize("lang", SUPPORTED_LANGUAGES)
@pytest.mark.parametrize("name", SCENARIOS)
def test_rendered_messages_pass_the_deny_list(lang: str, name: str) -> None:
    message, sms = render_both(SCENARIOS[name], lang)
    for text in all_text(message):
        assert is_discreet(text), denied_terms(text)
    assert len(sms) <= SMS_MAX_CHARS
    assert is_gsm7(sms)
    assert is_discreet(sms), denied_terms(sms)
    assert IDENTITY.network_name in sms and IDENTITY.callback_number in sms


BRIEF = {"en": "Some of your appointments changed", "es": "Algunas de sus citas cambiaron"}


@pytest.mark.parametrize("lang", SUPPORTED_LANGUAGES)
def test_an_update_too_long_for_one_sms_goes_in_brief_and_stays_discreet(lang: str) -> None:
    tue_thu = [(f"2026-11-{day:02d}", "group") for day in (3, 5, 10, 12, 17, 19)]
    moved = schedule("c-1", 2, sessions=NEW_TIMES, cancelled=tue_thu)
    _, sms = render_both((Purpose.CONFIRM, True, SCHEDULES[0], moved), lang)
    assert sms.startswith(f"{IDENTITY.network_name}: {BRIEF[lang]}")
    assert len(sms) <= SMS_MAX_CHARS and is_gsm7(sms) and is_discreet(sms)
    assert IDENTITY.callback_number in sms
    # Two dates fit: the full text, with the dates.
    two = schedule("c-1", 2, cancelled=[("2026-11-02", "group"), ("2026-11-04", "group")])
    _, full = render_both((Purpose.CONFIRM, True, SCHEDULES[0], two), lang)
    assert BRIEF[lang] not in full
    assert all(to_gsm7(short_date(date(2026, 11, d), lang)) in full for d in (2, 4))


@pytest.mark.parametrize("lang", SUPPORTED_LANGUAGES)
@pytest.mark.parametrize(
    "name", ["confirmation with cancelled dates", "update: several cancelled", "reminder"]
)
def test_no_message_says_why_an_occurrence_is_cancelled(lang: str, name: str) -> None:
    """A closure, a therapist's absence and a missing cover are all just "cancelled": the
    messages for each are the same, word for word."""
    purpose, updated, previous, current = SCENARIOS[name]
    rendered = []
    for reason in ("site_closed", "therapist_absent", "no_cover"):
        entries = [(str(e.date), e.kind.value) for e in current.cancelled]
        because = current.model_copy(
            update={"cancelled": schedule("c-1", cancelled=entries, reason=reason).cancelled}
        )
        message, sms = render_both((purpose, updated, previous, because), lang)
        rendered.append((all_text(message), sms))
    assert rendered[0] == rendered[1] == rendered[2]


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
