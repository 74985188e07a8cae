"""The delivery worker: turns queued notices into sent messages and reported outcomes.

Three steps, each driven by the ledger so that any of them can be interrupted and resumed:
plan (notice + contact -> one delivery per channel; make-ups and reminders that fell due ->
theirs),
deliver (due deliveries -> transport, with the ledger written before and after), report
(final states -> notification events on Kafka). It runs on every tick of its clock, which is
what makes a reminder go when its time comes (see reminders.py).
"""

import asyncio
import contextlib
import logging
import random
import sqlite3
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from datetime import time as time_of_day
from email.message import EmailMessage

from iop_contracts import tracing
from iop_contracts.consume import describe
from iop_contracts.envelope import CloudEvent
from iop_contracts.payloads import ClientMakeupScheduled, ClientScheduled
from iop_contracts.values import Channel
from pydantic import ValidationError

from iop_notifier.adapters.ledger_sqlite import (
    Decisions,
    Delivery,
    Makeup,
    Notice,
    Reminder,
    SqliteLedger,
)
from iop_notifier.adapters.transports import EmailTransport, SmsTransport
from iop_notifier.domain.contacts import ContactCard, ContactDirectory
from iop_notifier.domain.ledger import (
    DeliveryKey,
    DeliveryState,
    Purpose,
    ReminderDue,
    ReminderState,
)
from iop_notifier.domain.retry import RetryPolicy
from iop_notifier.domain.sms_policy import SmsPolicy
from iop_notifier.errors import (
    AmbiguousDeliveryError,
    PermanentDeliveryError,
    TransientDeliveryError,
)
from iop_notifier.makeups import begun
from iop_notifier.messages.makeup import render_makeup_email, render_makeup_sms
from iop_notifier.messages.render import Identity, render_email, render_sms
from iop_notifier.metrics import NotifierMetrics
from iop_notifier.outcomes import outcome_event
from iop_notifier.reminders import DEFAULT_REMINDER_AT, reminder_timing

log = logging.getLogger("iop_notifier.worker")

Clock = Callable[[], datetime]
Publish = Callable[[CloudEvent], Awaitable[object]]


def utc_now() -> datetime:
    return datetime.now(UTC)


