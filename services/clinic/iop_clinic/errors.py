"""The clinic service's exceptions: one root, each leaf also a builtin so callers can catch
broadly. Messages name ids and fields, never values: a value may be personal data or a key."""

from iop_contracts import ContractError


class ClinicError(Exception):
    """Root of every error the clinic raises on purpose."""


class BrokerUnavailable(ClinicError, ConnectionError):
    """The broker did not acknowledge an event in time; nothing can be promised to the caller."""


class NotReady(ClinicError, RuntimeError):
    """The read model has not caught up with the topics yet."""


class Unauthenticated(ClinicError, PermissionError):
    """No API key, or one that matches no configured hash."""


class NotExpected(ClinicError, ContractError):
    """An attendance record for a client who is not expected at that session. A ContractError:
    the consumption kernel dead-letters an EHR's such record with this message (ids only)."""


class WrongTopic(ClinicError, ContractError):
    """An event on iop.attendance.v1 that belongs to another topic."""
