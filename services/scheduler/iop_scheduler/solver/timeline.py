"""A therapist's room for newcomers over dates, in a few classes of start dates (rule 7 per date).

Kept clients hold a therapist's caseload places on their own dates, and their sessions count in
the weeks their dates meet, so the room left for newcomers changes only on a few days: where a
kept client starts or the day after one ends (caseload), and on a Monday where a kept session or
group starts or has ended (weekly hours). Between two such days the room is constant: those days
cut the dates into classes, and a newcomer needs to be known only by the class of their start.

The model (model.py) counts a therapist's newcomers as if none finished within the solve's
dates (the cautious ledger does the same, ledger.py): the newcomers on the last day of a class
are then those who start in it or an earlier one, so rule 7 on every date is one constraint per
class over prefix sums, and no variable per client and date is needed. Every Monday after a
caseload change is a cut too, so that a class never ends inside a week it does not close: the
newcomers in a class's last week are then exactly those of the classes up to ``hours_upto``.
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass
from datetime import date, timedelta

from .dates import OPEN_END, Booking, week_of

WEEK = timedelta(days=7)


@dataclass(frozen=True)
class Timeline:
    """``breaks[k - 1]`` to ``breaks[k]`` (exclusive) is class k; class 0 starts at ``first``
    and the last class has no end. Per class: the caseload places and the weekly minutes the
    kept clients leave (never below zero), the last day of its last week, and the last class
    whose newcomers are in that week."""

    first: date
    breaks: tuple[date, ...]
    caseload_room: tuple[int, ...]
    minutes_room: tuple[int, ...]
    week_end: tuple[date, ...]
    hours_upto: tuple[int, ...]

    def klass(self, day: date) -> int:
        return bisect_right(self.breaks, day)

    @property
    def classes(self) -> int:
        return len(self.breaks) + 1


def timeline(
    first: date,
    individual: list[Booking],
    held: list[Booking],
    max_caseload: int,
    max_weekly_minutes: int,
) -> Timeline:
    """The timeline from ``first`` (the earliest newcomer start) of a therapist whose kept
    individual sessions are ``individual`` and who holds ``held`` (those and their groups'
    sessions), all already clipped to today."""
    caseload_changes = {b.dates.start for b in individual}
    caseload_changes |= {
        b.dates.end + timedelta(days=1) for b in individual if b.dates.end < OPEN_END
    }
    week_changes = {week_of(b.dates.start) for b in held}
    week_changes |= {week_of(b.dates.end) + WEEK for b in held if b.dates.end < OPEN_END - WEEK}
    mondays_after = {week_of(d) + WEEK for d in caseload_changes if d.weekday()}
    breaks = tuple(sorted(d for d in caseload_changes | week_changes | mondays_after if d > first))
    starts = (first, *breaks)
    caseload_room = tuple(
        max(0, max_caseload - sum(1 for b in individual if b.dates.contains(day))) for day in starts
    )
    minutes_room = tuple(
        max(0, max_weekly_minutes - sum(b.weekly_minutes for b in held if _in_week(b, day)))
        for day in starts
    )
    ends = [*(b - timedelta(days=1) for b in breaks), OPEN_END]
    week_end = tuple(
        OPEN_END if end == OPEN_END else week_of(end) + timedelta(days=6) for end in ends
    )
    hours_upto = tuple(bisect_right(breaks, end) for end in week_end)
    return Timeline(first, breaks, caseload_room, minutes_room, week_end, hours_upto)


def _in_week(booking: Booking, day: date) -> bool:
    return booking.dates.in_weeks().contains(week_of(day))
