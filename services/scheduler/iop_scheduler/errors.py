"""Exceptions of the scheduler service (ARCHITECTURE.md: one root, leaves also subclass a builtin).

Infeasibility is never an exception: a client who cannot be placed is waitlisted. Messages carry
ids and field names only, never enrollment contact details.
"""


class SchedulerError(Exception):
    """Root of every error the scheduler service raises."""


class UnusableEvent(SchedulerError, ValueError):
    """An event that decodes but that this service cannot act on (wrong topic, unknown region).
    The consumer dead-letters the record with this message as the reason."""


class CalendarError(SchedulerError, RuntimeError):
    """The dated calendar (closures, absences, substitutes) of a region could not be computed.
    The region's, not a client's: the batch fails and is retried, nobody is dead-lettered."""
