"""The scheduling engine: CP-SAT placement of IOP clients, its rule checker, clerk and generator.

Public API (the scheduler service and the CLI rely on these names):
    SolveSettings, solve_snapshot, validate_output, Finding, first_fit, generate
"""

from .errors import InvalidSnapshot, SolverError
from .generator import generate
from .solve import SolveSettings, first_fit, solve_snapshot
from .validate import Finding, validate_output

__all__ = [
    "Finding",
    "InvalidSnapshot",
    "SolveSettings",
    "SolverError",
    "first_fit",
    "generate",
    "solve_snapshot",
    "validate_output",
]
