"""One client's state in the read model, and how each topic's events change it.

Kept per client: from the enrollment topic the first name (nothing else of `contact`), region,
track, population and preferred sites; from the schedule topic the status, the schedule
versions that still decide a date (programme.py), the waitlist reasons and since when the client
waits, and the make-ups booked or refused; from the attendance topic the record that stands per
date and kind, and the `client.hours_at_risk` weeks and `client.attendance_alert` dates already
published (read back, so that they are never published twice); from the notification topic each
outcome's purpose, channel and reason.

Repeats (same event id) change nothing, with memory bounded by what the client has:
- profile and attendance records: the latest event per key stands (stamps.py);
- schedules: by version (each is issued once, one above the client's highest);
- `client.waitlisted` and `client.unscheduled`: by id among the client's last RECENT_IDS of
  them (a copy follows its original closely: a producer's retried send);
- make-ups, make-up answers and notifications: by id among those kept (all of them, a handful
  per programme);
- hours at risk and alerts: sets keyed by week and by date.
"""

from dataclasses import dataclass, field
from datetime import date, datetime

from iop_contracts import (
    AttendanceKind,
    AttendanceRecorded,
    ClientAttendanceAlert,
    ClientCompleted,
    ClientHoursAtRisk,
    ClientMakeupScheduled,
    ClientMakeupUnavailable,
    ClientScheduled,
    ClientUnscheduled,
    ClientWaitlisted,
    CloudEvent,
    EnrollmentRequested,
    MakeupRequested,
    NotificationFailed,
    NotificationOutcome,
    NotificationSuppressed,
    Population,
    Track,
    WaitlistReason,
)

from iop_clinic.domain.programme import Programme, with_version
from iop_clinic.domain.stamps import Stamped, instant, supersede
from iop_clinic.domain.views import (
    AttendanceView,
    ClientStatus,
    MakeupRequestView,
    MakeupUnavailableView,
    MakeupView,
    NotificationView,
)

RECENT_IDS = 8
"""Ids of `client.waitlisted`/`client.unscheduled` events remembered per client."""


@dataclass(frozen=True, slots=True)
class Profile:
    """What the clinic keeps of an enrollment: the first name and the level of care."""

    first_name: str
    region_id: str
    track: Track
    population: Population
    preferred_site_ids: tuple[str, ...]


RecordKey = tuple[date, AttendanceKind]


@dataclass
class ClientState:
    client_id: str
    region_id: str | None = None
    profile: Stamped[Profile] | None = None
    status: ClientStatus = ClientStatus.REQUESTED
    version: int = 0
    programmes: tuple[Programme, ...] = ()
    waitlist_reasons: tuple[WaitlistReason, ...] = ()
    waitlisted_since: datetime | None = None
    records: dict[RecordKey, Stamped[AttendanceView]] = field(default_factory=dict)
    makeups: tuple[MakeupView, ...] = ()
    makeup_requests: tuple[MakeupRequestView, ...] = ()
    makeups_unavailable: tuple[MakeupUnavailableView, ...] = ()
    notifications: tuple[NotificationView, ...] = ()
    at_risk_weeks: set[str] = field(default_factory=set)
    alerted_dates: set[date] = field(default_factory=set)
    recent_ids: tuple[str, ...] = ()

    @property
    def latest(self) -> Programme | None:
        return max(self.programmes, key=lambda p: p.version, default=None)

    @property
    def first_name(self) -> str | None:
        return None if self.profile is None else self.profile.value.first_name

    def record(self, day: date, kind: AttendanceKind) -> AttendanceView | None:
        entry = self.records.get((day, kind))
        return None if entry is None else entry.value

    def first_sight(self, event_id: str) -> bool:
        """Whether the id is new among the client's last RECENT_IDS; remembers it if so."""
        if event_id in self.recent_ids:
            return False
        self.recent_ids = (*self.recent_ids, event_id)[-RECENT_IDS:]
        return True


# ------------------------------------------------------------------ enrollment topic


def apply_enrollment(state: ClientState, event: CloudEvent, payload: EnrollmentRequested) -> bool:
    """Keep the latest request's first name and level of care; nothing else of `contact`."""
    profile = Profile(
        first_name=payload.contact.first_name,
        region_id=payload.region_id,
        track=payload.track,
        population=payload.population,
        preferred_site_ids=tuple(payload.preferred_site_ids),
    )
    entry = supersede(state.profile, event, profile)
    if entry is None:
        return False
    state.profile = entry
    state.region_id = payload.region_id
    return True


def apply_makeup_request(state: ClientState, event: CloudEvent, payload: MakeupRequested) -> bool:
    if any(r.event_id == event.id for r in state.makeup_requests):
        return False
    request = MakeupRequestView(payload.week, payload.hours, instant(event), event.id)
    state.makeup_requests = (*state.makeup_requests, request)
    return True


# -------------------------------------------------------------------- schedule topic


