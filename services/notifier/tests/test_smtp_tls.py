"""SMTP goes over TLS (STARTTLS by default, certificate verified); plaintext only to loopback.

Real aiosmtpd servers on 127.0.0.1 with a self-signed certificate made for the test.
"""

import shutil
import socket
import ssl
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP as SmtpServer
from aiosmtpd.smtp import Envelope, Session
from iop_notifier.adapters.smtp import SmtpTransport, is_loopback
from iop_notifier.errors import TransientDeliveryError
from iop_notifier.runtime import smtp_of
from iop_notifier.settings import NotifierSettings
from pydantic import SecretStr, ValidationError


class Received:
    """What the server accepted: (over TLS?, raw message) per message."""

    def __init__(self) -> None:
        self.messages: list[tuple[bool, bytes]] = []

    async def handle_DATA(self, server: SmtpServer, session: Session, envelope: Envelope) -> str:
        # session.ssl is set by STARTTLS; a connection in TLS from the start shows on its transport.
        transport = server.transport
        on_tls = transport is not None and bool(transport.get_extra_info("ssl_object"))
        encrypted = session.ssl is not None or on_tls
        self.messages.append((encrypted, envelope.original_content or b""))
        return "250 accepted"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def smtp_server(
    *, starttls: ssl.SSLContext | None = None, implicit: ssl.SSLContext | None = None
) -> Iterator[tuple[int, Received]]:
    """An aiosmtpd server on 127.0.0.1: `starttls` offers STARTTLS (and requires it), `implicit`
    speaks TLS from the first byte; neither, plain SMTP."""
    received = Received()
    port = _free_port()
    controller = Controller(
        received,
        hostname="127.0.0.1",
        port=port,
        ssl_context=implicit,
        tls_context=starttls,
        require_starttls=starttls is not None,
    )
    controller.start()
    try:
        yield port, received
    finally:
        controller.stop()


def _self_signed(directory: Path) -> tuple[Path, Path]:
    """A certificate for localhost and 127.0.0.1: with `cryptography` if installed, else openssl."""
    cert, key = directory / "cert.pem", directory / "key.pem"
    try:
        _with_cryptography(cert, key)
    except ImportError:
        openssl = shutil.which("openssl")
        assert openssl is not None, "openssl makes the test certificate (.ci/run installs it)"
        subprocess.run(
            [
                *(openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"),
                *("-keyout", str(key), "-out", str(cert), "-subj", "/CN=localhost"),
                *("-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"),
            ],
            check=True,
            capture_output=True,
        )
    return cert, key


def _with_cryptography(cert_path: Path, key_path: Path) -> None:
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.now(UTC)
    alt = [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName(alt), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )


@pytest.fixture
def certificate(tmp_path: Path) -> tuple[Path, ssl.SSLContext]:
    """The certificate file (what a client trusts) and the server's context holding its key."""
    cert, key = _self_signed(tmp_path)
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(cert, key)
    return cert, server


def message() -> EmailMessage:
    mail = EmailMessage()
    mail["From"] = "appointments@example.org"
    mail["To"] = "client@example.org"
    mail["Subject"] = "Your schedule"
    mail.set_content("Ana, your sessions start Monday at 18:00.")
    return mail


async def test_the_default_upgrades_with_starttls_and_the_server_gets_it_encrypted(
    certificate: tuple[Path, ssl.SSLContext],
) -> None:
    cert, server_context = certificate
    settings = NotifierSettings(smtp_host="localhost", smtp_ca_file=cert)
    with smtp_server(starttls=server_context) as (port, received):
        settings = settings.model_copy(update={"smtp_port": port})
        await smtp_of(settings).send(message())
    [(over_tls, raw)] = received.messages
    assert over_tls and b"Subject: Your schedule" in raw


async def test_implicit_tls_reaches_a_tls_only_server(
    certificate: tuple[Path, ssl.SSLContext],
) -> None:
    cert, server_context = certificate
    with smtp_server(implicit=server_context) as (port, received):
        await SmtpTransport("127.0.0.1", port, tls="implicit", ca_file=cert).send(message())
    assert [over_tls for over_tls, _ in received.messages] == [True]


async def test_a_server_without_starttls_gets_nothing_in_clear() -> None:
    """The old default (start_tls=False) handed names and times to any server in clear."""
    with smtp_server() as (port, received), pytest.raises(TransientDeliveryError) as refused:
        await SmtpTransport("127.0.0.1", port).send(message())
    assert refused.value.reason == "smtp_starttls_unavailable"
    assert received.messages == []


async def test_a_certificate_that_does_not_verify_gets_nothing(
    certificate: tuple[Path, ssl.SSLContext],
) -> None:
    _, server_context = certificate  # the client is not told to trust it
    with (
        smtp_server(starttls=server_context) as (port, received),
        pytest.raises(TransientDeliveryError) as refused,
    ):
        await SmtpTransport("localhost", port).send(message())
    assert refused.value.reason == "smtp_tls_failed"
    assert received.messages == []


async def test_plaintext_to_the_loopback_sink_still_delivers() -> None:
    with smtp_server() as (port, received):
        settings = NotifierSettings(smtp_host="127.0.0.1", smtp_port=port, smtp_tls="plaintext")
        await smtp_of(settings).send(message())
    assert [over_tls for over_tls, _ in received.messages] == [False]


def test_starttls_is_the_default() -> None:
    settings = NotifierSettings()
    assert settings.smtp_tls == "starttls" and smtp_of(settings).tls == "starttls"


@pytest.mark.parametrize("host", ["smtp.example.net", "10.0.0.5", "192.168.1.1", "127.evil.net"])
def test_plaintext_to_a_host_off_this_machine_is_refused_at_start(host: str) -> None:
    with pytest.raises(ValidationError, match="only to a loopback host"):
        NotifierSettings(smtp_host=host, smtp_tls="plaintext")
    with pytest.raises(ValueError, match="only to a loopback host"):
        SmtpTransport(host, 25, tls="plaintext")


@pytest.mark.parametrize("host", ["127.0.0.1", "127.8.9.10", "::1", "[::1]", "localhost"])
def test_plaintext_to_loopback_is_allowed(host: str) -> None:
    assert is_loopback(host)
    assert NotifierSettings(smtp_host=host, smtp_tls="plaintext").smtp_tls == "plaintext"


@pytest.mark.parametrize(
    "credentials",
    [{"smtp_username": "relay"}, {"smtp_password": SecretStr("pw")}],
)
def test_credentials_without_tls_are_refused_even_to_loopback(
    credentials: dict[str, Any],
) -> None:
    with pytest.raises(ValidationError, match="credentials are never sent without TLS"):
        NotifierSettings(smtp_host="127.0.0.1", smtp_tls="plaintext", **credentials)


def test_the_replaced_tls_switches_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    """NOTIFIER_SMTP_STARTTLS=false meant plaintext; silently ignoring it would hide that."""
    monkeypatch.setenv("NOTIFIER_SMTP_STARTTLS", "false")
    with pytest.raises(ValidationError, match="NOTIFIER_SMTP_TLS"):
        NotifierSettings()
