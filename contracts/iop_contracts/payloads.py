"""One pydantic model per event payload of CONTRACT.md.

Each payload class names its event (`event_name`, the CloudEvents type without the `iop.` prefix),
the field that is its CloudEvents `subject`, and its topic and Kafka key, so that building and
routing an event needs nothing but the payload.
"""

import datetime as dt
from datetime import date
from typing import Annotated, ClassVar

from pydantic import EmailStr, Field, StringConstraints, field_validator, model_validator

from iop_contracts import topics
from iop_contracts.values import (
    AlertReason,
    AttendanceKind,
    AttendanceStatus,
    CancellationReason,
    CancelledKind,
    Channel,
    ClientGender,
    ContractDate,
    ContractModel,
    Credential,
    Day,
    Delivery,
    EntityId,
    GroupGender,
    IsoWeek,
    LanguageTag,
    Modality,
    NotificationPurpose,
    Population,
    Priority,
    PriorLevel,
    RecommendedLevel,
    ScheduleDate,
    TimeOfDay,
    TimeWindow,
    TimeZoneName,
    Track,
    UnscheduleCause,
    WaitlistReason,
    minutes,
    week_days,
)

Name = Annotated[str, StringConstraints(min_length=1, max_length=200, strip_whitespace=True)]
E164Phone = Annotated[str, StringConstraints(pattern=r"^\+[1-9]\d{6,14}$")]


def _default_site_windows() -> list[TimeWindow]:
    evenings = [TimeWindow(day=day, start="17:00", end="21:30") for day in list(Day)[:5]]
    weekends = [TimeWindow(day=day, start="08:00", end="18:00") for day in (Day.SAT, Day.SUN)]
    return evenings + weekends


def _no_overlaps(windows: list[TimeWindow], what: str) -> list[TimeWindow]:
    for i, window in enumerate(windows):
        for other in windows[i + 1 :]:
            if window.overlaps(other):
                raise ValueError(f"{what} must not overlap ({window.day} {window.start})")
    return windows


class Payload(ContractModel):
    """Base of every event payload."""

    event_name: ClassVar[str]
    topic: ClassVar[str]
    subject_field: ClassVar[str]

    @property
    def subject(self) -> str:
        return str(getattr(self, self.subject_field))

    @property
    def kafka_key(self) -> str:
        return self.subject


# ---------------------------------------------------------------- roster (iop.roster.v1)


class SiteUpserted(Payload):
    event_name: ClassVar[str] = "site.upserted"
    topic: ClassVar[str] = topics.ROSTER
    subject_field: ClassVar[str] = "site_id"

    site_id: EntityId
    name: Name
    region_id: EntityId
    timezone: TimeZoneName
    windows: list[TimeWindow] = Field(default_factory=_default_site_windows, min_length=1)
    # Optional addition to v1: holidays and other closures, on which the site holds no session,
    # in person or telehealth, group or individual.
    closed_dates: list[ContractDate] = Field(default_factory=list, max_length=1000)

    @property
    def kafka_key(self) -> str:
        return f"site:{self.site_id}"


class GroupUpserted(Payload):
    event_name: ClassVar[str] = "group.upserted"
    topic: ClassVar[str] = topics.ROSTER
    subject_field: ClassVar[str] = "group_id"

    group_id: EntityId
    site_id: EntityId
    delivery: Delivery
    track: Track
    modality: Modality
    population: Population
    gender: GroupGender = GroupGender.ANY
    language: LanguageTag
    capacity: int = Field(ge=1, le=100)
    sessions: list[TimeWindow] = Field(min_length=1, max_length=14)
    facilitator_id: EntityId | None = None
    open_from: ContractDate

    @field_validator("sessions")
    @classmethod
    def _sessions_do_not_overlap(cls, sessions: list[TimeWindow]) -> list[TimeWindow]:
        return _no_overlaps(sessions, "sessions")

    @property
    def weekly_hours(self) -> float:
        return sum(session.hours for session in self.sessions)

    @property
    def kafka_key(self) -> str:
        return f"group:{self.group_id}"


class GroupRetired(Payload):
    event_name: ClassVar[str] = "group.retired"
    topic: ClassVar[str] = topics.ROSTER
    subject_field: ClassVar[str] = "group_id"

    group_id: EntityId

    @property
    def kafka_key(self) -> str:
        return f"group:{self.group_id}"


