"""The latest event per key stands: a small guard shared by every table of the read model.

A key's entry remembers the `time` of the event that made it and the ids applied at that time.
An event older than the entry is stale (a re-published old record cannot roll a key back); an
event whose id is among the entry's is a repeat; an event of the same second as the entry keeps
Kafka order (times are whole seconds, so a quick correction shares its original's second). So a
key remembers only the ids of its latest second, never every id ever read.
"""

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Generic, TypeVar

from iop_contracts import CloudEvent

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Stamped(Generic[T]):
    """A key's latest value, the time of the event that made it, and the ids of that second."""

    value: T
    time: datetime
    event_ids: tuple[str, ...]


def instant(event: CloudEvent) -> datetime:
    """The event's time, comparable with every other's (a naive time is read as UTC)."""
    time = event.time
    return time if time.tzinfo is not None else time.replace(tzinfo=UTC)


def supersede(current: Stamped[T] | None, event: CloudEvent, value: T) -> Stamped[T] | None:
    """The entry `event` makes for a key holding `current`, or None when it changes nothing
    (stale, or a repeat)."""
    time = instant(event)
    if current is None:
        return Stamped(value, time, (event.id,))
    if time < current.time or event.id in current.event_ids:
        return None
    same_second = current.event_ids if time == current.time else ()
    return Stamped(value, time, (*same_second, event.id))
