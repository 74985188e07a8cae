"""The delivery worker against a real SQLite ledger and fake transports, with an injected clock."""

import asyncio
import contextlib
import json
import random
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from iop_contracts.values import Channel
from iop_notifier.adapters.ledger_sqlite import SqliteLedger
from iop_notifier.domain.contacts import ContactCard
from iop_notifier.domain.ledger import DeliveryKey, DeliveryState, Purpose
from iop_notifier.domain.phones import KnownPhones
from iop_notifier.domain.retry import RetryPolicy
from iop_notifier.errors import (
    AmbiguousDeliveryError,
    PermanentDeliveryError,
    TransientDeliveryError,
)
from iop_notifier.metrics import NotifierMetrics
from iop_notifier.runtime import identity_of, phone_digests_of, sms_policy_of
from iop_notifier.settings import NotifierSettings
from iop_notifier.worker import DeliveryWorker

from .factories import enrollment, schedule
from .fakes import FakeClock, FakeEmail, FakeSms, Published
from .stubs import DIGEST_KEY

NY = ZoneInfo("America/New_York")
NOON = datetime(2026, 12, 1, 12, 0, tzinfo=NY)


class Harness:
    def __init__(self, tmp_path: Path, now: datetime = NOON) -> None:
        self.settings = NotifierSettings(
            retry_base_s=1.0, retry_max_s=8.0, retry_max_attempts=4, phone_digest_key=DIGEST_KEY
        )
        self.path = tmp_path / "ledger.sqlite3"
        self.ledger = self.open_ledger()
        self.directory = KnownPhones()
        self.email = FakeEmail()
        self.sms = FakeSms()
        self.published = Published()
        self.clock = FakeClock(now)
        self.metrics = NotifierMetrics()
        self.worker = self.make_worker()

    def open_ledger(self) -> SqliteLedger:
        return SqliteLedger(self.path, phone_digests=phone_digests_of(self.settings))

    def make_worker(self) -> DeliveryWorker:
        return DeliveryWorker(
            ledger=self.ledger,
            directory=self.directory,
            email=self.email,
            sms=self.sms,
            publish=self.published,
            identity=identity_of(self.settings),
            retry=RetryPolicy(
                self.settings.retry_base_s,
                self.settings.retry_max_s,
                self.settings.retry_max_attempts,
            ),
            sms_policy=sms_policy_of(self.settings),
            metrics=self.metrics,
            clock=self.clock,
            rng=random.Random(1),
        )

    def contact(self, client: str, **kwargs: object) -> None:
        self.directory.put(ContactCard.from_enrollment(enrollment(client, **kwargs)))  # type: ignore[arg-type]

    def schedule(self, client: str, version: int = 1, event_id: str | None = None) -> bool:
        payload = schedule(client, version)
        return self.ledger.record_schedule(
            event_id=event_id or f"ev-{client}-{version}",
            client_id=client,
            schedule_version=version,
            schedule_json=payload.model_dump_json(),
            correlation_id="corr",
        )

    def state(
        self, client: str, version: int, channel: Channel, purpose: Purpose = Purpose.CONFIRM
    ) -> DeliveryState:
        delivery = self.ledger.get(DeliveryKey(client, version, purpose, channel))
        assert delivery is not None
        return delivery.state

    def metric(self, name: str, **labels: str) -> float:
        return self.metrics.registry.get_sample_value(name, labels) or 0.0


@pytest.fixture
def h(tmp_path: Path) -> Harness:
    return Harness(tmp_path)


async def test_email_with_consent_is_sent_and_reported_once(h: Harness) -> None:
    h.contact("c-1")
    h.schedule("c-1")
    await h.worker.run_once()
    await h.worker.run_once()
    assert len(h.email.sent) == 1
    assert h.published.outcomes() == [
        ("sent", "email", 1, None),
        ("suppressed", "sms", 1, "no_consent"),
    ]
    assert h.metric("notifier_sent_total", channel="email") == 1


async def test_a_schedule_waits_for_its_enrollment(h: Harness) -> None:
    h.schedule("c-1")
    await h.worker.run_once()
    assert h.email.sent == [] and h.published.events == []
    h.contact("c-1")
    await h.worker.run_once()
    assert len(h.email.sent) == 1


