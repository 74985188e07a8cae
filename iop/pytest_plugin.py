"""Pytest fixtures that give tests real infrastructure: a Kafka-compatible broker over TCP.

`kafka_bootstrap` follows ARCHITECTURE.md's order (`KAFKA_BOOTSTRAP_SERVERS`, testcontainers when a
Docker engine answers, else the embedded broker). It is module-scoped: with the embedded broker
each test module gets a fresh, empty broker; with a shared one, tests must use unique ids.
"""

import uuid
from collections.abc import Iterator

import pytest

from iop.broker import EmbeddedBroker, any_broker


@pytest.fixture(scope="module")
def kafka_bootstrap() -> Iterator[str]:
    with any_broker() as bootstrap:
        yield bootstrap


@pytest.fixture
def embedded_broker() -> Iterator[EmbeddedBroker]:
    """A broker of the test's own that it may stop, kill and restart (embedded only)."""
    broker = EmbeddedBroker().start()
    try:
        yield broker
    finally:
        broker.stop()


@pytest.fixture
def unique() -> str:
    """A short unique suffix for ids, topics and consumer groups of one test."""
    return uuid.uuid4().hex[:8]
