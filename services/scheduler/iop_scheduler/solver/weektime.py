"""Times of the week as integer minutes, so that overlap and containment are integer comparisons.

A weekly interval is ``[start, end)`` in minutes since Monday 00:00 of the site's local time.
All sites of one region share a time zone (CONTRACT.md), so a region's times compare directly.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from .errors import InvalidSnapshot

DAYS: tuple[str, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
DAY_INDEX: dict[str, int] = {d: i for i, d in enumerate(DAYS)}
MINUTES_PER_DAY = 24 * 60


def parse_clock(value: str) -> int:
    """Minutes since midnight of an ``HH:MM`` string (``24:00`` allowed as the end of a day)."""
    try:
        hours, minutes = value.split(":")
        total = int(hours) * 60 + int(minutes)
    except (AttributeError, ValueError) as exc:
        raise InvalidSnapshot(f"bad time of day {value!r}") from exc
    if not 0 <= total <= MINUTES_PER_DAY or not 0 <= int(minutes) < 60:
        raise InvalidSnapshot(f"bad time of day {value!r}")
    return total


def format_clock(minute_of_day: int) -> str:
    return f"{minute_of_day // 60:02d}:{minute_of_day % 60:02d}"


@dataclass(frozen=True, order=True)
class Interval:
    """``[start, end)`` in minutes of the week."""

    start: int
    end: int

    @property
    def day(self) -> int:
        return self.start // MINUTES_PER_DAY

    @property
    def day_name(self) -> str:
        return DAYS[self.day]

    @property
    def minutes(self) -> int:
        return self.end - self.start

    def overlaps(self, other: Interval) -> bool:
        return self.start < other.end and other.start < self.end

    def contains(self, other: Interval) -> bool:
        return self.start <= other.start and other.end <= self.end

    def gap_to(self, other: Interval) -> int:
        """Minutes between two disjoint intervals (negative when they overlap)."""
        return max(self.start, other.start) - min(self.end, other.end)

    def as_payload(self) -> dict[str, str]:
        base = self.day * MINUTES_PER_DAY
        return {
            "day": self.day_name,
            "start": format_clock(self.start - base),
            "end": format_clock(self.end - base),
        }


def parse_interval(item: object) -> Interval:
    """An interval from a ``{"day", "start", "end"}`` payload."""
    if not isinstance(item, dict):
        raise InvalidSnapshot("a time block must be an object with day, start and end")
    day = item.get("day")
    if day not in DAY_INDEX:
        raise InvalidSnapshot(f"bad day {day!r}")
    start = parse_clock(item.get("start", ""))
    end = parse_clock(item.get("end", ""))
    if end <= start:
        raise InvalidSnapshot(f"time block on {day} ends before it starts")
    base = DAY_INDEX[day] * MINUTES_PER_DAY
    return Interval(base + start, base + end)


def parse_intervals(items: object) -> tuple[Interval, ...]:
    if items is None:
        return ()
    if not isinstance(items, list):
        raise InvalidSnapshot("time blocks must be a list")
    return tuple(sorted(parse_interval(i) for i in items))


def inside_one(inner: Interval, outers: tuple[Interval, ...]) -> bool:
    """True when ``inner`` lies inside a single one of ``outers``."""
    return any(o.contains(inner) for o in outers)


def first_meeting_on_or_after(earliest: date, meeting_days: frozenset[int]) -> date:
    """The first date on or after ``earliest`` whose weekday is one of ``meeting_days``."""
    for offset in range(7):
        candidate = earliest + timedelta(days=offset)
        if candidate.weekday() in meeting_days:
            return candidate
    raise InvalidSnapshot("a group without sessions has no meeting day")


def parse_date(value: object, what: str) -> date:
    try:
        return date.fromisoformat(str(value))
    except ValueError as exc:
        raise InvalidSnapshot(f"bad date in {what}") from exc
