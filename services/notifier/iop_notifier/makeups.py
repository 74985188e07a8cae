"""Make-ups: the one extra dated group session a client gets when their week's hours fell short
(client.makeup_scheduled, SCHEDULING.md rule 12).

- What: one email with a one-off calendar invite (a single event, no recurrence, SEQUENCE 0, at
  the session's local times in its time zone) and, with consent, one SMS under quiet hours and
  the caps like every SMS. Both say "an extra appointment" with its date, time and whether it is
  in person or online; never the group, its track or its modality. The notification events say
  `purpose: "makeup"`, with the client's schedule_version when it was planned (0 when the
  notifier knows no schedule of the client's).
- Once: per client and occasion (the make-up's date and group). The calendar UID is derived
  from them, so a message sent again after an ambiguous failure updates the same entry; a
  redelivery or replay of the event, or another event for the same occasion, sends nothing.
- Held: until the client's contact details are read, like a schedule.
- Not at all: when the client's schedule is withdrawn (client.unscheduled) after the make-up was
  read and before it went (superseded, reason "withdrawn"); when its session began before it
  could go (suppressed, reason "expired"); and never for client.makeup_unavailable, which is for
  staff.
"""

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from iop_contracts.payloads import ClientMakeupScheduled

from iop_notifier.domain.sms_policy import parse_hhmm


def occasion_of(makeup: ClientMakeupScheduled) -> str:
    """What makes a make-up the same one: its date and group ("2026-12-10:bos-1-sud-eve-a").
    Kept in the ledger only; the calendar UID and the message id are digests of it."""
    return f"{makeup.date.isoformat()}:{makeup.group_id}"


def local_start(makeup: ClientMakeupScheduled) -> datetime:
    """The session's start, in its time zone."""
    return _at(makeup, makeup.start)


def local_end(makeup: ClientMakeupScheduled) -> datetime:
    return _at(makeup, makeup.end)


def begun(makeup: ClientMakeupScheduled, now: datetime) -> bool:
    """Whether the session has started at `now`: an invite to it would come too late."""
    return now.astimezone(UTC) >= local_start(makeup).astimezone(UTC)


def _at(makeup: ClientMakeupScheduled, hhmm: str) -> datetime:
    return datetime.combine(makeup.date, parse_hhmm(hhmm), tzinfo=ZoneInfo(makeup.timezone))
