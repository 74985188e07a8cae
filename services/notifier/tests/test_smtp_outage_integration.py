"""SMTP down, then back: messages are retried with backoff and delivered, none lost, none twice.

The server is down for the issue's full minute (NOTIFIER_TEST_OUTAGE_S, default 60 s; a shorter
value gives a quick local run) with the backoff capped at 8 s, so every message is retried several
times inside the outage and is sent within one backoff step of the server's return.
"""

import asyncio
import os
import time
from pathlib import Path

import pytest
from iop_contracts import topics
from iop_contracts.envelope import decode_record
from iop_notifier.adapters.smtp_sink import SmtpSink

from .factories import enrollment, schedule
from .kafka_helpers import TopicReader, publish, wait_until
from .stubs import running, test_settings

pytestmark = [pytest.mark.integration, pytest.mark.slow]
OUTAGE_S = float(os.environ.get("NOTIFIER_TEST_OUTAGE_S", "60"))


async def test_smtp_outage_is_retried_and_delivered(
    kafka_bootstrap: str, unique: str, tmp_path: Path
) -> None:
    clients = [f"c-{unique}-{i}" for i in range(5)]
    sink = SmtpSink(tmp_path / "outbox").start()
    sink.stop()  # the server is down from the start; its port is reserved for its return
    settings = test_settings(
        kafka_bootstrap,
        tmp_path,
        unique,
        smtp_port=sink.port,
        smtp_tls="plaintext",  # the loopback sink speaks no TLS
        smtp_timeout_s=2.0,
        retry_base_s=1.0,
        retry_max_s=8.0,
        retry_max_attempts=1000,
    )
    async with running(settings) as runtime:
        await publish(
            kafka_bootstrap,
            *[enrollment(c) for c in clients],
            *[schedule(c) for c in clients],
        )
        down_since = time.monotonic()

        def retries() -> float:
            value = runtime.metrics.registry.get_sample_value(
                "notifier_retries_total", {"channel": "email"}
            )
            return value or 0.0

        await wait_until(lambda: retries() >= 2 * len(clients), 30)
        await asyncio.sleep(max(0.0, OUTAGE_S - (time.monotonic() - down_since)))  # the outage
        assert sink.messages() == []
        sink.start()
        try:
            await wait_until(lambda: len(sink.messages()) == len(clients), 30)
            async with TopicReader(kafka_bootstrap, topics.NOTIFICATION) as out:

                def sent() -> list[str]:
                    events = [decode_record(r.value) for r in out.records]
                    return [
                        e.subject or ""
                        for e in events
                        if e.type == "iop.notification.sent" and e.data["channel"] == "email"
                    ]

                await wait_until(lambda: sorted(sent()) == sorted(clients), 20, poll=out.poll)
        finally:
            sink.stop()
    assert sorted(m["To"] for m in sink.messages()) == sorted(f"{c}@example.org" for c in clients)
    assert retries() >= 2 * len(clients)
