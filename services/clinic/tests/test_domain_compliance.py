"""Hours that count: each slot's outcome, the week's minimum, and the sums of a client's week
(the pure functions one by one, then through the read model)."""

from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st
from iop_clinic.domain import (
    AttendanceView,
    ClientSlot,
    Clinic,
    SlotState,
    WeekHours,
    minimum_minutes,
    slot_outcome,
    week_hours,
)
from iop_clinic.domain.compliance import SlotOutcome
from iop_clinic.domain.testing import Feed, enrollment, group, makeup, record, scheduled, site
from iop_contracts import (
    AttendanceKind,
    AttendanceStatus,
    CancellationReason,
    Payload,
    Population,
    week_of,
)

TODAY = date(2027, 3, 1)  # a Monday
MON = TODAY
WEEK = week_of(TODAY)
G1 = group("g1", "s1")  # mon, wed, thu 18:00-21:00: 9 hours, plus a 1-hour individual on sat


@pytest.fixture(autouse=True)
def pinned_today(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IOP_TODAY", TODAY.isoformat())


def slot(
    day: date = MON, minutes: int = 180, cancelled: CancellationReason | None = None
) -> ClientSlot:
    return ClientSlot(
        date=day,
        kind=AttendanceKind.GROUP,
        start="18:00",
        end="21:00",
        minutes=minutes,
        site_id="s1",
        group_id="g1",
        therapist_id="t1",
        cancelled=cancelled,
    )


def attendance(status: str, minutes: int = 0, day: date = MON) -> AttendanceView:
    return AttendanceView(
        client_id="c1",
        date=day,
        kind=AttendanceKind.GROUP,
        status=AttendanceStatus(status),
        minutes_attended=minutes,
        group_id="g1",
        therapist_id=None,
        recorded_by="k",
        recorded_at=datetime(2027, 3, 1, tzinfo=UTC),
    )


# ------------------------------------------------------------------- minimum


def test_the_minimum_is_nine_hours_for_adults_and_six_for_adolescents() -> None:
    assert minimum_minutes(Population.ADULT, 600) == 540
    assert minimum_minutes(Population.ADOLESCENT, 600) == 360


def test_the_minimum_is_capped_at_the_hours_a_partial_week_holds() -> None:
    assert minimum_minutes(Population.ADULT, 240) == 240
    assert minimum_minutes(Population.ADOLESCENT, 0) == 0


# --------------------------------------------------------------- slot outcome


def test_a_cancelled_slot_is_cancelled_whatever_was_recorded() -> None:
    outcome = slot_outcome(
        slot(cancelled=CancellationReason.SITE_CLOSED), attendance("present", 180), MON
    )
    assert outcome.state is SlotState.CANCELLED
    assert outcome.attended_minutes == 0


@pytest.mark.parametrize("status", ["present", "late", "left_early"])
def test_present_late_and_left_early_are_attended_for_their_minutes(status: str) -> None:
    outcome = slot_outcome(slot(), attendance(status, 150), MON + timedelta(days=3))
    assert outcome.state is SlotState.ATTENDED
    assert outcome.attended_minutes == 150


@pytest.mark.parametrize("status", ["absent", "excused"])
def test_absent_and_excused_are_missed(status: str) -> None:
    outcome = slot_outcome(slot(), attendance(status), MON + timedelta(days=3))
    assert outcome.state is SlotState.MISSED
    assert outcome.attended_minutes == 0


def test_a_slot_without_record_today_or_later_is_still_to_come() -> None:
    assert slot_outcome(slot(MON), None, MON).state is SlotState.REMAINING
    assert slot_outcome(slot(MON + timedelta(days=2)), None, MON).state is SlotState.REMAINING


def test_a_past_slot_without_record_is_unrecorded() -> None:
    assert slot_outcome(slot(MON), None, MON + timedelta(days=1)).state is SlotState.UNRECORDED


# ------------------------------------------------------------------ the week


def week(*outcomes: SlotOutcome, minimum: int = 540) -> WeekHours:
    return WeekHours(WEEK, outcomes, minimum)


def test_met_when_the_minutes_attended_reach_the_minimum() -> None:
    full = [SlotOutcome(slot(), SlotState.ATTENDED, attendance("present", 180))] * 3
    assert week(*full).met
    short = [*full[:2], SlotOutcome(slot(), SlotState.ATTENDED, attendance("late", 179))]
    assert not week(*short).met


def test_at_risk_when_attended_and_still_to_come_fall_short() -> None:
    attended = SlotOutcome(slot(), SlotState.ATTENDED, attendance("present", 180))
    missed = SlotOutcome(slot(), SlotState.MISSED, attendance("absent"))
    remaining = SlotOutcome(slot(), SlotState.REMAINING)
    assert not week(attended, remaining, remaining).at_risk
    assert week(attended, missed, remaining).at_risk


def test_an_unrecorded_slot_puts_the_week_at_risk_but_not_out_of_reach() -> None:
    attended = SlotOutcome(slot(), SlotState.ATTENDED, attendance("present", 180))
    unrecorded = SlotOutcome(slot(), SlotState.UNRECORDED)
    hours = week(attended, unrecorded, SlotOutcome(slot(), SlotState.REMAINING))
    assert hours.at_risk and not hours.out_of_reach
    missed = SlotOutcome(slot(), SlotState.MISSED, attendance("absent"))
    assert week(attended, unrecorded, missed).out_of_reach


def test_week_hours_matches_each_slot_with_the_record_of_its_date_and_kind() -> None:
    slots = [slot(MON), slot(MON + timedelta(days=2))]
    records = {(MON, AttendanceKind.GROUP): attendance("present", 180)}
    hours = week_hours(WEEK, slots, records, MON + timedelta(days=1), 360)
    assert [o.state for o in hours.outcomes] == [SlotState.ATTENDED, SlotState.REMAINING]
    assert (hours.attended_hours, hours.remaining_hours, hours.minimum_hours) == (3.0, 3.0, 6.0)


# ----------------------------------------------------------- through the model


def clinic_with(feed: Feed, *payloads: Payload, start: date = MON) -> Clinic:
    """c1 in g1 from `start`; site s1 closed on this week's Wednesday."""
    clinic = Clinic()
    for payload in (site("s1", closed_dates=[MON + timedelta(days=2)]), G1, enrollment("c1")):
        clinic.apply(feed(payload))
    clinic.apply(feed(scheduled("c1", G1, start)))
    for payload in payloads:
        clinic.apply(feed(payload))
    return clinic


def test_a_full_week_schedules_ten_hours_and_a_closure_counts_against_it() -> None:
    feed = Feed(TODAY)
    clinic = clinic_with(feed)
    hours = clinic.week_hours("c1", WEEK, TODAY)
    assert hours.scheduled_hours == 10.0  # three 3-hour group meetings and the individual hour
    assert hours.cancelled_hours == 3.0  # Wednesday: the site is closed
    assert (hours.remaining_hours, hours.minimum_hours) == (7.0, 9.0)
    assert hours.at_risk  # 7 hours can be reached at most


def test_an_absence_and_an_attendance_through_the_model() -> None:
    feed = Feed(TODAY)
    thu = MON + timedelta(days=3)
    clinic = clinic_with(
        feed, record("c1", MON, "present", minutes=170), record("c1", thu, "absent")
    )
    hours = clinic.week_hours("c1", WEEK, thu + timedelta(days=1))
    assert hours.attended_hours == pytest.approx(170 / 60)
    assert (hours.absent_hours, hours.remaining_hours) == (3.0, 1.0)
    assert hours.out_of_reach


def test_a_partial_first_week_asks_only_for_the_hours_it_holds() -> None:
    feed = Feed(TODAY)
    thu = MON + timedelta(days=3)
    clinic = clinic_with(
        feed,
        record("c1", thu, "present"),
        record("c1", thu + timedelta(days=2), "present", kind="individual"),
        start=thu,
    )
    hours = clinic.week_hours("c1", WEEK, thu + timedelta(days=3))
    assert (hours.scheduled_hours, hours.minimum_hours) == (4.0, 4.0)
    assert hours.met and not hours.at_risk


def test_a_make_up_adds_hours_but_not_to_the_minimum() -> None:
    feed = Feed(TODAY)
    fri = MON + timedelta(days=4)
    clinic = clinic_with(
        feed, makeup("c1", group("g2", "s1", days=("fri",)), fri), start=MON + timedelta(days=3)
    )
    clinic.apply(feed(group("g2", "s1", days=("fri",))))
    hours = clinic.week_hours("c1", WEEK, TODAY)
    assert (hours.scheduled_hours, hours.minimum_hours) == (7.0, 4.0)
    assert [o.slot.kind for o in hours.outcomes] == [
        AttendanceKind.GROUP,
        AttendanceKind.MAKEUP,
        AttendanceKind.INDIVIDUAL,
    ]


def test_an_adolescents_minimum_is_six_hours() -> None:
    feed = Feed(TODAY)
    clinic = Clinic()
    for payload in (site("s1"), G1, enrollment("c1", population="adolescent")):
        clinic.apply(feed(payload))
    clinic.apply(feed(scheduled("c1", G1, MON)))
    assert clinic.week_hours("c1", WEEK, TODAY).minimum_hours == 6.0


def test_an_unknown_client_has_an_empty_week() -> None:
    hours = Clinic().week_hours("nobody", WEEK, TODAY)
    assert (hours.scheduled_minutes, hours.minimum_minutes, hours.at_risk) == (0, 0, False)


# ------------------------------------------------------------------ properties

STATUSES = st.sampled_from([None, "present", "late", "left_early", "absent", "excused"])
DAYS = {0: "group", 2: "group", 3: "group", 5: "individual"}  # Mon, Wed, Thu, Sat


@given(
    start_offset=st.integers(min_value=-14, max_value=6),
    today_offset=st.integers(min_value=-1, max_value=8),
    statuses=st.lists(STATUSES, min_size=4, max_size=4),
    cancelled=st.lists(st.booleans(), min_size=4, max_size=4),
)
def test_the_weeks_parts_always_sum_to_its_scheduled_hours(
    start_offset: int, today_offset: int, statuses: list[str | None], cancelled: list[bool]
) -> None:
    feed = Feed(TODAY)
    start = MON + timedelta(days=start_offset)
    held = [(MON + timedelta(days=d), kind) for d, kind in DAYS.items()]
    cancels = [
        (day, kind, "no_cover" if kind == "group" else "therapist_absent")
        for (day, kind), cut in zip(held, cancelled, strict=True)
        if cut and day >= start
    ]
    records = [
        record("c1", day, status, kind=kind)
        for (day, kind), status in zip(held, statuses, strict=True)
        if status is not None and day >= start
    ]
    clinic = Clinic()
    for payload in (site("s1"), G1):
        clinic.apply(feed(payload))
    clinic.apply(feed(scheduled("c1", G1, start, cancelled=cancels)))
    for payload in records:
        clinic.apply(feed(payload))
    today = MON + timedelta(days=today_offset)
    hours = clinic.week_hours("c1", WEEK, today)

    expected_minutes = sum(180 if kind == "group" else 60 for day, kind in held if day >= start)
    assert hours.scheduled_minutes == expected_minutes
    parts = (
        hours.attended_occurrence_hours
        + hours.cancelled_hours
        + hours.remaining_hours
        + hours.unrecorded_hours
        + hours.absent_hours
    )
    assert parts == pytest.approx(hours.scheduled_hours)
    assert hours.cancelled_hours * 60 == pytest.approx(
        sum(180 if kind == "group" else 60 for _, kind, _ in cancels)
    )
    assert hours.minimum_minutes == min(540, expected_minutes)


@given(start_offset=st.integers(min_value=-3, max_value=6))
def test_a_client_who_attends_everything_is_never_at_risk(start_offset: int) -> None:
    feed = Feed(TODAY)
    start = MON + timedelta(days=start_offset)
    clinic = Clinic()
    for payload in (site("s1"), G1):
        clinic.apply(feed(payload))
    clinic.apply(feed(scheduled("c1", G1, start, weeks=2)))
    for d, kind in DAYS.items():
        day = MON + timedelta(days=d)
        if day >= start:
            clinic.apply(feed(record("c1", day, "present", kind=kind)))
    hours = clinic.week_hours("c1", WEEK, MON + timedelta(days=7))
    assert hours.met and not hours.at_risk and not hours.out_of_reach
