"""Knockout table: no hard rule of the solver can be switched off without a test failing.

One row per hard-rule method of the CP-SAT model (``model.HARD_RULES``) and per static rule
predicate that pre-filters the model's options (``instance.py``: which groups, facilitators and
individual slots exist at all, and each option's start date). Each row is a tiny instance on
which breaking that one rule places more clients (or, for start dates, which the solver does not
choose, gives a wrong date), so that:
  - the real solver's output is clean under ``validate_output`` and the clean-room checker;
  - with the target knocked out (a model method made a no-op, a predicate made always-true or
    reduced to its other half, in the namespace it is looked up in), both checkers report
    exactly the rule the row names, and nothing else.
Two model rules cannot show a breach in an output: a schedule is one group and one individual
session, and names one facilitator, so their knocked-out models are caught while their solution
is read back (``PlacementModel.placements``), which the row checks instead.

The dated rows (rules 4, 7 and 9 counted per date) hold a kept client k1 who started four weeks
before today and ends on Sunday 6 December (``K1_WEEKS``), or beyond the admission horizon; what
k1 holds frees on Monday the 7th. Where the breach is an earlier start rather than one more
client (``places_more=False`` on a model rule), it is CP-SAT's phase 2 preferring the earliest
start (soft goal 2) once the dated rule no longer stops it.

``seats_need_a_facilitator`` restates rule 4 and rule 8's "no seat without a facilitator" for
groups not yet running, which masks a knockout of either there: the rule-4 row uses a running
group, and the rule-8 row knocks the cut out with the rule.

The cut itself (``model.CUTS``) is not a rule: removing it changes no integer solution, so it
has a test of its own (the LP bound it tightens) and no row.
"""

from __future__ import annotations

import importlib
import sys
import traceback
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import date
from types import SimpleNamespace
from typing import Any

import pytest
from iop_scheduler.adapters.snapshot import solve_snapshot
from iop_scheduler.solver import Problem, SolveSettings, validate_output
from iop_scheduler.solver.domain import MAX_WEEKLY_MINUTES_EXCLUSIVE, MIN_WEEKLY_MINUTES
from iop_scheduler.solver.instance import InstanceSettings, build_instance
from iop_scheduler.solver.model import CUTS, HARD_RULES, PlacementModel
from iop_scheduler.solver.relaxation import lp_relaxation
from iop_scheduler.solver.rules import facilitator_can_hold, facilitator_credentialed
from iop_scheduler.solver.weektime import Interval
from ortools.sat.python import cp_model

from tests.independent.checker import check_findings

Snapshot = dict[str, Any]
Builder = Callable[[SimpleNamespace], Snapshot]
# Given the real function, the knocked-out one put in its place.
Knock = Callable[[Callable[..., Any]], Callable[..., Any]]

# Tiny instances: every solve is proven optimal long before these limits.
SETTINGS = SolveSettings(time_limit_s=3.0, workers=2, seed=0)

WEEK = Interval(0, 7 * 24 * 60)


def no_op(_real: Callable[..., Any]) -> Callable[..., Any]:
    """A model method that adds nothing."""
    return lambda _self: None


def always_true(_real: Callable[..., Any]) -> Callable[..., Any]:
    return lambda *_args: True


def always_false(_real: Callable[..., Any]) -> Callable[..., Any]:
    return lambda *_args: False


@dataclass(frozen=True)
class Row:
    """``target``: the dotted path, under ``iop_scheduler.solver``, of what is knocked out.
    ``validate_rule`` / ``clean_rule``: the one rule tag each checker must then report.
    ``knock``: the knocked-out variant (default: a model method made a no-op, a predicate
    made always-true).
    ``also``: model methods knocked out with it (a cut that restates the rule).
    ``places_more``: the breach places more clients (False where the solver does not choose
    what breaks, e.g. a start date computed per option).
    ``unreadable``: instead of a finding, reading the knocked model's solution back fails
    with this exception (the breach has no form in a schedule).
    ``keeps_existing``: the real solver keeps the row's existing schedules as they are (False:
    the row's existing schedule breaks the rule, so the real solver redoes it, and the knocked
    one keeps it)."""

    target: str
    case: str
    build: Builder
    validate_rule: str | None
    clean_rule: str | None
    knock: Knock | None = None
    also: tuple[str, ...] = ()
    places_more: bool = True
    unreadable: type[Exception] | None = None
    keeps_existing: bool = True

    @property
    def id(self) -> str:
        return f"{self.target}[{self.case}]"

    @property
    def is_model_rule(self) -> bool:
        return self.target.startswith("model.PlacementModel.")

    def knocks(self) -> list[tuple[str, Knock]]:
        """Each target with the variant that replaces it."""
        default = no_op if self.is_model_rule else always_true
        own = (self.target, self.knock or default)
        return [own, *((f"model.PlacementModel.{m}", no_op) for m in self.also)]


