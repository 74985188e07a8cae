"""Region state as a pure projection of the roster, enrollment and schedule topics.

Kafka is the system of record: every field here is rebuilt by replaying events, and applying an
event twice (same `id`) changes nothing (see "Repeats" below). No I/O happens here.

- The roster is a table (see roster.py).
- Enrollments are kept per region, one current enrollment per client. A second
  `enrollment.requested` for a client whose enrollment is still active (placed, waiting or not yet
  answered) is a duplicate and changes nothing; after a withdrawal or discharge it is a new
  enrollment (a returning client).
- Schedules are kept per client from `iop.schedule.v1`: the latest status, the schedule itself,
  and the highest `schedule_version` ever seen (versions keep rising across re-enrollments so a
  consumer that keeps the highest never ignores a new schedule).

Contact details are removed from enrollments on the way in: the scheduler never needs them, so
it never holds them.

Repeats (CONTRACT.md: a consumer that sees the same `id` twice acts once) are recognised with
memory bounded per client, never with a set of every id ever read (that grew by about 113 MiB per
million events and never shrank):
- Enrollment topic: the ids of the client's last RECENT_IDS events in the region, whatever each
  did (ignored ones too). The topic is read once per assignment, from the committed offset, and a
  rebuild after a revocation starts clean (forget_regions drops the region's ids with its state),
  so what repeats here is a copy of an event: a producer's retried send, or intake answering a
  redelivered referral again under the same derived id. Such a copy follows its original within
  a few events of the client and is ignored. Older events the state machine makes harmless by
  itself: a request while the client's enrollment is active, or an end with nothing active.
  Not covered: a copy arriving after RECENT_IDS newer events of the client, when it would change
  something (an old request after the current enrollment ended, an old withdrawal during a newer
  enrollment).
- Schedule topic: every event we publish comes twice (applied once acknowledged, then read back
  by the topic tail, a fetch later). A `client.scheduled`/`client.rescheduled` is recognised by
  its version whatever its age: each version is issued once, one above the client's highest, so
  a version not above the highest is a copy or older. A `client.waitlisted`/`client.unscheduled`
  carries no version and is recognised by id among the client's last RECENT_IDS schedule events:
  a solve gives a client at most two events (unscheduled, then waitlisted), so the read-back is
  covered unless the tail lags the publisher by several solves of that client.
So the projection holds, per client, its current state and at most 2 x RECENT_IDS ids, however
long the history.

Make-ups (rule 12): a `makeup.requested` on the enrollment topic is a question about a placed
client, answered on the schedule topic; `makeups` (makeup_answers.py) records the answers, so a
request already answered is ignored, and every snapshot carries the make-ups granted to the
region's placed clients from today on (each holds a seat on its date).
"""

from dataclasses import dataclass, field
from datetime import date, timedelta
from enum import StrEnum
from typing import Any

from iop_contracts import (
    ClientCompleted,
    ClientDischarged,
    ClientExtensionDeclined,
    ClientRescheduled,
    ClientScheduled,
    ClientUnscheduled,
    ClientWaitlisted,
    CloudEvent,
    EnrollmentDeclined,
    EnrollmentExtended,
    EnrollmentRequested,
    EnrollmentWithdrawn,
    MakeupRequested,
    Priority,
    UnscheduleCause,
)

from iop_scheduler.domain.makeup_answers import MAKEUP_ANSWERS, MakeupAnswers
from iop_scheduler.domain.roster import ROSTER_EVENTS, RosterTable
from iop_scheduler.errors import UnusableEvent

ENROLLMENT_EVENTS = frozenset(
    "iop." + p.event_name
    for p in (
        EnrollmentRequested,
        EnrollmentDeclined,
        EnrollmentWithdrawn,
        ClientDischarged,
        EnrollmentExtended,
        MakeupRequested,
    )
)
SCHEDULE_EVENTS = frozenset(
    "iop." + p.event_name
    for p in (
        ClientScheduled,
        ClientRescheduled,
        ClientWaitlisted,
        ClientUnscheduled,
        ClientCompleted,
        ClientExtensionDeclined,
    )
)
# Waitlist order: highest priority first, then oldest (SCHEDULING.md, issue 4).
PRIORITY_ORDER = {Priority.URGENT: 0, Priority.STEP_DOWN: 1, Priority.ROUTINE: 2}
RECENT_IDS = 8
"""Event ids remembered per client and topic (see the module docstring)."""


class Status(StrEnum):
    SCHEDULED = "scheduled"
    WAITLISTED = "waitlisted"
    UNSCHEDULED = "unscheduled"
    COMPLETED = "completed"


def weeks_of(schedule: dict[str, Any]) -> int:
    """The programme length a schedule covers: end_date = start_date + weeks - 1 day."""
    start = date.fromisoformat(str(schedule["start_date"]))
    end = date.fromisoformat(str(schedule["end_date"]))
    return ((end - start).days + 1) // 7


