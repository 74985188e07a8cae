"""The scheduler as an ASGI FastStream app: Kafka in and out, health and metrics over HTTP.

Nothing connects at import or in `create_app()`: the broker and the service start in the app's
lifespan (`uvicorn`, `faststream run iop_scheduler.app:create_app --factory`).
"""

import logging

from faststream.asgi import AsgiFastStream, AsgiResponse, get
from faststream.asgi.types import Scope
from iop_contracts.kafka import make_broker
from iop_contracts.logs import configure_logging
from prometheus_client import make_asgi_app

from iop_scheduler.adapters.placer import Placer
from iop_scheduler.metrics import Metrics
from iop_scheduler.service import SchedulerService
from iop_scheduler.settings import SchedulerSettings


def build(
    settings: SchedulerSettings | None = None, *, placer: Placer | None = None
) -> tuple[AsgiFastStream, SchedulerService]:
    """The app and the service inside it (tests drive and inspect the service directly)."""
    settings = settings or SchedulerSettings()
    # FastStream's own loggers print plain text; ours go through the JSON handler of
    # iop_contracts.logs like every other line (and pytest's capture in tests).
    logger = logging.getLogger("iop_scheduler.faststream")
    broker = make_broker(settings.kafka, client_id=settings.client_id, logger=logger)
    metrics = Metrics()
    service = SchedulerService(settings, broker, placer=placer, metrics=metrics)

    @get(include_in_schema=False)
    async def live(scope: Scope) -> AsgiResponse:
        if service.alive:
            return AsgiResponse(b"live", 200)
        return AsgiResponse(b"enrollment consumer stopped", 500)

    @get(include_in_schema=False)
    async def ready(scope: Scope) -> AsgiResponse:
        if service.ready:
            return AsgiResponse(b"ready", 200)
        return AsgiResponse(b"rebuilding owned regions", 503)

    app = AsgiFastStream(
        broker,
        logger=logger,
        asgi_routes=[
            ("/health/live", live),
            ("/health/ready", ready),
            ("/metrics", make_asgi_app(registry=metrics.registry)),
        ],
        after_startup=[service.start],
        on_shutdown=[service.stop],  # before the broker closes: the last batch still publishes
    )
    return app, service


def create_app(settings: SchedulerSettings | None = None) -> AsgiFastStream:
    """The deployable app (`faststream run iop_scheduler.app:create_app --factory`, or
    `iop-scheduler run`): JSON logs, allow-listed fields only. Tests use `build()` instead and
    keep pytest's logging."""
    settings = settings or SchedulerSettings()
    configure_logging("scheduler", settings.log_level)
    return build(settings)[0]