# ----- builders -------------------------------------------------------------------------------


def block(day: str, start: str, end: str) -> dict[str, str]:
    return {"day": day, "start": start, "end": end}


GROUP_TIMES = [block(d, "18:00", "21:00") for d in ("mon", "wed", "thu")]
TUESDAY = [block("tue", "17:00", "21:30")]
TUESDAY_SIX = block("tue", "18:00", "19:00")
SATURDAY_NINE = block("sat", "09:00", "10:00")


# The kept clients' programmes start on this Wednesday, two days after the pinned today.
WEDNESDAY_2_DEC = date(2026, 12, 2)


def facilitator_only(iop: SimpleNamespace, tid: str = "tf", **over: Any) -> dict[str, Any]:
    """A therapist free only at the group's times: can facilitate it, never see a client
    individually (every such hour overlaps the client's own group)."""
    return iop.therapist(tid, availability=GROUP_TIMES, **over)


def individual_only(iop: SimpleNamespace, tid: str = "t1", **over: Any) -> dict[str, Any]:
    """A therapist free only on Tuesday evening: can see clients individually, never
    facilitate the Mon/Wed/Thu group."""
    return iop.therapist(tid, availability=TUESDAY, **over)


def two_clients_one_slot_therapist(iop: SimpleNamespace, **t1: Any) -> Snapshot:
    """Two clients, one group run by ``tf``; only ``t1`` can see them individually."""
    return iop.snapshot(
        therapists=[facilitator_only(iop), individual_only(iop, **t1)],
        enrollments=[iop.client("c1"), iop.client("c2")],
    )


K1_STARTED = date(2026, 11, 2)  # four weeks before today (conftest: Monday 30 November)
K1_WEEKS = 5  # k1's programme ends on Sunday 6 December


def with_k1(
    iop: SimpleNamespace,
    individual: dict[str, str],
    weeks: int = K1_WEEKS,
    capacity: int = 10,
    therapists: list[dict[str, Any]] | None = None,
    enrollments: list[dict[str, Any]] | None = None,
) -> Snapshot:
    """g1 (running, facilitated by tf) holds kept client k1 from ``K1_STARTED`` for ``weeks``,
    seen by t1 at ``individual``; newcomers ask to start tomorrow."""
    group = iop.group(capacity=capacity, open_from="2026-10-01")
    k1 = iop.client("k1", requested_start=K1_STARTED.isoformat(), program_weeks=weeks)
    return iop.snapshot(
        groups=[group],
        therapists=therapists or [facilitator_only(iop), iop.therapist("t1")],
        enrollments=[k1, *(enrollments or [iop.client("c1")])],
        schedules=[iop.kept(k1, group, "tf", {"therapist_id": "t1", **individual}, K1_STARTED)],
    )


def seat_that_frees_and_two_arrivals(iop: SimpleNamespace) -> Snapshot:
    """Capacity 1, k1's until 6 December; two newcomers could each take it from the 7th."""
    return with_k1(iop, SATURDAY_NINE, capacity=1, enrollments=[iop.client("c1"), iop.client("c2")])


def hour_that_frees(iop: SimpleNamespace) -> Snapshot:
    """t1 sees individually only on Tuesday 18-19, k1's hour until 6 December; c1 is free for
    it (and g1 has room from Wednesday the 2nd)."""
    return with_k1(
        iop,
        TUESDAY_SIX,
        therapists=[facilitator_only(iop), iop.therapist("t1", availability=[TUESDAY_SIX])],
        enrollments=[iop.client("c1", availability=[*GROUP_TIMES, TUESDAY_SIX])],
    )


def caseload_place_that_frees(iop: SimpleNamespace) -> Snapshot:
    """t1's caseload of 2 holds k1 until 6 December: one newcomer may start on the 2nd, the
    other from the 7th (each could start on either day)."""
    return with_k1(
        iop,
        SATURDAY_NINE,
        therapists=[facilitator_only(iop), iop.therapist("t1", max_caseload=2)],
        enrollments=[iop.client("c1"), iop.client("c2")],
    )


def seat_held_beyond_the_horizon(iop: SimpleNamespace) -> Snapshot:
    """Capacity 1, k1's until 10 January: after c1's last start within 28 days (29 December)."""
    return with_k1(iop, SATURDAY_NINE, weeks=10, capacity=1)


