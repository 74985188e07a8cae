"""The region projection's memory stays flat however many events it reads (issue 9).

A million events, each with its own id, for a fixed set of clients going round their lifecycle
again and again: what the projection holds after the millionth event is no bigger than after the
200,000th. A set of every id ever seen would have grown by about 800,000 ids."""

import pytest
from iop_scheduler.domain import Projection

from iop.memory_probe import lifecycle_events, retained_bytes

CLIENTS = 1_000
EVENTS = 1_000_000
EARLY = 200_000


@pytest.mark.slow
def test_a_million_events_for_a_thousand_clients_leave_the_projection_no_bigger() -> None:
    projection = Projection()
    early = 0
    for n, event in enumerate(lifecycle_events(CLIENTS, EVENTS), start=1):
        projection.apply(event)
        if n == EARLY:
            early = retained_bytes(projection)
    late = retained_bytes(projection)
    assert sum(len(region) for region in projection.enrollments.values()) == CLIENTS
    # Both readings fall on a round's end, so every client is in the same step of its life:
    # allow less than one more event id per client (an id alone is some 60 bytes).
    assert late - early < CLIENTS * 60, (early, late)