def apply_scheduled(state: ClientState, payload: ClientScheduled) -> bool:
    """A new version (rescheduled included); one not above the client's highest is a copy."""
    if payload.schedule_version <= state.version:
        return False
    state.version = payload.schedule_version
    state.programmes = with_version(state.programmes, Programme(payload, payload.end_date))
    state.status = ClientStatus.SCHEDULED
    state.region_id = payload.region_id
    state.waitlist_reasons, state.waitlisted_since = (), None
    return True


def _leave(state: ClientState, event: CloudEvent) -> None:
    """A scheduled client leaves: their current version ends the day before."""
    latest = state.latest
    if state.status is ClientStatus.SCHEDULED and latest is not None:
        kept = tuple(p for p in state.programmes if p is not latest)
        state.programmes = (*kept, latest.ended(instant(event)))


def apply_waitlisted(state: ClientState, event: CloudEvent, payload: ClientWaitlisted) -> bool:
    """Waiting since the first `client.waitlisted` of this spell; reasons are the latest."""
    if not state.first_sight(event.id):
        return False
    _leave(state, event)
    if state.status is not ClientStatus.WAITLISTED:
        state.waitlisted_since = instant(event)
    state.status = ClientStatus.WAITLISTED
    state.region_id = payload.region_id
    state.waitlist_reasons = tuple(payload.reasons)
    return True


def apply_unscheduled(state: ClientState, event: CloudEvent, payload: ClientUnscheduled) -> bool:
    if not state.first_sight(event.id):
        return False
    _leave(state, event)
    state.status = ClientStatus.UNSCHEDULED
    state.region_id = payload.region_id
    state.waitlist_reasons, state.waitlisted_since = (), None
    return True


def apply_completed(state: ClientState, payload: ClientCompleted) -> bool:
    """Completes the current schedule only (a completion of a replaced one changes nothing)."""
    if state.status is not ClientStatus.SCHEDULED or payload.schedule_version != state.version:
        return False
    state.status = ClientStatus.COMPLETED
    return True


def apply_makeup(state: ClientState, event: CloudEvent, payload: ClientMakeupScheduled) -> bool:
    if any(m.event_id == event.id for m in state.makeups):
        return False
    makeup = MakeupView(
        week=payload.week,
        date=payload.date,
        group_id=payload.group_id,
        site_id=payload.site_id,
        delivery=payload.delivery,
        start=payload.start,
        end=payload.end,
        facilitator_id=payload.facilitator_id,
        timezone=payload.timezone,
        event_id=event.id,
    )
    state.makeups = (*state.makeups, makeup)
    return True


def apply_makeup_unavailable(
    state: ClientState, event: CloudEvent, payload: ClientMakeupUnavailable
) -> bool:
    if any(m.event_id == event.id for m in state.makeups_unavailable):
        return False
    refusal = MakeupUnavailableView(payload.week, tuple(payload.reasons), event.id)
    state.makeups_unavailable = (*state.makeups_unavailable, refusal)
    return True


# ------------------------------------------------------------------ attendance topic


def apply_attendance(state: ClientState, event: CloudEvent, payload: AttendanceRecorded) -> bool:
    """The latest record for a date and kind stands: a correction supersedes."""
    record = AttendanceView(
        client_id=payload.client_id,
        date=payload.date,
        kind=payload.kind,
        status=payload.status,
        minutes_attended=payload.minutes_attended,
        group_id=payload.group_id,
        therapist_id=payload.therapist_id,
        recorded_by=payload.recorded_by,
        recorded_at=instant(event),
    )
    key = (payload.date, payload.kind)
    entry = supersede(state.records.get(key), event, record)
    if entry is None:
        return False
    state.records[key] = entry
    state.region_id = state.region_id or payload.region_id
    return True


def apply_hours_at_risk(state: ClientState, payload: ClientHoursAtRisk) -> bool:
    if payload.week in state.at_risk_weeks:
        return False
    state.at_risk_weeks.add(payload.week)
    return True


def apply_alert(state: ClientState, payload: ClientAttendanceAlert) -> bool:
    if payload.last_date in state.alerted_dates:
        return False
    state.alerted_dates.add(payload.last_date)
    return True


# ---------------------------------------------------------------- notification topic


def outcome_of(payload: NotificationOutcome) -> str:
    if isinstance(payload, NotificationFailed):
        return "failed"
    if isinstance(payload, NotificationSuppressed):
        return "suppressed"
    return "sent"


def apply_notification(state: ClientState, event: CloudEvent, payload: NotificationOutcome) -> bool:
    """Keep what happened to a notification (never its text, which the event does not carry)."""
    if any(n.event_id == event.id for n in state.notifications):
        return False
    outcome = NotificationView(
        outcome=outcome_of(payload),
        channel=payload.channel,
        purpose=None if payload.purpose is None else str(payload.purpose),
        reason=payload.reason,
        schedule_version=payload.schedule_version,
        time=instant(event),
        event_id=event.id,
    )
    state.notifications = (*state.notifications, outcome)
    return True
