"""Validated solver input: the problem (problem.py), its existing schedules sorted into kept /
displaced, and every compatible option pre-filtered before any CP-SAT variable exists.

Options are filtered hard here (rules 1-3, 5-7 and 9 are static per pair) so that the model
(model.py) stays near-linear in the number of compatible (client, group, start date) and
(client, therapist, slot) options, and only has to add the rules that couple clients.

Start dates (rule 9). A client may start in a group on a day it meets, on or after the latest of
``requested_start``, the group's ``open_from`` and today, and at most the admission horizon after
that date. Of those days only the ones where what the client needs can change matter: the first,
and the first meeting day after each kept client ends who holds a seat of the group or a place
with a therapist who may see the client (a seat, an hour, a caseload place frees); a displaced
client may also keep their old start date. Kept clients are counted on their own dates (rules 4
and 7 are per date), so each individual slot records the start dates from which the kept
sessions, caseload and hours of its therapist leave room for it.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import date, timedelta

from .dates import OPEN_END, Booking, DateRange, peak, weekly_peak
from .domain import (
    PRIORITY_RANK,
    Enrollment,
    Group,
    Schedule,
    Site,
    Slot,
    Therapist,
)
from .errors import InvalidSnapshot
from .ledger import ALWAYS, Ledger, group_bookings, slot_booking
from .problem import Problem
from .rules import (
    TRAVEL_MINUTES,
    bookings_clash,
    earliest_start,
    facilitator_qualifies,
    group_accessible,
    group_fits,
    group_in_client_time,
    group_meets_on,
    group_sessions_in_windows,
    individual_credentialed,
    individual_place_ok,
    overlaps_group,
    weekly_hours_ok,
    within_admission_horizon,
)
from .weektime import MINUTES_PER_DAY, Interval, inside_one

MAX_WAIT_DAYS_PENALISED = 60
TELEHEALTH_SITE_RANK = 4  # worse than any in-person choice (ranks are capped at 3)


@dataclass(frozen=True)
class InstanceSettings:
    individual_minutes: int = 60
    grid_minutes: int = 30
    travel_minutes: int = TRAVEL_MINUTES
    slots_per_pair: int = 3
    therapists_per_client: int = 8
    # Rule 9: a start at most this many days after the earliest date the client may start.
    admission_horizon_days: int = 28
    as_of: date | None = None


@dataclass(frozen=True)
class GroupOption:
    """A group a client may join on one rule-9 start date, with the soft-goal costs."""

    group_id: str
    start_date: date
    end_date: date
    wait_days: int
    site_rank: int
    wish_misses: int
    is_previous: bool

    @property
    def dates(self) -> DateRange:
        return DateRange(self.start_date, self.end_date)

    @property
    def key(self) -> tuple[str, date]:
        return self.group_id, self.start_date


@dataclass
class Instance:
    problem: Problem
    settings: InstanceSettings
    kept: dict[str, Schedule]
    displaced: dict[str, Schedule]
    pending: tuple[str, ...]
    ledger: Ledger  # the kept clients, read cautiously (ledger.py) for newcomers
    group_options: dict[str, tuple[GroupOption, ...]]
    facilitators: dict[str, tuple[str, ...]]
    individual_therapists: dict[str, tuple[str, ...]]
    slot_options: dict[str, tuple[Slot, ...]] = field(default_factory=dict)
    # (group, therapist) pairs where choosing the therapist would leave another group, not yet
    # running, without any facilitator (see ``critical_facilitators``).
    critical: frozenset[tuple[str, str]] = frozenset()
    # The start dates from which a slot option leaves room in its therapist's kept sessions,
    # caseload and hours; a slot absent here suits every start date of its client.
    slot_starts: dict[tuple[str, Slot], frozenset[date]] = field(default_factory=dict)

    @property
    def enrollments(self) -> Mapping[str, Enrollment]:
        return self.problem.enrollments

    def client_weight(self, client_id: str) -> int:
        """Priority weight; a client displaced by a roster change outranks every new client so
        that new enrollments never take the place of someone already in care."""
        weight = self.enrollments[client_id].weight
        return weight + 3 if client_id in self.displaced else weight

    def all_slots(self, client_id: str, therapist_id: str) -> Iterator[Slot]:
        """Every individual slot of the pair, chronologically, best place first at each time."""
        return candidate_slots(
            self.enrollments[client_id],
            self.problem.therapists[therapist_id],
            self.problem.sites,
            self.settings,
        )

    def start_dates(self, client_id: str) -> tuple[date, ...]:
        """Every start date among the client's group options, in order."""
        return tuple(sorted({o.start_date for o in self.group_options.get(client_id, ())}))

    def end_date(self, client_id: str, start: date) -> date:
        return end_date_for(self.enrollments[client_id], start)

    def starts_for_slot(self, client_id: str, slot: Slot) -> frozenset[date]:
        starts = self.slot_starts.get((client_id, slot))
        return frozenset(self.start_dates(client_id)) if starts is None else starts

    def add_slot_option(self, client_id: str, slot: Slot) -> None:
        """Make ``slot`` an option of the client (e.g. the clerk's choice), with its start dates."""
        options = self.slot_options.get(client_id, ())
        if slot in options:
            return
        starts = free_starts(self, client_id, slot.therapist_id, [slot])[slot]
        self.slot_options[client_id] = (*options, slot)
        if starts != frozenset(self.start_dates(client_id)):
            self.slot_starts[client_id, slot] = starts


