"""The walking skeleton on the real broker: roster and enrollments in, schedule events out,
poison records to the dead-letter topic, repeated events ignored, health and metrics served."""

import logging

import httpx
import pytest
from iop_contracts import CONTENT_TYPE, topics
from iop_scheduler.app import create_app
from iop_scheduler.testing import (
    SCHEDULED_TYPES,
    Producer,
    Running,
    check_schedules,
    enrollment_events,
    event_of,
    eventually,
    interleaved,
    network,
    read_topic,
    roster_events,
    schedule_events,
    settings_for,
    small_region,
    wait_answered,
)

pytestmark = pytest.mark.integration


async def test_enrollments_are_answered_with_valid_schedules(
    kafka_bootstrap: str, unique: str
) -> None:
    net = network(f"s{unique}", load=0.3)
    enrollments = enrollment_events(net)[:12]
    clients = [e.subject or "" for e in enrollments]
    async with Producer(kafka_bootstrap) as producer:
        await producer.send_all(roster_events(net))
        async with Running(settings_for(kafka_bootstrap, unique)) as running:
            await running.wait_ready()
            await producer.send_all(enrollments)
            latest = await wait_answered(kafka_bootstrap, clients, timeout_s=60)

    placed = [e for e in latest.values() if e.type in SCHEDULED_TYPES]
    assert len(placed) >= 6, "a lightly loaded region places most of its clients"
    assert check_schedules(net, latest, clients) == []
    by_id = {e.subject: e for e in enrollments}
    for client_id, event in latest.items():
        cause = by_id[client_id]
        assert event.causationid == cause.id
        assert event.correlationid == cause.correlationid
        assert event.source == "/iop/scheduler"
        assert event.data["client_id"] == client_id
        if event.type in SCHEDULED_TYPES:
            assert event.data["schedule_version"] == 1
    records = [
        r
        for r in await read_topic(kafka_bootstrap, topics.SCHEDULE)
        if r.key in {c.encode() for c in clients}
    ]
    assert len(records) == len(clients), "one answer per client, nothing more"
    for record in records:
        assert record.headers["content-type"] == CONTENT_TYPE.encode()
        assert record.headers["ce_id"].decode() == record.event.id
        assert record.headers["ce_type"].decode() == record.event.type
        assert b"contact" not in (record.value or b"")


async def test_poison_records_are_dead_lettered_and_the_consumer_moves_on(
    kafka_bootstrap: str, unique: str
) -> None:
    net = network(f"p{unique}", load=0.3)
    region = net["sites"][0]["region_id"]
    good = enrollment_events(net)[0]
    unknown_region = event_of(
        "iop.enrollment.requested",
        {**net["enrollments"][1], "region_id": f"nowhere{unique}"},
        "/test/intake",
    )
    async with Producer(kafka_bootstrap) as producer:
        await producer.send_all(roster_events(net))
        async with Running(settings_for(kafka_bootstrap, unique)) as running:
            await running.wait_ready()
            await producer.send_raw(topics.ENROLLMENT, b"{not json", key=region.encode())
            await producer.send_raw(
                topics.ENROLLMENT,
                b'{"specversion": "1.0", "id": "x", "source": "/t", "type": '
                b'"iop.enrollment.requested", "time": "2026-11-26T00:00:00Z", "data": '
                b'{"client_id": "c", "contact": {"first_name": "Secret"}}}',
                key=region.encode(),
            )
            await producer.send(unknown_region)
            await producer.send(good)
            await wait_answered(kafka_bootstrap, [good.subject or ""], timeout_s=60)

            async def dead_lettered() -> bool:
                dlq = await read_topic(kafka_bootstrap, topics.dlq(topics.ENROLLMENT))
                keys = (region.encode(), f"nowhere{unique}".encode())
                return len([r for r in dlq if r.key in keys]) >= 3

            await eventually(dead_lettered, timeout_s=20)
    dlq = await read_topic(kafka_bootstrap, topics.dlq(topics.ENROLLMENT))
    reasons = [r.headers["dlq_reason"].decode() for r in dlq]
    assert any(reason.startswith("value: not UTF-8 JSON") for reason in reasons)
    assert any("data.region_id" in reason for reason in reasons)
    assert all("Secret" not in reason for reason in reasons), "no personal data in a reason"
    assert all(r.headers["dlq_consumer"] == f"scheduler-{unique}".encode() for r in dlq)


