"""Closures and absences on the real broker (rule 11): a site closed on a group's meeting day
re-publishes exactly that group's clients, in place, with the cancelled date, and lifting the
closure restores them; an absent facilitator gets a substitute published once on
iop.staffing.v1 (qualified that date, never again after a restart), or the occurrence is
cancelled for the group. Today is pinned and every date is built from the first answers."""

from collections.abc import Iterable
from datetime import date, timedelta
from typing import Any

import iop_scheduler.service as service_module
import pytest
from iop_contracts import CloudEvent, topics
from iop_scheduler.domain.calendar import (
    DatedRoster,
    substitute_can_hold,
    substitute_credentialed,
    substitute_present,
)
from iop_scheduler.testing import (
    SCHEDULED_TYPES,
    Producer,
    Running,
    enrollment_events,
    event_of,
    eventually,
    latest_by_client,
    read_topic,
    roster_events,
    schedule_events,
    settings_for,
    small_region,
    wait_answered,
)

pytestmark = pytest.mark.integration

TODAY = "2026-12-01"
PLACEMENT = ("group", "individual", "start_date", "end_date", "weekly_hours", "timezone")
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def two_sites(prefix: str) -> dict[str, Any]:
    """One region, two sites with a group, two therapists and three clients each; a site's
    clients and therapists reach only that site, so a closure of one touches only its own."""
    first, second = (
        small_region(prefix + "a", clients=3, therapists=2),
        small_region(prefix + "b", clients=3, therapists=2),
    )
    region = first["sites"][0]["region_id"]
    for item in (*second["sites"], *second["enrollments"]):
        item["region_id"] = region
    return {
        key: first[key] + second[key] for key in ("sites", "groups", "therapists", "enrollments")
    }


def first_meeting(sessions: Iterable[dict[str, str]], after: date, weekday: str) -> date:
    """The first date on or after ``after`` that is a ``weekday`` the group meets on."""
    assert weekday in {s["day"] for s in sessions}
    day = after
    while DAYS[day.weekday()] != weekday:
        day += timedelta(days=1)
    return day


def per_client(events: Iterable[CloudEvent]) -> dict[str, list[CloudEvent]]:
    found: dict[str, list[CloudEvent]] = {}
    for event in events:
        found.setdefault(event.subject or "", []).append(event)
    return found


async def answer_sentinel(producer: Producer, bootstrap: str, request: CloudEvent) -> None:
    """Send one more enrollment of the region and wait for its answer: the region's lane
    settles in order, so whatever an earlier settle published is on the topic by then."""
    await producer.send(request)
    await wait_answered(bootstrap, [request.subject or ""], timeout_s=60)