class Absence(ContractModel):
    """Dates on which a therapist holds no session (leave, illness, training), both included."""

    start_date: ContractDate
    end_date: ContractDate

    @model_validator(mode="after")
    def _ends_after_start(self) -> "Absence":
        if self.end_date < self.start_date:
            raise ValueError("end_date must not be before start_date")
        return self

    def covers(self, day: date) -> bool:
        return self.start_date <= day <= self.end_date


class TherapistUpserted(Payload):
    event_name: ClassVar[str] = "therapist.upserted"
    topic: ClassVar[str] = topics.ROSTER
    subject_field: ClassVar[str] = "therapist_id"

    therapist_id: EntityId
    name: Name
    site_ids: list[EntityId] = Field(default_factory=list)
    telehealth: bool = False
    credentials: list[Credential] = Field(default_factory=list)
    modalities: list[Modality] = Field(default_factory=list)
    populations: list[Population] = Field(min_length=1)
    languages: list[LanguageTag] = Field(min_length=1)
    availability: list[TimeWindow] = Field(default_factory=list)
    max_weekly_hours: float = Field(gt=0, le=60)
    max_caseload: int = Field(ge=0, le=200)
    # Optional addition to v1 (no version bump).
    absences: list[Absence] = Field(default_factory=list, max_length=500)

    @model_validator(mode="after")
    def _can_work_somewhere(self) -> "TherapistUpserted":
        if not self.site_ids and not self.telehealth:
            raise ValueError("site_ids must name a site unless telehealth is true")
        return self

    @property
    def kafka_key(self) -> str:
        return f"therapist:{self.therapist_id}"


class TherapistRetired(Payload):
    event_name: ClassVar[str] = "therapist.retired"
    topic: ClassVar[str] = topics.ROSTER
    subject_field: ClassVar[str] = "therapist_id"

    therapist_id: EntityId

    @property
    def kafka_key(self) -> str:
        return f"therapist:{self.therapist_id}"


# ------------------------------------------------------- enrollment (iop.enrollment.v1)


class Contact(ContractModel):
    """The only personal data in the system; never logged, never in an exception message."""

    first_name: Name
    email: EmailStr | None = None
    phone: E164Phone | None = None
    email_consent: bool = False
    sms_consent: bool = False

    @model_validator(mode="after")
    def _consent_needs_address(self) -> "Contact":
        if self.email_consent and self.email is None:
            raise ValueError("email_consent needs an email")
        if self.sms_consent and self.phone is None:
            raise ValueError("sms_consent needs a phone")
        return self

    def __repr__(self) -> str:  # keeps contact details out of tracebacks and debug logs
        return "Contact(<redacted>)"

    __str__ = __repr__


class EnrollmentFields(ContractModel):
    """The fields an enrollment request and a referral share."""

    client_id: EntityId
    region_id: EntityId
    track: Track
    population: Population
    gender: ClientGender = ClientGender.UNDISCLOSED
    language: LanguageTag
    preferred_site_ids: list[EntityId] = Field(default_factory=list, max_length=20)
    accepts_telehealth: bool = False
    gender_specific_group: bool = False
    availability: list[TimeWindow] = Field(min_length=1, max_length=28)
    requested_start: ContractDate
    program_weeks: int = Field(ge=2, le=16)
    priority: Priority = Priority.ROUTINE
    indicated_modalities: list[Modality] = Field(default_factory=list)
    contact: Contact

    @model_validator(mode="after")
    def _reachable_somewhere(self) -> "EnrollmentFields":
        if not self.preferred_site_ids and not self.accepts_telehealth:
            raise ValueError(
                "preferred_site_ids must name a site unless accepts_telehealth is true"
            )
        return self


class EnrollmentRequested(EnrollmentFields, Payload):
    event_name: ClassVar[str] = "enrollment.requested"
    topic: ClassVar[str] = topics.ENROLLMENT
    subject_field: ClassVar[str] = "client_id"

    @property
    def kafka_key(self) -> str:
        return self.region_id


class Screening(ContractModel):
    needs_medical_detox: bool
    needs_24h_supervision: bool
    imminent_risk: bool
    medically_stable: bool
    stable_living_environment: bool
    prior_level: PriorLevel
    # Optional addition to v1 (no version bump): the hours of structured care a week the
    # assessing clinician indicates, which places a client below, inside or above IOP's range.
    indicated_weekly_hours: float | None = Field(default=None, ge=0, le=80)