def unplaceable_second_client(iop: SimpleNamespace) -> Snapshot:
    return iop.snapshot(enrollments=[iop.client("c1"), iop.client("c2", track="substance_use")])


def only_overlapping_slots(iop: SimpleNamespace) -> Snapshot:
    """The client is free only at the group's times; a second therapist could see them then."""
    return iop.snapshot(
        therapists=[iop.therapist("t1"), iop.therapist("t2")],
        enrollments=[iop.client(availability=GROUP_TIMES)],
    )


def running_group_with_one_seat(iop: SimpleNamespace) -> Snapshot:
    """Capacity 2, one kept client: one seat for two arrivals. The group is running (the cut
    ``seats_need_a_facilitator`` skips running groups, so only rule 4 holds the seat)."""
    group = iop.group(capacity=2)
    kept = iop.client("k1")
    return iop.snapshot(
        groups=[group],
        therapists=[iop.therapist("t1"), iop.therapist("t2")],
        enrollments=[kept, iop.client("c1"), iop.client("c2")],
        schedules=[
            iop.kept(
                kept,
                group,
                "t1",
                {"therapist_id": "t1", **block("sat", "09:00", "10:00")},
                WEDNESDAY_2_DEC,
            )
        ],
    )


def one_therapist_with_ten_hours(iop: SimpleNamespace) -> Snapshot:
    """The group (9 h) and one individual hour fill the only therapist's week."""
    return iop.snapshot(
        therapists=[iop.therapist("t1", max_weekly_hours=10)],
        enrollments=[iop.client("c1"), iop.client("c2")],
    )


def one_shared_hour(iop: SimpleNamespace) -> Snapshot:
    """Both clients are free for an individual session only on Tuesday 18:00-19:00."""
    avail = [*GROUP_TIMES, block("tue", "18:00", "19:00")]
    return iop.snapshot(
        therapists=[facilitator_only(iop), individual_only(iop)],
        enrollments=[iop.client("c1", availability=avail), iop.client("c2", availability=avail)],
    )


def back_to_back_at_two_sites(iop: SimpleNamespace) -> Snapshot:
    """t1 could see c1 at s1 on Tuesday 18-19 and c2 at s2 right after, 19-20: no time to
    travel. (s1 closes at 19:00 on Tuesday, so c2 can only be seen at s2.)"""
    s1, s2 = iop.site("s1"), iop.site("s2")
    s1["windows"] = [block(d, "17:00", "21:30") for d in ("mon", "wed", "thu")]
    s1["windows"].append(block("tue", "17:00", "19:00"))
    s2["windows"] = TUESDAY
    return iop.snapshot(
        sites=[s1, s2],
        therapists=[facilitator_only(iop), individual_only(iop, site_ids=["s1", "s2"])],
        enrollments=[
            iop.client("c1", availability=[*GROUP_TIMES, block("tue", "18:00", "19:00")]),
            iop.client(
                "c2",
                preferred_site_ids=["s1", "s2"],
                availability=[*GROUP_TIMES, block("tue", "19:00", "20:00")],
            ),
        ],
    )


def other_language_group(iop: SimpleNamespace) -> Snapshot:
    return iop.snapshot(groups=[iop.group(language="es")])


def telehealth_group_declined(iop: SimpleNamespace) -> Snapshot:
    """A telehealth group for a client who declines telehealth. (The in-person half, a group at
    a site the client did not choose, cannot reach an output: computing its site rank, soft goal
    3, raises for a site the client did not list.)"""
    return iop.snapshot(groups=[iop.group(delivery="telehealth")])


def site_closes_before_the_group_ends(iop: SimpleNamespace) -> Snapshot:
    short = iop.site()
    short["windows"] = [block(d, "17:00", "20:00") for d in ("mon", "tue", "wed", "thu")]
    return iop.snapshot(sites=[short])


def client_busy_on_thursday(iop: SimpleNamespace) -> Snapshot:
    free = [b for b in iop.client()["availability"] if b["day"] != "thu"]
    return iop.snapshot(enrollments=[iop.client(availability=free)])


def six_hour_group(iop: SimpleNamespace) -> Snapshot:
    """6 h of group + 1 h individual = 7 h, under an adult's 9."""
    return iop.snapshot(groups=[iop.group(sessions=GROUP_TIMES[:2])])


