"""The operator command line: iop broker, up, demo, roster load and contracts."""

import signal
import threading
from pathlib import Path

import typer

from iop.broker import EmbeddedBroker

app = typer.Typer(help="Operate the IOP scheduling system", no_args_is_help=True)
contracts_app = typer.Typer(help="The integration contract", no_args_is_help=True)
app.add_typer(contracts_app, name="contracts")


def wait_for_interrupt() -> None:
    """Block until Ctrl-C or SIGTERM."""
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    while not stop.wait(0.5):
        pass


@app.command()
def broker(port: int = typer.Option(0, help="TCP port on 127.0.0.1; 0 picks a free one")) -> None:
    """Start the embedded Kafka-compatible broker, create the topics, and run until Ctrl-C."""
    embedded = EmbeddedBroker(port=port or None)
    embedded.start()
    typer.echo(f"KAFKA_BOOTSTRAP_SERVERS={embedded.bootstrap_servers}", color=False)
    typer.echo("embedded broker ready (memory storage); Ctrl-C stops it", err=True)
    try:
        wait_for_interrupt()
    finally:
        embedded.stop()


@contracts_app.command("export")
def contracts_export(directory: Path) -> None:
    """Write one JSON Schema per payload and an AsyncAPI document for all topics."""
    from iop_contracts.schemas import export

    for path in export(directory):
        typer.echo(str(path))


if __name__ == "__main__":
    app()
