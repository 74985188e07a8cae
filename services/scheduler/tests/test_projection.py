"""The region projection on event sequences: repeats, out-of-order roster updates, the client
lifecycle, the solver snapshot, and the decisions drawn from a solver result. No broker."""

from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from iop_contracts import CloudEvent, new_event, parse_payload
from iop_scheduler.domain import Projection, Status, placements, releases
from iop_scheduler.domain.projection import RECENT_IDS
from iop_scheduler.testing import network

NET = network("u", regions=1, sites=2, load=0.5)
REGION = NET["sites"][0]["region_id"]
# Every event time is T0 plus whole minutes: the roster's stale-event guard compares times, so a
# clock reading here would make the outcome depend on when and how slowly the tests run.
T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
ROSTER_KINDS = ("site", "group", "therapist")


def at(event_type: str, data: dict[str, Any], minute: int = 0) -> CloudEvent:
    return new_event(
        parse_payload(event_type, data), source="/t", time=T0 + timedelta(minutes=minute)
    )


def roster_at_t0() -> list[CloudEvent]:
    """The network's roster as upserts, all at T0 (every later test event comes after)."""
    return [at(f"iop.{kind}.upserted", item) for kind in ROSTER_KINDS for item in NET[kind + "s"]]


ROSTER = roster_at_t0()


def seeded() -> Projection:
    projection = Projection()
    for event in ROSTER:
        projection.apply(event)
    return projection


def schedule_for(client: dict[str, Any], group: dict[str, Any], version: int = 1) -> dict[str, Any]:
    therapist = group["facilitator_id"] or NET["therapists"][0]["therapist_id"]
    return {
        "client_id": client["client_id"],
        "region_id": client["region_id"],
        "schedule_version": version,
        "group": {
            "group_id": group["group_id"],
            "site_id": group["site_id"],
            "delivery": group["delivery"],
            "facilitator_id": therapist,
            "sessions": group["sessions"],
        },
        "individual": {
            "therapist_id": therapist,
            "delivery": "in_person",
            "site_id": group["site_id"],
            "day": "sat",
            "start": "09:00",
            "end": "10:00",
        },
        "start_date": "2026-12-05",
        "end_date": "2027-01-29",
        "weekly_hours": 10.0,
        "timezone": "America/Chicago",
    }


# ------------------------------------------------------------------ roster table


def test_an_older_roster_update_arriving_late_does_not_roll_an_entity_back() -> None:
    group = NET["groups"][0]
    projection = seeded()
    newer = at("iop.group.upserted", {**group, "capacity": 5}, minute=10)
    older = at("iop.group.upserted", {**group, "capacity": 9}, minute=5)
    projection.apply(newer)
    projection.apply(older)
    groups = projection.roster.region_roster(REGION)["groups"]
    assert next(g for g in groups if g["group_id"] == group["group_id"])["capacity"] == 5


def test_a_group_read_before_its_site_joins_the_region_when_the_site_arrives() -> None:
    site, group = NET["sites"][0], NET["groups"][0]
    projection = Projection()
    projection.apply(at("iop.group.upserted", group))
    assert projection.roster.region_roster(REGION)["groups"] == []
    affected = projection.apply_roster(at("iop.site.upserted", site))
    assert affected == {REGION}
    assert [g["group_id"] for g in projection.roster.region_roster(REGION)["groups"]] == [
        group["group_id"]
    ]


def test_retirement_is_undone_only_by_a_newer_upsert() -> None:
    group = NET["groups"][0]
    projection = seeded()
    projection.apply(at("iop.group.retired", {"group_id": group["group_id"]}, minute=10))
    projection.apply(at("iop.group.upserted", group, minute=9))  # stale: stays retired
    assert projection.roster.is_retired("group", group["group_id"])
    projection.apply(at("iop.group.upserted", group, minute=11))
    assert not projection.roster.is_retired("group", group["group_id"])


