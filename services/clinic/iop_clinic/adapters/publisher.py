"""Publishing clinic's events: returns once the broker acknowledged (acks=all), or raises
BrokerUnavailable (iop_contracts.publishing's shared publisher, counting in clinic's metrics)."""

from faststream.kafka import KafkaBroker
from iop_contracts.publishing import AcknowledgedPublisher, EventPublisher, counted_publisher

from iop_clinic.errors import BrokerUnavailable

__all__ = ["EventPublisher", "kafka_event_publisher"]


def kafka_event_publisher(broker: KafkaBroker, timeout_s: float) -> AcknowledgedPublisher:
    """Publishes through a FastStream broker, bounded in time so a caller can be told 503."""
    return counted_publisher(broker, timeout_s, service="clinic", unavailable=BrokerUnavailable)
