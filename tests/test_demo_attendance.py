"""The demo's week of attendance, the parts that need no broker: which evening, who is absent,
what each record says, which alerts are due, whom the make-up is asked for, and the printout.

The whole path (the clinic's API, the alerts on the topic, the scheduler's answer) runs in
`make demo`; the clinic's own tests cover the API and the alerts."""

from datetime import date, timedelta
from typing import Any

import pytest

from iop.demo_attendance import (
    ABSENCE_LIMIT,
    LATE_MINUTES,
    PRESENT,
    Role,
    Seat,
    alerts_due,
    attendance_evening,
    clinic_env,
    compliance_line,
    makeup_candidate,
    marks_for,
    roles_for,
    seats_of,
    standing_of,
    week_until,
)
from iop.demo_makeup import shortfall

MONDAY = date(2027, 3, 1)  # a Monday; pure functions of the date, no clock involved


@pytest.mark.parametrize("offset", range(7))
@pytest.mark.parametrize("weeks", [0, 1, 8])
def test_the_evening_is_the_friday_of_the_week_so_many_weeks_on(offset: int, weeks: int) -> None:
    today = MONDAY + timedelta(days=offset)
    evening = attendance_evening(today, weeks)
    assert evening.weekday() == 4
    later_monday = MONDAY + timedelta(weeks=max(weeks, 1))
    assert later_monday <= evening <= later_monday + timedelta(days=6)


def test_the_week_until_the_evening_runs_from_its_monday() -> None:
    friday = MONDAY + timedelta(days=4)
    assert week_until(friday) == [MONDAY + timedelta(days=n) for n in range(5)]


def test_the_clinic_runs_on_the_evening_with_the_plans_absence_limit() -> None:
    env = clinic_env(MONDAY + timedelta(days=4))
    assert env["IOP_TODAY"] == "2027-03-05"
    assert env["CLINIC_ABSENCE_LIMIT"] == str(ABSENCE_LIMIT)
    assert env["CLINIC_AUTO_MAKEUP"] == "false"


def occurrence(kind: str, day: date, expected: list[str], **more: Any) -> dict[str, Any]:
    return {
        "kind": kind,
        "date": day.isoformat(),
        "start": "18:00",
        "minutes": 180 if kind == "group" else 60,
        "expected": expected,
        **more,
    }


def test_a_group_occurrence_seats_its_members_and_its_makeup_guests() -> None:
    found = seats_of(occurrence("group", MONDAY, ["c1", "c9"], makeups=["c9"]))
    assert [(s.client_id, s.kind, s.minutes) for s in found] == [
        ("c1", "group", 180),
        ("c9", "makeup", 180),
    ]


def week_of_seats() -> list[Seat]:
    """Region r1: c1, c2, c3, c4 in a group Monday and Wednesday, c5 only once; c6 individual
    sessions only. Region r2: c7 and c8 in a group Tuesday and Thursday, c8 with an individual
    session on Friday."""
    tuesday, wednesday = MONDAY + timedelta(days=1), MONDAY + timedelta(days=2)
    thursday, friday = MONDAY + timedelta(days=3), MONDAY + timedelta(days=4)
    members = ("c1", "c2", "c3", "c4")
    seats = [Seat(d, "18:00", c, "group", 180) for d in (MONDAY, wednesday) for c in members]
    seats.append(Seat(MONDAY, "18:00", "c5", "group", 180))
    seats += [Seat(d, "17:00", "c6", "individual", 60) for d in (MONDAY, thursday)]
    seats += [Seat(d, "18:00", c, "group", 180) for d in (tuesday, thursday) for c in ("c7", "c8")]
    seats.append(Seat(friday, "17:00", "c8", "individual", 60))
    return seats


REGIONS = {f"c{n}": "r1" for n in range(1, 7)} | {"c7": "r2", "c8": "r2"}


def test_roles_go_first_to_a_client_a_makeup_fits_then_per_region_in_id_order() -> None:
    roles = roles_for(week_of_seats(), REGIONS, makeup_fits=lambda c: c == "c2")
    assert roles == {
        "c2": Role.MAKEUP,
        "c1": Role.STREAK,
        "c3": Role.ABSENT,
        "c4": Role.LATE,
        "c7": Role.STREAK,
        "c8": Role.ABSENT,
    }


