"""Kafka TLS and SASL: every client the system builds connects the way KafkaSettings say.

No TLS broker is needed: the tests look at what each builder hands aiokafka (FastStream's broker,
the kernel's consumers) and do a real TLS handshake against a local server with the context the
settings build, with certificates made by openssl for the test.
"""

import asyncio
import shutil
import ssl
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from iop_contracts import topics
from iop_contracts.consume.records import _consumer
from iop_contracts.kafka import KafkaSettings, client_options, make_broker
from pydantic import SecretStr, ValidationError

PASSWORD = "s3cret-sasl-password"
KEY_PASSWORD = "k3y-passphrase"
SECURITY_ENV = (
    "KAFKA_BOOTSTRAP_SERVERS",
    "KAFKA_SECURITY_PROTOCOL",
    "KAFKA_SSL_CAFILE",
    "KAFKA_SSL_CERTFILE",
    "KAFKA_SSL_KEYFILE",
    "KAFKA_SSL_KEY_PASSWORD",
    "KAFKA_SASL_MECHANISM",
    "KAFKA_SASL_USERNAME",
    "KAFKA_SASL_PASSWORD",
    "KAFKA_REPLICATION_FACTOR",
    "KAFKA_MIN_INSYNC_REPLICAS",
)


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in SECURITY_ENV:
        monkeypatch.delenv(name, raising=False)


def _openssl(*args: str) -> None:
    subprocess.run(["openssl", *args], check=True, capture_output=True)


