"""When an SMS may go out: quiet hours in the client's zone and per-client rate limits.

A message that may not go now is deferred to the first instant it may, never dropped.
"""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo


@dataclass(frozen=True, slots=True)
class SmsPolicy:
    quiet_end: time  # earliest local time of day a message may go (08:00)
    quiet_start: time  # local time of day from which messages wait for the morning (21:00)
    max_per_day: int  # per local calendar day
    max_per_week: int  # per rolling 7 days

    def __post_init__(self) -> None:
        # Quiet hours run overnight; the other way round no message could ever go.
        if self.quiet_start <= self.quiet_end:
            raise ValueError("quiet hours must start later in the day than they end")

    def next_allowed(
        self, now: datetime, zone: str, previous_sends: Iterable[datetime]
    ) -> datetime:
        """The first instant at or after `now` (UTC) when one more SMS to this client may go.

        `previous_sends` are the instants earlier SMS were sent to the client. Each limit pushes
        the candidate later; repeat until it satisfies all of them at once.
        """
        tz = ZoneInfo(zone)
        sends = sorted(s.astimezone(UTC) for s in previous_sends)
        candidate = now.astimezone(UTC)
        for _ in range(16):  # each pass moves forward by at least a day or settles
            moved = self._within_hours(candidate, tz)
            moved = self._daily_room(moved, tz, sends)
            moved = self._weekly_room(moved, sends)
            if moved == candidate:
                return candidate
            candidate = moved
        return candidate

    def _within_hours(self, at: datetime, tz: ZoneInfo) -> datetime:
        local = at.astimezone(tz)
        if local.time() < self.quiet_end:
            return _local(local.date(), self.quiet_end, tz)
        if local.time() >= self.quiet_start:
            return _local(local.date() + timedelta(days=1), self.quiet_end, tz)
        return at

    def _daily_room(self, at: datetime, tz: ZoneInfo, sends: list[datetime]) -> datetime:
        day = at.astimezone(tz).date()
        same_day = [s for s in sends if s.astimezone(tz).date() == day]
        if len(same_day) < self.max_per_day:
            return at
        return _local(day + timedelta(days=1), self.quiet_end, tz)

    def _weekly_room(self, at: datetime, sends: list[datetime]) -> datetime:
        window = [s for s in sends if at - timedelta(days=7) < s <= at]
        if len(window) < self.max_per_week:
            return at
        # The oldest send in the window has to age out of it first.
        return window[-self.max_per_week] + timedelta(days=7)


def _local(day: date, at: time, tz: ZoneInfo) -> datetime:
    """A local wall-clock time as a UTC instant (fold=0: the first of a repeated hour)."""
    return datetime.combine(day, at, tzinfo=tz).astimezone(UTC)


def parse_hhmm(value: str) -> time:
    hours, minutes = value.split(":")
    return time(int(hours), int(minutes))
