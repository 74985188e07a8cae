"""Rule 11 on dates (domain.calendar): closures and absences cancel occurrences, an absent
facilitator gets a substitute who meets rules 6 and 7 on that date or the occurrence is
cancelled for the whole group; each rule alone, then whole regions, then the schedule events
drawn from them. Pure: no broker, today pinned and every date built from it."""

from collections.abc import Iterable, Iterator
from datetime import date, timedelta
from types import SimpleNamespace
from typing import Any

import pytest
from iop_contracts import (
    TODAY_ENV,
    CancellationReason,
    CancelledKind,
    CloudEvent,
    new_event,
    parse_payload,
)
from iop_scheduler.domain import Projection, placements
from iop_scheduler.domain.calendar import (
    Cancellation,
    DatedRoster,
    Occurrence,
    Plan,
    Rota,
    Substitution,
    group_cancellation,
    group_runs,
    individual_cancellation,
    occurrences,
    plan_region,
    site_closed,
    substitute_can_hold,
    substitute_credentialed,
    substitute_free,
    substitute_hours_allow,
    substitute_present,
    therapist_absent,
    workloads,
)
from iop_scheduler.domain.decisions import SOURCE
from iop_scheduler.domain.staffing import StaffingTable, announcement
from iop_scheduler.solver.domain import Group, Schedule, Therapist
from iop_scheduler.solver.weektime import parse_interval

TODAY = date(2026, 12, 7)
assert TODAY.weekday() == 0  # the dates below are "the n-th day of the week from a Monday"
DAY = timedelta(days=1)
WED, THU, SAT = TODAY + 2 * DAY, TODAY + 3 * DAY, TODAY + 5 * DAY
REGION = "r1"
EVENINGS = [{"day": d, "start": "17:00", "end": "21:30"} for d in ("mon", "tue", "wed", "thu")]
GROUP, INDIVIDUAL = CancelledKind.GROUP, CancelledKind.INDIVIDUAL
SITE_CLOSED = CancellationReason.SITE_CLOSED
ABSENT = CancellationReason.THERAPIST_ABSENT
NO_COVER = CancellationReason.NO_COVER


