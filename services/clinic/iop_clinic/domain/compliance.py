"""Hours that count (SCHEDULING.md): per client and ISO week, what was scheduled, attended,
cancelled, is still to come, or was never recorded.

Each of the client's dated slots that week (group meetings, the individual session, make-ups;
within the programme's dates) has exactly one outcome:
- cancelled: the occurrence does not take place (a closure, an absence, no cover). It counts
  against the week like an absence; a record made for it anyway is ignored;
- attended: its record says present, late or left_early; the hours attended are the record's
  minutes_attended / 60 (not the slot's length);
- missed: its record says absent or excused;
- remaining: no record yet and dated today or later (today's evening session is still to come);
- unrecorded: no record and dated before today.
So the week's scheduled hours are the sum of attended-slot, missed, cancelled, remaining and
unrecorded hours, always.

The minimum is the level of care's (9 hours adult, 6 adolescent), capped at the hours the week
schedules before cancellations, make-ups not counted: a client's partial first or last week
never asks for more than it holds, and a make-up adds hours without raising the bar.
- met: the hours attended reach the minimum;
- at_risk: the hours attended plus those still to come fall short of it (an unrecorded slot
  counts as lost, which is what staff should look at);
- out_of_reach: even counting every unrecorded slot as attended, the minimum cannot be reached
  (a certainty; what `client.hours_at_risk` announces, see alerts.py).
Hours are kept in whole minutes, so that the sums are exact.
"""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from enum import StrEnum

from iop_contracts import AttendanceKind, Population

from iop_clinic.domain.programme import ClientSlot
from iop_clinic.domain.views import AttendanceView

MINIMUM_MINUTES: dict[Population, int] = {Population.ADULT: 9 * 60, Population.ADOLESCENT: 6 * 60}


class SlotState(StrEnum):
    ATTENDED = "attended"
    MISSED = "missed"
    CANCELLED = "cancelled"
    REMAINING = "remaining"
    UNRECORDED = "unrecorded"


@dataclass(frozen=True, slots=True)
class SlotOutcome:
    slot: ClientSlot
    state: SlotState
    record: AttendanceView | None = None

    @property
    def attended_minutes(self) -> int:
        if self.state is not SlotState.ATTENDED or self.record is None:
            return 0
        return self.record.minutes_attended


def minimum_minutes(population: Population, regular_minutes: int) -> int:
    """The week's minimum: the level of care's, capped at the regular hours the week holds."""
    return min(MINIMUM_MINUTES[population], regular_minutes)


def slot_outcome(slot: ClientSlot, record: AttendanceView | None, today: date) -> SlotOutcome:
    if slot.cancelled is not None:
        return SlotOutcome(slot, SlotState.CANCELLED)
    if record is not None:
        state = SlotState.ATTENDED if record.status.attended else SlotState.MISSED
        return SlotOutcome(slot, state, record)
    return SlotOutcome(slot, SlotState.REMAINING if slot.date >= today else SlotState.UNRECORDED)


@dataclass(frozen=True, slots=True)
class WeekHours:
    week: str
    outcomes: tuple[SlotOutcome, ...]
    minimum_minutes: int

    def minutes_in(self, state: SlotState) -> int:
        """The scheduled minutes of the slots in `state`."""
        return sum(o.slot.minutes for o in self.outcomes if o.state is state)

    def count(self, state: SlotState) -> int:
        return sum(1 for o in self.outcomes if o.state is state)

    @property
    def scheduled_minutes(self) -> int:
        return sum(o.slot.minutes for o in self.outcomes)

    @property
    def attended_minutes(self) -> int:
        return sum(o.attended_minutes for o in self.outcomes)

    @property
    def remaining_minutes(self) -> int:
        return self.minutes_in(SlotState.REMAINING)

    @property
    def unrecorded_minutes(self) -> int:
        return self.minutes_in(SlotState.UNRECORDED)

    @property
    def scheduled_hours(self) -> float:
        return self.scheduled_minutes / 60

    @property
    def attended_hours(self) -> float:
        return self.attended_minutes / 60

    @property
    def attended_occurrence_hours(self) -> float:
        """The scheduled hours of the slots attended (however long the client stayed)."""
        return self.minutes_in(SlotState.ATTENDED) / 60

    @property
    def absent_hours(self) -> float:
        """The scheduled hours of the slots missed (absent or excused)."""
        return self.minutes_in(SlotState.MISSED) / 60

    @property
    def cancelled_hours(self) -> float:
        return self.minutes_in(SlotState.CANCELLED) / 60

    @property
    def remaining_hours(self) -> float:
        return self.remaining_minutes / 60

    @property
    def unrecorded_hours(self) -> float:
        return self.unrecorded_minutes / 60

    @property
    def minimum_hours(self) -> float:
        return self.minimum_minutes / 60

    @property
    def met(self) -> bool:
        return self.attended_minutes >= self.minimum_minutes

    @property
    def at_risk(self) -> bool:
        return self.attended_minutes + self.remaining_minutes < self.minimum_minutes

    @property
    def out_of_reach(self) -> bool:
        reachable = self.attended_minutes + self.remaining_minutes + self.unrecorded_minutes
        return reachable < self.minimum_minutes


RecordKey = tuple[date, AttendanceKind]


def week_hours(
    week: str,
    slots: Iterable[ClientSlot],
    records: Mapping[RecordKey, AttendanceView],
    today: date,
    minimum: int,
) -> WeekHours:
    """The week's outcomes, one per slot, against the records that stand."""
    outcomes = tuple(slot_outcome(s, records.get((s.date, s.kind)), today) for s in slots)
    return WeekHours(week, outcomes, minimum)