class ReferralSubmitted(EnrollmentFields, Payload):
    event_name: ClassVar[str] = "referral.submitted"
    topic: ClassVar[str] = topics.REFERRAL
    subject_field: ClassVar[str] = "client_id"

    screening: Screening


class EnrollmentDeclined(Payload):
    event_name: ClassVar[str] = "enrollment.declined"
    topic: ClassVar[str] = topics.ENROLLMENT
    subject_field: ClassVar[str] = "client_id"

    client_id: EntityId
    region_id: EntityId
    reasons: list[str] = Field(min_length=1)
    recommended_level: RecommendedLevel

    @property
    def kafka_key(self) -> str:
        return self.region_id


class EnrollmentWithdrawn(Payload):
    event_name: ClassVar[str] = "enrollment.withdrawn"
    topic: ClassVar[str] = topics.ENROLLMENT
    subject_field: ClassVar[str] = "client_id"

    client_id: EntityId
    region_id: EntityId

    @property
    def kafka_key(self) -> str:
        return self.region_id


class EnrollmentExtended(Payload):
    """A clinician's treatment-plan review lengthens the programme: ``program_weeks`` is the new
    total length, counted from the schedule's same ``start_date``."""

    event_name: ClassVar[str] = "enrollment.extended"
    topic: ClassVar[str] = topics.ENROLLMENT
    subject_field: ClassVar[str] = "client_id"

    client_id: EntityId
    region_id: EntityId
    program_weeks: int = Field(ge=2, le=16)

    @property
    def kafka_key(self) -> str:
        return self.region_id


class ClientDischarged(EnrollmentWithdrawn):
    event_name: ClassVar[str] = "client.discharged"


class MakeupRequested(Payload):
    """Staff ask, through the clinic service, for one extra group session in ``week`` for a
    scheduled client whose hours fell short. Keyed by region like every enrollment event, so the
    region's scheduler sees it in order with the client's other events."""

    event_name: ClassVar[str] = "makeup.requested"
    topic: ClassVar[str] = topics.ENROLLMENT
    subject_field: ClassVar[str] = "client_id"

    client_id: EntityId
    region_id: EntityId
    week: IsoWeek
    hours: float = Field(gt=0, le=12)

    @property
    def kafka_key(self) -> str:
        return self.region_id


# ---------------------------------------------------------- schedule (iop.schedule.v1)


class GroupPlacement(ContractModel):
    group_id: EntityId
    site_id: EntityId
    delivery: Delivery
    facilitator_id: EntityId
    sessions: list[TimeWindow] = Field(min_length=1)


class IndividualSession(ContractModel):
    therapist_id: EntityId
    delivery: Delivery
    site_id: EntityId
    day: Day
    start: TimeOfDay
    end: TimeOfDay

    @property
    def window(self) -> TimeWindow:
        return TimeWindow(day=self.day, start=self.start, end=self.end)


class Cancellation(ContractModel):
    """One dated occurrence of a client's schedule that will not take place, and why."""

    date: ScheduleDate
    kind: CancelledKind
    reason: CancellationReason


class ClientScheduled(Payload):
    event_name: ClassVar[str] = "client.scheduled"
    topic: ClassVar[str] = topics.SCHEDULE
    subject_field: ClassVar[str] = "client_id"

    client_id: EntityId
    region_id: EntityId
    schedule_version: int = Field(ge=1)
    group: GroupPlacement
    individual: IndividualSession
    start_date: ScheduleDate
    end_date: ScheduleDate
    weekly_hours: float = Field(gt=0)
    timezone: TimeZoneName
    # Optional addition to v1: closures and absences never move a client, they cancel dated
    # occurrences, listed here (a change to the list is a client.rescheduled).
    cancelled: list[Cancellation] = Field(default_factory=list)

    @model_validator(mode="after")
    def _ends_after_start(self) -> "ClientScheduled":
        if self.end_date < self.start_date:
            raise ValueError("end_date must not be before start_date")
        return self

    @model_validator(mode="after")
    def _cancelled_within_the_programme(self) -> "ClientScheduled":
        seen: set[tuple[date, CancelledKind]] = set()
        for entry in self.cancelled:
            if not self.start_date <= entry.date <= self.end_date:
                raise ValueError("cancelled dates must lie between start_date and end_date")
            if (entry.date, entry.kind) in seen:
                raise ValueError("cancelled lists each date and kind once")
            seen.add((entry.date, entry.kind))
        return self


