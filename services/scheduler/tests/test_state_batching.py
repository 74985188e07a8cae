"""Micro-batching of one partition lane, without a broker: a batch closes after the quiet
period or at the size cap, and work that arrives during a batch forms the next one at once."""

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass

from aiokafka import TopicPartition
from iop_scheduler.lanes import Lane, close_all
from iop_scheduler.settings import SchedulerSettings


@dataclass
class FakeRecord:
    offset: int


async def until(condition: Callable[[], bool], timeout_s: float = 5) -> None:
    """Poll until `condition` holds; a TimeoutError fails the test."""
    async with asyncio.timeout(timeout_s):
        while not condition():
            await asyncio.sleep(0.01)


def lane_with(settings: SchedulerSettings, batches: list[list[int]], gate: asyncio.Event) -> Lane:
    async def process(lane: Lane) -> None:
        batches.append([r.offset for r in lane.take()])
        lane.dirty.clear()
        await gate.wait()

    return Lane(TopicPartition("t", 0), settings, process)


async def test_batches_close_at_the_size_cap_and_after_the_quiet_period() -> None:
    settings = SchedulerSettings(batch_quiet_ms=100, batch_max_wait_ms=5000, batch_max_size=3)
    batches: list[list[int]] = []
    gate = asyncio.Event()
    gate.set()
    lane = lane_with(settings, batches, gate)
    lane.start()
    try:
        lane.add([FakeRecord(i) for i in range(5)])
        await until(lambda: len(batches) == 2)
        assert batches == [[0, 1, 2], [3, 4]]
    finally:
        await lane.close(1)


async def test_records_arriving_during_a_batch_make_the_next_batch_together() -> None:
    settings = SchedulerSettings(batch_quiet_ms=50, batch_max_wait_ms=200, batch_max_size=100)
    batches: list[list[int]] = []
    gate = asyncio.Event()
    lane = lane_with(settings, batches, gate)
    lane.start()
    try:
        lane.add([FakeRecord(0)])
        await until(lambda: bool(batches))
        for offset in range(1, 6):  # the first batch is still running
            lane.add([FakeRecord(offset)])
        gate.set()
        await until(lambda: len(batches) == 2)
        assert batches == [[0], [1, 2, 3, 4, 5]]
    finally:
        await lane.close(1)


async def test_a_quiet_lane_waits_for_the_quiet_period_before_solving() -> None:
    # A long quiet period, so that a stalled machine cannot close a batch between the adds.
    settings = SchedulerSettings(batch_quiet_ms=2000, batch_max_wait_ms=9000, batch_max_size=100)
    started: list[float] = []

    async def process(lane: Lane) -> None:
        started.append(time.monotonic())
        lane.take()

    lane = Lane(TopicPartition("t", 0), settings, process)
    lane.start()
    try:
        lane.add([FakeRecord(0)])
        await asyncio.sleep(0.1)
        last_added = time.monotonic()
        lane.add([FakeRecord(1)])
        await until(lambda: bool(started), timeout_s=15)
        # A lower bound only: however slow the machine, the batch cannot start sooner.
        assert started[0] - last_added >= 2.0
        assert len(started) == 1, "both records in one batch"
    finally:
        await lane.close(1)


async def test_a_fetch_whose_records_were_all_dead_lettered_still_gets_a_batch() -> None:
    """Nothing to apply, but the offsets must be committed (by the batch): else a restart
    reads the dead-lettered records again and dead-letters them twice."""
    settings = SchedulerSettings(batch_quiet_ms=10, batch_max_wait_ms=100, batch_max_size=100)
    batches: list[list[int]] = []
    gate = asyncio.Event()
    gate.set()
    lane = lane_with(settings, batches, gate)
    lane.start()
    try:
        lane.add([], until=7)
        await until(lambda: bool(batches))
        await asyncio.sleep(0.2)
        assert batches == [[]], "one batch, and none once its offsets are settled"
        assert not lane.has_work
    finally:
        await lane.close(1)


async def test_a_lane_is_idle_only_once_its_batch_has_finished() -> None:
    settings = SchedulerSettings(batch_quiet_ms=10, batch_max_wait_ms=100, batch_max_size=100)
    batches: list[list[int]] = []
    gate = asyncio.Event()
    lane = lane_with(settings, batches, gate)
    lane.start()
    try:
        assert lane.idle
        lane.add([FakeRecord(0)], until=1)
        assert not lane.idle, "records waiting"
        await until(lambda: bool(batches))
        assert not lane.records and not lane.idle, "taken, but the batch still runs"
        gate.set()
        await until(lambda: lane.idle)
        assert batches == [[0]]
    finally:
        await lane.close(1)


async def test_lanes_stuck_in_a_batch_are_closed_together_within_one_timeout() -> None:
    """A batch that does not finish (the broker away, say) holds its lane; a stop gives every
    lane the same `timeout_s`, not one after the other."""
    settings = SchedulerSettings(batch_quiet_ms=10, batch_max_wait_ms=100, batch_max_size=100)
    never = asyncio.Event()
    batches: list[list[int]] = []
    lanes = [lane_with(settings, batches, never) for _ in range(4)]
    for lane in lanes:
        lane.start()
        lane.add([FakeRecord(0)])
    await until(lambda: len(batches) == len(lanes))
    began = time.monotonic()
    await close_all(lanes, timeout_s=1.0)
    # Closed one after another they would take 4 s; together about 1 s.
    assert time.monotonic() - began < 2.5
    assert all(lane.idle for lane in lanes), "no batch runs on after its lane is closed"
