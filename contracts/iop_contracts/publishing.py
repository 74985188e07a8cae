"""Publishing a service's own events from a request: return once the broker acknowledged
(acks=all), or raise within a bounded time so that the caller can be told 503 and nothing was
promised. Shared by the services with an HTTP API (intake, clinic); each names its own error and
counts in its own metrics."""

import asyncio
import functools
import logging
from collections.abc import Callable
from typing import Protocol

from aiokafka.errors import KafkaError
from faststream.kafka import KafkaBroker
from prometheus_client import Counter

from iop_contracts.envelope import CloudEvent
from iop_contracts.kafka import publish_event

log = logging.getLogger(__name__)


class EventPublisher(Protocol):
    async def publish(self, event: CloudEvent) -> None: ...


class Unacknowledged(ConnectionError):
    """The broker did not acknowledge an event in time (the default error of a publisher)."""


def _ignore(_: str) -> None:
    return None


class AcknowledgedPublisher:
    """Publishes through a FastStream broker, bounded in time.

    ``unavailable`` builds the service's own error (a message naming the event id, no value);
    ``published`` and ``unacknowledged`` are called with the event type, for the service's
    metrics. ``connected`` is set by the service once its producer started; ``healthy`` is False
    after a publish the broker did not acknowledge, until one succeeds, so readiness can report
    it and a load balancer stops sending work that would only get 503."""

    def __init__(
        self,
        broker: KafkaBroker,
        timeout_s: float,
        *,
        unavailable: Callable[[str], Exception] = Unacknowledged,
        published: Callable[[str], None] = _ignore,
        unacknowledged: Callable[[str], None] = _ignore,
    ) -> None:
        self._broker = broker
        self._timeout_s = timeout_s
        self._unavailable = unavailable
        self._published = published
        self._unacknowledged = unacknowledged
        self.connected = False
        self.healthy = True

    async def publish(self, event: CloudEvent) -> None:
        if not self.connected:
            raise self._unavailable("not connected to the broker")
        try:
            # The producer's request timeout should be capped to timeout_s by the service's
            # settings, so aiokafka normally gives up first; this bound is the backstop.
            async with asyncio.timeout(self._timeout_s + 1.0):
                await publish_event(self._broker, event)
        except (KafkaError, TimeoutError, OSError) as error:
            self.healthy = False
            self._unacknowledged(event.type)
            log.warning(
                "publish not acknowledged",
                extra={
                    "event_id": event.id,
                    "event_type": event.type,
                    "reason": type(error).__name__,
                },
            )
            raise self._unavailable(f"event {event.id} not acknowledged by the broker") from None
        self.healthy = True
        self._published(event.type)


@functools.cache
def _counters(service: str) -> tuple[Counter, Counter]:
    """The service's two publish counters, registered once per process whatever the number of
    publishers made (Prometheus refuses a name registered twice)."""
    published = Counter(
        f"{service}_events_published_total", "Events acknowledged by the broker", ["event_type"]
    )
    failed = Counter(
        f"{service}_publish_failures_total", "Events the broker did not acknowledge in time"
    )
    return published, failed


def counted_publisher(
    broker: KafkaBroker,
    timeout_s: float,
    *,
    service: str,
    unavailable: Callable[[str], Exception],
) -> AcknowledgedPublisher:
    """An acknowledged publisher that counts in ``<service>_events_published_total`` (by event
    type) and ``<service>_publish_failures_total``, raising the service's own error."""
    published, failed = _counters(service)
    return AcknowledgedPublisher(
        broker,
        timeout_s,
        unavailable=unavailable,
        published=lambda event_type: published.labels(event_type).inc(),
        unacknowledged=lambda _: failed.inc(),
    )
