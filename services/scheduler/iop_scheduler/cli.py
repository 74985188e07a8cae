"""Command line of the scheduler service."""

import typer

app = typer.Typer(help="IOP scheduler service", no_args_is_help=True)


@app.callback()
def main() -> None:
    """IOP scheduler service."""
