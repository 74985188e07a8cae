"""Walking skeleton: enrollment + client.scheduled in -> email at a real SMTP server, and
notification.sent on iop.notification.v1; an undecodable record -> iop.schedule.v1.dlq."""

from pathlib import Path

import pytest
from iop_contracts import topics
from iop_contracts.envelope import decode_record, header
from iop_contracts.kafka import KafkaSettings, make_broker
from iop_notifier.adapters.smtp_sink import SmtpSink
from iop_notifier.runtime import NotifierRuntime
from iop_notifier.settings import NotifierSettings

from .factories import enrollment, schedule
from .kafka_helpers import TopicReader, publish, wait_until

pytestmark = pytest.mark.integration


async def test_confirmation_email_and_sent_event(
    kafka_bootstrap: str, unique: str, tmp_path: Path
) -> None:
    client = f"c-{unique}"
    with SmtpSink(tmp_path / "outbox") as sink:
        settings = NotifierSettings(
            smtp_port=sink.port,
            smtp_tls="plaintext",  # the loopback sink speaks no TLS
            ledger_path=tmp_path / "ledger.sqlite3",
            consumer_group=f"notifier-{unique}",
            session_timeout_ms=6000,
            heartbeat_interval_ms=1000,
            kafka=KafkaSettings.model_validate({"KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap}),
        )
        broker = make_broker(settings.kafka, client_id="notifier-test")
        await broker.start()
        runtime = NotifierRuntime(settings, broker)
        try:
            # The schedule first: the notifier must hold it until it reads the enrollment.
            [scheduled] = await publish(kafka_bootstrap, schedule(client))
            await runtime.start()
            await publish(
                kafka_bootstrap,
                enrollment(client),
                raw=[(topics.SCHEDULE, b"{not json")],
            )
            await wait_until(lambda: len(sink.messages()) >= 1, 30)
            async with TopicReader(kafka_bootstrap, topics.NOTIFICATION) as out:
                mine = lambda: [  # noqa: E731
                    decode_record(r.value) for r in out.records if r.key == client.encode()
                ]
                await wait_until(lambda: len(mine()) >= 2, 30, poll=out.poll)
            async with TopicReader(kafka_bootstrap, topics.dlq(topics.SCHEDULE)) as dlq:
                await wait_until(lambda: len(dlq.records) >= 1, 30, poll=dlq.poll)
        finally:
            await runtime.stop()
            await broker.stop()

        [message] = sink.messages()
        assert message["To"] == f"{client}@example.org"
        assert "Ana" in message.get_body(("plain",)).get_content()
        by_type = {e.type: e for e in mine()}
        sent = by_type["iop.notification.sent"]
        assert sent.data == {
            "client_id": client,
            "schedule_version": 1,
            "channel": "email",
            "reason": None,
            "purpose": "confirmation",
        }
        assert sent.causationid == scheduled.id
        suppressed = by_type["iop.notification.suppressed"].data
        assert (suppressed["channel"], suppressed["purpose"]) == ("sms", "confirmation")
        assert header(dlq.records[0].headers, "dlq_consumer") == "iop-notifier"
        assert header(dlq.records[0].headers, "dlq_reason")
