"""The intake service as one FastAPI app with a FastStream Kafka broker inside.

`create_app()` is the deployable app (`iop-intake run`, `uvicorn iop_intake.app:create_app
--factory`): JSON logs with the allow-list, no access log, and a refusal to start with
authentication off unless INTAKE_AUTH_DISABLED=true says that is meant. `build_app(settings)` is
the app itself, for tests, which keep pytest's logging.

Nothing connects at import or when the app is built; the lifespan connects (retrying until the
broker answers, answering 503 meanwhile), starts the referral front door, and rebuilds the status
projection from iop.enrollment.v1 and iop.schedule.v1.
"""

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from fastapi import FastAPI
from faststream.kafka import KafkaBroker
from iop_contracts import topics
from iop_contracts.access import Keyring, auth_refusal
from iop_contracts.asgi import BodyLimit
from iop_contracts.consume import DeadLetters, TableReader, subscribe_isolated, subscriber_alive
from iop_contracts.dates import contract_today
from iop_contracts.kafka import make_broker
from iop_contracts.logs import configure_logging
from iop_contracts.operator_errors import settings_or_exit
from iop_contracts.publishing import AcknowledgedPublisher
from iop_contracts.startup import Startable, start_with_retries
from iop_contracts.tracing import TracingMiddleware
from prometheus_client import make_asgi_app

from iop_intake.adapters.publisher import kafka_event_publisher
from iop_intake.adapters.referrals import CONSUMER, ReferralDesk
from iop_intake.http import problems
from iop_intake.http.api import router
from iop_intake.runtime import Intake
from iop_intake.settings import IntakeSettings

log = logging.getLogger(__name__)

CLIENT_ID = "iop-intake"


def create_app(settings: IntakeSettings | None = None) -> FastAPI:
    """The deployable app; exits with one line when the settings are unusable or unsafe."""
    settings = settings or load_settings()
    configure_logging("intake", settings.log_level)
    refusal = startup_refusal(settings)
    if refusal is not None:
        raise SystemExit(f"iop-intake refuses to start: {refusal}")
    return build_app(settings)


def load_settings() -> IntakeSettings:
    """The settings from the environment; a refused one exits with one line naming it (never
    its value: it may be an API key)."""
    return settings_or_exit(IntakeSettings, "iop-intake")


def startup_refusal(settings: IntakeSettings) -> str | None:
    """Why intake must not start with these settings (see iop_contracts.access.auth_refusal)."""
    return auth_refusal(
        "INTAKE", has_keys=bool(settings.api_keys), auth_disabled=settings.auth_disabled
    )


def build_app(settings: IntakeSettings) -> FastAPI:
    """The app for `settings`, as they are (tests; `create_app` checks them first)."""
    # Two clients: the producer's request timeout is capped to the HTTP publish timeout (an
    # unacknowledged record expires rather than landing after we answered 503), which would be too
    # short for the consumer group's join requests (about half the session timeout).
    # FastStream logs through the root logger too, so its lines come out as JSON like ours.
    faststream_log = logging.getLogger("iop_intake.faststream")
    producer = make_broker(settings.producer_kafka(), client_id=CLIENT_ID, logger=faststream_log)
    consumer = make_broker(
        settings.kafka, client_id=f"{CLIENT_ID}-referrals", logger=faststream_log
    )
    publisher = kafka_event_publisher(producer, settings.publish_timeout_s)
    intake = Intake(
        settings=settings,
        publisher=publisher,
        keyring=Keyring(settings.api_keys, "INTAKE_API_KEYS"),
    )
    desk = ReferralDesk(publisher, intake.projection, intake.projection_ready)
    referrals = subscribe_isolated(
        consumer,
        topics.REFERRAL,
        group_id=settings.referral_group_id,
        handle=desk.answer,
        dead_letters=DeadLetters(producer, CONSUMER),
        session_timeout_ms=settings.session_timeout_ms,
        heartbeat_interval_ms=settings.heartbeat_interval_ms,
    )
    reader = TableReader(
        settings.kafka,
        (topics.ENROLLMENT, topics.SCHEDULE),
        intake.projection.apply,
        name=f"{CLIENT_ID}-status",
    )
    intake.readers_alive = lambda: (
        reader.alive and (not intake.broker_connected.is_set() or subscriber_alive(referrals))
    )

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        contract_today()  # a malformed IOP_TODAY stops intake here, not request by request
        if not intake.keyring.enabled:
            log.warning("INTAKE_AUTH_DISABLED=true: authentication is off (network scope)")
        await reader.start()
        running = [
            asyncio.create_task(_connect(producer, consumer, intake, publisher), name="connect"),
            asyncio.create_task(_mark_ready(reader, intake), name="intake-ready"),
        ]
        try:
            yield
        finally:
            for task in running:
                task.cancel()
            await asyncio.gather(*running, return_exceptions=True)
            await reader.stop()
            # Bounded: with the broker gone, leaving the consumer group would retry forever.
            for broker in (consumer, producer):
                with contextlib.suppress(Exception):
                    async with asyncio.timeout(settings.shutdown_timeout_s):
                        await broker.stop()

    app = FastAPI(
        title="IOP intake",
        version="1",
        description=(
            "Where a referral becomes an enrollment. Every accepted request is an event on "
            "iop.enrollment.v1, acknowledged by the broker before the 202."
        ),
        lifespan=lifespan,
    )
    app.state.intake = intake
    app.state.status_reader = reader
    app.include_router(router)
    app.mount("/metrics", make_asgi_app())
    problems.install(app, settings.retry_after_s)
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes)
    # Outermost: a request's server span covers all of it, and parents the events it publishes.
    app.add_middleware(TracingMiddleware)
    return app


async def _connect(
    producer: KafkaBroker, consumer: KafkaBroker, intake: Intake, publisher: AcknowledgedPublisher
) -> None:
    """Start the broker clients, retrying: intake serves (503) while Kafka is not there yet."""

    def started(broker: Startable) -> None:
        if broker is producer:
            publisher.connected = True

    await start_with_retries(
        (producer, consumer), connected=intake.broker_connected, log=log, on_started=started
    )


async def _mark_ready(reader: TableReader, intake: Intake) -> None:
    await reader.caught_up(timeout_s=None)
    intake.projection_ready.set()
    log.info("status projection rebuilt", extra={"count": len(intake.projection)})