def priority_order(enrollments: Mapping[str, Enrollment], ids: list[str]) -> tuple[str, ...]:
    return tuple(
        sorted(
            ids,
            key=lambda c: (
                PRIORITY_RANK.get(enrollments[c].priority, 2),
                enrollments[c].requested_start,
                c,
            ),
        )
    )


def site_rank(client: Enrollment, group: Group) -> int:
    """Soft goal 3: first-choice site 0, later choices 1..3, telehealth after every site."""
    if group.delivery == "telehealth":
        return TELEHEALTH_SITE_RANK
    return min(client.preferred_site_ids.index(group.site_id), TELEHEALTH_SITE_RANK - 1)


def wish_misses(client: Enrollment, group: Group) -> int:
    """Soft goal 4: a wanted gender-specific group, an indicated modality."""
    misses = 0
    if client.gender_specific_group and group.gender == "any":
        misses += 1
    if client.indicated_modalities and group.modality not in client.indicated_modalities:
        misses += 1
    return misses


def meeting_on_or_after(
    group: Group, earliest: date, closed: frozenset[date] = frozenset()
) -> date:
    """The first date on or after ``earliest`` when the group meets and its site is open (rule 9:
    a start falls on a meeting that is not cancelled; each closed date can skip one meeting)."""
    for offset in range(7 * (len(closed) + 1)):
        day = earliest + timedelta(days=offset)
        if group_meets_on(group, day, closed):
            return day
    raise InvalidSnapshot(f"group {group.group_id} never meets")


def start_date_for(
    client: Enrollment,
    group: Group,
    as_of: date | None,
    previous: Schedule | None,
    closed: frozenset[date] = frozenset(),
) -> date:
    """Rule 9: on or after ``requested_start`` and ``open_from``, on a day the group meets.
    A displaced client keeps their old start date when the new group allows it, so their
    programme does not restart; anyone else starts no earlier than ``as_of``."""
    if (
        previous is not None
        and previous.start_date >= earliest_start(client, group)
        and group_meets_on(group, previous.start_date)
    ):
        return previous.start_date
    return meeting_on_or_after(group, earliest_start(client, group, as_of), closed)