async def test_no_email_consent_is_suppressed(h: Harness) -> None:
    h.contact("c-1", email_consent=False)
    h.schedule("c-1")
    await h.worker.run_once()
    assert h.email.sent == []
    assert ("suppressed", "email", 1, "no_consent") in h.published.outcomes()


async def test_repeated_event_and_older_version_are_ignored(h: Harness) -> None:
    h.contact("c-1")
    assert h.schedule("c-1", 2)
    assert not h.schedule("c-1", 2)  # same event id again
    assert not h.schedule("c-1", 1, event_id="other")  # an older version arriving late
    await h.worker.run_once()
    assert len(h.email.sent) == 1


async def test_only_the_newest_queued_version_is_sent(h: Harness) -> None:
    h.contact("c-1")
    for version in (1, 2, 3):
        h.schedule("c-1", version)
    await h.worker.run_once()
    assert len(h.email.sent) == 1
    assert h.published.outcomes()[0] == ("sent", "email", 3, None)


async def test_a_version_planned_but_not_sent_is_superseded_and_reported(h: Harness) -> None:
    h.contact("c-1", sms_consent=True)
    h.clock.set(datetime(2026, 12, 1, 22, 30, tzinfo=NY))  # the SMS of v1 gets deferred
    h.schedule("c-1", 1)
    await h.worker.run_once()
    assert h.state("c-1", 1, Channel.SMS) is DeliveryState.DEFERRED
    h.schedule("c-1", 2)
    await h.worker.run_once()
    assert h.state("c-1", 1, Channel.SMS) is DeliveryState.SUPERSEDED
    assert ("suppressed", "sms", 1, "superseded") in h.published.outcomes()


async def test_transient_failures_back_off_then_deliver(h: Harness) -> None:
    h.contact("c-1")
    h.schedule("c-1")
    h.email.failures = [TransientDeliveryError("smtp_unreachable")] * 2
    await h.worker.run_once()
    assert h.email.sent == []
    delivery = h.ledger.get(DeliveryKey("c-1", 1, Purpose.CONFIRM, Channel.EMAIL))
    assert delivery is not None and delivery.state is DeliveryState.PENDING
    first_wait = (delivery.next_attempt_at - h.clock()).total_seconds()
    assert 0.5 <= first_wait <= 1.0
    h.clock.advance(seconds=first_wait)
    await h.worker.run_once()
    delivery = h.ledger.get(DeliveryKey("c-1", 1, Purpose.CONFIRM, Channel.EMAIL))
    assert delivery is not None
    assert 1.0 <= (delivery.next_attempt_at - h.clock()).total_seconds() <= 2.0  # grew
    h.clock.advance(seconds=2)
    await h.worker.run_once()
    assert len(h.email.sent) == 1
    assert h.metric("notifier_retries_total", channel="email") == 2


async def test_retries_give_up_after_max_attempts(h: Harness) -> None:
    h.contact("c-1")
    h.schedule("c-1")
    h.email.failures = [TransientDeliveryError("smtp_unreachable")] * 10
    for _ in range(6):
        await h.worker.run_once()
        h.clock.advance(seconds=10)
    assert h.state("c-1", 1, Channel.EMAIL) is DeliveryState.FAILED
    assert ("failed", "email", 1, "retries_exhausted:smtp_unreachable") in h.published.outcomes()


async def test_permanent_failure_is_reported_not_retried(h: Harness) -> None:
    h.contact("c-1")
    h.schedule("c-1")
    h.email.failures = [PermanentDeliveryError("smtp_recipient_refused")]
    await h.worker.run_once()
    h.clock.advance(hours=1)
    await h.worker.run_once()
    assert h.email.sent == []
    assert ("failed", "email", 1, "smtp_recipient_refused") in h.published.outcomes()


async def test_ambiguous_failure_is_possibly_sent_and_never_resent(h: Harness) -> None:
    h.contact("c-1")
    h.schedule("c-1")
    h.email.failures = [AmbiguousDeliveryError("smtp_disconnected")]
    await h.worker.run_once()
    h.clock.advance(hours=1)
    await h.worker.run_once()
    assert h.email.sent == []
    assert ("failed", "email", 1, "possibly_sent") in h.published.outcomes()


