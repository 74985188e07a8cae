"""The attendance-topic events a client is due: `client.hours_at_risk` and
`client.attendance_alert`, each published once.

Hours at risk. For every ISO week of the client's programme from its first week to the current
one (a future week is not judged, even when closures already cut it short), whose minimum is
more than zero: due when the week is `out_of_reach` (compliance.py), i.e. even counting every
past slot still unrecorded as attended, the hours attended plus those still to come fall short.
Judging an unrecorded slot as missed would announce, irrevocably, a shortfall that a late roll
call may undo; the board shows such weeks as `at_risk` meanwhile. Once per client and week:
not due when the read model has seen one for that week (it reads its own back from the topic;
the caller also applies what it publishes, so a second evaluation before the read-back does not
publish again).

Attendance alert. The client's slots that have a record, in time order, with the record that
stands for each (a record matching none of the client's slots is ignored); cancelled slots are
skipped, `excused` neither counts nor breaks a streak, `present`, `late` and `left_early` break
it. Due when the slots end in at least `absence_limit` consecutive `absent` records: count =
the limit, last_date = the date of the last absence. Once per streak: not due when any date of
the current streak is the last_date of an alert already seen (so a third absence after an alert
on the second does not alert again, and a streak broken by an attendance, or by a correction,
starts afresh).
"""

from collections.abc import Sequence
from datetime import date, timedelta

from iop_contracts import (
    AlertReason,
    AttendanceStatus,
    ClientAttendanceAlert,
    ClientHoursAtRisk,
    Payload,
    week_days,
    week_of,
)

from iop_clinic.domain.clinic import Clinic
from iop_clinic.domain.compliance import SlotOutcome, SlotState, slot_outcome


def due_alerts(clinic: Clinic, client_id: str, today: date, *, absence_limit: int) -> list[Payload]:
    """Every alert the client is due and has not had (see the module docstring)."""
    region_id = clinic.client_region(client_id)
    if region_id is None:
        return []
    return [
        *hours_at_risk_due(clinic, client_id, region_id, today),
        *absence_alert_due(clinic, client_id, region_id, today, absence_limit),
    ]


def weeks_to_judge(span: tuple[date, date] | None, today: date) -> list[str]:
    """The ISO weeks from the programme's first to the current one (none before it starts)."""
    if span is None or today < span[0]:
        return []
    monday, last = week_days(week_of(span[0]))[0], min(span[1], today)
    weeks = []
    while monday <= last:
        weeks.append(week_of(monday))
        monday += timedelta(days=7)
    return weeks


def hours_at_risk_due(
    clinic: Clinic, client_id: str, region_id: str, today: date
) -> list[ClientHoursAtRisk]:
    due = []
    for week in weeks_to_judge(clinic.programme_span(client_id), today):
        if clinic.hours_at_risk_published(client_id, week):
            continue
        hours = clinic.week_hours(client_id, week, today)
        if hours.minimum_minutes > 0 and hours.out_of_reach:
            due.append(
                ClientHoursAtRisk(
                    client_id=client_id,
                    region_id=region_id,
                    week=week,
                    attended_hours=round(hours.attended_hours, 2),
                    remaining_scheduled_hours=round(hours.remaining_hours, 2),
                    minimum_hours=round(hours.minimum_hours, 2),
                )
            )
    return due


def trailing_absences(outcomes: Sequence[SlotOutcome]) -> list[SlotOutcome]:
    """The unexcused absences the client's recorded slots end with, in time order."""
    streak: list[SlotOutcome] = []
    for outcome in reversed(outcomes):
        record = outcome.record
        if outcome.state is SlotState.CANCELLED or record is None:
            continue
        if record.status is AttendanceStatus.EXCUSED:
            continue
        if record.status is not AttendanceStatus.ABSENT:
            break
        streak.append(outcome)
    return streak[::-1]


def recorded_outcomes(clinic: Clinic, client_id: str, today: date) -> list[SlotOutcome]:
    """The client's slots that have a record, with it, in time order (a record matching no
    slot of the client's, which an EHR may publish, is left out)."""
    records = clinic.records(client_id)
    outcomes = []
    for day in sorted({day for day, _ in records}):
        for slot in clinic.slots(client_id, day, day):
            record = records.get((slot.date, slot.kind))
            if record is not None:
                outcomes.append(slot_outcome(slot, record, today))
    return outcomes


def absence_alert_due(
    clinic: Clinic, client_id: str, region_id: str, today: date, limit: int
) -> list[ClientAttendanceAlert]:
    streak = trailing_absences(recorded_outcomes(clinic, client_id, today))
    published = clinic.alerts_published(client_id)
    if len(streak) < limit or any(o.slot.date in published for o in streak):
        return []
    alert = ClientAttendanceAlert(
        client_id=client_id,
        region_id=region_id,
        reason=AlertReason.CONSECUTIVE_ABSENCES,
        count=limit,
        last_date=streak[-1].slot.date,
    )
    return [alert]
