"""The operator command line: `iop broker`, `iop up`, `iop demo`, `iop roster load`, `iop contracts`."""

import typer

app = typer.Typer(help="Operate the IOP scheduling system", no_args_is_help=True)


@app.callback()
def main() -> None:
    """Operate the IOP scheduling system."""