def start_dates_for(
    client: Enrollment,
    group: Group,
    cfg: InstanceSettings,
    previous: Schedule | None,
    freed: Iterable[date],
    closed: frozenset[date] = frozenset(),
) -> tuple[date, ...]:
    """Rule 9's start dates that matter (module docstring): the first, a displaced client's old
    one, and the first meeting day after each day in ``freed`` (kept clients' end dates), all
    within the admission horizon."""
    first = start_date_for(client, group, cfg.as_of, None, closed)
    earliest = earliest_start(client, group, cfg.as_of)

    def in_horizon(day: date) -> bool:
        return within_admission_horizon(day, earliest, cfg.admission_horizon_days)

    starts = {first, start_date_for(client, group, cfg.as_of, previous, closed)}
    after = {day + timedelta(days=1) for day in freed if day >= first}
    starts |= {meeting_on_or_after(group, day, closed) for day in after if in_horizon(day)}
    return tuple(sorted(s for s in starts if in_horizon(s)))


def end_date_for(client: Enrollment, start: date) -> date:
    """Rule 9: ``end_date`` = ``start_date`` + ``program_weeks`` weeks - 1 day."""
    return start + timedelta(weeks=client.program_weeks, days=-1)


def group_static_ok(
    client: Enrollment, group: Group, sites: Mapping[str, Site], individual_minutes: int
) -> bool:
    """Rules 1, 2, 3 and 5 between one client and one group."""
    return (
        group_fits(client, group)
        and group_accessible(client, group, sites)
        and group_sessions_in_windows(group, sites)
        and group_in_client_time(client, group)
        and weekly_hours_ok(client, group, individual_minutes)
    )


def candidate_slots(
    client: Enrollment, therapist: Therapist, sites: Mapping[str, Site], cfg: InstanceSettings
) -> Iterator[Slot]:
    """Rules 3 and 7 for an individual session: a ``cfg.individual_minutes`` block on the
    ``cfg.grid_minutes`` grid inside one interval of the client's availability, one of the
    therapist's, and one window of the site that holds it. In person: a site both in the
    client's preferred sites and the therapist's sites. Telehealth: both accept it, and it is
    attributed to a site of the client's region whose window contains it."""
    duration, grid = cfg.individual_minutes, cfg.grid_minutes
    in_person_sites = [
        sites[s]
        for s in client.preferred_site_ids
        if s in sites and individual_place_ok(client, therapist, sites[s], "in_person")
    ]
    tele_sites = sorted(
        (s for s in sites.values() if individual_place_ok(client, therapist, s, "telehealth")),
        key=lambda s: (
            client.preferred_site_ids.index(s.site_id)
            if s.site_id in client.preferred_site_ids
            else len(client.preferred_site_ids),
            s.site_id,
        ),
    )
    if not in_person_sites and not tele_sites:
        return
    seen: set[int] = set()
    for mine in client.availability:
        for theirs in therapist.availability:
            lo, hi = max(mine.start, theirs.start), min(mine.end, theirs.end)
            first = -(-lo // grid) * grid
            for start in range(first, hi - duration + 1, grid):
                if start in seen or start // MINUTES_PER_DAY != (start + duration - 1) // (
                    MINUTES_PER_DAY
                ):
                    continue
                seen.add(start)
                when = Interval(start, start + duration)
                for site in in_person_sites:
                    if inside_one(when, site.windows):
                        yield Slot(therapist.therapist_id, when, "in_person", site.site_id)
                for site in tele_sites:
                    if inside_one(when, site.windows):
                        yield Slot(therapist.therapist_id, when, "telehealth", site.site_id)
                        break