def nineteen_hour_group(iop: SimpleNamespace) -> Snapshot:
    """19 h of group + 1 h individual = 20 h: only the upper bound (< 20) excludes it."""
    sessions = [block(d, "17:00", "21:30") for d in ("mon", "tue", "wed", "thu")]
    return iop.snapshot(groups=[iop.group(sessions=[*sessions, block("sat", "09:00", "10:00")])])


def uncredentialed_individual_therapist(iop: SimpleNamespace) -> Snapshot:
    """Only t1 is free for an individual session, and holds no clinical licence."""
    return iop.snapshot(
        therapists=[facilitator_only(iop), individual_only(iop, credentials=["CADC"])]
    )


def uncredentialed_facilitator(iop: SimpleNamespace) -> Snapshot:
    """Only t1 is free at the group's times, and holds no clinical licence."""
    return iop.snapshot(
        therapists=[iop.therapist("t1", credentials=["CADC"]), individual_only(iop, "t2")]
    )


def facilitator_away_on_thursday(iop: SimpleNamespace) -> Snapshot:
    away = [b for b in iop.therapist()["availability"] if b["day"] != "thu"]
    return iop.snapshot(therapists=[iop.therapist(availability=away)])


def snapshot_as_of(iop: SimpleNamespace) -> Snapshot:
    """Requested and open from Tue 1 Dec; the snapshot is of Thu 10 Dec."""
    return {**iop.snapshot(), "as_of": "2026-12-10"}


def group_opens_later(iop: SimpleNamespace) -> Snapshot:
    return iop.snapshot(groups=[iop.group(open_from="2026-12-14")])


def client_requests_later(iop: SimpleNamespace) -> Snapshot:
    return iop.snapshot(enrollments=[iop.client(requested_start="2026-12-14")])


def requested_on_a_day_without_group(iop: SimpleNamespace) -> Snapshot:
    """Tue 1 Dec; the group meets Mon/Wed/Thu."""
    return iop.snapshot()


def facilitator_free_only_at_group_times(iop: SimpleNamespace) -> Snapshot:
    return iop.snapshot(therapists=[facilitator_only(iop, "t1")])


def client_free_only_at_group_times(iop: SimpleNamespace) -> Snapshot:
    return iop.snapshot(enrollments=[iop.client(availability=GROUP_TIMES)])


def client_free_on_friday_when_the_site_is_closed(iop: SimpleNamespace) -> Snapshot:
    friday = block("fri", "17:00", "21:30")
    return iop.snapshot(
        therapists=[iop.therapist(availability=[*iop.therapist()["availability"], friday])],
        enrollments=[iop.client(availability=[*GROUP_TIMES, friday])],
    )


def individual_therapist_at_another_site(iop: SimpleNamespace) -> Snapshot:
    """t1 works only at s2, which the client did not choose; tf runs the group at s1."""
    return iop.snapshot(
        sites=[iop.site("s1"), iop.site("s2")],
        therapists=[facilitator_only(iop), iop.therapist("t1", site_ids=["s2"], telehealth=False)],
    )


def telehealth_only_therapist(iop: SimpleNamespace) -> Snapshot:
    """t1 works by telehealth only; the client declines telehealth."""
    return iop.snapshot(
        therapists=[facilitator_only(iop), iop.therapist("t1", site_ids=[], telehealth=True)]
    )


def kept_session_in_the_only_hour(iop: SimpleNamespace) -> Snapshot:
    """t1 already sees kept client k1 on Tuesday 18-19, the new client's only free hour."""
    group = iop.group()
    kept = iop.client("k1")
    hour = block("tue", "18:00", "19:00")
    return iop.snapshot(
        therapists=[facilitator_only(iop), individual_only(iop)],
        enrollments=[kept, iop.client("c1", availability=[*GROUP_TIMES, hour])],
        schedules=[iop.kept(kept, group, "tf", {"therapist_id": "t1", **hour}, WEDNESDAY_2_DEC)],
    )


def kept_session_during_the_group(iop: SimpleNamespace) -> Snapshot:
    """k1's existing schedule has their individual hour on Monday 18-19, during their own
    group's Monday session (rule 3); every other rule holds, and t1 has other free hours."""
    group = iop.group()
    k1 = iop.client("k1")
    hour = {"therapist_id": "t1", **block("mon", "18:00", "19:00")}
    return iop.snapshot(
        therapists=[facilitator_only(iop), iop.therapist("t1")],
        enrollments=[k1],
        schedules=[iop.kept(k1, group, "tf", hour, WEDNESDAY_2_DEC)],
    )


