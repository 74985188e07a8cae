"""SMTP delivery with aiosmtplib, mapping its errors to transient / permanent / ambiguous.

Error texts from servers are not passed on: they often quote the recipient address.
"""

from email.message import EmailMessage

import aiosmtplib

from iop_notifier.errors import (
    AmbiguousDeliveryError,
    PermanentDeliveryError,
    TransientDeliveryError,
)


class SmtpTransport:
    def __init__(
        self,
        host: str,
        port: int,
        *,
        starttls: bool = False,
        implicit_tls: bool = False,
        username: str | None = None,
        password: str | None = None,
        timeout_s: float = 10.0,
    ) -> None:
        self.host = host
        self.port = port
        self.starttls = starttls
        self.implicit_tls = implicit_tls
        self.username = username
        self.password = password
        self.timeout_s = timeout_s

    async def send(self, message: EmailMessage) -> None:
        try:
            await aiosmtplib.send(
                message,
                hostname=self.host,
                port=self.port,
                start_tls=self.starttls,
                use_tls=self.implicit_tls,
                username=self.username,
                password=self.password,
                timeout=self.timeout_s,
            )
        except (aiosmtplib.SMTPConnectError, aiosmtplib.SMTPConnectTimeoutError) as error:
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
        except (aiosmtplib.SMTPException, OSError) as error:
            raise TransientDeliveryError("smtp_error") from error
