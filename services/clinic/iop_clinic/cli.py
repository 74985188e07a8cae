"""Command line of the clinic service: `iop-clinic run` and `iop-clinic hash-key`."""

import hashlib

import typer
from iop_contracts.logs import configure_logging

# No local variables in tracebacks: a command's locals may hold clients' first names.
app = typer.Typer(
    help="IOP clinic service", no_args_is_help=True, pretty_exceptions_show_locals=False
)


@app.callback()
def main() -> None:
    """IOP clinic service."""


@app.command()
def run(
    port: int = typer.Option(None, help="HTTP port (default CLINIC_HTTP_PORT, else 8083)"),
    host: str = typer.Option(None, help="HTTP host (default CLINIC_HTTP_HOST, else 127.0.0.1)"),
) -> None:
    """Serve the HTTP API, the attendance front door and the alert clock until SIGINT/SIGTERM."""
    import uvicorn

    from iop_clinic.app import create_app, load_settings

    settings = load_settings()
    updates = {k: v for k, v in {"http_port": port, "http_host": host}.items() if v is not None}
    settings = settings.model_copy(update=updates)
    # configure_logging also holds aiokafka at INFO or above: it logs record values at DEBUG.
    configure_logging("clinic", settings.log_level)
    # uvicorn handles SIGINT/SIGTERM: it stops accepting, drains requests, then runs the lifespan
    # shutdown (which stops the broker clients).
    uvicorn.run(
        create_app(settings),
        host=settings.http_host,
        port=settings.http_port,
        log_config=None,
        access_log=False,
    )


@app.command("hash-key")
def hash_key(key: str = typer.Option(..., prompt=True, hide_input=True)) -> None:
    """Print the sha256 of an API key, for CLINIC_API_KEYS (the key itself is never stored)."""
    typer.echo(hashlib.sha256(key.encode()).hexdigest())