def facilitator_booked_by_a_kept_client(iop: SimpleNamespace) -> Snapshot:
    """g1's only possible facilitator t1 already sees kept client k1 on Monday 18-19, during
    g1's session. (k1 is in g2, a Spanish group t2 runs, which the client cannot join.)"""
    g1 = iop.group("g1")
    g2 = iop.group(
        "g2", language="es", sessions=[block(d, "18:00", "21:00") for d in ["tue", "wed", "thu"]]
    )
    kept = iop.client("k1", language="es")
    return iop.snapshot(
        groups=[g1, g2],
        therapists=[
            iop.therapist("t1"),
            iop.therapist(
                "t2", availability=[b for b in iop.therapist()["availability"] if b["day"] != "mon"]
            ),
        ],
        enrollments=[kept, iop.client("c1")],
        schedules=[
            iop.kept(
                kept,
                g2,
                "t2",
                {"therapist_id": "t1", **block("mon", "18:00", "19:00")},
                WEDNESDAY_2_DEC,
            )
        ],
    )


# ----- knocked-out variants of static predicates ----------------------------------------------


def weekly_hours_without_upper(_real: Callable[..., Any]) -> Callable[..., Any]:
    return lambda client, group, individual: (
        MIN_WEEKLY_MINUTES.get(client.population, 9 * 60) <= group.minutes + individual
    )


def weekly_hours_without_lower(_real: Callable[..., Any]) -> Callable[..., Any]:
    return lambda _client, group, individual: (
        group.minutes + individual < MAX_WEEKLY_MINUTES_EXCLUSIVE
    )


def without_credentials(_real: Callable[..., Any]) -> Callable[..., Any]:
    return facilitator_can_hold


def without_can_hold(_real: Callable[..., Any]) -> Callable[..., Any]:
    return facilitator_credentialed


def start_ignoring_as_of(real: Callable[..., Any]) -> Callable[..., Any]:
    return lambda client, group, _as_of, previous, *closed: real(
        client, group, None, previous, *closed
    )


def start_ignoring_open_from(real: Callable[..., Any]) -> Callable[..., Any]:
    return lambda client, group, as_of, previous, *closed: real(
        client, replace(group, open_from=None), as_of, previous, *closed
    )


def start_ignoring_requested(real: Callable[..., Any]) -> Callable[..., Any]:
    return lambda client, group, as_of, previous, *closed: real(
        replace(client, requested_start=date(2000, 1, 3)),  # long ago
        group,
        as_of,
        previous,
        *closed,
    )


def start_on_any_day(_real: Callable[..., Any]) -> Callable[..., Any]:
    def floor(client: Any, group: Any, as_of: date | None, _previous: Any, *_closed: Any) -> date:
        dates = [client.requested_start, group.open_from, as_of]
        return max(d for d in dates if d is not None)

    return floor


def earliest_ignoring_as_of(real: Callable[..., Any]) -> Callable[..., Any]:
    return lambda client, group, _as_of=None: real(client, group)


def earliest_ignoring_open_from(real: Callable[..., Any]) -> Callable[..., Any]:
    return lambda client, group, as_of=None: real(client, replace(group, open_from=None), as_of)


def telehealth_place_always(real: Callable[..., Any]) -> Callable[..., Any]:
    """The telehealth half of ``individual_place_ok`` lifted; the in-person half as it is."""
    return lambda client, therapist, site, delivery: (
        delivery == "telehealth" or real(client, therapist, site, delivery)
    )


def slots_ignoring(
    client: Callable[[Any, Any], Any] | None = None,
    therapist: Callable[[Any], Any] | None = None,
    site: Callable[[Any], Any] | None = None,
) -> Knock:
    """``candidate_slots`` fed a client, therapist or sites with one condition lifted."""

    def knock(real: Callable[..., Any]) -> Callable[..., Any]:
        def slots(c: Any, t: Any, sites: Any, cfg: Any) -> Any:
            c = client(c, sites) if client else c
            t = therapist(t) if therapist else t
            sites = {k: site(s) for k, s in sites.items()} if site else sites
            return real(c, t, sites, cfg)

        return slots

    return knock


