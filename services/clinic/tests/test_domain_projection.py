"""The clinic's read model as a projection: what each topic's events leave in it, repeats and
stale events changing nothing, and no contact data kept. No broker, no clock."""

from dataclasses import fields, is_dataclass
from datetime import date, timedelta
from typing import Any

import pytest
from iop_clinic.domain import ClientStatus, Clinic
from iop_clinic.domain.testing import (
    Feed,
    enrollment,
    group,
    makeup,
    record,
    scheduled,
    site,
    therapist,
)
from iop_contracts import (
    AttendanceKind,
    AttendanceStatus,
    CancellationReason,
    ClientAttendanceAlert,
    ClientCompleted,
    ClientHoursAtRisk,
    ClientMakeupUnavailable,
    ClientUnscheduled,
    ClientWaitlisted,
    EnrollmentDeclined,
    FacilitatorSubstituted,
    GroupRetired,
    MakeupRequested,
    NotificationFailed,
    NotificationSent,
    TherapistRetired,
    WaitlistReason,
    week_of,
)

TODAY = date(2027, 3, 1)  # a Monday
START = TODAY - timedelta(days=7)  # the programme began a week ago
G1 = group("g1", "s1")
THU = TODAY + timedelta(days=3)


@pytest.fixture(autouse=True)
def pinned_today(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IOP_TODAY", TODAY.isoformat())


def seeded(feed: Feed) -> Clinic:
    clinic = Clinic()
    for payload in (site("s1", closed_dates=[TODAY + timedelta(days=9)]), G1, therapist("t1")):
        assert clinic.apply(feed(payload))
    return clinic


def placed(feed: Feed, client_id: str = "c1", **over: Any) -> Clinic:
    clinic = seeded(feed)
    clinic.apply(feed(enrollment(client_id)))
    clinic.apply(feed(scheduled(client_id, G1, START, **over)))
    return clinic


# ------------------------------------------------------------------------ roster


def test_a_site_keeps_its_name_region_zone_and_closed_dates() -> None:
    clinic = seeded(Feed(TODAY))
    [view] = clinic.sites()
    assert (view.site_id, view.name, view.region_id, view.timezone) == (
        "s1",
        "Site s1",
        "r1",
        "America/New_York",
    )
    assert view.closed_on(TODAY + timedelta(days=9))
    assert not view.closed_on(TODAY)


def test_an_older_roster_update_arriving_late_does_not_roll_a_site_back() -> None:
    feed = Feed(TODAY)
    clinic = seeded(feed)
    older = feed(site("s1", name="Old name"))
    newer = feed(site("s1", name="New name"))
    assert clinic.apply(newer)
    assert not clinic.apply(older)
    assert clinic.sites()[0].name == "New name"


def test_a_retired_group_leaves_the_sites_live_groups() -> None:
    feed = Feed(TODAY)
    clinic = seeded(feed)
    assert [g.group_id for g in clinic.groups("s1")] == ["g1"]
    assert clinic.apply(feed(GroupRetired(group_id="g1")))
    assert clinic.groups("s1") == []


def test_a_therapist_is_kept_by_id_and_a_retirement_ends_them() -> None:
    feed = Feed(TODAY)
    clinic = seeded(feed)
    assert clinic.roster.live_therapists() == ["t1"]
    assert clinic.apply(feed(TherapistRetired(therapist_id="t1")))
    assert clinic.roster.live_therapists() == []


# -------------------------------------------------------------------- enrollment


def test_an_enrollment_keeps_first_name_region_and_level_of_care() -> None:
    clinic = placed(Feed(TODAY))
    view = clinic.client("c1")
    assert view is not None
    assert (view.first_name, view.region_id, view.track, view.population) == (
        "Ana",
        "r1",
        "substance_use",
        "adult",
    )


def _strings(value: Any, seen: dict[int, Any] | None = None) -> list[str]:
    """Every string reachable from `value` (fields, containers, keys), recursively. `seen` holds
    the objects visited (not only their ids: a temporary's id is reused once it is freed)."""
    seen = {} if seen is None else seen
    if id(value) in seen:
        return []
    seen[id(value)] = value
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        items = [*value.keys(), *value.values()]
    elif isinstance(value, list | tuple | set | frozenset):
        items = list(value)
    elif is_dataclass(value):
        items = [getattr(value, f.name) for f in fields(value)]
    elif hasattr(value, "model_dump"):
        items = [value.model_dump()]
    elif hasattr(value, "__dict__"):
        items = list(vars(value).values())
    else:
        return [repr(value)]
    return [s for item in items for s in _strings(item, seen)]


def test_the_read_model_keeps_no_email_phone_or_therapist_name() -> None:
    clinic = placed(Feed(TODAY))
    kept = _strings(clinic)
    assert "Ana" in kept  # the scan does reach the client's state
    assert not [s for s in kept if "example.org" in s or "5550101" in s]
    assert not [s for s in kept if "Dana" in s or "Whitfield" in s]
    assert "example.org" not in repr(clinic) and "5550101" not in repr(clinic)


def test_an_event_type_the_clinic_does_not_keep_changes_nothing() -> None:
    feed = Feed(TODAY)
    clinic = seeded(feed)
    declined = EnrollmentDeclined(
        client_id="c9", region_id="r1", reasons=["imminent_risk"], recommended_level="inpatient"
    )
    assert not clinic.apply(feed(declined))
    assert clinic.client("c9") is None


# ---------------------------------------------------------------------- schedule


def test_the_highest_schedule_version_stands_whatever_the_order() -> None:
    feed = Feed(TODAY)
    clinic = seeded(feed)
    newer = feed(scheduled("c1", G1, START, version=3, weeks=10))
    older = feed(scheduled("c1", G1, START, version=2, weeks=8))
    assert clinic.apply(newer)
    assert not clinic.apply(older)
    view = clinic.client("c1")
    assert view is not None and view.schedule is not None
    assert view.schedule.schedule_version == 3
    assert view.schedule.end_date == START + timedelta(weeks=10, days=-1)
    assert view.status is ClientStatus.SCHEDULED


def test_a_reschedule_carries_the_cancelled_list_that_stands() -> None:
    feed = Feed(TODAY)
    clinic = placed(feed)
    closure = (TODAY, "group", "site_closed")
    clinic.apply(feed(scheduled("c1", G1, START, version=2, cancelled=[closure])))
    view = clinic.client("c1")
    assert view is not None
    assert [(c.date, c.kind.value, c.reason.value) for c in view.cancelled] == [closure]


def test_waiting_since_is_the_first_waitlisting_and_reasons_the_latest() -> None:
    feed = Feed(TODAY - timedelta(days=20))
    clinic = seeded(feed)
    first = feed(ClientWaitlisted(client_id="c2", region_id="r1", reasons=["groups_full"]))
    feed.time += timedelta(days=5)
    again = feed(
        ClientWaitlisted(
            client_id="c2", region_id="r1", reasons=["groups_full", "therapist_capacity"]
        )
    )
    assert clinic.apply(first)
    assert clinic.apply(again)
    [entry] = clinic.waitlist()
    assert entry.since == (TODAY - timedelta(days=20))
    assert entry.reasons == (WaitlistReason.GROUPS_FULL, WaitlistReason.THERAPIST_CAPACITY)


def test_a_client_who_left_is_expected_before_leaving_and_not_after() -> None:
    feed = Feed(TODAY)  # the events are stamped this morning
    clinic = placed(feed)
    last_week = START + timedelta(days=2)  # a Wednesday of the programme
    assert clinic.expected("c1", last_week, AttendanceKind.GROUP, "g1", None) is not None
    assert clinic.expected("c1", THU, AttendanceKind.GROUP, "g1", None) is not None
    assert clinic.apply(feed(ClientUnscheduled(client_id="c1", region_id="r1", cause="withdrawn")))
    assert clinic.expected("c1", last_week, AttendanceKind.GROUP, "g1", None) is not None
    assert clinic.expected("c1", THU, AttendanceKind.GROUP, "g1", None) is None
    view = clinic.client("c1")
    assert view is not None and view.status is ClientStatus.UNSCHEDULED


def test_a_completion_of_a_replaced_schedule_changes_nothing() -> None:
    feed = Feed(TODAY)
    clinic = placed(feed)
    clinic.apply(feed(scheduled("c1", G1, START, version=2)))
    end = START + timedelta(weeks=8, days=-1)
    stale = ClientCompleted(client_id="c1", region_id="r1", schedule_version=1, end_date=end)
    assert not clinic.apply(feed(stale))
    current = ClientCompleted(client_id="c1", region_id="r1", schedule_version=2, end_date=end)
    assert clinic.apply(feed(current))
    view = clinic.client("c1")
    assert view is not None and view.status is ClientStatus.COMPLETED


def test_make_ups_and_refusals_are_kept_per_client() -> None:
    feed = Feed(TODAY)
    clinic = placed(feed)
    week = week_of(THU)
    assert clinic.apply(feed(MakeupRequested(client_id="c1", region_id="r1", week=week, hours=3)))
    assert clinic.apply(feed(makeup("c1", G1, THU + timedelta(days=1))))
    refusal = ClientMakeupUnavailable(
        client_id="c1", region_id="r1", week=week, reasons=["groups_full"]
    )
    assert clinic.apply(feed(refusal))
    view = clinic.client("c1")
    assert view is not None
    assert [m.week for m in view.makeup_requests] == [week]
    assert [m.date for m in view.makeups] == [THU + timedelta(days=1)]
    assert [m.reasons for m in view.makeups_unavailable] == [(WaitlistReason.GROUPS_FULL,)]


# ---------------------------------------------------------------------- staffing


def test_the_latest_substitution_for_a_group_and_date_stands() -> None:
    feed = Feed(TODAY)
    clinic = placed(feed)
    for sub in ("t2", "t3"):
        clinic.apply(
            feed(
                FacilitatorSubstituted(
                    group_id="g1", region_id="r1", date=THU, facilitator_id=sub, replaces="t1"
                )
            )
        )
    occurrence = clinic.occurrence("g1", THU)
    assert occurrence is not None
    assert (occurrence.therapist_id, occurrence.regular_facilitator_id) == ("t3", "t1")
    assert occurrence.substitute_id == "t3"


def test_a_substitution_for_a_facilitator_since_replaced_does_not_stand() -> None:
    feed = Feed(TODAY)
    clinic = placed(feed, facilitator_id="t4")
    clinic.apply(
        feed(
            FacilitatorSubstituted(
                group_id="g1", region_id="r1", date=THU, facilitator_id="t2", replaces="t1"
            )
        )
    )
    occurrence = clinic.occurrence("g1", THU)
    assert occurrence is not None
    assert (occurrence.therapist_id, occurrence.substitute_id) == ("t4", None)


# -------------------------------------------------------------------- attendance


def test_a_correction_supersedes_and_an_older_record_does_not() -> None:
    feed = Feed(TODAY)
    clinic = placed(feed)
    first = feed(record("c1", TODAY, "absent"))
    correction = feed(record("c1", TODAY, "late", minutes=150))
    assert clinic.apply(first)
    assert clinic.apply(correction)
    assert not clinic.apply(first)
    [standing] = clinic.records("c1").values()
    assert (standing.status, standing.minutes_attended) == (AttendanceStatus.LATE, 150)


def test_records_of_different_kinds_on_one_date_both_stand() -> None:
    feed = Feed(TODAY)
    clinic = placed(feed)
    clinic.apply(feed(record("c1", TODAY, "present")))
    clinic.apply(feed(record("c1", TODAY, "absent", kind="makeup")))
    assert set(clinic.records("c1")) == {
        (TODAY, AttendanceKind.GROUP),
        (TODAY, AttendanceKind.MAKEUP),
    }


def test_published_hours_at_risk_and_alerts_are_remembered_when_read_back() -> None:
    feed = Feed(TODAY)
    clinic = placed(feed)
    week = week_of(TODAY)
    at_risk = ClientHoursAtRisk(
        client_id="c1",
        region_id="r1",
        week=week,
        attended_hours=0,
        remaining_scheduled_hours=4,
        minimum_hours=9,
    )
    alert = ClientAttendanceAlert(
        client_id="c1", region_id="r1", reason="consecutive_absences", count=2, last_date=TODAY
    )
    assert not clinic.hours_at_risk_published("c1", week)
    assert clinic.apply(feed(at_risk))
    assert clinic.apply(feed(alert))
    assert clinic.hours_at_risk_published("c1", week)
    assert clinic.alerts_published("c1") == {TODAY}
    assert not clinic.apply(feed(at_risk))  # the same week again: nothing new


# ------------------------------------------------------------------ notification


def test_a_notification_keeps_purpose_channel_outcome_and_reason() -> None:
    feed = Feed(TODAY)
    clinic = placed(feed)
    clinic.apply(
        feed(
            NotificationSent(client_id="c1", schedule_version=1, channel="email", purpose="makeup")
        )
    )
    clinic.apply(
        feed(
            NotificationFailed(
                client_id="c1", schedule_version=1, channel="sms", reason="provider_error"
            )
        )
    )
    view = clinic.client("c1")
    assert view is not None
    assert [(n.outcome, n.channel, n.purpose, n.reason) for n in view.notifications] == [
        ("sent", "email", "makeup", None),
        ("failed", "sms", None, "provider_error"),
    ]


# --------------------------------------------------------------------- repeats


def test_every_event_applied_twice_changes_nothing_the_second_time() -> None:
    feed = Feed(TODAY)
    history = feed.all(
        [
            site("s1"),
            G1,
            therapist("t1"),
            enrollment("c1"),
            scheduled("c1", G1, START),
            enrollment("c2"),
            ClientWaitlisted(client_id="c2", region_id="r1", reasons=["groups_full"]),
            FacilitatorSubstituted(
                group_id="g1", region_id="r1", date=THU, facilitator_id="t2", replaces="t1"
            ),
            record("c1", TODAY, "present"),
            makeup("c1", G1, THU + timedelta(days=1)),
            NotificationSent(client_id="c1", schedule_version=1, channel="email"),
            ClientUnscheduled(client_id="c1", region_id="r1", cause="withdrawn"),
        ]
    )
    clinic = Clinic()
    assert all(clinic.apply(event) for event in history)
    before = repr(clinic)
    assert not any(clinic.apply(event) for event in history)
    assert repr(clinic) == before


def test_a_cancellation_reason_travels_into_the_clients_view() -> None:
    feed = Feed(TODAY)
    clinic = placed(feed, cancelled=[(THU, "group", "no_cover")])
    view = clinic.client("c1")
    assert view is not None
    assert view.cancelled[0].reason is CancellationReason.NO_COVER
