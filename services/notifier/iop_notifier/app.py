"""The notifier as a FastStream ASGI app.

`create_app()` is the deployable app (`iop-notifier run`, `uvicorn iop_notifier.app:create_app
--factory`): JSON logs with the allow-list and no access log, whichever way it is started.
`build_app(settings, ...)` is the app itself, for tests, which keep pytest's logging.

Nothing connects at import or when the app is built: the broker connects, and the consumers and
the worker start, in the app's lifespan."""

import logging

from faststream.asgi import AsgiFastStream
from iop_contracts.kafka import make_broker
from iop_contracts.logs import configure_logging

from iop_notifier.adapters.transports import EmailTransport, SmsTransport
from iop_notifier.http import routes
from iop_notifier.runtime import NotifierRuntime
from iop_notifier.settings import NotifierSettings, load_settings
from iop_notifier.worker import Clock, utc_now


def create_app(settings: NotifierSettings | None = None) -> AsgiFastStream:
    """The deployable app; a refused setting exits with one line saying which."""
    settings = settings or load_settings()
    configure_logging("notifier", settings.log_level)
    return build_app(settings)


def build_app(
    settings: NotifierSettings,
    *,
    clock: Clock = utc_now,
    email: EmailTransport | None = None,
    sms: SmsTransport | None = None,
) -> AsgiFastStream:
    """The app for `settings`, with the process's logging left as it is (tests)."""
    # FastStream's own loggers print plain text; ours go through the JSON handler of
    # iop_contracts.logs like every other line.
    logger = logging.getLogger("iop_notifier.faststream")
    broker = make_broker(settings.kafka, client_id="iop-notifier", logger=logger)
    runtime = NotifierRuntime(settings, broker, clock=clock, email=email, sms=sms)
    app = AsgiFastStream(
        broker,
        asgi_routes=routes(runtime),
        logger=logger,
        after_startup=[runtime.start],
        on_shutdown=[runtime.stop],
    )
    app.context.set_global("notifier_runtime", runtime)
    return app
