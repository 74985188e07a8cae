"""The deployable notifier app logs JSON through the allow-list and keeps no access log, even when
uvicorn has configured its own loggers before calling the factory (`uvicorn
iop_notifier.app:create_app --factory`); the command line shows no locals in tracebacks."""

import json
import logging
import logging.config
from collections.abc import Iterator

import pytest
from iop_contracts.kafka import KafkaSettings
from iop_notifier.app import create_app
from iop_notifier.cli import app as cli_app
from iop_notifier.settings import NotifierSettings
from uvicorn.config import LOGGING_CONFIG

UVICORN_LOGGERS = ("uvicorn", "uvicorn.error", "uvicorn.access")


@pytest.fixture
def restored_logging() -> Iterator[None]:
    """create_app configures the process's logging; the test process gets its own back."""
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    loggers = {name: logging.getLogger(name) for name in UVICORN_LOGGERS}
    kept = {name: (lg.handlers[:], lg.propagate, lg.level) for name, lg in loggers.items()}
    yield
    root.handlers[:], level = saved
    root.setLevel(level)
    for name, (handlers, propagate, lvl) in kept.items():
        loggers[name].handlers[:] = handlers
        loggers[name].propagate = propagate
        loggers[name].setLevel(lvl)


@pytest.mark.usefixtures("restored_logging")
def test_uvicorn_lines_come_out_as_json_and_there_is_no_access_log(
    capsys: pytest.CaptureFixture[str],
) -> None:
    logging.config.dictConfig(LOGGING_CONFIG)  # what uvicorn does before calling the factory
    settings = NotifierSettings(
        kafka=KafkaSettings.model_validate({"KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:1"})
    )
    create_app(settings)
    capsys.readouterr()
    logging.getLogger("uvicorn.error").info("Started server process")
    logging.getLogger("uvicorn.access").info('127.0.0.1 - "GET /v1/x/c-42 HTTP/1.1" 200')
    lines = capsys.readouterr().err.strip().splitlines()
    assert [json.loads(line)["msg"] for line in lines] == ["Started server process"]
    assert json.loads(lines[0])["service"] == "notifier"
    # uvicorn asks this before writing any access line: no handler, no line.
    assert not logging.getLogger("uvicorn.access").hasHandlers()


def test_the_command_line_shows_no_locals_in_tracebacks() -> None:
    assert cli_app.pretty_exceptions_show_locals is False
