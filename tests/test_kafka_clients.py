"""Every raw Kafka client the operator tools build connects as KafkaSettings say (TLS, SASL), and
topics are created with the replication the settings ask for, or not at all.

The clients are replaced by recorders that keep their keyword arguments and stop there: what
is checked is what aiokafka would have been given. No broker is involved.
"""

import asyncio
import ssl
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import pytest
from aiokafka.errors import (
    InvalidReplicationFactorError,
    NotControllerError,
    TopicAlreadyExistsError,
    TopicAuthorizationFailedError,
)
from iop_contracts import cluster, kafka, topics
from iop_contracts.kafka import KafkaSettings
from pydantic import SecretStr

from iop import broker, roster
from iop.broker import BrokerError, ensure_topics

PASSWORD = "sasl-password-for-tests"


class Built(Exception):
    """Raised by a recorder once it has its arguments."""


def recorder(into: list[dict[str, Any]]) -> Callable[..., Any]:
    def build(*args: Any, **kwargs: Any) -> Any:
        into.append(kwargs)
        raise Built()

    return build


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("SECURITY_PROTOCOL", "SASL_MECHANISM", "SASL_USERNAME", "SASL_PASSWORD"):
        monkeypatch.delenv(f"KAFKA_{name}", raising=False)
    monkeypatch.delenv("KAFKA_SSL_CAFILE", raising=False)
    monkeypatch.delenv("KAFKA_REPLICATION_FACTOR", raising=False)
    monkeypatch.delenv("KAFKA_MIN_INSYNC_REPLICAS", raising=False)


def scram_ssl() -> KafkaSettings:
    # No CA file: TLS then verifies against the system's CAs.
    return KafkaSettings(
        bootstrap_servers="kafka-1:9093",
        security_protocol="SASL_SSL",
        sasl_mechanism="SCRAM-SHA-512",
        sasl_username="iop-operator",
        sasl_password=SecretStr(PASSWORD),
    )


def assert_secured(kwargs: dict[str, Any]) -> None:
    assert kwargs["bootstrap_servers"] == "kafka-1:9093"
    assert kwargs["security_protocol"] == "SASL_SSL"
    assert kwargs["sasl_mechanism"] == "SCRAM-SHA-512"
    assert kwargs["sasl_plain_username"] == "iop-operator"
    assert kwargs["sasl_plain_password"] == PASSWORD
    assert isinstance(kwargs["ssl_context"], ssl.SSLContext)
    assert kwargs["ssl_context"].verify_mode == ssl.CERT_REQUIRED


