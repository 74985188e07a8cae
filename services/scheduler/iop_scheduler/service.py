"""The scheduler service: region state from Kafka, micro-batched placement, schedule events out.

Reading:
- `iop.roster.v1` and `iop.schedule.v1` are tailed whole by every instance (TopicTail);
- `iop.enrollment.v1` is consumed in the consumer group: each instance owns some partitions, and
  so the whole problem of the regions keyed to them.
On assignment, before anything is answered (readiness false), the owned regions are rebuilt:
roster and schedule tails catch up to the topics' current ends, then each owned partition's
history up to the group's committed offset is replayed into the projection. Each region then
gets one reconciling solve (waitlist re-tried, current schedules re-checked against the roster),
which also finishes any work a crashed owner left half done.

Writing and committing: a batch's schedule events are published with acks=all; the projection
takes each event only once acknowledged; offsets are committed after that. A crash anywhere
means the batch is read again, and the projection (rebuilt from the schedule topic) already
holds whatever was acknowledged, so every enrollment is answered once.
"""

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from datetime import UTC, date, datetime

from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, ConsumerRecord, TopicPartition
from aiokafka.errors import KafkaError
from faststream.kafka import KafkaBroker
from iop_contracts import CloudEvent, ContractError, decode_record, topics

from iop_scheduler.adapters.placer import Placer, SolverPlacer
from iop_scheduler.adapters.publisher import SchedulePublisher
from iop_scheduler.adapters.readers import TopicTail, read_until
from iop_scheduler.domain import EnrollmentOutcome, Projection, placements, releases
from iop_scheduler.errors import UnusableEvent
from iop_scheduler.lanes import Dirty, Lane
from iop_scheduler.metrics import Metrics
from iop_scheduler.settings import SchedulerSettings

log = logging.getLogger(__name__)


def utc_today() -> date:
    return datetime.now(UTC).date()


