"""What a region has already committed, over dates: seats, facilitators, therapists' sessions.

The ledger applies the hard rules that couple several clients (capacity, one facilitator per
group, therapist overlap / travel / caseload / hours) one placement at a time, counted per date
(rules 4 and 7: a client holds a seat, a caseload place and their weekly sessions from
``start_date`` to ``end_date``; a facilitator holds a group's sessions from its first client's
start to its last client's end; hours count per calendar week). Dates before ``floor`` (today)
are history and count for nothing. It decides which existing schedules can be kept, drives the
first-fit clerk, rounds the LP relaxation and tops up a solver solution.

It reads the facts in one of two ways. Exactly (the checkers' reading) while the existing
schedules are admitted, so that none the rules allow is displaced. Then ``cautious()`` gives the
ledger newcomers are placed on, which reads them as the model (model.py) does, so that whatever
the clerk or the rounding place is also a solution of the model (its hints stay feasible, and the
solver is never worse than the clerk):
  - a newcomer's individual session and caseload place run from its start with no end (the model
    counts a therapist's newcomers as if none finished within the solve's dates, so that it needs
    no variable per client and date);
  - a group's facilitation runs with no end, from the earliest date any of its clients, kept or
    new, may start (``span_from``; the model books a facilitator for a group whatever its
    clients' dates, so a newcomer who starts before the kept clients never grows the span).
Both only ever refuse more than the rules do. Group seats are counted exactly in both, the
seats granted make-ups hold on their dates included (``book_makeup``).
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import date

from .dates import OPEN_END, Booking, DateRange, peak, weekly_peak
from .domain import Group, Slot, Therapist
from .rules import bookings_clash, travel_site

ALWAYS = DateRange(date.min, OPEN_END)


def group_bookings(group: Group, dates: DateRange) -> list[Booking]:
    """The sessions a facilitator holds for ``group`` over ``dates``."""
    site = travel_site(group.site_id, group.delivery)
    return [Booking(s, site, dates) for s in group.sessions]


def slot_booking(slot: Slot, dates: DateRange) -> Booking:
    return Booking(slot.interval, travel_site(slot.site_id, slot.delivery), dates)


def any_clash(new: Iterable[Booking], booked: Iterable[Booking], travel_minutes: int) -> bool:
    held = list(booked)
    return any(bookings_clash(a, b, travel_minutes) for a in new for b in held)


def self_clash(new: list[Booking], travel_minutes: int) -> bool:
    """Do any two of ``new`` (held by one therapist) clash with each other?"""
    return any(any_clash([a], new[i + 1 :], travel_minutes) for i, a in enumerate(new))


@dataclass
class Ledger:
    groups: Mapping[str, Group]
    therapists: Mapping[str, Therapist]
    travel_minutes: int
    floor: date | None = None
    open_ended: bool = False
    # Open-ended mode: the earliest date any client may start in each group (see above).
    span_from: dict[str, date] = field(default_factory=dict)
    members: dict[str, list[DateRange]] = field(default_factory=dict)
    facilitator: dict[str, str] = field(default_factory=dict)
    facilitating: dict[str, list[str]] = field(default_factory=dict)
    # Each therapist's individual sessions, one per client, over that client's dates from today.
    sessions: dict[str, list[Booking]] = field(default_factory=dict)

    def copy(self) -> Ledger:
        clone = copy.copy(self)
        clone.members = {g: list(r) for g, r in self.members.items()}
        clone.facilitator = dict(self.facilitator)
        clone.facilitating = {t: list(g) for t, g in self.facilitating.items()}
        clone.sessions = {t: list(b) for t, b in self.sessions.items()}
        return clone

    def cautious(self, span_from: Mapping[str, date]) -> Ledger:
        """A copy that reads newcomers' sessions and every facilitation as open-ended, each
        group's facilitation from ``span_from`` at the latest (module docstring); the entries
        already in it keep their dates."""
        return replace(self.copy(), open_ended=True, span_from=dict(span_from))

    # ----- reading ------------------------------------------------------------------------------

    def live(self, dates: DateRange) -> DateRange | None:
        return dates.clipped(self.floor)

    def span(self, group_id: str) -> DateRange | None:
        """The dates the group's facilitator holds its sessions (None: no client)."""
        ranges = self.members.get(group_id)
        if not ranges:
            return None
        first = min(r.start for r in ranges)
        if not self.open_ended:
            return DateRange(first, max(r.end for r in ranges))
        return DateRange(min(first, self.span_from.get(group_id, first)), OPEN_END)

    def bookings(self, therapist_id: str, skip_group: str | None = None) -> list[Booking]:
        """Every session the therapist holds from today on: individual sessions and the sessions
        of the groups they facilitate (but ``skip_group``) over each group's span."""
        held = list(self.sessions.get(therapist_id, ()))
        for gid in self.facilitating.get(therapist_id, ()):
            if gid == skip_group:
                continue
            span = self.span(gid)
            live = None if span is None else self.live(span)
            if live is not None:
                held += group_bookings(self.groups[gid], live)
        return held

    def individual(self, therapist_id: str) -> list[Booking]:
        """The therapist's individual sessions from today on (one per client)."""
        return list(self.sessions.get(therapist_id, ()))

    def occupancy(self, group_id: str, day: date) -> int:
        return sum(1 for r in self.members.get(group_id, ()) if r.contains(day))

    def seats_left(self, group_id: str, dates: DateRange) -> int:
        """Rule 4: the group's free seats on the fullest of ``dates`` (from today on)."""
        capacity = self.groups[group_id].capacity
        window = self.live(dates)
        if window is None:
            return capacity
        load, _ = peak(((r, 1) for r in self.members.get(group_id, ())), window)
        return capacity - load

    def caseload(self, therapist_id: str, dates: DateRange) -> int:
        """Rule 7: the therapist's most individual clients on one of ``dates``."""
        window = self.live(dates)
        if window is None:
            return 0
        load, _ = peak(((b.dates, 1) for b in self.sessions.get(therapist_id, ())), window)
        return load

    def weekly_minutes(
        self, therapist_id: str, dates: DateRange, extra: Iterable[Booking] = ()
    ) -> int:
        """Rule 7: the therapist's most minutes in one week that ``dates`` meets, ``extra``
        sessions included."""
        window = self.live(dates)
        if window is None:
            return 0
        held = [*self.bookings(therapist_id), *extra]
        load, _ = weekly_peak(((b.dates, b.weekly_minutes) for b in held), window)
        return load

    def session_dates(self, dates: DateRange) -> DateRange:
        """The dates a newcomer's individual session is booked over (module docstring)."""
        return dates.open_ended() if self.open_ended else dates

    def grown_span(self, group_id: str, dates: DateRange) -> DateRange:
        """The group's span once a client with ``dates`` joins it."""
        if self.open_ended:
            first = min(dates.start, self.span_from.get(group_id, dates.start))
            return DateRange(first, OPEN_END).union(self.span(group_id))
        return dates.union(self.span(group_id))

    # ----- the coupled rules --------------------------------------------------------------------

    def holds(
        self, therapist_id: str, new: list[Booking], others: list[Booking], span: DateRange
    ) -> bool:
        """Can the therapist take on ``new`` besides ``others`` (rule 7: no overlap or travel
        clash among them, weekly hours within the maximum over ``span``'s weeks)?"""
        if any_clash(new, others, self.travel_minutes) or self_clash(new, self.travel_minutes):
            return False
        window = self.live(span)
        if window is None:
            return True
        limit = self.therapists[therapist_id].max_weekly_minutes
        load, _ = weekly_peak(((b.dates, b.weekly_minutes) for b in [*others, *new]), window)
        return load <= limit

    def fits(self, group_id: str, facilitator_id: str, slot: Slot, dates: DateRange) -> bool:
        """True when adding one client with this group, facilitator, individual slot and dates
        breaks no coupled rule: capacity on every date, one facilitator per group, and each
        therapist's sessions, caseload and weekly hours on every date and in every week."""
        group = self.groups[group_id]
        if self.seats_left(group_id, dates) <= 0:
            return False
        running = self.facilitator.get(group_id)
        if running is not None and running != facilitator_id:
            return False
        tid = slot.therapist_id
        own = self.session_dates(dates)
        if self.caseload(tid, own) >= self.therapists[tid].max_caseload:
            return False
        individual = [slot_booking(slot, own)]
        old_span = self.span(group_id)
        span = self.grown_span(group_id, dates)
        facilitation = [] if span == old_span else group_bookings(group, span)
        if tid != facilitator_id and not self.holds(tid, individual, self.bookings(tid), own):
            return False
        new = facilitation + (individual if tid == facilitator_id else [])
        if not new:
            return True
        others = self.bookings(facilitator_id, skip_group=group_id)
        if not facilitation:  # the group's span is unchanged: its sessions are among the others
            others += group_bookings(group, span)
        return self.holds(facilitator_id, new, others, own.union(span))

    def add(self, group_id: str, facilitator_id: str, slot: Slot, dates: DateRange) -> None:
        if group_id not in self.facilitator:
            self.facilitator[group_id] = facilitator_id
            self.facilitating.setdefault(facilitator_id, []).append(group_id)
        self.members.setdefault(group_id, []).append(dates)
        live = self.live(self.session_dates(dates))
        if live is not None:  # a programme over before today holds no session any more
            self.sessions.setdefault(slot.therapist_id, []).append(slot_booking(slot, live))

    def book_makeup(self, group_id: str, day: date) -> None:
        """Rule 4: a granted make-up holds one seat of the group on ``day`` (makeup.py). It is
        a seat for one day, counted where the group's clients are (``members``), so that seats,
        occupancy and the days seats free see it; it adds no session to any therapist."""
        self.members.setdefault(group_id, []).append(DateRange(day, day))

    def open_for(self, group_id: str, facilitator_id: str, dates: DateRange | None = None) -> bool:
        """Can ``facilitator_id`` (still) run ``group_id``, holding its sessions over ``dates``
        (by default as this ledger would book them: open-ended from ``span_from``, else
        always), given their bookings and hours?"""
        running = self.facilitator.get(group_id)
        if running is not None:
            return running == facilitator_id
        if dates is None:
            dates = DateRange(self.span_from.get(group_id, date.min), OPEN_END)
        new = group_bookings(self.groups[group_id], dates)
        return self.holds(facilitator_id, new, self.bookings(facilitator_id), dates)