async def test_crash_between_send_and_record_is_reported_as_possibly_sent(h: Harness) -> None:
    h.contact("c-1")
    h.schedule("c-1")

    class Crash(BaseException):
        pass

    def crash() -> None:
        raise Crash  # dies after SENDING is recorded, before the outcome is

    h.email.on_send = crash
    with pytest.raises(Crash):
        await h.worker.run_once()
    assert h.state("c-1", 1, Channel.EMAIL) is DeliveryState.SENDING

    # The next run: a new ledger connection on the same file, as after a restart.
    h.ledger.close()
    h.ledger = h.open_ledger()
    assert h.ledger.recover_interrupted(h.clock()) == 1
    h.email.on_send = None
    h.worker = h.make_worker()
    h.schedule("c-1")  # the same event redelivered after the restart
    await h.worker.run_once()
    assert h.email.sent == []
    assert ("failed", "email", 1, "possibly_sent") in h.published.outcomes()


async def test_sms_at_2230_is_deferred_to_0800_not_dropped(h: Harness) -> None:
    h.contact("c-1", sms_consent=True)
    h.clock.set(datetime(2026, 12, 1, 22, 30, tzinfo=NY))
    h.schedule("c-1")
    await h.worker.run_once()
    assert h.sms.sent == [] and len(h.email.sent) == 1
    delivery = h.ledger.get(DeliveryKey("c-1", 1, Purpose.CONFIRM, Channel.SMS))
    assert delivery is not None and delivery.state is DeliveryState.DEFERRED
    assert delivery.next_attempt_at == datetime(2026, 12, 2, 8, 0, tzinfo=NY)
    assert h.metric("notifier_deferred_total", channel="sms") == 1
    h.clock.set(datetime(2026, 12, 2, 7, 59, tzinfo=NY))
    await h.worker.run_once()
    assert h.sms.sent == []
    h.clock.set(datetime(2026, 12, 2, 8, 0, tzinfo=NY))
    await h.worker.run_once()
    [(to, body)] = h.sms.sent
    assert to == "+16175550101" and len(body) <= 160
    assert ("sent", "sms", 1, None) in h.published.outcomes()


async def test_stop_cancels_a_deferred_sms_at_once(h: Harness) -> None:
    h.contact("c-1", sms_consent=True)
    h.clock.set(datetime(2026, 12, 1, 22, 30, tzinfo=NY))
    h.schedule("c-1")
    await h.worker.run_once()
    h.ledger.set_sms_allowed("+16175550101", False, h.clock())
    h.clock.set(datetime(2026, 12, 2, 9, 0, tzinfo=NY))
    await h.worker.run_once()
    assert h.sms.sent == []
    assert ("suppressed", "sms", 1, "opted_out") in h.published.outcomes()


async def test_second_sms_the_same_day_waits_for_tomorrow(h: Harness) -> None:
    h.contact("c-1", sms_consent=True)
    h.schedule("c-1", 1)
    await h.worker.run_once()
    assert len(h.sms.sent) == 1
    h.schedule("c-1", 2)
    await h.worker.run_once()
    assert len(h.sms.sent) == 1
    assert h.state("c-1", 2, Channel.SMS) is DeliveryState.DEFERRED
    h.clock.set(datetime(2026, 12, 2, 8, 0, tzinfo=NY))
    await h.worker.run_once()
    assert len(h.sms.sent) == 2


async def test_unschedule_sends_a_cancel_only_to_those_told(h: Harness) -> None:
    h.contact("c-1")
    h.schedule("c-1")
    await h.worker.run_once()
    assert h.ledger.record_cancel(event_id="ev-cancel", client_id="c-1", correlation_id=None)
    await h.worker.run_once()
    assert len(h.email.sent) == 2
    cancel = h.email.sent[1]
    [ics] = [p for p in cancel.iter_attachments()]
    assert ics.get_param("method") == "CANCEL"
    assert ("sent", "email", 1, "cancel") in h.published.outcomes()
    assert ("suppressed", "sms", 1, "cancel:nothing_to_cancel") in h.published.outcomes() or (
        "suppressed",
        "sms",
        1,
        "cancel:no_consent",
    ) in h.published.outcomes()


def test_outcome_event_ids_are_stable(h: Harness) -> None:
    from iop_notifier.outcomes import outcome_event

    h.contact("c-1")
    h.schedule("c-1")
    h.worker.plan()
    [delivery] = [d for d in h.ledger.deliveries_of("c-1") if d.key.channel is Channel.SMS]
    assert outcome_event(delivery).id == outcome_event(delivery).id
    assert outcome_event(delivery).time.tzinfo is not None
    assert datetime.now(UTC) >= outcome_event(delivery).time


