"""Command line of the intake service: `iop-intake run` and `iop-intake import FILE.csv`."""

import asyncio
import csv
import hashlib
import logging
import zipfile
from pathlib import Path

import typer
from iop_contracts.kafka import KafkaSettings, check_reachable
from iop_contracts.logs import configure_logging
from iop_contracts.operator_errors import EXIT_BAD_INPUT, OperatorError, at_cli_boundary

# No local variables in tracebacks: an import's locals are rows with contact details.
app = typer.Typer(
    help="IOP intake service", no_args_is_help=True, pretty_exceptions_show_locals=False
)


def setup_logging(level: str) -> None:
    # configure_logging also holds aiokafka at INFO or above: it logs record values at DEBUG.
    configure_logging("intake", level)


@app.callback()
def main() -> None:
    """IOP intake service."""


@app.command()
def run(
    port: int = typer.Option(None, help="HTTP port (default INTAKE_HTTP_PORT, else 8080)"),
    host: str = typer.Option(None, help="HTTP host (default INTAKE_HTTP_HOST, else 127.0.0.1)"),
) -> None:
    """Serve the HTTP API and the referral front door until SIGINT or SIGTERM."""
    import uvicorn

    from iop_intake.app import create_app, load_settings

    settings = load_settings()
    updates = {k: v for k, v in {"http_port": port, "http_host": host}.items() if v is not None}
    settings = settings.model_copy(update=updates)
    setup_logging(settings.log_level)
    # uvicorn handles SIGINT/SIGTERM: it stops accepting, drains requests, then runs the lifespan
    # shutdown (which stops the broker client).
    uvicorn.run(
        create_app(settings),
        host=settings.http_host,
        port=settings.http_port,
        log_config=None,
        access_log=False,
    )


@app.command("import")
@at_cli_boundary
def import_command(
    file: Path = typer.Argument(..., exists=True, dir_okay=False, readable=True),
    report: Path = typer.Option(None, help="Write rejected rows (row, field, problem) as CSV"),
) -> None:
    """Publish a site's backlog from CSV: every row validated and screened, re-runs resume."""
    from iop_intake.importer import RowError, import_csv

    setup_logging("WARNING")
    # The broker's absence is this command's one line, not aiokafka's log lines besides it.
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)
    kafka = KafkaSettings()
    asyncio.run(check_reachable(kafka))
    with typer.progressbar(length=0, label="importing") as bar:

        def progress(done: int, total: int) -> None:
            bar.length = total
            bar.update(done - bar.pos)

        try:
            summary = asyncio.run(import_csv(file, kafka=kafka, progress=progress))
        except RowError as error:
            raise OperatorError(f"{file}: {error}", EXIT_BAD_INPUT) from None
        except (UnicodeDecodeError, csv.Error, zipfile.BadZipFile) as error:
            raise OperatorError(f"{file}: {_unreadable(error)}", EXIT_BAD_INPUT) from None
        except TimeoutError:
            raise OperatorError(
                f"{kafka.bootstrap_servers} answered but iop.enrollment.v1 could not be read "
                "in time; do the topics exist (iop topics create)?"
            ) from None
    for rejected in summary.rejected:
        typer.echo(f"row {rejected.row}: {rejected.problem}", err=True)
    if report is not None:
        summary.write_report(report)
    typer.echo(summary.describe())
    raise typer.Exit(1 if summary.rejected else 0)


def _unreadable(error: Exception) -> str:
    """Why a file is not a table, without quoting it (its cells are personal data)."""
    if isinstance(error, UnicodeDecodeError):
        return "not a UTF-8 CSV file (save it as CSV UTF-8, or as .xlsx)"
    if isinstance(error, zipfile.BadZipFile):
        return "not a valid .xlsx workbook"
    return f"not a readable CSV file ({type(error).__name__})"


@app.command("hash-key")
def hash_key(key: str = typer.Option(..., prompt=True, hide_input=True)) -> None:
    """Print the sha256 of an API key, for INTAKE_API_KEYS (the key itself is never stored)."""
    typer.echo(hashlib.sha256(key.encode()).hexdigest())