class ClientRescheduled(ClientScheduled):
    event_name: ClassVar[str] = "client.rescheduled"


class ClientWaitlisted(Payload):
    event_name: ClassVar[str] = "client.waitlisted"
    topic: ClassVar[str] = topics.SCHEDULE
    subject_field: ClassVar[str] = "client_id"

    client_id: EntityId
    region_id: EntityId
    reasons: list[WaitlistReason] = Field(min_length=1)
    detail: str = ""


class ClientExtensionDeclined(Payload):
    """The extension does not fit over the added weeks; the old schedule stands."""

    event_name: ClassVar[str] = "client.extension_declined"
    topic: ClassVar[str] = topics.SCHEDULE
    subject_field: ClassVar[str] = "client_id"

    client_id: EntityId
    region_id: EntityId
    reasons: list[WaitlistReason] = Field(min_length=1)


class ClientUnscheduled(Payload):
    event_name: ClassVar[str] = "client.unscheduled"
    topic: ClassVar[str] = topics.SCHEDULE
    subject_field: ClassVar[str] = "client_id"

    client_id: EntityId
    region_id: EntityId
    cause: UnscheduleCause


class ClientCompleted(Payload):
    """Published once, on the day after ``end_date`` in the region's time zone: the client's
    programme is over and their seat, caseload place and slot are free from that day."""

    event_name: ClassVar[str] = "client.completed"
    topic: ClassVar[str] = topics.SCHEDULE
    subject_field: ClassVar[str] = "client_id"

    client_id: EntityId
    region_id: EntityId
    schedule_version: int = Field(ge=1)
    end_date: ScheduleDate


class ClientMakeupScheduled(Payload):
    """One dated extra group session (SCHEDULING.md rule 12); its seat counts against the
    group's capacity on that date."""

    event_name: ClassVar[str] = "client.makeup_scheduled"
    topic: ClassVar[str] = topics.SCHEDULE
    subject_field: ClassVar[str] = "client_id"

    client_id: EntityId
    region_id: EntityId
    week: IsoWeek
    date: ScheduleDate
    group_id: EntityId
    site_id: EntityId
    delivery: Delivery
    start: TimeOfDay
    end: TimeOfDay
    facilitator_id: EntityId
    timezone: TimeZoneName

    @model_validator(mode="after")
    def _on_a_day_of_the_week(self) -> "ClientMakeupScheduled":
        monday, sunday = week_days(self.week)
        if not monday <= self.date <= sunday:
            raise ValueError("date must lie in the requested week")
        if minutes(self.end) <= minutes(self.start):
            raise ValueError("end must be after start")
        return self


class ClientMakeupUnavailable(Payload):
    """No make-up fits the requested week; ``reasons`` use the waitlist's codes."""

    event_name: ClassVar[str] = "client.makeup_unavailable"
    topic: ClassVar[str] = topics.SCHEDULE
    subject_field: ClassVar[str] = "client_id"

    client_id: EntityId
    region_id: EntityId
    week: IsoWeek
    reasons: list[WaitlistReason] = Field(min_length=1)


# ---------------------------------------------------------- staffing (iop.staffing.v1)


class FacilitatorSubstituted(Payload):
    """The group's regular facilitator (``replaces``) is absent on ``date``; another qualified
    therapist runs that one occurrence. The latest event for a group and date stands."""

    event_name: ClassVar[str] = "facilitator.substituted"
    topic: ClassVar[str] = topics.STAFFING
    subject_field: ClassVar[str] = "group_id"

    group_id: EntityId
    region_id: EntityId
    date: ScheduleDate
    facilitator_id: EntityId
    replaces: EntityId

    @model_validator(mode="after")
    def _someone_else(self) -> "FacilitatorSubstituted":
        if self.facilitator_id == self.replaces:
            raise ValueError("facilitator_id must differ from replaces")
        return self

    @property
    def kafka_key(self) -> str:
        return f"group:{self.group_id}"


# ------------------------------------------------------ attendance (iop.attendance.v1)