def test_a_copy_of_an_edit_superseded_within_the_same_second_does_not_roll_back() -> None:
    group = NET["groups"][0]
    projection = seeded()
    first = at("iop.group.upserted", {**group, "capacity": 5}, minute=10)
    second = at("iop.group.upserted", {**group, "capacity": 9}, minute=10)  # same second
    for event in (first, second, first):
        projection.apply(event)
    groups = projection.roster.region_roster(REGION)["groups"]
    assert next(g for g in groups if g["group_id"] == group["group_id"])["capacity"] == 9


def test_roster_changes_name_the_regions_they_affect() -> None:
    projection = seeded()
    therapist = NET["therapists"][0]
    changed = at("iop.therapist.upserted", {**therapist, "max_caseload": 1}, minute=1)
    assert projection.apply_roster(changed) == {REGION}
    assert projection.apply_roster(changed) == set(), "a repeated event changes nothing"


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=len(ROSTER) - 1), max_size=40))
def test_replaying_roster_events_any_number_of_times_gives_the_same_table(
    repeats: list[int],
) -> None:
    events = ROSTER
    once = Projection()
    for event in events:
        once.apply(event)
    replayed = Projection()
    for event in events + [events[i] for i in repeats]:
        replayed.apply(event)
    assert replayed.roster.region_roster(REGION) == once.roster.region_roster(REGION)


# ------------------------------------------------------------------ client lifecycle


def test_enrollment_lifecycle_and_duplicates() -> None:
    projection = seeded()
    client = NET["enrollments"][0]
    request = at("iop.enrollment.requested", client)
    projection.apply(request)
    projection.apply(request)
    projection.apply(at("iop.enrollment.requested", client))  # second request, new id
    assert [e.client_id for e in projection.unanswered(REGION)] == [client["client_id"]]
    assert "contact" not in projection.unanswered(REGION)[0].data, "no personal data is kept"

    placed = at("iop.client.scheduled", schedule_for(client, NET["groups"][0]))
    projection.apply(placed)
    assert projection.unanswered(REGION) == []
    assert projection.schedule_of(client["client_id"]).status is Status.SCHEDULED

    withdrawn = at(
        "iop.enrollment.withdrawn",
        {"client_id": client["client_id"], "region_id": REGION},
    )
    projection.apply(withdrawn)
    [freed] = releases(projection, REGION)
    assert freed.payload.model_dump(mode="json")["cause"] == "withdrawn"
    assert freed.event().causationid == withdrawn.id
    assert freed.event().correlationid == request.correlationid
    projection.apply(freed.event())
    assert releases(projection, REGION) == []

    again = at("iop.enrollment.requested", client)  # a returning client
    projection.apply(again)
    assert [e.request.id for e in projection.unanswered(REGION)] == [again.id]
    result = {"scheduled": [schedule_for(client, NET["groups"][0])], "waitlisted": []}
    [answer] = placements(projection, REGION, result)
    assert answer.payload.model_dump()["schedule_version"] == 2, "versions keep rising"
    assert answer.event().causationid == again.id


def test_a_discharge_of_an_unknown_client_changes_nothing() -> None:
    projection = seeded()
    projection.apply(at("iop.client.discharged", {"client_id": "nobody", "region_id": REGION}))
    assert releases(projection, REGION) == []
    assert projection.unanswered(REGION) == []


def test_snapshot_leaves_the_waitlist_out_unless_seats_may_have_freed() -> None:
    projection = seeded()
    first, second, third = NET["enrollments"][:3]
    for client in (first, second, third):
        projection.apply(at("iop.enrollment.requested", client))
    projection.apply(at("iop.client.scheduled", schedule_for(first, NET["groups"][0])))
    projection.apply(
        at(
            "iop.client.waitlisted",
            {"client_id": second["client_id"], "region_id": REGION, "reasons": ["groups_full"]},
        )
    )
    new_only = projection.snapshot(REGION, include_waiting=False)
    assert {e["client_id"] for e in new_only["enrollments"]} == {
        first["client_id"],
        third["client_id"],
    }
    assert [s["client_id"] for s in new_only["schedules"]] == [first["client_id"]]
    retry = projection.snapshot(REGION, include_waiting=True)
    assert len(retry["enrollments"]) == 3
    assert all("contact" not in e for e in retry["enrollments"])