def schedule_still_valid(
    schedule: Schedule, client: Enrollment, problem: Problem, cfg: InstanceSettings
) -> bool:
    """Does an existing schedule, on its own, still meet every hard rule under the current
    roster? (The rules that couple clients are checked when the ledger admits it.)"""
    group = problem.groups.get(schedule.group_id)
    therapist = problem.therapists.get(schedule.individual.therapist_id)
    if group is None or therapist is None or schedule.facilitator_id is None:
        return False
    facilitator = problem.therapists.get(schedule.facilitator_id)
    if facilitator is None:
        return False
    if (
        schedule.sessions != group.sessions
        or schedule.group_site_id != group.site_id
        or schedule.group_delivery != group.delivery
    ):
        return False
    if group.facilitator_id is not None and group.facilitator_id != schedule.facilitator_id:
        return False
    slot = schedule.individual
    if not payload_consistent(schedule, client, group, problem, cfg):
        return False
    if not group_static_ok(client, group, problem.sites, slot.interval.minutes):
        return False
    if not facilitator_qualifies(facilitator, group):
        return False
    if not individual_credentialed(therapist, client):
        return False
    if not individual_slot_allowed(client, therapist, problem.sites, slot):
        return False
    if overlaps_group(slot.interval, group):
        return False
    return (
        schedule.start_date >= earliest_start(client, group)
        and group_meets_on(group, schedule.start_date)
        and schedule.end_date == end_date_for(client, schedule.start_date)
        and therapist.max_caseload >= 1
    )


def payload_consistent(
    schedule: Schedule, client: Enrollment, group: Group, problem: Problem, cfg: InstanceSettings
) -> bool:
    """What the checker asks of every emitted schedule beyond the rules: the individual session
    lasts the configured ``individual_minutes``; ``region_id`` is the enrollment's; ``timezone``
    is the group's site's; ``weekly_hours`` is group + individual hours. An existing schedule
    that fails one (made under other settings, or a site that changed time zone) is redone."""
    site = problem.sites.get(group.site_id)
    hours = schedule.weekly_hours
    return (
        schedule.individual.interval.minutes == cfg.individual_minutes
        and schedule.region_id == client.region_id
        and site is not None
        and schedule.timezone == site.timezone
        and hours is not None
        and abs(hours - (group.minutes + cfg.individual_minutes) / 60) <= 1e-6
    )


def individual_slot_allowed(
    client: Enrollment, therapist: Therapist, sites: Mapping[str, Site], slot: Slot
) -> bool:
    """Rules 3 and 7 for one given individual slot, grid-free: used to re-check an existing
    schedule that may have been made under other settings (its length is checked apart, by
    ``payload_consistent``)."""
    when = slot.interval
    if not (inside_one(when, client.availability) and inside_one(when, therapist.availability)):
        return False
    site = sites.get(slot.site_id)
    return (
        site is not None
        and inside_one(when, site.windows)
        and individual_place_ok(client, therapist, site, slot.delivery)
    )


def admit_existing(
    problem: Problem, cfg: InstanceSettings
) -> tuple[dict[str, Schedule], dict[str, Schedule], Ledger]:
    """Sort existing schedules into kept and displaced. A schedule valid on its own is kept if
    the ones kept before it leave room on its dates (capacity, facilitator, therapist
    time/caseload/hours), read exactly as the checkers read them; the order (start date,
    client id) keeps the longest-standing clients first. Granted make-ups then take their
    seats (makeup.py)."""
    ledger = Ledger(problem.groups, problem.therapists, cfg.travel_minutes, floor=cfg.as_of)
    kept: dict[str, Schedule] = {}
    displaced: dict[str, Schedule] = {}
    ordered = sorted(
        (s for s in problem.schedules.values() if s.client_id in problem.enrollments),
        key=lambda s: (s.start_date, s.client_id),
    )
    for schedule in ordered:
        client = problem.enrollments[schedule.client_id]
        dates = DateRange(schedule.start_date, schedule.end_date)
        if schedule_still_valid(schedule, client, problem, cfg) and ledger.fits(
            schedule.group_id, str(schedule.facilitator_id), schedule.individual, dates
        ):
            ledger.add(schedule.group_id, str(schedule.facilitator_id), schedule.individual, dates)
            kept[schedule.client_id] = schedule
        else:
            displaced[schedule.client_id] = schedule
    for makeup in problem.makeups:  # after the schedules: a make-up never displaces anyone
        if makeup.group_id in problem.groups:
            ledger.book_makeup(makeup.group_id, makeup.day)
    return kept, displaced, ledger


