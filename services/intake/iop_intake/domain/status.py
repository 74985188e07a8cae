"""The latest known status of each client, projected from iop.enrollment.v1 and iop.schedule.v1.

Kafka is the system of record: intake keeps no database, it reads both topics from the start and
folds every event into this projection. The two topics are not ordered with each other, so an
event's place is decided by its `time`, then by RANK (the scheduler answers an enrollment within
the same second, a withdrawal is followed by `client.unscheduled`), then by `schedule_version`.
The projection holds no contact details: only ids, sites, reasons and the schedule.

Current enrollment (as the scheduler's projection): a client has at most one enrollment at a time.
An `enrollment.requested` while it is active (not withdrawn, discharged or completed) is not
current: it is ignored, so neither its sites nor its region replace the stored record's (a request
reusing another client's id cannot move that client into another key's scope). So is an
`enrollment.declined` while an enrollment is active. Requests and their ends share a partition of
iop.enrollment.v1 (keyed by region), so their order is the order they are read in; a completion
comes on iop.schedule.v1 and is placed by its time: it ends the enrollment whose request came
before it, and a request made after it is current. A rebuild may read the completion before or
after either request, so the client keeps its last completions, and the requests read while the
enrollment was active that were made after it began wait (without contact details): when a
completion turns up that came before one of them, the earliest such request becomes current. The
result does not depend on how the two topics' reads interleave. `claimed` says a request was ever
current: until then the client's id belongs to no scope (a decline records no site), see
iop_intake.domain.identity.

Repeats (CONTRACT.md: a consumer that sees the same `id` twice acts once) are recognised with
memory bounded per client, never with a set of every id ever read (that grew by about 113 MiB per
million events and never shrank):
- Status, for any repeat however old: a client's order only rises, and a repeat is never ordered
  after the status it produced. So an event ordered before the status in force changes nothing,
  a repeat or not; one ordered the same is known by id among the client's events applied at that
  order (at most RECENT_IDS: the same second, step and version). A schedule is kept by version,
  and each version is issued once, so a schedule of the client's version or below changes nothing.
- `has_event`, asked about the event a referral or a keyed request would publish (its id derived
  from the referral's id or from the key): the ids of each client's last RECENT_IDS events on
  iop.enrollment.v1 (requests, declines, withdrawals, discharges). A referral comes again only
  when intake stopped between publishing its answer and committing its offset, a keyed request
  when its caller retries moments later: by then the client has had few, if any, enrollment
  events since, so the answer is among them. Not covered: the same referral or key arriving after
  RECENT_IDS newer enrollment events of the client; it would be answered again, under the same id.
Per client: its status, up to RECENT_IDS enrollment ids (each indexed for `has_event`), up to
RECENT_IDS ids of its latest order, and up to RECENT_IDS completion times and waiting requests
(none once the topics are read in their order), however long its history.
"""

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from iop_contracts import (
    ClientCompleted,
    ClientDischarged,
    ClientScheduled,
    ClientUnscheduled,
    ClientWaitlisted,
    CloudEvent,
    EnrollmentDeclined,
    EnrollmentExtended,
    EnrollmentRequested,
    EnrollmentWithdrawn,
    Payload,
)


class Status(StrEnum):
    REQUESTED = "requested"
    DECLINED = "declined"
    SCHEDULED = "scheduled"
    WAITLISTED = "waitlisted"
    WITHDRAWN = "withdrawn"
    DISCHARGED = "discharged"
    UNSCHEDULED = "unscheduled"
    COMPLETED = "completed"


# Among events stamped with the same second, the later step of an enrollment's life wins.
RANK: dict[Status, int] = {
    Status.REQUESTED: 0,
    Status.DECLINED: 1,
    Status.SCHEDULED: 2,
    Status.WAITLISTED: 2,
    Status.WITHDRAWN: 3,
    Status.DISCHARGED: 3,
    Status.UNSCHEDULED: 4,
    Status.COMPLETED: 4,
}

ACTIVE = frozenset({Status.REQUESTED, Status.SCHEDULED, Status.WAITLISTED})
"""Statuses a client can be withdrawn from."""

IN_CARE = frozenset({Status.SCHEDULED})
"""Statuses a client can be discharged from."""

ENROLLMENT_TOPIC = frozenset(
    {Status.REQUESTED, Status.DECLINED, Status.WITHDRAWN, Status.DISCHARGED}
)
"""Statuses set by iop.enrollment.v1 events, the ones `has_event` is asked about."""

ENDS = frozenset({Status.WITHDRAWN, Status.DISCHARGED, Status.COMPLETED})
"""Statuses that end the current enrollment."""

RECENT_IDS = 4
"""Enrollment event ids remembered per client, and ids kept per order (see the docstring)."""


