"""The parts of a running intake that its HTTP routes and Kafka handlers share."""

import asyncio
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field

from iop_contracts.access import Keyring

from iop_intake.adapters.publisher import EventPublisher
from iop_intake.domain.status import StatusProjection
from iop_intake.http.idempotency import IdempotencyStore
from iop_intake.settings import IntakeSettings

_STRIPES = 256


@dataclass
class Intake:
    settings: IntakeSettings
    publisher: EventPublisher
    keyring: Keyring
    projection: StatusProjection = field(default_factory=StatusProjection)
    projection_ready: asyncio.Event = field(default_factory=asyncio.Event)
    broker_connected: asyncio.Event = field(default_factory=asyncio.Event)
    idempotency: IdempotencyStore = field(init=False)
    # Every Kafka reading task still runs (set by the app once it has built them).
    readers_alive: Callable[[], bool] = field(default=lambda: True)
    # Striped locks: bounded memory, and two enrollments of one client id share a lock.
    _enrolling: list[asyncio.Lock] = field(
        default_factory=lambda: [asyncio.Lock() for _ in range(_STRIPES)], repr=False
    )

    def __post_init__(self) -> None:
        self.idempotency = IdempotencyStore(self.settings.idempotency_capacity)

    def enrolling(self, client_id: str) -> asyncio.Lock:
        """Held from the identity check to the projection's update: two requests for one id on
        this instance are judged one after the other (instances race through the topic, where
        the first request is current and the second ignored by every projection)."""
        return self._enrolling[zlib.crc32(client_id.encode()) % _STRIPES]

    def readiness(self) -> dict[str, bool]:
        publisher_healthy = getattr(self.publisher, "healthy", True)
        return {
            "broker": self.broker_connected.is_set() and bool(publisher_healthy),
            "projection": self.projection_ready.is_set(),
            "readers": self.readers_alive(),
        }