def test_without_a_fitting_makeup_nobody_gets_that_role() -> None:
    roles = roles_for(week_of_seats(), REGIONS, makeup_fits=lambda c: False)
    assert Role.MAKEUP not in roles.values()
    assert roles["c1"] is Role.STREAK and roles["c2"] is Role.ABSENT
    assert roles["c3"] is Role.LATE  # the first region's third; the second region's is excused


def test_clients_with_one_session_or_no_group_are_never_planned_absent() -> None:
    roles = roles_for(week_of_seats(), REGIONS, makeup_fits=lambda c: True)
    assert "c5" not in roles  # one session only
    assert "c6" not in roles  # individual sessions only


def test_a_streak_is_absent_at_the_clients_last_two_sessions() -> None:
    seats = week_of_seats()
    marks = marks_for(seats, {"c8": Role.STREAK})
    mine = sorted(s for s in seats if s.client_id == "c8")
    assert [marks.get(s, PRESENT) for s in mine] == [PRESENT, ("absent", None), ("absent", None)]
    # Nothing after them: no later record breaks the streak.
    assert max(marks) == mine[-1]


def test_one_absence_excuse_or_lateness_falls_on_the_first_group_session() -> None:
    seats = week_of_seats()
    roles = {"c1": Role.ABSENT, "c2": Role.EXCUSED, "c3": Role.LATE, "c4": Role.MAKEUP}
    marks = marks_for(seats, roles)
    assert marks == {
        Seat(MONDAY, "18:00", "c1", "group", 180): ("absent", None),
        Seat(MONDAY, "18:00", "c2", "group", 180): ("excused", None),
        Seat(MONDAY, "18:00", "c3", "group", 180): ("late", 180 - LATE_MINUTES),
        Seat(MONDAY, "18:00", "c4", "group", 180): ("absent", None),
    }


def row(client_id: str, **fields: Any) -> dict[str, Any]:
    base = {
        "client_id": client_id,
        "first_name": "Ana",
        "site_id": "s1",
        "scheduled_hours": 10.0,
        "attended_hours": 7.0,
        "remaining_hours": 0.0,
        "unrecorded_hours": 0.0,
        "minimum_hours": 9.0,
        "met": False,
        "at_risk": True,
        "why_not": "absent 1 session",
    }
    return base | fields


def test_alerts_are_due_for_weeks_out_of_reach_and_for_each_streak() -> None:
    compliance = [
        row("c1"),
        row("c2", unrecorded_hours=3.0),  # at risk, but not out of reach: no alert yet
        row("c3", at_risk=False, remaining_hours=3.0, why_not="1 session still to come"),
    ]
    roles = {"c1": Role.ABSENT, "c4": Role.STREAK}
    assert alerts_due(compliance, roles) == ({"c1"}, {"c4"})


def test_the_makeup_goes_to_a_placed_client_at_risk_preferring_the_fitting_one() -> None:
    compliance = [row("c1"), row("c2"), row("c3"), row("c4", at_risk=False)]
    roles = {"c1": Role.STREAK, "c2": Role.ABSENT, "c3": Role.MAKEUP, "c4": Role.MAKEUP}
    chosen = makeup_candidate(compliance, roles, placed={"c1", "c2", "c3", "c4"})
    assert chosen is not None and chosen["client_id"] == "c3"
    # A client whose programme has ended is not asked for.
    chosen = makeup_candidate(compliance, roles, placed={"c1", "c2"})
    assert chosen is not None and chosen["client_id"] == "c2"
    assert makeup_candidate(compliance, roles, placed=set()) is None


def test_the_makeup_asks_for_the_hours_the_week_lacks() -> None:
    assert shortfall(row("c1", attended_hours=4.0, remaining_hours=3.0)) == 2.0
    assert shortfall(row("c1", attended_hours=0.0, minimum_hours=20.0)) == 12.0


def test_a_row_says_met_at_risk_or_on_track_and_why() -> None:
    assert standing_of(row("c1", met=True, at_risk=False, why_not="")) == "met"
    assert standing_of(row("c1")) == "at risk: absent 1 session"
    on_track = row("c1", at_risk=False, why_not="2 sessions still to come")
    assert standing_of(on_track) == "on track: 2 sessions still to come"
    line = compliance_line(row("c1"))
    assert line.split()[:6] == ["s1", "c1", "Ana", "10.00", "7.00", "9.00"]
