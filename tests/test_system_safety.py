"""`iop up` and `iop demo` run intake with authentication off only explicitly, and say so; the
embedded broker's clients speak plaintext whatever security the environment asks of real Kafka."""

from pathlib import Path

import pytest

from iop.broker import EmbeddedBroker, free_port
from iop.system import KAFKA_SECURITY_ENV, SERVICES, System, SystemSettings

KEYS = '{"' + "b" * 64 + '": {"name": "bos", "network": true}}'


def local_system(tmp_path: Path) -> System:
    system = System(SystemSettings.isolated(tmp_path))
    system.broker = EmbeddedBroker(port=free_port())  # as if started: never started here
    system.bootstrap_servers = system.broker.bootstrap_servers
    return system


def test_without_keys_intake_is_told_explicitly_and_the_console_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("INTAKE_API_KEYS", raising=False)
    monkeypatch.delenv("INTAKE_AUTH_DISABLED", raising=False)
    system = local_system(tmp_path)
    assert system.service_env("intake")["INTAKE_AUTH_DISABLED"] == "true"
    for other in set(SERVICES) - {"intake"}:
        assert "INTAKE_AUTH_DISABLED" not in system.service_env(other)
    said = "\n".join(system.describe())
    assert "intake authentication is OFF" in said
    assert "INTAKE_API_KEYS" in said and "docs/security-platform.md" in said


def test_with_keys_intake_authenticates_and_the_console_says_where_keys_come_from(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("INTAKE_API_KEYS", KEYS)
    monkeypatch.delenv("INTAKE_AUTH_DISABLED", raising=False)
    system = local_system(tmp_path)
    env = system.service_env("intake")
    assert "INTAKE_AUTH_DISABLED" not in env and env["INTAKE_API_KEYS"] == KEYS
    assert "intake API keys from INTAKE_API_KEYS" in system.describe_auth()


def test_the_embedded_broker_services_get_no_kafka_security_settings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in KAFKA_SECURITY_ENV:
        monkeypatch.setenv(name, "set-for-the-real-cluster")
    system = local_system(tmp_path)
    for service in SERVICES:
        env = system.service_env(service)
        assert not set(KAFKA_SECURITY_ENV) & set(env), service
        assert env["KAFKA_BOOTSTRAP_SERVERS"] == system.bootstrap_servers


def test_an_external_kafka_keeps_the_environment_security_settings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KAFKA_SECURITY_PROTOCOL", "SASL_SSL")
    system = System(SystemSettings.isolated(tmp_path))
    system.bootstrap_servers = "kafka-1:9093"  # as _start_broker leaves it for external Kafka
    assert system.service_env("scheduler")["KAFKA_SECURITY_PROTOCOL"] == "SASL_SSL"


def test_without_keys_the_clinic_is_told_explicitly_and_the_console_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CLINIC_API_KEYS", raising=False)
    monkeypatch.setenv("INTAKE_API_KEYS", KEYS)
    system = local_system(tmp_path)
    assert system.service_env("clinic")["CLINIC_AUTH_DISABLED"] == "true"
    assert "INTAKE_AUTH_DISABLED" not in system.service_env("intake")
    said = system.describe_auth().splitlines()
    assert said[0].startswith("auth       intake API keys from INTAKE_API_KEYS")
    assert said[1].startswith("auth       clinic authentication is OFF")
    monkeypatch.setenv("CLINIC_API_KEYS", KEYS)
    keyed = local_system(tmp_path)
    assert "CLINIC_AUTH_DISABLED" not in keyed.service_env("clinic")
    assert "clinic API keys from CLINIC_API_KEYS" in keyed.describe_auth()
