"""The staff's reports as CSV downloads, from the read model's report rows.

`GET /v1/reports/{compliance|census|utilisation|waitlist}.csv?week=&site=`: a network key sees
every site, a region key its regions' sites, a site key its own; a named site outside the
key's scope is 403. The first line names the columns (the rows' fields)."""

import csv
import dataclasses
import io
from collections.abc import Callable, Sequence
from datetime import date
from enum import StrEnum
from typing import Any

from fastapi import APIRouter, Query
from fastapi.responses import Response
from iop_contracts import IsoWeek, week_of

from iop_clinic.domain import (
    CensusRow,
    Clinic,
    ComplianceRow,
    UtilisationRow,
    WaitlistRow,
    census_report,
    compliance_report,
    utilisation_report,
    waitlist_report,
)
from iop_clinic.http.auth import Caller, Runtime, SiteIds, site_ids

router = APIRouter(tags=["reports"])

Rows = Callable[[Clinic, str, date, SiteIds], Sequence[Any]]


class Report(StrEnum):
    COMPLIANCE = "compliance"
    CENSUS = "census"
    UTILISATION = "utilisation"
    WAITLIST = "waitlist"


WEEKLY = frozenset({Report.COMPLIANCE, Report.UTILISATION})

# Each report's row type (its fields are the CSV's columns) and how its rows are made.
REPORTS: dict[Report, tuple[type, Rows]] = {
    Report.COMPLIANCE: (
        ComplianceRow,
        lambda model, week, today, sites: compliance_report(model, week, today, sites),
    ),
    Report.CENSUS: (CensusRow, lambda model, _, __, sites: census_report(model, sites)),
    Report.UTILISATION: (
        UtilisationRow,
        lambda model, week, _, sites: utilisation_report(model, week, sites),
    ),
    Report.WAITLIST: (
        WaitlistRow,
        lambda model, _, today, sites: waitlist_report(model, today, sites),
    ),
}


def as_csv(rows: Sequence[Any], columns: Sequence[str]) -> str:
    """Rows (dataclasses) as CSV text, a header line first; enums by value, booleans as
    true/false."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        values = dataclasses.asdict(row)
        writer.writerow([_cell(values[column]) for column in columns])
    return out.getvalue()


def _cell(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, StrEnum):
        return value.value
    return "" if value is None else str(value)


@router.get(
    "/v1/reports/{report}.csv",
    response_class=Response,
    responses={
        200: {"content": {"text/csv": {}}, "description": "the report, a header line first"},
        401: {"description": "no valid API key"},
        403: {"description": "the named site lies outside the key's scope"},
        404: {"description": "unknown site"},
        503: {"description": "the read model is still catching up"},
    },
    summary="A report as CSV: compliance, census, utilisation or waitlist",
)
async def report_csv(
    report: Report,
    runtime: Runtime,
    caller: Caller,
    week: IsoWeek | None = Query(None, description="ISO week (compliance, utilisation)"),
    site: str | None = Query(None, description="one site; default: every site of the key"),
) -> Response:
    model = runtime.caught_up()
    sites = site_ids(caller, model, site)
    today = runtime.site_today(site)
    week = week or week_of(today)
    row_type, rows_of = REPORTS[report]
    columns = [field.name for field in dataclasses.fields(row_type)]
    as_of = week if report in WEEKLY else today.isoformat()
    return Response(
        as_csv(rows_of(model, week, today, sites), columns),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{report.value}-{as_of}.csv"'},
    )
