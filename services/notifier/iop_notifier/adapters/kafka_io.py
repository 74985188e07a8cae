"""Kafka in and out: the enrollment reader (contacts), the schedule consumer, and publishing.

Raw aiokafka consumers rather than FastStream subscribers, because the notifier needs two things
a subscriber hides: committing an exact offset after the ledger write (not "whatever the consumer
has fetched"), and reading the whole enrollment topic from the start without a consumer group to
rebuild the contact directory and know when it has caught up. FastStream's broker publishes.
"""

import asyncio
import contextlib
import logging
from collections.abc import Callable

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.errors import CommitFailedError, KafkaError
from faststream.kafka import KafkaBroker
from iop_contracts import topics
from iop_contracts.envelope import CloudEvent, ContractError, decode_record
from iop_contracts.kafka import dead_letter_record, publish_event
from iop_contracts.payloads import ClientScheduled, ClientUnscheduled, EnrollmentRequested

from iop_notifier.adapters.ledger_sqlite import SqliteLedger
from iop_notifier.domain.contacts import ContactCard, ContactDirectory
from iop_notifier.metrics import NotifierMetrics

log = logging.getLogger("iop_notifier.kafka")

CONSUMER_NAME = "iop-notifier"


class EventPublisher:
    def __init__(self, broker: KafkaBroker) -> None:
        self.broker = broker

    async def __call__(self, event: CloudEvent) -> object:
        return await publish_event(self.broker, event)


class EnrollmentReader:
    """Reads iop.enrollment.v1 from the beginning, every start, into the contact directory.

    No consumer group: every notifier instance needs every client's contact (schedules are
    partitioned by client, enrollments by region). Contact details stay in memory only.
    Undecodable enrollment records are skipped, not dead-lettered: intake and the scheduler own
    that topic's dead letters, and re-reading from the start would dead-letter them again on
    every restart.
    """

    def __init__(
        self, bootstrap: str, directory: ContactDirectory, on_contact: Callable[[], None]
    ) -> None:
        self.bootstrap = bootstrap
        self.directory = directory
        self.on_contact = on_contact
        self.caught_up = asyncio.Event()
        self._consumer: AIOKafkaConsumer | None = None
        self._targets: dict[TopicPartition, int] = {}

    async def start(self) -> None:
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self.bootstrap,
            group_id=None,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            client_id=f"{CONSUMER_NAME}-contacts",
        )
        await consumer.start()
        self._consumer = consumer
        await consumer.topics()  # loads cluster metadata
        partitions = consumer.partitions_for_topic(topics.ENROLLMENT) or set()
        assigned = [TopicPartition(topics.ENROLLMENT, p) for p in sorted(partitions)]
        consumer.assign(assigned)
        await consumer.seek_to_beginning(*assigned)
        self._targets = await consumer.end_offsets(assigned) if assigned else {}
        await self._check_caught_up()

    async def stop(self) -> None:
        consumer, self._consumer = self._consumer, None
        if consumer is not None:
            await consumer.stop()

    async def run(self) -> None:
        assert self._consumer is not None
        while True:
            batch = await self._consumer.getmany(timeout_ms=500, max_records=500)
            changed = False
            for records in batch.values():
                for record in records:
                    changed |= self._read(record)
            await self._check_caught_up()
            if changed:
                self.on_contact()

    def _read(self, record: ConsumerRecord[bytes, bytes]) -> bool:
        try:
            event = decode_record(record.value)
            payload = event.payload()
        except ContractError:
            log.warning(
                "skipped undecodable enrollment record",
                extra={
                    "topic": record.topic,
                    "partition": record.partition,
                    "offset": record.offset,
                },
            )
            return False
        if isinstance(payload, EnrollmentRequested):
            self.directory.put(ContactCard.from_enrollment(payload))
            return True
        return False

    async def _check_caught_up(self) -> None:
        if self.caught_up.is_set() or self._consumer is None:
            return
        for tp, end in self._targets.items():
            if await self._consumer.position(tp) < end:
                return
        self.caught_up.set()
        log.info("contacts caught up", extra={"count": len(self.directory)})


