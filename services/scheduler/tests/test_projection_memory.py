"""The region projection's memory stays flat however many events it reads (issue 9).

A million events, each with its own id, for a fixed set of clients going round their lifecycle
again and again: what the projection holds after the millionth event is no bigger than after the
200,000th. A set of every id ever seen would have grown by about 800,000 ids."""

import gc
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from types import BuiltinFunctionType, FunctionType, ModuleType
from typing import Any

import pytest
from iop_contracts import CloudEvent, new_event, parse_payload
from iop_contracts.examples import EXAMPLES
from iop_scheduler.domain import Projection

CLIENTS = 1_000
EVENTS = 1_000_000
EARLY = 200_000
T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
# One enrollment of a client, as the scheduler reads it. The request's contact is a phone only:
# checking an e-mail's syntax is half the cost of parsing a request, and this test is about
# memory, within a minute.
LIFECYCLE: list[tuple[str, dict[str, Any]]] = [
    ("iop.enrollment.requested", {"contact": {"first_name": "Ana", "phone": "+16175550101"}}),
    ("iop.client.waitlisted", {"reasons": ["groups_full"]}),
    ("iop.client.scheduled", {}),
    ("iop.client.unscheduled", {"cause": "group_retired"}),
    ("iop.client.waitlisted", {"reasons": ["groups_full"]}),
    ("iop.client.scheduled", {}),
    ("iop.enrollment.withdrawn", {}),
    ("iop.client.unscheduled", {"cause": "withdrawn"}),
]
ROUND = CLIENTS * len(LIFECYCLE)


def template(event_type: str, client: int, changes: dict[str, Any]) -> CloudEvent:
    ids = {"client_id": f"c-{client:04d}", "region_id": f"r{client % 6}"}
    data = {**EXAMPLES[event_type], **changes, **ids}
    return new_event(parse_payload(event_type, data), source="/test", time=T0)


def events() -> Iterator[CloudEvent]:
    """Round after round, every client through LIFECYCLE; fresh ids, schedule versions rising."""
    templates = [
        [template(event_type, c, changes) for event_type, changes in LIFECYCLE]
        for c in range(CLIENTS)
    ]
    for n in range(EVENTS):
        round_, rest = divmod(n, ROUND)
        step, client = divmod(rest, CLIENTS)
        event = templates[client][step]
        update: dict[str, Any] = {"id": f"e-{n:09d}"}
        if "schedule_version" in event.data:
            version = 2 * round_ + (1 if step < len(LIFECYCLE) // 2 else 2)
            update["data"] = {**event.data, "schedule_version": version}
        yield event.model_copy(update=update)


def retained_bytes(root: object) -> int:
    """Bytes of every object reachable from `root`, each counted once. Classes, modules and
    functions are shared code, not state: they are neither counted nor followed."""
    shared = (type, ModuleType, FunctionType, BuiltinFunctionType)
    seen: set[int] = set()
    stack = [root]
    total = 0
    while stack:
        obj = stack.pop()
        if id(obj) in seen or isinstance(obj, shared):
            continue
        seen.add(id(obj))
        total += sys.getsizeof(obj)
        stack.extend(gc.get_referents(obj))
    return total


@pytest.mark.slow
def test_a_million_events_for_a_thousand_clients_leave_the_projection_no_bigger() -> None:
    projection = Projection()
    early = 0
    for n, event in enumerate(events(), start=1):
        projection.apply(event)
        if n == EARLY:
            early = retained_bytes(projection)
    late = retained_bytes(projection)
    assert sum(len(region) for region in projection.enrollments.values()) == CLIENTS
    # Both readings fall on a round's end, so every client is in the same step of its life:
    # allow less than one more event id per client (an id alone is some 60 bytes).
    assert late - early < CLIENTS * 60, (early, late)
