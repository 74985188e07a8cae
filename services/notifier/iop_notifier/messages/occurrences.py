"""A schedule's dated occurrences: the first one that takes place, the cancelled ones, and what a
client notices between two versions of a schedule.

A cancelled entry (`{date, kind}`) cancels every occurrence of that kind on that date: the
group sessions on that weekday, or the individual slot if it falls on it. An entry that matches
no occurrence (a date the client has no session of that kind) cancels nothing the client sees.
"""

from dataclasses import dataclass, field
from datetime import date, timedelta

from iop_contracts.payloads import ClientScheduled

from iop_notifier.domain.schedule_text import first_on_or_after
from iop_notifier.messages.schedule_slots import Slot, slots_of

WEEK = timedelta(days=7)


@dataclass(frozen=True, slots=True, order=True)
class Occurrence:
    """One dated session; ordered by date, then start time."""

    day: date
    start: str  # "HH:MM", local to the schedule's time zone
    slot: Slot = field(compare=False)


def occurrences_on(schedule: ClientScheduled, day: date, kind: str) -> list[Occurrence]:
    """The occurrences of `kind` the schedule holds on `day` (none outside its dates)."""
    if not schedule.start_date <= day <= schedule.end_date:
        return []
    return sorted(
        Occurrence(day, slot.start, slot)
        for slot in slots_of(schedule)
        if slot.kind == kind and slot.day.weekday == day.weekday()
    )


def _cancelled_keys(schedule: ClientScheduled) -> set[tuple[date, str]]:
    return {(entry.date, entry.kind.value) for entry in schedule.cancelled}


def cancelled_occurrences(schedule: ClientScheduled) -> list[Occurrence]:
    """The occurrences the schedule's `cancelled` list takes away, in time order."""
    found = [
        occurrence
        for day, kind in _cancelled_keys(schedule)
        for occurrence in occurrences_on(schedule, day, kind)
    ]
    return sorted(found)


def first_occurrence(schedule: ClientScheduled) -> Occurrence | None:
    """The first occurrence that takes place (None when every one is cancelled)."""
    cancelled = _cancelled_keys(schedule)
    firsts = []
    for slot in slots_of(schedule):
        day = first_on_or_after(schedule.start_date, slot.day)
        while day <= schedule.end_date and (day, slot.kind) in cancelled:
            day += WEEK
        if day <= schedule.end_date:
            firsts.append(Occurrence(day, slot.start, slot))
    return min(firsts, default=None)


def _placement(schedule: ClientScheduled) -> tuple[object, ...]:
    """What the client sees of where a schedule puts them: its weekly times and its start."""
    slots = tuple((s.key, s.kind, s.day, s.start, s.end, s.delivery) for s in slots_of(schedule))
    return (schedule.start_date, slots)


@dataclass(frozen=True, slots=True)
class ScheduleChange:
    """What a client is told about a schedule that replaces `previous` (the one they were told)."""

    times_changed: bool  # other weekly times, places or start: the whole schedule is restated
    end_changed: bool  # same times, another last day (an extension)
    cancelled: list[Occurrence]  # occurrences cancelled since `previous`
    reinstated: list[Occurrence]  # occurrences `previous` cancelled that take place after all

    @property
    def anything(self) -> bool:
        return bool(self.times_changed or self.end_changed or self.cancelled or self.reinstated)


def change_between(previous: ClientScheduled | None, current: ClientScheduled) -> ScheduleChange:
    """New weekly times restate everything (every cancelled occurrence among them); the same
    times tell only the difference: a later or earlier last day, occurrences newly cancelled,
    and occurrences no longer cancelled (a lifted closure)."""
    if previous is None or _placement(previous) != _placement(current):
        return ScheduleChange(True, False, cancelled_occurrences(current), [])
    before, after = _cancelled_keys(previous), _cancelled_keys(current)
    cancelled = sorted(o for d, k in after - before for o in occurrences_on(current, d, k))
    reinstated = sorted(o for d, k in before - after for o in occurrences_on(current, d, k))
    return ScheduleChange(False, previous.end_date != current.end_date, cancelled, reinstated)