class SchedulerService:
    def __init__(
        self,
        settings: SchedulerSettings,
        broker: KafkaBroker,
        *,
        placer: Placer | None = None,
        metrics: Metrics | None = None,
        today: Callable[[], date] = utc_today,
    ) -> None:
        self.settings = settings
        self.metrics = metrics or Metrics()
        self.projection = Projection()
        self._placer = placer or SolverPlacer(settings)
        self._publisher = SchedulePublisher(broker, settings.client_id)
        self._today = today
        bootstrap = settings.kafka.bootstrap_servers
        self._roster = TopicTail(
            bootstrap,
            topics.ROSTER,
            self._on_roster,
            reject=self._reject_roster,
            client_id=settings.client_id,
            fetch_max_wait_ms=settings.fetch_max_wait_ms,
        )
        self._schedules = TopicTail(
            bootstrap,
            topics.SCHEDULE,
            self._on_schedule,
            client_id=settings.client_id,
            fetch_max_wait_ms=settings.fetch_max_wait_ms,
        )
        self._consumer: AIOKafkaConsumer | None = None
        self._poll_task: asyncio.Task[None] | None = None
        self._lanes: dict[TopicPartition, Lane] = {}
        self._region_lane: dict[str, Lane] = {}
        self._ready = False
        self._solver_slots = asyncio.Semaphore(settings.concurrent_solves)

    # ------------------------------------------------------------ lifecycle

    @property
    def ready(self) -> bool:
        """Joined the group and rebuilt every owned region."""
        return self._ready

    @property
    def alive(self) -> bool:
        """Every reading loop still runs (each ends only on stop)."""
        polling = self._poll_task is None or not self._poll_task.done()
        return polling and self._roster.alive and self._schedules.alive

    @property
    def owned_regions(self) -> set[str]:
        return set(self._region_lane)

    async def start(self) -> None:
        await self._roster.start()
        await self._schedules.start()
        await self._roster.caught_up()
        s = self.settings
        self._consumer = AIOKafkaConsumer(
            bootstrap_servers=s.kafka.bootstrap_servers,
            client_id=s.client_id,
            group_id=s.group_id,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            session_timeout_ms=s.session_timeout_ms,
            heartbeat_interval_ms=s.heartbeat_interval_ms,
            fetch_max_wait_ms=s.fetch_max_wait_ms,
        )
        self._consumer.subscribe([topics.ENROLLMENT], listener=_Rebalance(self))
        await self._consumer.start()
        self._poll_task = asyncio.create_task(self._poll(), name="enrollment poll")
        self._poll_task.add_done_callback(_report_exit)

    async def stop(self) -> None:
        self._set_ready(False)
        if self._poll_task is not None:
            self._poll_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._poll_task
        await self._release(set(self._lanes))
        if self._consumer is not None:
            await self._consumer.stop()  # leaves the group: others take over at once
        await self._schedules.stop()
        await self._roster.stop()
        log.info("scheduler stopped cleanly")

    def _set_ready(self, ready: bool) -> None:
        self._ready = ready
        self.metrics.ready.set(1 if ready else 0)

    # ------------------------------------------------------------ rebalancing

    async def _assign(self, assigned: set[TopicPartition]) -> None:
        """Rebuild the regions of newly owned partitions, then answer again."""
        assert self._consumer is not None
        self._set_ready(False)
        started = time.perf_counter()
        # Lanes exist before the first await: aiokafka starts fetching the new partitions while
        # this listener still runs, and those records must wait in their lane, not be lost.
        lanes = {tp: Lane(tp, self.settings, self._process) for tp in assigned}
        self._lanes.update(lanes)
        await self._roster.caught_up()
        await self._schedules.caught_up()
        committed = {tp: (await self._consumer.committed(tp)) or 0 for tp in assigned}
        history = await read_until(
            self.settings.kafka.bootstrap_servers, committed, client_id=self.settings.client_id
        )
        known = self.projection.roster.known_regions()
        for tp, event in history:
            # An enrollment for a region unknown to the roster was dead-lettered when it came.
            with contextlib.suppress(ContractError, UnusableEvent):
                region_id = str(event.data.get("region_id"))
                if region_id in known:
                    self.projection.apply_enrollment(event, require_known_region=False)
                    lanes[tp].regions.add(region_id)
        for lane in lanes.values():
            for region_id in lane.regions:
                self._region_lane[region_id] = lane
                lane.mark(region_id, retry_waitlist=True, trigger=None)
            lane.start()
        elapsed = time.perf_counter() - started
        self.metrics.rebuild_seconds.observe(elapsed)
        log.info(
            "rebuilt owned regions",
            extra={"count": len(self._region_lane), "duration_s": round(elapsed, 3)},
        )
        self._set_ready(True)

    async def _release(self, revoked: set[TopicPartition]) -> None:
        """Finish the running batch of each revoked partition, then forget its regions."""
        self._set_ready(False)
        for tp in revoked:
            lane = self._lanes.pop(tp, None)
            if lane is None:
                continue
            await lane.close(self.settings.drain_timeout_s)
            for region_id in lane.regions:
                self._region_lane.pop(region_id, None)
                with contextlib.suppress(KeyError):
                    self.metrics.waitlist.remove(region_id)
                    self.metrics.placed.remove(region_id)
                with contextlib.suppress(KeyError):
                    self.metrics.lag.remove(str(tp.partition))
            self.projection.forget_regions(lane.regions)

    # ------------------------------------------------------------ consuming

    async def _poll(self) -> None:
        assert self._consumer is not None
        consumer = self._consumer
        limit = self.settings.max_pending_per_partition
        while True:
            try:
                batches = await consumer.getmany(timeout_ms=500)
            except KafkaError as error:
                log.warning("enrollment fetch failed; retrying", extra={"reason": repr(error)})
                await asyncio.sleep(1)
                continue
            for tp, records in batches.items():
                lane = self._lanes.get(tp)
                if lane is not None:
                    lane.add(records)
                elif records and tp in consumer.assignment():
                    consumer.seek(tp, records[0].offset)  # read again once its lane exists
            for tp, lane in list(self._lanes.items()):
                paused = tp in consumer.paused()
                if not paused and len(lane.records) >= limit:
                    consumer.pause(tp)
                elif paused and len(lane.records) < limit // 2:
                    consumer.resume(tp)
                # Fetched but unprocessed records, plus what the broker holds beyond our
                # position (known after the partition's first fetch response).
                position = await consumer.position(tp)
                highwater = consumer.highwater(tp) or position
                lag = max(0, highwater - position) + len(lane.records)
                self.metrics.lag.labels(str(tp.partition)).set(lag)

    def _on_roster(self, event: CloudEvent) -> None:
        for region_id in self.projection.apply_roster(event):
            lane = self._region_lane.get(region_id)
            if lane is not None:
                lane.mark(region_id, retry_waitlist=True, trigger=event)

    def _on_schedule(self, event: CloudEvent) -> None:
        self.projection.apply_schedule(event)

    async def _reject_roster(self, record: ConsumerRecord, reason: str, live: bool) -> None:
        if live:
            await self._publisher.dead_letter(record, reason)
            self.metrics.dead_letters.labels(record.topic).inc()

    # ------------------------------------------------------------ one batch

    async def _process(self, lane: Lane) -> None:
        """One batch of a lane, once a solver slot is free: while a lane waits for the slot its
        records keep arriving, so batches grow with the load instead of queueing solves."""
        async with self._solver_slots:
            await self._batch(lane)

    async def _batch(self, lane: Lane) -> None:
        """Apply the lane's next records, settle every region they touched, then commit."""
        records = lane.take()
        self.metrics.batch_size.observe(len(records))
        try:
            for record in records:
                await self._take_record(lane, record)
                lane.commit_offset = record.offset + 1
        except BaseException:
            # Put back what was not applied: the retry starts there.
            done = lane.commit_offset or 0
            lane.records.extendleft(reversed([r for r in records if r.offset >= done]))
            self.metrics.batches.labels("failed").inc()
            raise
        while lane.dirty:
            region_id, why = lane.dirty.popitem()
            try:
                await self._settle(region_id, why)
            except BaseException:
                lane.dirty.setdefault(region_id, Dirty()).merge(why.retry_waitlist, why.trigger)
                self.metrics.batches.labels("failed").inc()
                raise
        if lane.commit_offset is not None:
            await self._commit(lane.tp, lane.commit_offset)
            lane.commit_offset = None
        self.metrics.batches.labels("ok").inc()

    async def _take_record(self, lane: Lane, record: ConsumerRecord) -> None:
        try:
            event = decode_record(record.value)
            region_id, outcome = self.projection.apply_enrollment(event)
        except (ContractError, UnusableEvent) as error:
            log.warning(
                "dead-lettering an enrollment record",
                extra={
                    "topic": record.topic,
                    "partition": record.partition,
                    "offset": record.offset,
                    "reason": str(error)[:300],
                },
            )
            await self._publisher.dead_letter(record, str(error))
            self.metrics.dead_letters.labels(record.topic).inc()
            return
        lane.regions.add(region_id)
        self._region_lane[region_id] = lane
        if outcome is EnrollmentOutcome.NEW:
            lane.dirty.setdefault(region_id, Dirty())
        elif outcome is EnrollmentOutcome.ENDED:
            lane.dirty.setdefault(region_id, Dirty()).merge(True, event)
        else:
            log.info(
                "enrollment event changes nothing (repeat, second request or nothing to end)",
                extra={"event_id": event.id, "region_id": region_id},
            )

    async def _settle(self, region_id: str, why: Dirty) -> None:
        """Give up ended places, then solve the region if anyone needs an answer."""
        freed = releases(self.projection, region_id)
        if freed:
            await self._publisher.publish(freed, self._acked)
        retry = why.retry_waitlist or bool(freed)
        if self.projection.unanswered(region_id) or retry:
            snapshot = self.projection.snapshot(
                region_id, include_waiting=retry, as_of=self._today()
            )
            if snapshot["enrollments"]:
                started = time.perf_counter()
                result = await self._placer.place(snapshot)
                solve_s = time.perf_counter() - started
                self.metrics.solve_seconds.observe(solve_s)
                answers = placements(self.projection, region_id, result, why.trigger)
                log.info(
                    "region solved",
                    extra={
                        "region_id": region_id,
                        "batch_size": len(snapshot["enrollments"]),
                        "solve_s": round(solve_s, 3),
                        "count": len(answers),
                    },
                )
                await self._publisher.publish(answers, self._acked)
        self.metrics.waitlist.labels(region_id).set(len(self.projection.waiting(region_id)))
        self.metrics.placed.labels(region_id).set(len(self.projection.placed(region_id)))

    def _acked(self, event: CloudEvent) -> None:
        self.projection.apply_schedule(event)
        self.metrics.events.labels(event.type).inc()
        log.info(
            "schedule event published",
            extra={
                "event_type": event.type,
                "client_id": event.subject,
                "event_id": event.id,
                "correlation_id": event.correlationid,
                "schedule_version": event.data.get("schedule_version"),
            },
        )

    async def _commit(self, tp: TopicPartition, offset: int) -> None:
        assert self._consumer is not None
        try:
            await self._consumer.commit({tp: offset})
        except KafkaError as error:
            # Lost the partition meanwhile: its next owner re-reads from the last commit and
            # finds these answers already on the schedule topic.
            log.warning(
                "commit failed",
                extra={"partition": tp.partition, "offset": offset, "reason": type(error).__name__},
            )


def _report_exit(task: "asyncio.Task[None]") -> None:
    """The poll loop ends only on stop; anything else is a bug, and liveness turns false."""
    if not task.cancelled() and task.exception() is not None:
        log.error("enrollment poll loop died", exc_info=task.exception())


class _Rebalance(ConsumerRebalanceListener):
    def __init__(self, service: SchedulerService) -> None:
        self._service = service

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        await self._service._release(set(revoked))

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        await self._service._assign(set(assigned))