async def test_reschedule_after_a_sent_confirmation_is_an_update(h: Harness) -> None:
    h.contact("c-1")
    three = schedule(
        "c-1",
        1,
        sessions=[{"day": d, "start": "18:00", "end": "21:00"} for d in ("mon", "wed", "fri")],
    )
    h.ledger.record_schedule(
        event_id="e1",
        client_id="c-1",
        schedule_version=1,
        schedule_json=three.model_dump_json(),
        correlation_id=None,
    )
    await h.worker.run_once()
    h.schedule("c-1", 2)  # mon + wed: the friday slot goes away
    await h.worker.run_once()
    first, second = h.email.sent
    assert [p.get_param("method") for p in first.iter_attachments()] == ["REQUEST"]
    assert [p.get_param("method") for p in second.iter_attachments()] == ["REQUEST", "CANCEL"]
    assert "changed" in second.get_body(("plain",)).get_content()


async def test_a_newer_version_arriving_mid_round_is_not_sent_with_old_key(h: Harness) -> None:
    h.contact("c-1")
    h.contact("c-2")
    h.schedule("c-1", 1)
    h.schedule("c-2", 1)
    # While c-1's email is being sent, c-2's version 2 is read from Kafka.
    h.email.on_send = lambda: h.schedule("c-2", 2) and None  # type: ignore[func-returns-value]
    await h.worker.run_once()
    h.email.on_send = None
    await h.worker.run_once()
    versions = sorted(str(m["Message-ID"]) for m in h.email.sent)
    assert len(versions) == 2  # c-1 v1 and c-2 v2; c-2 v1 was never sent
    assert h.state("c-2", 1, Channel.EMAIL) is DeliveryState.SUPERSEDED
    assert h.state("c-2", 2, Channel.EMAIL) is DeliveryState.SENT


async def test_a_delivery_that_raises_fails_alone_and_the_round_goes_on(h: Harness) -> None:
    """A stored schedule that no longer validates (say, a ledger row written before the
    contract's date window) used to raise on every round and stop all later email."""
    for client in ("c-1", "c-2", "c-3"):
        h.contact(client)
        h.schedule(client)
    broken = schedule("c-2").model_dump(mode="json")
    broken["end_date"] = "9999-12-31"
    h.ledger._db.execute(  # the row as an older version of the notifier could have left it
        "UPDATE notices SET schedule_json = ? WHERE client_id = ?", (json.dumps(broken), "c-2")
    )
    await h.worker.run_once()
    assert sorted(m["To"] for m in h.email.sent) == ["c-1@example.org", "c-3@example.org"]
    assert h.state("c-2", 1, Channel.EMAIL) is DeliveryState.FAILED
    failed = [o for o in h.published.outcomes() if o[0] == "failed"]
    assert len(failed) == 1 and str(failed[0][3]).startswith("internal_error:ValidationError")


async def test_a_worker_cancelled_as_it_is_woken_stops(h: Harness) -> None:
    """On Python 3.11, asyncio.wait_for returns the result of a wait that completed in the same
    loop step as the cancellation and drops the cancellation: the worker went round again and
    the notifier's stop waited for ever (seen in CI under load)."""
    worker = asyncio.create_task(h.worker.run(tick_s=60))
    for _ in range(5):
        await asyncio.sleep(0)  # the worker reaches its wait
    h.worker.wake()
    worker.cancel()
    await asyncio.wait({worker}, timeout=5)
    assert worker.cancelled(), "the worker ends when cancelled"


async def test_a_worker_whose_send_drops_the_cancellation_still_stops(h: Harness) -> None:
    """aiosmtplib waits for replies with asyncio.wait_for, which on Python 3.11 can return
    normally although the task was cancelled: the worker must still stop (a notifier's stop hung
    on it under load)."""
    sending = asyncio.Event()

    async def send_dropping_the_cancellation(message: object) -> None:
        sending.set()
        # What wait_for does when the reply lands in the same step as the cancellation:
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.sleep(30)

    h.email.send = send_dropping_the_cancellation  # type: ignore[method-assign]
    h.contact("c-1")
    h.schedule("c-1")
    worker = asyncio.create_task(h.worker.run(tick_s=0.05))
    async with asyncio.timeout(5):
        await sending.wait()
    worker.cancel()
    await asyncio.wait({worker}, timeout=5)
    assert worker.cancelled(), "the worker ends when cancelled"
