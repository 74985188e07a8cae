"""Kill -9 the notifier process mid-stream of 200 schedule events and start it again: every
client's newest schedule is confirmed exactly once (or reported "possibly sent"), nothing is
lost, and no (client, version) confirmation arrives twice."""

import os
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from iop_contracts import topics
from iop_contracts.envelope import decode_record
from iop_notifier.adapters.smtp_sink import SmtpSink
from iop_notifier.domain.ledger import Purpose
from iop_notifier.messages.render import message_id
from iop_notifier.settings import NotifierSettings

from iop.broker import free_port

from .factories import enrollment, schedule
from .kafka_helpers import TopicReader, publish, wait_until

pytestmark = pytest.mark.integration
NOTIFIER = str(Path(sys.executable).parent / "iop-notifier")


def start_notifier(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen([NOTIFIER, "run"], env=env, stdout=out, stderr=subprocess.STDOUT)


async def test_kill_mid_stream_and_restart(
    kafka_bootstrap: str, unique: str, tmp_path: Path
) -> None:
    clients = [f"c-{unique}-{i:03d}" for i in range(160)]
    rescheduled = clients[:40]  # 160 first versions + 40 second versions = 200 schedule events
    newest = {c: (2 if c in rescheduled else 1) for c in clients}
    domain = NotifierSettings().message_domain
    by_message_id = {
        message_id(c, v, Purpose.CONFIRM, domain): (c, v) for c in clients for v in (1, 2)
    }
    port = free_port()
    # A slow SMTP server (15 ms a message) so that the kill lands in the middle of the stream.
    with SmtpSink(tmp_path / "outbox", delay_s=0.015) as sink:
        env = {
            **os.environ,
            "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
            "NOTIFIER_HTTP_PORT": str(port),
            "NOTIFIER_SMTP_PORT": str(sink.port),
            "NOTIFIER_SMTP_TLS": "plaintext",  # the loopback sink speaks no TLS
            "NOTIFIER_LEDGER_PATH": str(tmp_path / "ledger.sqlite3"),
            "NOTIFIER_CONSUMER_GROUP": f"notifier-{unique}",
            "NOTIFIER_SESSION_TIMEOUT_MS": "6000",
            "NOTIFIER_HEARTBEAT_INTERVAL_MS": "1000",
            "NOTIFIER_WORKER_TICK_S": "0.2",
        }
        await publish(kafka_bootstrap, *[enrollment(c) for c in clients])
        await publish(
            kafka_bootstrap,
            *[schedule(c, 1) for c in clients],
            *[schedule(c, 2, rescheduled=True) for c in rescheduled],
        )
        log = tmp_path / "notifier.log"
        first = start_notifier(env, log)
        try:
            await wait_until(lambda: len(sink.messages()) >= 40 or first.poll() is not None, 60)
            first.send_signal(signal.SIGKILL)
            first.wait(10)
            killed_at = len(sink.messages())
            assert killed_at < len(clients), "the kill came too late to test anything"

            second = start_notifier(env, log)
            try:
                async with TopicReader(kafka_bootstrap, topics.NOTIFICATION) as out:

                    def email_outcomes() -> dict[str, tuple[str, int, str, str | None]]:
                        """Notification events about email, by event id (repeats collapse)."""
                        found = {}
                        for record in out.records:
                            e = decode_record(record.value)
                            if e.data["channel"] == "email":
                                key = (e.subject or "", e.data["schedule_version"])
                                found[e.id] = (*key, e.type, e.data["reason"])
                        return found

                    def done() -> bool:
                        reported = {(c, v) for c, v, _, _ in email_outcomes().values()}
                        return all((c, newest[c]) in reported for c in clients)

                    await wait_until(done, 120, poll=out.poll)
                    outcomes = email_outcomes()
                # A clean stop, so anything still in flight would have shown up in the sink.
                second.send_signal(signal.SIGTERM)
                second.wait(20)
            finally:
                if second.poll() is None:
                    second.kill()
        finally:
            if first.poll() is None:
                first.kill()

        received = Counter(by_message_id[str(m["Message-ID"])] for m in sink.messages())
    duplicates = [key for key, count in received.items() if count > 1]
    assert duplicates == [], f"{len(duplicates)} confirmations arrived twice"

    per_key: dict[tuple[str, int], set[tuple[str, str | None]]] = {}
    for client, version, kind, reason in outcomes.values():
        per_key.setdefault((client, version), set()).add((kind, reason))
    possibly_sent = {
        k for k, v in per_key.items() if ("iop.notification.failed", "possibly_sent") in v
    }
    for client in clients:
        key = (client, newest[client])
        assert key in received or key in possibly_sent, f"confirmation lost for {key}"
        # One outcome per confirmation: never both "sent" and "possibly sent", say.
        assert len(per_key[key]) == 1, per_key[key]
    for key, kinds in per_key.items():
        if ("iop.notification.sent", None) in kinds:
            assert key in received  # a "sent" report is backed by a real delivery
    print(
        f"killed after {killed_at} emails; {sum(received.values())} emails in all, "
        f"{len(possibly_sent)} possibly sent"
    )
