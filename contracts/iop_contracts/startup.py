"""How a service's broker clients start: retrying until Kafka answers.

A service starts serving before the broker is there (its HTTP side answers 503 meanwhile), so
its lifespan starts the clients in the background with `start_with_retries`; the log lines
("broker not reachable; retrying", "broker connected") are the same for every service, because
operators and the faults suite read them.
"""

import asyncio
import logging
from collections.abc import Callable, Sequence
from typing import Protocol

from aiokafka.errors import KafkaError

MAX_PAUSE_S = 5  # between attempts: 1 s, 2 s, ... then every 5 s


class Startable(Protocol):
    """A broker client (FastStream's KafkaBroker) as far as starting it goes."""

    async def start(self) -> None: ...


async def start_with_retries(
    brokers: Sequence[Startable],
    *,
    connected: asyncio.Event,
    log: logging.Logger,
    on_started: Callable[[Startable], None] | None = None,
) -> None:
    """Start `brokers` in order, each once, retrying on a connection failure until all have
    started; `on_started` hears of each as it starts (a publisher may use its producer at once).
    Then set `connected` and log it on `log`, the service's own logger."""
    attempt = 0
    started: set[int] = set()
    while True:
        try:
            for broker in brokers:
                if id(broker) not in started:
                    await broker.start()
                    started.add(id(broker))
                    if on_started is not None:
                        on_started(broker)
        except (KafkaError, OSError) as error:
            attempt += 1
            log.warning(
                "broker not reachable; retrying",
                extra={"attempt": attempt, "reason": type(error).__name__},
            )
            await asyncio.sleep(min(attempt, MAX_PAUSE_S))
            continue
        connected.set()
        log.info("broker connected")
        return