def _signed(pki: Path, name: str, ca: str, subject: str, extensions: str) -> None:
    _openssl(
        *("req", "-new", "-newkey", "rsa:2048", "-nodes", "-subj", subject),
        *("-keyout", str(pki / f"{name}.key"), "-out", str(pki / f"{name}.csr")),
    )
    (pki / f"{name}.ext").write_text(extensions + "\n")
    _openssl(
        *("x509", "-req", "-in", str(pki / f"{name}.csr"), "-days", "1"),
        *("-CA", str(pki / f"{ca}.pem"), "-CAkey", str(pki / f"{ca}.key"), "-CAcreateserial"),
        *("-extfile", str(pki / f"{name}.ext"), "-out", str(pki / f"{name}.pem")),
    )


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Two CAs; a broker certificate for localhost from the first and one from the second; a
    client certificate from the first, its key encrypted with KEY_PASSWORD."""
    assert shutil.which("openssl"), "openssl makes the test certificates (.ci/run installs it)"
    pki = tmp_path_factory.mktemp("pki")
    for ca in ("ca", "other-ca"):
        _openssl(
            *("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"),
            *("-subj", f"/CN=iop test {ca}", "-keyout", str(pki / f"{ca}.key")),
            *("-out", str(pki / f"{ca}.pem")),
        )
    server_ext = "subjectAltName=DNS:localhost,IP:127.0.0.1"
    _signed(pki, "broker", "ca", "/CN=localhost", server_ext)
    _signed(pki, "impostor", "other-ca", "/CN=localhost", server_ext)
    _signed(pki, "client", "ca", "/CN=iop-intake", "extendedKeyUsage=clientAuth")
    _openssl(
        *("pkey", "-in", str(pki / "client.key"), "-aes256"),
        *("-passout", f"pass:{KEY_PASSWORD}", "-out", str(pki / "client-encrypted.key")),
    )
    yield pki


def sasl_ssl(pki: Path, mechanism: str = "SCRAM-SHA-512", **changes: Any) -> KafkaSettings:
    fields: dict[str, Any] = {
        "bootstrap_servers": "kafka-1:9093,kafka-2:9093",
        "security_protocol": "SASL_SSL",
        "ssl_cafile": pki / "ca.pem",
        "sasl_mechanism": mechanism,
        "sasl_username": "iop-intake",
        "sasl_password": SecretStr(PASSWORD),
    }
    return KafkaSettings(**{**fields, **changes})


def test_plaintext_is_the_default_and_adds_nothing() -> None:
    options = client_options(KafkaSettings(bootstrap_servers="b:9092"))
    assert options == {"bootstrap_servers": "b:9092", "security_protocol": "PLAINTEXT"}


@pytest.mark.parametrize("mechanism", ["SCRAM-SHA-256", "SCRAM-SHA-512"])
def test_sasl_ssl_options_carry_mechanism_credentials_and_a_verifying_context(
    pki: Path, mechanism: str
) -> None:
    options = client_options(sasl_ssl(pki, mechanism))
    context = options.pop("ssl_context")
    assert options == {
        "bootstrap_servers": "kafka-1:9093,kafka-2:9093",
        "security_protocol": "SASL_SSL",
        "sasl_mechanism": mechanism,
        "sasl_plain_username": "iop-intake",
        "sasl_plain_password": PASSWORD,
    }
    assert isinstance(context, ssl.SSLContext)
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname
    assert [dict(pair[0] for pair in ca["subject"]) for ca in context.get_ca_certs()] == [
        {"commonName": "iop test ca"}
    ]


@pytest.mark.parametrize("mechanism", ["SCRAM-SHA-256", "SCRAM-SHA-512"])
def test_the_faststream_broker_producer_and_consumers_get_the_same_security(
    pki: Path, mechanism: str
) -> None:
    broker = make_broker(sasl_ssl(pki, mechanism), client_id="iop-test")
    producer = broker._connection_kwargs
    consumer = broker.config.broker_config.builder.keywords
    for kwargs in (producer, consumer):
        assert kwargs["security_protocol"] == "SASL_SSL"
        assert kwargs["sasl_mechanism"] == mechanism
        assert kwargs["sasl_plain_username"] == "iop-intake"
        assert kwargs["sasl_plain_password"] == PASSWORD
        assert isinstance(kwargs["ssl_context"], ssl.SSLContext)
        assert kwargs["bootstrap_servers"] == ["kafka-1:9093,kafka-2:9093"]


def test_tls_without_sasl_is_ssl_in_faststream_too(pki: Path) -> None:
    settings = KafkaSettings(
        bootstrap_servers="k:9093", security_protocol="SSL", ssl_cafile=pki / "ca.pem"
    )
    kwargs = make_broker(settings, client_id="iop-test")._connection_kwargs
    assert kwargs["security_protocol"] == "SSL"
    assert isinstance(kwargs["ssl_context"], ssl.SSLContext)
    assert "sasl_plain_password" not in kwargs or kwargs["sasl_plain_password"] is None


def test_a_plaintext_broker_has_no_security() -> None:
    kwargs = make_broker(KafkaSettings(bootstrap_servers="k:9092"), "t")._connection_kwargs
    assert kwargs.get("security_protocol", "PLAINTEXT") == "PLAINTEXT"
    assert kwargs.get("ssl_context") is None


async def test_the_kernel_consumer_connects_with_the_settings(pki: Path) -> None:
    consumer = _consumer(sasl_ssl(pki, "SCRAM-SHA-256"), "iop-test-reader")
    client = consumer._client
    assert client._bootstrap_servers == "kafka-1:9093,kafka-2:9093"
    assert client._security_protocol == "SASL_SSL"
    assert client._sasl_mechanism == "SCRAM-SHA-256"
    assert client._sasl_plain_username == "iop-intake"
    assert client._sasl_plain_password == PASSWORD
    assert isinstance(client._ssl_context, ssl.SSLContext)


async def test_a_kernel_consumer_given_an_address_takes_security_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Callers that pass a bare address still connect as the deployment requires."""
    monkeypatch.setenv("KAFKA_SECURITY_PROTOCOL", "SASL_PLAINTEXT")
    monkeypatch.setenv("KAFKA_SASL_MECHANISM", "SCRAM-SHA-512")
    monkeypatch.setenv("KAFKA_SASL_USERNAME", "iop-scheduler")
    monkeypatch.setenv("KAFKA_SASL_PASSWORD", PASSWORD)
    client = _consumer("given:9092", "iop-test-reader")._client
    assert client._bootstrap_servers == "given:9092"
    assert client._security_protocol == "SASL_PLAINTEXT"
    assert client._sasl_plain_username == "iop-scheduler"


def test_local_settings_ignore_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """The embedded broker speaks plaintext whatever the deployment's settings say."""
    monkeypatch.setenv("KAFKA_SECURITY_PROTOCOL", "SASL_SSL")
    monkeypatch.setenv("KAFKA_REPLICATION_FACTOR", "3")
    local = KafkaSettings.local("127.0.0.1:4567")
    assert client_options(local) == {
        "bootstrap_servers": "127.0.0.1:4567",
        "security_protocol": "PLAINTEXT",
    }
    assert local.replication == topics.SINGLE_BROKER