ROWS = [
    # -- model: hard-rule methods (model.HARD_RULES) -------------------------------------------
    Row(
        "model.PlacementModel.one_group_and_one_individual",
        "a client no group fits",
        unplaceable_second_client,
        None,
        None,
        unreadable=StopIteration,
    ),
    Row(
        "model.PlacementModel.client_sessions_do_not_overlap",
        "free only at group times",
        only_overlapping_slots,
        "client_overlap",
        "rule 3",
    ),
    Row(
        "model.PlacementModel.group_capacity",
        "running group, one seat, two arrivals",
        running_group_with_one_seat,
        "capacity",
        "rule 4",
    ),
    Row(
        "model.PlacementModel.group_capacity",
        "a seat that frees, two arrivals",
        seat_that_frees_and_two_arrivals,
        "capacity",
        "rule 4",
    ),
    Row(
        "model.PlacementModel.one_facilitator_per_running_group",
        "facilitating costs the only therapist's hours",
        one_therapist_with_ten_hours,
        None,
        None,
        # The cut restates "no seat without a facilitator": alone, this rule's knockout is
        # masked (a second facilitator, or one without clients, never places anyone more).
        also=CUTS,
        unreadable=KeyError,
    ),
    Row(
        "model.PlacementModel.therapist_sessions_do_not_overlap",
        "two clients, one free hour",
        one_shared_hour,
        "therapist_overlap",
        "rule 7",
    ),
    Row(
        "model.PlacementModel.therapist_travel_between_sites",
        "back to back at two sites",
        back_to_back_at_two_sites,
        "therapist_travel",
        "rule 7",
    ),
    Row(
        "model.PlacementModel.individual_slot_dates",
        "an hour a kept client holds until the 6th",
        hour_that_frees,
        "therapist_overlap",
        "rule 7",
        places_more=False,
    ),
    Row(
        "model.PlacementModel.therapist_start_classes",
        "a caseload place a kept client holds until the 6th",
        caseload_place_that_frees,
        "caseload",
        "rule 7",
        places_more=False,
    ),
    Row(
        "model.PlacementModel.therapist_caseload",
        "caseload 1, two clients",
        lambda iop: two_clients_one_slot_therapist(iop, max_caseload=1),
        "caseload",
        "rule 7",
    ),
    Row(
        "model.PlacementModel.therapist_weekly_hours",
        "one free hour a week, two clients",
        lambda iop: two_clients_one_slot_therapist(iop, max_weekly_hours=1),
        "therapist_hours",
        "rule 7",
    ),
    # -- static predicates that decide which options exist (instance.py) -----------------------
    Row("instance.group_fits", "other language", other_language_group, "group_fit", "rule 1"),
    Row(
        "instance.group_accessible",
        "telehealth group declined",
        telehealth_group_declined,
        "access",
        "rule 2",
    ),
    Row(
        "instance.group_sessions_in_windows",
        "site closes at 20:00",
        site_closes_before_the_group_ends,
        "time",
        "rule 3",
    ),
    Row(
        "instance.group_in_client_time",
        "client busy on Thursday",
        client_busy_on_thursday,
        "time",
        "rule 3",
    ),
    Row(
        "instance.weekly_hours_ok",
        "lower half: 7 h",
        six_hour_group,
        "weekly_hours",
        "rule 5",
        knock=weekly_hours_without_lower,
    ),
    Row(
        "instance.weekly_hours_ok",
        "upper half: 20 h",
        nineteen_hour_group,
        "weekly_hours",
        "rule 5",
        knock=weekly_hours_without_upper,
    ),
    Row(
        "instance.individual_credentialed",
        "no clinical licence",
        uncredentialed_individual_therapist,
        "credentials",
        "rule 6",
    ),
    Row(
        "instance.facilitator_qualifies",
        "credentials half",
        uncredentialed_facilitator,
        "credentials",
        "rule 6",
        knock=without_credentials,
    ),
    Row(
        "instance.facilitator_qualifies",
        "availability half",
        facilitator_away_on_thursday,
        "therapist_availability",
        "rule 7",
        knock=without_can_hold,
    ),
    Row(
        "instance.start_date_for",
        "as_of floor",
        snapshot_as_of,
        "dates",
        "rule 9 (strict)",
        knock=start_ignoring_as_of,
        places_more=False,
    ),
    Row(
        "instance.start_date_for",
        "open_from floor",
        group_opens_later,
        "dates",
        "rule 9",
        knock=start_ignoring_open_from,
        places_more=False,
    ),
    Row(
        "instance.start_date_for",
        "requested_start floor",
        client_requests_later,
        "dates",
        "rule 9",
        knock=start_ignoring_requested,
        places_more=False,
    ),
    Row(
        "instance.start_date_for",
        "a meeting day",
        requested_on_a_day_without_group,
        "dates",
        "rule 9",
        knock=start_on_any_day,
        places_more=False,
    ),
    Row(
        "instance.group_meets_on",
        "a meeting day",
        requested_on_a_day_without_group,
        "dates",
        "rule 9",
        places_more=False,
    ),
    Row(
        "instance.earliest_start",
        "as_of floor",
        snapshot_as_of,
        "dates",
        "rule 9 (strict)",
        knock=earliest_ignoring_as_of,
        places_more=False,
    ),
    Row(
        "instance.earliest_start",
        "open_from floor",
        group_opens_later,
        "dates",
        "rule 9",
        knock=earliest_ignoring_open_from,
        places_more=False,
    ),
    Row(
        "instance.within_admission_horizon",
        "a seat held beyond the horizon",
        seat_held_beyond_the_horizon,
        "dates",
        "rule 9",
    ),
    Row(
        "instance.candidate_slots",
        "therapist availability",
        facilitator_free_only_at_group_times,
        "therapist_availability",
        "rule 7",
        knock=slots_ignoring(therapist=lambda t: replace(t, availability=(WEEK,))),
    ),
    Row(
        "instance.candidate_slots",
        "client availability",
        client_free_only_at_group_times,
        "time",
        "rule 3",
        knock=slots_ignoring(client=lambda c, _sites: replace(c, availability=(WEEK,))),
    ),
    Row(
        "instance.candidate_slots",
        "site windows",
        client_free_on_friday_when_the_site_is_closed,
        "time",
        "rule 3",
        knock=slots_ignoring(site=lambda s: replace(s, windows=(WEEK,))),
    ),
    Row(
        "instance.candidate_slots",
        "therapist's sites",
        individual_therapist_at_another_site,
        "therapist_site",
        "rule 7",
        knock=slots_ignoring(therapist=lambda t: replace(t, site_ids=frozenset({"s1", "s2"}))),
    ),
    Row(
        "instance.candidate_slots",
        "client's sites",
        individual_therapist_at_another_site,
        "access",
        "rule 2 (strict)",
        knock=slots_ignoring(
            client=lambda c, sites: replace(c, preferred_site_ids=tuple(sorted(sites)))
        ),
    ),
    Row(
        "instance.candidate_slots",
        "telehealth consent",
        telehealth_only_therapist,
        "access",
        "rule 2 (strict)",
        knock=slots_ignoring(client=lambda c, _sites: replace(c, accepts_telehealth=True)),
    ),
    Row(
        "instance.individual_place_ok",
        "therapist's sites",
        individual_therapist_at_another_site,
        "therapist_site",
        "rule 7",
    ),
    Row(
        "instance.individual_place_ok",
        "telehealth consent",
        telehealth_only_therapist,
        "access",
        "rule 2 (strict)",
        knock=telehealth_place_always,
    ),
    Row(
        "instance.overlaps_group",
        "an existing hour during the group",
        kept_session_during_the_group,
        "client_overlap",
        "rule 3",
        knock=always_false,
        places_more=False,
        keeps_existing=False,
    ),
    Row(
        "instance.bookings_clash",
        "a kept client's hour",
        kept_session_in_the_only_hour,
        "therapist_overlap",
        "rule 7",
        knock=always_false,
    ),
    Row(
        "ledger.Ledger.open_for",
        "facilitator booked by a kept client",
        facilitator_booked_by_a_kept_client,
        "therapist_overlap",
        "rule 7",
    ),
]