@pytest.fixture(autouse=True)
def pinned_today(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv(TODAY_ENV, TODAY.isoformat())
    yield


# ------------------------------------------------------------------------ builders


def site(site_id: str = "s1", closed: Iterable[date] = ()) -> dict[str, Any]:
    return {
        "site_id": site_id,
        "name": "Site",
        "region_id": REGION,
        "timezone": "America/New_York",
        "closed_dates": [d.isoformat() for d in closed],
    }


def group(
    group_id: str = "g1",
    site_id: str = "s1",
    days: Iterable[str] = ("mon", "wed", "thu"),
    **over: Any,
) -> dict[str, Any]:
    return {
        "group_id": group_id,
        "site_id": site_id,
        "delivery": "in_person",
        "track": "mental_health",
        "modality": "cbt",
        "population": "adult",
        "gender": "any",
        "language": "en",
        "capacity": 10,
        "sessions": [{"day": d, "start": "18:00", "end": "21:00"} for d in days],
        "facilitator_id": None,
        "open_from": "2026-12-01",
        **over,
    }


def therapist(
    therapist_id: str, absent: Iterable[tuple[date, date]] = (), **over: Any
) -> dict[str, Any]:
    return {
        "therapist_id": therapist_id,
        "name": "Therapist",
        "site_ids": ["s1", "s2"],
        "telehealth": True,
        "credentials": ["LCSW"],
        "modalities": ["cbt"],
        "populations": ["adult"],
        "languages": ["en"],
        "availability": [*EVENINGS, {"day": "sat", "start": "08:00", "end": "18:00"}],
        "max_weekly_hours": 30,
        "max_caseload": 10,
        "absences": [{"start_date": a.isoformat(), "end_date": b.isoformat()} for a, b in absent],
        **over,
    }


def schedule(
    client_id: str,
    of: dict[str, Any],
    facilitator: str = "t1",
    individual: str = "t1",
    *,
    slot: tuple[str, str, str] = ("sat", "09:00", "10:00"),
    held_at: str | None = None,
    delivery: str = "in_person",
    start: date = TODAY,
    end: date | None = None,
) -> dict[str, Any]:
    day, begin, finish = slot
    return {
        "client_id": client_id,
        "region_id": REGION,
        "schedule_version": 1,
        "group": {
            "group_id": of["group_id"],
            "site_id": of["site_id"],
            "delivery": of["delivery"],
            "facilitator_id": facilitator,
            "sessions": of["sessions"],
        },
        "individual": {
            "therapist_id": individual,
            "delivery": delivery,
            "site_id": held_at or of["site_id"],
            "day": day,
            "start": begin,
            "end": finish,
        },
        "start_date": start.isoformat(),
        "end_date": (end or start + timedelta(weeks=4) - DAY).isoformat(),
        "weekly_hours": 10.0,
        "timezone": "America/New_York",
    }


def roster(
    sites: list[dict[str, Any]], groups: list[dict[str, Any]], therapists: list[dict[str, Any]]
) -> dict[str, list[dict[str, Any]]]:
    return {"sites": sites, "groups": groups, "therapists": therapists}


def dated(
    sites: Iterable[dict[str, Any]] = (), therapists: Iterable[dict[str, Any]] = ()
) -> DatedRoster:
    return DatedRoster.parse(roster(list(sites), [], list(therapists)))


def plan(
    sites: list[dict[str, Any]],
    groups: list[dict[str, Any]],
    therapists: list[dict[str, Any]],
    schedules: list[dict[str, Any]],
    decided: dict[tuple[str, date], Substitution] | None = None,
) -> Plan:
    return plan_region(REGION, roster(sites, groups, therapists), schedules, TODAY, decided or {})


def entries(found: Plan, client_id: str) -> set[tuple[date, CancelledKind, CancellationReason]]:
    return {(c.day, c.kind, c.reason) for c in found.cancelled[client_id]}


# ------------------------------------------------------- closures, absences, occurrences


def test_a_site_is_closed_on_its_closed_dates_only() -> None:
    roster_ = dated([site("s1", [WED])])
    assert site_closed(roster_, "s1", WED)
    assert not site_closed(roster_, "s1", THU)
    assert not site_closed(roster_, "s2", WED)  # another site, or one the roster lacks


def test_an_absence_covers_both_its_dates_and_nothing_around_them() -> None:
    roster_ = dated(therapists=[therapist("t1", [(WED, THU)])])
    assert therapist_absent(roster_, "t1", WED) and therapist_absent(roster_, "t1", THU)
    assert not therapist_absent(roster_, "t1", WED - DAY)
    assert not therapist_absent(roster_, "t1", THU + DAY)
    assert not therapist_absent(roster_, "t2", WED)


def test_occurrences_run_from_today_or_a_later_start_to_the_end_date() -> None:
    started = Schedule.parse(schedule("c1", group(), start=TODAY - 14 * DAY))
    found = occurrences(started, TODAY)
    end = started.end_date
    assert found[0] == Occurrence(TODAY, GROUP)
    assert all(TODAY <= o.day <= end for o in found)
    # Two weeks are left of four: three group meetings and one individual session in each.
    assert [o.kind for o in found].count(GROUP) == 6
    assert [o.day for o in found if o.kind is INDIVIDUAL] == [SAT, SAT + 7 * DAY]
    later = Schedule.parse(schedule("c1", group(), start=WED + 7 * DAY))
    assert occurrences(later, TODAY)[0] == Occurrence(WED + 7 * DAY, GROUP)


# ------------------------------------------------------- one occurrence, one reason


def test_a_closure_on_a_group_day_cancels_the_group_there() -> None:
    booked = Schedule.parse(schedule("c1", group()))
    closed = dated([site("s1", [WED])], [therapist("t1")])
    assert group_cancellation(closed, booked, WED, {}) is SITE_CLOSED
    assert group_cancellation(closed, booked, THU, {}) is None


def test_an_absent_facilitator_cancels_the_group_unless_someone_covers_for_them() -> None:
    booked = Schedule.parse(schedule("c1", group()))
    away = dated([site("s1")], [therapist("t1", [(WED, WED)])])
    assert group_cancellation(away, booked, WED, {}) is NO_COVER
    cover = Substitution("g1", REGION, WED, "t2", "t1")
    assert group_cancellation(away, booked, WED, {cover.key: cover}) is None
    elsewhere = Substitution("g1", REGION, WED, "t2", "t9")  # covered someone else
    assert group_cancellation(away, booked, WED, {cover.key: elsewhere}) is NO_COVER
    assert group_cancellation(away, booked, THU, {}) is None


def test_a_closure_on_an_individual_day_cancels_it_in_person_and_by_telehealth() -> None:
    closed = dated([site("s1", [SAT]), site("s2")], [therapist("t1")])
    in_person = Schedule.parse(schedule("c1", group()))
    telehealth = Schedule.parse(schedule("c2", group(), delivery="telehealth"))
    held_elsewhere = Schedule.parse(schedule("c3", group(), delivery="telehealth", held_at="s2"))
    assert individual_cancellation(closed, in_person, SAT) is SITE_CLOSED
    assert individual_cancellation(closed, telehealth, SAT) is SITE_CLOSED
    assert individual_cancellation(closed, held_elsewhere, SAT) is None
    assert individual_cancellation(closed, in_person, SAT + 7 * DAY) is None


def test_an_absent_individual_therapist_cancels_the_session_and_nobody_takes_it() -> None:
    booked = Schedule.parse(schedule("c1", group(), individual="t5"))
    away = dated([site("s1")], [therapist("t1"), therapist("t5", [(SAT, SAT)])])
    assert individual_cancellation(away, booked, SAT) is ABSENT
    assert individual_cancellation(away, booked, SAT + 7 * DAY) is None
    closed_too = dated([site("s1", [SAT])], [therapist("t5", [(SAT, SAT)])])
    assert individual_cancellation(closed_too, booked, SAT) is SITE_CLOSED  # one reason each


# --------------------------------------------------------- a substitute's rules, alone


def _group(**over: Any) -> Group:
    return Group.parse(group(**over))


def _therapist(**over: Any) -> Therapist:
    return Therapist.parse(therapist("t2", **over))


def test_rule_6_a_substitute_holds_the_tracks_credentials_and_the_groups_modality() -> None:
    assert substitute_credentialed(_therapist(), _group())
    assert not substitute_credentialed(_therapist(credentials=["LADC"]), _group())
    assert not substitute_credentialed(_therapist(), _group(modality="dbt"))
    assert substitute_credentialed(_therapist(modalities=["dbt"]), _group(modality="dbt"))
    assert not substitute_credentialed(_therapist(languages=["es"]), _group())
    assert not substitute_credentialed(_therapist(populations=["adolescent"]), _group())


def test_rule_7_a_substitute_is_available_for_that_days_sessions_at_a_site_of_theirs() -> None:
    assert substitute_can_hold(_therapist(), _group(), WED)
    wednesdays_off = [w for w in EVENINGS if w["day"] != "wed"]
    assert not substitute_can_hold(_therapist(availability=wednesdays_off), _group(), WED)
    assert substitute_can_hold(_therapist(availability=wednesdays_off), _group(), THU)
    assert not substitute_can_hold(_therapist(site_ids=["s2"]), _group(), WED)
    telehealth = _group(delivery="telehealth")
    assert substitute_can_hold(_therapist(site_ids=["s2"]), telehealth, WED)
    assert not substitute_can_hold(_therapist(telehealth=False), telehealth, WED)
    assert not substitute_can_hold(_therapist(), _group(), TODAY + DAY)  # no meeting on Tuesday


def test_rule_11_a_substitute_is_not_absent_that_day() -> None:
    roster_ = dated(therapists=[therapist("t2", [(WED, WED)])])
    assert not substitute_present(roster_, "t2", WED)
    assert substitute_present(roster_, "t2", THU)


def test_rule_7_a_substitute_has_no_overlap_and_time_to_travel_that_day() -> None:
    wednesday = parse_interval({"day": "wed", "start": "18:00", "end": "21:00"})

    def at(start: str, end: str) -> Any:
        return parse_interval({"day": "wed", "start": start, "end": end})

    sessions = [(wednesday, "s1")]
    assert substitute_free([], sessions)
    assert not substitute_free([(at("20:30", "21:30"), "s1")], sessions)  # overlap
    assert substitute_free([(at("17:00", "18:00"), "s1")], sessions)  # back to back, same site
    assert not substitute_free([(at("16:45", "17:45"), "s2")], sessions)  # 15 min to travel
    assert substitute_free([(at("16:30", "17:30"), "s2")], sessions)  # 30 min is enough
    assert substitute_free([(at("16:45", "17:45"), None)], sessions)  # telehealth: no travel


def test_rule_7_a_substitutes_week_stays_within_their_maximum_hours() -> None:
    capped = _therapist(max_weekly_hours=10)
    assert substitute_hours_allow(capped, 7 * 60, 3 * 60)
    assert not substitute_hours_allow(capped, 7 * 60 + 1, 3 * 60)


def test_what_a_therapist_holds_counts_only_dates_their_clients_programmes_cover() -> None:
    ended = schedule(
        "c2",
        group("g2", days=("tue",)),
        "t3",
        "t2",
        slot=("wed", "18:00", "19:00"),
        start=TODAY - 28 * DAY,
        end=TODAY + DAY,
    )
    running = schedule("c3", group("g2", days=("tue",)), "t3", "t2", slot=("thu", "17:00", "18:00"))
    parsed = [Schedule.parse(s) for s in (ended, running)]
    runs = group_runs(parsed)
    rota = Rota(
        dated([site("s1")], [therapist("t2"), therapist("t3")]), runs, workloads(parsed, runs)
    )
    assert rota.held_on("t2", WED) == []  # c2's programme ended on Tuesday
    assert [i.minutes for i, _ in rota.held_on("t2", THU)] == [60]
    assert rota.week_minutes("t2", WED) == 60
    assert rota.week_minutes("t3", WED) == 180  # g2 met on Tuesday (both clients)
    next_thu = THU + 7 * DAY
    closed = dated([site("s1", [next_thu])], [therapist("t2"), therapist("t3", [(TODAY, SAT)])])
    rota = Rota(closed, runs, workloads(parsed, runs))
    assert rota.held_on("t2", next_thu) == []  # a closed site holds nothing
    assert rota.week_minutes("t2", next_thu) == 0
    assert rota.week_minutes("t3", WED) == 0  # away all week: g2 is not theirs to hold


# ----------------------------------------------------------------------- whole regions


def test_a_closure_on_a_group_day_reaches_that_groups_clients_only() -> None:
    sites = [site("s1", [WED]), site("s2")]
    g1, g2 = group("g1"), group("g2", "s2")
    found = plan(
        sites,
        [g1, g2],
        [therapist("t1"), therapist("t2")],
        [schedule("c1", g1), schedule("c2", g1), schedule("c3", g2, "t2", "t2")],
    )
    assert entries(found, "c1") == entries(found, "c2") == {(WED, GROUP, SITE_CLOSED)}
    assert entries(found, "c3") == set()
    assert found.new == ()


def test_a_closure_on_an_individual_day_cancels_that_session_only() -> None:
    g1 = group()
    found = plan([site("s1", [SAT])], [g1], [therapist("t1")], [schedule("c1", g1)])
    assert entries(found, "c1") == {(SAT, INDIVIDUAL, SITE_CLOSED)}


def test_an_absent_individual_therapist_cancels_their_sessions_only() -> None:
    g1 = group()
    found = plan(
        [site("s1")],
        [g1],
        [therapist("t1"), therapist("t5", [(SAT, SAT + DAY)])],
        [schedule("c1", g1, "t1", "t5"), schedule("c2", g1)],
    )
    assert entries(found, "c1") == {(SAT, INDIVIDUAL, ABSENT)}
    assert entries(found, "c2") == set()


def test_an_absent_facilitator_gets_a_qualified_substitute_for_each_day_away() -> None:
    g1 = group()
    team = [therapist("t1", [(WED, THU)]), therapist("t2"), therapist("t3", credentials=["LADC"])]
    found = plan([site("s1")], [g1], team, [schedule("c1", g1), schedule("c2", g1, "t1", "t3")])
    assert found.new == (
        Substitution("g1", REGION, WED, "t2", "t1"),
        Substitution("g1", REGION, THU, "t2", "t1"),
    )
    assert entries(found, "c1") == entries(found, "c2") == set()
    assert {s.key for s in found.new} == set(found.standing)


def test_an_absent_facilitator_nobody_can_cover_cancels_the_group_for_all_its_clients() -> None:
    g1 = group()
    team = [
        therapist("t1", [(WED, WED)]),
        therapist("t3", credentials=["LADC"]),
        therapist("t4", [(TODAY, SAT)]),
    ]
    found = plan([site("s1")], [g1], team, [schedule("c1", g1), schedule("c2", g1, "t1", "t3")])
    assert found.new == ()
    assert entries(found, "c1") == entries(found, "c2") == {(WED, GROUP, NO_COVER)}


def test_a_substitute_must_not_clash_with_what_they_hold_that_date() -> None:
    g1, g2 = group("g1"), group("g2", days=("tue",))
    team = [therapist("t1", [(WED, WED)]), therapist("t2"), therapist("t3")]
    # t2 has fewer hours that week than t3 (who runs g2), but sees c2 on Wednesday 18:00.
    c2 = schedule("c2", g2, "t3", "t2", slot=("wed", "18:00", "19:00"), start=TODAY - 7 * DAY)
    found = plan([site("s1")], [g1, g2], team, [schedule("c1", g1), c2])
    assert [(s.day, s.facilitator_id) for s in found.new] == [(WED, "t3")]
    # Once c2's programme has ended (Tuesday), t2 is free that Wednesday, and first.
    c2_done = {**c2, "end_date": (TODAY + DAY).isoformat()}
    found = plan([site("s1")], [g1, g2], team, [schedule("c1", g1), c2_done])
    assert [(s.day, s.facilitator_id) for s in found.new] == [(WED, "t2")]


def test_a_substitute_is_chosen_by_fewest_hours_that_week_then_by_id() -> None:
    g1, g2 = group("g1"), group("g2", days=("tue",))
    team = [therapist("t1", [(WED, WED)]), therapist("t2"), therapist("t6"), therapist("t7")]
    tied = plan([site("s1")], [g1], team, [schedule("c1", g1)])
    assert [s.facilitator_id for s in tied.new] == ["t2"]
    busy_t2 = plan(
        [site("s1")], [g1, g2], team, [schedule("c1", g1), schedule("c2", g2, "t2", "t7")]
    )
    assert [s.facilitator_id for s in busy_t2.new] == ["t6"]


def test_a_substitute_whose_week_would_run_over_is_not_chosen() -> None:
    g1, g2 = group("g1"), group("g2", days=("tue",))
    team = [therapist("t1", [(WED, WED)]), therapist("t2", max_weekly_hours=5)]
    schedules = [schedule("c1", g1), schedule("c2", g2, "t2", "t1")]
    assert plan([site("s1")], [g1, g2], team, schedules).new == ()  # 3 h of g2 + 3 h > 5 h
    roomy = [team[0], therapist("t2", max_weekly_hours=6)]
    assert [s.facilitator_id for s in plan([site("s1")], [g1, g2], roomy, schedules).new] == ["t2"]


def test_a_published_substitution_stands_while_it_still_fits() -> None:
    g1 = group()
    team = [therapist("t1", [(WED, WED)]), therapist("t2"), therapist("t6")]
    earlier = Substitution("g1", REGION, WED, "t6", "t1")  # not who would be chosen today
    found = plan([site("s1")], [g1], team, [schedule("c1", g1)], {earlier.key: earlier})
    assert found.new == ()
    assert found.standing == {earlier.key: earlier}
    assert entries(found, "c1") == set()


def test_a_published_substitute_who_is_now_away_is_replaced() -> None:
    g1 = group()
    team = [therapist("t1", [(WED, WED)]), therapist("t2"), therapist("t6", [(WED, WED)])]
    earlier = Substitution("g1", REGION, WED, "t6", "t1")
    found = plan([site("s1")], [g1], team, [schedule("c1", g1)], {earlier.key: earlier})
    assert found.new == (Substitution("g1", REGION, WED, "t2", "t1"),)


def test_once_the_absence_is_lifted_the_regular_facilitator_runs_the_occurrence() -> None:
    g1 = group()
    earlier = Substitution("g1", REGION, WED, "t2", "t1")
    back = plan(
        [site("s1")],
        [g1],
        [therapist("t1"), therapist("t2")],
        [schedule("c1", g1)],
        {earlier.key: earlier},
    )
    assert back.new == () and back.standing == {}  # nothing retracted, nothing cancelled
    assert entries(back, "c1") == set()


def test_lifting_a_closure_removes_its_entries() -> None:
    g1 = group()
    team = [therapist("t1")]
    closed = plan([site("s1", [WED, SAT])], [g1], team, [schedule("c1", g1)])
    assert entries(closed, "c1") == {(WED, GROUP, SITE_CLOSED), (SAT, INDIVIDUAL, SITE_CLOSED)}
    partly = plan([site("s1", [SAT])], [g1], team, [schedule("c1", g1)])
    assert entries(partly, "c1") == {(SAT, INDIVIDUAL, SITE_CLOSED)}
    lifted = plan([site("s1")], [g1], team, [schedule("c1", g1)])
    assert entries(lifted, "c1") == set()


# ------------------------------------------------------------- the schedule events


def _client(client_id: str) -> dict[str, Any]:
    return {
        "client_id": client_id,
        "region_id": REGION,
        "track": "mental_health",
        "population": "adult",
        "language": "en",
        "preferred_site_ids": ["s1"],
        "availability": [*EVENINGS, {"day": "sat", "start": "09:00", "end": "13:00"}],
        "requested_start": TODAY.isoformat(),
        "program_weeks": 4,
        "contact": {"first_name": "Test"},
    }


def _enrolled(*client_ids: str) -> tuple[Projection, dict[str, CloudEvent]]:
    projection = Projection()
    requests = {}
    for client_id in client_ids:
        request = new_event(
            parse_payload("iop.enrollment.requested", _client(client_id)), source="/t"
        )
        projection.apply(request)
        requests[client_id] = request
    return projection, requests


def _published(projection: Projection, request: CloudEvent, data: dict[str, Any]) -> None:
    payload = parse_payload("iop.client.scheduled", data)
    projection.apply(
        new_event(payload, source=SOURCE, correlationid=request.id, causationid=request.id)
    )


def test_a_newly_scheduled_clients_cancelled_lists_the_closures_ahead() -> None:
    g1 = group()
    projection, _ = _enrolled("c1")
    found = plan([site("s1", [WED])], [g1], [therapist("t1")], [schedule("c1", g1)])
    [answer] = placements(
        projection, REGION, found.stamp({"scheduled": [schedule("c1", g1)]}), today=TODAY
    )
    event = answer.event()
    assert event.type == "iop.client.scheduled"
    assert event.data["cancelled"] == [
        {"date": WED.isoformat(), "kind": "group", "reason": "site_closed"}
    ]


def test_a_closure_reschedules_a_client_in_place_and_lifting_it_restores_them() -> None:
    g1 = group()
    booked = schedule("c1", g1)
    projection, requests = _enrolled("c1")
    _published(projection, requests["c1"], booked)
    open_ = plan([site("s1")], [g1], [therapist("t1")], [booked])
    assert placements(projection, REGION, open_.stamp({"scheduled": [booked]}), today=TODAY) == []
    closed = plan([site("s1", [WED])], [g1], [therapist("t1")], [booked])
    [moved] = placements(projection, REGION, closed.stamp({"scheduled": [booked]}), today=TODAY)
    event = moved.event()
    assert event.type == "iop.client.rescheduled"
    assert event.data["schedule_version"] == 2
    for field in ("group", "individual", "start_date", "end_date"):
        assert (
            event.data[field]
            == parse_payload("iop.client.scheduled", booked).model_dump(mode="json")[field]
        )
    assert event.data["cancelled"] == [
        {"date": WED.isoformat(), "kind": "group", "reason": "site_closed"}
    ]
    projection.apply(event)
    assert placements(projection, REGION, closed.stamp({"scheduled": [booked]}), today=TODAY) == []
    [restored] = placements(projection, REGION, open_.stamp({"scheduled": [booked]}), today=TODAY)
    assert restored.event().data["cancelled"] == []
    assert restored.event().data["schedule_version"] == 3


def test_cancellations_in_the_past_do_not_reschedule_anyone() -> None:
    g1 = group()
    started = schedule("c1", g1, start=TODAY - 14 * DAY)
    past = {"date": (TODAY - 5 * DAY).isoformat(), "kind": "group", "reason": "site_closed"}
    projection, requests = _enrolled("c1")
    _published(projection, requests["c1"], {**started, "cancelled": [past]})
    found = plan([site("s1", [TODAY - 5 * DAY])], [g1], [therapist("t1")], [started])
    assert found.cancelled["c1"] == ()  # counted from today
    stamped = found.stamp({"scheduled": [started]})
    assert placements(projection, REGION, stamped, today=TODAY) == []
    assert len(placements(projection, REGION, stamped)) == 1  # without today: a change


def test_the_solver_keeps_a_schedule_that_carries_cancelled(iop: SimpleNamespace) -> None:
    snap = iop.snapshot(
        therapists=[iop.therapist("t1"), iop.therapist("t2")],
        enrollments=[iop.client("c1"), iop.client("c2")],
    )
    first = iop.solve(snap)
    assert len(first["scheduled"]) == 2
    stamped = []
    for placed in first["scheduled"]:
        day = placed["start_date"]
        cancelled = [{"date": day, "kind": "group", "reason": "site_closed"}]
        stamped.append({**placed, "cancelled": cancelled})
    again = iop.solve({**snap, "schedules": stamped})  # the checker runs inside
    assert again["rescheduled"] == []
    assert sorted(again["scheduled"], key=lambda s: s["client_id"]) == stamped


# --------------------------------------------------------------- the staffing table


def test_the_staffing_table_keeps_the_latest_substitution_and_ignores_read_backs() -> None:
    first = announcement(Substitution("g1", REGION, WED, "t2", "t1"), None)
    second = announcement(Substitution("g1", REGION, WED, "t6", "t1"), None)
    other = announcement(Substitution("g9", "r2", WED, "t8", "t7"), None)
    table = StaffingTable()
    assert table.apply(first) and table.apply(second) and table.apply(other)
    assert not table.apply(first)  # the read-back of the first, after the second
    assert {k: s.facilitator_id for k, s in table.decided(REGION).items()} == {("g1", WED): "t6"}
    table.forget_before(WED + DAY)
    assert table.decided(REGION) == {} and len(table) == 0


def test_a_substitution_is_announced_on_the_staffing_topic_as_caused_by_the_roster_change() -> None:
    trigger = new_event(parse_payload("iop.therapist.retired", {"therapist_id": "t1"}), source="/t")
    event = announcement(Substitution("g1", REGION, WED, "t2", "t1"), trigger)
    assert event.type == "iop.facilitator.substituted"
    assert event.subject == "g1"
    assert event.data == {
        "group_id": "g1",
        "region_id": REGION,
        "date": WED.isoformat(),
        "facilitator_id": "t2",
        "replaces": "t1",
    }
    assert (event.causationid, event.correlationid) == (trigger.id, trigger.id)


def test_every_cancellation_is_a_contract_entry() -> None:
    entry = Cancellation(WED, GROUP, NO_COVER)
    assert entry.as_payload() == {"date": WED.isoformat(), "kind": "group", "reason": "no_cover"}
