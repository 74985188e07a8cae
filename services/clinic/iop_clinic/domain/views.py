"""What the read model answers with: immutable views holding ids, first names and codes only.

No view carries an email address, a phone number, a therapist's name or a message's text: the
clinic never reads them into its state, so no page, report or log built from these can show them.
"""

from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum

from iop_contracts import (
    AttendanceKind,
    AttendanceStatus,
    Cancellation,
    CancellationReason,
    Channel,
    Day,
    Delivery,
    GroupGender,
    Modality,
    Population,
    TimeWindow,
    Track,
    WaitlistReason,
    minutes,
)

WEEKDAY: dict[Day, int] = {day: number for number, day in enumerate(Day)}
"""Monday is 0, as in `date.weekday()` (a lookup: `Day.weekday` searches the enum each time)."""


class ClientStatus(StrEnum):
    """Where a client stands on the schedule topic (`requested`: enrolled, not answered yet)."""

    REQUESTED = "requested"
    SCHEDULED = "scheduled"
    WAITLISTED = "waitlisted"
    COMPLETED = "completed"
    UNSCHEDULED = "unscheduled"


class OccurrenceKind(StrEnum):
    GROUP = "group"
    INDIVIDUAL = "individual"


@dataclass(frozen=True, slots=True)
class SiteView:
    site_id: str
    name: str
    region_id: str
    timezone: str
    closed_dates: frozenset[date] = frozenset()

    def closed_on(self, day: date) -> bool:
        return day in self.closed_dates


@dataclass(frozen=True, slots=True)
class GroupView:
    group_id: str
    site_id: str
    delivery: Delivery
    track: Track
    modality: Modality
    population: Population
    gender: GroupGender
    language: str
    capacity: int
    sessions: tuple[TimeWindow, ...]
    facilitator_id: str | None
    open_from: date
    retired: bool = False

    def sessions_on(self, day: date) -> tuple[TimeWindow, ...]:
        weekday = day.weekday()
        return tuple(s for s in self.sessions if WEEKDAY[s.day] == weekday)

    def meets_on(self, day: date) -> bool:
        """A live group meets on each of its session days from `open_from`."""
        return not self.retired and self.open_from <= day and bool(self.sessions_on(day))


@dataclass(frozen=True, slots=True)
class CancelledClient:
    client_id: str
    reason: CancellationReason


@dataclass(frozen=True, slots=True)
class Occurrence:
    """One dated meeting at a site: a group's (its make-up seats included) or one client's
    individual session. `expected` are the clients who should come (make-up clients among
    them, also listed in `makeups`); `cancelled` those for whom it does not take place;
    `cancel_reason` is set when it does not take place for anyone. A group meeting twice on
    one day is one occurrence from its first start to its last end; `minutes` counts only the
    sessions."""

    kind: OccurrenceKind
    group_id: str | None
    site_id: str
    region_id: str | None
    date: date
    start: str
    end: str
    minutes: int
    delivery: Delivery
    timezone: str | None
    therapist_id: str | None
    regular_facilitator_id: str | None = None
    substitute_id: str | None = None
    capacity: int | None = None
    expected: tuple[str, ...] = ()
    makeups: tuple[str, ...] = ()
    cancelled: tuple[CancelledClient, ...] = ()
    cancel_reason: CancellationReason | None = None

    @property
    def hours(self) -> float:
        return self.minutes / 60

    @property
    def seats_taken(self) -> int:
        return len(self.expected)

    def attendance_kind(self, client_id: str) -> AttendanceKind:
        """The kind an attendance record of this client at this occurrence carries."""
        if self.kind is OccurrenceKind.INDIVIDUAL:
            return AttendanceKind.INDIVIDUAL
        return AttendanceKind.MAKEUP if client_id in self.makeups else AttendanceKind.GROUP


@dataclass(frozen=True, slots=True)
class AttendanceView:
    """The record that stands for one client, date and kind (the latest)."""

    client_id: str
    date: date
    kind: AttendanceKind
    status: AttendanceStatus
    minutes_attended: int
    group_id: str | None
    therapist_id: str | None
    recorded_by: str
    recorded_at: datetime


@dataclass(frozen=True, slots=True)
class MakeupView:
    """One booked make-up (`client.makeup_scheduled`)."""

    week: str
    date: date
    group_id: str
    site_id: str
    delivery: Delivery
    start: str
    end: str
    facilitator_id: str
    timezone: str
    event_id: str = field(default="", compare=False)

    @property
    def minutes(self) -> int:
        return minutes(self.end) - minutes(self.start)


@dataclass(frozen=True, slots=True)
class MakeupRequestView:
    week: str
    hours: float
    requested_at: datetime
    event_id: str = field(default="", compare=False)


@dataclass(frozen=True, slots=True)
class MakeupUnavailableView:
    week: str
    reasons: tuple[WaitlistReason, ...]
    event_id: str = field(default="", compare=False)


@dataclass(frozen=True, slots=True)
class NotificationView:
    """A notification's outcome; never its text (the clinic never reads it)."""

    outcome: str  # sent | failed | suppressed
    channel: Channel
    purpose: str | None
    reason: str | None
    schedule_version: int
    time: datetime
    event_id: str = field(default="", compare=False)


@dataclass(frozen=True, slots=True)
class ScheduleSummary:
    schedule_version: int
    group_id: str
    site_id: str
    delivery: Delivery
    facilitator_id: str
    sessions: tuple[TimeWindow, ...]
    therapist_id: str
    individual: TimeWindow
    individual_site_id: str
    individual_delivery: Delivery
    start_date: date
    end_date: date
    last_day: date  # end_date, or the day before the client left the programme
    weekly_hours: float
    timezone: str


@dataclass(frozen=True, slots=True)
class ClientView:
    client_id: str
    first_name: str | None
    region_id: str | None
    site_id: str | None
    status: ClientStatus
    track: Track | None
    population: Population | None
    schedule: ScheduleSummary | None
    cancelled: tuple[Cancellation, ...]
    attendance: tuple[AttendanceView, ...]
    makeups: tuple[MakeupView, ...]
    makeup_requests: tuple[MakeupRequestView, ...]
    makeups_unavailable: tuple[MakeupUnavailableView, ...]
    notifications: tuple[NotificationView, ...]
    waitlist_reasons: tuple[WaitlistReason, ...]
    waitlisted_since: date | None


@dataclass(frozen=True, slots=True)
class WaitlistEntry:
    client_id: str
    region_id: str | None
    reasons: tuple[WaitlistReason, ...]
    since: date
    preferred_site_ids: tuple[str, ...]