# ----- running a row --------------------------------------------------------------------------


def knock_out(monkeypatch: pytest.MonkeyPatch, row: Row) -> None:
    """Put the knocked-out variant in place where the solver looks the target up."""
    for target, knock in row.knocks():
        owner, name = _resolve(target)
        monkeypatch.setattr(owner, name, knock(getattr(owner, name)))


def _resolve(target: str) -> tuple[Any, str]:
    module, *path, name = target.split(".")
    owner: Any = importlib.import_module(f"iop_scheduler.solver.{module}")
    for part in path:
        owner = getattr(owner, part)
    return owner, name


def rule_tags(snap: Snapshot, out: dict[str, Any]) -> tuple[set[str], set[str]]:
    return {f.rule for f in validate_output(snap, out)}, {f.rule for f in check_findings(snap, out)}


def solve_clean(row: Row, iop: SimpleNamespace) -> dict[str, Any]:
    """The real solver on the row's instance: both checkers find nothing."""
    snap = row.build(iop)
    out = solve_snapshot(snap, SETTINGS)
    assert rule_tags(snap, out) == (set(), set()), [str(f) for f in validate_output(snap, out)]
    # The rows that hold an existing schedule rely on it being kept, not redone (or, where the
    # schedule breaks the row's rule, on its being redone).
    kept = [s in out["scheduled"] for s in snap["schedules"]]
    assert all(kept) if row.keeps_existing else not any(kept)
    return out


