"""Publishing intake's events: returns once the broker acknowledged (acks=all), or raises."""

import asyncio
import logging
from typing import Protocol

from aiokafka.errors import KafkaError
from faststream.kafka import KafkaBroker
from iop_contracts import CloudEvent
from iop_contracts.kafka import publish_event
from prometheus_client import Counter

from iop_intake.errors import BrokerUnavailable

log = logging.getLogger(__name__)

PUBLISHED = Counter(
    "intake_events_published_total", "Events acknowledged by the broker", ["event_type"]
)
UNACKNOWLEDGED = Counter(
    "intake_publish_failures_total", "Events the broker did not acknowledge in time"
)


class EventPublisher(Protocol):
    async def publish(self, event: CloudEvent) -> None: ...


class KafkaEventPublisher:
    """Publishes through a FastStream broker, bounded in time so a caller can be told 503."""

    def __init__(self, broker: KafkaBroker, timeout_s: float) -> None:
        self._broker = broker
        self._timeout_s = timeout_s
        self.connected = False
        # False after a publish the broker did not acknowledge, until one succeeds: readiness
        # reports it, so a load balancer stops sending enrollments that would only get 503.
        self.healthy = True

    async def publish(self, event: CloudEvent) -> None:
        if not self.connected:
            raise BrokerUnavailable("not connected to the broker")
        try:
            # The producer's request timeout is capped to timeout_s (settings.producer_kafka), so
            # aiokafka normally gives up first; this bound is the backstop.
            async with asyncio.timeout(self._timeout_s + 1.0):
                await publish_event(self._broker, event)
        except (KafkaError, TimeoutError, OSError) as error:
            self.healthy = False
            UNACKNOWLEDGED.inc()
            log.warning(
                "publish not acknowledged",
                extra={
                    "event_id": event.id,
                    "event_type": event.type,
                    "reason": type(error).__name__,
                },
            )
            raise BrokerUnavailable(f"event {event.id} not acknowledged by the broker") from None
        self.healthy = True
        PUBLISHED.labels(event.type).inc()
