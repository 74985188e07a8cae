"""Rule 11 on dates: which of a region's occurrences closures and absences cancel, and who
covers an absent facilitator. Pure: roster and schedule payloads, today and the substitutions
already decided in; the cancelled occurrences per client and the substitutions out.

Closures and absences never move anyone (rule 10): they cancel dated occurrences.
- A site on one of its `closed_dates` holds nothing: a group occurrence there and an individual
  session it holds (in person or telehealth: a telehealth session names its site too) are
  cancelled with `site_closed`.
- An individual session whose therapist is absent is cancelled (`therapist_absent`), never
  given to someone else (continuity of care).
- A group occurrence whose facilitator is absent gets a substitute for that date who meets
  rule 6 for the group (the solver's `facilitator_credentialed`) and rule 7 on that date: the
  day's sessions inside their availability, at one of their sites or telehealth (the solver's
  `facilitator_can_hold` on that day's sessions), not absent that day, no overlap or too-short
  travel with what they hold that date (the groups they facilitate, the individual sessions of
  clients whose programme runs that date, their other substitutions), and that ISO week's hours
  within `max_weekly_hours`. Among those who qualify: the fewest hours that week, then the
  lowest id. With nobody, the occurrence is cancelled (`no_cover`) for every client of the group.

Substitutions already published stand while the facilitator they replace is still the group's
and still absent that date and the substitute still qualifies; one that no longer qualifies is
replaced by a new decision. A substitution whose absence was lifted is simply not needed: the
regular facilitator runs the occurrence and nothing is retracted (the contract has no event for
it). Occurrences are counted from ``today``: the past is not re-decided.

The qualification predicates are imported from the solver (``solver.rules``) so that the week
template and the dated calendar can never judge a facilitator differently.
"""

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from typing import Any

from iop_contracts import CancellationReason, CancelledKind

from iop_scheduler.solver.domain import Group, Schedule, Therapist
from iop_scheduler.solver.rules import (
    TRAVEL_MINUTES,
    facilitator_can_hold,
    facilitator_credentialed,
    sessions_conflict,
    travel_site,
)
from iop_scheduler.solver.weektime import Interval

Span = tuple[date, date]
Key = tuple[str, date]
"""A group occurrence: the group's id and the date."""


@dataclass(frozen=True)
class Cancellation:
    day: date
    kind: CancelledKind
    reason: CancellationReason

    def as_payload(self) -> dict[str, str]:
        return {"date": self.day.isoformat(), "kind": self.kind.value, "reason": self.reason.value}


@dataclass(frozen=True)
class Substitution:
    """``facilitator_id`` runs group ``group_id``'s occurrence on ``day`` instead of
    ``replaces``, its regular facilitator, who is absent."""

    group_id: str
    region_id: str
    day: date
    facilitator_id: str
    replaces: str

    @property
    def key(self) -> Key:
        return self.group_id, self.day


# ------------------------------------------------------------------ the dated roster


@dataclass(frozen=True)
class DatedRoster:
    """A region's roster as the dated rules need it: the solver's view of groups and therapists,
    plus each site's closed dates and each therapist's absences."""

    groups: Mapping[str, Group]
    therapists: Mapping[str, Therapist]
    closed: Mapping[str, frozenset[date]]
    absences: Mapping[str, tuple[Span, ...]]

    @classmethod
    def parse(cls, roster: Mapping[str, Sequence[Mapping[str, Any]]]) -> "DatedRoster":
        """From ``RosterTable.region_roster``'s payloads (dates as ISO strings)."""
        return cls(
            groups={str(g["group_id"]): Group.parse(g) for g in roster.get("groups", ())},
            therapists={
                str(t["therapist_id"]): Therapist.parse(t) for t in roster.get("therapists", ())
            },
            closed={
                str(s["site_id"]): frozenset(_dates(s.get("closed_dates")))
                for s in roster.get("sites", ())
            },
            absences={
                str(t["therapist_id"]): tuple(_spans(t.get("absences")))
                for t in roster.get("therapists", ())
            },
        )


def _dates(values: Iterable[Any] | None) -> Iterator[date]:
    for value in values or ():
        yield value if isinstance(value, date) else date.fromisoformat(str(value))


def _spans(values: Iterable[Mapping[str, Any]] | None) -> Iterator[Span]:
    for value in values or ():
        first, last = _dates((value["start_date"], value["end_date"]))
        yield first, last


def site_closed(roster: DatedRoster, site_id: str, day: date) -> bool:
    """Rule 11: the site holds no session on one of its closed dates."""
    return day in roster.closed.get(site_id, frozenset())


