"""Command line of the notifier service: `iop-notifier run`."""

import typer

# No local variables in tracebacks: a delivery's locals hold contact details.
app = typer.Typer(
    help="IOP notifier service", no_args_is_help=True, pretty_exceptions_show_locals=False
)


@app.callback()
def main() -> None:
    """IOP notifier service."""


@app.command()
def run() -> None:
    """Serve the notifier (consumers, delivery worker, health, metrics) until SIGINT/SIGTERM."""
    import uvicorn

    from iop_notifier.app import create_app
    from iop_notifier.settings import load_settings

    settings = load_settings()  # a refused setting exits with one line saying which
    # uvicorn handles SIGINT and SIGTERM: it stops accepting requests, then runs the app's
    # shutdown (consumers stop, the ledger closes) before the process exits.
    uvicorn.run(
        create_app(settings),  # JSON logs through the allow-list from here on
        host=settings.http_host,
        port=settings.http_port,
        log_config=None,
        access_log=False,
        lifespan="on",
    )
