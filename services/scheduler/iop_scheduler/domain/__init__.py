"""Pure region state and decisions of the scheduler service: no I/O, no solving, no Kafka (the
dated calendar borrows the solver's qualification predicates, so both judge facilitators alike)."""

from iop_scheduler.domain.calendar import Plan, Substitution, plan_region
from iop_scheduler.domain.decisions import (
    Answer,
    completions,
    extension_declined,
    placements,
    releases,
)
from iop_scheduler.domain.projection import (
    Enrollment,
    EnrollmentOutcome,
    Projection,
    ScheduleState,
    Status,
)
from iop_scheduler.domain.roster import RosterTable
from iop_scheduler.domain.staffing import StaffingTable, announcement

__all__ = [
    "Answer",
    "Enrollment",
    "EnrollmentOutcome",
    "Plan",
    "Projection",
    "RosterTable",
    "ScheduleState",
    "StaffingTable",
    "Status",
    "Substitution",
    "announcement",
    "completions",
    "extension_declined",
    "placements",
    "plan_region",
    "releases",
]
