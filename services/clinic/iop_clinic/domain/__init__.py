"""The clinic's domain: its read model (Clinic), weekly hours compliance, the alerts due and the
reports. Pure Python: no I/O, no clock (every date-dependent question takes `today`)."""

from iop_clinic.domain.alerts import due_alerts
from iop_clinic.domain.clinic import Clinic
from iop_clinic.domain.compliance import (
    MINIMUM_MINUTES,
    SlotOutcome,
    SlotState,
    WeekHours,
    minimum_minutes,
    slot_outcome,
    week_hours,
)
from iop_clinic.domain.occurrences import Seat, Substitute
from iop_clinic.domain.programme import ClientSlot, Programme
from iop_clinic.domain.reports import (
    CensusRow,
    ComplianceRow,
    UtilisationRow,
    WaitlistRow,
    census_report,
    compliance_report,
    utilisation_report,
    waitlist_report,
    why_not,
)
from iop_clinic.domain.views import (
    AttendanceView,
    CancelledClient,
    ClientStatus,
    ClientView,
    GroupView,
    MakeupRequestView,
    MakeupUnavailableView,
    MakeupView,
    NotificationView,
    Occurrence,
    OccurrenceKind,
    ScheduleSummary,
    SiteView,
    WaitlistEntry,
)

__all__ = [
    "MINIMUM_MINUTES",
    "AttendanceView",
    "CancelledClient",
    "CensusRow",
    "ClientSlot",
    "ClientStatus",
    "ClientView",
    "Clinic",
    "ComplianceRow",
    "GroupView",
    "MakeupRequestView",
    "MakeupUnavailableView",
    "MakeupView",
    "NotificationView",
    "Occurrence",
    "OccurrenceKind",
    "Programme",
    "ScheduleSummary",
    "Seat",
    "SiteView",
    "SlotOutcome",
    "SlotState",
    "Substitute",
    "UtilisationRow",
    "WaitlistEntry",
    "WaitlistRow",
    "WeekHours",
    "census_report",
    "compliance_report",
    "due_alerts",
    "minimum_minutes",
    "slot_outcome",
    "utilisation_report",
    "waitlist_report",
    "week_hours",
    "why_not",
]
