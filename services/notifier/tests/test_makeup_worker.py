"""Make-ups through the notifier's own schedule handler and delivery worker (a real SQLite
ledger, fake transports, an injected clock): one invite per make-up, held for the contact,
never twice (redelivered, replayed, restarted, crashed mid-send), SMS only with consent inside
quiet hours and the caps, nothing once withdrawn or too late, nothing for an unavailable one.

Today is pinned (IOP_TODAY) at the harness's clock, so the dates are admitted on any real day."""

from collections.abc import Iterator
from datetime import datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import cast

import pytest
from faststream.kafka import KafkaMessage
from icalendar import Calendar
from iop_contracts import TODAY_ENV
from iop_contracts.envelope import CloudEvent, new_event
from iop_contracts.payloads import Payload
from iop_contracts.values import Channel
from iop_notifier.adapters.kafka_io import ScheduleRecorder
from iop_notifier.adapters.ledger_sqlite import SqliteLedger
from iop_notifier.domain.ledger import DeliveryKey, DeliveryState, Purpose

from .factories import makeup, makeup_unavailable
from .test_worker import NOON, NY, Harness

TODAY = NOON.date()  # Tuesday, December 1, 2026
THURSDAY = TODAY + timedelta(days=9)
OCCASION = f"{THURSDAY.isoformat()}:bos-1-sud-eve-a"


