"""The scheduling engine: CP-SAT placement of IOP clients, its rule checker, clerk and generator.

Its boundary is typed (problem.py): a ``Problem`` in, a ``Result`` out. It imports neither the
contracts package nor FastStream, and knows nothing of schedule versions or events: the service
maps results to events, and ``iop_scheduler.adapters.snapshot`` maps payload-shaped snapshots to
problems and results back to the output the checkers read.

Public API (the scheduler service, its adapters and the CLI rely on these names):
    Problem, Assignment, Waitlisting, Result, SolveSettings, solve, first_fit,
    extension_reasons, validate_output, Finding, generate
"""

from .errors import InvalidSnapshot, SolverError
from .extension import extension_reasons
from .generator import generate
from .problem import Assignment, Problem, Result, Waitlisting
from .solve import SolveSettings, first_fit, solve
from .validate import Finding, validate_output

__all__ = [
    "Assignment",
    "Finding",
    "InvalidSnapshot",
    "Problem",
    "Result",
    "SolveSettings",
    "SolverError",
    "Waitlisting",
    "extension_reasons",
    "first_fit",
    "generate",
    "solve",
    "validate_output",
]
