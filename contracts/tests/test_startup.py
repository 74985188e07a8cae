"""start_with_retries: each broker client starts once, a connection failure is retried with the
log lines operators read, and anything else is not swallowed."""

import asyncio
import logging

import pytest
from aiokafka.errors import KafkaConnectionError
from iop_contracts.startup import Startable, start_with_retries

LOGGER = "iop_test.startup"


class FlakyBroker:
    """Fails its first `failures` starts with `error`, then starts."""

    def __init__(self, failures: int = 0, error: Exception | None = None) -> None:
        self.failures = failures
        self.error = error or KafkaConnectionError("no broker")
        self.starts = 0

    async def start(self) -> None:
        self.starts += 1
        if self.starts <= self.failures:
            raise self.error


async def test_a_failed_start_is_retried_without_starting_the_others_again(
    caplog: pytest.LogCaptureFixture,
) -> None:
    producer, consumer = FlakyBroker(), FlakyBroker(failures=1)
    heard: list[Startable] = []
    connected = asyncio.Event()
    with caplog.at_level(logging.INFO, logger=LOGGER):
        await start_with_retries(
            (producer, consumer),
            connected=connected,
            log=logging.getLogger(LOGGER),
            on_started=heard.append,
        )
    assert (producer.starts, consumer.starts) == (1, 2)
    assert heard == [producer, consumer]
    assert connected.is_set()
    lines = [(r.name, r.levelno, r.getMessage()) for r in caplog.records]
    assert lines == [
        (LOGGER, logging.WARNING, "broker not reachable; retrying"),
        (LOGGER, logging.INFO, "broker connected"),
    ]
    retry = caplog.records[0]
    assert (getattr(retry, "attempt", None), getattr(retry, "reason", None)) == (
        1,
        "KafkaConnectionError",
    )


async def test_an_error_other_than_a_connection_failure_is_raised_not_retried() -> None:
    broken = FlakyBroker(failures=1, error=RuntimeError("bug"))
    connected = asyncio.Event()
    with pytest.raises(RuntimeError):
        await start_with_retries((broken,), connected=connected, log=logging.getLogger(LOGGER))
    assert broken.starts == 1
    assert not connected.is_set()