@pytest.fixture(autouse=True)
def pinned_today(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv(TODAY_ENV, TODAY.isoformat())
    yield


class MakeupHarness(Harness):
    ledger: SqliteLedger

    def __init__(self, tmp_path: Path) -> None:
        super().__init__(tmp_path)
        self.recorder = self.make_recorder()

    def make_recorder(self) -> ScheduleRecorder:
        recorder = ScheduleRecorder(self.metrics, self.worker.wake)
        recorder.open(self.ledger)
        return recorder

    async def read(self, payload: Payload | CloudEvent) -> CloudEvent:
        """The schedule handler reads one event (an event given again is a redelivery)."""
        event = payload if isinstance(payload, CloudEvent) else new_event(payload, source="/tests")
        await self.recorder(event, cast(KafkaMessage, None))
        return event

    def restart(self) -> None:
        """A new process on the same ledger file, as after a crash or a deploy."""
        self.ledger.close()
        self.ledger = self.open_ledger()
        self.ledger.recover_interrupted(self.clock())
        self.worker = self.make_worker()
        self.recorder = self.make_recorder()

    def invites(self) -> list[EmailMessage]:
        return [m for m in self.email.sent if m["Subject"] == "An extra appointment"]

    def makeup_outcomes(self) -> list[tuple[str, str, int, str | None]]:
        return [
            (e.type.removeprefix("iop.notification."), *rest)
            for e, (_, *rest) in zip(self.published.events, self.published.outcomes(), strict=True)
            if e.data["purpose"] == "makeup"
        ]


@pytest.fixture
def h(tmp_path: Path) -> MakeupHarness:
    return MakeupHarness(tmp_path)


def uid_of(message: EmailMessage) -> str:
    [part] = list(message.iter_attachments())
    [event] = Calendar.from_ical(part.get_content()).walk("VEVENT")
    return str(event["UID"])


async def test_one_invite_reported_with_the_current_schedule_version(h: MakeupHarness) -> None:
    h.contact("c-1")
    h.schedule("c-1", 1)
    h.schedule("c-1", 2)
    await h.worker.run_once()
    await h.read(makeup("c-1", THURSDAY))
    await h.worker.run_once()
    await h.worker.run_once()
    [invite] = h.invites()
    assert invite["To"] == "c-1@example.org"
    assert h.makeup_outcomes() == [
        ("sent", "email", 2, "makeup"),
        ("suppressed", "sms", 2, "makeup:no_consent"),
    ]
    assert len(h.email.sent) == 2  # the confirmation of version 2, and the invite
    assert h.metric("notifier_sent_total", channel="email") == 2


async def test_version_0_when_no_schedule_is_known(h: MakeupHarness) -> None:
    h.contact("c-1")
    await h.read(makeup("c-1", THURSDAY))
    await h.worker.run_once()
    assert len(h.invites()) == 1
    assert h.makeup_outcomes() == [
        ("sent", "email", 0, "makeup"),
        ("suppressed", "sms", 0, "makeup:no_consent"),
    ]


async def test_a_makeup_waits_for_the_contact(h: MakeupHarness) -> None:
    await h.read(makeup("c-1", THURSDAY))
    await h.worker.run_once()
    assert h.email.sent == [] and h.published.events == []
    assert h.ledger.owed().held == 1
    h.contact("c-1")
    await h.worker.run_once()
    assert len(h.invites()) == 1 and h.ledger.owed().held == 0


async def test_redelivered_replayed_and_restarted_it_goes_once(h: MakeupHarness) -> None:
    h.contact("c-1")
    first = await h.read(makeup("c-1", THURSDAY))
    await h.read(first)  # redelivered: the same event id
    await h.read(makeup("c-1", THURSDAY))  # replayed, or answered twice: a new id
    await h.worker.run_once()
    h.restart()
    await h.read(first)
    await h.read(makeup("c-1", THURSDAY))
    await h.worker.run_once()
    h.clock.advance(days=1)
    await h.worker.run_once()
    assert len(h.invites()) == 1
    assert len(h.makeup_outcomes()) == 2  # one per channel, reported once


async def test_a_crash_mid_send_is_possibly_sent_and_never_resent(h: MakeupHarness) -> None:
    h.contact("c-1")
    event = await h.read(makeup("c-1", THURSDAY))

    class Crash(BaseException):
        pass

    def crash() -> None:
        raise Crash  # dies after SENDING is recorded, before the outcome is

    h.email.on_send = crash
    with pytest.raises(Crash):
        await h.worker.run_once()
    h.email.on_send = None
    h.restart()
    await h.read(event)  # the broker redelivers what was not committed
    await h.worker.run_once()
    assert h.invites() == []
    assert ("failed", "email", 0, "makeup:possibly_sent") in h.makeup_outcomes()


async def test_two_makeups_are_two_invites_with_their_own_uids(h: MakeupHarness) -> None:
    h.contact("c-1")
    h.schedule("c-1", 1)
    await h.read(makeup("c-1", THURSDAY))
    await h.read(makeup("c-1", THURSDAY + timedelta(days=7)))
    await h.worker.run_once()
    first, second = h.invites()
    assert uid_of(first) != uid_of(second)
    assert first["Message-ID"] != second["Message-ID"]
    sent = [e for e in h.published.events if e.data["purpose"] == "makeup"]
    assert len({e.id for e in sent}) == len(sent) == 4


async def test_sms_with_consent_waits_for_the_end_of_quiet_hours(h: MakeupHarness) -> None:
    h.contact("c-1", sms_consent=True)
    h.clock.set(datetime(2026, 12, 1, 22, 30, tzinfo=NY))
    await h.read(makeup("c-1", THURSDAY))
    await h.worker.run_once()
    assert len(h.invites()) == 1 and h.sms.sent == []  # email at once, SMS after quiet hours
    deferred = h.ledger.get(DeliveryKey("c-1", 0, Purpose.MAKEUP, Channel.SMS, OCCASION))
    assert deferred is not None and deferred.state is DeliveryState.DEFERRED
    assert deferred.next_attempt_at == datetime(2026, 12, 2, 8, 0, tzinfo=NY)
    h.clock.set(datetime(2026, 12, 2, 7, 59, tzinfo=NY))
    await h.worker.run_once()
    assert h.sms.sent == []
    h.clock.set(datetime(2026, 12, 2, 8, 0, tzinfo=NY))
    await h.worker.run_once()
    [(to, body)] = h.sms.sent
    assert to == "+16175550101"
    assert "an extra appointment is booked for you, Thu Dec 10 6:00 PM" in body
    assert ("sent", "sms", 0, "makeup") in h.makeup_outcomes()


async def test_sms_shares_the_daily_cap_and_outlives_a_reschedule(h: MakeupHarness) -> None:
    h.contact("c-1", sms_consent=True)  # the harness allows one SMS a day
    h.schedule("c-1", 1)
    await h.worker.run_once()  # noon: the confirmation's SMS
    h.clock.set(datetime(2026, 12, 1, 14, 0, tzinfo=NY))
    await h.read(makeup("c-1", THURSDAY))
    await h.worker.run_once()
    key = DeliveryKey("c-1", 1, Purpose.MAKEUP, Channel.SMS, OCCASION)
    deferred = h.ledger.get(key)
    assert deferred is not None and deferred.state is DeliveryState.DEFERRED
    assert deferred.next_attempt_at == datetime(2026, 12, 2, 8, 0, tzinfo=NY)
    h.schedule("c-1", 2)  # a reschedule supersedes older confirmations, not the make-up
    await h.worker.run_once()
    waiting = h.ledger.get(key)
    assert waiting is not None and waiting.state is DeliveryState.DEFERRED
    for day in (2, 3):
        h.clock.set(datetime(2026, 12, day, 8, 0, tzinfo=NY))
        await h.worker.run_once()
        assert len(h.sms.sent) == day  # one a day, whichever goes first
    assert sum("an extra appointment" in body for _, body in h.sms.sent) == 1
    assert ("sent", "sms", 1, "makeup") in h.makeup_outcomes()


async def test_an_sms_that_would_come_after_the_session_is_dropped(h: MakeupHarness) -> None:
    early = makeup("c-1", TODAY + timedelta(days=1), start="07:00", end="07:45")
    h.contact("c-1", sms_consent=True)
    h.clock.set(datetime(2026, 12, 1, 22, 30, tzinfo=NY))
    await h.read(early)
    await h.worker.run_once()
    h.clock.set(datetime(2026, 12, 2, 8, 0, tzinfo=NY))  # quiet hours end after its start
    await h.worker.run_once()
    assert h.sms.sent == [] and len(h.invites()) == 1
    assert ("suppressed", "sms", 0, "makeup:expired") in h.makeup_outcomes()


async def test_a_makeup_read_after_its_session_began_sends_nothing(h: MakeupHarness) -> None:
    h.clock.set(datetime(2026, 12, 10, 18, 5, tzinfo=NY))
    await h.read(makeup("c-1", THURSDAY))
    h.contact("c-1", sms_consent=True)
    await h.worker.run_once()
    assert h.email.sent == [] and h.sms.sent == []
    assert sorted(h.makeup_outcomes()) == [
        ("suppressed", "email", 0, "makeup:expired"),
        ("suppressed", "sms", 0, "makeup:expired"),
    ]


async def test_a_withdrawal_before_it_went_stops_it(h: MakeupHarness) -> None:
    await h.read(makeup("c-1", THURSDAY))  # held: no contact yet
    assert h.ledger.record_cancel(event_id="ev-unscheduled", client_id="c-1", correlation_id=None)
    h.contact("c-1")
    await h.worker.run_once()
    assert h.email.sent == []
    assert sorted(h.makeup_outcomes()) == [
        ("suppressed", "email", 0, "makeup:withdrawn"),
        ("suppressed", "sms", 0, "makeup:withdrawn"),
    ]


async def test_a_withdrawal_stops_a_deferred_sms(h: MakeupHarness) -> None:
    h.contact("c-1", sms_consent=True)
    h.clock.set(datetime(2026, 12, 1, 22, 30, tzinfo=NY))
    await h.read(makeup("c-1", THURSDAY))
    await h.worker.run_once()
    assert len(h.invites()) == 1
    h.ledger.record_cancel(event_id="ev-unscheduled", client_id="c-1", correlation_id=None)
    h.clock.set(datetime(2026, 12, 2, 9, 0, tzinfo=NY))
    await h.worker.run_once()
    assert h.sms.sent == []
    assert ("suppressed", "sms", 0, "makeup:withdrawn") in h.makeup_outcomes()


async def test_an_unavailable_makeup_tells_the_client_nothing(h: MakeupHarness) -> None:
    h.contact("c-1", sms_consent=True)
    event = await h.read(makeup_unavailable("c-1", THURSDAY))
    await h.worker.run_once()
    assert h.ledger.has_seen(event.id)
    assert h.ledger.unplanned_makeups() == []
    assert h.email.sent == [] and h.sms.sent == [] and h.published.events == []
