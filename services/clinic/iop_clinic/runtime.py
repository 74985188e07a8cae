"""The parts of a running clinic that its HTTP routes, Kafka handlers and clock share."""

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date

from iop_contracts.access import Keyring
from iop_contracts.dates import today_in
from iop_contracts.publishing import EventPublisher

from iop_clinic.domain import Clinic
from iop_clinic.errors import NotReady
from iop_clinic.settings import API_KEYS_SETTING, ClinicSettings


@dataclass
class ClinicRuntime:
    settings: ClinicSettings
    publisher: EventPublisher
    keyring: Keyring
    model: Clinic = field(default_factory=Clinic)
    model_ready: asyncio.Event = field(default_factory=asyncio.Event)
    broker_connected: asyncio.Event = field(default_factory=asyncio.Event)
    # Every Kafka reading task still runs (set by the app once it has built them).
    readers_alive: Callable[[], bool] = field(default=lambda: True)

    @classmethod
    def of(cls, settings: ClinicSettings, publisher: EventPublisher) -> "ClinicRuntime":
        return cls(settings, publisher, Keyring(settings.api_keys, API_KEYS_SETTING))

    def caught_up(self) -> Clinic:
        """The read model, once it has read the topics: requests are judged against it."""
        if not self.model_ready.is_set():
            raise NotReady("read model not caught up")
        return self.model

    def site_today(self, site_id: str | None) -> date:
        """Today at a site (its time zone), or IOP_TODAY when pinned."""
        timezone = next((s.timezone for s in self.model.sites() if s.site_id == site_id), None)
        return today_in(timezone)

    def client_today(self, client_id: str) -> date:
        return self.site_today(self.model.client_site(client_id))

    def readiness(self) -> dict[str, bool]:
        publisher_healthy = getattr(self.publisher, "healthy", True)
        return {
            "broker": self.broker_connected.is_set() and bool(publisher_healthy),
            "read_model": self.model_ready.is_set(),
            "readers": self.readers_alive(),
        }
