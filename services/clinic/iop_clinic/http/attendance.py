"""Recording attendance: one record, or a group occurrence's whole roll call.

Every record is checked against the read model before anything is published: the client must be
expected at that occurrence (scheduled that day and not cancelled for them, or booked there for
a make-up), the date must not lie ahead of the site's today, and the minutes must fit the
session. A roll call is all or nothing: one client not expected refuses it whole. Corrections
are simply new records (the latest for a client, date and kind stands). Each record is on
iop.attendance.v1, acknowledged by the broker (acks=all), before the 201.
"""

import asyncio
import logging
import re
from datetime import date

from fastapi import APIRouter
from iop_contracts import (
    AttendanceKind,
    AttendanceRecorded,
    AttendanceStatus,
    CloudEvent,
    ContractDate,
    new_event,
)
from iop_contracts.access import Principal
from iop_contracts.values import EntityId
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from iop_clinic.adapters.alerts import SOURCE
from iop_clinic.domain.views import Occurrence
from iop_clinic.errors import BrokerUnavailable
from iop_clinic.http.auth import (
    Caller,
    Runtime,
    reads_client,
    unknown_client,
    unknown_occurrence,
    writes_at,
)
from iop_clinic.http.problems import Problem, field_error, field_problems
from iop_clinic.runtime import ClinicRuntime

log = logging.getLogger(__name__)

router = APIRouter(tags=["attendance"])

_RECORDER = re.compile(r"[^A-Za-z0-9._:@-]+")

_REFUSALS: dict[int | str, dict[str, str]] = {
    401: {"description": "no valid API key"},
    403: {"description": "outside a site or region key's scope, known or not (one answer)"},
    404: {"description": "unknown, to a network key"},
    409: {"description": "the occurrence is cancelled for everyone"},
    422: {"description": "a field at fault, or a client not expected there; nothing stored"},
    503: {"description": "the broker did not acknowledge, or the read model is catching up"},
}


class AttendanceIn(BaseModel):
    """One client at one dated session. `minutes_attended` defaults to the session's length
    when present and to 0 when absent or excused; late and left_early must give it."""

    model_config = ConfigDict(extra="forbid")

    client_id: EntityId
    date: ContractDate
    kind: AttendanceKind = AttendanceKind.GROUP
    group_id: EntityId | None = None
    therapist_id: EntityId | None = None
    status: AttendanceStatus
    minutes_attended: int | None = Field(None, ge=0, le=720)


class RollCallEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")

    client_id: EntityId
    status: AttendanceStatus
    minutes_attended: int | None = Field(None, ge=0, le=720)


class Recorded(BaseModel):
    """A record the broker acknowledged."""

    event_id: str
    client_id: str
    date: date
    kind: AttendanceKind
    group_id: str | None
    therapist_id: str | None
    status: AttendanceStatus
    minutes_attended: int
    recorded_by: str


class RollCall(BaseModel):
    group_id: str
    date: date
    records: list[Recorded]


def recorder_name(principal: Principal) -> str:
    """The key's name as the contract spells a recorder (letters, digits and ._:@-)."""
    name = _RECORDER.sub("-", principal.name).lstrip("._:@-")[:100]
    return name or "api-key"


def minutes_of(
    status: AttendanceStatus, given: int | None, occurrence: Occurrence, field: str
) -> int:
    """The minutes a record carries, checked against the session it is for."""
    if not status.attended:
        if given:
            raise Problem(422, f"{field}: 0 for {status}", [field_error(field, "must be 0")])
        return 0
    if given is None:
        if status is not AttendanceStatus.PRESENT:
            message = f"required when the status is {status}"
            raise Problem(422, f"{field}: {message}", [field_error(field, message)])
        return occurrence.minutes
    if given > occurrence.minutes:
        message = f"more than the session's {occurrence.minutes} minutes"
        raise Problem(422, f"{field}: {message}", [field_error(field, message)])
    return given


def not_ahead(runtime: ClinicRuntime, occurrence: Occurrence) -> None:
    if occurrence.date > runtime.site_today(occurrence.site_id):
        message = "after today at the session's site"
        raise Problem(422, f"date: {message}", [field_error("date", message)])


def held(occurrence: Occurrence) -> None:
    if occurrence.cancel_reason is not None:
        raise Problem(409, f"that occurrence is cancelled ({occurrence.cancel_reason})")


def record_of(
    occurrence: Occurrence,
    client_id: str,
    region_id: str,
    status: AttendanceStatus,
    minutes: int,
    caller: Principal,
) -> AttendanceRecorded:
    try:
        return AttendanceRecorded(
            client_id=client_id,
            region_id=region_id,
            date=occurrence.date,
            kind=occurrence.attendance_kind(client_id),
            group_id=occurrence.group_id,
            therapist_id=occurrence.therapist_id,
            status=status,
            minutes_attended=minutes,
            recorded_by=recorder_name(caller),
        )
    except ValidationError as error:
        problems = field_problems(error.errors())
        raise Problem(422, "the record does not meet the contract", problems) from None


async def publish(runtime: ClinicRuntime, records: list[AttendanceRecorded]) -> list[CloudEvent]:
    """Publish every record (concurrently: the producer batches them) and fold each
    acknowledged one into the read model; BrokerUnavailable when any was not acknowledged (a
    retry only supersedes the ones that were)."""
    events = [new_event(record, source=SOURCE) for record in records]
    outcomes = await asyncio.gather(
        *(runtime.publisher.publish(event) for event in events), return_exceptions=True
    )
    for event, outcome in zip(events, outcomes, strict=True):
        if outcome is None:
            runtime.model.apply(event)
    failed = [o for o in outcomes if isinstance(o, BaseException)]
    if failed:
        raise BrokerUnavailable(f"{len(failed)} of {len(events)} records not acknowledged")
    return events


