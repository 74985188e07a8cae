"""What the staff read: a site's occurrences on a day, a client, the week's hours compliance;
and the one thing they ask the scheduler for, a make-up session."""

import logging
import uuid
from datetime import date
from typing import Any

from fastapi import APIRouter, Query
from fastapi.encoders import jsonable_encoder
from iop_contracts import ContractDate, IsoWeek, MakeupRequested, new_event, week_of
from pydantic import BaseModel, ConfigDict, Field

from iop_clinic.adapters.alerts import SOURCE
from iop_clinic.domain import ClientStatus, WeekHours, compliance_report
from iop_clinic.http.auth import (
    Caller,
    Runtime,
    reads_client,
    scoped_sites,
    site_ids,
    unknown_client,
)
from iop_clinic.http.problems import Problem, field_error
from iop_clinic.runtime import ClinicRuntime

log = logging.getLogger(__name__)

router = APIRouter(tags=["board"])

_SCOPED: dict[int | str, dict[str, str]] = {
    401: {"description": "no valid API key"},
    403: {"description": "outside a site or region key's scope (a client: known or not)"},
    404: {"description": "unknown, to a network key"},
    503: {"description": "the read model is still catching up"},
}


def hours_of(week: WeekHours) -> dict[str, Any]:
    """A client's week in hours (two decimals), with whether the minimum is met or at risk."""
    return {
        "week": week.week,
        "scheduled": round(week.scheduled_hours, 2),
        "attended": round(week.attended_hours, 2),
        "cancelled": round(week.cancelled_hours, 2),
        "remaining": round(week.remaining_hours, 2),
        "unrecorded": round(week.unrecorded_hours, 2),
        "minimum": round(week.minimum_hours, 2),
        "met": week.met,
        "at_risk": week.at_risk,
    }


@router.get(
    "/v1/sites/{site_id}/occurrences",
    responses=_SCOPED,
    summary="Every group occurrence and individual session at a site on a day",
)
async def occurrences(
    site_id: str,
    runtime: Runtime,
    caller: Caller,
    day: ContractDate | None = Query(None, alias="date", description="default: today there"),
) -> list[dict[str, Any]]:
    model = runtime.caught_up()
    [site] = scoped_sites(caller, model, site_id)
    on = day or runtime.site_today(site.site_id)
    found: list[dict[str, Any]] = jsonable_encoder(model.occurrences(site.site_id, on))
    return found


@router.get("/v1/clients/{client_id}", responses=_SCOPED, summary="One client, and this week")
async def client(client_id: str, runtime: Runtime, caller: Caller) -> dict[str, Any]:
    model = runtime.caught_up()
    view = model.client(client_id)
    if view is None or not reads_client(caller, model, client_id):
        raise unknown_client(caller, client_id)
    week = week_of(runtime.client_today(client_id))
    body: dict[str, Any] = jsonable_encoder(view)
    body["this_week"] = hours_of(model.week_hours(client_id, week, runtime.client_today(client_id)))
    return body


@router.get(
    "/v1/compliance",
    responses=_SCOPED,
    summary="Weekly hours per client of the key's sites (or one site): met, at risk, why not",
)
async def compliance(
    runtime: Runtime,
    caller: Caller,
    week: IsoWeek | None = Query(None, description="ISO week, e.g. 2027-W09; default: this one"),
    site: str | None = Query(None, description="one site; default: every site of the key"),
) -> dict[str, Any]:
    model = runtime.caught_up()
    sites = site_ids(caller, model, site)
    today = runtime.site_today(site)
    week = week or week_of(today)
    rows = compliance_report(model, week, today, sites)
    return {"week": week, "clients": jsonable_encoder(rows)}


class MakeupIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    week: IsoWeek
    hours: float | None = Field(None, gt=0, le=12, description="default: CLINIC_MAKEUP_HOURS")


class MakeupAccepted(BaseModel):
    event_id: str
    client_id: str
    week: str
    hours: float


@router.post(
    "/v1/clients/{client_id}/makeup",
    status_code=202,
    response_model=MakeupAccepted,
    responses={
        **_SCOPED,
        409: {"description": "the client is not scheduled"},
        422: {"description": "a field at fault (a week already over)"},
    },
    summary="Ask the scheduler for a make-up session (answered on iop.schedule.v1)",
)
async def makeup(
    client_id: str, body: MakeupIn, runtime: Runtime, caller: Caller
) -> MakeupAccepted:
    model = runtime.caught_up()
    view = model.client(client_id)
    if view is None or view.region_id is None or not reads_client(caller, model, client_id):
        raise unknown_client(caller, client_id)
    if view.status is not ClientStatus.SCHEDULED:
        raise Problem(409, f"client {client_id} is {view.status}, not scheduled")
    _not_over(runtime, client_id, body.week)
    hours = body.hours or runtime.settings.makeup_hours
    request = MakeupRequested(
        client_id=client_id, region_id=view.region_id, week=body.week, hours=hours
    )
    event = new_event(request, source=SOURCE, event_id=str(uuid.uuid4()))
    await runtime.publisher.publish(event)
    runtime.model.apply(event)
    log.info("make-up requested", extra={"client_id": client_id, "event_id": event.id})
    return MakeupAccepted(event_id=event.id, client_id=client_id, week=body.week, hours=hours)


def _not_over(runtime: ClinicRuntime, client_id: str, week: str) -> None:
    today: date = runtime.client_today(client_id)
    if week < week_of(today):
        message = "that week is over"
        raise Problem(422, f"week: {message}", [field_error("week", message)])