@dataclass(frozen=True, slots=True)
class Step:
    """What one event says about a client's status, without the event (so a request waiting for
    its turn is kept without its contact details)."""

    status: Status
    time: datetime
    event_id: str
    correlation_id: str | None
    region_id: str
    version: int = 0
    reasons: tuple[str, ...] = ()
    recommended_level: str | None = None
    cause: str | None = None
    site_ids: tuple[str, ...] = ()

    @classmethod
    def of(cls, event: CloudEvent, payload: Payload, status: Status) -> "Step":
        return cls(
            status=status,
            time=event.time,
            event_id=event.id,
            correlation_id=event.correlationid,
            region_id=str(getattr(payload, "region_id")),  # noqa: B009
            version=payload.schedule_version if isinstance(payload, ClientScheduled) else 0,
            reasons=tuple(str(r) for r in getattr(payload, "reasons", ())),
            recommended_level=(
                str(payload.recommended_level) if isinstance(payload, EnrollmentDeclined) else None
            ),
            cause=str(payload.cause) if isinstance(payload, ClientUnscheduled) else None,
            site_ids=(
                tuple(payload.preferred_site_ids)
                if isinstance(payload, EnrollmentRequested)
                else ()
            ),
        )

    @property
    def instant(self) -> datetime:
        """The event's time, comparable with every other's (as `_order` compares them)."""
        return self.time.replace(tzinfo=None)

    @property
    def order(self) -> tuple[datetime, int, int]:
        return (self.instant, RANK[self.status], self.version)


@dataclass
class ClientStatus:
    client_id: str
    region_id: str
    status: Status
    updated_at: datetime
    event_id: str
    correlation_id: str | None
    preferred_site_ids: tuple[str, ...] = ()
    scheduled_site_id: str | None = None
    schedule: dict[str, Any] | None = None
    schedule_version: int = 0
    reasons: tuple[str, ...] = ()
    recommended_level: str | None = None
    cause: str | None = None
    claimed: bool = False
    """A request was current once: the id belongs to the scope of this record."""
    _order: tuple[datetime, int, int] = field(default=(datetime.min, -1, -1), repr=False)
    _order_ids: tuple[str, ...] = field(default=(), repr=False)
    # The current enrollment: when its request was made, whether it was withdrawn or discharged,
    # the client's last completions, and the requests read while it was active that were made
    # after it began (one of them is current if a completion read later ends it before them).
    _enrolled_at: datetime | None = field(default=None, repr=False)
    _ended: bool = field(default=False, repr=False)
    _completions: tuple[datetime, ...] = field(default=(), repr=False)
    _waiting: tuple[Step, ...] = field(default=(), repr=False)

    @property
    def site_ids(self) -> tuple[str, ...]:
        """The sites this client belongs to, for access checks."""
        if self.status is Status.SCHEDULED and self.scheduled_site_id:
            return (self.scheduled_site_id,)
        return self.preferred_site_ids

    @property
    def enrolled(self) -> bool:
        """The current enrollment is active: not withdrawn, discharged or completed."""
        return self._enrolled_at is not None and not self._ended and self._completed_at() is None

    def _completed_at(self) -> datetime | None:
        """When the current enrollment completed: the first completion after its request."""
        start = self._enrolled_at
        if start is None:
            return None
        return next((c for c in self._completions if c >= start), None)


def _status_of(payload: Payload) -> Status | None:
    # Order matters: ClientDischarged subclasses EnrollmentWithdrawn, ClientRescheduled subclasses
    # ClientScheduled.
    if isinstance(payload, ClientDischarged):
        return Status.DISCHARGED
    if isinstance(payload, EnrollmentWithdrawn):
        return Status.WITHDRAWN
    if isinstance(payload, EnrollmentRequested):
        return Status.REQUESTED
    if isinstance(payload, EnrollmentDeclined):
        return Status.DECLINED
    if isinstance(payload, ClientScheduled):
        return Status.SCHEDULED
    if isinstance(payload, ClientWaitlisted):
        return Status.WAITLISTED
    if isinstance(payload, ClientUnscheduled):
        return Status.UNSCHEDULED
    if isinstance(payload, ClientCompleted):
        return Status.COMPLETED
    return None


