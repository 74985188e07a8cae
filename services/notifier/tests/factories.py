"""Builders of contract payloads for the notifier's tests."""

from datetime import date
from typing import Any

from iop_contracts.payloads import (
    ClientMakeupScheduled,
    ClientMakeupUnavailable,
    ClientScheduled,
    Contact,
    EnrollmentRequested,
)
from iop_contracts.values import week_of


def enrollment(
    client_id: str,
    *,
    language: str = "en",
    email_consent: bool = True,
    sms_consent: bool = False,
    email: str | None = None,
    phone: str | None = "+16175550101",
) -> EnrollmentRequested:
    return EnrollmentRequested(
        client_id=client_id,
        region_id="ne",
        track="substance_use",
        population="adult",
        language=language,
        preferred_site_ids=["bos-1"],
        availability=[{"day": "mon", "start": "17:30", "end": "22:00"}],
        requested_start=date(2026, 12, 1),
        program_weeks=8,
        contact=Contact(
            first_name="Ana",
            email=email or f"{client_id}@example.org",
            phone=phone,
            email_consent=email_consent,
            sms_consent=sms_consent,
        ),
    )  # type: ignore[arg-type]


def schedule(
    client_id: str,
    version: int = 1,
    *,
    start: str = "2026-10-20",
    end: str = "2026-11-24",
    sessions: list[dict[str, str]] | None = None,
    timezone: str = "America/New_York",
    rescheduled: bool = False,
    cancelled: list[tuple[str, str]] | None = None,
    reason: str = "site_closed",
) -> ClientScheduled:
    """`cancelled`: (date, kind) pairs, all with `reason`."""
    data: dict[str, Any] = {
        "client_id": client_id,
        "region_id": "ne",
        "schedule_version": version,
        "group": {
            "group_id": "bos-1-sud-eve-a",
            "site_id": "bos-1",
            "delivery": "in_person",
            "facilitator_id": "t-017",
            "sessions": sessions
            or [
                {"day": "mon", "start": "18:00", "end": "21:00"},
                {"day": "wed", "start": "18:00", "end": "21:00"},
            ],
        },
        "individual": {
            "therapist_id": "t-017",
            "delivery": "telehealth",
            "site_id": "bos-1",
            "day": "sat",
            "start": "09:00",
            "end": "10:00",
        },
        "start_date": start,
        "end_date": end,
        "weekly_hours": 7.0,
        "timezone": timezone,
        "cancelled": [{"date": d, "kind": k, "reason": reason} for d, k in cancelled or []],
    }
    if rescheduled:
        from iop_contracts.payloads import ClientRescheduled

        return ClientRescheduled.model_validate(data)
    return ClientScheduled.model_validate(data)


def makeup(
    client_id: str,
    day: date,
    *,
    group_id: str = "bos-1-sud-eve-a",
    start: str = "18:00",
    end: str = "21:00",
    delivery: str = "in_person",
    timezone: str = "America/New_York",
) -> ClientMakeupScheduled:
    """A make-up on `day` (its week is the one `day` falls in); the default group id spells out
    the track, as real ones may ("sud": substance use), for the discretion tests."""
    return ClientMakeupScheduled.model_validate(
        {
            "client_id": client_id,
            "region_id": "ne",
            "week": week_of(day),
            "date": day,
            "group_id": group_id,
            "site_id": "bos-1",
            "delivery": delivery,
            "start": start,
            "end": end,
            "facilitator_id": "t-017",
            "timezone": timezone,
        }
    )


def makeup_unavailable(client_id: str, day: date) -> ClientMakeupUnavailable:
    return ClientMakeupUnavailable.model_validate(
        {
            "client_id": client_id,
            "region_id": "ne",
            "week": week_of(day),
            "reasons": ["groups_full"],
        }
    )
