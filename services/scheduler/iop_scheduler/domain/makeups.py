"""Rule 12: one make-up session for a scheduled client in a requested ISO week. Pure: a region
snapshot and the request in, a placement or the true reasons out.

A make-up is one dated occurrence (one session of one group on one date) that:
  1. fits the client: a group of their track, population and language, gender `any` or theirs
     (rule 1), never their own group (its occurrences are already theirs);
  2. they can reach: an in-person group at one of their preferred sites, or a telehealth group
     of their region when they accept telehealth (rule 2);
  3. lies inside their availability and a window of the group's site, and overlaps none of
     their own sessions that date: their group's, their individual session, their other
     make-ups (rule 3). Their own sessions count even when cancelled: a closure or absence can
     be lifted, and the occurrence then comes back. Clients have no travel rule (rule 7 is
     the therapists'), so none is applied;
  4. is held: the group runs that date (some client's programme covers it), its site is open,
     and its facilitator is present or covered by a standing substitute (rule 11); the
     make-up's facilitator is whoever runs it that date;
  5. has a free seat that date: the group's clients whose programme covers it plus the
     make-ups granted on it stay below `capacity` (rule 4);
and falls on a date of the week from today on, within the client's `start_date`..`end_date`.

Choice, among the occurrences that meet all five: one at least as long as the `hours` asked
(the shortfall the staff want made up), then the earliest date, then the client's first-choice
site, in person before telehealth (``solver.instance.site_rank``), then group id and start
time. `hours` never refuses a make-up: a shorter occurrence is granted when nothing longer fits
(the payload's times say how long it is). A make-up is not part of the planned week, so rule 5's
weekly hours do not apply to it.

When none meets all five, the waitlist's codes that are true (SCHEDULING.md: "a reason must be
true"), judged over the occurrences of the week's remaining dates:
  no_language_match          groups of the client's track and population exist besides their
                             own, none in their language
  site_not_accessible        some occurrence fits (1), none is reachable (2)
  no_group_in_availability   no occurrence meets 1-4: none of the track meets in the client's
                             availability that week
  groups_full                some occurrence meets 1-4, every such one is full (5)

A request the contract does not cover is not answered but refused (``UnusableEvent``, which the
service dead-letters with the reason): a client who is not scheduled, or a week with no date
left in the client's programme from today.
"""

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from enum import IntEnum
from typing import Any

from iop_contracts import ClientMakeupScheduled, ClientMakeupUnavailable, Payload, week_days

from iop_scheduler.domain.calendar import (
    DatedRoster,
    GroupRun,
    Key,
    Substitution,
    group_runs,
    site_closed,
    therapist_absent,
)
from iop_scheduler.errors import UnusableEvent
from iop_scheduler.solver.domain import Enrollment, Group, Schedule, Site
from iop_scheduler.solver.instance import site_rank
from iop_scheduler.solver.rules import group_accessible, group_fits
from iop_scheduler.solver.weektime import (
    DAYS,
    MINUTES_PER_DAY,
    Interval,
    format_clock,
    inside_one,
    parse_interval,
)


class Stage(IntEnum):
    """The conditions in the order they are judged; an occurrence stops at its first failure."""

    FIT = 1
    ACCESS = 2
    TIME = 3
    HELD = 4
    SEAT = 5
    GRANTED = 6  # met them all


@dataclass(frozen=True)
class MakeupRequest:
    client_id: str
    region_id: str
    week: str
    hours: float


@dataclass(frozen=True)
class Occurrence:
    """One session of one group on one date."""

    group: Group
    day: date
    session: Interval

    @property
    def key(self) -> Key:
        return self.group.group_id, self.day


@dataclass(frozen=True)
class Makeup:
    """A granted make-up: the occurrence, who runs it that date, and the request it answers."""

    request: MakeupRequest
    occurrence: Occurrence
    facilitator_id: str
    timezone: str

    def payload(self) -> dict[str, Any]:
        """The data of `client.makeup_scheduled`."""
        group, session = self.occurrence.group, self.occurrence.session
        base = session.day * MINUTES_PER_DAY
        return {
            "client_id": self.request.client_id,
            "region_id": self.request.region_id,
            "week": self.request.week,
            "date": self.occurrence.day.isoformat(),
            "group_id": group.group_id,
            "site_id": group.site_id,
            "delivery": group.delivery,
            "start": format_clock(session.start - base),
            "end": format_clock(session.end - base),
            "facilitator_id": self.facilitator_id,
            "timezone": self.timezone,
        }


@dataclass(frozen=True)
class MakeupAnswer:
    """A make-up, or the reasons none fits (never both, never neither)."""

    request: MakeupRequest
    makeup: Makeup | None
    reasons: tuple[str, ...] = ()

    def unavailable_payload(self) -> dict[str, Any]:
        """The data of `client.makeup_unavailable`."""
        return {
            "client_id": self.request.client_id,
            "region_id": self.request.region_id,
            "week": self.request.week,
            "reasons": list(self.reasons),
        }