class ScheduleConsumer:
    """Reads iop.schedule.v1 in the notifier's consumer group into the ledger's notice queue.

    An offset is committed only after the records before it are recorded in the ledger (SQLite,
    synchronous=FULL): the ledger is this consumer's durable output, and the worker turns it into
    messages and notification events.
    """

    def __init__(
        self,
        *,
        bootstrap: str,
        group_id: str,
        ledger: SqliteLedger,
        broker: KafkaBroker,
        metrics: NotifierMetrics,
        on_notice: Callable[[], None],
        session_timeout_ms: int,
        heartbeat_interval_ms: int,
    ) -> None:
        self.bootstrap = bootstrap
        self.group_id = group_id
        self.ledger = ledger
        self.broker = broker
        self.metrics = metrics
        self.on_notice = on_notice
        self.session_timeout_ms = session_timeout_ms
        self.heartbeat_interval_ms = heartbeat_interval_ms
        self._consumer: AIOKafkaConsumer | None = None

    async def start(self) -> None:
        consumer = AIOKafkaConsumer(
            topics.SCHEDULE,
            bootstrap_servers=self.bootstrap,
            group_id=self.group_id,
            client_id=CONSUMER_NAME,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            session_timeout_ms=self.session_timeout_ms,
            heartbeat_interval_ms=self.heartbeat_interval_ms,
        )
        await consumer.start()
        self._consumer = consumer

    async def stop(self) -> None:
        consumer, self._consumer = self._consumer, None
        if consumer is not None:
            await consumer.stop()

    async def run(self) -> None:
        consumer = self._consumer
        assert consumer is not None
        while True:
            batch = await consumer.getmany(timeout_ms=500, max_records=200)
            for tp, records in batch.items():
                done = await self._handle_all(tp, records)
                if done is None:
                    continue
                try:
                    await consumer.commit({tp: done + 1})
                except (CommitFailedError, KafkaError) as error:
                    # A rebalance took the partition: its new owner re-reads from the last
                    # commit, and the ledger makes those records harmless.
                    log.warning(
                        "offset commit failed",
                        extra={
                            "topic": tp.topic,
                            "partition": tp.partition,
                            "reason": type(error).__name__,
                        },
                    )

    async def _handle_all(
        self, tp: TopicPartition, records: list[ConsumerRecord[bytes, bytes]]
    ) -> int | None:
        """Handle records in order; the offset of the last one handled, or None."""
        assert self._consumer is not None
        last: int | None = None
        for record in records:
            try:
                await self.handle(record)
            except Exception:
                # The ledger or the dead-letter topic is unavailable: do not skip the record.
                log.exception(
                    "schedule record not handled; will re-read it",
                    extra={"topic": tp.topic, "partition": tp.partition, "offset": record.offset},
                )
                self._consumer.seek(tp, record.offset)
                await asyncio.sleep(1.0)
                break
            last = record.offset
        return last

    async def handle(self, record: ConsumerRecord[bytes, bytes]) -> None:
        try:
            event = decode_record(record.value)
            payload = event.payload()
        except ContractError as error:
            await dead_letter_record(
                self.broker,
                topic=record.topic,
                key=record.key,
                value=record.value,
                headers=list(record.headers or ()),
                reason=str(error),
                consumer=CONSUMER_NAME,
            )
            self.metrics.dead_lettered.labels(record.topic).inc()
            log.warning(
                "dead-lettered undecodable record",
                extra={
                    "topic": record.topic,
                    "partition": record.partition,
                    "offset": record.offset,
                },
            )
            return
        ids = {"event_id": event.id, "client_id": event.subject, "event_type": event.type}
        if isinstance(payload, ClientScheduled):  # client.rescheduled is a subclass
            queued = self.ledger.record_schedule(
                event_id=event.id,
                client_id=payload.client_id,
                schedule_version=payload.schedule_version,
                schedule_json=payload.model_dump_json(),
                correlation_id=event.correlationid,
            )
        elif isinstance(payload, ClientUnscheduled):
            queued = self.ledger.record_cancel(
                event_id=event.id, client_id=payload.client_id, correlation_id=event.correlationid
            )
        else:
            queued = False
            self.ledger.mark_seen(event.id)
        log.info("schedule event read", extra={**ids, "outcome": "queued" if queued else "ignored"})
        if queued:
            self.on_notice()


async def cancel_task(task: "asyncio.Task[None] | None") -> None:
    if task is None:
        return
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError, Exception):
        await task