def recorded(event: CloudEvent, record: AttendanceRecorded) -> Recorded:
    return Recorded(event_id=event.id, **record.model_dump(exclude={"region_id"}))


@router.post(
    "/v1/attendance",
    status_code=201,
    response_model=Recorded,
    responses=_REFUSALS,
    summary="Record one client's attendance at one session (a correction is a new record)",
)
async def record_one(body: AttendanceIn, runtime: Runtime, caller: Caller) -> Recorded:
    model = runtime.caught_up()
    region_id = model.client_region(body.client_id)
    if region_id is None:
        raise unknown_client(caller, body.client_id)
    occurrence = model.expected(
        body.client_id, body.date, body.kind, body.group_id, body.therapist_id
    )
    if occurrence is None:
        if not reads_client(caller, model, body.client_id):
            raise unknown_client(caller, body.client_id)
        raise _not_expected_at_session(body)
    if not writes_at(caller, occurrence):
        raise unknown_client(caller, body.client_id)
    held(occurrence)
    not_ahead(runtime, occurrence)
    minutes = minutes_of(body.status, body.minutes_attended, occurrence, "minutes_attended")
    record = record_of(occurrence, body.client_id, region_id, body.status, minutes, caller)
    [event] = await publish(runtime, [record])
    _log_recorded(occurrence, 1, caller)
    return recorded(event, record)


class IndividualIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    status: AttendanceStatus
    minutes_attended: int | None = Field(None, ge=0, le=720)


@router.post(
    "/v1/clients/{client_id}/sessions/{day}/individual",
    status_code=201,
    response_model=Recorded,
    responses=_REFUSALS,
    summary="Record a client's individual session that day (with their own therapist)",
)
async def record_individual(
    client_id: EntityId, day: ContractDate, body: IndividualIn, runtime: Runtime, caller: Caller
) -> Recorded:
    one = AttendanceIn(
        client_id=client_id,
        date=day,
        kind=AttendanceKind.INDIVIDUAL,
        status=body.status,
        minutes_attended=body.minutes_attended,
    )
    return await record_one(one, runtime, caller)


def _not_expected_at_session(body: AttendanceIn) -> Problem:
    session = body.group_id or body.therapist_id or f"their {body.kind} session"
    detail = (
        f"client {body.client_id} is not expected at {session} on {body.date.isoformat()} "
        f"({body.kind}); nothing was stored"
    )
    return Problem(422, detail, [field_error("client_id", "not expected at that session")])


@router.post(
    "/v1/occurrences/{group_id}/{day}/roll-call",
    status_code=201,
    response_model=RollCall,
    responses=_REFUSALS,
    summary="Record a group occurrence's whole roll call (all or nothing)",
    description=(
        "A list of {client_id, status, minutes_attended?}. Every client must be expected at "
        "this occurrence (its members that day, and make-up guests): otherwise 422 names each "
        "one and nothing is stored."
    ),
)
async def roll_call(
    group_id: EntityId,
    day: ContractDate,
    entries: list[RollCallEntry],
    runtime: Runtime,
    caller: Caller,
) -> RollCall:
    model = runtime.caught_up()
    occurrence = model.occurrence(group_id, day)
    if occurrence is None or not writes_at(caller, occurrence):
        raise unknown_occurrence(caller, group_id, day.isoformat())
    held(occurrence)
    not_ahead(runtime, occurrence)
    _check_roll(occurrence, entries)
    records = []
    for index, entry in enumerate(entries):
        field = f"{index}.minutes_attended"
        minutes = minutes_of(entry.status, entry.minutes_attended, occurrence, field)
        region_id = model.client_region(entry.client_id) or occurrence.region_id or ""
        records.append(
            record_of(occurrence, entry.client_id, region_id, entry.status, minutes, caller)
        )
    events = await publish(runtime, records)
    _log_recorded(occurrence, len(records), caller)
    return RollCall(
        group_id=group_id,
        date=day,
        records=[recorded(e, r) for e, r in zip(events, records, strict=True)],
    )


def _check_roll(occurrence: Occurrence, entries: list[RollCallEntry]) -> None:
    """Every entry's client expected there, each once; else 422 naming each one at fault."""
    cancelled = {c.client_id: c.reason for c in occurrence.cancelled}
    problems, seen = [], set()
    for index, entry in enumerate(entries):
        field = f"{index}.client_id"
        if entry.client_id in seen:
            problems.append(field_error(field, f"client {entry.client_id} given twice"))
        elif entry.client_id in cancelled:
            reason = cancelled[entry.client_id]
            message = f"client {entry.client_id}: the occurrence is cancelled for them ({reason})"
            problems.append(field_error(field, message))
        elif entry.client_id not in occurrence.expected:
            problems.append(field_error(field, f"client {entry.client_id} not expected here"))
        seen.add(entry.client_id)
    if not entries:
        problems.append(field_error("(body)", "an empty roll call"))
    if problems:
        detail = "; ".join(p["message"] for p in problems) + "; nothing was stored"
        raise Problem(422, detail, problems)


def _log_recorded(occurrence: Occurrence, count: int, caller: Principal) -> None:
    log.info(
        "attendance recorded",
        extra={
            "group_id": occurrence.group_id,
            "site_id": occurrence.site_id,
            "count": count,
            "outcome": f"recorded by {recorder_name(caller)}",
        },
    )
