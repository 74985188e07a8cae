"""The solver's boundary: a typed problem in, a typed result out (ARCHITECTURE.md).

A ``Problem`` is one network (or one independent part of it) as the rules see it: sites, groups,
therapists, enrollments and the schedules that already exist, each a frozen type of domain.py,
and the day the problem is solved on. A ``Result`` answers every enrollment: an ``Assignment``
per placed client (kept as it was, or placed anew) and a ``Waitlisting`` with true reasons per
client left waiting.

What the solver does not know is the event stream around it: schedule versions, the envelope,
the ``cancelled`` occurrences that closures and absences make of a schedule (the service's
domain.calendar, from these assignments). The service maps a result to events; the snapshot
adapter (``iop_scheduler.adapters.snapshot``) maps it to the payload-shaped output the checkers
read.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from functools import cached_property
from typing import Any

from .dates import DateRange
from .domain import Enrollment, Group, Schedule, Site, Slot, Therapist
from .errors import InvalidSnapshot
from .makeup import BookedMakeup, parse_makeups
from .weektime import parse_date


@dataclass(frozen=True)
class Problem:
    """What to schedule. ``schedules`` are the existing schedules (rule 10: kept unless a rule
    breaks them); ``makeups`` the make-ups already granted, a seat each on its date (rules 4 and
    12, makeup.py); ``as_of`` is today (rule 9's floor, and the first date rules 4 and 7 count),
    None for a problem outside time (every date counts)."""

    sites: Mapping[str, Site] = field(default_factory=dict)
    groups: Mapping[str, Group] = field(default_factory=dict)
    therapists: Mapping[str, Therapist] = field(default_factory=dict)
    enrollments: Mapping[str, Enrollment] = field(default_factory=dict)
    schedules: Mapping[str, Schedule] = field(default_factory=dict)
    makeups: tuple[BookedMakeup, ...] = ()
    as_of: date | None = None

    def therapist_regions(self, therapist: Therapist) -> frozenset[str]:
        """Regions a therapist serves: those of their sites; a telehealth-only therapist with no
        site serves every region (which couples those regions into one problem)."""
        regions = frozenset(self.sites[s].region_id for s in therapist.site_ids if s in self.sites)
        if not regions and therapist.telehealth:
            return frozenset(s.region_id for s in self.sites.values())
        return regions

    def no_start(self, group: Group) -> frozenset[date]:
        """Rule 9 with rule 11: the dates nobody new may start in ``group``, its meetings that
        will not take place: its site's closed dates, and the meetings the existing schedules
        show cancelled for want of a substitute."""
        closed = self.sites[group.site_id].closed_dates
        return closed | self._uncovered.get(group.group_id, frozenset())

    @cached_property
    def _uncovered(self) -> dict[str, frozenset[date]]:
        by_group: dict[str, frozenset[date]] = {}
        for schedule in self.schedules.values():
            if schedule.uncovered:
                known = by_group.get(schedule.group_id, frozenset())
                by_group[schedule.group_id] = known | schedule.uncovered
        return by_group

    def group_region(self, group: Group) -> str | None:
        site = self.sites.get(group.site_id)
        return None if site is None else site.region_id

    @classmethod
    def parse(cls, snapshot: Mapping[str, Any]) -> Problem:
        """From payload-shaped lists (``sites``, ``groups``, ``therapists``, ``enrollments``,
        ``schedules``, ``makeups``) and ``as_of``; a later item with the same id replaces an
        earlier one (as in a roster table). Other keys are not the solver's and are not read."""
        as_of = snapshot.get("as_of")
        return cls(
            sites={s.site_id: s for s in map(Site.parse, _items(snapshot, "sites"))},
            groups={g.group_id: g for g in map(Group.parse, _items(snapshot, "groups"))},
            therapists={
                t.therapist_id: t for t in map(Therapist.parse, _items(snapshot, "therapists"))
            },
            enrollments={
                e.client_id: e for e in map(Enrollment.parse, _items(snapshot, "enrollments"))
            },
            schedules={s.client_id: s for s in map(Schedule.parse, _items(snapshot, "schedules"))},
            makeups=parse_makeups(snapshot),
            as_of=None if as_of is None else parse_date(as_of, "as_of"),
        )


def _items(snapshot: Mapping[str, Any], key: str) -> list[Mapping[str, Any]]:
    items = snapshot.get(key) or []
    if not isinstance(items, list) or not all(isinstance(i, Mapping) for i in items):
        raise InvalidSnapshot(f"snapshot {key!r} must be a list of objects")
    return items


@dataclass(frozen=True)
class Assignment:
    """One placed client: their group from ``start_date``, its facilitator, their weekly
    individual session, and the last day of their programme. ``kept``: the client's existing
    schedule, unchanged (rule 10); otherwise placed by this solve (a newcomer, or a client whose
    schedule a rule broke, listed in ``Result.rescheduled``)."""

    client_id: str
    group_id: str
    facilitator_id: str
    individual: Slot
    start_date: date
    end_date: date
    kept: bool = False

    @property
    def dates(self) -> DateRange:
        return DateRange(self.start_date, self.end_date)


@dataclass(frozen=True)
class Waitlisting:
    """A client left waiting: every reason code that is true of them (reasons.py) and a detail
    of counts (never personal data)."""

    client_id: str
    reasons: tuple[str, ...]
    detail: str


@dataclass(frozen=True)
class Result:
    """The answer to a problem: an assignment per placed client (the kept ones first), a
    waitlisting per other enrollment, the clients whose existing schedule was replaced, and the
    search's statistics (status, objective, bound, timings: figures only)."""

    assignments: tuple[Assignment, ...] = ()
    waitlisted: tuple[Waitlisting, ...] = ()
    rescheduled: tuple[str, ...] = ()
    stats: Mapping[str, Any] = field(default_factory=dict)
