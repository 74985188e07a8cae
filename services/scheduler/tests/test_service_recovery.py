"""Crash recovery and scale-out with `iop-scheduler run` in separate processes on the real broker.

Every enrollment must end placed or waitlisted exactly once (the same answer may repeat, a
different one may not), placements must pass the rule checker, and nobody is double-booked
(the checker sees every region's schedules at once: seats, caseloads and therapist hours)."""

import asyncio
from pathlib import Path

import pytest
from iop_scheduler.testing import (
    Producer,
    ServiceProcess,
    check_schedules,
    contradictions,
    enrollment_events,
    interleaved,
    latest_by_client,
    network,
    roster_events,
    schedule_events,
    stream,
    wait_answered,
)

pytestmark = [pytest.mark.integration, pytest.mark.e2e]


async def answered_count(bootstrap: str, clients: list[str]) -> int:
    latest = latest_by_client(await schedule_events(bootstrap, clients))
    return len(latest)


async def test_kill_9_mid_stream_then_restart_answers_every_enrollment_once(
    kafka_bootstrap: str, unique: str, tmp_path: Path
) -> None:
    net = network(f"k{unique}", regions=6, sites=1, load=1.0)
    enrollments = interleaved(enrollment_events(net), 300)
    clients = [e.subject or "" for e in enrollments]
    group = f"scheduler-{unique}"
    first = ServiceProcess(kafka_bootstrap, group, f"first-{unique}", tmp_path)
    second = ServiceProcess(kafka_bootstrap, group, f"second-{unique}", tmp_path)
    try:
        async with Producer(kafka_bootstrap) as producer:
            await producer.send_all(roster_events(net))
            await first.start().wait_ready()
            sending = asyncio.create_task(stream(producer, enrollments, per_second=60))
            async with asyncio.timeout(60):
                while await answered_count(kafka_bootstrap, clients) < 60:
                    await asyncio.sleep(0.3)
            first.kill()
            await second.start().wait_ready()
            await sending
            await wait_answered(kafka_bootstrap, clients, timeout_s=120)
        assert second.stop()
    except BaseException:
        print(first.log_tail(), second.log_tail(), sep="\n----\n")
        raise
    finally:
        first.kill()
        second.kill()

    events = await schedule_events(kafka_bootstrap, clients)
    assert contradictions(events) == {}
    latest = latest_by_client(events)
    assert len(latest) == 300
    assert not [e for e in events if e.type == "iop.client.rescheduled"], "nobody moved"
    assert check_schedules(net, latest, clients) == []


async def test_two_processes_share_six_regions_and_one_finishes_after_the_other_stops(
    kafka_bootstrap: str, unique: str, tmp_path: Path
) -> None:
    net = network(f"t{unique}", regions=6, sites=1, load=1.0)
    enrollments = interleaved(enrollment_events(net), 240)
    clients = [e.subject or "" for e in enrollments]
    group = f"scheduler-{unique}"
    one = ServiceProcess(kafka_bootstrap, group, f"one-{unique}", tmp_path)
    two = ServiceProcess(kafka_bootstrap, group, f"two-{unique}", tmp_path)
    try:
        async with Producer(kafka_bootstrap) as producer:
            await producer.send_all(roster_events(net))
            one.start()
            two.start()
            await one.wait_ready()
            await two.wait_ready()
            sending = asyncio.create_task(stream(producer, enrollments, per_second=60))
            async with asyncio.timeout(60):
                while await answered_count(kafka_bootstrap, clients) < 60:
                    await asyncio.sleep(0.3)
            shares = [await p.metrics() for p in (one, two)]
            assert all("scheduler_placed_clients{region=" in m for m in shares), "both own regions"
            assert one.stop(), "a clean stop"
            await sending
            await wait_answered(kafka_bootstrap, clients, timeout_s=120)
        assert two.stop()
    except BaseException:
        print(one.log_tail(), two.log_tail(), sep="\n----\n")
        raise
    finally:
        one.kill()
        two.kill()

    events = await schedule_events(kafka_bootstrap, clients)
    assert contradictions(events) == {}
    latest = latest_by_client(events)
    assert len(latest) == 240
    assert not [e for e in events if e.type == "iop.client.rescheduled"], "nobody moved"
    assert check_schedules(net, latest, clients) == []
