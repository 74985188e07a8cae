"""What each board page shows, built from the read model (pure: no I/O, no clock).

The routes hand these to the templates. Every row carries ids and first names only: the read
model holds nothing more (views.py), so no page can show contact details or a message's text.
"""

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta

from iop_contracts import AttendanceStatus, Delivery, week_days, week_of

from iop_clinic.domain import (
    ClientStatus,
    ClientView,
    Clinic,
    ComplianceRow,
    GroupView,
    MakeupView,
    Occurrence,
    OccurrenceKind,
    SiteView,
    UtilisationRow,
    WeekHours,
    compliance_report,
    utilisation_report,
)
from iop_clinic.domain.alerts import recorded_outcomes, trailing_absences

STATUSES = tuple(AttendanceStatus)
"""The roll call's choices, in the order the page offers them."""


def week_step(week: str, weeks: int) -> str:
    return week_of(week_days(week)[0] + timedelta(weeks=weeks))


# ------------------------------------------------------------------------- week


@dataclass(frozen=True, slots=True)
class Meeting:
    """One group occurrence as the week shows it."""

    occurrence: Occurrence
    recorded: int  # clients with a record standing for this date
    roll_call_open: bool

    @property
    def telehealth(self) -> bool:
        return self.occurrence.delivery is Delivery.TELEHEALTH


@dataclass(frozen=True, slots=True)
class Individual:
    client_id: str
    first_name: str | None
    occurrence: Occurrence


@dataclass(frozen=True, slots=True)
class Day:
    date: date
    closed: bool
    in_person: tuple[Meeting, ...]
    telehealth: tuple[Meeting, ...]
    individual: tuple[Individual, ...]

    @property
    def empty(self) -> bool:
        return not (self.in_person or self.telehealth or self.individual)


@dataclass(frozen=True, slots=True)
class WeekPage:
    site: SiteView
    week: str
    days: tuple[Day, ...]
    today: date


def week_page(model: Clinic, site: SiteView, week: str, today: date) -> WeekPage:
    days = tuple(_day(model, site, day, today) for day in _dates(week))
    return WeekPage(site, week, days, today)


def _dates(week: str) -> list[date]:
    monday = week_days(week)[0]
    return [monday + timedelta(days=n) for n in range(7)]


def _day(model: Clinic, site: SiteView, day: date, today: date) -> Day:
    meetings: list[Meeting] = []
    individual: list[Individual] = []
    for occurrence in model.occurrences(site.site_id, day):
        if occurrence.kind is OccurrenceKind.INDIVIDUAL:
            [client_id] = occurrence.expected or ("",)
            individual.append(Individual(client_id, model.first_name(client_id), occurrence))
        else:
            meetings.append(_meeting(model, occurrence, today))
    return Day(
        date=day,
        closed=site.closed_on(day),
        in_person=tuple(m for m in meetings if not m.telehealth),
        telehealth=tuple(m for m in meetings if m.telehealth),
        individual=tuple(individual),
    )


def _meeting(model: Clinic, occurrence: Occurrence, today: date) -> Meeting:
    recorded = sum(
        1
        for client_id in occurrence.expected
        if (occurrence.date, occurrence.attendance_kind(client_id)) in model.records(client_id)
    )
    open_ = occurrence.cancel_reason is None and occurrence.date <= today
    return Meeting(occurrence, recorded, open_)


# -------------------------------------------------------------------- roll call


@dataclass(frozen=True, slots=True)
class RollCallRow:
    client_id: str
    first_name: str | None
    makeup: bool
    status: AttendanceStatus | None  # the record that stands, if any
    minutes: int | None


@dataclass(frozen=True, slots=True)
class RollCallPage:
    occurrence: Occurrence
    rows: tuple[RollCallRow, ...]
    can_record: bool
    why_not: str


def roll_call_page(model: Clinic, occurrence: Occurrence, today: date) -> RollCallPage:
    rows = tuple(_roll_row(model, occurrence, c) for c in occurrence.expected)
    why_not = ""
    if occurrence.cancel_reason is not None:
        why_not = f"This meeting is cancelled ({occurrence.cancel_reason.value})."
    elif occurrence.date > today:
        why_not = "The roll call opens on the day of the meeting."
    return RollCallPage(occurrence, rows, not why_not, why_not)


def _roll_row(model: Clinic, occurrence: Occurrence, client_id: str) -> RollCallRow:
    kind = occurrence.attendance_kind(client_id)
    record = model.records(client_id).get((occurrence.date, kind))
    return RollCallRow(
        client_id=client_id,
        first_name=model.first_name(client_id),
        makeup=client_id in occurrence.makeups,
        status=None if record is None else record.status,
        minutes=None if record is None else record.minutes_attended,
    )


# ------------------------------------------------------------------- compliance


@dataclass(frozen=True, slots=True)
class MakeupState:
    """Where a client's make-up for the week stands: booked, refused, asked, or nothing."""

    booked: tuple[MakeupView, ...] = ()
    refused: tuple[str, ...] = ()  # the reasons of the latest refusal
    requested: bool = False

    @property
    def pending(self) -> bool:
        return self.requested and not self.booked and not self.refused