def solve_knocked(row: Row, iop: SimpleNamespace, real: dict[str, Any]) -> None:
    """The knocked-out solver on the row's instance (knockout already applied): the breach,
    exactly, in both checkers, and made by what was knocked out."""
    snap = row.build(iop)
    if row.unreadable is not None:
        with pytest.raises(row.unreadable) as caught:
            solve_snapshot(snap, SETTINGS)
        where = traceback.extract_tb(caught.tb)[-1]
        assert (where.name, where.filename.endswith("model.py")) == ("placements", True)
        return
    out = solve_snapshot(snap, SETTINGS)
    found, clean = rule_tags(snap, out)
    assert found == {row.validate_rule}, [str(f) for f in validate_output(snap, out)]
    assert clean == {row.clean_rule}, [str(f) for f in check_findings(snap, out)]
    if row.places_more:
        assert len(out["scheduled"]) > len(real["scheduled"])
    if row.is_model_rule:
        # The breach is CP-SAT's: nothing was topped up first-fit after the search, and (where
        # it places more) the search beat the first-fit clerk's hint (the clerk keeps every rule
        # through the ledger).
        (part,) = out["stats"]["parts"]
        assert part["topped_up"] == 0
        if row.places_more:
            assert part["objective"] > part["baseline_objective"]


@pytest.mark.parametrize("row", ROWS, ids=[r.id for r in ROWS])
def test_knocking_out_a_rule_breaks_exactly_that_rule(
    row: Row, iop: SimpleNamespace, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = solve_clean(row, iop)
    knock_out(monkeypatch, row)
    solve_knocked(row, iop, real)


def test_every_hard_rule_of_the_model_has_a_row() -> None:
    rows = {r.target.rsplit(".", 1)[1] for r in ROWS if r.is_model_rule}
    assert rows == set(HARD_RULES)
    assert not rows & set(CUTS)


def test_every_rule_predicate_the_options_use_has_a_row() -> None:
    """Each rule predicate ``instance.py`` imports from ``rules.py`` is knocked out by a row."""
    instance = importlib.import_module("iop_scheduler.solver.instance")
    rules = importlib.import_module("iop_scheduler.solver.rules")
    used = {
        name
        for name, obj in vars(instance).items()
        if callable(obj) and getattr(obj, "__module__", None) == rules.__name__
    }
    assert used
    assert used <= {r.target.split(".", 1)[1] for r in ROWS if r.target.startswith("instance.")}


def test_every_constraint_of_the_model_comes_from_a_listed_method(
    iop: SimpleNamespace, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``build`` adds constraints only through ``HARD_RULES`` and ``CUTS``, and each of them
    adds some on the rows' instances: a constraint method left off both lists fails."""
    origins: list[str] = []
    real_add = cp_model.CpModel.add

    def add(model: cp_model.CpModel, ct: Any) -> Any:
        origins.append(sys._getframe(1).f_code.co_name)
        return real_add(model, ct)

    monkeypatch.setattr(cp_model.CpModel, "add", add)
    for row in ROWS:
        if row.is_model_rule:
            PlacementModel.build(build_instance(Problem.parse(row.build(iop))))
    assert set(origins) == {*HARD_RULES, *CUTS}


# ----- the cut ---------------------------------------------------------------------------------


def test_seats_need_a_facilitator_tightens_the_lp_bound(
    iop: SimpleNamespace, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One therapist could run either of two overlapping groups of 2 seats; four clients fit
    both. On integers 2 are placed. Without the cut the LP runs each group at half a
    facilitator and still fills both (bound 4); with it, seats follow the facilitator."""
    snap = iop.snapshot(
        groups=[iop.group("g1", capacity=2), iop.group("g2", capacity=2)],
        therapists=[iop.therapist("t1"), individual_only(iop, "t2")],
        enrollments=[iop.client(f"c{i}") for i in range(4)],
    )
    with_cut = _lp_bound(snap)
    monkeypatch.setattr(PlacementModel, CUTS[0], lambda _self: None)
    without = _lp_bound(snap)
    assert with_cut < without
    out = iop.solve(snap)  # and the integer optimum sits at the bound the cut proves
    assert len(out["scheduled"]) == with_cut


def _lp_bound(snap: Snapshot) -> int:
    inst = build_instance(Problem.parse(snap), InstanceSettings())
    pm = PlacementModel.build(inst)
    pm.model.maximize(pm.weighted_placements())
    relaxation = lp_relaxation(pm.model)
    assert relaxation is not None
    return relaxation.upper_bound
