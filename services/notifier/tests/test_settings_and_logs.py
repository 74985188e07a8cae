"""Settings refuse indiscreet names; log lines carry ids, never contact details."""

import io
import logging
from pathlib import Path

import pytest
from iop_contracts.logs import JsonFormatter
from iop_notifier.errors import PermanentDeliveryError, TransientDeliveryError
from iop_notifier.settings import NotifierSettings
from pydantic import ValidationError

from .test_worker import Harness


def test_env_prefix_and_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NOTIFIER_HTTP_PORT", "9999")
    monkeypatch.setenv("NOTIFIER_SMTP_TLS", "implicit")
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "kafka:9092")
    settings = NotifierSettings()
    assert settings.http_port == 9999 and settings.smtp_tls == "implicit"
    assert settings.kafka.bootstrap_servers == "kafka:9092"
    assert settings.ledger_path == Path(".iop/notifier-ledger.sqlite3")


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("network_name", "Harbor Recovery Center"),
        ("sender_name", "Behavioral Health Scheduling"),
        ("sender_address", "iop-scheduling@example.org"),
    ],
)
def test_indiscreet_names_are_refused(field: str, value: str) -> None:
    with pytest.raises(ValidationError, match=field):
        NotifierSettings(**{field: value})


async def test_logs_carry_no_contact_details(tmp_path: Path) -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter("notifier"))
    root = logging.getLogger()
    root.addHandler(handler)
    old_level = root.level
    root.setLevel(logging.DEBUG)
    try:
        h = Harness(tmp_path)
        h.contact("c-1", sms_consent=True, email="ana.secret@example.org", phone="+16175550199")
        h.contact("c-2", email="bo.secret@example.org")
        h.email.failures = [
            TransientDeliveryError("smtp_unreachable"),
            PermanentDeliveryError("smtp_recipient_refused"),
        ]
        h.schedule("c-1")
        h.schedule("c-2")
        await h.worker.run_once()
        h.clock.advance(minutes=5)
        await h.worker.run_once()
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)
    output = stream.getvalue()
    assert "c-1" in output  # ids are logged...
    for secret in ("ana.secret", "bo.secret", "5550199", "Ana"):
        assert secret not in output  # ...contact details are not