def first_sight(recent: dict[str, tuple[str, ...]], client_id: str, event_id: str) -> bool:
    """Whether `event_id` is new among the client's last RECENT_IDS ids; remembers it if so."""
    seen = recent.get(client_id, ())
    if event_id in seen:
        return False
    recent[client_id] = (*seen, event_id)[-RECENT_IDS:]
    return True


def without_contact(event: CloudEvent) -> CloudEvent:
    """The event minus the enrollment's `contact` block (the only personal data)."""
    if "contact" not in event.data:
        return event
    data = {k: v for k, v in event.data.items() if k != "contact"}
    return event.model_copy(update={"data": data})


@dataclass
class Enrollment:
    """A client's current enrollment in a region; `request` is its `enrollment.requested`."""

    client_id: str
    region_id: str
    request: CloudEvent
    seq: int
    active: bool = True
    ended_by: UnscheduleCause | None = None
    ended_event: CloudEvent | None = None
    # An `enrollment.extended` not answered yet, and the length of the last one accepted.
    extension: CloudEvent | None = None
    extended_weeks: int | None = None

    @property
    def data(self) -> dict[str, Any]:
        return self.request.data

    @property
    def correlation(self) -> str:
        """What ties this enrollment to its answers: every schedule event about it carries it."""
        return self.request.correlationid or self.request.id

    @property
    def queue_key(self) -> tuple[int, int]:
        priority = Priority(self.data.get("priority", Priority.ROUTINE))
        return PRIORITY_ORDER[priority], self.seq


@dataclass
class ScheduleState:
    """A client's latest state on the schedule topic."""

    status: Status
    version: int = 0
    schedule: dict[str, Any] | None = None
    reasons: tuple[str, ...] = ()
    # The correlation id of the latest event: the enrollment it answers (see ``answers``).
    correlation: str | None = None
    # The extensions declined (their event ids, as causation of the refusal): read back on a
    # rebuild, so that a declined extension is not weighed, and declined, again.
    declined: tuple[str, ...] = ()

    @property
    def answered(self) -> bool:
        """Placed, waiting or completed: an enrollment has had its answer."""
        return self.status in (Status.SCHEDULED, Status.WAITLISTED, Status.COMPLETED)

    @property
    def holds_place(self) -> bool:
        """Holds a seat or a waitlist entry, which an ended enrollment must give up."""
        return self.status in (Status.SCHEDULED, Status.WAITLISTED)

    def answers(self, enrollment: "Enrollment") -> bool:
        """Whether this state is the answer to ``enrollment``. A completion answers only the
        enrollment it completed (its correlation id): a client who completed and enrolls again
        asks a new question. A place or a waitlist entry answers the current enrollment (a new
        request while one is active is ignored, so there is no other)."""
        if self.status is Status.COMPLETED:
            return self.correlation in (None, enrollment.correlation)
        return self.answered


class EnrollmentOutcome(StrEnum):
    NEW = "new"
    ENDED = "ended"
    EXTENDED = "extended"
    MAKEUP = "makeup"  # a make-up request not answered yet
    IGNORED = "ignored"  # a repeated id, a second request, or nothing to end


