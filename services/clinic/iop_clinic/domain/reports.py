"""The staff's reports as rows (the service writes them as CSV, HTTP and `iop report`).

Each report takes `site_ids`: None for a network key (every site), else the sites a key covers,
and shows only what belongs to them:
- weekly hours compliance: the clients whose home site (their group's) is in scope and whose
  programme holds a slot that week; unmet weeks first, and why not;
- census: clients with status `scheduled`, by home site, track and population, with a zero row
  for each level of care a site's live groups offer and nobody takes;
- group utilisation: per live group at a site in scope, that week's occurrences held (not
  cancelled for everyone), the seats taken (members and make-ups expected) of those offered;
- waitlist: waiting clients whose sites (those they asked for) meet the scope, per reason (a
  client waiting for two reasons counts under both), with the median and longest wait in days.
"""

from collections.abc import Collection
from dataclasses import dataclass
from datetime import date, timedelta
from statistics import median

from iop_contracts import AttendanceStatus, Population, Track, week_days

from iop_clinic.domain.clinic import Clinic
from iop_clinic.domain.compliance import SlotState, WeekHours
from iop_clinic.domain.views import ClientStatus, GroupView

Scope = Collection[str] | None


def in_scope(site_id: str | None, site_ids: Scope) -> bool:
    return site_ids is None or (site_id is not None and site_id in site_ids)


def _hours(minutes: int) -> float:
    return round(minutes / 60, 2)


# --------------------------------------------------------------------- compliance


@dataclass(frozen=True, slots=True)
class ComplianceRow:
    client_id: str
    first_name: str | None
    site_id: str
    week: str
    scheduled_hours: float
    attended_hours: float
    cancelled_hours: float
    remaining_hours: float
    unrecorded_hours: float
    minimum_hours: float
    met: bool
    at_risk: bool
    why_not: str


def _sessions(count: int) -> str:
    return f"{count} session" if count == 1 else f"{count} sessions"


def why_not(hours: WeekHours) -> str:
    """What kept the week from its minimum ('' when met): absences, cancellations by reason,
    slots unrecorded or still to come, and time lost to lateness or leaving early."""
    if hours.met:
        return ""
    statuses = [o.record.status for o in hours.outcomes if o.record and o.state is SlotState.MISSED]
    parts = [
        f"{word} {_sessions(statuses.count(status))}"
        for word, status in (
            ("absent", AttendanceStatus.ABSENT),
            ("excused", AttendanceStatus.EXCUSED),
        )
        if status in statuses
    ]
    reasons = [o.slot.cancelled for o in hours.outcomes if o.slot.cancelled is not None]
    parts += [
        f"{_sessions(reasons.count(r))} cancelled ({r.value})" for r in dict.fromkeys(reasons)
    ]
    for state, words in (
        (SlotState.UNRECORDED, "unrecorded"),
        (SlotState.REMAINING, "still to come"),
    ):
        if hours.count(state):
            parts.append(f"{_sessions(hours.count(state))} {words}")
    short = hours.minutes_in(SlotState.ATTENDED) - hours.attended_minutes
    if short > 0:
        parts.append(f"{_hours(short)} h lost arriving late or leaving early")
    return "; ".join(parts)


def compliance_row(clinic: Clinic, client_id: str, site_id: str, hours: WeekHours) -> ComplianceRow:
    return ComplianceRow(
        client_id=client_id,
        first_name=clinic.first_name(client_id),
        site_id=site_id,
        week=hours.week,
        scheduled_hours=_hours(hours.scheduled_minutes),
        attended_hours=_hours(hours.attended_minutes),
        cancelled_hours=_hours(hours.minutes_in(SlotState.CANCELLED)),
        remaining_hours=_hours(hours.remaining_minutes),
        unrecorded_hours=_hours(hours.unrecorded_minutes),
        minimum_hours=_hours(hours.minimum_minutes),
        met=hours.met,
        at_risk=hours.at_risk,
        why_not=why_not(hours),
    )


def compliance_report(
    clinic: Clinic, week: str, today: date, site_ids: Scope = None
) -> list[ComplianceRow]:
    """One row per client with slots that week, by site, unmet first, then by client id."""
    rows = []
    for client_id in clinic.client_ids():
        site_id = clinic.client_site(client_id)
        if site_id is None or not in_scope(site_id, site_ids):
            continue
        hours = clinic.week_hours(client_id, week, today)
        if hours.outcomes:
            rows.append(compliance_row(clinic, client_id, site_id, hours))
    return sorted(rows, key=lambda r: (r.site_id, r.met, r.client_id))


# ------------------------------------------------------------------------- census


@dataclass(frozen=True, slots=True)
class CensusRow:
    site_id: str
    track: Track
    population: Population
    scheduled: int


def census_report(clinic: Clinic, site_ids: Scope = None) -> list[CensusRow]:
    counts: dict[tuple[str, Track, Population], int] = {}
    for site in clinic.sites():
        if in_scope(site.site_id, site_ids):
            for group in clinic.groups(site.site_id):
                counts.setdefault((site.site_id, group.track, group.population), 0)
    for client_id in clinic.client_ids():
        site_id, track = clinic.client_site(client_id), clinic.track(client_id)
        if clinic.status(client_id) is not ClientStatus.SCHEDULED or site_id is None:
            continue
        if track is not None and in_scope(site_id, site_ids):
            key = (site_id, track, clinic.population(client_id))
            counts[key] = counts.get(key, 0) + 1
    return [CensusRow(*key, scheduled=n) for key, n in sorted(counts.items())]


# -------------------------------------------------------------------- utilisation


@dataclass(frozen=True, slots=True)
class UtilisationRow:
    group_id: str
    site_id: str
    week: str
    occurrences: int
    cancelled: int
    seats_taken: int
    seats_offered: int
    utilisation_pct: float


def group_utilisation(clinic: Clinic, group: GroupView, week: str) -> UtilisationRow:
    monday = week_days(week)[0]
    held = taken = offered = cancelled = 0
    for offset in range(7):
        occurrence = clinic.occurrence(group.group_id, monday + timedelta(days=offset))
        if occurrence is None:
            continue
        if occurrence.cancel_reason is not None:
            cancelled += 1
            continue
        held += 1
        taken += occurrence.seats_taken
        offered += occurrence.capacity or 0
    pct = round(100 * taken / offered, 1) if offered else 0.0
    return UtilisationRow(group.group_id, group.site_id, week, held, cancelled, taken, offered, pct)


def utilisation_report(clinic: Clinic, week: str, site_ids: Scope = None) -> list[UtilisationRow]:
    """One row per live group at a site in scope, by site then group."""
    return [
        group_utilisation(clinic, group, week)
        for site in clinic.sites()
        if in_scope(site.site_id, site_ids)
        for group in clinic.groups(site.site_id)
    ]


# ----------------------------------------------------------------------- waitlist


@dataclass(frozen=True, slots=True)
class WaitlistRow:
    reason: str
    count: int
    median_days: float
    max_days: int


def waitlist_report(clinic: Clinic, today: date, site_ids: Scope = None) -> list[WaitlistRow]:
    """Per reason, most common first."""
    waits: dict[str, list[int]] = {}
    for entry in clinic.waitlist():
        if site_ids is not None and not set(entry.preferred_site_ids) & set(site_ids):
            continue
        for reason in entry.reasons:
            waits.setdefault(reason.value, []).append(max(0, (today - entry.since).days))
    rows = [WaitlistRow(r, len(d), float(median(d)), max(d)) for r, d in waits.items()]
    return sorted(rows, key=lambda row: (-row.count, row.reason))
