"""One test per rule predicate of the solver (``solver/rules.py``), each rule once.

Every public function of rules.py has cases here that give each of its answers: a pair that
meets the rule and one that breaks it (for ``earliest_start`` and ``travel_site``, which answer
a value, each floor or place). A predicate added to rules.py without cases fails the last test,
so a rule never lives in the solver without a test of its own. The end-to-end cases (solver and
both checkers, per rule) are test_rules_hard.py and the knockout table (test_knockout.py).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from types import SimpleNamespace
from typing import Any

import pytest
from iop_scheduler.solver import rules
from iop_scheduler.solver.dates import Booking, DateRange
from iop_scheduler.solver.domain import Enrollment, Group, Site, Therapist
from iop_scheduler.solver.weektime import Interval, parse_interval

Args = Callable[[SimpleNamespace], tuple[Any, ...]]


def client(iop: SimpleNamespace, **over: Any) -> Enrollment:
    return Enrollment.parse(iop.client(**over))


def group(iop: SimpleNamespace, **over: Any) -> Group:
    return Group.parse(iop.group(**over))


def therapist(iop: SimpleNamespace, **over: Any) -> Therapist:
    return Therapist.parse(iop.therapist(**over))


def sites(iop: SimpleNamespace, *extra: dict[str, Any]) -> dict[str, Site]:
    return {s.site_id: s for s in map(Site.parse, [iop.site(), *extra])}


def when(day: str, start: str, end: str) -> Interval:
    return parse_interval({"day": day, "start": start, "end": end})


def today(iop: SimpleNamespace, days: int = 0) -> date:
    return iop.TODAY + timedelta(days=days)


def within(iop: SimpleNamespace, first: int, last: int) -> DateRange:
    return DateRange(today(iop, first), today(iop, last))


@dataclass(frozen=True)
class Case:
    predicate: str
    what: str
    args: Args
    expected: Any


CASES = [
    # rule 1
    Case("group_fits", "same track, population, language", lambda i: (client(i), group(i)), True),
    Case("group_fits", "another language", lambda i: (client(i), group(i, language="es")), False),
    Case(
        "group_fits",
        "a men's group for a woman",
        lambda i: (client(i), group(i, gender="men")),
        False,
    ),
    # rule 2
    Case("group_accessible", "preferred site", lambda i: (client(i), group(i), sites(i)), True),
    Case(
        "group_accessible",
        "telehealth declined",
        lambda i: (client(i), group(i, delivery="telehealth"), sites(i)),
        False,
    ),
    Case(
        "group_accessible",
        "a site not chosen",
        lambda i: (client(i), group(i, site_id="s2"), sites(i, i.site("s2"))),
        False,
    ),
    # rule 3
    Case("group_sessions_in_windows", "inside", lambda i: (group(i), sites(i)), True),
    Case(
        "group_sessions_in_windows",
        "past closing",
        lambda i: (group(i, sessions=[{"day": "mon", "start": "20:00", "end": "22:00"}]), sites(i)),
        False,
    ),
    Case("group_in_client_time", "free then", lambda i: (client(i), group(i)), True),
    Case(
        "group_in_client_time",
        "busy on Thursday",
        lambda i: (
            client(i, availability=[b for b in i.client()["availability"] if b["day"] != "thu"]),
            group(i),
        ),
        False,
    ),
    Case(
        "overlaps_group", "Tuesday hour", lambda i: (when("tue", "18:00", "19:00"), group(i)), False
    ),
    Case(
        "overlaps_group", "Monday hour", lambda i: (when("mon", "20:30", "21:30"), group(i)), True
    ),
    # rules 2 and 7, where an individual session is held
    Case(
        "individual_place_ok",
        "in person at a shared site",
        lambda i: (client(i), therapist(i), sites(i)["s1"], "in_person"),
        True,
    ),
    Case(
        "individual_place_ok",
        "in person at the therapist's other site",
        lambda i: (client(i), therapist(i, site_ids=["s2"]), sites(i)["s1"], "in_person"),
        False,
    ),
    Case(
        "individual_place_ok",
        "telehealth both accept, in the region",
        lambda i: (client(i, accepts_telehealth=True), therapist(i), sites(i)["s1"], "telehealth"),
        True,
    ),
    Case(
        "individual_place_ok",
        "telehealth declined",
        lambda i: (client(i), therapist(i), sites(i)["s1"], "telehealth"),
        False,
    ),
    Case(
        "individual_place_ok",
        "telehealth at another region's site",
        lambda i: (
            client(i, accepts_telehealth=True),
            therapist(i),
            Site.parse(i.site("s9", region="r9")),
            "telehealth",
        ),
        False,
    ),
    # rule 5
    Case("weekly_hours_ok", "9 h + 1 h", lambda i: (client(i), group(i), 60), True),
    Case(
        "weekly_hours_ok",
        "6 h + 1 h for an adult",
        lambda i: (client(i), group(i, sessions=i.group()["sessions"][:2]), 60),
        False,
    ),
    Case(
        "weekly_hours_ok",
        "6 h + 1 h for an adolescent",
        lambda i: (
            client(i, population="adolescent"),
            group(i, population="adolescent", sessions=i.group()["sessions"][:2]),
            60,
        ),
        True,
    ),
    Case(
        "weekly_hours_ok", "9 h + 11 h: 20 h", lambda i: (client(i), group(i), 10 * 60 + 60), False
    ),
    # rule 6
    Case("facilitator_credentialed", "licensed", lambda i: (therapist(i), group(i)), True),
    Case(
        "facilitator_credentialed",
        "addiction credential only, mental health",
        lambda i: (therapist(i, credentials=["CADC"]), group(i)),
        False,
    ),
    Case(
        "facilitator_credentialed",
        "DBT without the training",
        lambda i: (therapist(i, modalities=["cbt"]), group(i, modality="dbt")),
        False,
    ),
    Case("individual_credentialed", "licensed", lambda i: (therapist(i), client(i)), True),
    Case(
        "individual_credentialed",
        "not the client's language",
        lambda i: (therapist(i, languages=["es"]), client(i)),
        False,
    ),
    Case(
        "individual_credentialed",
        "addiction credential for substance use",
        lambda i: (therapist(i, credentials=["CADC"]), client(i, track="substance_use")),
        True,
    ),
    # rule 7
    Case("facilitator_can_hold", "free at its times", lambda i: (therapist(i), group(i)), True),
    Case(
        "facilitator_can_hold",
        "away on Thursday",
        lambda i: (
            therapist(
                i, availability=[b for b in i.therapist()["availability"] if b["day"] != "thu"]
            ),
            group(i),
        ),
        False,
    ),
    Case(
        "facilitator_can_hold",
        "not at the group's site",
        lambda i: (therapist(i, site_ids=["s2"]), group(i)),
        False,
    ),
    Case(
        "facilitator_can_hold",
        "more hours than their maximum",
        lambda i: (therapist(i, max_weekly_hours=8), group(i)),
        False,
    ),
    Case("facilitator_qualifies", "both halves", lambda i: (therapist(i), group(i)), True),
    Case(
        "facilitator_qualifies",
        "credentials half broken",
        lambda i: (therapist(i, credentials=["CADC"]), group(i)),
        False,
    ),
    Case(
        "facilitator_qualifies",
        "availability half broken",
        lambda i: (therapist(i, availability=[]), group(i)),
        False,
    ),
    Case("travel_site", "in person", lambda _i: ("s1", "in_person"), "s1"),
    Case("travel_site", "telehealth", lambda _i: ("s1", "telehealth"), None),
    Case(
        "travel_conflict",
        "back to back at two sites",
        lambda _i: (when("tue", "18:00", "19:00"), "s1", when("tue", "19:00", "20:00"), "s2", 30),
        True,
    ),
    Case(
        "travel_conflict",
        "30 minutes between two sites",
        lambda _i: (when("tue", "18:00", "19:00"), "s1", when("tue", "19:30", "20:30"), "s2", 30),
        False,
    ),
    Case(
        "travel_conflict",
        "back to back, one by telehealth",
        lambda _i: (when("tue", "18:00", "19:00"), "s1", when("tue", "19:00", "20:00"), None, 30),
        False,
    ),
    Case(
        "sessions_conflict",
        "overlap at one site",
        lambda _i: (when("tue", "18:00", "19:00"), "s1", when("tue", "18:30", "19:30"), "s1", 30),
        True,
    ),
    Case(
        "sessions_conflict",
        "back to back at one site",
        lambda _i: (when("tue", "18:00", "19:00"), "s1", when("tue", "19:00", "20:00"), "s1", 30),
        False,
    ),
    Case(
        "bookings_clash",
        "overlap on shared dates",
        lambda i: (
            Booking(when("tue", "18:00", "19:00"), "s1", within(i, 0, 55)),
            Booking(when("tue", "18:30", "19:30"), "s1", within(i, 28, 83)),
            30,
        ),
        True,
    ),
    Case(
        "bookings_clash",
        "the same hour on dates that do not meet",
        lambda i: (
            Booking(when("tue", "18:00", "19:00"), "s1", within(i, 0, 27)),
            Booking(when("tue", "18:00", "19:00"), "s1", within(i, 28, 83)),
            30,
        ),
        False,
    ),
    # rule 9 (with rule 11's closures)
    Case("group_meets_on", "a Monday", lambda i: (group(i), today(i)), True),
    Case("group_meets_on", "a Tuesday", lambda i: (group(i), today(i, 1)), False),
    Case(
        "group_meets_on",
        "a Monday its site is closed",
        lambda i: (group(i), today(i), frozenset({today(i)})),
        False,
    ),
    Case(
        "earliest_start",
        "requested after the group opens",
        lambda i: (
            client(i, requested_start=today(i, 9).isoformat()),
            group(i, open_from=today(i, 2).isoformat()),
        ),
        "today+9",
    ),
    Case(
        "earliest_start",
        "the group opens later",
        lambda i: (
            client(i, requested_start=today(i, 1).isoformat()),
            group(i, open_from=today(i, 14).isoformat()),
        ),
        "today+14",
    ),
    Case(
        "earliest_start",
        "both long ago: today",
        lambda i: (
            client(i, requested_start=today(i, -30).isoformat()),
            group(i, open_from=today(i, -60).isoformat()),
            today(i),
        ),
        "today+0",
    ),
    Case(
        "within_admission_horizon",
        "28 days on",
        lambda i: (today(i, 28), today(i), 28),
        True,
    ),
    Case(
        "within_admission_horizon",
        "29 days on",
        lambda i: (today(i, 29), today(i), 28),
        False,
    ),
]


def _expected(case: Case, iop: SimpleNamespace) -> Any:
    """A date written ``today+N`` (the suite's pinned today, never the real one)."""
    if isinstance(case.expected, str) and case.expected.startswith("today+"):
        return today(iop, int(case.expected.removeprefix("today+")))
    return case.expected


@pytest.mark.parametrize("case", CASES, ids=[f"{c.predicate}[{c.what}]" for c in CASES])
def test_rule_predicate(case: Case, iop: SimpleNamespace) -> None:
    predicate = getattr(rules, case.predicate)
    assert predicate(*case.args(iop)) == _expected(case, iop)


def test_every_rule_predicate_has_cases_for_each_answer() -> None:
    """Each public function of rules.py has cases here, with at least two different answers."""
    predicates = {
        name
        for name, obj in vars(rules).items()
        if inspect.isfunction(obj) and obj.__module__ == rules.__name__ and not name.startswith("_")
    }
    answers: dict[str, set[Any]] = {}
    for case in CASES:
        answers.setdefault(case.predicate, set()).add(case.expected)
    assert predicates == set(answers)
    assert all(len(values) >= 2 for values in answers.values()), answers
