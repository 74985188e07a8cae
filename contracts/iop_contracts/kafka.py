"""The contract's Kafka binding for FastStream services: one way to connect, publish, decode and
dead-letter.

Every client the system builds gets its address and security from `KafkaSettings`: FastStream
brokers through `make_broker`, raw aiokafka clients (the consumption kernel's consumers, admin
clients, producers of the operator tools) through `client_options`. Every service publishes with
`publish_event` (returns once the broker acknowledged the record with acks=all) and turns a
record it cannot use into a dead-letter record with `dead_letter`, so the wire format lives in
one place.
"""

import logging
import ssl
from pathlib import Path
from typing import Any, Literal, TypeAlias

from aiokafka.client import AIOKafkaClient
from aiokafka.errors import KafkaError
from aiokafka.helpers import create_ssl_context
from aiokafka.structs import RecordMetadata
from faststream.kafka import KafkaBroker, KafkaMessage
from faststream.security import BaseSecurity, SASLScram256, SASLScram512
from pydantic import AliasChoices, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from iop_contracts import topics, tracing
from iop_contracts.envelope import (
    EVENT_TYPES,
    CloudEvent,
    KafkaRecord,
    dead_letter_headers,
    decode_record,
    encode_event,
)
from iop_contracts.operator_errors import OperatorError

SecurityProtocol: TypeAlias = Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"]
SaslMechanism: TypeAlias = Literal["SCRAM-SHA-256", "SCRAM-SHA-512"]
TLS_PROTOCOLS = frozenset({"SSL", "SASL_SSL"})
SASL_PROTOCOLS = frozenset({"SASL_PLAINTEXT", "SASL_SSL"})


def _env(name: str) -> Any:
    return AliasChoices(name)


class KafkaSettings(BaseSettings):
    """Broker settings shared by every service and tool; read from unprefixed environment
    variables (KAFKA_BOOTSTRAP_SERVERS, KAFKA_SECURITY_PROTOCOL, KAFKA_SASL_PASSWORD, ...).

    In code, the field names work too: `KafkaSettings(bootstrap_servers="host:9092")`.
    """

    # hide_input_in_errors: a bad value may be the SASL password; errors must not print it.
    model_config = SettingsConfigDict(populate_by_name=True, hide_input_in_errors=True)

    bootstrap_servers: str = Field(
        "127.0.0.1:9092", validation_alias=_env("KAFKA_BOOTSTRAP_SERVERS")
    )
    # On for Apache Kafka; the embedded broker does not implement InitProducerId.
    enable_idempotence: bool = Field(False, validation_alias=_env("KAFKA_ENABLE_IDEMPOTENCE"))
    request_timeout_ms: int = Field(15000, validation_alias=_env("KAFKA_REQUEST_TIMEOUT_MS"))

    # How every client connects (see docs/security-platform.md). TLS verifies the broker's
    # certificate and host name against KAFKA_SSL_CAFILE (else the system's CAs); a client
    # certificate is sent when KAFKA_SSL_CERTFILE is set (mutual TLS).
    security_protocol: SecurityProtocol = Field(
        "PLAINTEXT", validation_alias=_env("KAFKA_SECURITY_PROTOCOL")
    )
    ssl_cafile: Path | None = Field(None, validation_alias=_env("KAFKA_SSL_CAFILE"))
    ssl_certfile: Path | None = Field(None, validation_alias=_env("KAFKA_SSL_CERTFILE"))
    ssl_keyfile: Path | None = Field(None, validation_alias=_env("KAFKA_SSL_KEYFILE"))
    ssl_key_password: SecretStr | None = Field(
        None, validation_alias=_env("KAFKA_SSL_KEY_PASSWORD")
    )
    sasl_mechanism: SaslMechanism | None = Field(
        None, validation_alias=_env("KAFKA_SASL_MECHANISM")
    )
    sasl_username: str | None = Field(None, validation_alias=_env("KAFKA_SASL_USERNAME"))
    sasl_password: SecretStr | None = Field(None, validation_alias=_env("KAFKA_SASL_PASSWORD"))

    # Topics the system creates (`iop topics create`): with acks=all, a write is acknowledged
    # once min.insync.replicas copies hold it, so 3 and 2 survive one broker's loss without
    # losing an acknowledged event. Only a single-broker cluster (the embedded one) uses 1.
    replication_factor: int = Field(
        topics.PRODUCTION.factor, ge=1, validation_alias=_env("KAFKA_REPLICATION_FACTOR")
    )
    min_insync_replicas: int = Field(
        topics.PRODUCTION.min_insync, ge=1, validation_alias=_env("KAFKA_MIN_INSYNC_REPLICAS")
    )

    @model_validator(mode="after")
    def _consistent(self) -> "KafkaSettings":
        problems = _security_problems(self) + _replication_problems(self)
        if problems:
            raise ValueError("; ".join(problems))
        return self

    @classmethod
    def local(cls, bootstrap_servers: str) -> "KafkaSettings":
        """Settings for a single broker on this machine (the embedded one, a test container),
        whatever the environment says: such a broker speaks neither TLS nor SASL and has no
        other broker to replicate to."""
        single = topics.SINGLE_BROKER
        return cls.model_construct(
            bootstrap_servers=bootstrap_servers,
            replication_factor=single.factor,
            min_insync_replicas=single.min_insync,
        )

    @property
    def replication(self) -> topics.Replication:
        return topics.Replication(self.replication_factor, self.min_insync_replicas)

    def ssl_context(self) -> ssl.SSLContext | None:
        """The TLS context of every client (None without TLS): verifies the broker's certificate
        and host name; presents the client certificate when one is configured."""
        if self.security_protocol not in TLS_PROTOCOLS:
            return None
        password = self.ssl_key_password.get_secret_value() if self.ssl_key_password else None
        return create_ssl_context(
            cafile=self.ssl_cafile,
            certfile=self.ssl_certfile,
            keyfile=self.ssl_keyfile,
            password=password,
        )


