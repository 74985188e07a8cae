"""The delivery worker: turns queued notices into sent messages and reported outcomes.

Three steps, each driven by the ledger so that any of them can be interrupted and resumed:
plan (notice + contact -> one delivery per channel), deliver (due deliveries -> transport, with
the ledger written before and after), report (final states -> notification events on Kafka).
"""

import asyncio
import contextlib
import logging
import random
import sqlite3
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage

from iop_contracts.consume import describe
from iop_contracts.envelope import CloudEvent
from iop_contracts.payloads import ClientScheduled
from iop_contracts.values import Channel

from iop_notifier.adapters.ledger_sqlite import Delivery, Notice, SqliteLedger
from iop_notifier.adapters.transports import EmailTransport, SmsTransport
from iop_notifier.domain.contacts import ContactCard, ContactDirectory
from iop_notifier.domain.ledger import DeliveryKey, DeliveryState, Purpose
from iop_notifier.domain.retry import RetryPolicy
from iop_notifier.domain.sms_policy import SmsPolicy
from iop_notifier.errors import (
    AmbiguousDeliveryError,
    PermanentDeliveryError,
    TransientDeliveryError,
)
from iop_notifier.messages.render import Identity, render_email, render_sms
from iop_notifier.metrics import NotifierMetrics
from iop_notifier.outcomes import outcome_event

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
        self._wake = asyncio.Event()

    def wake(self) -> None:
        """Something changed (a schedule queued, a contact read, a keyword): look again now."""
        self._wake.set()

    async def run(self, tick_s: float) -> None:
        while True:
            self._wake.clear()
            try:
                await self.run_once()
            except Exception:
                # One bad round (Kafka briefly away while reporting, say) must not end the worker.
                log.exception("delivery round failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=tick_s)

    async def run_once(self) -> None:
        self.plan()
        # Bounded: a delivery that stays due (it should not) must not spin the event loop.
        for _ in range(1000):
            due = self.ledger.due(self.clock())
            if not due:
                break
            for delivery in due:
                await self.deliver_isolated(delivery)
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
            decisions = {
                Channel.EMAIL: self._email_decision(notice, card),
                Channel.SMS: self._sms_decision(notice, card),
            }
            self.ledger.plan(notice, decisions, self.clock())

    def _email_decision(
        self, notice: Notice, card: ContactCard
    ) -> tuple[DeliveryState, str | None]:
        if not card.email_consent:
            return DeliveryState.SUPPRESSED, "no_consent"
        if notice.purpose is Purpose.CANCEL and not self._was_told(notice, Channel.EMAIL):
            return DeliveryState.SUPPRESSED, "nothing_to_cancel"
        return DeliveryState.PENDING, None

    def _sms_decision(self, notice: Notice, card: ContactCard) -> tuple[DeliveryState, str | None]:
        if not self._sms_consent(card):
            opted_out = card.phone is not None and self.ledger.sms_allowed(card.phone) is False
            return DeliveryState.SUPPRESSED, "opted_out" if opted_out else "no_consent"
        if self.sms is None:
            return DeliveryState.SUPPRESSED, "sms_unavailable"
        if notice.purpose is Purpose.CANCEL and not self._was_told(notice, Channel.SMS):
            return DeliveryState.SUPPRESSED, "nothing_to_cancel"
        return DeliveryState.PENDING, None

    def _was_told(self, notice: Notice, channel: Channel) -> bool:
        return any(
            d.key.channel is channel
            and d.key.purpose is Purpose.CONFIRM
            and d.state in (DeliveryState.SENT, DeliveryState.POSSIBLY_SENT)
            for d in self.ledger.deliveries_of(notice.client_id)
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
            await self.deliver(delivery)
        except sqlite3.Error:
            raise
        except Exception as error:
            self._fail(delivery.key, self.clock(), f"internal_error:{describe(error)}")

    async def deliver(self, delivery: Delivery) -> None:
        key = delivery.key
        ids = {
            "client_id": key.client_id,
            "schedule_version": key.schedule_version,
            "channel": key.channel.value,
        }
        notice = self.ledger.notice_of(key.client_id)
        card = self.directory.get(key.client_id)
        if notice is None or card is None:
            return
        if (notice.schedule_version, notice.purpose) != (key.schedule_version, key.purpose):
            # A newer notice arrived while this one waited: never send stale times. The newer
            # one is planned (and this one superseded) on the next round; mark it now so it
            # is not picked again meanwhile.
            self.ledger.move(key, DeliveryState.SUPERSEDED, self.clock(), reason="superseded")
            return
        schedule = ClientScheduled.model_validate_json(notice.schedule_json)
        updated = notice.updated and key.purpose is Purpose.CONFIRM
        now = self.clock()
        message: EmailMessage | str
        if key.channel is Channel.SMS:
            if self.sms is None or card.phone is None or not self._sms_consent(card):
                self.ledger.move(key, DeliveryState.SUPPRESSED, now, reason="opted_out")
                return
            allowed_at = self.sms_policy.next_allowed(
                now, schedule.timezone, self.ledger.sms_sent_times(key.client_id)
            )
            if allowed_at > now:
                self.ledger.move(key, DeliveryState.DEFERRED, now, next_attempt_at=allowed_at)
                if delivery.state is DeliveryState.PENDING:
                    self.metrics.deferred.labels(key.channel.value).inc()
                log.info("sms deferred", extra={**ids, "reason": "quiet_hours_or_rate"})
                return
            try:
                message = render_sms(schedule, card, key.purpose, self.identity, updated=updated)
            except ValueError:
                self._fail(key, now, "sms_too_long")
                return
        else:
            previous = (
                ClientScheduled.model_validate_json(notice.previous_json)
                if notice.previous_json and key.purpose is Purpose.CONFIRM
                else None
            )
            message = render_email(
                schedule,
                card,
                key.purpose,
                self.identity,
                updated=updated,
                now=now,
                previous=previous,
            )

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
