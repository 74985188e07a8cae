"""The intake service's exceptions: one root, each leaf also a builtin so callers can catch broadly.

Messages name ids and fields, never values: a value may be personal data or an API key.
"""

from iop_contracts import ContractError


class IntakeError(Exception):
    """Root of every error intake raises on purpose."""


class BrokerUnavailable(IntakeError, ConnectionError):
    """The broker did not acknowledge an event in time; nothing can be promised to the caller."""


class NotReady(IntakeError, RuntimeError):
    """The status projection has not caught up with the topics yet."""


class Unauthenticated(IntakeError, PermissionError):
    """No API key, or one that matches no configured hash."""


class OutOfScope(IntakeError, PermissionError):
    """The API key is valid but its scope does not cover the client's region or sites."""


class ClientIdUnavailable(IntakeError, ContractError):
    """A referral would enroll a client id it may not (a ContractError: the consumption kernel
    dead-letters it with this message, which names the field and no value)."""
