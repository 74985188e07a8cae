"""Exceptions of the solver package.

Infeasibility is never an exception (a client who cannot be placed is waitlisted); these are raised
only for input the solver cannot read. Messages name ids and field names, never personal data.
"""


class SolverError(Exception):
    """Root of every error the solver raises."""


class InvalidSnapshot(SolverError, ValueError):
    """A snapshot item is missing a field or carries a value the solver cannot interpret."""
