"""The status projection: order across the two topics, versions, idempotency (pure)."""

from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from iop_contracts import (
    ClientDischarged,
    ClientScheduled,
    ClientUnscheduled,
    ClientWaitlisted,
    CloudEvent,
    EnrollmentDeclined,
    EnrollmentRequested,
    EnrollmentWithdrawn,
    Payload,
    new_event,
)
from iop_intake.domain.status import RECENT_IDS, Status, StatusProjection

from .conftest import SAMPLE

T0 = datetime(2026, 11, 26, 17, 0, tzinfo=UTC)


def event(payload: Payload, seconds: int = 0) -> CloudEvent:
    return new_event(payload, source="/test", time=T0 + timedelta(seconds=seconds))


def requested(**changes: Any) -> EnrollmentRequested:
    return EnrollmentRequested.model_validate({**SAMPLE, **changes})


def scheduled(version: int = 1, site: str = "bos-1") -> ClientScheduled:
    session = {"day": "mon", "start": "18:00", "end": "21:00"}
    return ClientScheduled.model_validate(
        {
            "client_id": "c-8f3a",
            "region_id": "ne",
            "schedule_version": version,
            "group": {
                "group_id": f"g-{version}",
                "site_id": site,
                "delivery": "in_person",
                "facilitator_id": "t-1",
                "sessions": [session],
            },
            "individual": {
                "therapist_id": "t-1",
                "delivery": "in_person",
                "site_id": site,
                "day": "sat",
                "start": "09:00",
                "end": "10:00",
            },
            "start_date": "2026-12-07",
            "end_date": "2027-01-31",
            "weekly_hours": 10.0,
            "timezone": "America/New_York",
        }
    )


def ids() -> dict[str, str]:
    return {"client_id": "c-8f3a", "region_id": "ne"}


def test_a_request_then_its_schedule() -> None:
    projection = StatusProjection()
    projection.apply(event(requested()))
    status = projection.get("c-8f3a")
    assert status is not None and status.status is Status.REQUESTED
    assert status.site_ids == ("bos-1", "bos-2")

    projection.apply(event(scheduled(), seconds=5))
    status = projection.get("c-8f3a")
    assert status is not None and status.status is Status.SCHEDULED
    assert status.schedule is not None and status.schedule["group"]["group_id"] == "g-1"
    assert status.site_ids == ("bos-1",)


def test_the_schedule_read_before_the_request_still_wins() -> None:
    # The two topics are not ordered with each other: a rebuild may read the schedule first.
    projection = StatusProjection()
    projection.apply(event(scheduled(), seconds=5))
    projection.apply(event(requested()))
    status = projection.get("c-8f3a")
    assert status is not None and status.status is Status.SCHEDULED


def test_within_one_second_the_later_step_wins() -> None:
    projection = StatusProjection()
    projection.apply(event(ClientWaitlisted(**ids(), reasons=["groups_full"])))
    projection.apply(event(requested()))
    status = projection.get("c-8f3a")
    assert status is not None and status.status is Status.WAITLISTED
    assert status.reasons == ("groups_full",)


def test_a_lower_schedule_version_never_replaces_a_higher_one() -> None:
    projection = StatusProjection()
    projection.apply(event(scheduled(version=2), seconds=10))
    projection.apply(event(scheduled(version=1), seconds=20))
    status = projection.get("c-8f3a")
    assert status is not None and status.schedule is not None
    assert status.schedule["schedule_version"] == 2


def test_withdrawal_then_unscheduled_then_a_new_request() -> None:
    projection = StatusProjection()
    projection.apply(event(requested()))
    projection.apply(event(EnrollmentWithdrawn(**ids()), seconds=1))
    assert projection.get("c-8f3a").status is Status.WITHDRAWN  # type: ignore[union-attr]
    projection.apply(event(ClientUnscheduled(**ids(), cause="withdrawn"), seconds=1))
    status = projection.get("c-8f3a")
    assert status is not None and status.status is Status.UNSCHEDULED
    assert status.cause == "withdrawn"
    projection.apply(event(requested(preferred_site_ids=["prov-1"]), seconds=60))
    status = projection.get("c-8f3a")
    assert status is not None and status.status is Status.REQUESTED
    assert status.site_ids == ("prov-1",)