def therapist_absent(roster: DatedRoster, therapist_id: str, day: date) -> bool:
    """Rule 11: a therapist holds no session during one of their absences."""
    return any(first <= day <= last for first, last in roster.absences.get(therapist_id, ()))


# ------------------------------------------------------------ a client's occurrences


@dataclass(frozen=True)
class Occurrence:
    day: date
    kind: CancelledKind


def _days(first: date, last: date) -> Iterator[date]:
    for offset in range((last - first).days + 1):
        yield first + timedelta(days=offset)


def occurrences(schedule: Schedule, today: date) -> list[Occurrence]:
    """Every group meeting and weekly individual session of the schedule from
    max(start_date, today) to end_date, in date order (group before individual on a day)."""
    group_days = {session.day for session in schedule.sessions}
    individual_day = schedule.individual.interval.day
    found = []
    for day in _days(max(schedule.start_date, today), schedule.end_date):
        if day.weekday() in group_days:
            found.append(Occurrence(day, CancelledKind.GROUP))
        if day.weekday() == individual_day:
            found.append(Occurrence(day, CancelledKind.INDIVIDUAL))
    return found


def group_cancellation(
    roster: DatedRoster, schedule: Schedule, day: date, covered: Mapping[Key, Substitution]
) -> CancellationReason | None:
    """Why the client's group does not meet on ``day``, or None when it meets: a closed site,
    or an absent facilitator nobody covers."""
    if site_closed(roster, schedule.group_site_id, day):
        return CancellationReason.SITE_CLOSED
    facilitator = schedule.facilitator_id
    if facilitator is None or not therapist_absent(roster, facilitator, day):
        return None
    cover = covered.get((schedule.group_id, day))
    if cover is not None and cover.replaces == facilitator:
        return None
    return CancellationReason.NO_COVER


def individual_cancellation(
    roster: DatedRoster, schedule: Schedule, day: date
) -> CancellationReason | None:
    """Why the client's individual session is not held on ``day``, or None: a closed site (the
    one holding it, telehealth included) or an absent therapist. Never reassigned."""
    slot = schedule.individual
    if site_closed(roster, slot.site_id, day):
        return CancellationReason.SITE_CLOSED
    if therapist_absent(roster, slot.therapist_id, day):
        return CancellationReason.THERAPIST_ABSENT
    return None


def cancellations(
    roster: DatedRoster, schedule: Schedule, today: date, covered: Mapping[Key, Substitution]
) -> list[Cancellation]:
    """The client's occurrences from today that will not take place, and why."""
    cancelled = []
    for occurrence in occurrences(schedule, today):
        if occurrence.kind is CancelledKind.GROUP:
            reason = group_cancellation(roster, schedule, occurrence.day, covered)
        else:
            reason = individual_cancellation(roster, schedule, occurrence.day)
        if reason is not None:
            cancelled.append(Cancellation(occurrence.day, occurrence.kind, reason))
    return cancelled


# ------------------------------------------------------------------- who holds what


@dataclass(frozen=True)
class Weekly:
    """A weekly session a therapist holds on the dates of ``spans``, at ``site_id`` (which a
    closure cancels); ``travel_site`` is None for telehealth (no travel)."""

    interval: Interval
    site_id: str
    travel_site: str | None
    spans: tuple[Span, ...]

    def runs_on(self, day: date) -> bool:
        return day.weekday() == self.interval.day and any(a <= day <= b for a, b in self.spans)


@dataclass(frozen=True)
class GroupRun:
    """A group as its clients' schedules have it: facilitator, sessions, site, and the clients'
    date spans (the group meets on a date some client's programme covers)."""

    group_id: str
    facilitator_id: str
    site_id: str
    delivery: str
    sessions: tuple[Interval, ...]
    spans: tuple[Span, ...]

    def meets_on(self, day: date) -> bool:
        return any(s.day == day.weekday() for s in self.sessions) and any(
            a <= day <= b for a, b in self.spans
        )

    @property
    def travel_site(self) -> str | None:
        return travel_site(self.site_id, self.delivery)

    def sessions_on(self, day: date) -> tuple[Interval, ...]:
        return tuple(s for s in self.sessions if s.day == day.weekday())


