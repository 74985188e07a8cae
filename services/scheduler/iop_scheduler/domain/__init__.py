"""Pure region state and decisions of the scheduler service: no I/O, no solver, no Kafka."""

from iop_scheduler.domain.decisions import Answer, completions, placements, releases
from iop_scheduler.domain.projection import (
    Enrollment,
    EnrollmentOutcome,
    Projection,
    ScheduleState,
    Status,
)
from iop_scheduler.domain.roster import RosterTable

__all__ = [
    "Answer",
    "Enrollment",
    "EnrollmentOutcome",
    "Projection",
    "RosterTable",
    "ScheduleState",
    "Status",
    "completions",
    "placements",
    "releases",
]
