"""Command line of the intake service."""

import typer

app = typer.Typer(help="IOP intake service", no_args_is_help=True)


@app.callback()
def main() -> None:
    """IOP intake service."""