def _security_problems(settings: KafkaSettings) -> list[str]:
    """What is wrong with the security settings, by variable name, never by value."""
    protocol = settings.security_protocol
    problems: list[str] = []
    sasl = {
        "KAFKA_SASL_MECHANISM": settings.sasl_mechanism,
        "KAFKA_SASL_USERNAME": settings.sasl_username,
        "KAFKA_SASL_PASSWORD": settings.sasl_password,
    }
    if protocol in SASL_PROTOCOLS:
        missing = [name for name, value in sasl.items() if not value]
        if missing:
            problems.append(f"KAFKA_SECURITY_PROTOCOL={protocol} needs {', '.join(missing)}")
    elif any(sasl.values()):
        # Credentials without a SASL protocol would be silently unused: refuse instead.
        problems.append(
            f"KAFKA_SASL_* are set but KAFKA_SECURITY_PROTOCOL={protocol}; use SASL_SSL"
        )
    files = {
        "KAFKA_SSL_CAFILE": settings.ssl_cafile,
        "KAFKA_SSL_CERTFILE": settings.ssl_certfile,
        "KAFKA_SSL_KEYFILE": settings.ssl_keyfile,
    }
    configured = {name: path for name, path in files.items() if path is not None}
    if configured and protocol not in TLS_PROTOCOLS:
        problems.append(
            f"{', '.join(configured)} set but KAFKA_SECURITY_PROTOCOL={protocol}; "
            "use SSL or SASL_SSL"
        )
    problems += [
        f"{name}: no file at {path}" for name, path in configured.items() if not path.is_file()
    ]
    if settings.ssl_keyfile is not None and settings.ssl_certfile is None:
        problems.append("KAFKA_SSL_KEYFILE needs KAFKA_SSL_CERTFILE")
    return problems


def _replication_problems(settings: KafkaSettings) -> list[str]:
    if settings.min_insync_replicas > settings.replication_factor:
        return ["KAFKA_MIN_INSYNC_REPLICAS cannot exceed KAFKA_REPLICATION_FACTOR"]
    return []


# Where a kernel function or tool is given a bare address, the security settings come from the
# environment, as every service's own settings do: a caller that forgets to pass its settings
# still connects the way the deployment requires, never silently in plaintext.
KafkaTarget: TypeAlias = str | KafkaSettings


def kafka_settings(target: KafkaTarget) -> KafkaSettings:
    """The settings of `target`: itself, or for an address, the environment's with that address."""
    if isinstance(target, KafkaSettings):
        return target
    return KafkaSettings(bootstrap_servers=target)


def client_options(target: KafkaTarget) -> dict[str, Any]:
    """Keyword arguments for any aiokafka client (consumer, producer, admin, client): where the
    brokers are and how to connect and authenticate. Every raw client the system builds takes
    these, so none can connect differently from the others."""
    settings = kafka_settings(target)
    options: dict[str, Any] = {
        "bootstrap_servers": settings.bootstrap_servers,
        "security_protocol": settings.security_protocol,
    }
    context = settings.ssl_context()
    if context is not None:
        options["ssl_context"] = context
    if settings.security_protocol in SASL_PROTOCOLS:
        assert settings.sasl_password is not None  # the validator makes sure
        options["sasl_mechanism"] = settings.sasl_mechanism
        options["sasl_plain_username"] = settings.sasl_username
        options["sasl_plain_password"] = settings.sasl_password.get_secret_value()
    return options