def test_the_topic_admin_client_connects_with_the_settings(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    built: list[dict[str, Any]] = []
    monkeypatch.setattr(broker, "AIOKafkaAdminClient", recorder(built))
    with pytest.raises(Built):
        asyncio.run(ensure_topics(scram_ssl()))
    assert_secured(built[0])


def test_the_roster_producer_connects_with_the_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    built: list[dict[str, Any]] = []
    monkeypatch.setattr(roster, "AIOKafkaProducer", recorder(built))
    with pytest.raises(Built):
        asyncio.run(roster.publish_events(scram_ssl(), []))
    assert_secured(built[0])
    assert built[0]["acks"] == "all"


def test_the_cluster_identity_client_connects_with_the_settings(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    built: list[dict[str, Any]] = []
    monkeypatch.setattr(cluster, "AIOKafkaClient", recorder(built))
    with pytest.raises(Built):
        asyncio.run(cluster.cluster_identity(scram_ssl()))
    assert_secured(built[0])


def test_the_reachability_check_connects_with_the_settings(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    built: list[dict[str, Any]] = []
    monkeypatch.setattr(kafka, "AIOKafkaClient", recorder(built))
    with pytest.raises(Built):
        asyncio.run(kafka.check_reachable(scram_ssl()))
    assert_secured(built[0])


def test_a_bare_address_takes_security_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("KAFKA_SECURITY_PROTOCOL", "SASL_SSL")
    monkeypatch.setenv("KAFKA_SASL_MECHANISM", "SCRAM-SHA-512")
    monkeypatch.setenv("KAFKA_SASL_USERNAME", "iop-operator")
    monkeypatch.setenv("KAFKA_SASL_PASSWORD", PASSWORD)
    built: list[dict[str, Any]] = []
    monkeypatch.setattr(roster, "AIOKafkaProducer", recorder(built))
    with pytest.raises(Built):
        asyncio.run(roster.publish_events("kafka-1:9093", []))
    assert_secured(built[0])


class FakeAdmin:
    """An admin client whose cluster has `existing` topics and answers creations with `codes`."""

    def __init__(self, existing: set[str], codes: dict[str, int], log: list[Any]) -> None:
        self.existing, self.codes, self.log = existing, codes, log

    async def start(self) -> None: ...

    async def close(self) -> None: ...

    async def list_topics(self) -> list[str]:
        return sorted(self.existing)

    async def create_topics(self, new: list[Any]) -> Any:
        self.log.extend(new)
        return SimpleNamespace(
            topic_errors=[(t.name, self.codes.get(t.name, 0), None) for t in new]
        )


def fake_admin(
    monkeypatch: pytest.MonkeyPatch, existing: frozenset[str] = frozenset(), **codes: int
) -> list[Any]:
    created: list[Any] = []
    monkeypatch.setattr(
        broker, "AIOKafkaAdminClient", lambda **_: FakeAdmin(set(existing), codes, created)
    )
    return created


def test_topics_are_created_with_the_settings_replication_and_min_insync(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("KAFKA_REPLICATION_FACTOR", "3")
    monkeypatch.setenv("KAFKA_MIN_INSYNC_REPLICAS", "2")
    created = fake_admin(monkeypatch, existing=frozenset({topics.ROSTER}))
    names = asyncio.run(ensure_topics("k:9092"))
    assert set(names) == set(topics.ALL_TOPICS) - {topics.ROSTER}
    for topic in created:
        assert topic.replication_factor == 3
        assert topic.num_partitions == topics.ALL_TOPICS[topic.name]
        assert topic.topic_configs["min.insync.replicas"] == "2"
        for key, value in topics.CONFIGS.get(topic.name, {}).items():
            assert topic.topic_configs[key] == value


def test_production_replication_is_the_default() -> None:
    assert KafkaSettings().replication == topics.PRODUCTION == topics.Replication(3, 2)


def test_the_embedded_broker_creates_single_replica_topics(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("KAFKA_REPLICATION_FACTOR", "3")  # the deployment's, not the demo's
    created = fake_admin(monkeypatch)
    local = broker.EmbeddedBroker(port=1).kafka
    asyncio.run(ensure_topics(local))
    assert {(t.replication_factor, t.topic_configs["min.insync.replicas"]) for t in created} == {
        (1, "1")
    }


def test_a_topic_the_cluster_refuses_is_an_error_naming_it_and_the_setting(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fake_admin(monkeypatch, **{topics.SCHEDULE: InvalidReplicationFactorError.errno})
    with pytest.raises(BrokerError) as refused:
        asyncio.run(ensure_topics("k:9092", timeout_s=1))
    message = str(refused.value)
    assert topics.SCHEDULE in message and "InvalidReplicationFactorError" in message
    assert "KAFKA_REPLICATION_FACTOR" in message
    assert topics.ROSTER not in message


def test_a_refused_permission_is_an_error_and_one_that_exists_is_not(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fake_admin(monkeypatch, **{topics.ROSTER: TopicAlreadyExistsError.errno})
    assert topics.ROSTER in asyncio.run(ensure_topics("k:9092", timeout_s=1))
    fake_admin(monkeypatch, **{topics.REFERRAL: TopicAuthorizationFailedError.errno})
    with pytest.raises(BrokerError, match="TopicAuthorizationFailedError"):
        asyncio.run(ensure_topics("k:9092", timeout_s=1))


def test_a_retriable_refusal_is_asked_again(monkeypatch: pytest.MonkeyPatch) -> None:
    answers = [{topics.ROSTER: NotControllerError.errno}, {}]
    created: list[Any] = []

    def admin(**_: Any) -> FakeAdmin:
        return FakeAdmin(set(), answers.pop(0), created)

    monkeypatch.setattr(broker, "AIOKafkaAdminClient", admin)
    assert len(asyncio.run(ensure_topics("k:9092", timeout_s=10))) == len(topics.ALL_TOPICS)
    assert answers == []