def test_settings_come_from_unprefixed_environment_variables(
    monkeypatch: pytest.MonkeyPatch, pki: Path
) -> None:
    env = {
        "KAFKA_BOOTSTRAP_SERVERS": "k1:9093",
        "KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
        "KAFKA_SSL_CAFILE": str(pki / "ca.pem"),
        "KAFKA_SSL_CERTFILE": str(pki / "client.pem"),
        "KAFKA_SSL_KEYFILE": str(pki / "client-encrypted.key"),
        "KAFKA_SSL_KEY_PASSWORD": KEY_PASSWORD,
        "KAFKA_SASL_MECHANISM": "SCRAM-SHA-256",
        "KAFKA_SASL_USERNAME": "iop-notifier",
        "KAFKA_SASL_PASSWORD": PASSWORD,
        "KAFKA_REPLICATION_FACTOR": "5",
        "KAFKA_MIN_INSYNC_REPLICAS": "3",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    settings = KafkaSettings()
    assert settings.sasl_password is not None
    assert settings.sasl_password.get_secret_value() == PASSWORD
    assert settings.ssl_certfile == pki / "client.pem"
    assert settings.replication == topics.Replication(5, 3)
    # Secrets stay out of reprs (and so out of any log line or traceback that prints them).
    assert PASSWORD not in repr(settings) and KEY_PASSWORD not in repr(settings)


@pytest.mark.parametrize(
    ("changes", "named"),
    [
        ({"sasl_username": None}, "KAFKA_SASL_USERNAME"),
        ({"sasl_mechanism": None}, "KAFKA_SASL_MECHANISM"),
        ({"sasl_password": None}, "KAFKA_SASL_PASSWORD"),
        ({"security_protocol": "PLAINTEXT", "ssl_cafile": None}, "KAFKA_SASL_*"),
        ({"security_protocol": "SASL_PLAINTEXT"}, "KAFKA_SSL_CAFILE"),
        ({"ssl_cafile": Path("/no/such/ca.pem")}, "KAFKA_SSL_CAFILE: no file"),
        ({"ssl_keyfile": Path(__file__)}, "KAFKA_SSL_KEYFILE needs KAFKA_SSL_CERTFILE"),
        ({"replication_factor": 1, "min_insync_replicas": 2}, "KAFKA_MIN_INSYNC_REPLICAS"),
    ],
)
def test_inconsistent_settings_are_refused_by_name_without_the_secret(
    pki: Path, changes: dict[str, Any], named: str
) -> None:
    with pytest.raises(ValidationError) as refused:
        sasl_ssl(pki, **changes)
    assert named in str(refused.value)
    assert PASSWORD not in str(refused.value)


def test_a_bad_protocol_is_refused_without_echoing_the_password(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("KAFKA_SECURITY_PROTOCOL", "SASL_SSL_PLEASE")
    monkeypatch.setenv("KAFKA_SASL_PASSWORD", PASSWORD)
    with pytest.raises(ValidationError) as refused:
        KafkaSettings()
    assert "KAFKA_SECURITY_PROTOCOL" in str(refused.value)
    assert PASSWORD not in str(refused.value)


async def _handshake(pki: Path, server_cert: str, client: ssl.SSLContext) -> dict[str, str]:
    """Connect `client` to a TLS server presenting `server_cert` that requires a client
    certificate from our CA; the subject of the client certificate it saw."""
    server_side = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=pki / "ca.pem")
    server_side.load_cert_chain(pki / f"{server_cert}.pem", pki / f"{server_cert}.key")
    server_side.verify_mode = ssl.CERT_REQUIRED
    seen: dict[str, str] = {}

    async def greet(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = writer.get_extra_info("peercert") or {}
        seen.update(dict(pair[0] for pair in peer.get("subject", ())))
        writer.write(b"ok")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(greet, "127.0.0.1", 0, ssl=server_side)
    port = server.sockets[0].getsockname()[1]
    try:
        async with asyncio.timeout(10):
            reader, writer = await asyncio.open_connection(
                "127.0.0.1", port, ssl=client, server_hostname="localhost"
            )
            assert await reader.read() == b"ok"
            writer.close()
    finally:
        server.close()
        await server.wait_closed()
    return seen


async def test_mutual_tls_presents_the_client_certificate_with_an_encrypted_key(
    pki: Path,
) -> None:
    settings = sasl_ssl(
        pki,
        ssl_certfile=pki / "client.pem",
        ssl_keyfile=pki / "client-encrypted.key",
        ssl_key_password=SecretStr(KEY_PASSWORD),
    )
    context = client_options(settings)["ssl_context"]
    assert (await _handshake(pki, "broker", context)) == {"commonName": "iop-intake"}


async def test_a_broker_certificate_from_another_ca_is_refused(pki: Path) -> None:
    settings = sasl_ssl(pki, ssl_certfile=pki / "client.pem", ssl_keyfile=pki / "client.key")
    with pytest.raises(ssl.SSLCertVerificationError):
        await _handshake(pki, "impostor", client_options(settings)["ssl_context"])
