"""The operator command line: iop broker, up, demo, topics, roster load, enroll import, report
and contracts. Every command ends an operator's mistake (a bad file or setting, no broker) with one
line on stderr and a non-zero status (iop_contracts.operator_errors)."""

import asyncio
import logging
import os
import signal
import threading
import time
from pathlib import Path

import typer
from iop_contracts import topics
from iop_contracts.kafka import KafkaSettings, check_reachable
from iop_contracts.operator_errors import EXIT_BAD_INPUT, OperatorError, at_cli_boundary
from iop_intake.cli import import_command as intake_import_command

from iop.broker import EmbeddedBroker
from iop.reports import ReportName


def _app(text: str) -> typer.Typer:
    # No local variables in tracebacks: a command's locals may be rows with contact details.
    return typer.Typer(help=text, no_args_is_help=True, pretty_exceptions_show_locals=False)


app = _app("Operate the IOP scheduling system")
contracts_app = _app("The integration contract")
roster_app = _app("The network's sites, groups and therapists")
enroll_app = _app("Enrollments in bulk")
topics_app = _app("The contract's Kafka topics")
app.add_typer(contracts_app, name="contracts")
app.add_typer(roster_app, name="roster")
app.add_typer(enroll_app, name="enroll")
app.add_typer(topics_app, name="topics")
# The import is intake's own command (validation, screening, resumable publishing); the operator
# CLI only gives it its documented name.
enroll_app.command("import")(intake_import_command)


@app.callback()
def main() -> None:
    """Operate the IOP scheduling system."""
    # A broker that does not answer is the command's one line (its own error), not aiokafka's
    # log lines besides it; services started by `iop up` log to their own files.
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)


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
@at_cli_boundary
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
@at_cli_boundary
def up() -> None:
    """Run the whole system in the foreground until Ctrl-C.

    Uses KAFKA_BOOTSTRAP_SERVERS if set, else starts the embedded broker; NOTIFIER_SMTP_HOST/PORT
    if set, else a local SMTP sink that writes each message to .iop/outbox/. Without
    INTAKE_API_KEYS, intake runs with authentication off (INTAKE_AUTH_DISABLED=true), and says so;
    so does the clinic without CLINIC_API_KEYS.
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
@at_cli_boundary
def demo(
    later: int = typer.Option(
        8,
        min=0,
        max=26,
        help="then restart the scheduler this many weeks later (IOP_TODAY, that week's Friday) "
        "to show programmes ending and waiting clients taking the freed seats; 0 skips it "
        "(the week of attendance is then next week's)",
    ),
) -> None:
    """Start everything on the sample network, enroll sixty clients, print who went where,
    what closures and absences cancel, and who ends and who moves up some weeks later; then
    record that week's attendance through the clinic, print its hours compliance and alerts,
    and ask the scheduler for one make-up."""
    from iop.demo import render, render_later, run_demo
    from iop.demo_attendance import render_attendance
    from iop.system import System, SystemSettings

    started = time.monotonic()
    # Free ports and a fresh state folder per run: a demo never collides with a running `iop up`.
    state = Path(os.environ.get("IOP_STATE_DIR", ".iop")) / "demo"
    system = System(SystemSettings.isolated(state))
    typer.echo("starting broker, SMTP sink and the four services ...", err=True)
    typer.echo(system.describe_auth(), err=True)
    outcome, afterwards, attendance = run_demo(system, later_weeks=later)
    typer.echo(render(outcome))
    findings = list(outcome.findings)
    if afterwards is not None:
        typer.echo("\n" + render_later(afterwards, outcome))
        findings += afterwards.findings
    typer.echo("\n" + render_attendance(attendance))
    findings += attendance.findings
    typer.echo(f"emails written to {system.outbox}/; logs in {system.run_dir}/")
    typer.echo(f"demo finished in {time.monotonic() - started:.0f} s")
    if findings or not outcome.placed:
        raise typer.Exit(1)


def _bootstrap_option() -> str:
    return typer.Option("", envvar="KAFKA_BOOTSTRAP_SERVERS", help="Kafka bootstrap servers")


def _kafka(bootstrap: str) -> KafkaSettings:
    """The deployment's Kafka settings (TLS, SASL, replication from the environment) for the
    address given; the address is required: a tool must not guess which cluster to write to."""
    from iop_contracts.kafka import KafkaSettings

    if not bootstrap:
        raise OperatorError(
            "which Kafka? set KAFKA_BOOTSTRAP_SERVERS or --bootstrap", EXIT_BAD_INPUT
        )
    return KafkaSettings(bootstrap_servers=bootstrap)


@roster_app.command("load")
@at_cli_boundary
def roster_load(
    file: Path = typer.Argument(..., help="roster YAML: sites, groups, therapists"),
    bootstrap: str = _bootstrap_option(),
) -> None:
    """Publish a network's sites, groups and therapists (YAML) to iop.roster.v1."""
    from iop.roster import load_roster_file, publish_events

    kafka = _kafka(bootstrap)
    events = load_roster_file(file)
    asyncio.run(check_reachable(kafka))
    asyncio.run(publish_events(kafka, events))
    kinds: dict[str, int] = {}
    for event in events:
        kinds[event.type] = kinds.get(event.type, 0) + 1
    summary = ", ".join(f"{n} {kind.removeprefix('iop.')}" for kind, n in kinds.items())
    typer.echo(f"published {len(events)} roster events: {summary}")


