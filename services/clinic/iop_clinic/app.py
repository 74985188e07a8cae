"""The clinic service as one FastAPI app with FastStream Kafka clients inside.

`create_app()` is the deployable app (`iop-clinic run`, `uvicorn iop_clinic.app:create_app
--factory`): JSON logs with the allow-list, no access log, and a refusal to start with
authentication off unless CLINIC_AUTH_DISABLED=true says that is meant. `build_app(settings)` is
the app itself, for tests, which keep pytest's logging.

Nothing connects at import or when the app is built; the lifespan connects (retrying until the
broker answers, answering 503 meanwhile) and starts three readers: the read model's table
reader over the six topics it folds, the attendance front door (a consumer group on
iop.attendance.v1 that dead-letters bad records and evaluates alerts), and the alert clock.
"""

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

from fastapi import FastAPI
from iop_contracts import topics
from iop_contracts.access import auth_refusal
from iop_contracts.asgi import BodyLimit
from iop_contracts.consume import DeadLetters, TableReader, subscribe_isolated, subscriber_alive
from iop_contracts.dates import contract_today
from iop_contracts.kafka import make_broker
from iop_contracts.logs import configure_logging
from iop_contracts.operator_errors import settings_or_exit
from iop_contracts.startup import Startable, start_with_retries
from iop_contracts.tracing import TracingMiddleware
from prometheus_client import make_asgi_app

from iop_clinic import web
from iop_clinic.adapters.alerts import AlertDesk, AttendanceOwnership
from iop_clinic.adapters.attendance import CONSUMER, AttendanceDesk
from iop_clinic.adapters.clock import AlertClock
from iop_clinic.adapters.publisher import kafka_event_publisher
from iop_clinic.http import attendance, board, health, problems, reports
from iop_clinic.runtime import ClinicRuntime
from iop_clinic.settings import ClinicSettings

log = logging.getLogger(__name__)

CLIENT_ID = "iop-clinic"
CLOCK = "clinic-alert-clock"  # the one task that runs as long as the app
# What the read model folds: the roster, first names from enrollments, schedules, substitutes,
# attendance (its own alerts read back) and notification outcomes.
READ_TOPICS = (
    topics.ROSTER,
    topics.ENROLLMENT,
    topics.SCHEDULE,
    topics.STAFFING,
    topics.ATTENDANCE,
    topics.NOTIFICATION,
)


def create_app(settings: ClinicSettings | None = None) -> FastAPI:
    """The deployable app; exits with one line when the settings are unusable or unsafe."""
    settings = settings or load_settings()
    configure_logging("clinic", settings.log_level)
    refusal = startup_refusal(settings)
    if refusal is not None:
        raise SystemExit(f"iop-clinic refuses to start: {refusal}")
    return build_app(settings)


def load_settings() -> ClinicSettings:
    """The settings from the environment; a refused one exits with one line naming it (never
    its value: it may be an API key)."""
    return settings_or_exit(ClinicSettings, "iop-clinic")


def startup_refusal(settings: ClinicSettings) -> str | None:
    return auth_refusal(
        "CLINIC", has_keys=bool(settings.api_keys), auth_disabled=settings.auth_disabled
    )