def test_waitlist_order_is_priority_then_age() -> None:
    projection = seeded()
    routine, urgent, step_down = NET["enrollments"][:3]
    projection.apply(at("iop.enrollment.requested", {**routine, "priority": "routine"}))
    projection.apply(at("iop.enrollment.requested", {**urgent, "priority": "urgent"}))
    projection.apply(at("iop.enrollment.requested", {**step_down, "priority": "step_down"}))
    order = [e.client_id for e in projection.region(REGION)]
    assert order == [urgent["client_id"], step_down["client_id"], routine["client_id"]]


# ------------------------------------------------------------------ decisions


def test_decisions_publish_only_changes() -> None:
    projection = seeded()
    kept, moved, waiting, lost = NET["enrollments"][:4]
    group, other_group = NET["groups"][0], NET["groups"][1]
    for client in (kept, moved, waiting, lost):
        projection.apply(at("iop.enrollment.requested", client))
    projection.apply(at("iop.client.scheduled", schedule_for(kept, group)))
    projection.apply(at("iop.client.scheduled", schedule_for(moved, group, version=3)))
    projection.apply(
        at(
            "iop.client.waitlisted",
            {"client_id": waiting["client_id"], "region_id": REGION, "reasons": ["groups_full"]},
        )
    )
    projection.apply(at("iop.client.scheduled", schedule_for(lost, other_group)))
    retire = at("iop.group.retired", {"group_id": other_group["group_id"]}, minute=1)
    projection.apply(retire)

    result = {
        "scheduled": [schedule_for(kept, group), schedule_for(moved, other_group, version=4)],
        "waitlisted": [
            {"client_id": waiting["client_id"], "reasons": ["groups_full"]},
            {"client_id": lost["client_id"], "reasons": ["groups_full"], "detail": "x"},
        ],
    }
    answers = placements(projection, REGION, result, trigger=retire)
    got = [(a.client_id, a.event().type) for a in answers]
    assert got == [
        (moved["client_id"], "iop.client.rescheduled"),
        (lost["client_id"], "iop.client.unscheduled"),
        (lost["client_id"], "iop.client.waitlisted"),
    ]
    assert answers[0].payload.model_dump()["schedule_version"] == 4
    assert answers[1].payload.model_dump(mode="json")["cause"] == "group_retired"
    assert all(a.event().causationid == retire.id for a in answers)


# ------------------------------------------------------------------ repeats, bounded memory


def test_copies_of_an_earlier_enrollment_change_nothing_once_the_client_enrolled_again() -> None:
    projection = seeded()
    client = NET["enrollments"][0]
    ids = {"client_id": client["client_id"], "region_id": REGION}
    first = at("iop.enrollment.requested", client)
    first_end = at("iop.enrollment.withdrawn", ids)
    second = at("iop.enrollment.requested", client)
    for event in (first, first_end, second, first_end, first):  # then copies of the first two
        projection.apply(event)
    [current] = projection.region(REGION)
    assert current.request.id == second.id and current.active, "the copied withdrawal ended nothing"

    second_end = at("iop.client.discharged", ids)
    projection.apply(second_end)
    projection.apply(second)  # a copy of the request of the enrollment that just ended
    [current] = projection.region(REGION)
    assert current.request.id == second.id and not current.active, "no enrollment reopened"


def test_schedule_events_read_back_after_newer_ones_change_nothing() -> None:
    # The scheduler applies its events once acknowledged; the topic tail reads them back later.
    projection = seeded()
    client = NET["enrollments"][0]
    ids = {"client_id": client["client_id"], "region_id": REGION}
    projection.apply(at("iop.enrollment.requested", client))
    published = [
        at("iop.client.waitlisted", {**ids, "reasons": ["groups_full"]}),
        at("iop.client.scheduled", schedule_for(client, NET["groups"][0], version=1)),
        at("iop.client.unscheduled", {**ids, "cause": "withdrawn"}),
    ]
    assert all(projection.apply_schedule(event) for event in published)
    assert not any(projection.apply_schedule(event) for event in published), "all read back"
    state = projection.schedule_of(client["client_id"])
    assert (state.status, state.version, state.schedule) == (Status.UNSCHEDULED, 1, None)