def _facilitator_options(
    problem: Problem, ledger: Ledger, group_floor: Mapping[str, date]
) -> dict[str, tuple[str, ...]]:
    """Rule 8: a running group keeps its facilitator; a roster-fixed one is the only choice;
    otherwise any therapist meeting rules 6-7 who is free for all its sessions from the
    earliest date any client could start in it (``group_floor``), with no end."""
    options: dict[str, tuple[str, ...]] = {}
    for gid, group in problem.groups.items():
        region = problem.group_region(group)
        running = ledger.facilitator.get(gid)
        if running is not None:
            options[gid] = (running,)
            continue
        if group.facilitator_id is not None:
            pool = [group.facilitator_id] if group.facilitator_id in problem.therapists else []
        else:
            pool = sorted(problem.therapists)
        dates = ALWAYS if gid not in group_floor else DateRange(group_floor[gid], OPEN_END)
        options[gid] = tuple(
            tid
            for tid in pool
            if region in problem.therapist_regions(problem.therapists[tid])
            and facilitator_qualifies(problem.therapists[tid], group)
            and ledger.open_for(gid, tid, dates)
        )
    return options


def weekly_clash(a: Group, b: Group, travel_minutes: int) -> bool:
    """Could one therapist not hold both groups' sessions in one week (rule 7, undated)?"""
    return any(
        bookings_clash(x, y, travel_minutes)
        for x in group_bookings(a, ALWAYS)
        for y in group_bookings(b, ALWAYS)
    )


def critical_facilitators(
    problem: Problem, ledger: Ledger, facilitators: Mapping[str, tuple[str, ...]]
) -> frozenset[tuple[str, str]]:
    """Pairs (g, t) such that t facilitating g would leave some other group g' unstaffable:
    g' is not running yet (no kept clients, no facilitator fixed by the roster or the ledger),
    t is its only facilitator option, and t cannot hold both (their sessions overlap, or clash
    on travel between sites, on some day; or g and g' together exceed t's remaining weekly
    hours). Used by the lowest soft goal (model.critical_facilitator_penalty) so that an early
    batch does not spend the one therapist a later batch's group will need."""
    sole: dict[str, list[str]] = {}
    for gid, options in sorted(facilitators.items()):
        group = problem.groups[gid]
        if (
            len(options) == 1
            and gid not in ledger.facilitator
            and not ledger.members.get(gid)
            and group.facilitator_id is None
            and group.capacity > 0
        ):
            sole.setdefault(options[0], []).append(gid)
    critical: set[tuple[str, str]] = set()
    for tid, needed in sole.items():
        room = problem.therapists[tid].max_weekly_minutes - ledger.weekly_minutes(tid, ALWAYS)
        for gid, options in facilitators.items():
            if tid not in options or gid in ledger.facilitator:
                continue
            group = problem.groups[gid]
            for other_id in needed:
                if other_id == gid:
                    continue
                other = problem.groups[other_id]
                if group.minutes + other.minutes > room or weekly_clash(
                    group, other, ledger.travel_minutes
                ):
                    critical.add((gid, tid))
                    break
    return frozenset(critical)


def _rotation(client_id: str, therapist_id: str) -> int:
    return zlib.crc32(f"{client_id}|{therapist_id}".encode())


def _pick_slots(slots: list[Slot], busy_groups: list[Group], limit: int, salt: int) -> list[Slot]:
    """A bounded, diverse set of slots for one (client, therapist) pair: slots clear of the
    client's compatible groups first, spread over days, rotated per pair so that clients of
    one therapist do not all compete for the same hour."""
    if len(slots) <= limit:
        return slots
    n = len(slots)

    def clash(slot: Slot) -> int:
        return sum(1 for g in busy_groups for s in g.sessions if s.overlaps(slot.interval))

    ranked = sorted(range(n), key=lambda i: (clash(slots[i]), (i - salt) % n))
    chosen: list[int] = []
    days: set[int] = set()
    for i in ranked:
        if slots[i].interval.day not in days:
            chosen.append(i)
            days.add(slots[i].interval.day)
        if len(chosen) == limit:
            break
    for i in ranked:
        if len(chosen) == limit:
            break
        if i not in chosen:
            chosen.append(i)
    return [slots[i] for i in sorted(chosen)]