# ------------------------------------------------------------------ the region on dates


@dataclass(frozen=True)
class BookedSession:
    """A make-up already granted: its group, date and time, and whose it is."""

    client_id: str
    group_id: str
    day: date
    session: Interval

    @classmethod
    def parse(cls, item: Mapping[str, Any]) -> "BookedSession":
        day = date.fromisoformat(str(item["date"]))
        block = {"day": DAYS[day.weekday()], "start": item["start"], "end": item["end"]}
        return cls(str(item["client_id"]), str(item["group_id"]), day, parse_interval(block))


@dataclass(frozen=True)
class Cover:
    """A standing substitute: ``facilitator_id`` runs the occurrence instead of ``replaces``."""

    facilitator_id: str
    replaces: str


@dataclass(frozen=True)
class Region:
    """What a make-up is judged against: the dated roster, the region's schedules, the make-ups
    granted, the standing substitutes, and today."""

    sites: Mapping[str, Site]
    roster: DatedRoster
    clients: Mapping[str, Enrollment]
    schedules: Mapping[str, Schedule]
    runs: Mapping[str, GroupRun]
    booked: tuple[BookedSession, ...]
    covers: Mapping[Key, Cover]
    today: date

    @classmethod
    def parse(cls, snapshot: Mapping[str, Any]) -> "Region":
        schedules = {s["client_id"]: Schedule.parse(s) for s in snapshot.get("schedules") or ()}
        enrollments = snapshot.get("enrollments") or ()
        return cls(
            sites={s["site_id"]: Site.parse(s) for s in snapshot.get("sites") or ()},
            roster=DatedRoster.parse(snapshot),
            clients={e["client_id"]: Enrollment.parse(e) for e in enrollments},
            schedules=schedules,
            runs=group_runs(schedules.values()),
            booked=tuple(BookedSession.parse(m) for m in snapshot.get("makeups") or ()),
            covers={
                (str(c["group_id"]), date.fromisoformat(str(c["date"]))): Cover(
                    str(c["facilitator_id"]), str(c["replaces"])
                )
                for c in snapshot.get("substitutions") or ()
            },
            today=date.fromisoformat(str(snapshot["as_of"])),
        )

    def seats_taken(self, occurrence: Occurrence) -> int:
        """Rule 4 on the date: the group's clients whose programme covers it, and make-ups."""
        group_id, day = occurrence.key
        clients = sum(
            1
            for s in self.schedules.values()
            if s.group_id == group_id and s.start_date <= day <= s.end_date
        )
        return clients + sum(1 for b in self.booked if (b.group_id, b.day) == (group_id, day))

    def runner(self, occurrence: Occurrence) -> str | None:
        """Rule 11: who runs the occurrence, or None when it is not held (no client that date,
        the site closed, the facilitator absent with no standing substitute)."""
        group_id, day = occurrence.key
        run = self.runs.get(group_id)
        if run is None or not run.meets_on(day) or site_closed(self.roster, run.site_id, day):
            return None
        regular = run.facilitator_id
        runner: str | None = regular
        if therapist_absent(self.roster, regular, day):
            cover = self.covers.get(occurrence.key)
            runner = cover.facilitator_id if cover and cover.replaces == regular else None
        present = runner is not None and not therapist_absent(self.roster, runner, day)
        return runner if present and runner in self.roster.therapists else None


# ------------------------------------------------------------------ one client's week


def makeup_days(schedule: Schedule, week: str, today: date) -> list[date]:
    """The dates of ``week`` a make-up may fall on: from today, within the programme."""
    monday, sunday = week_days(week)
    first = max(monday, today, schedule.start_date)
    last = min(sunday, schedule.end_date)
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]


def own_sessions(region: Region, schedule: Schedule, day: date) -> list[Interval]:
    """The client's own sessions on ``day``: their group's and individual session (cancelled
    or not, see the module docstring) and the make-ups already granted to them."""
    weekday = day.weekday()
    sessions = [s for s in schedule.sessions if s.day == weekday]
    if schedule.individual.interval.day == weekday:
        sessions.append(schedule.individual.interval)
    sessions += [
        b.session for b in region.booked if b.client_id == schedule.client_id and b.day == day
    ]
    return sessions


def occurrences(region: Region, schedule: Schedule, days: Sequence[date]) -> Iterator[Occurrence]:
    """Every session of every group but the client's own on the given dates."""
    for group_id in sorted(region.roster.groups):
        group = region.roster.groups[group_id]
        if group_id == schedule.group_id:
            continue
        for day in days:
            for session in group.sessions:
                if session.day == day.weekday():
                    yield Occurrence(group, day, session)