@topics_app.command("create")
@at_cli_boundary
def topics_create(
    bootstrap: str = _bootstrap_option(),
    timeout: float = typer.Option(60.0, help="seconds to wait for the cluster to answer"),
) -> None:
    """Create the contract's topics that do not exist yet (partitions and configs from
    iop_contracts.topics; replication from KAFKA_REPLICATION_FACTOR and
    KAFKA_MIN_INSYNC_REPLICAS, 3 and 2 unless set). Existing topics are left as they are."""
    from iop.broker import ensure_topics

    kafka = _kafka(bootstrap)
    created = asyncio.run(ensure_topics(kafka, timeout_s=timeout))
    replication = kafka.replication
    existed = len(topics.ALL_TOPICS) - len(created)
    typer.echo(
        f"created {len(created)} topics (replication factor {replication.factor}, "
        f"min.insync.replicas {replication.min_insync}), {existed} existed already"
        + "".join(f"\n  {name}" for name in created)
    )


@app.command()
@at_cli_boundary
def report(
    name: ReportName = typer.Argument(..., help="compliance, census, utilisation or waitlist"),
    week: str = typer.Option(None, help="ISO week, e.g. 2027-W09 (default: this week)"),
    site: str = typer.Option(None, help="one site (default: every site of the key)"),
    out: Path = typer.Option(None, help="write the CSV here instead of to stdout"),
    url: str = typer.Option(None, help="the clinic's address (default CLINIC_URL, else local)"),
    api_key: str = typer.Option(
        None, envvar="IOP_CLINIC_API_KEY", help="a clinic API key (its scope applies)"
    ),
) -> None:
    """A clinic report as CSV, read from the running clinic service: weekly hours compliance,
    census per site and level of care, group utilisation, or the waitlist by reason and age."""
    from iop.reports import default_url, fetch_report

    text = fetch_report(url or default_url(), name, week=week, site=site, api_key=api_key)
    if out is None:
        typer.echo(text, nl=False)
        return
    out.write_text(text, encoding="utf-8")
    rows = max(0, len(text.splitlines()) - 1)
    typer.echo(f"wrote {rows} rows to {out}", err=True)


@contracts_app.command("export")
@at_cli_boundary
def contracts_export(directory: Path) -> None:
    """Write one JSON Schema per payload and an AsyncAPI document for all topics."""
    from iop_contracts.schemas import export

    for path in export(directory):
        typer.echo(str(path))


if __name__ == "__main__":
    app()
