"""Routes of the HTTP API: enroll, withdraw, discharge, status, health."""

import hashlib
import logging
import uuid
from datetime import date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Request
from fastapi.responses import JSONResponse
from iop_contracts import (
    ClientDischarged,
    CloudEvent,
    EnrollmentDeclined,
    EnrollmentExtended,
    EnrollmentRequested,
    EnrollmentWithdrawn,
    Payload,
)
from iop_contracts.access import Principal
from pydantic import BaseModel, Field

from iop_intake.domain.admission import DISCLAIMER, EnrollmentRequest, answer_event, decide
from iop_intake.domain.identity import NOT_AVAILABLE, may_enroll, may_see
from iop_intake.domain.status import ACTIVE, IN_CARE, ClientStatus, Status, StatusProjection
from iop_intake.errors import NotReady, OutOfScope
from iop_intake.http.auth import principal_of
from iop_intake.http.idempotency import KeyReused
from iop_intake.runtime import Intake

log = logging.getLogger(__name__)

router = APIRouter()

IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=200,
        description="Retrying a request with the same key creates one event.",
    ),
]
Caller = Annotated[Principal, Depends(principal_of)]


class Accepted(BaseModel):
    """The broker acknowledged the event (acks=all)."""

    event_id: str
    event_type: str
    client_id: str
    status: Status
    priority: str | None = None
    reasons: list[str] = []
    recommended_level: str | None = None
    notice: str | None = None


class StatusView(BaseModel):
    client_id: str
    region_id: str
    status: Status
    updated_at: datetime
    event_id: str
    correlation_id: str | None
    reasons: list[str] = []
    recommended_level: str | None = None
    cause: str | None = None
    schedule: dict[str, Any] | None = None


def _intake(request: Request) -> Intake:
    intake: Intake = request.app.state.intake
    return intake


def _caught_up(intake: Intake) -> StatusProjection:
    """The status projection, once it has read the topics: identity is judged against it."""
    if not intake.projection_ready.is_set():
        raise NotReady("projection not caught up")
    return intake.projection


def _replay(intake: Intake, caller: Principal, route: str, key: str | None) -> bool:
    """Whether this keyed request was answered before: its event is already on the topic."""
    if not key:
        return False
    slot = intake.idempotency.slot(caller.name, route, key)
    return intake.projection.has_event(intake.idempotency.event_id(slot))


async def _publish_once(
    intake: Intake, payload: Payload, principal: Principal, route: str, key: str | None
) -> tuple[CloudEvent, bool]:
    """Publish the payload's event unless this keyed request already did; (event, replayed)."""
    if key is None:
        event = answer_event(payload, event_id=str(uuid.uuid4()))
        await intake.publisher.publish(event)
        intake.projection.apply(event)
        return event, False
    slot = intake.idempotency.slot(principal.name, route, key)
    body = payload.model_dump_json().encode()
    async with intake.idempotency.claim(slot, body):
        digest = hashlib.sha256(body).hexdigest()
        event = answer_event(payload, event_id=intake.idempotency.event_id(slot), bodydigest=digest)
        if intake.projection.has_event(event.id):
            # Answered before, maybe by another instance or before a restart: the digest on
            # the topic tells whether this is the same request.
            if intake.projection.body_digest(event.id) not in (None, digest):
                raise KeyReused("Idempotency-Key was used with a different request")
            return event, True
        await intake.publisher.publish(event)
        intake.projection.apply(event)
        return event, False


def _accepted(event: CloudEvent, payload: Payload, replayed: bool) -> JSONResponse:
    body = Accepted(
        event_id=event.id,
        event_type=event.type,
        client_id=str(getattr(payload, "client_id")),  # noqa: B009
        status=_status_of(payload),
        priority=str(payload.priority) if isinstance(payload, EnrollmentRequested) else None,
        reasons=list(payload.reasons) if isinstance(payload, EnrollmentDeclined) else [],
        recommended_level=(
            str(payload.recommended_level) if isinstance(payload, EnrollmentDeclined) else None
        ),
        notice=DISCLAIMER if isinstance(payload, EnrollmentDeclined) else None,
    )
    headers = {"Idempotent-Replayed": "true"} if replayed else {}
    return JSONResponse(body.model_dump(mode="json"), status_code=202, headers=headers)


def _status_of(payload: Payload) -> Status:
    if isinstance(payload, EnrollmentDeclined):
        return Status.DECLINED
    if isinstance(payload, ClientDischarged):
        return Status.DISCHARGED
    if isinstance(payload, EnrollmentWithdrawn):
        return Status.WITHDRAWN
    return Status.REQUESTED


