"""Publishing the clinic's events: returns once the broker acknowledged (acks=all), or raises
BrokerUnavailable (the shared publisher of iop_contracts.publishing, with the clinic's metrics)."""

from faststream.kafka import KafkaBroker
from iop_contracts.publishing import AcknowledgedPublisher, EventPublisher
from prometheus_client import Counter

from iop_clinic.errors import BrokerUnavailable

PUBLISHED = Counter(
    "clinic_events_published_total", "Events acknowledged by the broker", ["event_type"]
)
UNACKNOWLEDGED = Counter(
    "clinic_publish_failures_total", "Events the broker did not acknowledge in time"
)

__all__ = ["EventPublisher", "KafkaEventPublisher"]


class KafkaEventPublisher(AcknowledgedPublisher):
    """Publishes through a FastStream broker, bounded in time so a caller can be told 503."""

    def __init__(self, broker: KafkaBroker, timeout_s: float) -> None:
        super().__init__(
            broker,
            timeout_s,
            unavailable=BrokerUnavailable,
            published=lambda event_type: PUBLISHED.labels(event_type).inc(),
            unacknowledged=lambda _: UNACKNOWLEDGED.inc(),
        )