# Who recorded it: the API key's name (intake's and the clinic's keys are named like ids), or an
# EHR's integration name. Never a person's name.
RecorderName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._:@-]{0,99}$")]


class AttendanceRecorded(Payload):
    """Whether one client attended one dated session. The latest record for a client, date and
    kind stands: a correction is a new record. No free text (clinical notes belong in the EHR)."""

    event_name: ClassVar[str] = "attendance.recorded"
    topic: ClassVar[str] = topics.ATTENDANCE
    subject_field: ClassVar[str] = "client_id"

    client_id: EntityId
    region_id: EntityId
    date: ContractDate
    kind: AttendanceKind
    group_id: EntityId | None = None
    therapist_id: EntityId | None = None
    status: AttendanceStatus
    minutes_attended: int = Field(ge=0, le=720)
    recorded_by: RecorderName

    @model_validator(mode="after")
    def _names_its_session(self) -> "AttendanceRecorded":
        if self.kind is AttendanceKind.INDIVIDUAL and self.therapist_id is None:
            raise ValueError("an individual session's record names its therapist_id")
        if self.kind is not AttendanceKind.INDIVIDUAL and self.group_id is None:
            raise ValueError("a group or make-up session's record names its group_id")
        if not self.status.attended and self.minutes_attended:
            raise ValueError("an absent or excused client attended 0 minutes")
        return self

    @property
    def slot(self) -> tuple[str, dt.date, AttendanceKind]:
        """What a correction supersedes: the client, the date and the kind of session."""
        return self.client_id, self.date, self.kind


class ClientHoursAtRisk(Payload):
    """Published once per client and ISO week, as soon as the hours attended plus the hours
    still scheduled that week fall below the level of care's minimum."""

    event_name: ClassVar[str] = "client.hours_at_risk"
    topic: ClassVar[str] = topics.ATTENDANCE
    subject_field: ClassVar[str] = "client_id"

    client_id: EntityId
    region_id: EntityId
    week: IsoWeek
    attended_hours: float = Field(ge=0)
    remaining_scheduled_hours: float = Field(ge=0)
    minimum_hours: float = Field(gt=0)


class ClientAttendanceAlert(Payload):
    """The client missed the network's limit of consecutive sessions without an excuse."""

    event_name: ClassVar[str] = "client.attendance_alert"
    topic: ClassVar[str] = topics.ATTENDANCE
    subject_field: ClassVar[str] = "client_id"

    client_id: EntityId
    region_id: EntityId
    reason: AlertReason
    count: int = Field(ge=1)
    last_date: ContractDate


# ------------------------------------------------- notification (iop.notification.v1)


class NotificationOutcome(Payload):
    topic: ClassVar[str] = topics.NOTIFICATION
    subject_field: ClassVar[str] = "client_id"

    client_id: EntityId
    schedule_version: int = Field(ge=0)
    channel: Channel
    reason: str | None = None
    # Optional addition to v1: which kind of message this outcome is about.
    purpose: NotificationPurpose | None = None


class NotificationSent(NotificationOutcome):
    event_name: ClassVar[str] = "notification.sent"


class NotificationFailed(NotificationOutcome):
    event_name: ClassVar[str] = "notification.failed"
    reason: str = Field(min_length=1)


class NotificationSuppressed(NotificationOutcome):
    event_name: ClassVar[str] = "notification.suppressed"
    reason: str = Field(min_length=1)


PAYLOAD_TYPES: tuple[type[Payload], ...] = (
    SiteUpserted,
    GroupUpserted,
    GroupRetired,
    TherapistUpserted,
    TherapistRetired,
    ReferralSubmitted,
    EnrollmentRequested,
    EnrollmentDeclined,
    EnrollmentWithdrawn,
    ClientDischarged,
    EnrollmentExtended,
    ClientScheduled,
    ClientRescheduled,
    ClientWaitlisted,
    ClientUnscheduled,
    ClientCompleted,
    ClientExtensionDeclined,
    MakeupRequested,
    ClientMakeupScheduled,
    ClientMakeupUnavailable,
    FacilitatorSubstituted,
    AttendanceRecorded,
    ClientHoursAtRisk,
    ClientAttendanceAlert,
    NotificationSent,
    NotificationFailed,
    NotificationSuppressed,
)
