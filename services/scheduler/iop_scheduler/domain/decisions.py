"""From region state and a solver result to the schedule events to publish: only what changed.

The solver answers with the full picture of a region (every placed and waiting client, as
payloads without versions: adapters.snapshot); the schedule topic should carry only changes.
Comparing the result with the projection gives them:
- a client newly placed gets `client.scheduled`; one whose schedule changed gets
  `client.rescheduled` (a new `cancelled` list too: closures and absences, domain.calendar);
  an unchanged schedule gets nothing;
- a client newly waiting gets `client.waitlisted`; one still waiting gets nothing; a placed
  client who lost their place to a retirement first gets `client.unscheduled` with that cause;
- an ended enrollment whose place is still held gets `client.unscheduled`;
- a placed client whose programme ended before today gets `client.completed`, once.
Every new schedule's `schedule_version` is one more than the highest the client ever had.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from iop_contracts import (
    ClientCompleted,
    ClientExtensionDeclined,
    ClientRescheduled,
    ClientScheduled,
    ClientUnscheduled,
    ClientWaitlisted,
    CloudEvent,
    Payload,
    UnscheduleCause,
    follow_up,
    new_event,
)

from iop_scheduler.domain.projection import Enrollment, Projection, Status

SOURCE = "/iop/scheduler"


@dataclass(frozen=True)
class Answer:
    """One schedule event to publish for a client.

    `enrollment` is the client's `enrollment.requested`: it carries the correlation id that ties
    the client's enrollment, schedules and notifications together. `trigger` is what caused
    this answer when it is not the enrollment itself (a withdrawal, another client's withdrawal
    freeing a seat, a roster change).
    """

    client_id: str
    payload: Payload
    enrollment: CloudEvent
    trigger: CloudEvent | None = None

    def event(self) -> CloudEvent:
        if self.trigger is None or self.trigger.id == self.enrollment.id:
            return follow_up(self.payload, cause=self.enrollment, source=SOURCE)
        return new_event(
            self.payload,
            source=SOURCE,
            correlationid=self.enrollment.correlationid or self.enrollment.id,
            causationid=self.trigger.id,
        )


def releases(projection: Projection, region_id: str) -> list[Answer]:
    """`client.unscheduled` for each ended enrollment still holding a place or a waitlist entry."""
    answers = []
    for enrollment in projection.releases(region_id):
        cause = enrollment.ended_by or UnscheduleCause.WITHDRAWN
        payload = ClientUnscheduled(
            client_id=enrollment.client_id, region_id=region_id, cause=cause
        )
        answers.append(
            Answer(enrollment.client_id, payload, enrollment.request, enrollment.ended_event)
        )
    return answers


def completions(projection: Projection, region_id: str, today: date) -> list[Answer]:
    """`client.completed` for each placed client whose programme ended before ``today``."""
    answers = []
    for enrollment in projection.due_completions(region_id, today):
        state = projection.schedule_of(enrollment.client_id)
        assert state.schedule is not None
        payload = ClientCompleted(
            client_id=enrollment.client_id,
            region_id=region_id,
            schedule_version=state.version,
            end_date=state.schedule["end_date"],
        )
        answers.append(Answer(enrollment.client_id, payload, enrollment.request))
    return answers


def extension_declined(enrollment: Enrollment, reasons: list[str]) -> Answer:
    """The refusal of a client's pending extension: the old schedule stands."""
    assert enrollment.extension is not None
    payload = ClientExtensionDeclined(
        client_id=enrollment.client_id, region_id=enrollment.region_id, reasons=reasons
    )
    return Answer(enrollment.client_id, payload, enrollment.request, enrollment.extension)