async def check_reachable(target: KafkaTarget, timeout_ms: int = 5000) -> None:
    """Connect to the cluster once, as every client would (TLS, SASL), and return; OperatorError
    naming the address and the client's error when that fails. Command lines call it first, so
    that a wrong address or credential is one clear line rather than a long wait."""
    options = client_options(target)
    client = AIOKafkaClient(**options, client_id="iop-check", request_timeout_ms=timeout_ms)
    try:
        await client.bootstrap()
    except (KafkaError, OSError) as error:
        raise OperatorError(
            f"no Kafka broker answered at {options['bootstrap_servers']} "
            f"({options['security_protocol']}): {error}"
        ) from error
    finally:
        await client.close()


def broker_security(settings: KafkaSettings) -> BaseSecurity | None:
    """The same connection as `client_options`, in FastStream's terms (None: plaintext)."""
    context = settings.ssl_context()
    use_ssl = context is not None
    if settings.security_protocol in SASL_PROTOCOLS:
        assert settings.sasl_username is not None and settings.sasl_password is not None
        scram = SASLScram256 if settings.sasl_mechanism == "SCRAM-SHA-256" else SASLScram512
        password = settings.sasl_password.get_secret_value()
        return scram(settings.sasl_username, password, ssl_context=context, use_ssl=use_ssl)
    if use_ssl:
        return BaseSecurity(ssl_context=context, use_ssl=True)
    return None


def make_broker(settings: KafkaSettings, client_id: str, **options: Any) -> KafkaBroker:
    """A FastStream Kafka broker whose publishes wait for acks from all in-sync replicas,
    connecting as `settings` say (TLS, SASL). Its per-message lines go to DEBUG: at INFO they
    would be one line per record received and processed; the consumption kernel logs what goes
    wrong. Tracing is set up here from the environment (once per process, named after the
    first broker's client id unless OTEL_SERVICE_NAME says otherwise): every service has one."""
    options.setdefault("log_level", logging.DEBUG)
    tracing.setup(default_service=client_id)
    return KafkaBroker(
        settings.bootstrap_servers,
        client_id=client_id,
        acks="all",
        enable_idempotence=settings.enable_idempotence,
        request_timeout_ms=settings.request_timeout_ms,
        security=broker_security(settings),
        **options,
    )


def _str_headers(headers: list[tuple[str, bytes]]) -> dict[str, str]:
    return {key: value.decode() for key, value in headers}


async def publish_event(
    broker: KafkaBroker, event: CloudEvent, *, topic: str | None = None
) -> RecordMetadata:
    """Publish one event (structured CloudEvents mode) and wait for the broker's acknowledgement,
    inside a producer span whose context the record's headers carry (when tracing is on)."""
    if not tracing.enabled():
        return await _publish(broker, event, encode_event(event, topic))
    payload_type = EVENT_TYPES.get(event.type)
    span_topic = topic or (payload_type.topic if payload_type else "unknown")
    with tracing.sending(event, span_topic) as sending:
        record = encode_event(sending.event, topic)
        return await _publish(broker, event, record, sending.headers(record.headers))


async def _publish(
    broker: KafkaBroker,
    event: CloudEvent,
    record: KafkaRecord,
    headers: list[tuple[str, bytes]] | None = None,
) -> RecordMetadata:
    return await broker.publish(
        record.value,
        record.topic,
        key=record.key,
        headers=_str_headers(record.headers if headers is None else headers),
        correlation_id=event.correlationid or event.id,
    )


def decode_message(message: KafkaMessage) -> CloudEvent:
    """The event in a consumed record; ContractError naming the field when it is not valid."""
    body = message.body
    return decode_record(body if isinstance(body, bytes | str) else None)


async def dead_letter(
    broker: KafkaBroker, message: KafkaMessage, *, reason: str, consumer: str
) -> RecordMetadata:
    """Copy a record we cannot process to `<topic>.dlq` with why, who and when, keeping its key."""
    raw = message.raw_message
    return await dead_letter_record(
        broker,
        topic=str(getattr(raw, "topic", "")),
        key=getattr(raw, "key", None),
        value=message.body if isinstance(message.body, bytes) else None,
        headers=list(getattr(raw, "headers", None) or []),
        reason=reason,
        consumer=consumer,
    )


async def dead_letter_record(
    broker: KafkaBroker,
    *,
    topic: str,
    key: bytes | None,
    value: bytes | None,
    headers: list[tuple[str, bytes]] | None,
    reason: str,
    consumer: str,
) -> RecordMetadata:
    """The `<topic>.dlq` record of one consumed record: its original value, key and headers, plus
    why, who and when; acknowledged with acks=all before it returns. Consumers that read raw
    aiokafka records call this directly; FastStream handlers call `dead_letter`."""
    dlq_headers = dead_letter_headers(headers, reason, consumer)
    return await broker.publish(
        value or b"",
        topics.dlq(topic),
        key=key,
        headers={name: data.decode(errors="replace") for name, data in dlq_headers},
    )