def group_runs(schedules: Iterable[Schedule]) -> dict[str, GroupRun]:
    """One run per group with a facilitator (rule 8: one for all its clients; the first
    client's by id decides should schedules disagree)."""
    runs: dict[str, GroupRun] = {}
    for schedule in sorted(schedules, key=lambda s: s.client_id):
        if schedule.facilitator_id is None:
            continue
        span = (schedule.start_date, schedule.end_date)
        run = runs.get(schedule.group_id)
        if run is None:
            runs[schedule.group_id] = GroupRun(
                schedule.group_id,
                schedule.facilitator_id,
                schedule.group_site_id,
                schedule.group_delivery,
                schedule.sessions,
                (span,),
            )
        else:
            runs[schedule.group_id] = replace(run, spans=(*run.spans, span))
    return runs


def workloads(
    schedules: Iterable[Schedule], runs: Mapping[str, GroupRun]
) -> dict[str, list[Weekly]]:
    """Per therapist, the weekly sessions they hold: the groups they facilitate and their
    clients' individual sessions, each over its dates."""
    load: dict[str, list[Weekly]] = {}
    for run in runs.values():
        for session in run.sessions:
            weekly = Weekly(session, run.site_id, run.travel_site, run.spans)
            load.setdefault(run.facilitator_id, []).append(weekly)
    for schedule in schedules:
        slot = schedule.individual
        span = (schedule.start_date, schedule.end_date)
        weekly = Weekly(
            slot.interval, slot.site_id, travel_site(slot.site_id, slot.delivery), (span,)
        )
        load.setdefault(slot.therapist_id, []).append(weekly)
    return load


Booked = tuple[Interval, str | None]
"""A session held on a date: its time and, in person, its site (None: telehealth)."""


@dataclass
class Rota:
    """What each therapist holds on each date: their weekly sessions, and the substitutions
    decided so far."""

    roster: DatedRoster
    runs: Mapping[str, GroupRun]
    weekly: Mapping[str, list[Weekly]]
    substitutions: dict[Key, Substitution] = field(default_factory=dict)

    def held_on(self, therapist_id: str, day: date) -> list[Booked]:
        """The sessions ``therapist_id`` holds on ``day``: none while absent, none at a closed
        site."""
        if therapist_absent(self.roster, therapist_id, day):
            return []
        held = [
            (w.interval, w.travel_site)
            for w in self.weekly.get(therapist_id, ())
            if w.runs_on(day) and not site_closed(self.roster, w.site_id, day)
        ]
        for sub in self.substitutions.values():
            if sub.facilitator_id == therapist_id and sub.day == day:
                run = self.runs[sub.group_id]
                held += [(s, run.travel_site) for s in run.sessions_on(day)]
        return held

    def week_minutes(self, therapist_id: str, day: date) -> int:
        """Minutes ``therapist_id`` holds in the ISO week (Monday to Sunday) of ``day``."""
        monday = day - timedelta(days=day.weekday())
        return sum(
            booked.minutes
            for offset in range(7)
            for booked, _ in self.held_on(therapist_id, monday + timedelta(days=offset))
        )


# --------------------------------------------------------- rule 6 and 7 for a substitute


def substitute_credentialed(therapist: Therapist, group: Group) -> bool:
    """Rule 6: credentials for the track, the modality when it needs training, the group's
    population and language (the solver's predicate)."""
    return facilitator_credentialed(therapist, group)


def substitute_can_hold(therapist: Therapist, group: Group, day: date) -> bool:
    """Rule 7 for the day's sessions: inside the therapist's availability, at one of their
    sites (in person) or with telehealth (the solver's predicate, on that day's sessions)."""
    sessions = tuple(s for s in group.sessions if s.day == day.weekday())
    return bool(sessions) and facilitator_can_hold(therapist, replace(group, sessions=sessions))


def substitute_present(roster: DatedRoster, therapist_id: str, day: date) -> bool:
    """Rules 7 and 11: not absent on that date."""
    return not therapist_absent(roster, therapist_id, day)


def substitute_free(
    held: Sequence[Booked], sessions: Sequence[Booked], travel_minutes: int = TRAVEL_MINUTES
) -> bool:
    """Rule 7 on that date: no overlap with what they already hold, and time to travel between
    in-person sessions at different sites."""
    return not any(
        sessions_conflict(mine, my_site, other, other_site, travel_minutes)
        for mine, my_site in held
        for other, other_site in sessions
    )


def substitute_hours_allow(therapist: Therapist, week_minutes: int, extra_minutes: int) -> bool:
    """Rule 7: facilitated group hours + individual hours <= max_weekly_hours that week."""
    return week_minutes + extra_minutes <= therapist.max_weekly_minutes


