"""Wires the notifier together and owns its background tasks; started and stopped by the app."""

import asyncio
import logging

from faststream.kafka import KafkaBroker
from iop_contracts.cluster import cluster_identity
from iop_contracts.consume import TableReader, subscriber_alive
from iop_contracts.dates import contract_today

from iop_notifier.adapters.kafka_io import (
    EventPublisher,
    ScheduleRecorder,
    cancel_task,
    contact_reader,
    subscribe_schedules,
)
from iop_notifier.adapters.ledger_sqlite import SqliteLedger, open_for_cluster
from iop_notifier.adapters.sms_gateway import WebhookSmsGateway
from iop_notifier.adapters.smtp import SmtpTransport
from iop_notifier.adapters.transports import EmailTransport, SmsTransport
from iop_notifier.domain.phones import KnownPhones, PhoneDigests
from iop_notifier.domain.retry import RetryPolicy
from iop_notifier.domain.sms_policy import SmsPolicy, parse_hhmm
from iop_notifier.messages.render import Identity, render_help_sms
from iop_notifier.metrics import NotifierMetrics
from iop_notifier.settings import NotifierSettings
from iop_notifier.webhook_signature import WebhookVerifier
from iop_notifier.worker import Clock, DeliveryWorker, utc_now

log = logging.getLogger("iop_notifier")


def identity_of(settings: NotifierSettings) -> Identity:
    return Identity(
        sender_name=settings.sender_name,
        sender_address=settings.sender_address,
        network_name=settings.network_name,
        callback_number=settings.callback_number,
        domain=settings.message_domain,
    )


def sms_policy_of(settings: NotifierSettings) -> SmsPolicy:
    return SmsPolicy(
        quiet_start=parse_hhmm(settings.sms_quiet_start),
        quiet_end=parse_hhmm(settings.sms_quiet_end),
        max_per_day=settings.sms_max_per_day,
        max_per_week=settings.sms_max_per_week,
    )


def phone_digests_of(settings: NotifierSettings) -> PhoneDigests | None:
    key = settings.phone_digest_key
    return None if key is None else PhoneDigests(key.get_secret_value().encode())


def inbound_verifier_of(settings: NotifierSettings) -> WebhookVerifier | None:
    secret = settings.sms_inbound_secret
    if secret is None:
        return None
    return WebhookVerifier(secret.get_secret_value().encode(), settings.sms_inbound_max_skew_s)


def smtp_of(settings: NotifierSettings) -> SmtpTransport:
    return SmtpTransport(
        settings.smtp_host,
        settings.smtp_port,
        tls=settings.smtp_tls,
        ca_file=settings.smtp_ca_file,
        username=settings.smtp_username,
        password=settings.smtp_password.get_secret_value() if settings.smtp_password else None,
        timeout_s=settings.smtp_timeout_s,
    )


class NotifierRuntime:
    def __init__(
        self,
        settings: NotifierSettings,
        broker: KafkaBroker,
        *,
        clock: Clock = utc_now,
        email: EmailTransport | None = None,
        sms: SmsTransport | None = None,
        metrics: NotifierMetrics | None = None,
    ) -> None:
        self.settings = settings
        self.broker = broker
        self.clock = clock
        self.metrics = metrics or NotifierMetrics()
        self.directory = KnownPhones()
        self.identity = identity_of(settings)
        # Rendered now: a network name too long for it stops the start, not a HELP later.
        self.help_reply = render_help_sms(self.identity)
        self.inbound_verifier = inbound_verifier_of(settings)
        self._email = email
        self._sms = sms
        self.ledger: SqliteLedger | None = None
        self.worker: DeliveryWorker | None = None
        self.reader: TableReader | None = None
        self.recorder = ScheduleRecorder(self.metrics, self._wake)
        # Registered now, so that the broker starts it; it waits for the ledger (see start).
        self.schedules = subscribe_schedules(
            broker,
            self.recorder,
            self.metrics,
            group_id=settings.consumer_group,
            session_timeout_ms=settings.session_timeout_ms,
            heartbeat_interval_ms=settings.heartbeat_interval_ms,
        )
        self._gateway: WebhookSmsGateway | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self.started = False

    @property
    def alive(self) -> bool:
        """Every reading and delivering task still runs (each ends only on stop)."""
        if not self.started:
            return True
        return (
            self.reader is not None
            and self.reader.alive
            and subscriber_alive(self.schedules)
            and all(not task.done() for task in self._tasks)
        )

    @property
    def ready(self) -> bool:
        """Ready once the contacts are rebuilt, while every task still runs."""
        return self.started and self.alive and self.reader is not None and self.reader.has_caught_up

    def _wake(self) -> None:
        if self.worker is not None:
            self.worker.wake()

    async def start(self) -> None:
        settings = self.settings
        contract_today()  # a malformed IOP_TODAY stops the notifier here, not record by record
        # The ledger is only right about the broker its events came from (see open_for_cluster).
        cluster = await cluster_identity(settings.kafka.bootstrap_servers)
        self.ledger = open_for_cluster(
            settings.ledger_path, cluster, phone_digests=phone_digests_of(settings)
        )
        interrupted = self.ledger.recover_interrupted(self.clock())
        if interrupted:
            log.warning("deliveries interrupted by the last run", extra={"count": interrupted})
            # Channel unknown here without a query; the ledger rows carry it for the report.
            self.metrics.failed.labels("unknown", "possibly_sent").inc(interrupted)
        sms = self._sms
        if sms is None and settings.sms_gateway_url:
            token = settings.sms_gateway_token
            self._gateway = WebhookSmsGateway(
                settings.sms_gateway_url,
                token.get_secret_value() if token else None,
                timeout_s=settings.sms_timeout_s,
            )
            sms = self._gateway
        self.worker = DeliveryWorker(
            ledger=self.ledger,
            directory=self.directory,
            email=self._email or smtp_of(settings),
            sms=sms,
            publish=EventPublisher(self.broker),
            identity=self.identity,
            retry=RetryPolicy(
                settings.retry_base_s, settings.retry_max_s, settings.retry_max_attempts
            ),
            sms_policy=sms_policy_of(settings),
            metrics=self.metrics,
            clock=self.clock,
            reminder_at=parse_hhmm(settings.reminder_at),
        )
        self.reader = contact_reader(
            settings.kafka.bootstrap_servers, self.directory, self.worker.wake
        )
        await self.reader.start()
        self.recorder.open(self.ledger)
        if not self.schedules.running:  # registered after the broker started (tests do that)
            await self.schedules.start()
        self._tasks = [asyncio.create_task(self._deliver(), name="notifier-worker")]
        self.started = True
        log.info("notifier started")

    async def _deliver(self) -> None:
        assert self.reader is not None and self.worker is not None
        # Planning before the contacts are rebuilt would act on stale consent.
        await self.reader.caught_up(timeout_s=None)
        self.rekey_phone_digests()
        await self.worker.run(self.settings.worker_tick_s)

    def rekey_phone_digests(self) -> None:
        """Once every enrollment is read: the phones whose unkeyed digests can be recomputed."""
        assert self.ledger is not None
        if self.ledger.phone_digests is not None:
            self.ledger.rekey_phone_digests(self.directory.phones())

    async def stop(self) -> None:
        self.started = False
        for task in reversed(self._tasks):
            await cancel_task(task)
        self._tasks = []
        if self.reader is not None:
            await self.reader.stop()
        if self._gateway is not None:
            await self._gateway.aclose()
        if self.ledger is not None:
            self.ledger.close()
        log.info("notifier stopped")
