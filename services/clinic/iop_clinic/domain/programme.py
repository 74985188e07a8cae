"""A client's programme: the schedule versions that hold on each date, and its dated slots.

A client's schedule changes by versions (`client.rescheduled`): a closure or an absence keeps
the same dates and only changes the `cancelled` list, while a forced move may start the new
schedule later than the old one began. So the clinic keeps each version that still decides some
date: on a date, the highest version whose dates cover it holds. A version is dropped once a
newer one covers every date it covered (a closure's reschedule replaces its predecessor).

A version's last day is its `end_date`, or the day before the client left the programme (the
local date of the `client.unscheduled` or `client.waitlisted` that ended it): the client is not
expected after leaving, and their past weeks still count.
"""

import datetime as dt
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from iop_contracts import (
    AttendanceKind,
    CancellationReason,
    CancelledKind,
    ClientScheduled,
    TimeWindow,
)

from iop_clinic.domain.views import WEEKDAY


@dataclass(frozen=True, slots=True)
class Programme:
    """One schedule version and the last day it holds."""

    schedule: ClientScheduled
    last_day: date

    @property
    def version(self) -> int:
        return self.schedule.schedule_version

    @property
    def start_date(self) -> date:
        return self.schedule.start_date

    def covers(self, day: date) -> bool:
        return self.start_date <= day <= self.last_day

    def group_sessions_on(self, day: date) -> tuple[TimeWindow, ...]:
        weekday = day.weekday()
        return tuple(s for s in self.schedule.group.sessions if WEEKDAY[s.day] == weekday)

    def individual_on(self, day: date) -> bool:
        return WEEKDAY[self.schedule.individual.day] == day.weekday()

    def cancellation(self, day: date, kind: CancelledKind) -> CancellationReason | None:
        """Why the schedule's `cancelled` list takes this occurrence away, or None."""
        return next(
            (c.reason for c in self.schedule.cancelled if c.date == day and c.kind is kind),
            None,
        )

    def ended(self, left_at: datetime) -> "Programme":
        """This version cut at the day before `left_at`, a local date of the schedule's zone."""
        left_on = left_at.astimezone(ZoneInfo(self.schedule.timezone)).date()
        return replace(self, last_day=min(self.last_day, left_on - timedelta(days=1)))


def programme_on(programmes: Iterable[Programme], day: date) -> Programme | None:
    """The version that holds on `day`: the highest one covering it."""
    covering = [p for p in programmes if p.covers(day)]
    return max(covering, key=lambda p: p.version, default=None)


def with_version(programmes: tuple[Programme, ...], new: Programme) -> tuple[Programme, ...]:
    """The versions after `new` arrives, without those it shadows on every date."""
    kept = tuple(
        p for p in programmes if not (new.start_date <= p.start_date and p.last_day <= new.last_day)
    )
    return (*kept, new)


def days(first: date, last: date) -> Iterator[date]:
    for offset in range((last - first).days + 1):
        yield first + timedelta(days=offset)


@dataclass(frozen=True, slots=True)
class ClientSlot:
    """One dated occurrence of a client's week, as attendance is recorded for it: one per
    client, date and kind (a group meeting twice that day is one slot with both sessions'
    minutes). `cancelled` says why it does not take place."""

    date: date
    kind: AttendanceKind
    start: str
    end: str
    minutes: int
    site_id: str
    group_id: str | None
    therapist_id: str | None
    cancelled: CancellationReason | None = None

    @property
    def hours(self) -> float:
        return self.minutes / 60

    @property
    def order(self) -> tuple[dt.date, str, str]:
        return self.date, self.start, self.kind.value


def group_slot(programme: Programme, day: date) -> ClientSlot | None:
    """The client's group slot on `day`, if the programme holds one, cancelled as the client's
    own list says (the Clinic also asks the group's occurrence: a closure or a `no_cover`
    another member's list already names)."""
    sessions = programme.group_sessions_on(day)
    if not sessions:
        return None
    group = programme.schedule.group
    return ClientSlot(
        date=day,
        kind=AttendanceKind.GROUP,
        start=min(s.start for s in sessions),
        end=max(s.end for s in sessions),
        minutes=sum(s.end_minute - s.start_minute for s in sessions),
        site_id=group.site_id,
        group_id=group.group_id,
        therapist_id=group.facilitator_id,
        cancelled=programme.cancellation(day, CancelledKind.GROUP),
    )


def individual_slot(programme: Programme, day: date, closed: bool) -> ClientSlot | None:
    """The client's individual slot on `day`, if it falls on it; `closed` as for groups."""
    if not programme.individual_on(day):
        return None
    slot = programme.schedule.individual
    reason = CancellationReason.SITE_CLOSED if closed else None
    return ClientSlot(
        date=day,
        kind=AttendanceKind.INDIVIDUAL,
        start=slot.start,
        end=slot.end,
        minutes=slot.window.end_minute - slot.window.start_minute,
        site_id=slot.site_id,
        group_id=None,
        therapist_id=slot.therapist_id,
        cancelled=reason or programme.cancellation(day, CancelledKind.INDIVIDUAL),
    )
