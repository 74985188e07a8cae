"""Failures an operator causes at a command line, told as one sentence.

Every command line of the system (``iop``, ``iop-intake``, ``iop-scheduler``, ``iop-notifier``)
wraps its commands in ``at_cli_boundary``: what the operator can fix (a file that is missing or
malformed, a setting that is wrong, a broker that does not answer) ends the command with
``error: <one line>`` on stderr and a non-zero exit status, never a traceback, whose local
variables may hold rows with contact details. Anything else is a bug and still raises (the Typer
apps are built with ``pretty_exceptions_show_locals=False``, so its traceback shows no values).
"""

import functools
import sys
from collections.abc import Callable
from typing import ParamSpec, TypeVar

from aiokafka.errors import KafkaError
from pydantic import ValidationError
from pydantic_settings import BaseSettings, SettingsError

EXIT_UNAVAILABLE = 1
"""Something the command needs (the broker, a service) did not answer or refused."""
EXIT_BAD_INPUT = 2
"""A file, an argument or a setting the operator gave cannot be used."""

P = ParamSpec("P")
R = TypeVar("R")
S = TypeVar("S", bound=BaseSettings)


class OperatorError(Exception):
    """A failure the operator can fix; its message is the sentence to print (no personal data)."""

    def __init__(self, message: str, exit_code: int = EXIT_UNAVAILABLE) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def settings_problem(error: ValidationError) -> str:
    """A validation error as one line: where and what, never the value (it may be a secret)."""
    parts = []
    for problem in error.errors(include_input=False, include_url=False, include_context=False):
        where = ".".join(str(part) for part in problem["loc"])
        message = problem["msg"].removeprefix("Value error, ")
        parts.append(f"{where}: {message}" if where else message)
    what = "bad settings" if error.title.endswith("Settings") else f"invalid {error.title}"
    return f"{what}: {'; '.join(parts)}"


def explain(error: BaseException) -> tuple[str, int] | None:
    """The sentence and exit status for an error the operator can fix; None for anything else."""
    if isinstance(error, OperatorError):
        return str(error), error.exit_code
    if isinstance(error, ValidationError):
        return settings_problem(error), EXIT_BAD_INPUT
    if isinstance(error, SettingsError):
        # pydantic-settings names the field and the source, not the value.
        return f"bad settings: {error}", EXIT_BAD_INPUT
    if isinstance(error, KafkaError):
        # aiokafka's message starts with the error's name.
        return f"Kafka: {error or type(error).__name__}", EXIT_UNAVAILABLE
    if isinstance(error, OSError) and error.filename is not None:
        return f"{error.filename}: {error.strerror}", EXIT_BAD_INPUT
    if isinstance(error, OSError):
        return f"{type(error).__name__}: {error.strerror or error}", EXIT_UNAVAILABLE
    return None


def at_cli_boundary(command: Callable[P, R]) -> Callable[P, R]:
    """Run a command; an error the operator can fix becomes ``error: <sentence>`` on stderr and
    its exit status (see ``explain``)."""

    @functools.wraps(command)
    def run(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return command(*args, **kwargs)
        except Exception as error:
            told = explain(error)
            if told is None:
                raise
            print(f"error: {told[0]}", file=sys.stderr)
            raise SystemExit(told[1]) from None

    return run


def settings_or_exit(settings_class: type[S], program: str) -> S:
    """A service's settings from the environment; if they are unusable, the process exits with
    one line saying which setting and why (a service that refuses to start says why, without a
    traceback and without the value, which may be a secret)."""
    try:
        return settings_class()
    except (ValidationError, SettingsError) as error:
        told = explain(error)
        assert told is not None
        raise SystemExit(f"{program} refuses to start: {told[0]}") from None
