"""Extensions (SCHEDULING.md rule 12): a treatment-plan review lengthens a scheduled client's
programme; the scheduler keeps group, therapist and slot over the added weeks when the rules
allow, announced as `client.rescheduled`, or declines and the old schedule stands."""

from datetime import date, timedelta
from typing import Any

import pytest
from iop_contracts import ClientScheduled, CloudEvent, follow_up
from iop_scheduler.adapters.snapshot import problem_of, solve_snapshot
from iop_scheduler.domain import Projection, extension_declined
from iop_scheduler.domain.decisions import SOURCE
from iop_scheduler.domain.projection import EnrollmentOutcome, weeks_of
from iop_scheduler.solver import SolveSettings, extension_reasons
from iop_scheduler.testing import (
    SCHEDULED_TYPES,
    Producer,
    Running,
    enrollment_events,
    event_of,
    eventually,
    latest_by_client,
    roster_events,
    schedule_events,
    settings_for,
    small_region,
    wait_answered,
)

from .test_projection import NET, REGION, at, seeded

FAST = SolveSettings(time_limit_s=3.0, workers=4)


def placed_client(projection: Projection) -> tuple[dict[str, Any], CloudEvent]:
    """The network's first client the solver places, placed in the projection by a real
    schedule (so that the solver's own admission of kept schedules keeps it)."""
    for client in NET["enrollments"]:
        request = at("iop.enrollment.requested", client, minute=1)
        projection.apply(request)
        out = solve_snapshot(projection.snapshot(REGION, include_waiting=False), FAST)
        mine = [s for s in out["scheduled"] if s["client_id"] == client["client_id"]]
        if mine:
            payload = ClientScheduled.model_validate(mine[0])
            projection.apply(follow_up(payload, cause=request, source=SOURCE))
            return client, request
        projection.apply(at("iop.enrollment.withdrawn", {**client, "region_id": REGION}, 1))
    raise AssertionError("the network places nobody")


def end_of(projection: Projection, client: dict[str, Any]) -> date:
    schedule = projection.schedule_of(client["client_id"]).schedule or {}
    return date.fromisoformat(schedule["end_date"])


def extension_of(client: dict, weeks: int, minute: int = 2):  # type: ignore[no-untyped-def]
    return at(
        "iop.enrollment.extended",
        {"client_id": client["client_id"], "region_id": REGION, "program_weeks": weeks},
        minute=minute,
    )


def test_an_extension_of_a_placed_client_waits_to_be_weighed() -> None:
    projection = seeded()
    client, _ = placed_client(projection)
    assert weeks_of(projection.schedule_of(client["client_id"]).schedule or {}) == 8
    _, outcome = projection.apply_enrollment(extension_of(client, 12))
    assert outcome is EnrollmentOutcome.EXTENDED
    [pending] = projection.pending_extensions(REGION)
    weighed = projection.snapshot(REGION, include_waiting=False, extend={client["client_id"]: 12})
    [schedule] = weighed["schedules"]
    assert schedule["end_date"] == (end_of(projection, client) + timedelta(weeks=4)).isoformat()
    mine = [e for e in weighed["enrollments"] if e["client_id"] == client["client_id"]]
    assert mine[0]["program_weeks"] == 12
    assert extension_reasons(problem_of(weighed), client["client_id"]) == []
    projection.settle_extension(pending, accepted=True)
    assert projection.pending_extensions(REGION) == []
    later = projection.snapshot(REGION, include_waiting=False)
    assert later["schedules"][0]["end_date"] == schedule["end_date"], "accepted: it stays longer"


def test_an_extension_that_does_not_lengthen_or_of_an_unplaced_client_is_ignored() -> None:
    projection = seeded()
    client, _ = placed_client(projection)
    assert projection.apply_enrollment(extension_of(client, 8))[1] is EnrollmentOutcome.IGNORED
    assert projection.apply_enrollment(extension_of(client, 6))[1] is EnrollmentOutcome.IGNORED
    stranger = {"client_id": "nobody"}
    assert projection.apply_enrollment(extension_of(stranger, 12))[1] is EnrollmentOutcome.IGNORED


def test_a_declined_extension_read_back_is_not_weighed_again_on_a_rebuild() -> None:
    projection = seeded()
    client, _ = placed_client(projection)
    extension = extension_of(client, 12)
    projection.apply_enrollment(extension)
    [pending] = projection.pending_extensions(REGION)
    refusal = extension_declined(pending, ["groups_full"]).event()
    assert refusal.type == "iop.client.extension_declined"
    assert refusal.causationid == extension.id and refusal.data["reasons"] == ["groups_full"]
    # A rebuild reads the schedule topic (the refusal) before replaying the enrollment topic.
    rebuilt = seeded()
    placed_client(rebuilt)
    rebuilt.apply_schedule(refusal)
    assert rebuilt.apply_enrollment(extension)[1] is EnrollmentOutcome.IGNORED
    assert rebuilt.pending_extensions(REGION) == []


def test_a_schedule_that_no_longer_fits_over_the_added_weeks_is_declined() -> None:
    """The check is the solver's own admission of kept schedules: here a roster change took
    the group's seat away, and the reason says so."""
    projection = seeded()
    client, _ = placed_client(projection)
    weighed = projection.snapshot(REGION, include_waiting=False, extend={client["client_id"]: 12})
    group_id = weighed["schedules"][0]["group"]["group_id"]
    for group in weighed["groups"]:
        if group["group_id"] == group_id:
            group["capacity"] = 0
    assert extension_reasons(problem_of(weighed), client["client_id"]) == ["groups_full"]


@pytest.mark.integration
async def test_an_extension_is_answered_with_the_same_placement_over_more_weeks(
    kafka_bootstrap: str, unique: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("IOP_TODAY", "2026-12-01")
    net = small_region(f"x{unique}", capacity=10, clients=3)
    requests = enrollment_events(net)
    clients = [e.subject or "" for e in requests]
    settings = settings_for(kafka_bootstrap, unique)
    async with Producer(kafka_bootstrap) as producer:
        await producer.send_all(roster_events(net))
        async with Running(settings) as running:
            await running.wait_ready()
            await producer.send_all(requests)
            first = await wait_answered(kafka_bootstrap, clients, timeout_s=60)
            target = clients[0]
            assert first[target].type in SCHEDULED_TYPES
            region = str(first[target].data["region_id"])
            extension = event_of(
                "iop.enrollment.extended",
                {"client_id": target, "region_id": region, "program_weeks": 12},
            )
            await producer.send(extension)

            async def rescheduled() -> bool:
                latest = latest_by_client(await schedule_events(kafka_bootstrap, [target]))
                return latest[target].type == "iop.client.rescheduled"

            await eventually(rescheduled, timeout_s=60)
    events = await schedule_events(kafka_bootstrap, clients)
    before, after = first[target].data, latest_by_client(events)[target]
    assert after.causationid == extension.id
    assert after.data["schedule_version"] == before["schedule_version"] + 1
    for same in ("group", "individual", "start_date"):
        assert after.data[same] == before[same]
    start = date.fromisoformat(before["start_date"])
    assert after.data["end_date"] == (start + timedelta(weeks=12, days=-1)).isoformat()
    others = [e for e in events if e.subject != target]
    assert len(others) == 2, "nobody else was touched"
