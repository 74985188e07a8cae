"""A fresh embedded broker keeps nothing, so the same client and schedule_version on it are a new
schedule: the notifier, reusing its ledger file, confirms them again (the `iop up` twice case)."""

import asyncio
from pathlib import Path

import pytest
from iop_contracts import topics
from iop_contracts.cluster import ClusterIdentityError, cluster_identity
from iop_contracts.kafka import KafkaSettings
from iop_notifier.adapters.ledger_sqlite import set_aside_path
from iop_notifier.adapters.smtp_sink import SmtpSink
from iop_notifier.domain.ledger import Purpose
from iop_notifier.messages.render import message_id
from iop_notifier.settings import NotifierSettings

from iop.broker import EmbeddedBroker

from .factories import enrollment, schedule
from .kafka_helpers import publish, wait_until
from .stubs import running

pytestmark = pytest.mark.integration


async def fresh_broker() -> EmbeddedBroker:
    # start() creates the topics with asyncio.run, so it cannot run on this test's loop.
    return await asyncio.to_thread(EmbeddedBroker().start)


async def test_two_fresh_brokers_have_different_identities() -> None:
    identities: list[str] = []
    for _ in range(2):
        broker = await fresh_broker()
        try:
            bootstrap = broker.bootstrap_servers
            asked_twice = {await cluster_identity(bootstrap) for _ in range(2)}
            assert len(asked_twice) == 1, "one broker, one identity"
            identities.extend(asked_twice)
            roster = await cluster_identity(bootstrap, topic=topics.ROSTER)
            assert roster != identities[-1] and topics.ROSTER in roster
            with pytest.raises(ClusterIdentityError):
                await cluster_identity(bootstrap, topic="no.such.topic", timeout_s=1)
        finally:
            await asyncio.to_thread(broker.stop)
    first, second = identities
    assert first != second
    assert topics.SCHEDULE in first


async def test_same_client_and_version_on_a_fresh_broker_is_confirmed_again(
    tmp_path: Path, unique: str
) -> None:
    client = f"c-{unique}"
    ledger_path = tmp_path / "ledger.sqlite3"  # one file for both runs, as `.iop/` would be
    identities: list[str | None] = []
    with SmtpSink(tmp_path / "outbox") as sink:
        for run in (1, 2):
            broker = await fresh_broker()
            try:
                settings = NotifierSettings(
                    smtp_port=sink.port,
                    smtp_tls="plaintext",  # the loopback sink speaks no TLS
                    ledger_path=ledger_path,
                    session_timeout_ms=6000,
                    heartbeat_interval_ms=1000,
                    worker_tick_s=0.2,
                    kafka=KafkaSettings(bootstrap_servers=broker.bootstrap_servers),
                )
                async with running(settings) as runtime:
                    assert runtime.ledger is not None
                    identities.append(runtime.ledger.recorded_cluster())
                    await publish(broker.bootstrap_servers, enrollment(client), schedule(client))
                    await wait_until(lambda run=run: len(sink.messages()) >= run, 30)
            finally:
                await asyncio.to_thread(broker.stop)
        confirmations = [str(m["Message-ID"]) for m in sink.messages()]

    expected = message_id(client, 1, Purpose.CONFIRM, NotifierSettings().message_domain)
    assert confirmations == [expected, expected], "version 1 confirmed once per broker"
    assert identities[0] != identities[1]
    assert identities[0] is not None and set_aside_path(ledger_path, identities[0]).exists()
