"""Operator errors are sentences: every failure an operator can cause at a command line (a bad
file, a missing column, no broker, a bad setting) is one line on stderr and a non-zero status,
never a traceback; and no command line ever shows local variables in a traceback."""

import asyncio
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import typer
from aiokafka.admin import AIOKafkaAdminClient
from iop_contracts import topics
from iop_intake.cli import app as intake_app
from iop_notifier.cli import app as notifier_app
from iop_scheduler.cli import app as scheduler_app
from typer.testing import CliRunner, Result

from iop.broker import EmbeddedBroker, free_port
from iop.cli import app

SECRET = "sasl-secret-for-cli-tests"
KAFKA_ENV = (
    "KAFKA_BOOTSTRAP_SERVERS",
    "KAFKA_SECURITY_PROTOCOL",
    "KAFKA_SASL_MECHANISM",
    "KAFKA_SASL_USERNAME",
    "KAFKA_SASL_PASSWORD",
    "KAFKA_SSL_CAFILE",
    "KAFKA_REPLICATION_FACTOR",
    "KAFKA_MIN_INSYNC_REPLICAS",
)


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in KAFKA_ENV:
        monkeypatch.delenv(name, raising=False)


def iop(*args: str, **env: str) -> Result:
    return CliRunner().invoke(app, list(args), env=env or None)


def one_error_line(result: Result) -> str:
    """The one line the command printed on stderr, which must say `error: ...`."""
    assert result.exception is None or isinstance(result.exception, SystemExit)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    assert "Traceback" not in result.output
    return lines[0]


@pytest.fixture
def no_broker() -> str:
    return f"127.0.0.1:{free_port()}"


def test_roster_load_of_a_missing_file(no_broker: str, tmp_path: Path) -> None:
    result = iop("roster", "load", str(tmp_path / "nope.yaml"), "--bootstrap", no_broker)
    assert result.exit_code == 2
    assert "nope.yaml: cannot be read (No such file or directory)" in one_error_line(result)


def test_roster_load_of_bad_yaml_names_the_line_not_its_text(
    no_broker: str, tmp_path: Path
) -> None:
    path = tmp_path / "roster.yaml"
    path.write_text("therapists:\n  - name: Dr Quentin Private\n    x: [unclosed\n")
    result = iop("roster", "load", str(path), "--bootstrap", no_broker)
    assert result.exit_code == 2
    line = one_error_line(result)
    assert "not valid YAML (line" in line
    assert "Quentin" not in result.output


def test_roster_load_of_an_invalid_entry_names_it(no_broker: str, tmp_path: Path) -> None:
    path = tmp_path / "roster.yaml"
    path.write_text("sites:\n  - {site_id: bos-1}\n")
    result = iop("roster", "load", str(path), "--bootstrap", no_broker)
    assert result.exit_code == 2
    assert "sites[0]" in one_error_line(result)


def test_roster_load_with_no_broker(no_broker: str) -> None:
    sample = Path(__file__).parents[1] / "iop" / "samples" / "network.yaml"
    result = iop("roster", "load", str(sample), "--bootstrap", no_broker)
    assert result.exit_code == 1
    assert f"no Kafka broker answered at {no_broker}" in one_error_line(result)


def test_roster_load_without_an_address() -> None:
    sample = Path(__file__).parents[1] / "iop" / "samples" / "network.yaml"
    result = iop("roster", "load", str(sample))
    assert result.exit_code == 2
    assert "KAFKA_BOOTSTRAP_SERVERS" in one_error_line(result)


def test_a_bad_setting_is_named(no_broker: str) -> None:
    result = iop(
        "topics", "create", KAFKA_BOOTSTRAP_SERVERS=no_broker, KAFKA_SECURITY_PROTOCOL="TLS"
    )
    assert result.exit_code == 2
    assert "bad settings: KAFKA_SECURITY_PROTOCOL" in one_error_line(result)


def test_incomplete_sasl_settings_are_named_without_the_password(no_broker: str) -> None:
    result = iop(
        *("topics", "create", "--bootstrap", no_broker),
        KAFKA_SECURITY_PROTOCOL="SASL_SSL",
        KAFKA_SASL_PASSWORD=SECRET,
    )
    assert result.exit_code == 2
    line = one_error_line(result)
    assert "KAFKA_SASL_MECHANISM" in line and "KAFKA_SASL_USERNAME" in line
    assert SECRET not in result.output


def test_topics_create_with_no_broker(no_broker: str) -> None:
    result = iop("topics", "create", "--bootstrap", no_broker, "--timeout", "1")
    assert result.exit_code == 1
    assert f"could not create topics on {no_broker}" in one_error_line(result)


