"""docker-compose.yml, the production shape, is safe by default. No Docker engine is needed: the
file is read as YAML and checked for what must hold (published ports on loopback only, no
secrets inline, topics made by the project's own command with three replicas, each service built
from its own Dockerfile target)."""

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).parents[1]
COMPOSE: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVICES: dict[str, dict[str, Any]] = COMPOSE["services"]
PROJECT = {name: s for name, s in SERVICES.items() if "build" in s}
KAFKA = {
    name: s for name, s in SERVICES.items() if str(s.get("image", "")).startswith("apache/kafka")
}
SECRET_NAME = re.compile(r"PASSWORD|SECRET|TOKEN|API_KEYS|DIGEST_KEY|PRIVATE", re.IGNORECASE)


def environment(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {str(k): str(v) for k, v in env.items()}


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_published_ports_listen_on_loopback_only(name: str) -> None:
    for port in SERVICES[name].get("ports") or []:
        assert str(port).startswith("127.0.0.1:"), (name, port)


def test_mailpit_publishes_nothing_of_its_own() -> None:
    mailpit = SERVICES["mailpit"]
    assert not mailpit.get("ports")
    assert mailpit["network_mode"] == "service:notifier"


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_no_secret_is_written_in_the_file(name: str) -> None:
    for key, value in environment(SERVICES[name]).items():
        assert not SECRET_NAME.search(key), (name, key, "belongs in .env")
        assert not SECRET_NAME.search(value), (name, key)


@pytest.mark.parametrize("name", sorted(PROJECT))
def test_the_project_services_read_their_secrets_from_the_env_file(name: str) -> None:
    assert PROJECT[name]["env_file"] in (".env", [".env"])


def test_the_env_example_holds_no_secret_values() -> None:
    for line in (ROOT / ".env.example").read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            name, _, value = line.partition("=")
            assert not (SECRET_NAME.search(name) and value.strip()), line
    assert ".env" in (ROOT / ".gitignore").read_text().splitlines()


def test_topics_are_created_by_the_project_command_only() -> None:
    job = SERVICES["topics"]
    assert job["build"] == {"context": ".", "target": "operator"}
    assert job["command"] == ["iop", "topics", "create"]
    assert job["restart"] == "no"
    text = (ROOT / "docker-compose.yml").read_text()
    assert "kafka-topics.sh" not in text and "kafka-configs.sh" not in text
    for name, service in PROJECT.items():
        if name != "topics":
            wanted = service["depends_on"]["topics"]["condition"]
            assert wanted == "service_completed_successfully", name


def test_topics_get_three_replicas_two_in_sync_and_the_cluster_has_the_brokers() -> None:
    job = environment(SERVICES["topics"])
    assert job["KAFKA_REPLICATION_FACTOR"] == "3" and job["KAFKA_MIN_INSYNC_REPLICAS"] == "2"
    assert len(KAFKA) >= 3
    for name, broker in KAFKA.items():
        env = environment(broker)
        assert env["KAFKA_AUTO_CREATE_TOPICS_ENABLE"] == "false", name
        assert env["KAFKA_MIN_INSYNC_REPLICAS"] == "2", name
        assert env["KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR"] == "3", name
    bootstrap = set(job["KAFKA_BOOTSTRAP_SERVERS"].split(","))
    assert bootstrap == {f"{name}:9092" for name in KAFKA}


@pytest.mark.parametrize("name", ["intake", "scheduler", "notifier", "clinic"])
def test_services_run_their_own_entry_point(name: str) -> None:
    """`iop-<service> run` configures JSON logs with the allow-list and no access log."""
    assert SERVICES[name]["command"][:2] == [f"iop-{name}", "run"]


def dockerfile_targets() -> set[str]:
    text = (ROOT / "Dockerfile").read_text()
    return set(re.findall(r"^FROM \S+ AS (\S+)$", text, re.MULTILINE))


def test_the_project_services_are_built_from_the_repository() -> None:
    assert set(PROJECT) == {"topics", "intake", "scheduler", "notifier", "clinic"}
    for name, service in PROJECT.items():
        assert service["build"]["context"] == ".", name


@pytest.mark.parametrize("name", ["intake", "scheduler", "notifier", "clinic"])
def test_each_service_builds_its_own_target(name: str) -> None:
    """The target of the same name holds that service's dependencies only (tests/test_images.py)."""
    assert SERVICES[name]["build"]["target"] == name
    assert name in dockerfile_targets()


def test_the_topic_job_builds_the_operator_cli() -> None:
    assert SERVICES["topics"]["build"]["target"] in dockerfile_targets()
    assert 'iop = "iop.cli:app"' in (ROOT / "pyproject.toml").read_text()


# Confluent Platform release line -> the Apache Kafka line it ships (Confluent's interoperability
# table): testcontainers can only run Confluent's images.
CONFLUENT_TO_APACHE = {"7.7": "3.7", "7.8": "3.8", "7.9": "3.9"}


def test_testcontainers_kafka_is_the_apache_kafka_line_compose_runs() -> None:
    from iop.broker import TESTCONTAINERS_KAFKA_IMAGE

    confluent = TESTCONTAINERS_KAFKA_IMAGE.split(":")[1].rsplit(".", 1)[0]
    assert KAFKA, "compose runs Apache Kafka"
    for service in KAFKA.values():
        apache = str(service["image"]).split(":")[1].rsplit(".", 1)[0]
        assert CONFLUENT_TO_APACHE[confluent] == apache, (TESTCONTAINERS_KAFKA_IMAGE, apache)
