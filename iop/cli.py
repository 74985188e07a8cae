"""The operator command line: iop broker, up, demo, roster load and contracts."""

import asyncio
import os
import signal
import threading
import time
from pathlib import Path

import typer
from iop_intake.cli import import_command as intake_import_command

from iop.broker import EmbeddedBroker

app = typer.Typer(help="Operate the IOP scheduling system", no_args_is_help=True)
contracts_app = typer.Typer(help="The integration contract", no_args_is_help=True)
roster_app = typer.Typer(help="The network's sites, groups and therapists", no_args_is_help=True)
enroll_app = typer.Typer(help="Enrollments in bulk", no_args_is_help=True)
app.add_typer(contracts_app, name="contracts")
app.add_typer(roster_app, name="roster")
app.add_typer(enroll_app, name="enroll")
# The import is intake's own command (validation, screening, resumable publishing); the operator
# CLI only gives it its documented name.
enroll_app.command("import")(intake_import_command)


def stop_on_signals() -> threading.Event:
    """An event set by Ctrl-C or SIGTERM. Installed before anything is announced, so a signal
    that follows the announcement at once still stops cleanly."""
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    return stop


def wait_for(stop: threading.Event) -> None:
    while not stop.wait(0.5):
        pass


@app.command()
def broker(port: int = typer.Option(0, help="TCP port on 127.0.0.1; 0 picks a free one")) -> None:
    """Start the embedded Kafka-compatible broker, create the topics, and run until Ctrl-C."""
    stop = stop_on_signals()
    embedded = EmbeddedBroker(port=port or None)
    embedded.start()
    try:
        typer.echo(f"KAFKA_BOOTSTRAP_SERVERS={embedded.bootstrap_servers}", color=False)
        typer.echo("embedded broker ready (memory storage); Ctrl-C stops it", err=True)
        wait_for(stop)
    finally:
        embedded.stop()


@app.command()
def up() -> None:
    """Run the whole system in the foreground until Ctrl-C.

    Uses KAFKA_BOOTSTRAP_SERVERS if set, else starts the embedded broker; NOTIFIER_SMTP_HOST/PORT
    if set, else a local SMTP sink that writes each message to .iop/outbox/.
    """
    from iop.system import System

    stop = stop_on_signals()
    system = System()
    typer.echo("starting the IOP scheduling system ...", err=True)
    system.start()
    try:
        for line in system.describe():
            typer.echo(line)
        typer.echo("ready; Ctrl-C stops everything", err=True)
        wait_for(stop)
    finally:
        typer.echo("stopping ...", err=True)
        system.stop()


@app.command()
def demo() -> None:
    """Start everything on the sample network, enroll sixty clients, print who went where."""
    from iop.demo import render, run_demo
    from iop.system import System, SystemSettings

    started = time.monotonic()
    # Free ports and a fresh state folder per run: a demo never collides with a running `iop up`.
    state = Path(os.environ.get("IOP_STATE_DIR", ".iop")) / "demo"
    system = System(SystemSettings.isolated(state))
    typer.echo("starting broker, SMTP sink and the three services ...", err=True)
    outcome = run_demo(system)
    typer.echo(render(outcome))
    typer.echo(f"emails written to {system.outbox}/; logs in {system.run_dir}/")
    typer.echo(f"demo finished in {time.monotonic() - started:.0f} s")
    if outcome.findings or not outcome.placed:
        raise typer.Exit(1)


@roster_app.command("load")
def roster_load(
    file: Path,
    bootstrap: str = typer.Option(
        "", envvar="KAFKA_BOOTSTRAP_SERVERS", help="Kafka bootstrap servers"
    ),
) -> None:
    """Publish a network's sites, groups and therapists (YAML) to iop.roster.v1."""
    from iop.roster import RosterFileError, load_roster_file, publish_events

    if not bootstrap:
        raise typer.BadParameter(
            "set KAFKA_BOOTSTRAP_SERVERS or --bootstrap", param_hint="bootstrap"
        )
    try:
        events = load_roster_file(file)
    except RosterFileError as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(2) from None
    asyncio.run(publish_events(bootstrap, events))
    kinds: dict[str, int] = {}
    for event in events:
        kinds[event.type] = kinds.get(event.type, 0) + 1
    summary = ", ".join(f"{n} {kind.removeprefix('iop.')}" for kind, n in kinds.items())
    typer.echo(f"published {len(events)} roster events: {summary}")


@contracts_app.command("export")
def contracts_export(directory: Path) -> None:
    """Write one JSON Schema per payload and an AsyncAPI document for all topics."""
    from iop_contracts.schemas import export

    for path in export(directory):
        typer.echo(str(path))


if __name__ == "__main__":
    app()
