"""Building one dated occurrence from the roster and the clients who hold a seat in it.

Pure: the Clinic gathers the seats (clients whose programme puts them in the group that day,
and make-ups booked into it) and the substitution that stands, these functions decide the rest.

- A group occurrence's times come from the roster's sessions that day; a group the roster no
  longer has (or not yet) takes them from its clients' schedules or make-ups.
- Its regular facilitator is the one its clients' schedules name (rule 8: one for all; the
  lowest client id decides should they disagree), else the roster's, else a make-up's.
- A substitution stands when it replaces that regular facilitator (one for a facilitator since
  replaced does not).
- It is cancelled for everyone when its site is closed that day (the roster's closed_dates) or
  when any member's schedule cancels it for `site_closed` or `no_cover`: both are cancellations
  of the whole meeting (CONTRACT.md), so a member whose list lags, and the make-up clients,
  share them.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from iop_contracts import AttendanceKind, CancellationReason, Delivery, TimeWindow

from iop_clinic.domain.programme import ClientSlot
from iop_clinic.domain.views import (
    CancelledClient,
    GroupView,
    Occurrence,
    OccurrenceKind,
    SiteView,
)

WHOLE_MEETING = frozenset({CancellationReason.SITE_CLOSED, CancellationReason.NO_COVER})


@dataclass(frozen=True, slots=True)
class Seat:
    """A client's place in a group occurrence: a member (kind group) or a make-up."""

    client_id: str
    kind: AttendanceKind
    facilitator_id: str | None
    windows: tuple[TimeWindow, ...]
    delivery: Delivery
    site_id: str
    cancelled: CancellationReason | None = None


@dataclass(frozen=True, slots=True)
class Substitute:
    facilitator_id: str
    replaces: str


def regular_facilitator(group: GroupView | None, seats: Sequence[Seat]) -> str | None:
    members = sorted(
        (s for s in seats if s.kind is AttendanceKind.GROUP and s.facilitator_id),
        key=lambda s: s.client_id,
    )
    if members:
        return members[0].facilitator_id
    if group is not None and group.facilitator_id:
        return group.facilitator_id
    return next((s.facilitator_id for s in seats if s.facilitator_id), None)


def whole_cancellation(closed: bool, seats: Sequence[Seat]) -> CancellationReason | None:
    """Why the meeting does not take place for anyone, or None."""
    if closed:
        return CancellationReason.SITE_CLOSED
    reasons = {s.cancelled for s in seats if s.kind is AttendanceKind.GROUP}
    return next((r for r in CancellationReason if r in reasons & WHOLE_MEETING), None)


def meeting_windows(group: GroupView | None, seats: Sequence[Seat], day: date) -> list[TimeWindow]:
    """The sessions held that day: the roster's when it has the group, else the seats'."""
    if group is not None and group.sessions_on(day):
        return list(group.sessions_on(day))
    members = [s for s in seats if s.kind is AttendanceKind.GROUP]
    return list((members or list(seats))[0].windows) if seats else []


def seat_outcomes(
    seats: Sequence[Seat], whole: CancellationReason | None
) -> tuple[list[Seat], list[CancelledClient]]:
    """The seats that are expected, and the clients for whom the meeting is cancelled."""
    present, cancelled = [], []
    for seat in seats:
        reason = whole or seat.cancelled
        if reason is None:
            present.append(seat)
        else:
            cancelled.append(CancelledClient(seat.client_id, reason))
    return present, sorted(cancelled, key=lambda c: c.client_id)


def placed(group: GroupView | None, seats: Sequence[Seat]) -> tuple[str, Delivery]:
    """Where the group meets and how: the roster's word, else its first seat's."""
    if group is not None:
        return group.site_id, group.delivery
    return seats[0].site_id, seats[0].delivery


def group_occurrence(
    group_id: str,
    group: GroupView | None,
    site: SiteView | None,
    day: date,
    seats: Sequence[Seat],
    substitute: Substitute | None,
) -> Occurrence | None:
    """The group's occurrence on `day`: it meets (a live group, open, on a session day) or
    someone holds a seat in it. None otherwise."""
    meets = group is not None and group.meets_on(day)
    windows = meeting_windows(group, seats, day)
    if not (meets or seats) or not windows:
        return None
    regular = regular_facilitator(group, seats)
    sub = substitute.facilitator_id if substitute and substitute.replaces == regular else None
    whole = whole_cancellation(site is not None and site.closed_on(day), seats)
    present, cancelled = seat_outcomes(seats, whole)
    site_id, delivery = placed(group, seats)
    return Occurrence(
        kind=OccurrenceKind.GROUP,
        group_id=group_id,
        site_id=site_id,
        region_id=site.region_id if site else None,
        date=day,
        start=min(w.start for w in windows),
        end=max(w.end for w in windows),
        minutes=sum(w.end_minute - w.start_minute for w in windows),
        delivery=delivery,
        timezone=site.timezone if site else None,
        therapist_id=sub or regular,
        regular_facilitator_id=regular,
        substitute_id=sub,
        capacity=group.capacity if group else None,
        expected=tuple(sorted(s.client_id for s in present)),
        makeups=tuple(sorted(s.client_id for s in present if s.kind is AttendanceKind.MAKEUP)),
        cancelled=tuple(cancelled),
        cancel_reason=whole,
    )


def individual_occurrence(
    client_id: str,
    slot: ClientSlot,
    delivery: Delivery,
    site: SiteView | None,
    region_id: str | None,
) -> Occurrence:
    """One client's individual session as an occurrence (cancelled for them when the slot is)."""
    cancelled = (CancelledClient(client_id, slot.cancelled),) if slot.cancelled else ()
    return Occurrence(
        kind=OccurrenceKind.INDIVIDUAL,
        group_id=None,
        site_id=slot.site_id,
        region_id=site.region_id if site else region_id,
        date=slot.date,
        start=slot.start,
        end=slot.end,
        minutes=slot.minutes,
        delivery=delivery,
        timezone=site.timezone if site else None,
        therapist_id=slot.therapist_id,
        expected=() if slot.cancelled else (client_id,),
        cancelled=cancelled,
        cancel_reason=slot.cancelled,
    )
