"""The scheduler service: region state from Kafka, micro-batched placement, schedule events out.

Reading:
- `iop.roster.v1`, `iop.schedule.v1` and `iop.staffing.v1` are tailed whole by every instance
  (TableReader);
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

Closures and absences (rule 11, domain.calendar): every solve's schedules get their `cancelled`
occurrences from today, so a roster change to `closed_dates` or `absences` (which settles the
regions it touches) re-publishes exactly the clients whose list changed, and a newcomer's first
schedule already lists what lies ahead. A substitute for an absent facilitator is published once
on `iop.staffing.v1` before the schedules that rely on it; the staffing table, rebuilt from that
topic before a region is settled, keeps a restart or the next owner from deciding it again.

Make-ups (rule 12, domain.makeups): a `makeup.requested` arrives in its region's lane like any
enrollment event and is answered when the region is settled, after the batch's placements are
published (so a request that follows a client's placement sees it), one request at a time, each
answer acknowledged before the next is decided (so it sees the seat the last one took):
`client.makeup_scheduled` or `client.makeup_unavailable`, caused by the request. The answer,
read back from the schedule topic, marks the request answered, and history replayed on a
rebuild is never answered again (it was answered, or dead-lettered, when it was new). A request
the contract does not cover (the client is not scheduled in the region, or no date of the week
is left in their programme) is dead-lettered with the reason. Make-ups never move anyone.
"""

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from aiokafka import TopicPartition
from faststream.kafka import KafkaBroker, KafkaMessage
from iop_contracts import CloudEvent, ContractError, topics
from iop_contracts.consume import (
    TRANSIENT,
    DeadLetters,
    Delivery,
    PartitionHooks,
    PartitionLanes,
    TableReader,
    describe,
    read_partitions,
    subscribe_isolated,
    subscriber_alive,
)
from iop_contracts.dates import today_in
from iop_contracts.kafka import publish_event

from iop_scheduler.adapters.placer import Placer, SolverPlacer
from iop_scheduler.adapters.publisher import SchedulePublisher
from iop_scheduler.adapters.snapshot import as_payloads, problem_of
from iop_scheduler.domain import (
    Answer,
    EnrollmentOutcome,
    Plan,
    Projection,
    StaffingTable,
    Substitution,
    announcement,
    completions,
    extension_declined,
    placements,
    plan_region,
    releases,
)
from iop_scheduler.domain.makeups import (
    MakeupRequest,
    answer_payload,
    place_makeup,
    substitutions_payload,
)
from iop_scheduler.domain.roster import ROSTER_EVENTS, RosterTable
from iop_scheduler.errors import CalendarError, UnusableEvent
from iop_scheduler.lanes import Dirty, Lane, close_all
from iop_scheduler.metrics import Metrics
from iop_scheduler.settings import SchedulerSettings
from iop_scheduler.solver import extension_reasons

log = logging.getLogger(__name__)

# Substitutions this many days old are forgotten: the current ISO week's hours (rule 7) are the
# furthest back a decision looks.
STAFFING_MEMORY = timedelta(days=7)
# Seconds a stop waits for the broker to acknowledge leaving the enrollment group.
LEAVE_TIMEOUT_S = 5.0
# Failures that isolating clients cannot cure: the broker's, and the region calendar's.
NOT_A_CLIENTS_FAULT: tuple[type[BaseException], ...] = (*TRANSIENT, CalendarError)


@dataclass(frozen=True)
class Settlement:
    """What one solve of a region decided: schedule answers, and substitutes to announce first."""

    answers: list[Answer]
    substitutions: tuple[Substitution, ...] = ()


