"""Closed sets of values and the small value types shared by every payload."""

import re
from datetime import date
from enum import StrEnum
from functools import partial
from typing import Annotated
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    model_validator,
)

from iop_contracts.dates import SCHEDULE_REACH, YEARS_AHEAD, YEARS_BACK, check_in_window


class Day(StrEnum):
    MON = "mon"
    TUE = "tue"
    WED = "wed"
    THU = "thu"
    FRI = "fri"
    SAT = "sat"
    SUN = "sun"

    @property
    def weekday(self) -> int:
        """Monday is 0, as in `date.weekday()`."""
        return list(Day).index(self)


class Delivery(StrEnum):
    IN_PERSON = "in_person"
    TELEHEALTH = "telehealth"


class Track(StrEnum):
    SUBSTANCE_USE = "substance_use"
    MENTAL_HEALTH = "mental_health"
    DUAL_DIAGNOSIS = "dual_diagnosis"


class Modality(StrEnum):
    CBT = "cbt"
    DBT = "dbt"
    TRAUMA_INFORMED = "trauma_informed"
    MINDFULNESS = "mindfulness"
    RELAPSE_PREVENTION = "relapse_prevention"
    PSYCHOEDUCATION = "psychoeducation"


class Population(StrEnum):
    ADULT = "adult"
    ADOLESCENT = "adolescent"


class GroupGender(StrEnum):
    ANY = "any"
    WOMEN = "women"
    MEN = "men"


class ClientGender(StrEnum):
    WOMAN = "woman"
    MAN = "man"
    NONBINARY = "nonbinary"
    UNDISCLOSED = "undisclosed"


class Priority(StrEnum):
    ROUTINE = "routine"
    STEP_DOWN = "step_down"
    URGENT = "urgent"


class PriorLevel(StrEnum):
    INPATIENT = "inpatient"
    RESIDENTIAL = "residential"
    PHP = "php"
    IOP = "iop"
    OUTPATIENT = "outpatient"
    NONE = "none"


class RecommendedLevel(StrEnum):
    INPATIENT = "inpatient"
    PHP = "php"
    OUTPATIENT = "outpatient"


class WaitlistReason(StrEnum):
    NO_GROUP_IN_AVAILABILITY = "no_group_in_availability"
    GROUPS_FULL = "groups_full"
    NO_LANGUAGE_MATCH = "no_language_match"
    NO_CREDENTIALED_THERAPIST = "no_credentialed_therapist"
    THERAPIST_CAPACITY = "therapist_capacity"
    INSUFFICIENT_WEEKLY_HOURS = "insufficient_weekly_hours"
    SITE_NOT_ACCESSIBLE = "site_not_accessible"


class UnscheduleCause(StrEnum):
    WITHDRAWN = "withdrawn"
    DISCHARGED = "discharged"
    GROUP_RETIRED = "group_retired"
    THERAPIST_RETIRED = "therapist_retired"


class CancelledKind(StrEnum):
    """Which of a client's sessions a cancelled occurrence is."""

    GROUP = "group"
    INDIVIDUAL = "individual"


class CancellationReason(StrEnum):
    SITE_CLOSED = "site_closed"
    THERAPIST_ABSENT = "therapist_absent"
    NO_COVER = "no_cover"  # the facilitator is absent and nobody qualified is free


class AttendanceKind(StrEnum):
    """Which kind of session an attendance record is about."""

    GROUP = "group"
    INDIVIDUAL = "individual"
    MAKEUP = "makeup"


class AttendanceStatus(StrEnum):
    PRESENT = "present"
    LATE = "late"
    LEFT_EARLY = "left_early"
    ABSENT = "absent"
    EXCUSED = "excused"

    @property
    def attended(self) -> bool:
        """Whether the client was there at all (hours count only for these)."""
        return self not in (AttendanceStatus.ABSENT, AttendanceStatus.EXCUSED)


class AlertReason(StrEnum):
    CONSECUTIVE_ABSENCES = "consecutive_absences"


class Channel(StrEnum):
    EMAIL = "email"
    SMS = "sms"


class NotificationPurpose(StrEnum):
    """What a notification told (or would have told) the client."""

    CONFIRMATION = "confirmation"  # a first schedule
    UPDATE = "update"  # a change to a schedule the client was told of
    CANCELLATION = "cancellation"  # the whole schedule withdrawn
    REMINDER = "reminder"  # the day before the first session
    MAKEUP = "makeup"  # a one-off extra session


