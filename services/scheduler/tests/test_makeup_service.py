"""Make-ups in the scheduler service (rule 12): `makeup.requested` on the enrollment topic, in its
region's lane, is answered once on the schedule topic, caused by the request; the answer read
back marks it answered, so neither a repeat of the request nor a restart answers it again; a
request for a client who is not scheduled is dead-lettered with the reason. Granted make-ups
hold their seat in every later snapshot (and so for the solver and the next make-up)."""

from datetime import date, timedelta
from typing import Any

import pytest
from iop_contracts import ClientMakeupScheduled, CloudEvent, follow_up, topics, week_of
from iop_contracts.consume import PartitionLanes
from iop_scheduler.domain.decisions import SOURCE
from iop_scheduler.domain.projection import EnrollmentOutcome
from iop_scheduler.solver import validate_output
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

from tests.independent.checker import check

from .test_extension import placed_client
from .test_projection import REGION, at, seeded

TODAY = "2026-12-01"  # small_region's programmes open on it
ANSWERS = ("iop.client.makeup_scheduled", "iop.client.makeup_unavailable")


def request_of(client_id: str, region_id: str, week: str, minute: int = 3) -> CloudEvent:
    data = {"client_id": client_id, "region_id": region_id, "week": week, "hours": 3.0}
    return at("iop.makeup.requested", data, minute=minute)


def granted_for(schedule: dict[str, Any], day: date) -> dict[str, Any]:
    """A make-up payload for the client of ``schedule`` on ``day`` in another group."""
    return {
        "client_id": schedule["client_id"],
        "region_id": schedule["region_id"],
        "week": week_of(day),
        "date": day.isoformat(),
        "group_id": "elsewhere",
        "site_id": schedule["group"]["site_id"],
        "delivery": "in_person",
        "start": "18:00",
        "end": "21:00",
        "facilitator_id": schedule["group"]["facilitator_id"],
        "timezone": schedule["timezone"],
    }


# ----- the projection: answered once, seats in every snapshot -----------------------------------


def test_a_request_answered_is_ignored_when_it_comes_again_or_on_a_rebuild() -> None:
    projection = seeded()
    client, _ = placed_client(projection)
    schedule = projection.schedule_of(client["client_id"]).schedule or {}
    day = date.fromisoformat(schedule["start_date"]) + timedelta(days=7)
    request = request_of(client["client_id"], REGION, week_of(day))
    assert projection.apply_enrollment(request)[1] is EnrollmentOutcome.MAKEUP
    payload = ClientMakeupScheduled.model_validate(granted_for(schedule, day))
    answer = follow_up(payload, cause=request, source=SOURCE)
    assert projection.apply_schedule(answer)
    assert not projection.apply_schedule(answer), "the read-back changes nothing"
    # A rebuild reads the schedule topic before the enrollment topic's unanswered records.
    rebuilt = seeded()
    placed_client(rebuilt)
    rebuilt.apply_schedule(answer)
    assert rebuilt.apply_enrollment(request)[1] is EnrollmentOutcome.IGNORED
    [seat] = rebuilt.snapshot(REGION, include_waiting=False, as_of=day)["makeups"]
    assert (seat["date"], seat["client_id"]) == (day.isoformat(), client["client_id"])


def test_a_snapshot_holds_the_make_ups_of_placed_clients_from_today_on() -> None:
    projection = seeded()
    client, _ = placed_client(projection)
    schedule = projection.schedule_of(client["client_id"]).schedule or {}
    day = date.fromisoformat(schedule["start_date"]) + timedelta(days=7)
    payload = ClientMakeupScheduled.model_validate(granted_for(schedule, day))
    request = request_of(client["client_id"], REGION, week_of(day))
    projection.apply_schedule(follow_up(payload, cause=request, source=SOURCE))
    assert len(projection.snapshot(REGION, include_waiting=False, as_of=day)["makeups"]) == 1
    later = day + timedelta(days=1)
    assert projection.snapshot(REGION, include_waiting=False, as_of=later)["makeups"] == []
    projection.makeups.forget_before(later)  # what the service does as days pass
    assert projection.snapshot(REGION, include_waiting=False, as_of=day)["makeups"] == []
    assert projection.apply_enrollment(request)[1] is EnrollmentOutcome.IGNORED, "still answered"
    withdrawn = at("iop.enrollment.withdrawn", {**client, "region_id": REGION}, minute=5)
    projection.apply(withdrawn)
    assert projection.snapshot(REGION, include_waiting=False, as_of=day)["makeups"] == []


# ----- on the real broker -----------------------------------------------------------------------


async def answers_to(bootstrap: str, request: CloudEvent) -> list[CloudEvent]:
    events = await schedule_events(bootstrap, [request.subject or ""])
    return [e for e in events if e.type in ANSWERS and e.causationid == request.id]


async def answer_to(bootstrap: str, request: CloudEvent) -> CloudEvent:
    async def answered() -> bool:
        return bool(await answers_to(bootstrap, request))

    await eventually(answered, timeout_s=60)
    [answer] = await answers_to(bootstrap, request)
    return answer