def test_an_old_schedule_is_known_by_its_version_however_many_events_came_after() -> None:
    projection = seeded()
    client = NET["enrollments"][0]
    ids = {"client_id": client["client_id"], "region_id": REGION}
    placed = at("iop.client.scheduled", schedule_for(client, NET["groups"][0], version=1))
    projection.apply(placed)
    for _ in range(RECENT_IDS):  # enough unversioned events to push its id out of memory
        projection.apply(at("iop.client.unscheduled", {**ids, "cause": "withdrawn"}))
        projection.apply(at("iop.client.waitlisted", {**ids, "reasons": ["groups_full"]}))
    assert not projection.apply_schedule(placed)
    assert projection.schedule_of(client["client_id"]).status is Status.WAITLISTED


def test_a_region_rebuilt_after_a_revocation_matches_the_one_forgotten() -> None:
    projection = seeded()
    returning, other = NET["enrollments"][:2]
    ids = {"client_id": returning["client_id"], "region_id": REGION}
    history = [
        at("iop.enrollment.requested", returning),
        at("iop.enrollment.requested", other),
        at("iop.enrollment.withdrawn", ids),
        at("iop.enrollment.requested", returning),
    ]
    for event in history:
        projection.apply(event)
    before = [(e.client_id, e.request.id, e.active) for e in projection.region(REGION)]
    projection.forget_regions({REGION})
    assert projection.region(REGION) == []
    for event in history:  # the partition's history, read again on the next assignment
        projection.apply(event)
    assert [(e.client_id, e.request.id, e.active) for e in projection.region(REGION)] == before
    assert len(before) == 2


def client_history() -> list[CloudEvent]:
    """One client on both topics: placed, withdrawn and released, back again and waiting."""
    client = NET["enrollments"][0]
    ids = {"client_id": client["client_id"], "region_id": REGION}
    group = NET["groups"][0]
    return [
        at("iop.enrollment.requested", client),
        at("iop.client.waitlisted", {**ids, "reasons": ["groups_full"]}),
        at("iop.client.scheduled", schedule_for(client, group, version=1)),
        at("iop.client.rescheduled", schedule_for(client, NET["groups"][1], version=2)),
        at("iop.enrollment.withdrawn", ids),
        at("iop.client.unscheduled", {**ids, "cause": "withdrawn"}),
        at("iop.enrollment.requested", client),
        at("iop.enrollment.requested", client),  # a second request while the first is open
        at("iop.client.waitlisted", {**ids, "reasons": ["groups_full"]}),
    ]


def region_state(events: list[CloudEvent]) -> tuple[Any, ...]:
    projection = seeded()
    for event in events:
        projection.apply(event)
    client_id = NET["enrollments"][0]["client_id"]
    enrollments = [(e.request.id, e.active, e.ended_by) for e in projection.region(REGION)]
    return tuple(enrollments), projection.schedule_of(client_id)


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_copies_read_anywhere_after_their_original_change_nothing(data: st.DataObject) -> None:
    # Fewer than RECENT_IDS events per topic: every copy is within the remembered ids.
    history = client_history()
    replayed = list(history)
    for _ in range(data.draw(st.integers(min_value=1, max_value=12))):
        original = history[data.draw(st.integers(min_value=0, max_value=len(history) - 1))]
        first = replayed.index(original) + 1
        replayed.insert(data.draw(st.integers(min_value=first, max_value=len(replayed))), original)
    assert region_state(replayed) == region_state(history)
    [(request_id, active, _)] = region_state(history)[0]
    assert request_id == history[6].id and active