def substitute_fits(rota: Rota, therapist: Therapist, run: GroupRun, day: date) -> bool:
    """Every rule a substitute for ``run`` on ``day`` must meet."""
    group = rota.roster.groups.get(run.group_id)
    if group is None or therapist.therapist_id == run.facilitator_id:
        return False
    sessions = [(s, run.travel_site) for s in run.sessions_on(day)]
    minutes = sum(s.minutes for s, _ in sessions)
    return (
        substitute_credentialed(therapist, group)
        and substitute_can_hold(therapist, group, day)
        and substitute_present(rota.roster, therapist.therapist_id, day)
        and substitute_free(rota.held_on(therapist.therapist_id, day), sessions)
        and substitute_hours_allow(
            therapist, rota.week_minutes(therapist.therapist_id, day), minutes
        )
    )


def choose_substitute(rota: Rota, run: GroupRun, day: date) -> Therapist | None:
    """The qualified therapist with the fewest hours that week, then the lowest id; None when
    nobody qualifies."""
    ranked = sorted(
        rota.roster.therapists.values(),
        key=lambda t: (rota.week_minutes(t.therapist_id, day), t.therapist_id),
    )
    return next((t for t in ranked if substitute_fits(rota, t, run, day)), None)


# ----------------------------------------------------------------------- the region


def needing_cover(roster: DatedRoster, runs: Mapping[str, GroupRun], today: date) -> list[Key]:
    """Group occurrences from today whose site is open and whose facilitator is absent."""
    needed = []
    for run in runs.values():
        last = max(b for _, b in run.spans)
        for day in _days(max(today, min(a for a, _ in run.spans)), last):
            if (
                run.meets_on(day)
                and not site_closed(roster, run.site_id, day)
                and therapist_absent(roster, run.facilitator_id, day)
            ):
                needed.append((run.group_id, day))
    return sorted(needed, key=lambda key: (key[1], key[0]))


@dataclass(frozen=True)
class Plan:
    """The region's dated calendar: cancelled occurrences per client (from today), the
    substitutions that stand, and those among them decided just now (to publish)."""

    cancelled: Mapping[str, tuple[Cancellation, ...]]
    standing: Mapping[Key, Substitution]
    new: tuple[Substitution, ...]

    def stamp(self, result: Mapping[str, Any]) -> dict[str, Any]:
        """A solver result whose every schedule carries its ``cancelled`` list."""
        scheduled = [
            {**s, "cancelled": [c.as_payload() for c in self.cancelled.get(s["client_id"], ())]}
            for s in result.get("scheduled", [])
        ]
        return {**result, "scheduled": scheduled}


def plan_region(
    region_id: str,
    roster: Mapping[str, Sequence[Mapping[str, Any]]],
    schedules: Iterable[Mapping[str, Any]],
    today: date,
    decided: Mapping[Key, Substitution],
) -> Plan:
    """Rule 11 for a region's schedules (payloads of ``client.scheduled``) from ``today``, given
    the substitutions already decided for it."""
    dated = DatedRoster.parse(roster)
    parsed = [Schedule.parse(s) for s in schedules]
    runs = group_runs(parsed)
    rota = Rota(dated, runs, workloads(parsed, runs))
    needed = needing_cover(dated, runs, today)
    keep_standing(rota, needed, decided)
    new = decide_new(rota, needed, region_id)
    cancelled = {
        s.client_id: tuple(cancellations(dated, s, today, rota.substitutions)) for s in parsed
    }
    return Plan(cancelled, dict(rota.substitutions), tuple(new))


def keep_standing(rota: Rota, needed: Iterable[Key], decided: Mapping[Key, Substitution]) -> None:
    """Into the rota, each substitution already decided that is still needed (it replaces the
    group's facilitator) and whose substitute still fits (first come, first kept)."""
    for key in needed:
        old = decided.get(key)
        if old is None or old.replaces != rota.runs[key[0]].facilitator_id:
            continue
        therapist = rota.roster.therapists.get(old.facilitator_id)
        if therapist is not None and substitute_fits(rota, therapist, rota.runs[key[0]], key[1]):
            rota.substitutions[key] = old


def decide_new(rota: Rota, needed: Iterable[Key], region_id: str) -> list[Substitution]:
    """A substitute for each occurrence still uncovered, in date then group order; those
    nobody can cover stay uncovered (no_cover)."""
    new = []
    for group_id, day in needed:
        if (group_id, day) in rota.substitutions:
            continue
        run = rota.runs[group_id]
        chosen = choose_substitute(rota, run, day)
        if chosen is not None:
            sub = Substitution(group_id, region_id, day, chosen.therapist_id, run.facilitator_id)
            rota.substitutions[sub.key] = sub
            new.append(sub)
    return new
