"""Clinic settings from the environment: prefix CLINIC_, Kafka from the shared KAFKA_* ones."""

from typing import Any

from iop_contracts.access import checked_digests
from iop_contracts.kafka import KafkaSettings
from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

API_KEYS_SETTING = "CLINIC_API_KEYS"


class ClinicSettings(BaseSettings):
    # hide_input_in_errors: a bad CLINIC_API_KEYS may hold raw keys; errors must not print them.
    model_config = SettingsConfigDict(
        env_prefix="CLINIC_", extra="ignore", hide_input_in_errors=True
    )

    http_host: str = "127.0.0.1"
    http_port: int = Field(8083, ge=0, le=65535)
    # How long a POST waits for the broker's acknowledgement before answering 503; the producer's
    # request timeout is capped to it (see producer_kafka).
    publish_timeout_s: float = Field(5.0, gt=0, le=60)
    retry_after_s: int = Field(5, ge=1)
    # A roll call of a full group is a few kilobytes; anything far larger is refused unread.
    max_body_bytes: int = Field(256 * 1024, ge=1024)
    # Intake's format: {"<sha256 hex>": {"name": ..., "network": true} | {"name": ...,
    # "regions": [...], "sites": [...]}}. Empty: authentication off, which the clinic refuses
    # to start with unless auth_disabled says so (a local demo; `iop up` sets it).
    api_keys: dict[str, dict[str, Any]] = Field(default_factory=dict)
    auth_disabled: bool = False
    # The network's limit of consecutive unexcused absences before client.attendance_alert.
    absence_limit: int = Field(2, ge=1, le=20)
    # Request a make-up (makeup.requested) by itself when a client's week falls out of reach.
    auto_makeup: bool = False
    makeup_hours: float = Field(3.0, gt=0, le=12)
    # The dead-letter owner of iop.attendance.v1 (EHRs publish there): one group for all
    # instances, so each record is judged, and each alert evaluated, by one of them.
    attendance_group_id: str = "iop-clinic-attendance"
    session_timeout_ms: int = Field(10_000, ge=1000)
    heartbeat_interval_ms: int = Field(3_000, ge=100)
    # How often due alerts are looked for without any attendance: every client touched by a
    # schedule or staffing change since the last look, and every client when the day turned.
    alert_tick_s: float = Field(60.0, gt=0)
    shutdown_timeout_s: float = Field(5.0, gt=0)
    # The staff board (iop_clinic.web): the secret signing its session cookies, shared by every
    # instance behind one address; unset, each process draws a random one at start (sessions
    # then end when it restarts and hold on that instance only). A session lasts session_ttl_s.
    session_secret: SecretStr | None = None
    session_ttl_s: int = Field(8 * 3600, ge=60, le=7 * 24 * 3600)
    # How far ahead the board's capacity page counts free seats (the scheduler's admission
    # horizon, rule 9).
    admission_horizon_days: int = Field(28, ge=1, le=365)
    log_level: str = "INFO"
    kafka: KafkaSettings = Field(default_factory=KafkaSettings)

    @field_validator("api_keys")
    @classmethod
    def _hashes_are_sha256_hex(cls, keys: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
        return checked_digests(keys, API_KEYS_SETTING)

    def producer_kafka(self) -> KafkaSettings:
        """Kafka settings whose request timeout does not outlive the HTTP publish timeout."""
        cap_ms = int(self.publish_timeout_s * 1000)
        return self.kafka.model_copy(
            update={"request_timeout_ms": min(self.kafka.request_timeout_ms, cap_ms)}
        )
