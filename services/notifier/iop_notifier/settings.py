"""The notifier's settings: environment variables prefixed NOTIFIER_ (Kafka's are unprefixed)."""

import re
from pathlib import Path
from urllib.parse import urlsplit

from iop_contracts.kafka import KafkaSettings
from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from iop_notifier.adapters.smtp import SmtpTls, is_loopback, tls_problem
from iop_notifier.domain.discretion import denied_terms
from iop_notifier.domain.phones import MIN_KEY_BYTES

MIN_SECRET_BYTES = 16


class NotifierSettings(BaseSettings):
    # hide_input_in_errors: a refused setting must not print the secrets beside it.
    model_config = SettingsConfigDict(
        env_prefix="NOTIFIER_", extra="ignore", hide_input_in_errors=True
    )

    http_host: str = "127.0.0.1"
    http_port: int = 8082
    log_level: str = "INFO"

    # SMTP. Host and port default to the local sink that `iop up` starts (which sets
    # NOTIFIER_SMTP_TLS=plaintext for it). `starttls` (default) and `implicit` verify the
    # server's certificate (against smtp_ca_file if set); `plaintext` is refused for any host
    # but a loopback one, and with credentials (see adapters/smtp.py).
    smtp_host: str = "127.0.0.1"
    smtp_port: int = 8025
    smtp_tls: SmtpTls = "starttls"
    smtp_ca_file: Path | None = None
    # Replaced by smtp_tls; still read only to refuse a configuration that relies on them.
    smtp_starttls: bool | None = None
    smtp_implicit_tls: bool | None = None
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_timeout_s: float = 10.0
    # What the client sees in the From line: deliberately plain (see ISSUE 6, discretion).
    sender_address: str = "appointments@example.org"
    sender_name: str = "Appointments"
    # Host part of calendar UIDs and Message-IDs; stable so a reschedule updates, not adds.
    message_domain: str = "appointments.example.org"

    # SMS gateway: a generic HTTPS webhook. No URL means the SMS channel is off; with a URL,
    # sms_inbound_secret and phone_digest_key are required (the notifier refuses to start).
    sms_gateway_url: str | None = None
    sms_gateway_token: SecretStr | None = None
    sms_timeout_s: float = 10.0
    # Shared secret the gateway signs inbound keywords with: X-Signature is
    # "sha256=" + hex HMAC-SHA256(secret, X-Signature-Timestamp + "." + raw body), the timestamp
    # within sms_inbound_max_skew_s of our clock (see webhook_signature.py). None: every inbound
    # request is refused.
    sms_inbound_secret: SecretStr | None = None
    sms_inbound_max_skew_s: int = Field(default=300, ge=30, le=3600)
    # Key of the HMAC under which the ledger keeps a phone's STOP/START answer (at least 32
    # bytes, e.g. `openssl rand -hex 32`). Changing it loses those answers: the notifier then
    # refuses to start rather than text phones that said STOP (see ledger_sqlite.py).
    phone_digest_key: SecretStr | None = None
    network_name: str = "Appointments"
    callback_number: str = "+1 555 010 0100"
    # Quiet hours in the client's zone: from sms_quiet_start in the evening until sms_quiet_end
    # the next morning, an SMS waits (it is deferred, never dropped).
    sms_quiet_start: str = "21:00"
    sms_quiet_end: str = "08:00"
    sms_max_per_day: int = 1
    sms_max_per_week: int = 3
    # The reminder of the first session goes from this local time (the schedule's zone) on the
    # day before that session (see reminders.py); an SMS also waits for quiet hours and caps.
    reminder_at: str = "09:00"

    # Retries of transient transport failures: exponential backoff with full jitter.
    retry_base_s: float = 2.0
    retry_max_s: float = 300.0
    retry_max_attempts: int = 20

    ledger_path: Path = Path(".iop/notifier-ledger.sqlite3")
    # How often the worker looks for deferred or retried deliveries that fell due.
    worker_tick_s: float = 1.0

    consumer_group: str = "iop-notifier"
    session_timeout_ms: int = 10000
    heartbeat_interval_ms: int = 3000

    kafka: KafkaSettings = Field(default_factory=KafkaSettings)

    @field_validator("sms_quiet_start", "sms_quiet_end", "reminder_at")
    @classmethod
    def _hh_mm(cls, value: str) -> str:
        if not re.fullmatch(r"([01]\d|2[0-3]):[0-5]\d", value):
            raise ValueError(f"expected a time of day as HH:MM, got {value!r}")
        return value

    @model_validator(mode="after")
    def _quiet_hours_run_overnight(self) -> "NotifierSettings":
        """Quiet hours span midnight (21:00 to 08:00): a start earlier than the end is most likely
        the two swapped, and would leave SMS only at night."""
        if self.sms_quiet_start <= self.sms_quiet_end:
            raise ValueError(
                f"NOTIFIER_SMS_QUIET_START ({self.sms_quiet_start}) is when quiet hours begin in "
                f"the evening and must be later than NOTIFIER_SMS_QUIET_END "
                f"({self.sms_quiet_end}), when they end in the morning"
            )
        return self

    @model_validator(mode="after")
    def _sms_has_its_secrets(self) -> "NotifierSettings":
        """SMS on without these would take STOP/START from anyone or store phones reversibly."""
        secret, key = self.sms_inbound_secret, self.phone_digest_key
        if self.sms_gateway_url and secret is None:
            raise ValueError(
                "NOTIFIER_SMS_GATEWAY_URL is set but NOTIFIER_SMS_INBOUND_SECRET is not: inbound "
                "STOP/START/HELP could not be authenticated"
            )
        if (self.sms_gateway_url or secret is not None) and key is None:
            raise ValueError(
                "SMS is configured but NOTIFIER_PHONE_DIGEST_KEY is not: STOP/START answers "
                "could not be stored"
            )
        if secret is not None and len(secret.get_secret_value().encode()) < MIN_SECRET_BYTES:
            raise ValueError(f"NOTIFIER_SMS_INBOUND_SECRET needs at least {MIN_SECRET_BYTES} bytes")
        if key is not None and len(key.get_secret_value().encode()) < MIN_KEY_BYTES:
            raise ValueError(f"NOTIFIER_PHONE_DIGEST_KEY needs at least {MIN_KEY_BYTES} bytes")
        return self

    @model_validator(mode="after")
    def _sms_gateway_is_private(self) -> "NotifierSettings":
        """Each SMS to the gateway carries a phone number, a first name and session times."""
        url = urlsplit(self.sms_gateway_url or "")
        if url.scheme and url.scheme != "https" and not is_loopback(url.hostname or ""):
            raise ValueError(
                "NOTIFIER_SMS_GATEWAY_URL must be https:// (plain http only to a loopback host)"
            )
        return self

    @model_validator(mode="after")
    def _smtp_is_private(self) -> "NotifierSettings":
        if self.smtp_starttls is not None or self.smtp_implicit_tls is not None:
            raise ValueError(
                "NOTIFIER_SMTP_STARTTLS and NOTIFIER_SMTP_IMPLICIT_TLS are replaced by "
                "NOTIFIER_SMTP_TLS=starttls|implicit|plaintext"
            )
        credentials = bool(self.smtp_username or self.smtp_password)
        problem = tls_problem(self.smtp_host, self.smtp_tls, has_credentials=credentials)
        if problem:
            raise ValueError(problem)
        return self

    @model_validator(mode="after")
    def _names_are_discreet(self) -> "NotifierSettings":
        """Refuse to start with a sender or network name that gives the care away (a network
        called "Harbor Recovery Center" would put "Recovery" on every lock screen)."""
        for field in ("sender_name", "sender_address", "network_name", "message_domain"):
            found = denied_terms(str(getattr(self, field)).replace(".", " ").replace("@", " "))
            if found:
                raise ValueError(f"{field} must not name the kind of care ({sorted(found)})")
        return self


def load_settings() -> NotifierSettings:
    """The settings from the environment; exits with one line naming what is wrong, if anything
    is (a service that refuses to start should say why without a traceback)."""
    try:
        return NotifierSettings()
    except ValidationError as error:
        raise SystemExit(f"iop-notifier refuses to start: {settings_problems(error)}") from None


def settings_problems(error: ValidationError) -> str:
    """One line: each problem's message, prefixed by the setting's name when it is one field's."""
    problems = []
    for problem in error.errors(include_url=False, include_input=False):
        message = str(problem["msg"]).removeprefix("Value error, ")
        where = ".".join(str(part) for part in problem["loc"])
        problems.append(f"NOTIFIER_{where.upper()}: {message}" if where else message)
    return "; ".join(problems)
