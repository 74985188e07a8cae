"""When the reminder of a client's first session goes.

- What: one message (email; SMS with consent) naming the first session that takes place: the
  first occurrence on or after `start_date` that is not cancelled. If the start is cancelled
  (a closure, an absence), it is about the next occurrence that takes place, and goes the day
  before that one.
- When: from `reminder_at` (NOTIFIER_REMINDER_AT, 09:00 by default) local time, in the
  schedule's time zone, on the day before that session, until the session starts. The worker
  checks on every tick, so it goes at the first tick after that time; SMS also waits for the
  end of quiet hours and for room under the daily and weekly caps, like every SMS, and is
  dropped (suppressed, reason `expired`) if that would take it past the session's start.
- Once: per client and schedule start (`start_date`). A reschedule that keeps the start moves
  the reminder to its new first session while it has not gone; a reschedule to another start
  gets a reminder of its own.
- Not at all: when the client is first told of that start already inside the window (the
  confirmation names the first visit), when the schedule is withdrawn, or when the notifier
  only gets to it after the session began.
"""

from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from iop_contracts.payloads import ClientScheduled

from iop_notifier.domain.sms_policy import parse_hhmm
from iop_notifier.messages.occurrences import Occurrence, first_occurrence

DEFAULT_REMINDER_AT = time(9, 0)


@dataclass(frozen=True, slots=True)
class ReminderTiming:
    session: Occurrence  # the first session that takes place
    due_at: datetime  # UTC: reminder_at local time, the day before
    session_at: datetime  # UTC: the session's start

    def open_at(self, now: datetime) -> bool:
        return self.due_at <= now < self.session_at


def reminder_timing(schedule: ClientScheduled, reminder_at: time) -> ReminderTiming | None:
    """None when no session of the schedule takes place (every one is cancelled)."""
    session = first_occurrence(schedule)
    if session is None:
        return None
    zone = ZoneInfo(schedule.timezone)
    due = datetime.combine(session.day - timedelta(days=1), reminder_at, tzinfo=zone)
    start = datetime.combine(session.day, parse_hhmm(session.start), tzinfo=zone)
    return ReminderTiming(session, due.astimezone(UTC), start.astimezone(UTC))