def _model_therapists(
    client_id: str,
    therapists: tuple[str, ...],
    options: list[GroupOption],
    facilitators: Mapping[str, tuple[str, ...]],
    previous: Schedule | None,
    cfg: InstanceSettings,
) -> list[str]:
    """A bounded set of individual therapists for the model: a displaced client's previous
    therapist, then possible facilitators of the client's groups (continuity of care), then the
    rest in an order rotated per client so that demand spreads over the region's therapists."""
    leads = {t for o in options for t in facilitators.get(o.group_id, ())}
    ordered = sorted(
        therapists,
        key=lambda t: (
            not (previous is not None and previous.individual.therapist_id == t),
            t not in leads,
            _rotation(client_id, t),
        ),
    )
    return ordered[: cfg.therapists_per_client]


def free_starts(
    inst: Instance, client_id: str, therapist_id: str, slots: Iterable[Slot]
) -> dict[Slot, frozenset[date]]:
    """For each slot of the therapist, the client's start dates from which the therapist's kept
    clients leave room for it (rule 7 on every date: no clash with a kept session whose dates
    meet the client's, a caseload place on every date, the hours in every week)."""
    ledger, cfg = inst.ledger, inst.settings
    therapist = inst.problem.therapists[therapist_id]
    ranges = {s: DateRange(s, inst.end_date(client_id, s)) for s in inst.start_dates(client_id)}
    held = ledger.bookings(therapist_id)
    hours = [(b.dates, b.weekly_minutes) for b in held]
    clients = [(b.dates, 1) for b in ledger.individual(therapist_id)]
    room = [
        s
        for s, dates in ranges.items()
        if peak(clients, dates)[0] < therapist.max_caseload
        and weekly_peak(hours, dates)[0] + cfg.individual_minutes <= therapist.max_weekly_minutes
    ]
    by_day: dict[int, list[Booking]] = {}
    for b in held:
        by_day.setdefault(b.interval.day, []).append(b)
    out: dict[Slot, frozenset[date]] = {}
    for slot in slots:
        probe = slot_booking(slot, ALWAYS)
        blockers = [
            b.dates
            for b in by_day.get(slot.interval.day, ())  # clashes are between sessions of a day
            if bookings_clash(probe, b, cfg.travel_minutes)
        ]
        out[slot] = frozenset(s for s in room if not any(d.meets(ranges[s]) for d in blockers))
    return out


def _group_options(
    problem: Problem,
    cfg: InstanceSettings,
    ledger: Ledger,
    client_id: str,
    previous: Schedule | None,
) -> list[GroupOption]:
    """Every (group, start date) the client may take under rules 1-3, 5 and 9. The start dates
    that matter follow the days a kept client frees something the client could use: a seat of
    the group, or a place (an hour, a caseload place) with a therapist who may see them."""
    client = problem.enrollments[client_id]
    therapists = [
        t
        for t in problem.therapists.values()
        if client.region_id in problem.therapist_regions(t) and individual_credentialed(t, client)
    ]
    places = [b.dates.end for t in therapists for b in ledger.sessions.get(t.therapist_id, ())]
    options: list[GroupOption] = []
    for gid in sorted(problem.groups):
        group = problem.groups[gid]
        if not group_static_ok(client, group, problem.sites, cfg.individual_minutes):
            continue
        freed = [r.end for r in ledger.members.get(gid, ())] + places
        closed = problem.no_start(group)
        for start in start_dates_for(client, group, cfg, previous, freed, closed):
            options.append(
                GroupOption(
                    group_id=gid,
                    start_date=start,
                    end_date=end_date_for(client, start),
                    wait_days=max(0, (start - client.requested_start).days),
                    site_rank=site_rank(client, group),
                    wish_misses=wish_misses(client, group),
                    is_previous=previous is not None and previous.group_id == gid,
                )
            )
    return options