@dataclass(frozen=True, slots=True)
class ComplianceLine:
    row: ComplianceRow
    status: ClientStatus | None
    makeup: MakeupState

    @property
    def can_request_makeup(self) -> bool:
        """Offered to a scheduled client whose week is at risk (early in a week, everyone is
        short of the minimum; only those who can no longer reach it need a make-up)."""
        return self.status is ClientStatus.SCHEDULED and self.row.at_risk


@dataclass(frozen=True, slots=True)
class AbsenceStreak:
    client_id: str
    first_name: str | None
    absences: int
    last_date: date
    alerted: bool


@dataclass(frozen=True, slots=True)
class CompliancePage:
    site: SiteView
    week: str
    lines: tuple[ComplianceLine, ...]
    streaks: tuple[AbsenceStreak, ...]
    absence_limit: int

    @property
    def at_risk(self) -> int:
        return sum(1 for line in self.lines if line.row.at_risk)


def compliance_page(
    model: Clinic, site: SiteView, week: str, today: date, absence_limit: int
) -> CompliancePage:
    """The week's clients at the site, at risk first (then short of the minimum, then met)."""
    rows = compliance_report(model, week, today, {site.site_id})
    lines = [ComplianceLine(r, model.status(r.client_id), makeup_state(model, r.client_id, week))
             for r in rows]  # fmt: skip
    lines.sort(key=lambda line: (not line.row.at_risk, line.row.met, line.row.client_id))
    streaks = absence_streaks(model, (r.client_id for r in rows), today, absence_limit)
    return CompliancePage(site, week, tuple(lines), tuple(streaks), absence_limit)


def makeup_state(model: Clinic, client_id: str, week: str) -> MakeupState:
    view = model.client(client_id)
    if view is None:
        return MakeupState()
    refusals = [u for u in view.makeups_unavailable if u.week == week]
    return MakeupState(
        booked=tuple(m for m in view.makeups if m.week == week),
        refused=tuple(r.value for r in refusals[-1].reasons) if refusals else (),
        requested=any(r.week == week for r in view.makeup_requests),
    )


def absence_streaks(
    model: Clinic, client_ids: Iterable[str], today: date, limit: int
) -> list[AbsenceStreak]:
    """Clients whose recorded sessions end in `limit` or more unexcused absences in a row."""
    found = []
    for client_id in client_ids:
        streak = trailing_absences(recorded_outcomes(model, client_id, today))
        if len(streak) >= limit:
            alerted = bool({o.slot.date for o in streak} & model.alerts_published(client_id))
            last = streak[-1].slot.date
            found.append(
                AbsenceStreak(client_id, model.first_name(client_id), len(streak), last, alerted)
            )
    return sorted(found, key=lambda s: (-s.absences, s.client_id))


# --------------------------------------------------------------------- capacity


@dataclass(frozen=True, slots=True)
class Waiting:
    client_id: str
    first_name: str | None
    reasons: tuple[str, ...]
    since: date
    days_waiting: int


@dataclass(frozen=True, slots=True)
class FreeSeats:
    """A group's free seats in each week ahead: the fewest over that week's meetings held (a new
    client needs a seat at every one), None for a week it does not meet."""

    group_id: str
    delivery: Delivery
    capacity: int
    by_week: tuple[int | None, ...]


@dataclass(frozen=True, slots=True)
class CapacityPage:
    site: SiteView
    week: str
    waiting: tuple[Waiting, ...]
    utilisation: tuple[UtilisationRow, ...]
    horizon_days: int
    weeks_ahead: tuple[str, ...]
    free: tuple[FreeSeats, ...] = field(default=())


def capacity_page(
    model: Clinic, site: SiteView, week: str, today: date, horizon_days: int
) -> CapacityPage:
    waiting = tuple(
        Waiting(e.client_id, model.first_name(e.client_id), tuple(r.value for r in e.reasons),
                e.since, max(0, (today - e.since).days))
        for e in model.waitlist()
        if site.site_id in e.preferred_site_ids
    )  # fmt: skip
    used = utilisation_report(model, week, {site.site_id})
    ahead = [today + timedelta(days=n) for n in range(horizon_days + 1)]
    weeks = tuple(dict.fromkeys(week_of(day) for day in ahead))
    free = tuple(_free_seats(model, g, ahead, weeks) for g in model.groups(site.site_id))
    return CapacityPage(
        site=site,
        week=week,
        waiting=waiting,
        utilisation=tuple(sorted(used, key=lambda r: (-r.utilisation_pct, r.group_id))),
        horizon_days=horizon_days,
        weeks_ahead=weeks,
        free=free,
    )


def _free_seats(
    model: Clinic, group: GroupView, days: list[date], weeks: tuple[str, ...]
) -> FreeSeats:
    fewest: dict[str, int] = {}
    for day in days:
        occurrence = model.occurrence(group.group_id, day)
        if occurrence is None or occurrence.cancel_reason is not None:
            continue
        free = max(0, (occurrence.capacity or 0) - occurrence.seats_taken)
        week = week_of(day)
        fewest[week] = min(free, fewest.get(week, free))
    by_week = tuple(fewest.get(w) for w in weeks)
    return FreeSeats(group.group_id, group.delivery, group.capacity, by_week)


# ----------------------------------------------------------------------- client


@dataclass(frozen=True, slots=True)
class ClientPage:
    view: ClientView
    week: str
    hours: WeekHours


def client_page(model: Clinic, view: ClientView, today: date) -> ClientPage:
    week = week_of(today)
    return ClientPage(view, week, model.week_hours(view.client_id, week, today))