class StatusProjection:
    """Folds enrollment and schedule events into one status per client; a repeat changes nothing."""

    def __init__(self) -> None:
        self._clients: dict[str, ClientStatus] = {}
        # Each client's last enrollment event ids, and the client of every id remembered there.
        self._enrollment_ids: dict[str, tuple[str, ...]] = {}
        self._client_of: dict[str, str] = {}
        # The request-body digest of the remembered ids that carry one (see body_digest).
        self._digest_of: dict[str, str] = {}

    def __len__(self) -> int:
        return len(self._clients)

    def has_event(self, event_id: str) -> bool:
        """Whether the event is among its client's last RECENT_IDS enrollment events."""
        return event_id in self._client_of

    def body_digest(self, event_id: str) -> str | None:
        """The digest of the request body that made a remembered event (None: not keyed, or
        not remembered): a keyed retry with another body is refused by comparing with it."""
        return self._digest_of.get(event_id)

    def get(self, client_id: str) -> ClientStatus | None:
        return self._clients.get(client_id)

    def apply(self, event: CloudEvent) -> bool:
        """Fold one event in; False when it changes nothing (a repeat, older than what it would
        change, not current, or saying nothing about status)."""
        payload = event.payload()
        if isinstance(payload, EnrollmentExtended):
            # No status of its own (the schedule topic answers it), but a keyed retry of the
            # request that made it must find it, as for any other enrollment event.
            self._remember(str(payload.client_id), event.id)
            if event.bodydigest is not None:
                self._digest_of[event.id] = event.bodydigest
            return False
        status = _status_of(payload)
        if status is None:
            return False
        client_id = str(getattr(payload, "client_id"))  # noqa: B009 - every status payload has it
        step = Step.of(event, payload, status)
        if status in ENROLLMENT_TOPIC and not self._remember(client_id, event.id):
            return False
        if status in ENROLLMENT_TOPIC and event.bodydigest is not None:
            self._digest_of[event.id] = event.bodydigest
        current = self._clients.get(client_id)
        if current is None:
            current = ClientStatus(
                client_id, step.region_id, status, step.time, step.event_id, step.correlation_id
            )
            self._clients[client_id] = current
        if status is Status.REQUESTED:
            return _request(current, step)
        if status is Status.DECLINED and current.enrolled:
            return False  # an answer to a request that was not current
        rescheduled = False
        if isinstance(payload, ClientScheduled):
            # The highest version holds whatever the order (CONTRACT.md: a consumer keeps the
            # highest it has seen); the same version is the same schedule.
            if payload.schedule_version < current.schedule_version:
                return False
            rescheduled = payload.schedule_version > current.schedule_version
            if rescheduled:
                current.schedule_version = payload.schedule_version
                current.schedule = payload.model_dump(mode="json")
                current.scheduled_site_id = payload.group.site_id
        if (
            isinstance(payload, ClientCompleted)
            and payload.schedule_version < current.schedule_version
        ):
            return False  # the completion of a schedule since replaced
        ended = _end(current, step) if status in ENDS else False
        return _take_status(current, step) or rescheduled or ended

    def _remember(self, client_id: str, event_id: str) -> bool:
        """Remember the id among the client's last enrollment events; False if it is there."""
        recent = self._enrollment_ids.get(client_id, ())
        if event_id in recent:
            return False
        if len(recent) == RECENT_IDS:
            forgotten, recent = recent[0], recent[1:]
            if self._client_of.get(forgotten) == client_id:
                del self._client_of[forgotten]
                self._digest_of.pop(forgotten, None)
        self._enrollment_ids[client_id] = (*recent, event_id)
        self._client_of[event_id] = client_id
        return True


def _request(current: ClientStatus, step: Step) -> bool:
    """Start a new enrollment unless one is active; a request made while it is active is not
    current (it waits, in case a completion read later turns out to have come before it)."""
    start, completed = current._enrolled_at, current._completed_at()
    if start is None or current._ended or (completed is not None and step.instant >= completed):
        _enroll(current, step)
        return True
    if step.instant >= start and completed is None:
        waiting = sorted((*current._waiting, step), key=lambda w: w.instant)
        current._waiting = tuple(waiting[-RECENT_IDS:])
    return False


def _enroll(current: ClientStatus, step: Step) -> None:
    current.claimed = True
    current._enrolled_at, current._ended = step.instant, False
    current._waiting = tuple(w for w in current._waiting if w.instant > step.instant)
    current.region_id = step.region_id
    current.preferred_site_ids = step.site_ids
    _take_status(current, step)


def _end(current: ClientStatus, step: Step) -> bool:
    """A withdrawal or discharge ends the active enrollment of its region; a completion ends the
    enrollment it follows, and the earliest request that waited and was made after it becomes
    current (the scheduler took it: it came once the completion was known)."""
    if step.status is not Status.COMPLETED:
        if not current.enrolled or step.region_id != current.region_id:
            return False
        current._ended, current._waiting = True, ()
        return True
    if step.instant in current._completions:
        return False
    current._completions = tuple(sorted((*current._completions, step.instant))[-RECENT_IDS:])
    changed = False
    while not current._ended and (completed := current._completed_at()) is not None:
        after = [w for w in current._waiting if w.instant >= completed]
        if not after:
            current._waiting = ()
            break
        _take_status(current, step)
        _enroll(current, after[0])
        changed = True
    return changed


def _take_status(current: ClientStatus, step: Step) -> bool:
    """Make the step the client's status unless it is ordered before it or is a repeat."""
    order = step.order
    if order < current._order:
        return False
    if order == current._order:
        if step.event_id in current._order_ids:
            return False
        current._order_ids = (*current._order_ids, step.event_id)[-RECENT_IDS:]
    else:
        current._order, current._order_ids = order, (step.event_id,)
    current.status = step.status
    current.region_id = step.region_id
    current.updated_at = step.time
    current.event_id = step.event_id
    current.correlation_id = step.correlation_id
    current.reasons = step.reasons
    current.recommended_level = step.recommended_level
    current.cause = step.cause
    return True
