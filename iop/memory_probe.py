"""Measuring what a projection keeps: a long stream of events for a fixed set of clients, and the
bytes an object graph holds. Used by the services' memory tests (issue 9: bounded memory).

The stream sends every client round and round the same enrollment lifecycle with a fresh event id
each time (and rising schedule versions, and event times a second apart per step), so a
projection whose memory grows with the number of ids it has seen shows it, and one that keeps
only per-client state does not.
"""

import gc
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from types import BuiltinFunctionType, FunctionType, ModuleType
from typing import Any

from iop_contracts import CloudEvent, new_event, parse_payload
from iop_contracts.examples import EXAMPLES

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
# One enrollment of a client. The request's contact is a phone only: checking an e-mail's syntax
# is half the cost of parsing a request, and the memory tests must stay within a minute.
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


def _template(event_type: str, client: int, changes: dict[str, Any]) -> CloudEvent:
    ids = {"client_id": f"c-{client:04d}", "region_id": f"r{client % 6}"}
    data = {**EXAMPLES[event_type], **changes, **ids}
    return new_event(parse_payload(event_type, data), source="/test", time=T0)


def lifecycle_events(clients: int, events: int) -> Iterator[CloudEvent]:
    """Round after round, every client through LIFECYCLE: event n has id ``e-<n:09d>``."""
    templates = [
        [_template(event_type, c, changes) for event_type, changes in LIFECYCLE]
        for c in range(clients)
    ]
    per_round = clients * len(LIFECYCLE)
    for n in range(events):
        round_, rest = divmod(n, per_round)
        step, client = divmod(rest, clients)
        event = templates[client][step]
        update: dict[str, Any] = {
            "id": f"e-{n:09d}",
            "time": T0 + timedelta(seconds=round_ * len(LIFECYCLE) + step),
        }
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
