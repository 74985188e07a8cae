"""The contact directory keeps the current enrollment's card only, as the scheduler keeps the
current enrollment (pure).

Issue 10: at d4b245a every `enrollment.requested` replaced the card, so a request reusing a
client's id (accepted by intake, ignored by the scheduler) sent that client's cancellation and
its calendar file to the requester's e-mail.
"""

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st
from iop_contracts import (
    ClientCompleted,
    ClientDischarged,
    CloudEvent,
    EnrollmentWithdrawn,
    Payload,
    new_event,
)
from iop_notifier.domain.contacts import ContactDirectory

from .factories import enrollment, schedule

T0 = datetime(2026, 11, 26, 17, 0, tzinfo=UTC)
DAY = 24 * 3600
CLIENT = "c-1"


def event(payload: Payload, seconds: int = 0) -> CloudEvent:
    return new_event(payload, source="/test", time=T0 + timedelta(seconds=seconds))


def request(email: str, seconds: int = 0, region_id: str = "ne") -> CloudEvent:
    payload = enrollment(CLIENT, email=email).model_copy(update={"region_id": region_id})
    return event(payload, seconds)


def completed(seconds: int) -> CloudEvent:
    return event(
        ClientCompleted(
            client_id=CLIENT, region_id="ne", schedule_version=1, end_date="2027-01-31"
        ),
        seconds,
    )


def email_after(*events: CloudEvent) -> str | None:
    directory = ContactDirectory()
    for e in events:
        directory.apply(e)
    card = directory.get(CLIENT)
    return card.email if card else None


def test_a_request_while_the_enrollment_is_active_does_not_replace_the_card() -> None:
    directory = ContactDirectory()
    assert directory.apply(request("ana@example.org"))
    assert not directory.apply(request("mallory@example.org", seconds=60))
    assert not directory.apply(request("mallory@example.org", seconds=60, region_id="se"))
    card = directory.get(CLIENT)
    assert card is not None and card.email == "ana@example.org"


def test_a_withdrawal_keeps_the_card_for_the_cancellation_and_a_new_enrollment_replaces_it() -> (
    None
):
    for end in (EnrollmentWithdrawn, ClientDischarged):
        first, leaving = request("ana@example.org"), event(end(client_id=CLIENT, region_id="ne"))
        assert email_after(first, leaving) == "ana@example.org"
        assert email_after(first, leaving, request("ana.new@example.org")) == "ana.new@example.org"


def test_a_withdrawal_in_another_region_or_read_again_ends_nothing() -> None:
    first = request("ana@example.org")
    elsewhere = event(EnrollmentWithdrawn(client_id=CLIENT, region_id="se"))
    assert email_after(first, elsewhere, request("mallory@example.org")) == "ana@example.org"
    leaving = event(EnrollmentWithdrawn(client_id=CLIENT, region_id="ne"))
    second = request("ana.new@example.org", seconds=60)
    copy_of_first = first  # a producer's retried send, read again later
    assert (
        email_after(first, leaving, second, copy_of_first, request("mallory@example.org"))
        == "ana.new@example.org"
    )


def test_after_completion_a_new_enrollment_replaces_the_card() -> None:
    placed = event(schedule(CLIENT), seconds=10)
    first, later = request("ana@example.org"), request("ana.new@example.org", seconds=61 * DAY)
    assert email_after(first, placed, completed(60 * DAY), later) == "ana.new@example.org"
    # Read before the completion (a rebuild reads the two topics in any interleaving).
    assert email_after(first, placed, later, completed(60 * DAY)) == "ana.new@example.org"
    # Made while the first enrollment was active: ignored, even once it completed.
    during = request("mallory@example.org", seconds=DAY)
    assert email_after(first, placed, during, completed(60 * DAY)) == "ana@example.org"
    assert email_after(completed(60 * DAY), first, during) == "ana@example.org"


@settings(max_examples=60, deadline=None)
@given(st.lists(st.booleans(), min_size=6, max_size=6))
def test_whatever_the_order_the_two_topics_are_read_in_the_current_card_counts(
    enrollment_first: list[bool],
) -> None:
    enrollment_topic = [
        request("ana@example.org"),
        request("mallory@example.org", seconds=DAY),  # not current
        request("ana.new@example.org", seconds=61 * DAY),
        request("mallory@example.org", seconds=62 * DAY),  # not current
    ]
    schedule_topic = [event(schedule(CLIENT), seconds=10), completed(60 * DAY)]
    queues, merged = [enrollment_topic, schedule_topic], []
    for take_enrollment in enrollment_first:
        queue = queues[0] if (take_enrollment and queues[0]) or not queues[1] else queues[1]
        merged.append(queue.pop(0))
    assert email_after(*merged) == "ana.new@example.org"
