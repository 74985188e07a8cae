"""Command line of the notifier service: `iop-notifier run`."""

import typer

app = typer.Typer(help="IOP notifier service", no_args_is_help=True)


@app.callback()
def main() -> None:
    """IOP notifier service."""


@app.command()
def run() -> None:
    """Serve the notifier (consumers, delivery worker, health, metrics) until SIGINT/SIGTERM."""
    import uvicorn
    from iop_contracts.logs import configure_logging

    from iop_notifier.app import create_app
    from iop_notifier.settings import load_settings

    settings = load_settings()  # a refused setting exits with one line saying which
    configure_logging("notifier", settings.log_level)
    # uvicorn handles SIGINT and SIGTERM: it stops accepting requests, then runs the app's
    # shutdown (consumers stop, the ledger closes) before the process exits.
    uvicorn.run(
        create_app(settings),
        host=settings.http_host,
        port=settings.http_port,
        log_config=None,
        access_log=False,
        lifespan="on",
    )