CLINICAL_LICENCES = frozenset({"LCSW", "LPC", "LMHC", "LMFT", "PsyD", "PhD", "MD", "PMHNP"})
ADDICTION_CREDENTIALS = frozenset({"LADC", "CADC", "LCADC", "CAADC", "LAC", "CSAC"})

_TIME_OF_DAY = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")


def _time_of_day(value: str) -> str:
    if not _TIME_OF_DAY.match(value):
        raise ValueError("must be a 24-hour time of day 'HH:MM'")
    return value


def _iana_zone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError) as error:
        raise ValueError("must be an IANA time zone such as 'America/New_York'") from error
    return value


TimeOfDay = Annotated[str, AfterValidator(_time_of_day)]
TimeZoneName = Annotated[str, AfterValidator(_iana_zone)]
# Identifiers travel in Kafka keys and URLs: keep them short and free of spaces and slashes.
EntityId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$")]
LanguageTag = Annotated[str, StringConstraints(pattern=r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$")]
Credential = Annotated[str, StringConstraints(pattern=r"^[A-Za-z]{2,10}$")]
# Every date of a payload lies in the contract's window (iop_contracts.dates) so that no consumer
# overflows on it; a schedule's dates, computed from the others, may reach a little further.
ContractDate = Annotated[
    date,
    AfterValidator(check_in_window),
    Field(description=f"ISO date, {YEARS_BACK} years before to {YEARS_AHEAD} years after today"),
]
ScheduleDate = Annotated[
    date,
    AfterValidator(partial(check_in_window, derived=True)),
    Field(
        description=f"ISO date, {YEARS_BACK} years before to {YEARS_AHEAD} years and "
        f"{SCHEDULE_REACH.days // 7} weeks after today"
    ),
]


_ISO_WEEK = re.compile(r"^(\d{4})-W(\d{2})$")


def _iso_week(value: str) -> str:
    match = _ISO_WEEK.match(value)
    if match is None:
        raise ValueError("must be an ISO week 'YYYY-Www', e.g. '2026-W50'")
    try:
        date.fromisocalendar(int(match[1]), int(match[2]), 1)
    except ValueError:
        raise ValueError("names a week that year does not have") from None
    return value


# An ISO 8601 week, the unit of the weekly hours minimum ("2026-W50").
IsoWeek = Annotated[str, AfterValidator(_iso_week)]


def week_of(day: date) -> str:
    """The ISO week `day` falls in, as 'YYYY-Www'."""
    year, week, _ = day.isocalendar()
    return f"{year}-W{week:02d}"


def week_days(week: str) -> tuple[date, date]:
    """The Monday and the Sunday of an ISO week 'YYYY-Www'."""
    year, number = _iso_week(week).split("-W")
    monday = date.fromisocalendar(int(year), int(number), 1)
    return monday, date.fromisocalendar(int(year), int(number), 7)


def minutes(time_of_day: str) -> int:
    """Minutes since midnight of an 'HH:MM' time."""
    hours, mins = time_of_day.split(":")
    return int(hours) * 60 + int(mins)


class ContractModel(BaseModel):
    """Base of every contract model: consumers ignore unknown fields (forward compatible)."""

    model_config = ConfigDict(extra="ignore", frozen=True, use_enum_values=False)


class TimeWindow(ContractModel):
    """A weekly recurring span of local time on one day, e.g. mon 17:00-21:30."""

    day: Day
    start: TimeOfDay
    end: TimeOfDay

    @model_validator(mode="after")
    def _end_after_start(self) -> "TimeWindow":
        if minutes(self.end) <= minutes(self.start):
            raise ValueError("end must be after start")
        return self

    @property
    def start_minute(self) -> int:
        return minutes(self.start)

    @property
    def end_minute(self) -> int:
        return minutes(self.end)

    @property
    def hours(self) -> float:
        return (self.end_minute - self.start_minute) / 60

    def overlaps(self, other: "TimeWindow") -> bool:
        return (
            self.day == other.day
            and self.start_minute < other.end_minute
            and other.start_minute < self.end_minute
        )

    def contains(self, other: "TimeWindow") -> bool:
        return (
            self.day == other.day
            and self.start_minute <= other.start_minute
            and other.end_minute <= self.end_minute
        )
