"""A stop with the broker gone still ends, within the drain and leave bounds: a SIGTERM that
never returns is a pod the orchestrator must kill, and a restart that waits for it."""

import asyncio
import logging
import time

import pytest
from iop_scheduler import service
from iop_scheduler.app import build
from iop_scheduler.service import LEAVE_TIMEOUT_S
from iop_scheduler.testing import (
    Producer,
    Running,
    enrollment_events,
    roster_events,
    settings_for,
    small_region,
    wait_answered,
)

from iop.broker import EmbeddedBroker


class GroupThatNeverAnswers:
    async def leave(self) -> None:
        await asyncio.Event().wait()


async def test_leaving_the_group_gives_up_after_its_bound(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """aiokafka retries a LeaveGroup for ever while the broker is away; the stop goes on."""
    _, scheduler = build(settings_for("127.0.0.1:9", "leave"))
    monkeypatch.setattr(scheduler, "_enrollments", GroupThatNeverAnswers())
    monkeypatch.setattr(service, "LEAVE_TIMEOUT_S", 0.2)
    with caplog.at_level(logging.WARNING):
        async with asyncio.timeout(10):
            await scheduler._leave_group()
    assert "left the group without the broker's answer" in caplog.text


@pytest.mark.integration
async def test_a_stop_with_the_broker_gone_ends_within_its_bounds(
    embedded_broker: EmbeddedBroker, unique: str
) -> None:
    bootstrap = embedded_broker.bootstrap_servers
    net = small_region(f"x{unique}", clients=3)
    settings = settings_for(bootstrap, unique, drain_timeout_s=5)
    running = Running(settings)
    async with Producer(bootstrap) as producer:
        await producer.send_all(roster_events(net))
        await running.__aenter__()
        try:
            await running.wait_ready()
            requests = enrollment_events(net)
            await producer.send_all(requests)
            await wait_answered(bootstrap, [e.subject or "" for e in requests], timeout_s=60)
        except BaseException:
            await running.__aexit__(None, None, None)
            raise
    await asyncio.to_thread(embedded_broker.kill)
    began = time.monotonic()
    async with asyncio.timeout(120):
        await running.__aexit__(None, None, None)
    took = time.monotonic() - began
    print(f"stop took {took:.1f} s")
    assert took < settings.drain_timeout_s + LEAVE_TIMEOUT_S + 15
