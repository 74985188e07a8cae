"""Enrollment-to-schedule latency of the scheduler service, with the broker's own floor.

For each rate (default 20/s and 100/s) the benchmark streams fresh enrollments (a generated
network of 6 regions) to `iop-scheduler run`, started as its own process, and times each one
from just before its send to the moment its answer is read back from `iop.schedule.v1`. In the
same run it times plain records through a scratch topic at the same rate: the produce-to-consume
round trip of the broker, the floor no service on it can beat. Figures, not assertions.

    .venv/bin/python bench/scheduler_service.py [--rates 20,100] [--seconds 30]

Broker: KAFKA_BOOTSTRAP_SERVERS if set, else the embedded one.
"""

import argparse
import asyncio
import os
import platform
import statistics
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaProducer
from iop_contracts import decode_record, topics
from iop_contracts.consume import Record, RecordReader
from iop_scheduler.testing import (
    SCHEDULED_TYPES,
    Producer,
    ServiceProcess,
    enrollment_events,
    interleaved,
    network,
    roster_events,
)

from iop.broker import EmbeddedBroker, ensure_topics

FLOOR_TOPIC = "iop.bench.floor"


def percentiles(samples: list[float]) -> str:
    if not samples:
        return "no samples"
    ordered = sorted(samples)

    def pick(q: float) -> float:
        return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]

    return (
        f"p50 {pick(0.50) * 1000:7.1f} ms  p95 {pick(0.95) * 1000:7.1f} ms  "
        f"p99 {pick(0.99) * 1000:7.1f} ms  max {ordered[-1] * 1000:7.1f} ms  n={len(ordered)}"
    )


def tail(bootstrap: str, topic: str) -> RecordReader:
    """A reader of what comes to `topic` after it is entered, fetching as soon as records come."""
    return RecordReader(bootstrap, [topic], name="bench-tail", from_end=True, fetch_max_wait_ms=20)


async def arrivals(
    reader: RecordReader,
    sent: dict[Any, float],
    sent_key: Callable[[Record], Any],
    done: Callable[[], bool],
) -> AsyncIterator[tuple[Record, float, float]]:
    """Each record read that answers one in `sent` (matched by `sent_key`; taken out of `sent`),
    with its send time and its latency, until `done()`."""
    while not done():
        for record in await reader.fetch():
            at = sent.pop(sent_key(record), None)
            if at is not None:
                yield record, at, time.perf_counter() - at


async def floor(bootstrap: str, rate: float, seconds: float) -> list[float]:
    """Produce-to-consume round trip of plain records at `rate` per second (acks=all)."""
    count = int(rate * seconds)
    sent: dict[bytes | None, float] = {}
    got: list[float] = []

    async def receive(reader: RecordReader) -> None:
        async for _, _, latency in arrivals(reader, sent, value_of, lambda: len(got) >= count):
            got.append(latency)

    async with tail(bootstrap, FLOOR_TOPIC) as reader:
        receiving = asyncio.create_task(receive(reader))
        producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
        await producer.start()
        try:
            started = time.perf_counter()
            for index in range(count):
                key = uuid.uuid4().bytes
                sent[key] = time.perf_counter()
                await producer.send_and_wait(FLOOR_TOPIC, key)
                delay = started + (index + 1) / rate - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
            async with asyncio.timeout(30):
                await receiving
        finally:
            await producer.stop()
    return got


def value_of(record: Record) -> bytes | None:
    return record.value


def subject_of(record: Record) -> str:
    return decode_record(record.value).subject or ""