class Parts:
    """The app's Kafka side, built without connecting."""

    def __init__(self, settings: ClinicSettings) -> None:
        # Two clients: the producer's request timeout is capped to the HTTP publish timeout,
        # which would be too short for the consumer group's join requests.
        faststream_log = logging.getLogger("iop_clinic.faststream")
        self.producer = make_broker(
            settings.producer_kafka(), client_id=CLIENT_ID, logger=faststream_log
        )
        self.consumer = make_broker(
            settings.kafka, client_id=f"{CLIENT_ID}-attendance", logger=faststream_log
        )
        self.publisher = kafka_event_publisher(self.producer, settings.publish_timeout_s)
        self.runtime = ClinicRuntime.of(settings, self.publisher)
        self.alerts = AlertDesk(self.runtime)
        self.clock = AlertClock(self.runtime, self.alerts, AttendanceOwnership(*self._owned()))
        self.reader = TableReader(
            settings.kafka, READ_TOPICS, self.clock.fold, name=f"{CLIENT_ID}-board"
        )
        self.desk = AttendanceDesk(self.runtime, self.alerts, lambda: self.reader.caught_up(30))
        self.subscriber: Any = subscribe_isolated(
            self.consumer,
            topics.ATTENDANCE,
            group_id=settings.attendance_group_id,
            handle=self.desk.answer,
            dead_letters=DeadLetters(self.producer, CONSUMER),
            session_timeout_ms=settings.session_timeout_ms,
            heartbeat_interval_ms=settings.heartbeat_interval_ms,
        )
        self.tasks: list[asyncio.Task[None]] = []

    def _owned(self) -> tuple[Any, Any]:
        """The attendance partitions the group consumer owns now, and all of them."""

        def assigned() -> set[int]:
            consumer = getattr(self.subscriber, "consumer", None)
            return {tp.partition for tp in consumer.assignment()} if consumer else set()

        def partitions() -> list[int]:
            consumer = getattr(self.subscriber, "consumer", None)
            found = consumer.partitions_for_topic(topics.ATTENDANCE) if consumer else None
            return sorted(found or ())

        return assigned, partitions

    def alive(self) -> bool:
        connected = self.runtime.broker_connected.is_set()
        return (
            self.reader.alive
            and (not connected or subscriber_alive(self.subscriber))
            and not any(task.done() for task in self.tasks if task.get_name() == CLOCK)
        )


def build_app(settings: ClinicSettings) -> FastAPI:
    """The app for `settings`, as they are (tests; `create_app` checks them first)."""
    parts = Parts(settings)
    runtime = parts.runtime
    runtime.readers_alive = parts.alive

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        contract_today()  # a malformed IOP_TODAY stops the clinic here, not request by request
        if not runtime.keyring.enabled:
            log.warning("CLINIC_AUTH_DISABLED=true: authentication is off (network scope)")
        await parts.reader.start()
        parts.tasks = [
            asyncio.create_task(_connect(parts), name="clinic-connect"),
            asyncio.create_task(_mark_ready(parts), name="clinic-ready"),
            asyncio.create_task(parts.clock.run(), name=CLOCK),
        ]
        try:
            yield
        finally:
            await _stop(parts, settings.shutdown_timeout_s)

    app = FastAPI(
        title="IOP clinic",
        version="1",
        description=(
            "The staff's side of the IOP system: attendance (each record on iop.attendance.v1, "
            "acknowledged by the broker before the 201), weekly hours compliance, make-up "
            "requests and reports. Keys and scopes as intake's."
        ),
        lifespan=lifespan,
    )
    app.state.clinic = runtime
    app.state.parts = parts
    for router in (attendance.router, board.router, reports.router, health.router):
        app.include_router(router)
    web.install(app, settings)  # the staff board, under /board
    app.mount("/metrics", make_asgi_app())
    problems.install(app, settings.retry_after_s)
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes, refusal=problems.too_large)
    # Outermost: a request's server span covers all of it, and parents the events it publishes.
    app.add_middleware(TracingMiddleware)
    return app


async def _stop(parts: Parts, timeout_s: float) -> None:
    for task in parts.tasks:
        task.cancel()
    await asyncio.gather(*parts.tasks, return_exceptions=True)
    await parts.reader.stop()
    # Bounded: with the broker gone, leaving the consumer group would retry forever.
    for broker in (parts.consumer, parts.producer):
        with contextlib.suppress(Exception):
            async with asyncio.timeout(timeout_s):
                await broker.stop()


async def _connect(parts: Parts) -> None:
    """Start the broker clients, retrying: the clinic serves (503) while Kafka is not there."""

    def started(broker: Startable) -> None:
        if broker is parts.producer:
            parts.publisher.connected = True

    brokers = (parts.producer, parts.consumer)
    connected = parts.runtime.broker_connected
    await start_with_retries(brokers, connected=connected, log=log, on_started=started)


async def _mark_ready(parts: Parts) -> None:
    await parts.reader.caught_up(timeout_s=None)
    parts.runtime.model_ready.set()
    log.info("read model rebuilt", extra={"count": len(parts.runtime.model.clients)})
