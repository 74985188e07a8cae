"""What a region has already committed: seats, facilitators, therapists' booked sessions.

The ledger applies the hard rules that couple several clients (capacity, one facilitator per
group, therapist overlap / travel / caseload / hours) one placement at a time. It decides which
existing schedules can be kept, drives the first-fit baseline, and tops up a solver solution.
"""

from __future__ import annotations

import copy
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field

from .domain import Group, Slot, Therapist
from .rules import sessions_conflict
from .weektime import Interval

Booking = tuple[Interval, str | None]  # a therapist's session and its site (None: telehealth)


def group_bookings(group: Group) -> list[Booking]:
    """The sessions a facilitator holds for ``group``."""
    site = None if group.delivery == "telehealth" else group.site_id
    return [(s, site) for s in group.sessions]


def slot_booking(slot: Slot) -> Booking:
    return (slot.interval, slot.site_id if slot.in_person else None)


def bookings_conflict(new: list[Booking], booked: list[Booking], travel_minutes: int) -> bool:
    return any(
        sessions_conflict(a, a_site, b, b_site, travel_minutes)
        for a, a_site in new
        for b, b_site in booked
    )


@dataclass
class Ledger:
    groups: Mapping[str, Group]
    therapists: Mapping[str, Therapist]
    travel_minutes: int
    group_load: Counter[str] = field(default_factory=Counter)
    facilitator: dict[str, str] = field(default_factory=dict)
    booked: dict[str, list[Booking]] = field(default_factory=dict)
    caseload: Counter[str] = field(default_factory=Counter)
    minutes: Counter[str] = field(default_factory=Counter)

    def copy(self) -> Ledger:
        clone = copy.copy(self)
        clone.group_load = Counter(self.group_load)
        clone.facilitator = dict(self.facilitator)
        clone.booked = {t: list(b) for t, b in self.booked.items()}
        clone.caseload = Counter(self.caseload)
        clone.minutes = Counter(self.minutes)
        return clone

    def seats_left(self, group_id: str) -> int:
        return self.groups[group_id].capacity - self.group_load[group_id]

    def therapist_free(self, therapist_id: str, new: list[Booking]) -> bool:
        """No overlap or travel conflict between ``new`` and what the therapist already holds,
        nor among ``new`` itself."""
        booked = self.booked.get(therapist_id, [])
        if bookings_conflict(new, booked, self.travel_minutes):
            return False
        return not any(
            bookings_conflict([a], new[i + 1 :], self.travel_minutes) for i, a in enumerate(new)
        )

    def fits(self, group_id: str, facilitator_id: str, slot: Slot) -> bool:
        """True when adding one client with this group, facilitator and slot breaks no coupled
        rule: capacity, one facilitator per group, and the therapists' sessions, caseload and
        hours (the facilitator's hours count once per group)."""
        group = self.groups[group_id]
        if self.group_load[group_id] >= group.capacity:
            return False
        running = self.facilitator.get(group_id)
        if running is not None and running != facilitator_id:
            return False
        therapist = self.therapists[slot.therapist_id]
        if self.caseload[therapist.therapist_id] >= therapist.max_caseload:
            return False
        extra: dict[str, list[Booking]] = {slot.therapist_id: [slot_booking(slot)]}
        extra_minutes: Counter[str] = Counter({slot.therapist_id: slot.interval.minutes})
        if running is None:
            extra.setdefault(facilitator_id, []).extend(group_bookings(group))
            extra_minutes[facilitator_id] += group.minutes
        for tid, new in extra.items():
            limit = self.therapists[tid].max_weekly_minutes
            if self.minutes[tid] + extra_minutes[tid] > limit:
                return False
            if not self.therapist_free(tid, new):
                return False
        return True

    def add(self, group_id: str, facilitator_id: str, slot: Slot) -> None:
        group = self.groups[group_id]
        if group_id not in self.facilitator:
            self.facilitator[group_id] = facilitator_id
            self.booked.setdefault(facilitator_id, []).extend(group_bookings(group))
            self.minutes[facilitator_id] += group.minutes
        self.group_load[group_id] += 1
        self.booked.setdefault(slot.therapist_id, []).append(slot_booking(slot))
        self.caseload[slot.therapist_id] += 1
        self.minutes[slot.therapist_id] += slot.interval.minutes

    def open_for(self, group_id: str, facilitator_id: str) -> bool:
        """Can ``facilitator_id`` (still) run ``group_id`` given current bookings and hours?"""
        running = self.facilitator.get(group_id)
        if running is not None:
            return running == facilitator_id
        group = self.groups[group_id]
        therapist = self.therapists[facilitator_id]
        if self.minutes[facilitator_id] + group.minutes > therapist.max_weekly_minutes:
            return False
        return self.therapist_free(facilitator_id, group_bookings(group))
