"""What the notifier needs from a transport; the SMTP and SMS adapters implement these."""

from email.message import EmailMessage
from typing import Protocol


class EmailTransport(Protocol):
    async def send(self, message: EmailMessage) -> None:
        """Hand one message to the mail server. Raises TransientDeliveryError,
        PermanentDeliveryError or AmbiguousDeliveryError."""


class SmsTransport(Protocol):
    async def send(self, to: str, body: str) -> None:
        """Hand one SMS to the gateway; raises the same three errors."""