async def test_a_repeated_event_or_second_request_changes_nothing(
    kafka_bootstrap: str, unique: str
) -> None:
    net = network(f"d{unique}", load=0.3)
    first = enrollment_events(net)[0]
    again = enrollment_events(net)[0]  # same client, new event id
    last = enrollment_events(net)[1]
    async with Producer(kafka_bootstrap) as producer:
        await producer.send_all(roster_events(net))
        async with Running(settings_for(kafka_bootstrap, unique)) as running:
            await running.wait_ready()
            await producer.send(first)
            await producer.send(first)
            await producer.send(again)
            await producer.send(last)
            # `last` comes after the repeats on the region's partition: once it is answered,
            # the repeats have been processed too.
            await wait_answered(kafka_bootstrap, [last.subject or ""], timeout_s=60)
    events = await schedule_events(kafka_bootstrap, [first.subject or ""])
    assert len(events) == 1
    assert events[0].causationid == first.id


async def test_health_and_metrics(kafka_bootstrap: str, unique: str) -> None:
    settings = settings_for(kafka_bootstrap, unique)
    running = Running(settings)
    transport = httpx.ASGITransport(app=running.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://scheduler") as http:
        assert (await http.get("/health/ready")).status_code == 503
        async with running:
            await running.wait_ready()
            assert (await http.get("/health/live")).status_code == 200
            assert (await http.get("/health/ready")).status_code == 200
            # The lag gauge is set as records are delivered: give this test its own record.
            net = small_region(f"h{unique}", clients=1)
            async with Producer(kafka_bootstrap) as producer:
                await producer.send_all([*roster_events(net), *enrollment_events(net)])

            async def lag_reported() -> bool:
                return b"scheduler_consumer_lag{partition=" in (await http.get("/metrics")).content

            await eventually(lag_reported, timeout_s=10)
            metrics = await http.get("/metrics")
            assert metrics.status_code == 200
            assert b"scheduler_ready 1.0" in metrics.content
            assert b"scheduler_solve_seconds" in metrics.content


async def test_a_restarted_instance_answers_what_arrived_while_it_was_down(
    kafka_bootstrap: str, unique: str
) -> None:
    net = network(f"a{unique}", regions=2, load=1.0)
    requests = interleaved(enrollment_events(net), 40)
    clients = [e.subject or "" for e in requests]
    settings = settings_for(kafka_bootstrap, unique)
    async with Producer(kafka_bootstrap) as producer:
        await producer.send_all(roster_events(net))
        async with Running(settings) as running:
            await running.wait_ready()
            await producer.send_all(requests[:20])
            await wait_answered(kafka_bootstrap, clients[:20], timeout_s=60)
        await producer.send_all(requests[20:30])  # while no instance runs
        async with Running(settings) as running:
            await running.wait_ready()
            await producer.send_all(requests[30:])
            latest = await wait_answered(kafka_bootstrap, clients, timeout_s=60)
    events = await schedule_events(kafka_bootstrap, clients)
    assert len(events) == 40, "the restart answered only what was new"
    assert check_schedules(net, latest, clients) == []


def test_create_app_connects_nothing() -> None:
    # No event loop, and nothing listens on port 9: building the app must not try to connect.
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    try:
        app = create_app(settings_for("127.0.0.1:9", "offline"))
    finally:  # create_app switches the process to JSON logs; give pytest its handlers back
        root.handlers[:], root.level = handlers, level
    assert app is not None


def test_the_admission_horizon_is_a_setting_the_solver_gets(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from iop_scheduler.adapters.placer import SolverPlacer
    from iop_scheduler.settings import SchedulerSettings

    monkeypatch.setenv("SCHEDULER_ADMISSION_HORIZON_DAYS", "14")
    placer = SolverPlacer(SchedulerSettings())
    assert placer._settings.admission_horizon_days == 14
