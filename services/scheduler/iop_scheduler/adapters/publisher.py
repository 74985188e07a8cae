"""Schedule events onto Kafka, each acknowledged (acks=all) before it counts.

A client's events go out one after another (an `unscheduled` must precede the `waitlisted` that
follows it on the client's partition); different clients' events go out concurrently so a
batch costs about one round trip, not one per client.
"""

import asyncio
from collections.abc import Callable, Sequence

from faststream.kafka import KafkaBroker
from iop_contracts import CloudEvent
from iop_contracts.kafka import publish_event

from iop_scheduler.domain import Answer

Acked = Callable[[CloudEvent], None]


class SchedulePublisher:
    def __init__(self, broker: KafkaBroker, consumer_name: str) -> None:
        self._broker = broker
        self._consumer_name = consumer_name

    async def publish(self, answers: Sequence[Answer], on_acked: Acked) -> None:
        """Publish the answers; `on_acked` sees each event once the broker acknowledged it (so
        state never runs ahead of the topic). Raises the first failure after the rest settle."""
        per_client: dict[str, list[CloudEvent]] = {}
        for answer in answers:
            per_client.setdefault(answer.client_id, []).append(answer.event())

        async def send(events: list[CloudEvent]) -> None:
            for event in events:
                await publish_event(self._broker, event)
                on_acked(event)

        results = await asyncio.gather(
            *(send(events) for events in per_client.values()), return_exceptions=True
        )
        for result in results:
            if isinstance(result, BaseException):
                raise result