def test_declined_and_discharged() -> None:
    projection = StatusProjection()
    projection.apply(
        event(EnrollmentDeclined(**ids(), reasons=["imminent_risk"], recommended_level="inpatient"))
    )
    status = projection.get("c-8f3a")
    assert status is not None and status.status is Status.DECLINED
    assert status.recommended_level == "inpatient"
    projection.apply(event(ClientDischarged(**ids()), seconds=3))
    assert projection.get("c-8f3a").status is Status.DISCHARGED  # type: ignore[union-attr]


def test_the_same_event_twice_counts_once_and_holds_no_contact_details() -> None:
    projection = StatusProjection()
    first = event(requested())
    assert projection.apply(first)
    assert not projection.apply(first)
    assert projection.has_event(first.id)
    assert "ana@example.org" not in repr(projection.get("c-8f3a"))


# ------------------------------------------------------------------ repeats, bounded memory


def lifecycle() -> list[CloudEvent]:
    """One client's history across both topics: requested, waitlisted, scheduled, moved,
    withdrawn, unscheduled, then a second request waitlisted twice in the same second."""
    return [
        event(requested()),
        event(ClientWaitlisted(**ids(), reasons=["groups_full"]), seconds=0),
        event(scheduled(version=1), seconds=30),
        event(scheduled(version=2, site="bos-2"), seconds=60),
        event(EnrollmentWithdrawn(**ids()), seconds=90),
        event(ClientUnscheduled(**ids(), cause="withdrawn"), seconds=90),
        event(requested(preferred_site_ids=["prov-1"]), seconds=120),
        event(ClientWaitlisted(**ids(), reasons=["groups_full"]), seconds=150),
        event(ClientWaitlisted(**ids(), reasons=["therapist_capacity"]), seconds=150),  # same step
    ]


def folded(events: list[CloudEvent]) -> StatusProjection:
    projection = StatusProjection()
    for e in events:
        projection.apply(e)
    return projection


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_events_read_again_anywhere_after_their_first_reading_change_nothing(
    data: st.DataObject,
) -> None:
    history = lifecycle()
    replayed = list(history)
    for _ in range(data.draw(st.integers(min_value=1, max_value=12))):
        original = data.draw(st.integers(min_value=0, max_value=len(history) - 1))
        position = replayed.index(history[original]) + 1
        where = data.draw(st.integers(min_value=position, max_value=len(replayed)))
        replayed.insert(where, history[original])
    once = folded(history).get("c-8f3a")
    assert folded(replayed).get("c-8f3a") == once
    assert once is not None and once.preferred_site_ids == ("prov-1",)


def test_a_repeat_sharing_the_order_of_the_status_in_force_changes_nothing() -> None:
    history = lifecycle()
    projection = folded(history)
    assert not projection.apply(history[-2]), "same second, same step: known by its id"
    status = projection.get("c-8f3a")
    assert status is not None and status.event_id == history[-1].id
    assert status.reasons == ("therapist_capacity",) and status.site_ids == ("prov-1",)


def test_an_old_schedule_read_again_after_the_client_left_changes_nothing() -> None:
    history = lifecycle()
    projection = folded(history[:6])
    assert not projection.apply(history[2]) and not projection.apply(history[3])
    status = projection.get("c-8f3a")
    assert status is not None and status.status is Status.UNSCHEDULED
    assert status.schedule is not None and status.schedule["schedule_version"] == 2


def test_a_referral_answer_is_still_known_after_the_client_was_placed_and_withdrew() -> None:
    # A referral redelivered after intake restarted: its answer (id derived from the referral's)
    # must be found although schedule and withdrawal events came after it.
    history = lifecycle()
    projection = folded(history[:6])
    assert projection.has_event(history[0].id) and projection.has_event(history[4].id)
    assert not projection.has_event(history[2].id), "only enrollment events are asked about"


def test_enrollment_ids_are_kept_for_each_clients_last_few_events_only() -> None:
    projection = StatusProjection()
    other = event(requested(client_id="c-other"))
    projection.apply(other)
    answers = [event(requested(), seconds=i) for i in range(RECENT_IDS + 1)]
    for answer in answers:
        projection.apply(answer)
    assert [projection.has_event(a.id) for a in answers] == [False] + [True] * RECENT_IDS
    assert projection.has_event(other.id), "another client's memory is its own"