class SchedulerService(PartitionHooks):
    def __init__(
        self,
        settings: SchedulerSettings,
        broker: KafkaBroker,
        *,
        placer: Placer | None = None,
        metrics: Metrics | None = None,
        today: Callable[[str | None], date] = today_in,
    ) -> None:
        self.settings = settings
        self.metrics = metrics or Metrics()
        self.projection = Projection()
        self.staffing = StaffingTable()
        self._placer = placer or SolverPlacer(settings)
        self._broker = broker
        self._publisher = SchedulePublisher(broker, settings.client_id)
        self._today = today
        self._dead_letters = DeadLetters(
            broker, settings.client_id, lambda topic: self.metrics.dead_letters.labels(topic).inc()
        )
        bootstrap = settings.kafka.bootstrap_servers
        wait = settings.fetch_max_wait_ms
        self._roster = TableReader(
            bootstrap,
            [topics.ROSTER],
            self._on_roster,
            name=f"{settings.client_id}-roster",
            fetch_max_wait_ms=wait,
        )
        self._schedules = TableReader(
            bootstrap,
            [topics.SCHEDULE],
            self._on_schedule,
            name=f"{settings.client_id}-schedules",
            fetch_max_wait_ms=wait,
        )
        self._substitutions = TableReader(
            bootstrap,
            [topics.STAFFING],
            self.staffing.apply,
            name=f"{settings.client_id}-staffing",
            fetch_max_wait_ms=wait,
        )
        # The roster is read whole by every instance, so its dead letters come from one reader
        # in a group of its own (one partition, one owner): once, not once per instance.
        self._roster_check = subscribe_isolated(
            broker,
            topics.ROSTER,
            group_id=f"{settings.group_id}-roster-check",
            handle=_check_roster_event,
            dead_letters=self._dead_letters,
            session_timeout_ms=settings.session_timeout_ms,
            heartbeat_interval_ms=settings.heartbeat_interval_ms,
        )
        self._enrollments = PartitionLanes(
            bootstrap,
            topics.ENROLLMENT,
            self,
            self._dead_letters,
            group_id=settings.group_id,
            name=settings.client_id,
            session_timeout_ms=settings.session_timeout_ms,
            heartbeat_interval_ms=settings.heartbeat_interval_ms,
            fetch_max_wait_ms=wait,
        )
        self._lanes: dict[TopicPartition, Lane] = {}
        self._region_lane: dict[str, Lane] = {}
        # Clients whose request broke the solver: dead-lettered once, left out of every solve.
        self._unplaceable: set[str] = set()
        # Per region, the make-up requests read and not answered yet, oldest first.
        self._makeup_requests: dict[str, list[Delivery]] = {}
        self._ready = False
        self._started = False
        self._calendar: asyncio.Task[None] | None = None
        self._solver_slots = asyncio.Semaphore(settings.concurrent_solves)

    # ------------------------------------------------------------ lifecycle

    @property
    def ready(self) -> bool:
        """Joined the group, rebuilt every owned region, and every reader still runs."""
        return self._ready and self.alive

    @property
    def alive(self) -> bool:
        """Every reading task still runs (each ends only on stop). While start() waits for the
        roster, the enrollment consumer and the calendar do not exist yet: not made is not dead."""
        if not self._started:
            return True
        readers = (
            self._roster.alive
            and self._schedules.alive
            and self._substitutions.alive
            and subscriber_alive(self._roster_check)
        )
        if self._calendar is None:  # start() has not got that far
            return readers
        return readers and self._enrollments.alive and not self._calendar.done()

    @property
    def idle(self) -> bool:
        """Every owned partition's lane is idle (see Lane.idle)."""
        return all(lane.idle for lane in self._lanes.values())

    @property
    def owned_regions(self) -> set[str]:
        return set(self._region_lane)

    async def start(self) -> None:
        self._today(None)  # a malformed IOP_TODAY stops the service here, not record by record
        self._started = True
        await self._roster.start()
        await self._schedules.start()
        await self._substitutions.start()
        await self._roster.caught_up(timeout_s=None)
        await self._enrollments.start()
        self._calendar = asyncio.create_task(self._follow_calendar(), name="calendar")

    async def stop(self) -> None:
        self._set_ready(False)
        if self._calendar is not None:
            self._calendar.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._calendar
        await self._enrollments.stop()
        await self.revoked(set(self._lanes))
        await self._leave_group()
        await self._schedules.stop()
        await self._substitutions.stop()
        await self._roster.stop()
        log.info("scheduler stopped cleanly")

    async def _leave_group(self) -> None:
        """Leave the consumer group, so others take over at once; bounded, because with the
        broker away aiokafka retries for ever, and the group's session timeout hands the
        partitions over anyway."""
        try:
            async with asyncio.timeout(LEAVE_TIMEOUT_S):
                await self._enrollments.leave()
        except TimeoutError:
            log.warning("left the group without the broker's answer", extra={"outcome": "timeout"})

    def _set_ready(self, ready: bool) -> None:
        self._ready = ready
        self.metrics.ready.set(1 if ready else 0)

    # ------------------------------------------------------------ rebalancing

    async def assigned(self, partitions: set[TopicPartition]) -> None:
        """Rebuild the regions of newly owned partitions, then answer again."""
        self._set_ready(False)
        started = time.perf_counter()
        # Lanes exist before the first await: aiokafka starts fetching the new partitions while
        # this listener still runs, and those records must wait in their lane, not be lost.
        lanes = {tp: Lane(tp, self.settings, self._process) for tp in partitions}
        self._lanes.update(lanes)
        await self._roster.caught_up(timeout_s=None)
        await self._schedules.caught_up(timeout_s=None)
        await self._substitutions.caught_up(timeout_s=None)
        committed = {tp: await self._enrollments.committed(tp) for tp in partitions}
        history = await read_partitions(
            self.settings.kafka.bootstrap_servers,
            committed,
            name=f"{self.settings.client_id}-rebuild",
        )
        known = self.projection.roster.known_regions()
        for tp, event in history:
            self._replay(lanes[tp], event, known)
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

    def _replay(self, lane: Lane, event: CloudEvent, known: set[str]) -> None:
        """One event of a partition's processed history. What failed then was dead-lettered
        then: here it is only skipped."""
        try:
            region_id = str(event.data.get("region_id"))
            if region_id in known:
                self.projection.apply_enrollment(event, require_known_region=False)
                lane.regions.add(region_id)
        except Exception as error:
            log.info("skipped a processed record on rebuild", extra={"reason": describe(error)})

    async def revoked(self, partitions: set[TopicPartition]) -> None:
        """Finish the running batch of each revoked partition, then forget its regions."""
        self._set_ready(False)
        lanes = [lane for tp in partitions if (lane := self._lanes.pop(tp, None)) is not None]
        await close_all(lanes, self.settings.drain_timeout_s)
        for lane in lanes:
            for region_id in lane.regions:
                self._region_lane.pop(region_id, None)
                self._makeup_requests.pop(region_id, None)  # the next owner reads them again
                with contextlib.suppress(KeyError):
                    self.metrics.waitlist.remove(region_id)
                    self.metrics.placed.remove(region_id)
            with contextlib.suppress(KeyError):
                self.metrics.lag.remove(str(lane.tp.partition))
            self.projection.forget_regions(lane.regions)

    # ------------------------------------------------------------ consuming

    def deliver(self, tp: TopicPartition, deliveries: list[Delivery], span: range) -> None:
        lane = self._lanes.get(tp)
        if lane is None:
            if self._enrollments.owns(tp):
                self._enrollments.seek(tp, span.start)  # read again once its lane exists
            return
        lane.add(deliveries, span.stop)
        limit = self.settings.max_pending_per_partition
        paused = self._enrollments.paused(tp)
        if not paused and len(lane.records) >= limit:
            self._enrollments.pause(tp)
        asyncio.get_running_loop().create_task(self._note_lag(tp, lane))

    async def _note_lag(self, tp: TopicPartition, lane: Lane) -> None:
        try:
            lag = await self._enrollments.lag(tp) + len(lane.records)
        except Exception:  # the partition was revoked meanwhile
            return
        self.metrics.lag.labels(str(tp.partition)).set(lag)

    def region_today(self, region_id: str) -> date:
        """Today in the region's time zone (all its sites share one), or IOP_TODAY."""
        sites = self.projection.roster.region_roster(region_id).get("sites") or []
        return self._today(sites[0].get("timezone") if sites else None)

    async def _follow_calendar(self) -> None:
        """Programmes end and days turn without any event: look every ``calendar_tick_s``. A
        region with a completion due, or whose day turned (the admission horizon moved on),
        is settled again with its waitlist."""
        days: dict[str, date] = {}
        while True:
            await asyncio.sleep(self.settings.calendar_tick_s)
            for region_id, lane in list(self._region_lane.items()):
                today = self.region_today(region_id)
                turned = days.get(region_id, today) != today
                days[region_id] = today
                if turned or self.projection.due_completions(region_id, today):
                    lane.mark(region_id, retry_waitlist=True, trigger=None)

    def _on_roster(self, event: CloudEvent) -> None:
        for region_id in self.projection.apply_roster(event):
            lane = self._region_lane.get(region_id)
            if lane is not None:
                lane.mark(region_id, retry_waitlist=True, trigger=event)

    def _on_schedule(self, event: CloudEvent) -> None:
        self.projection.apply_schedule(event)

    # ------------------------------------------------------------ one batch

    async def _process(self, lane: Lane) -> None:
        """One batch of a lane, once a solver slot is free: while a lane waits for the slot its
        records keep arriving, so batches grow with the load instead of queueing solves."""
        async with self._solver_slots:
            await self._batch(lane)

    async def _batch(self, lane: Lane) -> None:
        """Apply the lane's next records, settle every region they touched, then commit. Only a
        transient failure (the broker) fails the batch, which is then retried from where it
        stopped; a record or a client that breaks costs only itself."""
        deliveries = lane.take()
        self.metrics.batch_size.observe(len(deliveries))
        fresh: dict[str, Delivery] = {}
        try:
            for delivery in deliveries:
                await self._take(lane, delivery, fresh)
                lane.commit_offset = delivery.offset + 1
        except BaseException:
            # Put back what was not applied: the retry starts there.
            done = lane.commit_offset or 0
            lane.records.extendleft(reversed([d for d in deliveries if d.offset >= done]))
            self.metrics.batches.labels("failed").inc()
            raise
        if not lane.records and lane.fetched_until is not None:
            lane.commit_offset = lane.fetched_until  # dead-lettered records at the end too
        while lane.dirty:
            region_id, why = lane.dirty.popitem()
            try:
                await self._settle(region_id, why, fresh)
            except BaseException:
                lane.dirty.setdefault(region_id, Dirty()).merge(why.retry_waitlist, why.trigger)
                self.metrics.batches.labels("failed").inc()
                raise
        if lane.commit_offset is not None:
            await self._enrollments.commit(lane.tp, lane.commit_offset)
            lane.commit_offset = None
        if self._enrollments.paused(lane.tp) and len(lane.records) < (
            self.settings.max_pending_per_partition // 2
        ):
            self._enrollments.resume(lane.tp)
        self.metrics.batches.labels("ok").inc()

    async def _take(self, lane: Lane, delivery: Delivery, fresh: dict[str, Delivery]) -> None:
        """Fold one enrollment record into the projection; a record that cannot be used is
        dead-lettered (once: its offset is committed with the batch)."""
        event = delivery.event
        try:
            region_id, outcome = self.projection.apply_enrollment(event)
        except TRANSIENT:
            raise
        except Exception as error:
            await self._dead_letters.send(delivery.record, describe(error))
            return
        lane.regions.add(region_id)
        self._region_lane[region_id] = lane
        if outcome is EnrollmentOutcome.NEW:
            lane.dirty.setdefault(region_id, Dirty())
            if event.subject is not None:
                fresh[event.subject] = delivery
        elif outcome is EnrollmentOutcome.ENDED:
            lane.dirty.setdefault(region_id, Dirty()).merge(True, event)
        elif outcome is EnrollmentOutcome.EXTENDED:
            lane.dirty.setdefault(region_id, Dirty()).merge(False, event)
        elif outcome is EnrollmentOutcome.MAKEUP:
            self._makeup_requests.setdefault(region_id, []).append(delivery)
            lane.dirty.setdefault(region_id, Dirty())
        else:
            log.info(
                "enrollment event changes nothing (repeat, second request or nothing to end)",
                extra={"event_id": event.id, "region_id": region_id},
            )

    async def _settle(self, region_id: str, why: Dirty, fresh: dict[str, Delivery]) -> None:
        """Complete ended programmes, give up ended places, then solve the region if anyone
        needs an answer (with the waitlist whenever a seat may have freed, or the roster
        changed); announce its new substitutes, then its schedule answers."""
        today = self.region_today(region_id)
        self.staffing.forget_before(today - STAFFING_MEMORY)
        completed = completions(self.projection, region_id, today)
        freed = releases(self.projection, region_id)
        if completed or freed:
            await self._publisher.publish(completed + freed, self._acked)
        extended = await self._weigh_extensions(region_id, today)
        retry = why.retry_waitlist or bool(freed) or bool(completed)
        if self.projection.unanswered(region_id) or retry or extended:
            try:
                settled = await self._solve(region_id, why, retry)
            except NOT_A_CLIENTS_FAULT:
                raise
            except Exception as error:
                settled = await self._isolate(region_id, why, retry, fresh, error)
            await self._announce(settled.substitutions, why.trigger)
            await self._publisher.publish(settled.answers, self._acked)
        await self._answer_makeups(region_id, today)
        self.metrics.waitlist.labels(region_id).set(len(self.projection.waiting(region_id)))
        self.metrics.placed.labels(region_id).set(len(self.projection.placed(region_id)))

    async def _weigh_extensions(self, region_id: str, today: date) -> bool:
        """Answer each pending extension: a refusal is published now; an accepted one lengthens
        the snapshot, so the solve that follows keeps the schedule over the added weeks and
        announces it as `client.rescheduled`. True when one was accepted."""
        accepted = False
        for enrollment in self.projection.pending_extensions(region_id):
            assert enrollment.extension is not None
            weeks = int(enrollment.extension.data["program_weeks"])
            snapshot = self.projection.snapshot(
                region_id, include_waiting=False, as_of=today, extend={enrollment.client_id: weeks}
            )
            reasons = await asyncio.to_thread(_extension_reasons, snapshot, enrollment.client_id)
            if reasons:
                answer = extension_declined(enrollment, reasons)
                await self._publisher.publish([answer], self._acked)
            accepted |= not reasons
            self.projection.settle_extension(enrollment, accepted=not reasons)
        return accepted

    async def _answer_makeups(self, region_id: str, today: date) -> None:
        """Answer the region's make-up requests in order; each leaves the queue once answered
        or dead-lettered, so a failed batch retries only what is left."""
        self.projection.makeups.forget_before(today)
        queue = self._makeup_requests.get(region_id, [])
        while queue:
            await self._answer_makeup(region_id, queue[0], today)
            queue.pop(0)

    async def _answer_makeup(self, region_id: str, delivery: Delivery, today: date) -> None:
        request = delivery.event
        data = request.data
        client_id = str(data["client_id"])
        if self.projection.makeups.answered(client_id, request.id):
            return  # answered since it was read (by this batch, or read back after a retry)
        snapshot = self.projection.snapshot(region_id, include_waiting=False, as_of=today)
        snapshot["substitutions"] = substitutions_payload(self.staffing.decided(region_id).values())
        asked = MakeupRequest(client_id, region_id, str(data["week"]), float(data["hours"]))
        try:
            answer = await asyncio.to_thread(place_makeup, snapshot, asked)
        except TRANSIENT:
            raise
        except Exception as error:
            # UnusableEvent's message names fields only (errors.py), and says what was wrong.
            why = str(error) if isinstance(error, UnusableEvent) else describe(error)
            await self._dead_letters.send(delivery.record, f"make-up not placed: {why}")
            return
        await self._publisher.publish(
            [Answer(client_id, answer_payload(answer), request)], self._acked
        )

    def _snapshot(self, region_id: str, retry: bool, only: str | None = None) -> dict[str, Any]:
        """The region's solver input without the clients known to break it (and, with
        ``only``, without any newcomer but that one)."""
        snapshot = self.projection.snapshot(
            region_id, include_waiting=retry, as_of=self.region_today(region_id)
        )
        placed = {s["client_id"] for s in snapshot["schedules"]}
        snapshot["enrollments"] = [
            e
            for e in snapshot["enrollments"]
            if e["client_id"] not in self._unplaceable
            and (only is None or e["client_id"] in placed or e["client_id"] == only)
        ]
        return snapshot

    async def _solve(
        self, region_id: str, why: Dirty, retry: bool, only: str | None = None
    ) -> Settlement:
        snapshot = self._snapshot(region_id, retry, only)
        if not snapshot["enrollments"]:
            return Settlement([])
        started = time.perf_counter()
        problem = problem_of(snapshot)
        result = as_payloads(snapshot, problem, await self._placer.place(problem))
        solve_s = time.perf_counter() - started
        self.metrics.solve_seconds.observe(solve_s)
        today = self.region_today(region_id)
        plan = self._plan(region_id, snapshot, result, today)
        answers = placements(self.projection, region_id, plan.stamp(result), why.trigger, today)
        log.info(
            "region solved",
            extra={
                "region_id": region_id,
                "batch_size": len(snapshot["enrollments"]),
                "solve_s": round(solve_s, 3),
                "count": len(answers),
            },
        )
        return Settlement(answers, plan.new)

    def _plan(
        self,
        region_id: str,
        snapshot: Mapping[str, Any],
        result: Mapping[str, Any],
        today: date,
    ) -> Plan:
        """The dated calendar of the solved schedules, on the roster they were solved with. A
        failure here is the region's, never a client's: CalendarError fails the batch (which
        is retried) instead of dead-lettering the newcomers."""
        try:
            return plan_region(
                region_id,
                snapshot,
                result.get("scheduled", []),
                today,
                self.staffing.decided(region_id),
            )
        except Exception as error:
            raise CalendarError(f"region {region_id}: {describe(error)}") from error

    async def _announce(
        self, substitutions: tuple[Substitution, ...], trigger: CloudEvent | None
    ) -> None:
        """Publish each new substitute (acks=all) and record it once acknowledged, so neither
        this instance nor, after reading the topic back, any other decides it again."""
        for sub in substitutions:
            event = announcement(sub, trigger)
            await publish_event(self._broker, event)
            self.staffing.apply(event)
            self.metrics.events.labels(event.type).inc()
            log.info(
                "facilitator substitution published",
                extra={
                    "event_type": event.type,
                    "event_id": event.id,
                    "region_id": sub.region_id,
                    "group_id": sub.group_id,
                    "therapist_id": sub.facilitator_id,
                    "correlation_id": event.correlationid,
                },
            )

    async def _isolate(
        self,
        region_id: str,
        why: Dirty,
        retry: bool,
        fresh: dict[str, Delivery],
        error: Exception,
    ) -> Settlement:
        """The region's solve failed: find the clients whose request breaks it on its own,
        dead-letter each (if its record is in this batch; a replayed one was dead-lettered when
        it was new) and solve the region again without them."""
        log.error(
            "region solve failed; isolating",
            extra={"region_id": region_id, "reason": describe(error)},
        )
        snapshot = self.projection.snapshot(
            region_id, include_waiting=retry, as_of=self.region_today(region_id)
        )
        placed = {s["client_id"] for s in snapshot["schedules"]}
        for client_id in [e["client_id"] for e in snapshot["enrollments"]]:
            if client_id in placed or client_id in self._unplaceable:
                continue
            try:
                await self._solve(region_id, Dirty(), retry, only=client_id)
            except NOT_A_CLIENTS_FAULT:
                raise
            except Exception as alone:
                self._unplaceable.add(client_id)
                await self._reject(client_id, fresh.get(client_id), describe(alone))
        return await self._solve(region_id, why, retry)

    async def _reject(self, client_id: str, delivery: Delivery | None, reason: str) -> None:
        if delivery is None:
            log.warning(
                "left out a client whose request breaks the solve", extra={"client_id": client_id}
            )
            return
        await self._dead_letters.send(delivery.record, f"placement failed: {reason}")

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


def _extension_reasons(snapshot: Mapping[str, Any], client_id: str) -> list[str]:
    """The solver's answer to a lengthened schedule in ``snapshot`` ([] when it stands)."""
    return extension_reasons(problem_of(snapshot), client_id)


async def _check_roster_event(event: CloudEvent, message: KafkaMessage) -> None:
    """The roster checker's handler: a roster record the scheduler's table cannot apply is
    dead-lettered (by the caller) with the reason. Applied to a scratch table: validation only."""
    if event.type not in ROSTER_EVENTS:
        raise ContractError(f"type: {event.type} does not belong on the roster topic")
    RosterTable().apply(event)
