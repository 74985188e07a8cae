"""Lifecycle events on the real broker: withdrawals free seats for the waitlist within one
batch; a retired group re-places exactly its clients (or waitlists them) and nobody else moves."""

from collections import Counter
from datetime import date, timedelta

import pytest
from iop_contracts import CloudEvent, topics
from iop_scheduler.testing import (
    SCHEDULED_TYPES,
    Producer,
    Running,
    check_schedules,
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


def ok_batches(running: Running) -> float:
    return running.service.metrics.batches.labels("ok")._value.get()


async def test_withdrawing_ten_placed_clients_places_ten_waiting_in_one_batch(
    kafka_bootstrap: str, unique: str
) -> None:
    net = small_region(f"w{unique}", capacity=10, clients=20)
    region = net["sites"][0]["region_id"]
    requests = enrollment_events(net)
    clients = [e.subject or "" for e in requests]
    # A long quiet period: the ten withdrawals, sent together, must make one batch even when a
    # busy machine stalls the consumer between two fetches.
    settings = settings_for(kafka_bootstrap, unique, batch_quiet_ms=1000, batch_max_wait_ms=4000)
    async with Producer(kafka_bootstrap) as producer:
        await producer.send_all(roster_events(net))
        async with Running(settings) as running:
            await running.wait_ready()
            await producer.send_all(requests[:10])
            await wait_answered(kafka_bootstrap, clients[:10], timeout_s=60)
            await producer.send_all(requests[10:])
            before = await wait_answered(kafka_bootstrap, clients, timeout_s=60)
            placed = [c for c in clients if before[c].type in SCHEDULED_TYPES]
            waiting = [c for c in clients if before[c].type == "iop.client.waitlisted"]
            assert len(placed) == 10 and len(waiting) == 10, "the region is full"
            assert all(before[c].data["reasons"] == ["groups_full"] for c in waiting)

            async def idle() -> bool:
                return running.service.idle

            # The last placement batch is counted after its commit, later than its answers.
            await eventually(idle, timeout_s=30, interval_s=0.05)
            batches = ok_batches(running)
            withdrawals = [
                event_of("iop.enrollment.withdrawn", {"client_id": c, "region_id": region})
                for c in placed
            ]
            await producer.send_all(withdrawals)

            async def all_moved() -> bool:
                latest = latest_by_client(await schedule_events(kafka_bootstrap, clients))
                return all(latest[c].type == "iop.client.unscheduled" for c in placed) and all(
                    latest[c].type in SCHEDULED_TYPES for c in waiting
                )

            await eventually(all_moved, timeout_s=60)
            assert ok_batches(running) - batches == 1, "freed seats fill within one batch"

    events = await schedule_events(kafka_bootstrap, clients)
    latest = latest_by_client(events)
    withdrawal_ids = {w.id for w in withdrawals}
    for client_id in waiting:
        assert latest[client_id].causationid in withdrawal_ids
        assert latest[client_id].correlationid == before[client_id].correlationid
    for client_id in placed:
        assert latest[client_id].data["cause"] == "withdrawn"
    remaining = {**net, "enrollments": [e for e in net["enrollments"] if e["client_id"] in waiting]}
    assert check_schedules(remaining, latest, waiting) == []
    assert len(events) == 40, "one answer, one release and one placement: nothing repeated"


async def test_retiring_a_group_moves_exactly_its_clients(
    kafka_bootstrap: str, unique: str
) -> None:
    net = small_region(f"r{unique}", groups=2, capacity=5, clients=8)
    requests = enrollment_events(net)
    clients = [e.subject or "" for e in requests]
    async with Producer(kafka_bootstrap) as producer:
        await producer.send_all(roster_events(net))
        async with Running(settings_for(kafka_bootstrap, unique)) as running:
            await running.wait_ready()
            await producer.send_all(requests)
            before = await wait_answered(kafka_bootstrap, clients, timeout_s=60)
            groups = Counter(
                e.data["group"]["group_id"] for e in before.values() if e.type in SCHEDULED_TYPES
            )
            assert len(groups) == 2, "both groups hold clients"
            retired_group = groups.most_common(1)[0][0]
            members = [
                c
                for c, e in before.items()
                if e.type in SCHEDULED_TYPES and e.data["group"]["group_id"] == retired_group
            ]
            others = [c for c in clients if c not in members]
            retire = event_of("iop.group.retired", {"group_id": retired_group})
            await producer.send(retire)

            async def members_moved() -> bool:
                latest = latest_by_client(await schedule_events(kafka_bootstrap, members))
                return all(latest[c].causationid == retire.id for c in members)

            await eventually(members_moved, timeout_s=60)

    events = await schedule_events(kafka_bootstrap, clients)
    latest = latest_by_client(events)
    per_client: dict[str, list[CloudEvent]] = {}
    for event in events:
        per_client.setdefault(event.subject or "", []).append(event)
    for client_id in others:
        assert per_client[client_id] == [before[client_id]], "nobody else moves"
    outcomes = Counter(latest[c].type for c in members)
    assert outcomes["iop.client.rescheduled"] >= 1
    assert outcomes["iop.client.rescheduled"] + outcomes["iop.client.waitlisted"] == len(members)
    for client_id in members:
        moved = latest[client_id]
        if moved.type == "iop.client.rescheduled":
            assert moved.data["group"]["group_id"] != retired_group
            assert moved.data["schedule_version"] == 2
            # Same start where the new group meets that day, else its next meeting.
            was, now = (
                date.fromisoformat(x.data["start_date"]) for x in (before[client_id], moved)
            )
            assert timedelta(0) <= now - was < timedelta(days=7)
        else:
            assert moved.data["reasons"], "waitlisted with a reason"
            assert [e.type for e in per_client[client_id][-2:]] == [
                "iop.client.unscheduled",
                "iop.client.waitlisted",
            ]
            assert per_client[client_id][-2].data["cause"] == "group_retired"
    live = {**net, "groups": [g for g in net["groups"] if g["group_id"] != retired_group]}
    assert check_schedules(live, latest, clients, previous=before) == []


async def test_a_new_group_places_waiting_clients(kafka_bootstrap: str, unique: str) -> None:
    net = small_region(f"n{unique}", groups=2, capacity=4, clients=10)
    extra_group = net["groups"].pop()  # the roster starts with one group of 4 seats
    requests = enrollment_events(net)
    clients = [e.subject or "" for e in requests]
    async with Producer(kafka_bootstrap) as producer:
        await producer.send_all(roster_events(net))
        async with Running(settings_for(kafka_bootstrap, unique)) as running:
            await running.wait_ready()
            await producer.send_all(requests)
            before = await wait_answered(kafka_bootstrap, clients, timeout_s=60)
            waiting = [c for c in clients if before[c].type == "iop.client.waitlisted"]
            assert len(waiting) == 6
            opened = event_of("iop.group.upserted", extra_group)
            await producer.send(opened)

            async def four_placed() -> bool:
                latest = latest_by_client(await schedule_events(kafka_bootstrap, waiting))
                return sum(latest[c].type in SCHEDULED_TYPES for c in waiting) == 4

            await eventually(four_placed, timeout_s=60)

    latest = latest_by_client(await schedule_events(kafka_bootstrap, clients))
    newly = [c for c in waiting if latest[c].type in SCHEDULED_TYPES]
    assert all(latest[c].data["group"]["group_id"] == extra_group["group_id"] for c in newly)
    assert all(latest[c].causationid == opened.id for c in newly)
    assert all(latest[c] == before[c] for c in clients if c not in waiting), "nobody moves"
    full = {**net, "groups": [*net["groups"], extra_group]}
    assert check_schedules(full, latest, clients, previous=before) == []


async def test_an_invalid_roster_record_is_dead_lettered(kafka_bootstrap: str, unique: str) -> None:
    settings = settings_for(kafka_bootstrap, unique)
    async with Producer(kafka_bootstrap) as producer, Running(settings) as running:
        await running.wait_ready()
        key = f"group:bad{unique}".encode()
        await producer.send_raw(topics.ROSTER, b'{"specversion": "1.0"}', key=key)

        async def dead_lettered() -> bool:
            dlq = await read_topic(kafka_bootstrap, topics.dlq(topics.ROSTER))
            return any(r.key == key for r in dlq)

        await eventually(dead_lettered, timeout_s=20)
    dlq = [r for r in await read_topic(kafka_bootstrap, topics.dlq(topics.ROSTER)) if r.key == key]
    assert len(dlq) == 1
    assert dlq[0].headers["dlq_consumer"] == f"scheduler-{unique}".encode()
