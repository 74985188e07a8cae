"""Restart time: how long rebuilding each service's projection takes, per 100,000 events.

Every start of the scheduler and of intake replays iop.enrollment.v1 and iop.schedule.v1, topics
kept forever, into its projection. This benchmark times that rebuild for a history of N events
(default 100,000): clients each going once through an enrollment (requested, waitlisted,
scheduled, unscheduled by a retirement, waitlisted, scheduled again, withdrawn, unscheduled), so
N/8 clients. Two figures per projection, best of --repeat runs:
- apply: each record's value decoded (`decode_record`) and applied, no broker: the projection's
  own cost, the floor of any rebuild;
- broker: the same records produced to scratch topics (the contract's partition counts), then
  read from the beginning to the end by the kernel's table reader (`read_table`, the reader
  intake rebuilds with), decoded and applied: a rebuild end to end on this machine.
Figures, not assertions.

    .venv/bin/python bench/restart.py [--events 100000] [--repeat 3] [--no-broker]

Broker: KAFKA_BOOTSTRAP_SERVERS if set, else the embedded one.
"""

import argparse
import asyncio
import os
import platform
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from aiokafka import AIOKafkaProducer
from iop_contracts import CloudEvent, decode_record, encode_event, new_event, parse_payload, topics
from iop_contracts.consume import read_table
from iop_contracts.examples import EXAMPLES
from iop_intake.domain.status import StatusProjection
from iop_scheduler.domain import Projection

from iop.broker import EmbeddedBroker, ensure_topics

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
PER = 100_000
LIFECYCLE: list[tuple[str, dict[str, Any]]] = [
    ("iop.enrollment.requested", {}),
    ("iop.client.waitlisted", {"reasons": ["groups_full"]}),
    ("iop.client.scheduled", {"schedule_version": 1}),
    ("iop.client.unscheduled", {"cause": "group_retired"}),
    ("iop.client.waitlisted", {"reasons": ["groups_full"]}),
    ("iop.client.scheduled", {"schedule_version": 2}),
    ("iop.enrollment.withdrawn", {}),
    ("iop.client.unscheduled", {"cause": "withdrawn"}),
]
# What each service folds a record into: the scheduler's region state (enrollment and schedule
# topics alike go through `apply` on a rebuild) and intake's client statuses.
PROJECTIONS: dict[str, Callable[[], Callable[[CloudEvent], object]]] = {
    "scheduler": lambda: Projection().apply,
    "intake": lambda: StatusProjection().apply,
}


def history(count: int) -> Iterator[CloudEvent]:
    """`count` events: clients one after another through LIFECYCLE, a minute per step."""
    for n in range(count):
        client, step = divmod(n, len(LIFECYCLE))
        event_type, changes = LIFECYCLE[step]
        ids = {"client_id": f"c-{client:06d}", "region_id": f"r{client % 12}"}
        payload = parse_payload(event_type, {**EXAMPLES[event_type], **changes, **ids})
        yield new_event(payload, source="/bench", time=T0 + timedelta(minutes=n))


def apply_seconds(values: list[bytes], projection: str) -> float:
    apply = PROJECTIONS[projection]()
    started = time.perf_counter()
    for value in values:
        apply(decode_record(value))
    return time.perf_counter() - started


async def produce(bootstrap: str, records: list[tuple[str, bytes, bytes]]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=20)
    await producer.start()
    try:
        sent = [await producer.send(topic, value, key=key) for topic, key, value in records]
        await asyncio.gather(*sent)
    finally:
        await producer.stop()


async def broker_seconds(bootstrap: str, names: list[str], count: int, projection: str) -> float:
    """Read every partition of the scratch topics from the beginning to their end with the
    kernel's table reader, decoding and applying, as a service's rebuild does."""
    apply = PROJECTIONS[projection]()
    applied = 0

    def counted(event: CloudEvent) -> None:
        nonlocal applied
        apply(event)
        applied += 1  # the reader skips a record that fails: a short count is a broken run

    started = time.perf_counter()
    await read_table(bootstrap, names, counted, name=f"bench-restart-{projection}", timeout_s=None)
    seconds = time.perf_counter() - started
    if applied != count:
        raise RuntimeError(f"{projection}: applied {applied:,} of {count:,} records")
    return seconds


async def broker_runs(
    bootstrap: str, events: list[CloudEvent], repeat: int
) -> dict[str, list[float]]:
    suffix = uuid.uuid4().hex[:8]
    scratch = {
        topics.ENROLLMENT: f"iop.bench.enrollment.{suffix}",
        topics.SCHEDULE: f"iop.bench.schedule.{suffix}",
    }
    await ensure_topics(bootstrap, {new: topics.PARTITIONS[old] for old, new in scratch.items()})
    records = []
    for event in events:
        record = encode_event(event)
        records.append((scratch[record.topic], record.key, record.value))
    started = time.perf_counter()
    await produce(bootstrap, records)
    print(f"produced {len(records):,} records in {time.perf_counter() - started:.1f} s")
    names = list(scratch.values())
    return {
        name: [await broker_seconds(bootstrap, names, len(events), name) for _ in range(repeat)]
        for name in PROJECTIONS
    }


def per(seconds: float, count: int) -> str:
    return f"{seconds * PER / count:6.2f} s per 100,000 events ({count / seconds:8,.0f} events/s)"


def main(count: int, repeat: int, bootstrap: str | None) -> None:
    print(f"python {platform.python_version()}, {os.cpu_count()} CPUs, {platform.platform()}")
    print(f"load average at start: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    events = list(history(count))
    values = [encode_event(event).value for event in events]
    print(f"history: {count:,} events, {count // len(LIFECYCLE):,} clients\n")
    for name in PROJECTIONS:
        best = min(apply_seconds(values, name) for _ in range(repeat))
        print(f"{name:9s} apply   {per(best, count)}")
    if bootstrap is None:
        return
    runs = asyncio.run(broker_runs(bootstrap, events, repeat))
    for name, seconds in runs.items():
        print(f"{name:9s} broker  {per(min(seconds), count)}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=PER)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--no-broker", action="store_true", help="the apply figures only")
    args = parser.parse_args()
    bootstrap = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    if args.no_broker:
        main(args.events, args.repeat, None)
    elif bootstrap:
        main(args.events, args.repeat, bootstrap)
    else:
        with EmbeddedBroker() as broker:
            main(args.events, args.repeat, broker.bootstrap_servers)
