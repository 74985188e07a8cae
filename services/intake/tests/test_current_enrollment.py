"""The status projection keeps one current enrollment per client, as the scheduler does (pure).

A request while the client's enrollment is active is not current: it changes neither the status,
nor the sites, nor the region the access checks read (issue 10: a request reusing a client's id
moved that client into the requesting key's scope).
"""

from datetime import timedelta

from hypothesis import given, settings
from hypothesis import strategies as st
from iop_contracts import (
    ClientCompleted,
    ClientDischarged,
    ClientScheduled,
    CloudEvent,
    EnrollmentDeclined,
    EnrollmentWithdrawn,
)
from iop_intake.domain.status import ClientStatus, Status, StatusProjection

from .test_status import event, ids, requested, scheduled

DAY = 24 * 3600


def completed(version: int = 1) -> ClientCompleted:
    return ClientCompleted(**ids(), schedule_version=version, end_date="2027-01-31")


def declined() -> EnrollmentDeclined:
    return EnrollmentDeclined(**ids(), reasons=["imminent_risk"], recommended_level="inpatient")


def folded(*events: CloudEvent) -> ClientStatus:
    projection = StatusProjection()
    for e in events:
        projection.apply(e)
    client = projection.get("c-8f3a")
    assert client is not None
    return client


def test_a_request_while_an_enrollment_is_active_changes_nothing() -> None:
    projection = StatusProjection()
    first = event(requested(preferred_site_ids=["bos-2"]))
    assert projection.apply(first)
    reused = event(requested(preferred_site_ids=["bos-1"], region_id="se"), seconds=30)
    assert not projection.apply(reused)
    client = projection.get("c-8f3a")
    assert client is not None
    assert (client.event_id, client.site_ids, client.region_id) == (first.id, ("bos-2",), "ne")
    assert client.status is Status.REQUESTED and client.enrolled and client.claimed


def test_a_request_while_the_client_is_scheduled_changes_nothing() -> None:
    client = folded(
        event(requested(preferred_site_ids=["bos-2"])),
        event(scheduled(site="bos-2"), seconds=10),
        event(requested(preferred_site_ids=["bos-1"]), seconds=20),
    )
    assert client.status is Status.SCHEDULED
    assert client.site_ids == ("bos-2",) and client.preferred_site_ids == ("bos-2",)


def test_a_decline_while_an_enrollment_is_active_changes_nothing() -> None:
    client = folded(event(requested()), event(declined(), seconds=10))
    assert client.status is Status.REQUESTED and client.enrolled and client.reasons == ()


def test_after_a_withdrawal_or_a_discharge_a_request_is_current_again() -> None:
    for end in (EnrollmentWithdrawn(**ids()), ClientDischarged(**ids())):
        for later in (0, 1):  # the request follows the end on the topic, even in its second
            client = folded(
                event(requested(preferred_site_ids=["bos-2"])),
                event(end, seconds=10),
                event(requested(preferred_site_ids=["prov-1"]), seconds=10 + later),
            )
            assert client.enrolled and client.site_ids == ("prov-1",)
        assert client.status is Status.REQUESTED


def test_a_withdrawal_in_another_region_ends_nothing() -> None:
    client = folded(
        event(requested(preferred_site_ids=["bos-2"])),
        event(EnrollmentWithdrawn(client_id="c-8f3a", region_id="se"), seconds=10),
        event(requested(preferred_site_ids=["bos-1"]), seconds=20),
    )
    assert client.enrolled and client.preferred_site_ids == ("bos-2",)


def test_after_completion_a_request_is_current_again() -> None:
    client = folded(
        event(requested(preferred_site_ids=["bos-2"])),
        event(scheduled(site="bos-2"), seconds=10),
        event(completed(), seconds=60 * DAY),
    )
    assert client.status is Status.COMPLETED and not client.enrolled and client.claimed
    assert client.site_ids == ("bos-2",)

    again = folded(
        event(requested(preferred_site_ids=["bos-2"])),
        event(scheduled(site="bos-2"), seconds=10),
        event(completed(), seconds=60 * DAY),
        event(requested(preferred_site_ids=["prov-1"]), seconds=61 * DAY),
    )
    assert again.status is Status.REQUESTED and again.enrolled
    assert again.site_ids == ("prov-1",)


def test_a_completion_of_an_earlier_enrollment_or_a_replaced_schedule_ends_nothing() -> None:
    earlier = folded(
        event(requested()),
        event(EnrollmentWithdrawn(**ids()), seconds=10),
        event(requested(), seconds=20),
        event(completed(), seconds=5),  # ordered before the current request
    )
    assert earlier.enrolled and earlier.status is Status.REQUESTED
    replaced = folded(
        event(requested()),
        event(scheduled(version=2), seconds=10),
        event(completed(version=1), seconds=60 * DAY),
    )
    assert replaced.enrolled and replaced.status is Status.SCHEDULED


def test_a_request_made_during_an_enrollment_stays_ignored_once_it_completes() -> None:
    client = folded(
        event(requested(preferred_site_ids=["bos-2"])),
        event(scheduled(site="bos-2"), seconds=10),
        event(requested(preferred_site_ids=["bos-1"]), seconds=DAY),
        event(completed(), seconds=60 * DAY),
    )
    assert client.status is Status.COMPLETED and not client.enrolled
    assert client.preferred_site_ids == ("bos-2",)


def test_a_decline_alone_claims_the_id_for_no_scope() -> None:
    client = folded(event(declined()))
    assert client.status is Status.DECLINED and not client.claimed and not client.enrolled
    client = folded(event(declined()), event(requested(), seconds=10))
    assert client.claimed and client.enrolled


def _history() -> tuple[list[CloudEvent], list[CloudEvent]]:
    """Two enrollments of one client, the second after the first completed: (enrollment topic,
    schedule topic), each in its own order."""
    second = scheduled(version=2, site="prov-1")
    enrollment = [
        event(requested(preferred_site_ids=["bos-2"])),
        event(requested(preferred_site_ids=["bos-1"]), seconds=DAY),  # not current
        event(requested(preferred_site_ids=["prov-1"]), seconds=61 * DAY),
        event(requested(preferred_site_ids=["bos-1"]), seconds=62 * DAY),  # not current
    ]
    schedule = [
        event(scheduled(site="bos-2"), seconds=10),
        event(completed(), seconds=60 * DAY),
        event(ClientScheduled.model_validate(second.model_dump()), seconds=61 * DAY + 10),
    ]
    return enrollment, schedule


@settings(max_examples=60, deadline=None)
@given(st.lists(st.booleans(), min_size=7, max_size=7))
def test_whatever_the_order_the_two_topics_are_read_in_the_same_enrollment_is_current(
    enrollment_first: list[bool],
) -> None:
    enrollment, schedule = _history()
    merged: list[CloudEvent] = []
    pending = [list(enrollment), list(schedule)]
    for take_enrollment in enrollment_first:
        queue = pending[0] if (take_enrollment and pending[0]) or not pending[1] else pending[1]
        merged.append(queue.pop(0))
    client = folded(*merged)
    assert client.enrolled and client.status is Status.SCHEDULED
    assert client.preferred_site_ids == ("prov-1",) and client.site_ids == ("prov-1",)
    assert client.event_id == schedule[-1].id
    assert client.updated_at - enrollment[0].time == timedelta(seconds=61 * DAY + 10)
