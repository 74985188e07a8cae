"""Kafka in and out for the notifier, through the consumption kernel (iop_contracts.consume).

- Contacts: a ``TableReader`` folds iop.enrollment.v1 from the beginning, every start, into the
  contact directory (no consumer group: every instance needs every client's contact, since
  schedules are partitioned by client and enrollments by region). Contact details stay in
  memory only. Records it cannot use are skipped: intake and the scheduler own that topic's
  dead letters. It reads iop.schedule.v1 too, for the completions that end an enrollment: only
  the current enrollment's card counts.
- Schedules: an isolated FastStream subscriber in the notifier's group records each schedule
  event in the ledger (SQLite, synchronous=FULL: this consumer's durable output) before its
  offset is committed; the worker turns the ledger into messages and notification events. A
  record that cannot be used is dead-lettered once; a ledger that cannot be written is retried.
"""

import asyncio
import contextlib
import logging
import sqlite3
from collections.abc import Callable
from typing import Any
from zoneinfo import ZoneInfo

from faststream.kafka import KafkaBroker, KafkaMessage
from iop_contracts import topics
from iop_contracts.consume import DeadLetters, TableReader, subscribe_isolated
from iop_contracts.envelope import CloudEvent
from iop_contracts.kafka import publish_event
from iop_contracts.payloads import ClientMakeupScheduled, ClientScheduled, ClientUnscheduled

from iop_notifier.adapters.ledger_sqlite import SqliteLedger
from iop_notifier.domain.contacts import ContactDirectory
from iop_notifier.makeups import occasion_of
from iop_notifier.metrics import NotifierMetrics

log = logging.getLogger("iop_notifier.kafka")

CONSUMER_NAME = "iop-notifier"


class EventPublisher:
    def __init__(self, broker: KafkaBroker) -> None:
        self.broker = broker

    async def __call__(self, event: CloudEvent) -> object:
        return await publish_event(self.broker, event)


def contact_reader(
    bootstrap: str, directory: ContactDirectory, on_contact: Callable[[], None]
) -> TableReader:
    """The contact directory's reader: a current ``enrollment.requested`` puts its client's card."""

    def put_contact(event: CloudEvent) -> None:
        if directory.apply(event):
            on_contact()

    return TableReader(
        bootstrap,
        [topics.ENROLLMENT, topics.SCHEDULE],
        put_contact,
        name=f"{CONSUMER_NAME}-contacts",
    )


class ScheduleRecorder:
    """Records each schedule event in the ledger's notice queue (the subscriber's handler)."""

    def __init__(self, metrics: NotifierMetrics, on_notice: Callable[[], None]) -> None:
        self.metrics = metrics
        self.on_notice = on_notice
        self.ledger: SqliteLedger | None = None
        self.opened = asyncio.Event()

    def open(self, ledger: SqliteLedger) -> None:
        self.ledger = ledger
        self.opened.set()

    async def __call__(self, event: CloudEvent, message: KafkaMessage) -> None:
        # The broker starts consuming before the lifespan opens the ledger.
        await self.opened.wait()
        assert self.ledger is not None
        payload = event.payload()
        if isinstance(payload, ClientScheduled):  # client.rescheduled is a subclass
            queued = self.ledger.record_schedule(
                event_id=event.id,
                client_id=payload.client_id,
                schedule_version=payload.schedule_version,
                schedule_json=payload.model_dump_json(),
                correlation_id=event.correlationid,
                published_on=event.time.astimezone(ZoneInfo(payload.timezone)).date(),
            )
        elif isinstance(payload, ClientUnscheduled):
            queued = self.ledger.record_cancel(
                event_id=event.id, client_id=payload.client_id, correlation_id=event.correlationid
            )
        elif isinstance(payload, ClientMakeupScheduled):
            queued = self.ledger.record_makeup(
                event_id=event.id,
                client_id=payload.client_id,
                occasion=occasion_of(payload),
                makeup_json=payload.model_dump_json(),
                correlation_id=event.correlationid,
            )
        else:
            # Nothing to tell the client: client.completed (the programme ended as planned),
            # client.makeup_unavailable (for staff: the client was never offered the make-up).
            queued = False
            self.ledger.mark_seen(event.id)
        log.info(
            "schedule event read",
            extra={
                "event_id": event.id,
                "client_id": event.subject,
                "event_type": event.type,
                "outcome": "queued" if queued else "ignored",
            },
        )
        if queued:
            self.on_notice()


def subscribe_schedules(
    broker: KafkaBroker,
    recorder: ScheduleRecorder,
    metrics: NotifierMetrics,
    *,
    group_id: str,
    **options: Any,
) -> Any:
    """The notifier's schedule subscriber (registered before the broker starts)."""
    dead_letters = DeadLetters(
        broker, CONSUMER_NAME, lambda topic: metrics.dead_lettered.labels(topic).inc()
    )
    return subscribe_isolated(
        broker,
        topics.SCHEDULE,
        group_id=group_id,
        handle=recorder,
        dead_letters=dead_letters,
        transient=(sqlite3.OperationalError,),
        **options,
    )


async def cancel_task(task: "asyncio.Task[None] | None") -> None:
    if task is None:
        return
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError, Exception):
        await task