def stage_reached(region: Region, client: Enrollment, schedule: Schedule, o: Occurrence) -> Stage:
    """The first of rule 12's conditions (module docstring) the occurrence fails."""
    site = region.sites.get(o.group.site_id)
    if not group_fits(client, o.group):
        return Stage.FIT
    if site is None or not group_accessible(client, o.group, region.sites):
        return Stage.ACCESS
    own = own_sessions(region, schedule, o.day)
    if (
        not inside_one(o.session, client.availability)
        or not inside_one(o.session, site.windows)
        or any(o.session.overlaps(mine) for mine in own)
    ):
        return Stage.TIME
    if region.runner(o) is None:
        return Stage.HELD
    if region.seats_taken(o) >= o.group.capacity:
        return Stage.SEAT
    return Stage.GRANTED


def preference(client: Enrollment, hours: float, o: Occurrence) -> tuple[Any, ...]:
    """Lower is better: long enough for the hours asked, earliest date, first-choice site and in
    person, group id, start time."""
    short = o.session.minutes + 1e-6 < hours * 60
    return short, o.day, site_rank(client, o.group), o.group.group_id, o.session.start


def true_reasons(
    region: Region,
    client: Enrollment,
    schedule: Schedule,
    judged: Iterable[tuple[Stage, Occurrence]],
) -> tuple[str, ...]:
    """The waitlist codes that hold when no occurrence met every condition."""
    stages = {stage for stage, _ in judged}
    reasons = []
    others = [
        g
        for g in region.roster.groups.values()
        if g.group_id != schedule.group_id
        and (g.track, g.population) == (client.track, client.population)
    ]
    if others and not any(g.language == client.language for g in others):
        reasons.append("no_language_match")
    if any(s > Stage.FIT for s in stages) and not any(s > Stage.ACCESS for s in stages):
        reasons.append("site_not_accessible")
    if Stage.SEAT in stages:
        reasons.append("groups_full")
    else:
        reasons.append("no_group_in_availability")
    return tuple(reasons)


def place_makeup(snapshot: Mapping[str, Any], request: MakeupRequest) -> MakeupAnswer:
    """Rule 12 for one request over a region snapshot (module docstring). The snapshot holds
    the region's roster, the enrollments and schedules of its placed clients, ``makeups``
    granted, ``substitutions`` standing and ``as_of`` (today). Raises UnusableEvent for a
    request the contract does not cover."""
    region = Region.parse(snapshot)
    client = region.clients.get(request.client_id)
    schedule = region.schedules.get(request.client_id)
    if client is None or schedule is None:
        raise UnusableEvent("data.client_id: the client is not scheduled in this region")
    days = makeup_days(schedule, request.week, region.today)
    if not days:
        raise UnusableEvent("data.week: no date of it lies in the client's programme from today")
    judged = [
        (stage_reached(region, client, schedule, o), o) for o in occurrences(region, schedule, days)
    ]
    fitting = [o for stage, o in judged if stage is Stage.GRANTED]
    if not fitting:
        return MakeupAnswer(request, None, true_reasons(region, client, schedule, judged))
    best = min(fitting, key=lambda o: preference(client, request.hours, o))
    runner = region.runner(best)
    assert runner is not None  # GRANTED means it is held
    timezone = region.sites[best.group.site_id].timezone
    return MakeupAnswer(request, Makeup(request, best, runner, timezone))


def answer_payload(answer: MakeupAnswer) -> Payload:
    """The contract's event payload for the answer."""
    if answer.makeup is not None:
        return ClientMakeupScheduled.model_validate(answer.makeup.payload())
    return ClientMakeupUnavailable.model_validate(answer.unavailable_payload())


def substitutions_payload(substitutions: Iterable[Substitution]) -> list[dict[str, Any]]:
    """Standing substitutes as the snapshot's ``substitutions`` (facilitator.substituted data)."""
    return [
        {
            "group_id": sub.group_id,
            "region_id": sub.region_id,
            "date": sub.day.isoformat(),
            "facilitator_id": sub.facilitator_id,
            "replaces": sub.replaces,
        }
        for sub in sorted(substitutions, key=lambda sub: (sub.day, sub.group_id))
    ]


def checked_output(snapshot: Mapping[str, Any], answer: MakeupAnswer) -> dict[str, Any]:
    """The answer as the rule checkers read it: the region's schedules unchanged (a make-up
    moves nobody) beside the new make-up or the unavailability."""
    made = [answer.makeup.payload()] if answer.makeup is not None else []
    return {
        "scheduled": list(snapshot.get("schedules") or ()),
        "waitlisted": [],
        "rescheduled": [],
        "makeups": made,
        "makeups_unavailable": [] if made else [answer.unavailable_payload()],
    }


__all__ = [
    "Makeup",
    "MakeupAnswer",
    "MakeupRequest",
    "answer_payload",
    "checked_output",
    "place_makeup",
    "substitutions_payload",
]
