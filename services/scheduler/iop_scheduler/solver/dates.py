"""Dates of a programme: inclusive date ranges, weekly sessions held over one, and peak loads.

Rules 4 and 7 of SCHEDULING.md are counted per date: a client occupies a seat, a caseload place
and their weekly sessions from ``start_date`` to ``end_date`` inclusive. Everything that counts
load over dates (the ledger, the model's options, the waitlist reasons) goes through ``peak`` and
``weekly_peak`` here, so that "on every date" and "in every week" mean the same thing everywhere.

A week is a calendar week, Monday to Sunday (the ISO week the contract's ``week`` fields use); a
session over a date range counts in every week that range meets.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta

from .weektime import Interval

OPEN_END = date.max  # a range that has not ended (facilitation, the ledger's cautious mode)


def week_of(day: date) -> date:
    """The Monday of ``day``'s week."""
    return day - timedelta(days=day.weekday())


@dataclass(frozen=True, order=True)
class DateRange:
    """``start`` to ``end``, both inclusive."""

    start: date
    end: date

    def meets(self, other: DateRange) -> bool:
        return self.start <= other.end and other.start <= self.end

    def contains(self, day: date) -> bool:
        return self.start <= day <= self.end

    def clipped(self, floor: date | None) -> DateRange | None:
        """The part on or after ``floor`` (today): earlier dates are history no schedule made
        today can change. None when nothing is left."""
        if floor is None or self.start >= floor:
            return self
        return None if self.end < floor else DateRange(floor, self.end)

    def open_ended(self) -> DateRange:
        return DateRange(self.start, OPEN_END)

    def in_weeks(self) -> DateRange:
        """The same range in weeks: from the Monday of its first week to the Monday of its last."""
        return DateRange(week_of(self.start), week_of(self.end))

    def union(self, other: DateRange | None) -> DateRange:
        if other is None:
            return self
        return DateRange(min(self.start, other.start), max(self.end, other.end))


@dataclass(frozen=True)
class Booking:
    """One weekly session a therapist holds over a date range; ``site`` is None for telehealth
    (which needs no travel)."""

    interval: Interval
    site: str | None
    dates: DateRange
    minutes: int = 0

    @property
    def weekly_minutes(self) -> int:
        return self.minutes or self.interval.minutes


def peak(loads: Iterable[tuple[DateRange, int]], within: DateRange) -> tuple[int, date | None]:
    """The highest total load on one date of ``within``, and the first date it is reached (None
    when nothing is loaded). A load only rises where a range starts, so those dates suffice."""
    return _peak([(r.start, r.end, n) for r, n in loads], within.start, within.end)


def weekly_peak(
    loads: Iterable[tuple[DateRange, int]], within: DateRange
) -> tuple[int, date | None]:
    """``peak`` counted in weeks: a load counts in every week its range meets. Returns the
    highest weekly total over the weeks ``within`` meets, and the Monday of the first such week."""
    weeks = [(week_of(r.start), week_of(r.end), n) for r, n in loads]
    return _peak(weeks, week_of(within.start), week_of(within.end))


def _peak(loads: list[tuple[date, date, int]], lo: date, hi: date) -> tuple[int, date | None]:
    active = [(s, e, n) for s, e, n in loads if s <= hi and lo <= e]
    best, when = 0, None
    for day in sorted({lo} | {s for s, _, _ in active if s > lo}):
        total = sum(n for s, e, n in active if s <= day <= e)
        if total > best:
            best, when = total, day
    return best, when
