"""Settings refuse indiscreet names; log lines carry ids, never contact details."""

import io
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest
from iop_contracts.logs import JsonFormatter
from iop_notifier.errors import PermanentDeliveryError, TransientDeliveryError
from iop_notifier.settings import NotifierSettings, load_settings
from pydantic import ValidationError

from .stubs import DIGEST_KEY, INBOUND_SECRET
from .test_worker import Harness


def test_env_prefix_and_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NOTIFIER_HTTP_PORT", "9999")
    monkeypatch.setenv("NOTIFIER_SMTP_TLS", "implicit")
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "kafka:9092")
    settings = NotifierSettings()
    assert settings.http_port == 9999 and settings.smtp_tls == "implicit"
    assert settings.kafka.bootstrap_servers == "kafka:9092"
    assert settings.ledger_path == Path(".iop/notifier-ledger.sqlite3")


def test_the_reminder_time_is_read_as_hh_mm(monkeypatch: pytest.MonkeyPatch) -> None:
    assert NotifierSettings().reminder_at == "09:00"
    monkeypatch.setenv("NOTIFIER_REMINDER_AT", "10:30")
    assert NotifierSettings().reminder_at == "10:30"
    monkeypatch.setenv("NOTIFIER_REMINDER_AT", "9am")
    with pytest.raises(ValidationError, match="reminder_at"):
        NotifierSettings()


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


GATEWAY = {"NOTIFIER_SMS_GATEWAY_URL": "https://gateway.example.net/sms"}
SECRET = {"NOTIFIER_SMS_INBOUND_SECRET": INBOUND_SECRET}
KEY = {"NOTIFIER_PHONE_DIGEST_KEY": DIGEST_KEY}


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({**GATEWAY, **KEY}, "NOTIFIER_SMS_INBOUND_SECRET is not"),
        ({**GATEWAY, **SECRET}, "NOTIFIER_PHONE_DIGEST_KEY is not"),
        ({**SECRET}, "NOTIFIER_PHONE_DIGEST_KEY is not"),
        ({**GATEWAY, **KEY, "NOTIFIER_SMS_INBOUND_SECRET": "short-secret"}, "at least 16"),
        ({**GATEWAY, **SECRET, "NOTIFIER_PHONE_DIGEST_KEY": "short-key-0123456789"}, "at least 32"),
    ],
)
def test_sms_without_its_secrets_refuses_to_start_in_one_line(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], named: str
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(SystemExit) as refused:
        load_settings()
    message = str(refused.value.code)
    assert message.startswith("iop-notifier refuses to start: ") and named in message
    assert "\n" not in message
    for name in ("NOTIFIER_SMS_INBOUND_SECRET", "NOTIFIER_PHONE_DIGEST_KEY"):
        assert name not in env or env[name] not in message, "a secret is never printed"


def test_sms_with_its_secrets_starts(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {**GATEWAY, **SECRET, **KEY}.items():
        monkeypatch.setenv(name, value)
    settings = load_settings()
    assert settings.sms_gateway_url and settings.sms_inbound_secret and settings.phone_digest_key


def test_the_service_command_says_why_it_refuses(tmp_path: Path) -> None:
    command = Path(sys.executable).parent / "iop-notifier"
    env = {**os.environ, **GATEWAY, "NOTIFIER_LEDGER_PATH": str(tmp_path / "ledger.sqlite3")}
    env.pop("NOTIFIER_SMS_INBOUND_SECRET", None)
    done = subprocess.run(
        [str(command), "run"], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode != 0
    assert done.stderr.strip().splitlines() == [
        "iop-notifier refuses to start: NOTIFIER_SMS_GATEWAY_URL is set but "
        "NOTIFIER_SMS_INBOUND_SECRET is not: inbound STOP/START/HELP could not be authenticated"
    ]


@pytest.mark.parametrize(
    ("url", "allowed"),
    [
        ("https://gateway.example.net/sms", True),
        ("http://127.0.0.1:9000/sms", True),
        ("http://localhost:9000/sms", True),
        ("http://gateway.example.net/sms", False),
        ("http://10.1.2.3/sms", False),
        ("ftp://gateway.example.net/sms", False),
    ],
)
def test_the_sms_gateway_is_reached_over_https_unless_on_loopback(url: str, allowed: bool) -> None:
    def settings() -> NotifierSettings:
        return NotifierSettings(
            sms_gateway_url=url, sms_inbound_secret=INBOUND_SECRET, phone_digest_key=DIGEST_KEY
        )

    if allowed:
        assert settings().sms_gateway_url == url
    else:
        with pytest.raises(ValidationError, match="must be https"):
            settings()
