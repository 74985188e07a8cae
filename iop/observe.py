"""Read what the system published, the way an outside client would: a plain Kafka reader."""

import asyncio
from collections.abc import Callable

from iop_contracts import CloudEvent
from iop_contracts.consume import TableReader
from iop_contracts.kafka import KafkaTarget


async def read_events(
    bootstrap: KafkaTarget,
    topic: str,
    done: Callable[[list[CloudEvent]], bool],
    timeout_s: float,
) -> list[CloudEvent]:
    """Every valid event of `topic` from the beginning, until `done(events)` or the timeout.

    A table reader (assigned partitions, no consumer group): it joins nothing and commits
    nothing. Returns what it has at the timeout; the caller decides whether that is enough.
    """
    events: list[CloudEvent] = []
    reader = TableReader(bootstrap, [topic], events.append, name="iop-observe")
    await reader.start()
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    try:
        while not done(events) and loop.time() < deadline:
            await asyncio.sleep(0.1)
    finally:
        await reader.stop()
    return list(events)


def latest_by_subject(events: list[CloudEvent]) -> dict[str, CloudEvent]:
    """The last event per subject, in the order read (a topic keyed by client: its table view)."""
    latest: dict[str, CloudEvent] = {}
    for event in events:
        if event.subject is not None:
            latest[event.subject] = event
    return latest


async def read_all(bootstrap: KafkaTarget, topic: str, timeout_s: float = 30) -> list[CloudEvent]:
    """Every valid event `topic` holds now: read until the reader has reached its end offsets."""
    events: list[CloudEvent] = []
    reader = TableReader(bootstrap, [topic], events.append, name="iop-observe")
    await reader.start()
    try:
        await reader.caught_up(timeout_s)
    finally:
        await reader.stop()
    return list(events)