async def service_latency(
    bootstrap: str, rate: float, seconds: float, prefix: str
) -> tuple[list[float], list[float], int]:
    """(any answer, client.scheduled only) latencies, and how many got no answer in time."""
    count = int(rate * seconds)
    loads = {20: 2.0, 100: 3.0}
    net = network(prefix, regions=6, sites=2, load=loads.get(int(rate), 3.0))
    enrollments = interleaved(enrollment_events(net), count)
    sent: dict[str, float] = {}
    answered: list[float] = []
    scheduled: list[float] = []
    timeline: list[tuple[float, float]] = []
    started = time.perf_counter()

    async def receive(reader: RecordReader) -> None:
        def done() -> bool:
            return not sent and len(answered) >= count

        async for record, at, latency in arrivals(reader, sent, subject_of, done):
            answered.append(latency)
            timeline.append((at - started, latency))
            if decode_record(record.value).type in SCHEDULED_TYPES:
                scheduled.append(latency)

    async with tail(bootstrap, topics.SCHEDULE) as reader, Producer(bootstrap) as producer:
        await producer.send_all(roster_events(net))
        await asyncio.sleep(1)  # let the roster tail read it
        receiving = asyncio.create_task(receive(reader))
        started = time.perf_counter()
        for index, event in enumerate(enrollments):
            sent[event.subject or ""] = time.perf_counter()
            await producer.send(event)
            delay = started + (index + 1) / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
        try:
            async with asyncio.timeout(60):
                await receiving
        except TimeoutError:
            pass
    if os.environ.get("BENCH_TIMELINE"):
        windows: dict[int, list[float]] = {}
        for sent_at, latency in timeline:
            windows.setdefault(int(sent_at // 5) * 5, []).append(latency)
        for window, values in sorted(windows.items()):
            p50 = statistics.median(values)
            print(f"    sent at {window:3d}-{window + 5:3d} s: p50 {p50:.3f} s")
    return answered, scheduled, len(sent)


async def main(bootstrap: str, rates: list[float], seconds: float) -> None:
    await ensure_topics(bootstrap, {**topics.ALL_TOPICS, FLOOR_TOPIC: 1})
    run_id = uuid.uuid4().hex[:6]
    with tempfile.TemporaryDirectory() as logs:
        service = ServiceProcess(
            bootstrap,
            f"bench-{run_id}",
            f"bench-{run_id}",
            Path(logs),
            # The service's defaults unless the environment says otherwise.
            env={
                "SCHEDULER_SOLVE_TIME_LIMIT_S": os.environ.get("SCHEDULER_SOLVE_TIME_LIMIT_S", "2"),
                "SCHEDULER_SOLVE_WORKERS": os.environ.get("SCHEDULER_SOLVE_WORKERS", "8"),
            },
        )
        service.start()
        try:
            await service.wait_ready(timeout_s=60)
            print(f"machine: {platform.machine()}, {os.cpu_count()} CPUs, {platform.platform()}")
            print(f"broker: {bootstrap}; each rate runs {seconds:.0f} s of enrollments\n")
            for rate in rates:
                base = await floor(bootstrap, rate, min(seconds, 10))
                answered, scheduled, missing = await service_latency(
                    bootstrap, rate, seconds, f"b{run_id}x{int(rate)}"
                )
                print(f"{rate:g} enrollments/s")
                print(f"  broker floor (produce->consume)  {percentiles(base)}")
                print(f"  enrollment -> any answer         {percentiles(answered)}")
                print(f"  enrollment -> client.scheduled   {percentiles(scheduled)}")
                print(f"  unanswered after 60 s: {missing}\n")
            metrics = await service.metrics()
            for line in metrics.splitlines():
                if line.startswith(
                    (
                        "scheduler_solve_seconds_sum",
                        "scheduler_solve_seconds_count",
                        "scheduler_batch_size_sum",
                        "scheduler_batch_size_count",
                    )
                ):
                    print("  " + line)
        finally:
            service.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rates", default="20,100")
    parser.add_argument("--seconds", type=float, default=30)
    args = parser.parse_args()
    rates = [float(r) for r in args.rates.split(",")]
    bootstrap = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    if bootstrap:
        asyncio.run(main(bootstrap, rates, args.seconds))
    else:
        with EmbeddedBroker() as broker:
            asyncio.run(main(broker.bootstrap_servers, rates, args.seconds))
