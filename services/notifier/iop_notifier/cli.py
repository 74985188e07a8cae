"""Command line of the notifier service."""

import typer

app = typer.Typer(help="IOP notifier service", no_args_is_help=True)


@app.callback()
def main() -> None:
    """IOP notifier service."""
