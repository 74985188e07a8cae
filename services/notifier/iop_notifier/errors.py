"""The notifier's exceptions: one root, and leaves that also subclass the builtin they resemble.

Messages name ids and reasons only: never an address, a phone number or a name.
"""


class NotifierError(Exception):
    """Root of every error the notifier raises on purpose."""


class DeliveryError(NotifierError):
    """A message could not be handed to its transport (SMTP server or SMS gateway)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class TransientDeliveryError(DeliveryError, ConnectionError):
    """Worth retrying later: the transport was down, busy or answered 4xx."""


class PermanentDeliveryError(DeliveryError, ValueError):
    """Retrying cannot help (a refused address, a rejected message): report it as failed."""


class AmbiguousDeliveryError(DeliveryError, ConnectionError):
    """The transport may have accepted the message before the exchange broke off.

    Resending could give the client a second copy, so the ledger records "possibly sent"."""


class LedgerError(NotifierError, RuntimeError):
    """The delivery ledger refused a state change that its rules do not allow."""
