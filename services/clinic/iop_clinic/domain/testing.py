"""Builders of contract events for tests and demos of the clinic's domain (no I/O).

Every payload is validated by the contract when built, so its dates must lie in the contract's
window around `iop_contracts.contract_today()`: pin `IOP_TODAY` to the tests' today first. Event
times come from a `Feed`, which stamps each event a minute after the previous one: the read
model orders corrections and roster updates by time, so a test never depends on the clock.
"""

from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from iop_contracts import (
    AttendanceKind,
    AttendanceRecorded,
    AttendanceStatus,
    Cancellation,
    ClientMakeupScheduled,
    ClientScheduled,
    CloudEvent,
    EnrollmentRequested,
    GroupPlacement,
    GroupUpserted,
    IndividualSession,
    Payload,
    SiteUpserted,
    TherapistUpserted,
    TimeWindow,
    new_event,
    week_of,
)

SOURCE = "/iop/test"
EVENING = ("18:00", "21:00")


class Feed:
    """Wraps payloads in events stamped one minute apart, from `start`."""

    def __init__(self, start: date | datetime) -> None:
        if not isinstance(start, datetime):
            start = datetime.combine(start, time(8, 0), tzinfo=UTC)
        self.time = start

    def __call__(self, payload: Payload, *, event_id: str | None = None) -> CloudEvent:
        self.time += timedelta(minutes=1)
        return new_event(payload, source=SOURCE, time=self.time, event_id=event_id)

    def all(self, payloads: Iterable[Payload]) -> list[CloudEvent]:
        return [self(p) for p in payloads]


def site(site_id: str = "s1", region_id: str = "r1", **over: Any) -> SiteUpserted:
    data = {
        "site_id": site_id,
        "name": f"Site {site_id}",
        "region_id": region_id,
        "timezone": "America/New_York",
        **over,
    }
    return SiteUpserted.model_validate(data)


def group(
    group_id: str = "g1",
    site_id: str = "s1",
    days: Sequence[str] = ("mon", "wed", "thu"),
    hours: tuple[str, str] = EVENING,
    **over: Any,
) -> GroupUpserted:
    data = {
        "group_id": group_id,
        "site_id": site_id,
        "delivery": "in_person",
        "track": "substance_use",
        "modality": "relapse_prevention",
        "population": "adult",
        "language": "en",
        "capacity": 12,
        "sessions": [{"day": d, "start": hours[0], "end": hours[1]} for d in days],
        "facilitator_id": None,
        "open_from": "2020-01-06",
        **over,
    }
    return GroupUpserted.model_validate(data)


def therapist(therapist_id: str = "t1", site_ids: Sequence[str] = ("s1",)) -> TherapistUpserted:
    return TherapistUpserted.model_validate(
        {
            "therapist_id": therapist_id,
            "name": "Dana Whitfield",
            "site_ids": list(site_ids),
            "credentials": ["LCSW", "LADC"],
            "populations": ["adult", "adolescent"],
            "languages": ["en"],
            "max_weekly_hours": 30,
            "max_caseload": 20,
        }
    )


def enrollment(
    client_id: str, region_id: str = "r1", first_name: str = "Ana", **over: Any
) -> EnrollmentRequested:
    """A request whose contact carries an email and a phone (which the clinic must not keep)."""
    data = {
        "client_id": client_id,
        "region_id": region_id,
        "track": "substance_use",
        "population": "adult",
        "language": "en",
        "preferred_site_ids": ["s1"],
        "availability": [{"day": "mon", "start": "17:00", "end": "22:00"}],
        "requested_start": "2020-01-06",
        "program_weeks": 8,
        "contact": {
            "first_name": first_name,
            "email": f"{client_id}@example.org",
            "phone": "+16175550101",
            "email_consent": True,
            "sms_consent": True,
        },
        **over,
    }
    return EnrollmentRequested.model_validate(data)


def scheduled(
    client_id: str,
    placed_in: GroupUpserted,
    start_date: date,
    *,
    weeks: int = 8,
    version: int = 1,
    facilitator_id: str = "t1",
    individual: tuple[str, str, str] = ("sat", "09:00", "10:00"),
    individual_site: str | None = None,
    therapist_id: str = "t1",
    cancelled: Iterable[tuple[date, str, str]] = (),
    region_id: str = "r1",
) -> ClientScheduled:
    """The schedule the scheduler would publish for `client_id` in `placed_in`."""
    day, start, end = individual
    hours = placed_in.weekly_hours + TimeWindow(day=day, start=start, end=end).hours
    return ClientScheduled(
        client_id=client_id,
        region_id=region_id,
        schedule_version=version,
        group=GroupPlacement(
            group_id=placed_in.group_id,
            site_id=placed_in.site_id,
            delivery=placed_in.delivery,
            facilitator_id=facilitator_id,
            sessions=list(placed_in.sessions),
        ),
        individual=IndividualSession.model_validate(
            {
                "therapist_id": therapist_id,
                "delivery": "in_person",
                "site_id": individual_site or placed_in.site_id,
                "day": day,
                "start": start,
                "end": end,
            }
        ),
        start_date=start_date,
        end_date=start_date + timedelta(weeks=weeks, days=-1),
        weekly_hours=hours,
        timezone="America/New_York",
        cancelled=[
            Cancellation.model_validate({"date": d, "kind": k, "reason": r})
            for d, k, r in cancelled
        ],
    )


def record(
    client_id: str,
    day: date,
    status: str = "present",
    *,
    kind: str = "group",
    minutes: int | None = None,
    group_id: str | None = "g1",
    therapist_id: str | None = "t1",
    region_id: str = "r1",
) -> AttendanceRecorded:
    """A record; `minutes` defaults to a full evening for an attended group, 0 otherwise."""
    attended = status not in ("absent", "excused")
    default = (180 if kind != "individual" else 60) if attended else 0
    return AttendanceRecorded(
        client_id=client_id,
        region_id=region_id,
        date=day,
        kind=AttendanceKind(kind),
        group_id=None if kind == "individual" else group_id,
        therapist_id=therapist_id if kind == "individual" else None,
        status=AttendanceStatus(status),
        minutes_attended=default if minutes is None else minutes,
        recorded_by="site-key-s1",
    )


def makeup(
    client_id: str,
    placed_in: GroupUpserted,
    day: date,
    *,
    hours: tuple[str, str] = EVENING,
    facilitator_id: str = "t1",
    region_id: str = "r1",
) -> ClientMakeupScheduled:
    return ClientMakeupScheduled(
        client_id=client_id,
        region_id=region_id,
        week=week_of(day),
        date=day,
        group_id=placed_in.group_id,
        site_id=placed_in.site_id,
        delivery=placed_in.delivery,
        start=hours[0],
        end=hours[1],
        facilitator_id=facilitator_id,
        timezone="America/New_York",
    )