def _slot_options(inst: Instance, client_id: str) -> None:
    """A bounded, diverse set of individual slots for the client, with their start dates."""
    problem, cfg = inst.problem, inst.settings
    client = problem.enrollments[client_id]
    options = list(inst.group_options[client_id])
    previous = inst.displaced.get(client_id)
    option_groups = [problem.groups[g] for g in sorted({o.group_id for o in options})]
    every = frozenset(inst.start_dates(client_id))
    chosen: list[Slot] = []
    therapists = inst.individual_therapists[client_id]
    for tid in _model_therapists(client_id, therapists, options, inst.facilitators, previous, cfg):
        starts = free_starts(
            inst,
            client_id,
            tid,
            candidate_slots(client, problem.therapists[tid], problem.sites, cfg),
        )
        free = [slot for slot, when in starts.items() if when]
        # One place per time is enough for the model: the first is the client's best.
        best: dict[int, Slot] = {}
        for slot in free:
            best.setdefault(slot.interval.start, slot)
        picked = _pick_slots(
            list(best.values()), option_groups, cfg.slots_per_pair, _rotation(client_id, tid) % 997
        )
        if previous is not None and previous.individual.therapist_id == tid:
            old = previous.individual
            if old in free and old not in picked:
                picked.append(old)
        for slot in picked:
            if starts[slot] != every:
                inst.slot_starts[client_id, slot] = starts[slot]
        chosen.extend(picked)
    inst.slot_options[client_id] = tuple(chosen)


def build_instance(problem: Problem, settings: InstanceSettings | None = None) -> Instance:
    cfg = settings or InstanceSettings()
    if cfg.as_of is None and problem.as_of is not None:
        cfg = replace(cfg, as_of=problem.as_of)
    kept, displaced, exact = admit_existing(problem, cfg)
    new_ids = [c for c in problem.enrollments if c not in kept and c not in displaced]
    pending = priority_order(problem.enrollments, list(displaced)) + priority_order(
        problem.enrollments, new_ids
    )
    possible = {c: _group_options(problem, cfg, exact, c, displaced.get(c)) for c in pending}
    group_floor: dict[str, date] = {}
    for option in (o for opts in possible.values() for o in opts):
        floor = group_floor.get(option.group_id, option.start_date)
        group_floor[option.group_id] = min(floor, option.start_date)
    ledger = exact.cautious(group_floor)
    facilitators = _facilitator_options(problem, ledger, group_floor)
    inst = Instance(
        problem=problem,
        settings=cfg,
        kept=kept,
        displaced=displaced,
        pending=pending,
        ledger=ledger,
        group_options={
            cid: tuple(
                o
                for o in opts
                if facilitators[o.group_id] and ledger.seats_left(o.group_id, o.dates) > 0
            )
            for cid, opts in possible.items()
        },
        facilitators=facilitators,
        individual_therapists={},
        critical=critical_facilitators(problem, ledger, facilitators),
    )
    for cid in pending:
        client = problem.enrollments[cid]
        ranges = [DateRange(s, inst.end_date(cid, s)) for s in inst.start_dates(cid)]
        inst.individual_therapists[cid] = tuple(
            tid
            for tid in sorted(problem.therapists)
            if client.region_id in problem.therapist_regions(problem.therapists[tid])
            and individual_credentialed(problem.therapists[tid], client)
            and any(
                ledger.caseload(tid, dates) < problem.therapists[tid].max_caseload
                for dates in ranges
            )
        )
        if inst.group_options[cid]:
            _slot_options(inst, cid)
    return inst