@dataclass
class Projection:
    roster: RosterTable = field(default_factory=RosterTable)
    enrollments: dict[str, dict[str, Enrollment]] = field(default_factory=dict)
    schedules: dict[str, ScheduleState] = field(default_factory=dict)
    # Per region and client, and per client: the ids of the client's last events on the
    # enrollment and the schedule topic.
    _enrollment_ids: dict[str, dict[str, tuple[str, ...]]] = field(default_factory=dict)
    _schedule_ids: dict[str, tuple[str, ...]] = field(default_factory=dict)
    _seq: int = 0
    makeups: MakeupAnswers = field(default_factory=MakeupAnswers)

    # ------------------------------------------------------------------ apply

    def apply(self, event: CloudEvent) -> None:
        """Apply an event of any of the three topics (used by rebuilds and tests)."""
        if event.type in ROSTER_EVENTS:
            self.roster.apply(event)
        elif event.type in ENROLLMENT_EVENTS:
            self.apply_enrollment(event, require_known_region=False)
        elif event.type in SCHEDULE_EVENTS | MAKEUP_ANSWERS:
            self.apply_schedule(event)

    def apply_roster(self, event: CloudEvent) -> set[str]:
        return self.roster.apply(event)

    def apply_enrollment(
        self, event: CloudEvent, *, require_known_region: bool = True
    ) -> tuple[str, EnrollmentOutcome]:
        """Apply one enrollment-topic event; return its region and what it did.

        Raises UnusableEvent for a type that does not belong on the topic, or (when
        `require_known_region`) a region the roster does not know: both are dead-lettered.
        """
        if event.type not in ENROLLMENT_EVENTS:
            raise UnusableEvent(f"type: {event.type} does not belong on the enrollment topic")
        payload = event.payload()
        # ENROLLMENT_EVENTS holds exactly these payload types (ClientDischarged among the
        # withdrawals); the check tells the type checker what the type check above already did.
        assert isinstance(
            payload,
            EnrollmentRequested
            | EnrollmentDeclined
            | EnrollmentWithdrawn
            | EnrollmentExtended
            | MakeupRequested,
        )
        region_id = str(payload.region_id)
        if require_known_region and region_id not in self.roster.known_regions():
            raise UnusableEvent(f"data.region_id: no site of the roster is in region {region_id}")
        client_id = str(payload.client_id)
        if not first_sight(self._enrollment_ids.setdefault(region_id, {}), client_id, event.id):
            return region_id, EnrollmentOutcome.IGNORED
        if isinstance(payload, MakeupRequested):
            answered = self.makeups.answered(client_id, event.id)
            return region_id, EnrollmentOutcome.IGNORED if answered else EnrollmentOutcome.MAKEUP
        region = self.enrollments.setdefault(region_id, {})
        current = region.get(client_id)
        if isinstance(payload, EnrollmentRequested):
            if current is not None and current.active and not self.completed(current):
                return region_id, EnrollmentOutcome.IGNORED
            self._seq += 1
            region[client_id] = Enrollment(
                client_id, region_id, without_contact(event), seq=self._seq
            )
            return region_id, EnrollmentOutcome.NEW
        if isinstance(payload, EnrollmentExtended):
            return region_id, self._extension(current, event, payload.program_weeks)
        if isinstance(payload, EnrollmentWithdrawn) and current is not None and current.active:
            # ClientDischarged subclasses EnrollmentWithdrawn: both free the client's place.
            current.active = False
            current.ended_by = (
                UnscheduleCause.DISCHARGED
                if isinstance(payload, ClientDischarged)
                else UnscheduleCause.WITHDRAWN
            )
            current.ended_event = event
            return region_id, EnrollmentOutcome.ENDED
        return region_id, EnrollmentOutcome.IGNORED

    def apply_schedule(self, event: CloudEvent) -> bool:
        """Apply one schedule-topic event (ours, read back or just acknowledged); False when it
        is a repeat or older than what the client has."""
        if event.type in MAKEUP_ANSWERS:
            return self.makeups.apply(event)
        if event.type not in SCHEDULE_EVENTS:
            return False
        payload = event.payload()
        assert isinstance(
            payload,
            ClientScheduled
            | ClientWaitlisted
            | ClientUnscheduled
            | ClientCompleted
            | ClientExtensionDeclined,
        )
        client_id = str(payload.client_id)
        state = self.schedules.setdefault(client_id, ScheduleState(Status.UNSCHEDULED))
        if isinstance(payload, ClientCompleted) and (
            state.status is not Status.SCHEDULED or payload.schedule_version != state.version
        ):
            return False  # a completion read back, or of a schedule since replaced
        if isinstance(payload, ClientExtensionDeclined):
            if event.causationid is not None and event.causationid not in state.declined:
                state.declined = (*state.declined, event.causationid)[-RECENT_IDS:]
            return first_sight(self._schedule_ids, client_id, event.id)
        # ClientScheduled covers ClientRescheduled. A version is issued once, one above the
        # client's highest: one not above it is this schedule read back, or an older one.
        if isinstance(payload, ClientScheduled) and payload.schedule_version <= state.version:
            return False
        if not first_sight(self._schedule_ids, client_id, event.id):
            return False
        state.correlation = event.correlationid
        if isinstance(payload, ClientScheduled):
            state.status = Status.SCHEDULED
            state.version = payload.schedule_version
            state.schedule = event.data
            state.reasons = ()
        elif isinstance(payload, ClientWaitlisted):
            state.status = Status.WAITLISTED
            state.schedule = None
            state.reasons = tuple(payload.reasons)
        elif isinstance(payload, ClientCompleted):
            state.status = Status.COMPLETED
            state.schedule = None
            state.reasons = ()
        else:
            state.status = Status.UNSCHEDULED
            state.schedule = None
            state.reasons = ()
        return True

    def _extension(
        self, current: Enrollment | None, event: CloudEvent, weeks: int
    ) -> EnrollmentOutcome:
        """Hold an extension for weighing if it lengthens a placed client's programme, and was
        not declined before (a rebuild reads the refusal first)."""
        if current is None or not current.active:
            return EnrollmentOutcome.IGNORED
        state = self.schedule_of(current.client_id)
        if state.status is not Status.SCHEDULED or state.schedule is None:
            return EnrollmentOutcome.IGNORED
        if event.id in state.declined or weeks <= weeks_of(state.schedule):
            return EnrollmentOutcome.IGNORED
        current.extension = event
        return EnrollmentOutcome.EXTENDED

    def pending_extensions(self, region_id: str) -> list[Enrollment]:
        return [e for e in self.placed(region_id) if e.extension is not None]

    def settle_extension(self, enrollment: Enrollment, accepted: bool) -> None:
        """The extension was weighed: accepted ones lengthen every later snapshot."""
        assert enrollment.extension is not None
        if accepted:
            enrollment.extended_weeks = int(enrollment.extension.data["program_weeks"])
        enrollment.extension = None

    def forget_regions(self, regions: set[str]) -> None:
        """Drop the enrollments of regions this instance no longer owns (their partition was
        revoked); the next owner rebuilds them. Roster and schedules stay: they are global."""
        for region_id in regions:
            self.enrollments.pop(region_id, None)
            self._enrollment_ids.pop(region_id, None)

    # ---------------------------------------------------------------- queries

    def schedule_of(self, client_id: str) -> ScheduleState:
        return self.schedules.get(client_id) or ScheduleState(Status.UNSCHEDULED)

    def region(self, region_id: str) -> list[Enrollment]:
        """The region's enrollments, waitlist order (priority, then oldest)."""
        return sorted(self.enrollments.get(region_id, {}).values(), key=lambda e: e.queue_key)

    def completed(self, enrollment: Enrollment) -> bool:
        state = self.schedule_of(enrollment.client_id)
        return state.status is Status.COMPLETED and state.answers(enrollment)

    def unanswered(self, region_id: str) -> list[Enrollment]:
        return [
            e
            for e in self.region(region_id)
            if e.active and not self.schedule_of(e.client_id).answers(e)
        ]

    def releases(self, region_id: str) -> list[Enrollment]:
        """Ended enrollments whose place (or waitlist entry) has not been given up yet."""
        return [
            e
            for e in self.region(region_id)
            if not e.active and self.schedule_of(e.client_id).holds_place
        ]

    def due_completions(self, region_id: str, today: date) -> list[Enrollment]:
        """Placed clients whose programme ended before ``today``: each completes once, on the
        first day after its ``end_date``."""
        due = []
        for enrollment in self.placed(region_id):
            schedule = self.schedule_of(enrollment.client_id).schedule or {}
            end = schedule.get("end_date")
            if end is not None and date.fromisoformat(str(end)) < today:
                due.append(enrollment)
        return due

    def placed(self, region_id: str) -> list[Enrollment]:
        return [
            e
            for e in self.region(region_id)
            if e.active and self.schedule_of(e.client_id).status is Status.SCHEDULED
        ]

    def waiting(self, region_id: str) -> list[Enrollment]:
        return [
            e
            for e in self.region(region_id)
            if e.active and self.schedule_of(e.client_id).status is Status.WAITLISTED
        ]

    def _lengthened(self, enrollment: Enrollment, extend: dict[str, int]) -> dict[str, Any]:
        """A placed client's schedule for a snapshot: over the accepted (or, with ``extend``,
        the weighed) length of the programme, from the same start date."""
        schedule = self.schedule_of(enrollment.client_id).schedule
        assert schedule is not None
        weeks = extend.get(enrollment.client_id) or enrollment.extended_weeks
        if weeks is None or weeks <= weeks_of(schedule):
            return schedule
        start = date.fromisoformat(str(schedule["start_date"]))
        end = start + timedelta(weeks=weeks, days=-1)
        return {**schedule, "end_date": end.isoformat()}

    def snapshot(
        self,
        region_id: str,
        *,
        include_waiting: bool,
        as_of: date | None = None,
        extend: dict[str, int] | None = None,
    ) -> dict[str, Any]:
        """The solver's input for one region: its roster, the placed clients with their
        schedules, the clients not answered yet and, when seats may have freed or the roster
        changed, the waitlist. A batch of new enrollments alone leaves the waitlist out: new
        clients only take capacity, so they can never make a waiting client placeable."""
        extend = extend or {}
        placed = self.placed(region_id)
        chosen = placed + self.unanswered(region_id)
        if include_waiting:
            chosen += self.waiting(region_id)
        chosen.sort(key=lambda e: e.queue_key)
        schedules = {e.client_id: self._lengthened(e, extend) for e in placed}
        snapshot: dict[str, Any] = {
            **self.roster.region_roster(region_id),
            "enrollments": [
                {**e.data, "program_weeks": weeks_of(schedules[e.client_id])}
                if e.client_id in schedules
                else e.data
                for e in chosen
            ],
            "schedules": list(schedules.values()),
            "makeups": self.makeups.granted(set(schedules), as_of),
        }
        if as_of is not None:
            snapshot["as_of"] = as_of.isoformat()
        return snapshot