async def test_a_closure_on_a_group_day_reschedules_exactly_its_clients_in_place(
    kafka_bootstrap: str, unique: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("IOP_TODAY", TODAY)
    net = two_sites(f"x{unique}")
    requests = enrollment_events(net)
    sentinels = requests[2::3]  # one client of each site waits to be the sentinel
    clients = [e.subject or "" for e in requests if e not in sentinels]
    site = net["sites"][0]
    async with Producer(kafka_bootstrap) as producer:
        await producer.send_all(roster_events(net))
        async with Running(settings_for(kafka_bootstrap, unique)) as running:
            await running.wait_ready()
            await producer.send_all([e for e in requests if e not in sentinels])
            before = await wait_answered(kafka_bootstrap, clients, timeout_s=60)
            assert all(before[c].type == "iop.client.scheduled" for c in clients)
            assert all(before[c].data["cancelled"] == [] for c in clients)
            members = [c for c in clients if before[c].data["group"]["site_id"] == site["site_id"]]
            others = [c for c in clients if c not in members]
            assert len(members) == len(others) == 2
            group = before[members[0]].data["group"]
            latest_start = max(date.fromisoformat(before[c].data["start_date"]) for c in members)
            closed = first_meeting(group["sessions"], latest_start + timedelta(days=7), "mon")
            closure = event_of("iop.site.upserted", {**site, "closed_dates": [closed.isoformat()]})
            await producer.send(closure)

            async def members_rescheduled() -> bool:
                latest = latest_by_client(await schedule_events(kafka_bootstrap, members))
                return all(latest[c].causationid == closure.id for c in members)

            await eventually(members_rescheduled, timeout_s=60)
            await answer_sentinel(producer, kafka_bootstrap, sentinels[0])
            closed_events = per_client(await schedule_events(kafka_bootstrap, clients))
            [newcomer] = await schedule_events(kafka_bootstrap, [sentinels[0].subject or ""])

            lifted = event_of("iop.site.upserted", site)
            await producer.send(lifted)

            async def members_restored() -> bool:
                latest = latest_by_client(await schedule_events(kafka_bootstrap, members))
                return all(latest[c].causationid == lifted.id for c in members)

            await eventually(members_restored, timeout_s=60)
            await answer_sentinel(producer, kafka_bootstrap, sentinels[1])

    # A client placed at the site while it is closed that day learns it with the first schedule.
    assert newcomer.type == "iop.client.scheduled"
    assert newcomer.data["group"]["group_id"] == group["group_id"]
    assert date.fromisoformat(newcomer.data["start_date"]) < closed
    closure_entry = {"date": closed.isoformat(), "kind": "group", "reason": "site_closed"}
    assert closure_entry in newcomer.data["cancelled"]
    for client_id in others:
        assert closed_events[client_id] == [before[client_id]], "nobody else is touched"
    for client_id in members:
        first, moved = closed_events[client_id]
        assert moved.type == "iop.client.rescheduled"
        assert moved.data["schedule_version"] == 2
        assert {f: moved.data[f] for f in PLACEMENT} == {f: first.data[f] for f in PLACEMENT}
        held_that_day = moved.data["individual"]["day"] == "mon"
        expected = [{"date": closed.isoformat(), "kind": "group", "reason": "site_closed"}]
        if held_that_day:  # the site holds nothing that day: the individual session goes too
            expected.append(
                {"date": closed.isoformat(), "kind": "individual", "reason": "site_closed"}
            )
        assert moved.data["cancelled"] == expected
    after = per_client(await schedule_events(kafka_bootstrap, clients))
    for client_id in others:
        assert after[client_id] == [before[client_id]]
    for client_id in members:
        assert len(after[client_id]) == 3, "one reschedule to close, one to reopen"
        restored = after[client_id][-1]
        assert restored.data["schedule_version"] == 3
        assert restored.data["cancelled"] == []
        assert {f: restored.data[f] for f in PLACEMENT} == {
            f: before[client_id].data[f] for f in PLACEMENT
        }


async def absent_facilitator(
    bootstrap: str, unique: str, therapists: int
) -> tuple[dict[str, Any], dict[str, CloudEvent], CloudEvent, date]:
    """A one-group region whose clients are placed; then the group's facilitator is away on a
    Wednesday the group meets; then the scheduler restarts and settles the region again.
    Returns the network, the first answers, the absence and its date."""
    net = small_region(f"y{unique}", clients=4, therapists=therapists)
    requests = enrollment_events(net)
    clients = [e.subject or "" for e in requests[:3]]
    settings = settings_for(bootstrap, unique)
    async with Producer(bootstrap) as producer:
        await producer.send_all(roster_events(net))
        async with Running(settings) as running:
            await running.wait_ready()
            await producer.send_all(requests[:3])
            before = await wait_answered(bootstrap, clients, timeout_s=60)
            assert all(before[c].type in SCHEDULED_TYPES for c in clients)
            group = before[clients[0]].data["group"]
            latest_start = max(date.fromisoformat(before[c].data["start_date"]) for c in clients)
            away = first_meeting(group["sessions"], latest_start + timedelta(days=7), "wed")
            absent = next(
                t for t in net["therapists"] if t["therapist_id"] == group["facilitator_id"]
            )
            span = {"start_date": away.isoformat(), "end_date": away.isoformat()}
            absence = event_of("iop.therapist.upserted", {**absent, "absences": [span]})
            await producer.send(absence)

            async def decided() -> bool:
                staffing = await substitutions(bootstrap, group["group_id"])
                latest = latest_by_client(await schedule_events(bootstrap, clients))
                return bool(staffing) or all(latest[c].causationid == absence.id for c in clients)

            await eventually(decided, timeout_s=60)
        # A restart rebuilds everything and settles the region again: nothing is decided twice.
        async with Running(settings) as running:
            await running.wait_ready()
            await answer_sentinel(producer, bootstrap, requests[3])
    return net, before, absence, away


def individual_entries(schedule: CloudEvent, absent: str, away: date) -> list[dict[str, str]]:
    """The individual session the absence cancels, if the client sees that therapist then."""
    individual = schedule.data["individual"]
    if individual["therapist_id"] != absent or individual["day"] != DAYS[away.weekday()]:
        return []
    return [{"date": away.isoformat(), "kind": "individual", "reason": "therapist_absent"}]


async def test_an_absent_facilitator_is_covered_once_by_a_qualified_substitute(
    kafka_bootstrap: str, unique: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("IOP_TODAY", TODAY)
    # Three therapists who all qualify; the others hold only individual sessions of the group's
    # own clients, never during the group: somebody is free.
    net, before, absence, away = await absent_facilitator(kafka_bootstrap, unique, therapists=3)
    clients = sorted(before)
    group = before[clients[0]].data["group"]
    facilitator = group["facilitator_id"]
    staffing = await substitutions(kafka_bootstrap, group["group_id"])
    assert len(staffing) == 1, "published once, and not again after the restart"
    [substituted] = staffing
    assert substituted.causationid == absence.id
    assert substituted.data["date"] == away.isoformat()
    assert substituted.data["replaces"] == facilitator
    assert substituted.data["region_id"] == net["sites"][0]["region_id"]
    chosen = substituted.data["facilitator_id"]
    assert chosen != facilitator
    roster = DatedRoster.parse(
        {
            **net,
            "therapists": [
                absence.data,
                *(t for t in net["therapists"] if t["therapist_id"] != facilitator),
            ],
        }
    )
    therapist = roster.therapists[chosen]
    roster_group = roster.groups[group["group_id"]]
    assert substitute_credentialed(therapist, roster_group)
    assert substitute_can_hold(therapist, roster_group, away)
    assert substitute_present(roster, chosen, away)
    events = per_client(await schedule_events(kafka_bootstrap, clients))
    for client_id in clients:
        expected = individual_entries(before[client_id], facilitator, away)
        assert events[client_id][-1].data["cancelled"] == expected, "the group meets that day"
        assert len(events[client_id]) == (2 if expected else 1), "only the touched are re-sent"


async def test_an_absent_facilitator_nobody_can_cover_cancels_the_group_for_everyone(
    kafka_bootstrap: str, unique: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("IOP_TODAY", TODAY)
    _, before, absence, away = await absent_facilitator(kafka_bootstrap, unique, therapists=1)
    clients = sorted(before)
    group = before[clients[0]].data["group"]
    assert await substitutions(kafka_bootstrap, group["group_id"]) == []
    events = per_client(await schedule_events(kafka_bootstrap, clients))
    for client_id in clients:
        assert len(events[client_id]) == 2, "one reschedule each, not repeated by the restart"
        moved = events[client_id][-1]
        assert moved.type == "iop.client.rescheduled" and moved.causationid == absence.id
        assert {f: moved.data[f] for f in PLACEMENT} == {
            f: before[client_id].data[f] for f in PLACEMENT
        }
        group_entry = {"date": away.isoformat(), "kind": "group", "reason": "no_cover"}
        assert moved.data["cancelled"] == [
            group_entry,
            *individual_entries(before[client_id], group["facilitator_id"], away),
        ]


async def test_a_calendar_failure_is_retried_and_dead_letters_nobody(
    kafka_bootstrap: str, unique: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("IOP_TODAY", TODAY)
    net = small_region(f"z{unique}", clients=3)
    requests = enrollment_events(net)
    clients = [e.subject or "" for e in requests]
    calls = {"failed": 0, "broken": 1}
    real = service_module.plan_region

    def flaky(*args: Any, **kwargs: Any) -> Any:
        if calls["broken"]:
            calls["failed"] += 1
            raise ValueError("a calendar bug")
        return real(*args, **kwargs)

    monkeypatch.setattr(service_module, "plan_region", flaky)
    settings = settings_for(kafka_bootstrap, unique, retry_backoff_s=0.2)
    async with Producer(kafka_bootstrap) as producer:
        await producer.send_all(roster_events(net))
        async with Running(settings) as running:
            await running.wait_ready()
            await producer.send_all(requests)

            async def retried() -> bool:
                return calls["failed"] >= 3

            await eventually(retried, timeout_s=60)
            assert await schedule_events(kafka_bootstrap, clients) == []
            calls["broken"] = 0
            latest = await wait_answered(kafka_bootstrap, clients, timeout_s=60)
    assert all(latest[c].type == "iop.client.scheduled" for c in clients)
    dlq = await read_topic(kafka_bootstrap, topics.dlq(topics.ENROLLMENT))
    assert [r for r in dlq if r.event.subject in clients] == []


async def substitutions(bootstrap: str, group_id: str) -> list[CloudEvent]:
    records = await read_topic(bootstrap, topics.STAFFING)
    return [r.event for r in records if r.event.subject == group_id]
