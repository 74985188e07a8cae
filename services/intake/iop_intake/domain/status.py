"""The latest known status of each client, projected from iop.enrollment.v1 and iop.schedule.v1.

Kafka is the system of record: intake keeps no database, it reads both topics from the start and
folds every event into this projection. The two topics are not ordered with each other, so an
event's place is decided by its `time`, then by RANK (the scheduler answers an enrollment within
the same second, a withdrawal is followed by `client.unscheduled`), then by `schedule_version`.
The projection holds no contact details: only ids, sites, reasons and the schedule.

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
Per client: its status, up to RECENT_IDS enrollment ids (each indexed for `has_event`) and up to
RECENT_IDS ids of its latest order, however long its history.
"""

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from iop_contracts import (
    ClientDischarged,
    ClientScheduled,
    ClientUnscheduled,
    ClientWaitlisted,
    CloudEvent,
    EnrollmentDeclined,
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


# Among events stamped with the same second, the later step of an enrollment's life wins.
RANK: dict[Status, int] = {
    Status.REQUESTED: 0,
    Status.DECLINED: 1,
    Status.SCHEDULED: 2,
    Status.WAITLISTED: 2,
    Status.WITHDRAWN: 3,
    Status.DISCHARGED: 3,
    Status.UNSCHEDULED: 4,
}

ACTIVE = frozenset({Status.REQUESTED, Status.SCHEDULED, Status.WAITLISTED})
"""Statuses a client can be withdrawn from."""

IN_CARE = frozenset({Status.SCHEDULED})
"""Statuses a client can be discharged from."""

ENROLLMENT_TOPIC = frozenset(
    {Status.REQUESTED, Status.DECLINED, Status.WITHDRAWN, Status.DISCHARGED}
)
"""Statuses set by iop.enrollment.v1 events, the ones `has_event` is asked about."""

RECENT_IDS = 4
"""Enrollment event ids remembered per client, and ids kept per order (see the docstring)."""


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
    _order: tuple[datetime, int, int] = field(default=(datetime.min, -1, -1), repr=False)
    _order_ids: tuple[str, ...] = field(default=(), repr=False)

    @property
    def site_ids(self) -> tuple[str, ...]:
        """The sites this client belongs to, for access checks."""
        if self.status is Status.SCHEDULED and self.scheduled_site_id:
            return (self.scheduled_site_id,)
        return self.preferred_site_ids


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
    return None


class StatusProjection:
    """Folds enrollment and schedule events into one status per client; a repeat changes nothing."""

    def __init__(self) -> None:
        self._clients: dict[str, ClientStatus] = {}
        # Each client's last enrollment event ids, and the client of every id remembered there.
        self._enrollment_ids: dict[str, tuple[str, ...]] = {}
        self._client_of: dict[str, str] = {}

    def __len__(self) -> int:
        return len(self._clients)

    def has_event(self, event_id: str) -> bool:
        """Whether the event is among its client's last RECENT_IDS enrollment events."""
        return event_id in self._client_of

    def get(self, client_id: str) -> ClientStatus | None:
        return self._clients.get(client_id)

    def apply(self, event: CloudEvent) -> bool:
        """Fold one event in; False when it changes nothing (a repeat, older than what it would
        change, or saying nothing about status)."""
        payload = event.payload()
        status = _status_of(payload)
        if status is None:
            return False
        client_id = str(getattr(payload, "client_id"))  # noqa: B009 - every status payload has it
        region_id = str(getattr(payload, "region_id"))  # noqa: B009
        if status in ENROLLMENT_TOPIC:
            self._remember(client_id, event.id)
        current = self._clients.get(client_id)
        if current is None:
            current = ClientStatus(
                client_id, region_id, status, event.time, event.id, event.correlationid
            )
            self._clients[client_id] = current
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
        return _take_status(current, event, payload, status) or rescheduled

    def _remember(self, client_id: str, event_id: str) -> None:
        recent = self._enrollment_ids.get(client_id, ())
        if event_id in recent:
            return
        if len(recent) == RECENT_IDS:
            forgotten, recent = recent[0], recent[1:]
            if self._client_of.get(forgotten) == client_id:
                del self._client_of[forgotten]
        self._enrollment_ids[client_id] = (*recent, event_id)
        self._client_of[event_id] = client_id


def _take_status(
    current: ClientStatus, event: CloudEvent, payload: Payload, status: Status
) -> bool:
    """Make the event the client's status unless it is ordered before it or is a repeat."""
    version = payload.schedule_version if isinstance(payload, ClientScheduled) else 0
    order = (event.time.replace(tzinfo=None), RANK[status], version)
    if order < current._order:
        return False
    if order == current._order:
        if event.id in current._order_ids:
            return False
        current._order_ids = (*current._order_ids, event.id)[-RECENT_IDS:]
    else:
        current._order, current._order_ids = order, (event.id,)
    current.status = status
    current.region_id = str(getattr(payload, "region_id"))  # noqa: B009
    current.updated_at = event.time
    current.event_id = event.id
    current.correlation_id = event.correlationid
    current.reasons = tuple(str(r) for r in getattr(payload, "reasons", ()))
    current.recommended_level = (
        str(payload.recommended_level) if isinstance(payload, EnrollmentDeclined) else None
    )
    current.cause = str(payload.cause) if isinstance(payload, ClientUnscheduled) else None
    if isinstance(payload, EnrollmentRequested):
        current.preferred_site_ids = tuple(payload.preferred_site_ids)
    return True