def _log_accepted(event: CloudEvent, client_id: str, replayed: bool) -> None:
    log.info(
        "request accepted",
        extra={
            "client_id": client_id,
            "event_id": event.id,
            "event_type": event.type,
            "correlation_id": event.correlationid,
            "outcome": "replayed" if replayed else "published",
        },
    )


def _key_reused() -> JSONResponse:
    return JSONResponse(
        {"detail": [{"field": "Idempotency-Key", "message": "already used for another request"}]},
        status_code=422,
    )


@router.post(
    "/v1/enrollments",
    status_code=202,
    response_model=Accepted,
    responses={
        401: {"description": "no valid API key"},
        403: {"description": "the key's scope does not cover the body's region or sites"},
        409: {
            "description": (
                "the client id has an active enrollment, or its record lies outside the key's "
                "scope (one answer for both: see Security)"
            )
        },
        413: {"description": "body too large"},
        422: {"description": "every bad field, named"},
        503: {
            "description": "the broker did not acknowledge, or intake is still reading the "
            "topics; retry after Retry-After"
        },
    },
    summary="Request an enrollment (screened when a screening block is given)",
    description=(
        "Answers 202 once the broker acknowledged `enrollment.requested` or, when the screening "
        "block rules IOP out, `enrollment.declined` with reasons and a recommended level. "
        + DISCLAIMER
    ),
)
async def enroll(
    body: EnrollmentRequest,
    request: Request,
    caller: Caller,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    intake = _intake(request)
    if not caller.scope.covers(body.region_id, body.preferred_site_ids):
        raise OutOfScope(f"client {body.client_id} outside the key's scope")
    projection = _caught_up(intake)
    async with intake.enrolling(body.client_id):
        known = projection.get(body.client_id)
        replay = _replay(intake, caller, "enroll", idempotency_key)
        if not replay and not may_enroll(caller.scope, known):
            return _not_available(body.client_id, caller, known)
        payload = decide(body, body.screening)
        try:
            event, replayed = await _publish_once(
                intake, payload, caller, "enroll", idempotency_key
            )
        except KeyReused:
            return _key_reused()
    _log_accepted(event, body.client_id, replayed)
    return _accepted(event, payload, replayed)


def _not_available(client_id: str, caller: Principal, known: ClientStatus | None) -> JSONResponse:
    """The one refusal of a new enrollment (iop_intake.domain.identity says why it is one); the
    log, for operators, says which it was and for which key."""
    why = "enrollment active" if known is not None and known.enrolled else "outside the scope"
    log.info(
        "enrollment refused",
        extra={"client_id": client_id, "outcome": "refused", "reason": f"{why} of {caller.name}"},
    )
    return JSONResponse({"detail": NOT_AVAILABLE}, status_code=409)


def _known_client(intake: Intake, client_id: str, caller: Principal) -> ClientStatus | None:
    """The client's record if the key covers it; None for an unknown id and for a record outside
    the key's scope alike, so that both get the same answer."""
    client = _caught_up(intake).get(client_id)
    if client is None or not may_see(caller.scope, client):
        return None
    return client


def _not_found(client_id: str) -> JSONResponse:
    return JSONResponse({"detail": f"no enrollment known for client {client_id}"}, 404)


async def _end_enrollment(
    request: Request,
    client_id: str,
    caller: Principal,
    key: str | None,
    event_type: type[EnrollmentWithdrawn],
    allowed_from: frozenset[Status],
) -> JSONResponse:
    intake = _intake(request)
    client = _known_client(intake, client_id, caller)
    if client is None:
        return _not_found(client_id)
    payload = event_type(client_id=client.client_id, region_id=client.region_id)
    route = event_type.event_name
    if client.status not in allowed_from and not _replay(intake, caller, route, key):
        return JSONResponse(
            {"detail": f"client {client_id} is {client.status}", "status": client.status}, 409
        )
    try:
        event, replayed = await _publish_once(intake, payload, caller, route, key)
    except KeyReused:
        return _key_reused()
    _log_accepted(event, client_id, replayed)
    return _accepted(event, payload, replayed)


_END_RESPONSES: dict[int | str, dict[str, Any]] = {
    404: {"description": "no enrollment known for this client within the key's scope"},
    409: {"description": "the client's status does not allow it"},
    503: {"description": "broker unavailable or intake still reading the topics"},
}


@router.post(
    "/v1/enrollments/{client_id}/withdraw",
    status_code=202,
    response_model=Accepted,
    responses=_END_RESPONSES,
    summary="Withdraw a requested, waitlisted or scheduled client",
)
async def withdraw(
    client_id: str, request: Request, caller: Caller, idempotency_key: IdempotencyKey = None
) -> JSONResponse:
    return await _end_enrollment(
        request, client_id, caller, idempotency_key, EnrollmentWithdrawn, ACTIVE
    )


@router.post(
    "/v1/clients/{client_id}/discharge",
    status_code=202,
    response_model=Accepted,
    responses=_END_RESPONSES,
    summary="Discharge a scheduled client",
)
async def discharge(
    client_id: str, request: Request, caller: Caller, idempotency_key: IdempotencyKey = None
) -> JSONResponse:
    return await _end_enrollment(
        request, client_id, caller, idempotency_key, ClientDischarged, IN_CARE
    )


class Extension(BaseModel):
    """A treatment-plan review's new total programme length, from the same start date."""

    program_weeks: int = Field(ge=2, le=16)


@router.post(
    "/v1/enrollments/{client_id}/extend",
    status_code=202,
    response_model=Accepted,
    responses={
        **_END_RESPONSES,
        409: {"description": "the client is not scheduled, or the programme is not lengthened"},
    },
    summary="Lengthen a scheduled client's programme (answered on iop.schedule.v1)",
    description=(
        "Publishes `enrollment.extended`. The scheduler answers with `client.rescheduled` (same "
        "group, therapist and slot, the new end date) when seats and therapists allow it over "
        "the added weeks, else with `client.extension_declined` and the old schedule stands."
    ),
)
async def extend(
    client_id: str,
    body: Extension,
    request: Request,
    caller: Caller,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    intake = _intake(request)
    client = _known_client(intake, client_id, caller)
    if client is None:
        return _not_found(client_id)
    route = EnrollmentExtended.event_name
    current = _programme_weeks(client)
    replay = _replay(intake, caller, route, idempotency_key)
    if not replay and (current is None or body.program_weeks <= current):
        detail = f"client {client_id} is {client.status}"
        if current is not None:
            detail = f"the programme already runs {current} weeks"
        return JSONResponse({"detail": detail, "status": client.status}, 409)
    payload = EnrollmentExtended(
        client_id=client.client_id, region_id=client.region_id, program_weeks=body.program_weeks
    )
    try:
        event, replayed = await _publish_once(intake, payload, caller, route, idempotency_key)
    except KeyReused:
        return _key_reused()
    _log_accepted(event, client_id, replayed)
    return _accepted(event, payload, replayed)


def _programme_weeks(client: ClientStatus) -> int | None:
    """The length of a scheduled client's programme (None when not scheduled)."""
    if client.status is not Status.SCHEDULED or not client.schedule:
        return None
    start = date.fromisoformat(str(client.schedule["start_date"]))
    end = date.fromisoformat(str(client.schedule["end_date"]))
    return ((end - start).days + 1) // 7


@router.get(
    "/v1/enrollments/{client_id}",
    response_model=StatusView,
    responses={
        404: {"description": "no enrollment known within the key's scope"},
        503: {"description": "not ready"},
    },
    summary="Latest known status, read from iop.enrollment.v1 and iop.schedule.v1",
)
async def status(client_id: str, request: Request, caller: Caller) -> Any:
    client = _known_client(_intake(request), client_id, caller)
    if client is None:
        return _not_found(client_id)
    return StatusView(
        client_id=client.client_id,
        region_id=client.region_id,
        status=client.status,
        updated_at=client.updated_at,
        event_id=client.event_id,
        correlation_id=client.correlation_id,
        reasons=list(client.reasons),
        recommended_level=client.recommended_level,
        cause=client.cause,
        schedule=client.schedule if client.status is Status.SCHEDULED else None,
    )


@router.get("/health/live", tags=["health"])
async def live(request: Request) -> JSONResponse:
    if not _intake(request).readers_alive():
        return JSONResponse({"status": "a Kafka reading task stopped"}, status_code=500)
    return JSONResponse({"status": "live"})


@router.get("/health/ready", tags=["health"])
async def ready(request: Request) -> JSONResponse:
    intake = _intake(request)
    checks = intake.readiness()
    return JSONResponse(
        {"status": "ready" if all(checks.values()) else "not ready", **checks},
        status_code=200 if all(checks.values()) else 503,
    )