def checked(
    net: dict[str, Any], schedules: list[dict[str, Any]], before: list[dict[str, Any]], new: Any
) -> None:
    """Both rule checkers on a make-up answer: the region's schedules unchanged, the make-ups
    granted ``before`` as seats, and the new make-up or refusal."""
    ids = {s["client_id"] for s in schedules}
    snapshot = {
        **{k: net[k] for k in ("sites", "groups", "therapists")},
        "enrollments": [e for e in net["enrollments"] if e["client_id"] in ids],
        "schedules": schedules,
        "makeups": before,
        "as_of": TODAY,
    }
    granted = new.type == "iop.client.makeup_scheduled"
    output = {
        "scheduled": schedules,
        "waitlisted": [],
        "rescheduled": [],
        "makeups": [new.data] if granted else [],
        "makeups_unavailable": [] if granted else [new.data],
    }
    assert [str(f) for f in validate_output(snapshot, output)] == []
    assert check(snapshot, output) == []


async def never_commit(self: PartitionLanes, tp: Any, offset: int) -> bool:
    """A crash after every batch's answers and before its commit, as the broker sees it."""
    return True


@pytest.mark.integration
async def test_make_ups_answered_once_seats_counted_and_nothing_twice_after_restarts(
    kafka_bootstrap: str, unique: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two groups of two seats, three clients: one group is full (a and b), the other has one
    client and one seat. a's make-up takes that seat on its date; b asks for the same week and
    gets another date or groups_full. The first instance never commits, so the next one is
    handed both requests again: they are answered already and get nothing; a third instance
    replays them as history and answers nothing either. A request for nobody is
    dead-lettered with the reason."""
    monkeypatch.setenv("IOP_TODAY", TODAY)
    net = small_region(f"m{unique}", groups=2, capacity=2, clients=3)
    requests = enrollment_events(net)
    clients = [e.subject or "" for e in requests]
    region = str(net["sites"][0]["region_id"])
    week = week_of(date.fromisoformat(TODAY) + timedelta(days=7))

    def ask(client_id: str) -> CloudEvent:
        data = {"client_id": client_id, "region_id": region, "week": week, "hours": 3.0}
        return event_of("iop.makeup.requested", data)

    def sentinel(name: str) -> CloudEvent:
        data = {**net["enrollments"][0], "client_id": f"m{unique}{name}"}
        return event_of("iop.enrollment.requested", data, "/test/intake")

    settings = settings_for(kafka_bootstrap, unique)
    async with Producer(kafka_bootstrap) as producer:
        await producer.send_all(roster_events(net))
        with monkeypatch.context() as crash:
            crash.setattr(PartitionLanes, "commit", never_commit)
            async with Running(settings) as running:
                await running.wait_ready()
                await producer.send_all(requests)
                placed = await wait_answered(kafka_bootstrap, clients, timeout_s=60)
                assert all(placed[c].type in SCHEDULED_TYPES for c in clients)
                schedules = [placed[c].data for c in clients]
                by_group: dict[str, list[str]] = {}
                for s in schedules:
                    by_group.setdefault(s["group"]["group_id"], []).append(s["client_id"])
                [a, b] = next(members for members in by_group.values() if len(members) == 2)

                ask_a, ask_b = ask(a), ask(b)
                await producer.send(ask_a)
                made = await answer_to(kafka_bootstrap, ask_a)
                assert made.type == "iop.client.makeup_scheduled"
                assert made.correlationid == ask_a.correlationid
                checked(net, schedules, [], made)

                await producer.send(ask_b)
                second = await answer_to(kafka_bootstrap, ask_b)
                checked(net, schedules, [made.data], second)
                if second.type == "iop.client.makeup_scheduled":
                    same = (second.data["group_id"], second.data["date"])
                    assert same != (made.data["group_id"], made.data["date"]), "that date is full"
                else:
                    assert "groups_full" in second.data["reasons"]

        nobody = ask(f"m{unique}nobody")
        for name in ("after-crash", "after-restart"):
            async with Running(settings) as running:
                await running.wait_ready()
                if name == "after-crash":
                    await producer.send(nobody)
                last = sentinel(name)
                await producer.send(last)  # the region's lane answers it after the rest
                await wait_answered(kafka_bootstrap, [last.subject or ""], timeout_s=60)

    assert len(await answers_to(kafka_bootstrap, ask_a)) == 1
    assert len(await answers_to(kafka_bootstrap, ask_b)) == 1
    events = await schedule_events(kafka_bootstrap, clients)
    assert latest_by_client(e for e in events if e.type not in ANSWERS) == placed, "nobody moved"
    dlq = await read_topic(kafka_bootstrap, topics.dlq(topics.ENROLLMENT))
    refused = [r for r in dlq if r.event.id == nobody.id]
    assert len(refused) == 1
    reason = refused[0].headers["dlq_reason"].decode()
    assert (
        reason == "make-up not placed: data.client_id: the client is not scheduled in this region"
    )
