"""Intake settings from the environment: prefix INTAKE_, Kafka from the shared KAFKA_* ones."""

from typing import Any

from iop_contracts.access import checked_digests
from iop_contracts.kafka import KafkaSettings
from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class IntakeSettings(BaseSettings):
    # hide_input_in_errors: a bad INTAKE_API_KEYS may hold raw keys; errors must not print them.
    model_config = SettingsConfigDict(
        env_prefix="INTAKE_", extra="ignore", hide_input_in_errors=True
    )

    http_host: str = "127.0.0.1"
    http_port: int = Field(8080, ge=0, le=65535)
    # How long a POST waits for the broker's acknowledgement before answering 503. The producer's
    # own request timeout is capped to this, so an unacknowledged record expires instead of being
    # delivered long after the caller was told it failed.
    publish_timeout_s: float = Field(5.0, gt=0, le=60)
    retry_after_s: int = Field(5, ge=1)
    max_body_bytes: int = Field(64 * 1024, ge=1024)
    # {"<sha256 hex of the key>": {"name": "...", "regions": [...], "sites": [...]}} or
    # {"<sha256>": {"name": "...", "network": true}}. Empty: authentication off, which intake
    # refuses to start with unless auth_disabled says so (a local demo; `iop up` sets it).
    api_keys: dict[str, dict[str, Any]] = Field(default_factory=dict)
    auth_disabled: bool = False
    # Consumer group of the referral front door (iop.referral.v1); shared by all intake instances.
    referral_group_id: str = "iop-intake-referrals"
    session_timeout_ms: int = Field(10_000, ge=1000)
    heartbeat_interval_ms: int = Field(3_000, ge=100)
    # Idempotency-Key answers remembered in memory (oldest forgotten first).
    idempotency_capacity: int = Field(100_000, ge=1)
    shutdown_timeout_s: float = Field(5.0, gt=0)
    log_level: str = "INFO"
    kafka: KafkaSettings = Field(default_factory=KafkaSettings)

    @field_validator("api_keys")
    @classmethod
    def _hashes_are_sha256_hex(cls, keys: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
        return checked_digests(keys, "INTAKE_API_KEYS")

    def producer_kafka(self) -> KafkaSettings:
        """Kafka settings whose request timeout does not outlive the HTTP publish timeout."""
        cap_ms = int(self.publish_timeout_s * 1000)
        return self.kafka.model_copy(
            update={"request_timeout_ms": min(self.kafka.request_timeout_ms, cap_ms)}
        )
