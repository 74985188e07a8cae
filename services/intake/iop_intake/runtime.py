"""The parts of a running intake that its HTTP routes and Kafka handlers share."""

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field

from iop_intake.adapters.publisher import EventPublisher
from iop_intake.domain.access import Keyring
from iop_intake.domain.status import StatusProjection
from iop_intake.http.idempotency import IdempotencyStore
from iop_intake.settings import IntakeSettings


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

    def __post_init__(self) -> None:
        self.idempotency = IdempotencyStore(self.settings.idempotency_capacity)

    def readiness(self) -> dict[str, bool]:
        publisher_healthy = getattr(self.publisher, "healthy", True)
        return {
            "broker": self.broker_connected.is_set() and bool(publisher_healthy),
            "projection": self.projection_ready.is_set(),
            "readers": self.readers_alive(),
        }