class DeliveryWorker:
    def __init__(
        self,
        *,
        ledger: SqliteLedger,
        directory: ContactDirectory,
        email: EmailTransport,
        sms: SmsTransport | None,
        publish: Publish,
        identity: Identity,
        retry: RetryPolicy,
        sms_policy: SmsPolicy,
        metrics: NotifierMetrics,
        clock: Clock = utc_now,
        rng: random.Random | None = None,
        reminder_at: time_of_day = DEFAULT_REMINDER_AT,
    ) -> None:
        self.ledger = ledger
        self.directory = directory
        self.email = email
        self.sms = sms
        self.publish = publish
        self.identity = identity
        self.retry = retry
        self.sms_policy = sms_policy
        self.metrics = metrics
        self.clock = clock
        self.rng = rng or random.Random()
        self.reminder_at = reminder_at
        self._wake = asyncio.Event()

    def wake(self) -> None:
        """Something changed (a schedule queued, a contact read, a keyword): look again now."""
        self._wake.set()

    async def run(self, tick_s: float) -> None:
        while True:
            stop_if_cancelled()
            self._wake.clear()
            try:
                await self.run_once()
            except Exception:
                # One bad round (Kafka briefly away while reporting, say) must not end the worker.
                log.exception("delivery round failed")
            # asyncio.timeout, not wait_for: on Python 3.11 wait_for drops a cancellation that
            # arrives in the same step as the wake-up, and the notifier's stop never returned.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(tick_s):
                    await self._wake.wait()

    async def run_once(self) -> None:
        self.plan()
        # Bounded: a delivery that stays due (it should not) must not spin the event loop.
        for _ in range(1000):
            due = self.ledger.due(self.clock())
            if not due:
                break
            for delivery in due:
                await self.deliver_isolated(delivery)
                stop_if_cancelled()
                await asyncio.sleep(0)  # let the consumers and HTTP run between sends
            await self.report()
        await self.report()
        self.metrics.waiting.set(self.ledger.waiting_count())

    # ------------------------------------------------------------------ plan

    def plan(self) -> None:
        for notice in self.ledger.unplanned():
            card = self.directory.get(notice.client_id)
            if card is None:
                continue  # held: the enrollment with the contact details has not been read yet
            self.ledger.plan(
                notice, self._decisions(notice, card), self.clock(), self._reminder_due(notice)
            )
        self.plan_makeups()
        self.plan_reminders()

    def _decisions(
        self, notice: Notice, card: ContactCard, purpose: Purpose | None = None
    ) -> Decisions:
        purpose = purpose or notice.purpose
        return {
            Channel.EMAIL: self._email_decision(purpose, notice.client_id, card),
            Channel.SMS: self._sms_decision(purpose, notice.client_id, card),
        }

    def plan_makeups(self) -> None:
        """Each make-up read, once its client's contact is (see makeups.py), reported with the
        client's current schedule_version (0 when the notifier knows none)."""
        for makeup in self.ledger.unplanned_makeups():
            card = self.directory.get(makeup.client_id)
            if card is None:
                continue  # held: the enrollment with the contact details has not been read yet
            notice = self.ledger.notice_of(makeup.client_id)
            version = notice.schedule_version if notice is not None else 0
            decisions = self._makeup_decisions(makeup, card)
            self.ledger.plan_makeup(makeup, version, decisions, self.clock())

    def _makeup_decisions(self, makeup: Makeup, card: ContactCard) -> Decisions:
        if makeup.withdrawn:
            return {
                channel: (DeliveryState.SUPERSEDED, "withdrawn")
                for channel in (Channel.EMAIL, Channel.SMS)
            }
        return {
            Channel.EMAIL: self._email_decision(Purpose.MAKEUP, makeup.client_id, card),
            Channel.SMS: self._sms_decision(Purpose.MAKEUP, makeup.client_id, card),
        }

    def _reminder_due(self, notice: Notice) -> ReminderDue | None:
        if notice.purpose is not Purpose.CONFIRM:
            return None
        schedule = _readable(notice)
        if schedule is None:
            return None  # its deliveries fail alone when they go (see deliver_isolated)
        timing = reminder_timing(schedule, self.reminder_at)
        return ReminderDue(schedule.start_date, timing.due_at if timing else None)

    def plan_reminders(self) -> None:
        """Plan the deliveries of every reminder that fell due, against the client's current
        schedule: withdrawn or restarted elsewhere, it is obsolete; its first session moved
        later (the start cancelled), it waits for that one; the session already began, it is
        expired."""
        now = self.clock()
        for reminder in self.ledger.due_reminders(now):
            notice = self.ledger.notice_of(reminder.client_id)
            card = self.directory.get(reminder.client_id)
            if notice is None or notice.purpose is not Purpose.CONFIRM:
                self.ledger.close_reminder(reminder, ReminderState.OBSOLETE, now)
                continue
            if card is None:
                continue
            self._plan_reminder(reminder, notice, card, now)

    def _plan_reminder(
        self, reminder: Reminder, notice: Notice, card: ContactCard, now: datetime
    ) -> None:
        schedule = _readable(notice)
        if schedule is None or schedule.start_date != reminder.start_date:
            self.ledger.close_reminder(reminder, ReminderState.OBSOLETE, now)
            return
        timing = reminder_timing(schedule, self.reminder_at)
        if timing is None or timing.due_at > now:
            self.ledger.move_reminder(reminder, now, due_at=timing.due_at if timing else None)
        elif now >= timing.session_at:
            self.ledger.close_reminder(reminder, ReminderState.EXPIRED, now)
            log.info("reminder expired", extra={"client_id": reminder.client_id})
        else:
            decisions = self._decisions(notice, card, Purpose.REMINDER)
            self.ledger.plan_reminder(reminder, notice, timing.session.day, decisions, now)

    def _email_decision(
        self, purpose: Purpose, client_id: str, card: ContactCard
    ) -> tuple[DeliveryState, str | None]:
        if not card.email_consent:
            return DeliveryState.SUPPRESSED, "no_consent"
        if purpose is Purpose.CANCEL and not self._was_told(client_id, Channel.EMAIL):
            return DeliveryState.SUPPRESSED, "nothing_to_cancel"
        return DeliveryState.PENDING, None

    def _sms_decision(
        self, purpose: Purpose, client_id: str, card: ContactCard
    ) -> tuple[DeliveryState, str | None]:
        if not self._sms_consent(card):
            opted_out = card.phone is not None and self.ledger.sms_allowed(card.phone) is False
            return DeliveryState.SUPPRESSED, "opted_out" if opted_out else "no_consent"
        if self.sms is None:
            return DeliveryState.SUPPRESSED, "sms_unavailable"
        if purpose is Purpose.CANCEL and not self._was_told(client_id, Channel.SMS):
            return DeliveryState.SUPPRESSED, "nothing_to_cancel"
        return DeliveryState.PENDING, None

    def _was_told(self, client_id: str, channel: Channel) -> bool:
        return any(
            d.key.channel is channel
            and d.key.purpose is Purpose.CONFIRM
            and d.state in (DeliveryState.SENT, DeliveryState.POSSIBLY_SENT)
            for d in self.ledger.deliveries_of(client_id)
        )

    def _sms_consent(self, card: ContactCard) -> bool:
        """The consent given at enrollment, unless the phone has said STOP since. START only
        lifts a STOP: it never grants consent the client did not give (a phone shared with
        another client who did consent, say)."""
        if card.phone is None or not card.sms_consent:
            return False
        return self.ledger.sms_allowed(card.phone) is not False

    # ------------------------------------------------------------------ deliver

    async def deliver_isolated(self, delivery: Delivery) -> None:
        """Deliver one; a delivery that raises (a schedule that no longer validates, a template
        that cannot render it) is failed alone, and the round goes on. The ledger's own trouble
        is not the delivery's fault: it fails the round, which is retried."""
        try:
            # Inside the trace of the schedule event it answers, while this process remembers it.
            with tracing.resumed(delivery.cause_event_id):
                await self.deliver(delivery)
        except sqlite3.Error:
            raise
        except Exception as error:
            self._fail(delivery.key, self.clock(), f"internal_error:{describe(error)}")

    async def deliver(self, delivery: Delivery) -> None:
        key = delivery.key
        if key.purpose is Purpose.MAKEUP:
            await self._deliver_makeup(delivery)
            return
        notice = self.ledger.notice_of(key.client_id)
        card = self.directory.get(key.client_id)
        if notice is None or card is None:
            return
        now = self.clock()
        schedule = self._current_schedule(key, notice, now)
        if schedule is None:
            return
        message = self._compose(delivery, notice, schedule, card, now)
        if message is not None:
            await self._send(delivery, card, message)

    async def _deliver_makeup(self, delivery: Delivery) -> None:
        key = delivery.key
        makeup = self.ledger.makeup_of(key.client_id, key.occasion)
        card = self.directory.get(key.client_id)
        if makeup is None or card is None:
            return
        now = self.clock()
        session = ClientMakeupScheduled.model_validate_json(makeup.makeup_json)
        if makeup.withdrawn:
            self.ledger.move(key, DeliveryState.SUPERSEDED, now, reason="withdrawn")
        elif begun(session, now):
            self.ledger.move(key, DeliveryState.SUPPRESSED, now, reason="expired")
            log.info("make-up expired", extra=_ids(key))
        elif (message := self._compose_makeup(delivery, session, card, now)) is not None:
            await self._send(delivery, card, message)

    def _compose_makeup(
        self, delivery: Delivery, session: ClientMakeupScheduled, card: ContactCard, now: datetime
    ) -> EmailMessage | str | None:
        """The make-up's message, or None when it may not go now (the ledger says why)."""
        key = delivery.key
        if key.channel is Channel.EMAIL:
            return render_makeup_email(session, card, self.identity, occasion=key.occasion, now=now)
        if not self._sms_may_go(delivery, card, session.timezone, now):
            return None
        try:
            return render_makeup_sms(session, card, self.identity)
        except ValueError:
            self._fail(key, now, "sms_too_long")
            return None

    def _current_schedule(
        self, key: DeliveryKey, notice: Notice, now: datetime
    ) -> ClientScheduled | None:
        """The schedule the delivery is about, if it still holds (else it is moved out of
        the way: a message with stale times is never sent)."""
        if key.purpose is Purpose.REMINDER:
            return self._reminded_schedule(key, notice, now)
        if (notice.schedule_version, notice.purpose) != (key.schedule_version, key.purpose):
            # A newer notice arrived while this one waited. The newer one is planned (and this
            # one superseded) on the next round; mark it now so it is not picked again meanwhile.
            self.ledger.move(key, DeliveryState.SUPERSEDED, now, reason="superseded")
            return None
        return ClientScheduled.model_validate_json(notice.schedule_json)

    def _reminded_schedule(
        self, key: DeliveryKey, notice: Notice, now: datetime
    ) -> ClientScheduled | None:
        """A reminder holds while the client's current schedule has the same first session
        (a reschedule that leaves it alone does not stop it; its times are then the new ones),
        and until that session starts."""
        reminder = self.ledger.reminder_of(key.client_id, key.schedule_version)
        schedule = ClientScheduled.model_validate_json(notice.schedule_json)
        timing = reminder_timing(schedule, self.reminder_at)
        if (
            notice.purpose is not Purpose.CONFIRM
            or reminder is None
            or timing is None
            or (schedule.start_date, timing.session.day)
            != (reminder.start_date, reminder.session_date)
        ):
            self.ledger.move(key, DeliveryState.SUPERSEDED, now, reason="superseded")
            return None
        if now >= timing.session_at:
            self.ledger.move(key, DeliveryState.SUPPRESSED, now, reason="expired")
            return None
        return schedule

    def _compose(
        self,
        delivery: Delivery,
        notice: Notice,
        schedule: ClientScheduled,
        card: ContactCard,
        now: datetime,
    ) -> EmailMessage | str | None:
        """The message, or None when it may not go now (the ledger says why)."""
        key = delivery.key
        previous = (
            ClientScheduled.model_validate_json(notice.previous_json)
            if notice.previous_json and delivery.updated
            else None
        )
        if key.channel is Channel.EMAIL:
            return render_email(
                schedule,
                card,
                key.purpose,
                self.identity,
                updated=delivery.updated,
                now=now,
                previous=previous,
            )
        if not self._sms_may_go(delivery, card, schedule.timezone, now):
            return None
        try:
            return render_sms(
                schedule,
                card,
                key.purpose,
                self.identity,
                updated=delivery.updated,
                previous=previous,
            )
        except ValueError:
            self._fail(key, now, "sms_too_long")
            return None

    def _sms_may_go(self, delivery: Delivery, card: ContactCard, zone: str, now: datetime) -> bool:
        """Consent, quiet hours and the caps; a delivery that must wait is deferred."""
        key = delivery.key
        if self.sms is None or card.phone is None or not self._sms_consent(card):
            self.ledger.move(key, DeliveryState.SUPPRESSED, now, reason="opted_out")
            return False
        allowed_at = self.sms_policy.next_allowed(
            now, zone, self.ledger.sms_sent_times(key.client_id)
        )
        if allowed_at <= now:
            return True
        self.ledger.move(key, DeliveryState.DEFERRED, now, next_attempt_at=allowed_at)
        if delivery.state is DeliveryState.PENDING:
            self.metrics.deferred.labels(key.channel.value).inc()
        log.info("sms deferred", extra={**_ids(key), "reason": "quiet_hours_or_rate"})
        return False

    async def _send(
        self, delivery: Delivery, card: ContactCard, message: EmailMessage | str
    ) -> None:
        key = delivery.key
        ids = _ids(key)
        now = self.clock()
        # Recorded before the send: if we die before the next write, the next run knows.
        self.ledger.move(key, DeliveryState.SENDING, now, count_attempt=True)
        started = time.perf_counter()
        try:
            if isinstance(message, EmailMessage):
                await self.email.send(message)
            else:
                assert self.sms is not None and card.phone is not None
                await self.sms.send(card.phone, message)
        except TransientDeliveryError as error:
            attempt = delivery.attempts + 1
            if self.retry.exhausted(attempt):
                self._fail(key, self.clock(), f"retries_exhausted:{error.reason}")
                return
            delay = self.retry.delay(attempt, self.rng)
            retry_at = self.clock() + timedelta(seconds=delay)
            self.ledger.move(
                key,
                DeliveryState.PENDING,
                self.clock(),
                reason=error.reason,
                next_attempt_at=retry_at,
            )
            self.metrics.retries.labels(key.channel.value).inc()
            log.warning(
                "send failed, will retry", extra={**ids, "reason": error.reason, "attempt": attempt}
            )
        except PermanentDeliveryError as error:
            self._fail(key, self.clock(), error.reason)
        except AmbiguousDeliveryError as error:
            self.ledger.move(key, DeliveryState.POSSIBLY_SENT, self.clock(), reason="possibly_sent")
            self.metrics.failed.labels(key.channel.value, "possibly_sent").inc()
            log.warning("send outcome unknown", extra={**ids, "reason": error.reason})
        else:
            self.metrics.send_seconds.labels(key.channel.value).observe(
                time.perf_counter() - started
            )
            self.ledger.move(key, DeliveryState.SENT, self.clock())
            self.metrics.sent.labels(key.channel.value).inc()
            log.info("sent", extra=ids)

    def _fail(self, key: DeliveryKey, now: datetime, reason: str) -> None:
        self.ledger.move(key, DeliveryState.FAILED, now, reason=reason)
        self.metrics.failed.labels(key.channel.value, reason.split(":")[0]).inc()
        log.warning("send failed for good", extra={"client_id": key.client_id, "reason": reason})

    # ------------------------------------------------------------------ report

    async def report(self) -> None:
        for delivery in self.ledger.unreported():
            # Suppressions are counted here, where every path to them ends.
            if delivery.state in (DeliveryState.SUPPRESSED, DeliveryState.SUPERSEDED):
                self.metrics.suppressed.labels(
                    delivery.key.channel.value, delivery.reason or delivery.state.value
                ).inc()
            await self.publish(outcome_event(delivery))
            self.ledger.mark_reported(delivery.key)


def stop_if_cancelled() -> None:
    """Raise CancelledError when this task has been asked to stop. aiosmtplib waits for each
    SMTP reply with asyncio.wait_for, which on Python 3.11 drops a cancellation that arrives in
    the same step as the reply; the request still shows in Task.cancelling()."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError


def _readable(notice: Notice) -> ClientScheduled | None:
    """The notice's schedule, or None for a row that no longer validates (one an older
    notifier wrote, say, before the contract's date window)."""
    try:
        return ClientScheduled.model_validate_json(notice.schedule_json)
    except ValidationError:
        return None


def _ids(key: DeliveryKey) -> dict[str, object]:
    """What a log line may say about a delivery (no contact details)."""
    return {
        "client_id": key.client_id,
        "schedule_version": key.schedule_version,
        "channel": key.channel.value,
    }
