"""Completion (SCHEDULING.md rule 12): a placed client completes once, on the day after
``end_date``; the seat is free from then on, and the same client may enrol again. Pure domain
tests: no broker, dates pinned."""

from datetime import date, timedelta
from typing import Any

import pytest
from iop_contracts import CloudEvent, follow_up
from iop_scheduler.domain import Projection, Status, completions, releases
from iop_scheduler.domain.decisions import SOURCE
from iop_scheduler.testing import (
    SCHEDULED_TYPES,
    Producer,
    Running,
    check_schedules,
    enrollment_events,
    eventually,
    latest_by_client,
    roster_events,
    schedule_events,
    settings_for,
    small_region,
    wait_answered,
)

from .test_projection import NET, REGION, at, schedule_for, seeded

END = date(2027, 1, 29)  # schedule_for's end_date


def placed_client(projection: Projection, index: int = 0) -> tuple[dict[str, Any], CloudEvent]:
    client = NET["enrollments"][index]
    request = at("iop.enrollment.requested", client, minute=1)
    projection.apply(request)
    scheduled = follow_up(
        at("iop.client.scheduled", schedule_for(client, NET["groups"][0])).payload(),
        cause=request,
        source=SOURCE,
    )
    projection.apply(scheduled)
    return client, request


def test_nothing_completes_on_or_before_the_end_date() -> None:
    projection = seeded()
    placed_client(projection)
    assert completions(projection, REGION, END) == []
    assert completions(projection, REGION, END - timedelta(days=30)) == []


def test_a_client_completes_once_on_the_day_after_the_end_date() -> None:
    projection = seeded()
    client, request = placed_client(projection)
    [answer] = completions(projection, REGION, END + timedelta(days=1))
    event = answer.event()
    assert event.type == "iop.client.completed"
    assert event.data == {
        "client_id": client["client_id"],
        "region_id": REGION,
        "schedule_version": 1,
        "end_date": END.isoformat(),
    }
    assert event.correlationid == (request.correlationid or request.id)
    assert projection.apply_schedule(event)
    assert not projection.apply_schedule(event)  # read back: a repeat
    assert projection.schedule_of(client["client_id"]).status is Status.COMPLETED
    assert completions(projection, REGION, END + timedelta(days=9)) == []
    assert projection.placed(REGION) == []  # the seat is free
    assert projection.unanswered(REGION) == []  # and nobody is asked again


def test_a_withdrawal_after_completion_gives_up_nothing() -> None:
    projection = seeded()
    client, _ = placed_client(projection)
    [answer] = completions(projection, REGION, END + timedelta(days=1))
    projection.apply_schedule(answer.event())
    withdrawn = {"client_id": client["client_id"], "region_id": REGION}
    projection.apply(at("iop.enrollment.withdrawn", withdrawn, minute=3))
    assert releases(projection, REGION) == []


def test_a_client_who_completed_may_enrol_again_as_a_new_question() -> None:
    projection = seeded()
    client, _ = placed_client(projection)
    [answer] = completions(projection, REGION, END + timedelta(days=1))
    projection.apply_schedule(answer.event())
    again = at("iop.enrollment.requested", client, minute=5)
    _, outcome = projection.apply_enrollment(again)
    assert outcome.value == "new"
    assert [e.request.id for e in projection.unanswered(REGION)] == [again.id]


def test_a_completion_of_a_replaced_schedule_changes_nothing() -> None:
    projection = seeded()
    client, request = placed_client(projection)
    [answer] = completions(projection, REGION, END + timedelta(days=1))
    stale = answer.event()
    moved = schedule_for(client, NET["groups"][1], version=2)
    projection.apply(
        follow_up(at("iop.client.rescheduled", moved).payload(), cause=request, source=SOURCE)
    )
    assert not projection.apply_schedule(stale)
    assert projection.schedule_of(client["client_id"]).status is Status.SCHEDULED


@pytest.mark.integration
async def test_a_restart_past_the_end_dates_completes_each_client_once_and_fills_the_seats(
    kafka_bootstrap: str, unique: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("IOP_TODAY", "2026-12-01")
    net = small_region(f"k{unique}", capacity=10, clients=15)
    requests = enrollment_events(net)
    early, late = requests[:14], requests[14]
    clients = [e.subject or "" for e in early]
    settings = settings_for(kafka_bootstrap, unique)
    async with Producer(kafka_bootstrap) as producer:
        await producer.send_all(roster_events(net))
        async with Running(settings) as running:
            await running.wait_ready()
            await producer.send_all(early)
            first = await wait_answered(kafka_bootstrap, clients, timeout_s=60)
        placed = sorted(c for c, e in first.items() if e.type in SCHEDULED_TYPES)
        waiting = sorted(c for c in clients if c not in placed)
        assert (len(placed), len(waiting)) == (10, 4)
        last_end = max(date.fromisoformat(first[c].data["end_date"]) for c in placed)

        # The scheduler was down while the programmes ended.
        monkeypatch.setenv("IOP_TODAY", (last_end + timedelta(days=1)).isoformat())
        async with Running(settings) as running:
            await running.wait_ready()

            async def seats_taken() -> bool:
                events = await schedule_events(kafka_bootstrap, clients)
                done = {e.subject for e in events if e.type == "iop.client.completed"}
                again = latest_by_client(events)
                return done == set(placed) and all(
                    again[c].type in SCHEDULED_TYPES for c in waiting
                )

            await eventually(seats_taken, timeout_s=60)
        # And once more: nothing completes twice. The late newcomer is answered after the
        # restart's settling of the region (same lane), so by then a repeat would be there.
        async with Running(settings) as running:
            await running.wait_ready()
            await producer.send(late)
            await wait_answered(kafka_bootstrap, [late.subject or ""], timeout_s=60)
    events = await schedule_events(kafka_bootstrap, clients)
    completed = [e for e in events if e.type == "iop.client.completed"]
    assert sorted(e.subject or "" for e in completed) == placed
    for event in completed:
        assert event.data["end_date"] == first[event.subject or ""].data["end_date"]
    filled = latest_by_client(events)
    # Checked as of the day they were placed on (rule 9 counts the admission horizon from it).
    today = {"as_of": (last_end + timedelta(days=1)).isoformat()}
    assert check_schedules({**net, **today}, {c: filled[c] for c in waiting}, waiting) == []
