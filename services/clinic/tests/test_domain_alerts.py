"""The alerts a client is due: `client.hours_at_risk` once per client-week when the minimum is out
of reach, and `client.attendance_alert` once per streak of unexcused absences."""

from datetime import UTC, date, datetime, timedelta

import pytest
from iop_clinic.domain import AttendanceView, ClientSlot, Clinic, due_alerts
from iop_clinic.domain.alerts import trailing_absences, weeks_to_judge
from iop_clinic.domain.compliance import SlotOutcome, SlotState
from iop_clinic.domain.testing import Feed, enrollment, group, record, scheduled, site
from iop_contracts import (
    AttendanceKind,
    AttendanceStatus,
    ClientAttendanceAlert,
    ClientHoursAtRisk,
    Payload,
    new_event,
    week_of,
)

TODAY = date(2027, 3, 1)  # a Monday
MON = TODAY
WED, THU, SAT = (MON + timedelta(days=n) for n in (2, 3, 5))
LAST_MON = MON - timedelta(days=7)
RECORDED_AT = datetime(2027, 3, 1, 20, 0, tzinfo=UTC)
G1 = group("g1", "s1")  # mon, wed, thu 18:00-21:00, and an individual hour on sat


@pytest.fixture(autouse=True)
def pinned_today(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IOP_TODAY", TODAY.isoformat())


def clinic_of(*payloads: Payload, start: date = LAST_MON, closed: tuple[date, ...] = ()) -> Clinic:
    feed = Feed(TODAY)
    clinic = Clinic()
    for payload in (site("s1", closed_dates=list(closed)), G1, enrollment("c1")):
        clinic.apply(feed(payload))
    clinic.apply(feed(scheduled("c1", G1, start)))
    for payload in payloads:
        clinic.apply(feed(payload))
    return clinic


def hours_at_risk(clinic: Clinic, today: date) -> list[ClientHoursAtRisk]:
    due = due_alerts(clinic, "c1", today, absence_limit=99)
    return [p for p in due if isinstance(p, ClientHoursAtRisk)]


def absence_alerts(clinic: Clinic, today: date, limit: int = 2) -> list[ClientAttendanceAlert]:
    due = due_alerts(clinic, "c1", today, absence_limit=limit)
    return [p for p in due if isinstance(p, ClientAttendanceAlert)]


def read_back(clinic: Clinic, payloads: list[Payload]) -> None:
    for payload in payloads:
        assert clinic.apply(new_event(payload, source="/iop/clinic"))


def present_last_week() -> list[Payload]:
    days = [LAST_MON + timedelta(days=n) for n in (0, 2, 3)]
    return [
        *(record("c1", d, "present") for d in days),
        record("c1", LAST_MON + timedelta(days=5), "present", kind="individual"),
    ]


# ------------------------------------------------------------------ the weeks


def test_the_weeks_judged_run_from_the_programmes_first_to_the_current_one() -> None:
    span = (LAST_MON + timedelta(days=3), MON + timedelta(weeks=6))
    assert weeks_to_judge(span, WED) == [week_of(LAST_MON), week_of(MON)]


def test_no_week_is_judged_before_the_programme_starts_or_without_one() -> None:
    assert weeks_to_judge((THU, THU + timedelta(weeks=8)), MON) == []
    assert weeks_to_judge(None, MON) == []


def test_the_weeks_judged_end_with_the_programme() -> None:
    span = (LAST_MON - timedelta(weeks=2), LAST_MON + timedelta(days=6))
    assert weeks_to_judge(span, THU) == [week_of(span[0] + timedelta(weeks=n)) for n in range(3)]


# --------------------------------------------------------------- hours at risk


def test_a_missed_meeting_that_puts_the_week_out_of_reach_is_due_once() -> None:
    clinic = clinic_of(*present_last_week(), record("c1", MON, "absent"))
    [due] = hours_at_risk(clinic, MON + timedelta(days=1))
    assert (due.client_id, due.region_id, due.week) == ("c1", "r1", week_of(MON))
    assert (due.attended_hours, due.remaining_scheduled_hours, due.minimum_hours) == (0, 7, 9)
    read_back(clinic, [due])
    assert hours_at_risk(clinic, MON + timedelta(days=1)) == []


def test_a_week_still_within_reach_is_not_due() -> None:
    clinic = clinic_of(*present_last_week(), record("c1", MON, "present", minutes=170))
    assert hours_at_risk(clinic, MON + timedelta(days=1)) == []


def test_an_unrecorded_meeting_alone_does_not_make_the_week_due() -> None:
    clinic = clinic_of(*present_last_week())  # Monday's roll call not taken yet
    assert clinic.week_hours("c1", week_of(MON), MON + timedelta(days=1)).at_risk
    assert hours_at_risk(clinic, MON + timedelta(days=1)) == []


def test_a_past_week_out_of_reach_is_due_for_that_week() -> None:
    misses = [record("c1", LAST_MON + timedelta(days=n), "absent") for n in (0, 2)]
    clinic = clinic_of(*misses)
    weeks = [p.week for p in hours_at_risk(clinic, MON)]
    assert weeks == [week_of(LAST_MON)]


def test_a_closure_in_the_current_week_counts_against_it() -> None:
    clinic = clinic_of(*present_last_week(), closed=(WED,), start=LAST_MON)
    # 10 hours scheduled, 3 cancelled: 7 can still be attended, short of 9.
    assert [p.week for p in hours_at_risk(clinic, MON)] == [week_of(MON)]


def test_a_future_week_is_not_judged_yet() -> None:
    next_wed = WED + timedelta(days=7)
    clinic = clinic_of(*present_last_week(), closed=(next_wed,))
    assert hours_at_risk(clinic, MON) == []


def test_a_week_that_holds_nothing_of_the_programme_is_not_due() -> None:
    sunday = MON - timedelta(days=1)  # starts on a Sunday: that week holds no session
    clinic = clinic_of(start=sunday)
    assert hours_at_risk(clinic, MON) == []


def test_an_unknown_client_is_due_nothing() -> None:
    assert due_alerts(Clinic(), "nobody", TODAY, absence_limit=2) == []


# ----------------------------------------------------------- consecutive absences


def outcome(status: str | None, state: SlotState = SlotState.MISSED) -> SlotOutcome:
    """A slot's outcome with a record of `status` (None: no record, unrecorded)."""
    slot = ClientSlot(MON, AttendanceKind.GROUP, "18:00", "21:00", 180, "s1", "g1", "t1")
    if status is None:
        return SlotOutcome(slot, SlotState.UNRECORDED)
    view = AttendanceView(
        "c1", MON, AttendanceKind.GROUP, AttendanceStatus(status), 0, "g1", None, "k", RECORDED_AT
    )
    return SlotOutcome(slot, state, view)


def test_a_streak_is_the_trailing_absences_skipping_excused_and_unrecorded() -> None:
    outcomes = [
        outcome("absent"),
        outcome("present", SlotState.ATTENDED),
        outcome("absent"),
        outcome("excused"),
        outcome(None),
        outcome("absent"),
    ]
    assert len(trailing_absences(outcomes)) == 2


def test_a_cancelled_slot_neither_counts_nor_breaks_a_streak() -> None:
    outcomes = [outcome("absent"), outcome("present", SlotState.CANCELLED), outcome("absent")]
    assert len(trailing_absences(outcomes)) == 2


def test_late_and_left_early_break_a_streak() -> None:
    for status in ("late", "left_early"):
        outcomes = [outcome("absent"), outcome(status, SlotState.ATTENDED), outcome("absent")]
        assert len(trailing_absences(outcomes)) == 1


def test_two_consecutive_absences_alert_with_the_last_date() -> None:
    clinic = clinic_of(
        record("c1", LAST_MON, "present"),
        record("c1", LAST_MON + timedelta(days=2), "absent"),
        record("c1", LAST_MON + timedelta(days=3), "absent"),
    )
    [alert] = absence_alerts(clinic, MON)
    assert (alert.count, alert.last_date, alert.reason) == (
        2,
        LAST_MON + timedelta(days=3),
        "consecutive_absences",
    )


def test_an_excused_session_between_absences_does_not_break_the_streak() -> None:
    clinic = clinic_of(
        record("c1", LAST_MON, "absent"),
        record("c1", LAST_MON + timedelta(days=2), "excused"),
        record("c1", LAST_MON + timedelta(days=3), "absent"),
    )
    [alert] = absence_alerts(clinic, MON)
    assert alert.last_date == LAST_MON + timedelta(days=3)


def test_one_absence_is_not_a_streak_of_two() -> None:
    clinic = clinic_of(
        record("c1", LAST_MON, "present"), record("c1", LAST_MON + timedelta(days=2), "absent")
    )
    assert absence_alerts(clinic, MON) == []


def test_the_limit_is_the_networks() -> None:
    days = [LAST_MON + timedelta(days=n) for n in (0, 2, 3)]
    clinic = clinic_of(*(record("c1", d, "absent") for d in days[:2]))
    assert absence_alerts(clinic, MON, limit=3) == []
    clinic.apply(Feed(TODAY + timedelta(days=1))(record("c1", days[2], "absent")))
    [alert] = absence_alerts(clinic, MON, limit=3)
    assert (alert.count, alert.last_date) == (3, days[2])


def test_a_streak_alerts_once_however_long_it_grows() -> None:
    days = [LAST_MON + timedelta(days=n) for n in (0, 2, 3)]
    clinic = clinic_of(*(record("c1", d, "absent") for d in days[:2]))
    first = absence_alerts(clinic, MON)
    read_back(clinic, list(first))
    assert absence_alerts(clinic, MON) == []
    clinic.apply(Feed(TODAY + timedelta(days=1))(record("c1", days[2], "absent")))
    assert absence_alerts(clinic, MON) == []


def test_a_new_streak_after_an_attendance_alerts_again() -> None:
    days = [LAST_MON + timedelta(days=n) for n in (0, 2, 3, 7, 9)]
    clinic = clinic_of(*(record("c1", d, "absent") for d in days[:2]))
    read_back(clinic, list(absence_alerts(clinic, WED)))
    feed = Feed(TODAY + timedelta(days=1))
    clinic.apply(feed(record("c1", days[2], "present")))
    clinic.apply(feed(record("c1", days[3], "absent")))
    assert absence_alerts(clinic, THU) == []
    clinic.apply(feed(record("c1", days[4], "absent")))
    [alert] = absence_alerts(clinic, THU)
    assert alert.last_date == days[4]


def test_a_record_matching_none_of_the_clients_slots_is_not_counted() -> None:
    tuesday = LAST_MON + timedelta(days=1)  # g1 does not meet on Tuesdays
    clinic = clinic_of(record("c1", LAST_MON, "absent"), record("c1", tuesday, "absent"))
    assert absence_alerts(clinic, MON) == []
