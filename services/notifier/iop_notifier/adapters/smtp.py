"""SMTP delivery with aiosmtplib, mapping its errors to transient / permanent / ambiguous.

TLS is the rule: `starttls` (the default: upgrade on port 587 or 25, and refuse to send if the
server does not offer it) or `implicit` (TLS from the first byte, port 465); the server's
certificate is verified against the system's CAs, or `ca_file` for a private CA. `plaintext`
exists for the local sink only: it is refused for any host but a loopback one (127.0.0.0/8, ::1,
localhost), and never carries credentials. A message holds a client's first name and session
times; it must not cross a network in clear.

Error texts from servers are not passed on: they often quote the recipient address.
"""

import ipaddress
import ssl
from email.message import EmailMessage
from pathlib import Path
from typing import Literal

import aiosmtplib
from iop_contracts import tracing

from iop_notifier.errors import (
    AmbiguousDeliveryError,
    PermanentDeliveryError,
    TransientDeliveryError,
)

SmtpTls = Literal["starttls", "implicit", "plaintext"]


def is_loopback(host: str) -> bool:
    """127.0.0.0/8, ::1 or the name localhost: a connection that never leaves the machine."""
    name = host.strip().strip("[]").rstrip(".").lower()
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def tls_problem(host: str, tls: SmtpTls, *, has_credentials: bool) -> str | None:
    """Why this SMTP configuration must not be used, or None when it may."""
    if tls != "plaintext":
        return None
    if has_credentials:
        return "SMTP credentials are never sent without TLS (NOTIFIER_SMTP_TLS=plaintext)"
    if not is_loopback(host):
        return (
            "NOTIFIER_SMTP_TLS=plaintext is allowed only to a loopback host (127.0.0.0/8, ::1, "
            "localhost); use starttls or implicit for any other server"
        )
    return None


class SmtpTransport:
    def __init__(
        self,
        host: str,
        port: int,
        *,
        tls: SmtpTls = "starttls",
        ca_file: Path | None = None,
        username: str | None = None,
        password: str | None = None,
        timeout_s: float = 10.0,
    ) -> None:
        problem = tls_problem(host, tls, has_credentials=bool(username or password))
        if problem:
            raise ValueError(problem)
        self.host = host
        self.port = port
        self.tls = tls
        self.ca_file = ca_file
        self.username = username
        self.password = password
        self.timeout_s = timeout_s

    async def send(self, message: EmailMessage) -> None:
        """Send one message; its span (when tracing is on) names the server, never the
        recipient, and a failure by its type (TransientDeliveryError, ...)."""
        attributes: dict[str, str | int] = {
            "server.address": self.host,
            "server.port": self.port,
            "network.protocol.name": "smtp",
        }
        with tracing.client_span("smtp send", attributes):
            await self._send(message)

    async def _send(self, message: EmailMessage) -> None:
        try:
            await aiosmtplib.send(
                message,
                hostname=self.host,
                port=self.port,
                # True, not None: aiosmtplib's None upgrades only when offered, else sends in clear.
                start_tls=self.tls == "starttls",
                use_tls=self.tls == "implicit",
                cert_bundle=str(self.ca_file) if self.ca_file else None,
                username=self.username,
                password=self.password,
                timeout=self.timeout_s,
            )
        except ssl.SSLError as error:
            # A certificate that does not verify, or no common protocol: an operator must act.
            raise TransientDeliveryError("smtp_tls_failed") from error
        except (aiosmtplib.SMTPConnectError, aiosmtplib.SMTPConnectTimeoutError) as error:
            if isinstance(error.__cause__, ssl.SSLError):
                raise TransientDeliveryError("smtp_tls_failed") from error
            raise TransientDeliveryError("smtp_unreachable") from error
        except aiosmtplib.SMTPRecipientsRefused as error:
            codes = [refusal.code for refusal in error.recipients]
            if codes and all(400 <= code < 500 for code in codes):
                raise TransientDeliveryError("smtp_recipient_deferred") from error
            raise PermanentDeliveryError("smtp_recipient_refused") from error
        except aiosmtplib.SMTPAuthenticationError as error:
            # A configuration problem: retrying after the operator fixes it is what we want.
            raise TransientDeliveryError("smtp_auth_failed") from error
        except aiosmtplib.SMTPResponseException as error:
            if 400 <= error.code < 500:
                raise TransientDeliveryError(f"smtp_{error.code}") from error
            raise PermanentDeliveryError(f"smtp_{error.code}") from error
        except (aiosmtplib.SMTPServerDisconnected, aiosmtplib.SMTPReadTimeoutError) as error:
            # The connection broke mid-conversation: the server may already have accepted it.
            raise AmbiguousDeliveryError("smtp_disconnected") from error
        except aiosmtplib.SMTPException as error:
            if "STARTTLS" in str(error):
                # The server offers no STARTTLS: the message is not sent in clear instead.
                raise TransientDeliveryError("smtp_starttls_unavailable") from error
            raise TransientDeliveryError("smtp_error") from error
        except OSError as error:
            raise TransientDeliveryError("smtp_error") from error
