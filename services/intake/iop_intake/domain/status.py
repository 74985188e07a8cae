"""The latest known status of each client, projected from iop.enrollment.v1 and iop.schedule.v1.

Kafka is the system of record: intake keeps no database, it reads both topics from the start and
folds every event into this projection. The two topics are not ordered with each other, so an
event's place is decided by its `time`, then by RANK (the scheduler answers an enrollment within
the same second, a withdrawal is followed by `client.unscheduled`), then by `schedule_version`.
The projection holds no contact details: only ids, sites, reasons and the schedule.
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
    """Folds enrollment and schedule events into one status per client; idempotent on event id."""

    def __init__(self) -> None:
        self._clients: dict[str, ClientStatus] = {}
        self._event_ids: set[str] = set()

    def __len__(self) -> int:
        return len(self._clients)

    def has_event(self, event_id: str) -> bool:
        return event_id in self._event_ids

    def get(self, client_id: str) -> ClientStatus | None:
        return self._clients.get(client_id)

    def apply(self, event: CloudEvent) -> bool:
        """Fold one event in; False when it was already seen or says nothing about status."""
        if event.id in self._event_ids:
            return False
        self._event_ids.add(event.id)
        payload = event.payload()
        status = _status_of(payload)
        if status is None:
            return False
        client_id = str(getattr(payload, "client_id"))  # noqa: B009 - every status payload has it
        region_id = str(getattr(payload, "region_id"))  # noqa: B009
        version = payload.schedule_version if isinstance(payload, ClientScheduled) else 0
        order = (event.time.replace(tzinfo=None), RANK[status], version)

        current = self._clients.get(client_id)
        if current is None:
            current = ClientStatus(
                client_id, region_id, status, event.time, event.id, event.correlationid
            )
            self._clients[client_id] = current
        # The schedule with the highest version holds whatever the order (CONTRACT.md: a consumer
        # keeps the highest it has seen).
        if isinstance(payload, ClientScheduled):
            if version < current.schedule_version:
                return False
            current.schedule_version = version
            current.schedule = payload.model_dump(mode="json")
            current.scheduled_site_id = payload.group.site_id
        if order < current._order:
            return True
        current._order = order
        current.status = status
        current.region_id = region_id
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
