"""Fixtures of the clinic's service tests: a sample network on the test's broker, the clinic app
with its lifespan running, API keys per site, and topic readers.

Today is pinned (IOP_TODAY) to a Wednesday for each module that asks for it: the contract's
date window and the clinic's "today" both read it, so the dates built here from TODAY never meet
the real calendar. Ids carry a per-module suffix, so a shared broker (KAFKA_BOOTSTRAP_SERVERS)
keeps the modules apart.
"""

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import httpx
import pytest
from aiokafka import ConsumerRecord
from fastapi import FastAPI
from iop_clinic.app import build_app
from iop_clinic.domain import testing as build
from iop_clinic.runtime import ClinicRuntime
from iop_clinic.settings import ClinicSettings
from iop_contracts import CloudEvent, Payload, decode_record, new_event
from iop_contracts.access import key_digest
from iop_contracts.consume import read_records
from iop_contracts.kafka import KafkaSettings, make_broker, publish_event

TODAY = date(2027, 3, 3)  # a Wednesday: pinned as IOP_TODAY, never compared with the clock
MONDAY = TODAY - timedelta(days=2)
LAST_THURSDAY = MONDAY - timedelta(days=4)
PROGRAMME_START = MONDAY - timedelta(weeks=2)

Record = ConsumerRecord[bytes, bytes]


@pytest.fixture(scope="module")
def pinned_today() -> Iterator[date]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("IOP_TODAY", TODAY.isoformat())
        yield TODAY


@dataclass
class Network:
    """Two sites of one region, a group at each (Mon, Wed, Thu 18:00-21:00) and clients placed
    from PROGRAMME_START with a Saturday individual session: ten hours a week, minimum nine."""

    suffix: str
    keys: dict[str, str] = field(default_factory=dict)

    def site(self, n: int) -> str:
        return f"s{n}-{self.suffix}"

    def group(self, n: int) -> str:
        return f"g{n}-{self.suffix}"

    def client(self, name: str) -> str:
        return f"c-{self.suffix}-{name}"

    @property
    def region(self) -> str:
        return f"r-{self.suffix}"

    @property
    def therapist(self) -> str:
        return f"t-{self.suffix}"

    def roster(self) -> list[Payload]:
        sites = [build.site(self.site(n), self.region) for n in (1, 2)]
        therapist = build.therapist(self.therapist, [self.site(1), self.site(2)])
        return [*sites, therapist, *(self.group_upserted(n) for n in (1, 2))]

    def group_upserted(self, n: int) -> Any:
        return build.group(self.group(n), self.site(n), facilitator_id=self.therapist)

    def placed(self, name: str, at: int = 1, **changes: Any) -> list[Payload]:
        """The enrollment and the schedule of one client in group `at`."""
        client_id = self.client(name)
        enrollment = build.enrollment(
            client_id, self.region, first_name=name.title(), preferred_site_ids=[self.site(at)]
        )
        schedule = build.scheduled(
            client_id,
            self.group_upserted(at),
            PROGRAMME_START,
            facilitator_id=self.therapist,
            therapist_id=self.therapist,
            region_id=self.region,
            **changes,
        )
        return [enrollment, schedule]

    def key_of(self, name: str) -> dict[str, str]:
        return {"X-API-Key": self.keys[name]}

    def api_keys(self) -> dict[str, dict[str, Any]]:
        """A key per site (site staff) and one for the network (head office)."""
        scopes = {
            "s1": {"name": "s1-desk", "regions": [self.region], "sites": [self.site(1)]},
            "s2": {"name": "s2-desk", "regions": [self.region], "sites": [self.site(2)]},
            "network": {"name": "head-office", "network": True},
        }
        self.keys = {name: f"key-{name}-{self.suffix}" for name in scopes}
        return {key_digest(self.keys[name]): scope for name, scope in scopes.items()}


@pytest.fixture(scope="module")
def network() -> Network:
    return Network(uuid.uuid4().hex[:6])


def clinic_settings(bootstrap: str, network: Network, **changes: Any) -> ClinicSettings:
    kafka = KafkaSettings().model_copy(update={"bootstrap_servers": bootstrap})
    base: dict[str, Any] = {
        "kafka": kafka,
        "api_keys": network.api_keys(),
        "attendance_group_id": f"clinic-{network.suffix}",
        "session_timeout_ms": 4000,
        "heartbeat_interval_ms": 1000,
        "publish_timeout_s": 3.0,
        "retry_after_s": 1,
        "alert_tick_s": 0.3,
    }
    return ClinicSettings(**{**base, **changes})


async def publish(bootstrap: str, payloads: list[Payload]) -> list[CloudEvent]:
    """Publish as the other services (and EHRs) would, acknowledged."""
    events = [new_event(p, source="/iop/tests") for p in payloads]
    broker = make_broker(KafkaSettings.local(bootstrap), client_id="clinic-tests")
    await broker.start()
    try:
        for event in events:
            await publish_event(broker, event)
    finally:
        await broker.stop()
    return events


class running_clinic:
    """`async with running_clinic(settings) as (client, runtime)`: the app with its lifespan
    running, ready (read model caught up, broker connected, attendance partitions owned)."""

    def __init__(self, settings: ClinicSettings) -> None:
        self.app: FastAPI = build_app(settings)
        self._lifespan: Any = None
        self._client: httpx.AsyncClient | None = None

    async def __aenter__(self) -> tuple[httpx.AsyncClient, ClinicRuntime]:
        self._lifespan = self.app.router.lifespan_context(self.app)
        await self._lifespan.__aenter__()
        runtime: ClinicRuntime = self.app.state.clinic
        async with asyncio.timeout(30):
            await runtime.broker_connected.wait()
            await runtime.model_ready.wait()
            while not self.app.state.parts.clock.owns_any():
                await asyncio.sleep(0.1)
        transport = httpx.ASGITransport(app=self.app)
        self._client = httpx.AsyncClient(transport=transport, base_url="http://clinic")
        return self._client, runtime

    async def __aexit__(self, *exc: object) -> None:
        if self._client is not None:
            await self._client.aclose()
        await self._lifespan.__aexit__(None, None, None)


async def topic_records(
    bootstrap: str, topic: str, until: Callable[[list[Record]], bool] | None = None
) -> list[Record]:
    """Every record of `topic` up to its current end (until None), or until `until(records)`."""
    return await read_records(bootstrap, [topic], until=until, timeout_s=20, name="clinic-tests")


def events_of(records: list[Record], client_id: str, event_type: str) -> list[CloudEvent]:
    """The decodable events of one type about one client."""
    found = []
    for record in records:
        try:
            event = decode_record(record.value)
        except ValueError:
            continue
        if event.type == event_type and event.subject == client_id:
            found.append(event)
    return found


@pytest.fixture(scope="module")
async def seeded(kafka_bootstrap: str, network: Network, pinned_today: date) -> Network:
    """The network's roster and clients on the broker: ana, ben, cy at site 1, dee at site 2."""
    placed = [p for name in ("ana", "ben", "cy") for p in network.placed(name)]
    await publish(kafka_bootstrap, [*network.roster(), *placed, *network.placed("dee", at=2)])
    return network


@pytest.fixture(scope="module")
async def clinic(
    kafka_bootstrap: str, seeded: Network
) -> AsyncIterator[tuple[httpx.AsyncClient, ClinicRuntime]]:
    async with running_clinic(clinic_settings(kafka_bootstrap, seeded)) as running:
        yield running
