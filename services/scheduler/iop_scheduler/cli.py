"""Command line of the scheduler service."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import typer
from iop_contracts.operator_errors import at_cli_boundary, settings_or_exit

from .adapters.snapshot import first_fit_snapshot, solve_snapshot
from .solver import SolveSettings, generate, validate_output

# No local variables in tracebacks: a snapshot's enrollments are clients' data.
app = typer.Typer(
    help="IOP scheduler service", no_args_is_help=True, pretty_exceptions_show_locals=False
)


@app.callback()
def main() -> None:
    """IOP scheduler service."""


def _read(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise typer.BadParameter(f"{path}: {exc}") from exc
    if not isinstance(data, dict):
        raise typer.BadParameter(f"{path}: expected a JSON object")
    return data


def _write(data: dict[str, Any], out: Path | None) -> None:
    text = json.dumps(data, indent=2, sort_keys=False)
    if out is None:
        sys.stdout.write(text + "\n")
    else:
        out.write_text(text + "\n", encoding="utf-8")


def _summary(result: dict[str, Any]) -> str:
    stats = result["stats"]
    return (
        f"scheduled={len(result['scheduled'])} waitlisted={len(result['waitlisted'])} "
        f"rescheduled={len(result.get('rescheduled', []))} status={stats.get('status')} "
        f"objective={stats.get('objective')} bound={stats.get('best_bound')} "
        f"gap={stats.get('gap')} wall_s={stats.get('wall_s')}"
    )


@app.command()
@at_cli_boundary
def solve(
    snapshot: Path = typer.Argument(..., exists=True, dir_okay=False, help="snapshot JSON"),
    output: Path | None = typer.Option(None, "-o", "--output", help="write the result here"),
    time_limit: float = typer.Option(10.0, "--time-limit", help="wall-clock budget, seconds"),
    workers: int = typer.Option(8, "--workers", help="CP-SAT workers per region"),
    seed: int = typer.Option(0, "--seed", help="CP-SAT random seed"),
    gap: float = typer.Option(0.0, "--gap", help="relative gap limit on weighted placements"),
    deterministic: bool = typer.Option(
        True,
        "--deterministic/--wall-clock",
        help="reproducible search for a given seed and worker count (default), or the "
        "free-running portfolio stopped by the wall clock",
    ),
) -> None:
    """Place every enrollment of SNAPSHOT; existing valid schedules stay as they are."""
    settings = SolveSettings(
        time_limit_s=time_limit,
        workers=workers,
        seed=seed,
        relative_gap_limit=gap,
        deterministic=deterministic,
    )
    result = solve_snapshot(_read(snapshot), settings)
    _write(result, output)
    typer.echo(_summary(result), err=True)


@app.command()
@at_cli_boundary
def baseline(
    snapshot: Path = typer.Argument(..., exists=True, dir_okay=False, help="snapshot JSON"),
    output: Path | None = typer.Option(None, "-o", "--output", help="write the result here"),
) -> None:
    """The first-fit clerk's schedule for SNAPSHOT (same output shape as solve)."""
    result = first_fit_snapshot(_read(snapshot))
    _write(result, output)
    typer.echo(_summary(result), err=True)


@app.command()
@at_cli_boundary
def validate(
    snapshot: Path = typer.Argument(..., exists=True, dir_okay=False, help="snapshot JSON"),
    result: Path = typer.Argument(..., exists=True, dir_okay=False, help="solve output JSON"),
) -> None:
    """Check RESULT against every hard rule for SNAPSHOT; exit 1 if anything is broken."""
    findings = validate_output(_read(snapshot), _read(result))
    for finding in findings:
        typer.echo(str(finding))
    typer.echo(f"{len(findings)} finding(s)", err=True)
    if findings:
        raise typer.Exit(code=1)


@app.command("generate")
@at_cli_boundary
def generate_cmd(
    seed: int = typer.Option(0, "--seed"),
    regions: int = typer.Option(1, "--regions", min=1),
    sites_per_region: int = typer.Option(6, "--sites-per-region", min=1),
    load: float = typer.Option(1.0, "--load", min=0.0, help="enrollments per group seat"),
    output: Path | None = typer.Option(None, "-o", "--output", help="write the snapshot here"),
) -> None:
    """Write a synthetic network snapshot (sites, groups, therapists, enrollments)."""
    _write(generate(seed, regions, sites_per_region, load), output)


@app.command()
@at_cli_boundary
def run(
    host: str | None = typer.Option(None, help="Listen address (default SCHEDULER_HTTP_HOST)"),
    port: int | None = typer.Option(None, help="HTTP port (default SCHEDULER_HTTP_PORT, 8081)"),
) -> None:
    """Run the scheduler service: Kafka consumer and producer, health and metrics over HTTP.
    Stops cleanly (last batch published and committed, group left) on SIGINT or SIGTERM."""
    import uvicorn

    from .app import create_app
    from .settings import SchedulerSettings

    settings = settings_or_exit(SchedulerSettings, "iop-scheduler")
    uvicorn.run(
        create_app(settings),
        host=host or settings.http_host,
        port=settings.http_port if port is None else port,
        log_config=None,  # keep our JSON logs
        access_log=False,
        lifespan="on",
    )
