"""Which occurrences run at a site on a date, who is expected in each, who is cancelled and who
facilitates; and `expected`, the check behind refusing a record for a client not expected."""

from datetime import date, timedelta

import pytest
from iop_clinic.domain import Clinic, OccurrenceKind
from iop_clinic.domain.testing import (
    Feed,
    enrollment,
    group,
    makeup,
    scheduled,
    site,
    therapist,
)
from iop_contracts import (
    AttendanceKind,
    CancellationReason,
    ClientWaitlisted,
    Delivery,
    FacilitatorSubstituted,
)

TODAY = date(2027, 3, 1)  # a Monday
START = TODAY - timedelta(days=7)
WED, THU, FRI, SAT = (TODAY + timedelta(days=n) for n in (2, 3, 4, 5))
HOLIDAY = TODAY + timedelta(days=9)  # a Wednesday
G1 = group("g1", "s1", capacity=10)
TELE = group("tele", "s1", days=("tue", "fri"), delivery="telehealth")
G2 = group("g2", "s2")


@pytest.fixture(autouse=True)
def pinned_today(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IOP_TODAY", TODAY.isoformat())


@pytest.fixture
def feed() -> Feed:
    return Feed(TODAY)


@pytest.fixture
def clinic(feed: Feed) -> Clinic:
    """Site s1 (closed on HOLIDAY) with g1 (mon/wed/thu) and a telehealth group (tue/fri);
    site s2 with g2. c1 and c2 in g1, c3 in the telehealth group, c4 in g2."""
    clinic = Clinic()
    roster = [site("s1", closed_dates=[HOLIDAY]), site("s2"), G1, TELE, G2, therapist("t1")]
    for payload in roster:
        clinic.apply(feed(payload))
    for client_id, placed_in in (("c1", G1), ("c2", G1), ("c3", TELE), ("c4", G2)):
        clinic.apply(feed(enrollment(client_id)))
        clinic.apply(feed(scheduled(client_id, placed_in, START)))
    return clinic


def test_a_group_day_lists_the_group_with_its_expected_clients_and_capacity(
    clinic: Clinic,
) -> None:
    [occurrence] = clinic.occurrences("s1", TODAY)
    assert occurrence.kind is OccurrenceKind.GROUP
    assert (occurrence.group_id, occurrence.start, occurrence.end) == ("g1", "18:00", "21:00")
    assert occurrence.expected == ("c1", "c2")
    assert (occurrence.capacity, occurrence.seats_taken, occurrence.hours) == (10, 2, 3.0)
    assert (occurrence.therapist_id, occurrence.region_id) == ("t1", "r1")


def test_a_telehealth_group_counts_at_its_site_flagged(clinic: Clinic) -> None:
    [occurrence] = clinic.occurrences("s1", FRI)
    assert (occurrence.group_id, occurrence.delivery) == ("tele", Delivery.TELEHEALTH)
    assert occurrence.expected == ("c3",)


def test_another_sites_groups_are_not_listed(clinic: Clinic) -> None:
    assert [o.group_id for o in clinic.occurrences("s2", TODAY)] == ["g2"]


def test_individual_sessions_are_listed_on_their_day(clinic: Clinic) -> None:
    found = clinic.occurrences("s1", SAT)
    assert {o.kind for o in found} == {OccurrenceKind.INDIVIDUAL}
    assert sorted(o.expected for o in found) == [("c1",), ("c2",), ("c3",)]
    assert {(o.therapist_id, o.start, o.end) for o in found} == {("t1", "09:00", "10:00")}


def test_an_individual_session_at_another_site_is_listed_there(feed: Feed) -> None:
    clinic = Clinic()
    for payload in (site("s1"), site("s2"), G1):
        clinic.apply(feed(payload))
    clinic.apply(feed(scheduled("c1", G1, START, individual_site="s2")))
    assert [o.kind for o in clinic.occurrences("s2", SAT)] == [OccurrenceKind.INDIVIDUAL]
    assert clinic.occurrences("s1", SAT) == []


def test_no_one_is_expected_before_their_start_or_after_their_end(feed: Feed) -> None:
    clinic = Clinic()
    for payload in (site("s1"), G1):
        clinic.apply(feed(payload))
    clinic.apply(feed(scheduled("c1", G1, TODAY, weeks=2)))
    end = TODAY + timedelta(weeks=2, days=-1)  # a Sunday

    def expected_on(day: date) -> tuple[str, ...]:
        occurrence = clinic.occurrence("g1", day)
        assert occurrence is not None  # the live group meets that day, with or without clients
        return occurrence.expected

    assert expected_on(TODAY - timedelta(days=4)) == ()
    assert expected_on(TODAY) == ("c1",)
    assert expected_on(end - timedelta(days=3)) == ("c1",)
    assert expected_on(end + timedelta(days=1)) == ()


def test_a_group_does_not_meet_on_other_days(clinic: Clinic) -> None:
    assert clinic.occurrence("g1", TODAY + timedelta(days=1)) is None


def test_a_closed_site_cancels_every_occurrence_there_for_everyone(clinic: Clinic) -> None:
    [occurrence] = clinic.occurrences("s1", HOLIDAY)
    assert occurrence.cancel_reason is CancellationReason.SITE_CLOSED
    assert occurrence.expected == ()
    assert {(c.client_id, c.reason) for c in occurrence.cancelled} == {
        ("c1", CancellationReason.SITE_CLOSED),
        ("c2", CancellationReason.SITE_CLOSED),
    }


def test_no_cover_in_the_schedules_cancels_the_meeting_for_all_and_make_ups(
    clinic: Clinic, feed: Feed
) -> None:
    no_cover = [(THU, "group", "no_cover")]
    clinic.apply(feed(scheduled("c1", G1, START, version=2, cancelled=no_cover)))
    clinic.apply(feed(makeup("c4", G1, THU)))
    occurrence = clinic.occurrence("g1", THU)
    assert occurrence is not None
    assert occurrence.cancel_reason is CancellationReason.NO_COVER
    assert occurrence.expected == ()
    assert {c.client_id for c in occurrence.cancelled} == {"c1", "c2", "c4"}


def test_an_individual_session_cancelled_for_an_absence_is_cancelled_for_that_client(
    clinic: Clinic, feed: Feed
) -> None:
    absent = [(SAT, "individual", "therapist_absent")]
    clinic.apply(feed(scheduled("c1", G1, START, version=2, cancelled=absent)))
    found = {
        (o.expected + tuple(c.client_id for c in o.cancelled))[0]: o
        for o in clinic.occurrences("s1", SAT)
    }
    assert found["c1"].cancel_reason is CancellationReason.THERAPIST_ABSENT
    assert found["c1"].expected == ()
    assert found["c2"].expected == ("c2",) and found["c2"].cancel_reason is None


def test_a_make_up_takes_a_seat_in_the_groups_occurrence(clinic: Clinic, feed: Feed) -> None:
    clinic.apply(feed(makeup("c4", G1, WED)))
    occurrence = clinic.occurrence("g1", WED)
    assert occurrence is not None
    assert occurrence.expected == ("c1", "c2", "c4")
    assert occurrence.makeups == ("c4",)
    assert occurrence.seats_taken == 3
    assert occurrence.attendance_kind("c4") is AttendanceKind.MAKEUP
    assert occurrence.attendance_kind("c1") is AttendanceKind.GROUP


def test_a_make_up_at_another_sites_group_lists_there(clinic: Clinic, feed: Feed) -> None:
    clinic.apply(feed(makeup("c1", G2, WED)))
    [at_s2] = clinic.occurrences("s2", WED)
    assert at_s2.expected == ("c1", "c4") and at_s2.makeups == ("c1",)
    # The client still belongs to their own site: the make-up's host records it by where it
    # is held, and their home site's key keeps reading them.
    assert clinic.client_sites("c1") == ("s1",)
    assert "c1" not in clinic.clients_of_site("s2")
    assert "c1" in clinic.clients_of_site("s1")


# ------------------------------------------------------------------- expected


def test_a_client_is_expected_at_their_groups_occurrence(clinic: Clinic) -> None:
    found = clinic.expected("c1", TODAY, AttendanceKind.GROUP, "g1", None)
    assert found is not None and found.group_id == "g1"


def test_a_client_is_not_expected_at_another_group(clinic: Clinic) -> None:
    assert clinic.expected("c1", TODAY, AttendanceKind.GROUP, "g2", None) is None


def test_a_client_is_not_expected_on_a_day_their_group_does_not_meet(clinic: Clinic) -> None:
    assert clinic.expected("c1", FRI, AttendanceKind.GROUP, "g1", None) is None


def test_a_client_is_not_expected_at_a_cancelled_occurrence(clinic: Clinic) -> None:
    assert clinic.expected("c1", HOLIDAY, AttendanceKind.GROUP, "g1", None) is None


def test_an_individual_session_is_expected_with_its_own_therapist_only(clinic: Clinic) -> None:
    assert clinic.expected("c1", SAT, AttendanceKind.INDIVIDUAL, None, "t1") is not None
    assert clinic.expected("c1", SAT, AttendanceKind.INDIVIDUAL, None, None) is not None
    assert clinic.expected("c1", SAT, AttendanceKind.INDIVIDUAL, None, "t9") is None
    assert clinic.expected("c1", FRI, AttendanceKind.INDIVIDUAL, None, "t1") is None


def test_a_make_up_is_expected_as_a_make_up_not_as_a_group_session(
    clinic: Clinic, feed: Feed
) -> None:
    clinic.apply(feed(makeup("c4", G1, WED)))
    assert clinic.expected("c4", WED, AttendanceKind.MAKEUP, "g1", None) is not None
    assert clinic.expected("c4", WED, AttendanceKind.GROUP, "g1", None) is None
    assert clinic.expected("c1", WED, AttendanceKind.MAKEUP, "g1", None) is None


def test_an_unknown_client_is_not_expected(clinic: Clinic) -> None:
    assert clinic.expected("nobody", TODAY, AttendanceKind.GROUP, "g1", None) is None


# ----------------------------------------------------------- clients and sites


def test_client_site_region_and_the_sites_clients(clinic: Clinic) -> None:
    assert (clinic.client_site("c4"), clinic.client_region("c4")) == ("s2", "r1")
    assert clinic.clients_of_site("s1") == ["c1", "c2", "c3"]
    assert clinic.clients_of_site("s2") == ["c4"]
    assert clinic.client_site("nobody") is None


def test_a_waiting_client_belongs_to_the_sites_they_asked_for(clinic: Clinic, feed: Feed) -> None:
    clinic.apply(feed(enrollment("c5", preferred_site_ids=["s2", "s1"])))
    clinic.apply(feed(ClientWaitlisted(client_id="c5", region_id="r1", reasons=["groups_full"])))
    assert clinic.client_site("c5") == "s2"
    assert "c5" in clinic.clients_of_site("s1")
    [entry] = clinic.waitlist()
    assert (entry.client_id, entry.since, entry.preferred_site_ids) == ("c5", TODAY, ("s2", "s1"))


def test_an_occurrence_asked_before_a_change_reflects_the_change_after_it(
    clinic: Clinic, feed: Feed
) -> None:
    before = clinic.occurrence("g1", WED)
    assert before is not None and before.expected == ("c1", "c2")
    clinic.apply(feed(makeup("c4", G1, WED)))
    after_makeup = clinic.occurrence("g1", WED)
    assert after_makeup is not None and after_makeup.expected == ("c1", "c2", "c4")
    clinic.apply(feed(site("s1", closed_dates=[WED])))
    closed = clinic.occurrence("g1", WED)
    assert closed is not None and closed.cancel_reason is CancellationReason.SITE_CLOSED
    clinic.apply(
        feed(
            FacilitatorSubstituted(
                group_id="g1", region_id="r1", date=THU, facilitator_id="t2", replaces="t1"
            )
        )
    )
    covered = clinic.occurrence("g1", THU)
    assert covered is not None and covered.substitute_id == "t2"