def test_contracts_export_into_a_file_not_a_directory(tmp_path: Path) -> None:
    blocker = tmp_path / "schemas"
    blocker.write_text("not a directory")
    result = iop("contracts", "export", str(blocker / "out"))
    assert result.exit_code == 2
    assert "schemas" in one_error_line(result)


def test_enroll_import_with_no_broker(no_broker: str, tmp_path: Path) -> None:
    path = tmp_path / "backlog.csv"
    path.write_text("client_id,region_id\nc-1,ne\n")
    result = iop("enroll", "import", str(path), KAFKA_BOOTSTRAP_SERVERS=no_broker)
    assert result.exit_code == 1
    assert f"no Kafka broker answered at {no_broker}" in one_error_line(result)


@pytest.fixture(scope="module")
def bare_broker() -> Iterator[EmbeddedBroker]:
    """A broker without the contract's topics (so that `iop topics create` has work to do)."""
    broker = EmbeddedBroker().start(create_topics=False)
    try:
        yield broker
    finally:
        broker.stop()


@pytest.mark.integration
def test_enroll_import_with_a_missing_column(bare_broker: EmbeddedBroker, tmp_path: Path) -> None:
    path = tmp_path / "backlog.csv"
    path.write_text("client_id,track,email\nc-1,mental_health,zed@example.org\n")
    result = iop(
        "enroll", "import", str(path), KAFKA_BOOTSTRAP_SERVERS=bare_broker.bootstrap_servers
    )
    assert result.exit_code == 2
    assert "header: missing columns region_id" in one_error_line(result)
    assert "zed@example.org" not in result.output


@pytest.mark.integration
def test_enroll_import_of_a_file_that_is_not_utf8(
    bare_broker: EmbeddedBroker, tmp_path: Path
) -> None:
    path = tmp_path / "backlog.csv"
    path.write_bytes("client_id,region_id,first_name\nc-1,ne,Zoë\n".encode("utf-16"))
    result = iop(
        "enroll", "import", str(path), KAFKA_BOOTSTRAP_SERVERS=bare_broker.bootstrap_servers
    )
    assert result.exit_code == 2
    assert "not a UTF-8 CSV file" in one_error_line(result)


async def _partitions(bootstrap: str) -> dict[str, int]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        described = await admin.describe_topics(list(topics.ALL_TOPICS))
    finally:
        await admin.close()
    return {t["topic"]: len(t["partitions"]) for t in described}


@pytest.mark.integration
def test_topics_create_makes_the_contract_topics_once(bare_broker: EmbeddedBroker) -> None:
    env = {
        "KAFKA_BOOTSTRAP_SERVERS": bare_broker.bootstrap_servers,
        "KAFKA_REPLICATION_FACTOR": "1",
        "KAFKA_MIN_INSYNC_REPLICAS": "1",
    }
    first = iop("topics", "create", **env)
    assert first.exit_code == 0, first.output
    assert f"created {len(topics.ALL_TOPICS)} topics" in first.stdout
    again = iop("topics", "create", **env)
    assert again.exit_code == 0 and "created 0 topics" in again.stdout
    partitions = asyncio.run(_partitions(bare_broker.bootstrap_servers))
    assert partitions == dict(topics.ALL_TOPICS)


def _apps() -> list[tuple[str, typer.Typer]]:
    found = [("iop", app), ("intake", intake_app), ("scheduler", scheduler_app)]
    found.append(("notifier", notifier_app))
    found += [
        (f"iop {g.name}", g.typer_instance) for g in app.registered_groups if g.typer_instance
    ]
    return found


@pytest.mark.parametrize(
    ("name", "typer_app"), _apps(), ids=lambda v: v if isinstance(v, str) else ""
)
def test_no_typer_app_shows_locals_in_tracebacks(name: str, typer_app: typer.Typer) -> None:
    assert typer_app.pretty_exceptions_show_locals is False, name


def test_an_unexpected_error_shows_no_local_values() -> None:
    """A bug still raises with a traceback, but its locals (rows, contacts) are not printed."""
    program = (
        "import os, iop.cli as cli\n"
        "@cli.roster_app.command('boom')\n"
        "def boom() -> None:\n"
        "    contact = os.environ['PRIVATE_VALUE']\n"
        "    raise RuntimeError('a bug')\n"
        "cli.app(['roster', 'boom'], prog_name='iop')\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", program],
        env={**os.environ, "PRIVATE_VALUE": "zebulon@example.org", "TERM": "dumb"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode != 0
    assert "RuntimeError" in done.stderr
    assert "zebulon@example.org" not in done.stdout + done.stderr