def _comparable(schedule: Mapping[str, Any], today: date | None) -> dict[str, Any]:
    """A schedule in canonical form, without its version (a kept one is echoed with its own) and
    without the cancelled occurrences before ``today``: those are the past, and the passing of
    days alone changes nobody's schedule."""
    canonical = ClientScheduled.model_validate(schedule).model_dump(mode="json")
    canonical.pop("schedule_version")
    if today is not None:
        ahead = [c for c in canonical["cancelled"] if date.fromisoformat(c["date"]) >= today]
        canonical["cancelled"] = ahead
    return canonical


def _retirement(projection: Projection, schedule: Mapping[str, Any]) -> UnscheduleCause | None:
    group = schedule.get("group") or {}
    individual = schedule.get("individual") or {}
    roster = projection.roster
    if roster.is_retired("group", str(group.get("group_id"))):
        return UnscheduleCause.GROUP_RETIRED
    for therapist_id in (group.get("facilitator_id"), individual.get("therapist_id")):
        if therapist_id is not None and roster.is_retired("therapist", str(therapist_id)):
            return UnscheduleCause.THERAPIST_RETIRED
    return None


def placements(
    projection: Projection,
    region_id: str,
    result: Mapping[str, Any],
    trigger: CloudEvent | None = None,
    today: date | None = None,
) -> list[Answer]:
    """The changes in a solver result for the region's active enrollments. With ``today``, a
    schedule whose `cancelled` differs from the one published only before today is unchanged
    (the result's lists start at today, see domain.calendar)."""
    enrollments: dict[str, Enrollment] = {
        e.client_id: e for e in projection.region(region_id) if e.active
    }
    answers: list[Answer] = []
    for schedule in result.get("scheduled", []):
        enrollment = enrollments.get(str(schedule["client_id"]))
        if enrollment is None:
            continue
        answers.extend(_placed(projection, enrollment, schedule, trigger, today))
    for waiting in result.get("waitlisted", []):
        enrollment = enrollments.get(str(waiting["client_id"]))
        if enrollment is None:
            continue
        answers.extend(_waiting(projection, enrollment, waiting, trigger))
    return answers


def _placed(
    projection: Projection,
    enrollment: Enrollment,
    schedule: Mapping[str, Any],
    trigger: CloudEvent | None,
    today: date | None,
) -> list[Answer]:
    state = projection.schedule_of(enrollment.client_id)
    # The solver knows no versions: a new schedule is one above the client's highest.
    data = {**schedule, "schedule_version": state.version + 1}
    if state.status is Status.SCHEDULED and state.schedule is not None:
        if _comparable(state.schedule, today) == _comparable(data, today):
            return []
        moved = ClientRescheduled.model_validate(data)
        return [Answer(enrollment.client_id, moved, enrollment.request, trigger)]
    placed = ClientScheduled.model_validate(data)
    # A client waiting since an earlier batch is placed because of this batch's trigger.
    cause = trigger if state.status is Status.WAITLISTED else None
    return [Answer(enrollment.client_id, placed, enrollment.request, cause)]


def _waiting(
    projection: Projection,
    enrollment: Enrollment,
    waiting: Mapping[str, Any],
    trigger: CloudEvent | None,
) -> list[Answer]:
    state = projection.schedule_of(enrollment.client_id)
    if state.status is Status.WAITLISTED:
        return []
    region_id = enrollment.region_id
    payload = ClientWaitlisted(
        client_id=enrollment.client_id,
        region_id=region_id,
        # The solver gives every waitlisted client its true reasons; none would be a solver bug,
        # which the contract model refuses rather than inventing a reason here.
        reasons=waiting["reasons"],
        detail=str(waiting.get("detail") or "")[:500],
    )
    answers = []
    if state.status is Status.SCHEDULED and state.schedule is not None:
        cause = _retirement(projection, state.schedule)
        if cause is not None:
            dropped = ClientUnscheduled(
                client_id=enrollment.client_id, region_id=region_id, cause=cause
            )
            answers.append(Answer(enrollment.client_id, dropped, enrollment.request, trigger))
    answers.append(Answer(enrollment.client_id, payload, enrollment.request, trigger))
    return answers
