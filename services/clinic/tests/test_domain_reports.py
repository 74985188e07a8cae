"""The staff's reports as rows: weekly hours compliance (with why not), census per site and
level of care, group utilisation per week, waitlist by reason and age; each scoped to sites."""

from datetime import date, timedelta

import pytest
from iop_clinic.domain import (
    Clinic,
    census_report,
    compliance_report,
    utilisation_report,
    waitlist_report,
)
from iop_clinic.domain.testing import Feed, enrollment, group, makeup, record, scheduled, site
from iop_contracts import (
    AttendanceRecorded,
    ClientCompleted,
    ClientWaitlisted,
    Payload,
    Population,
    Track,
    week_of,
)

TODAY = date(2027, 3, 1)  # a Monday
MON = TODAY - timedelta(days=7)  # the week reported: last week, over
WEEK = week_of(MON)
WED, THU, SAT = (MON + timedelta(days=n) for n in (2, 3, 5))
G1 = group("g1", "s1", capacity=4)
G2 = group("g2", "s2", track="mental_health", modality="cbt")
TEEN = group("teen", "s1", population="adolescent", days=("tue", "thu"))


@pytest.fixture(autouse=True)
def pinned_today(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IOP_TODAY", TODAY.isoformat())


def network(*payloads: Payload, closed: tuple[date, ...] = ()) -> Clinic:
    """s1 (g1; teen, nobody in it) and s2 (g2). c1, c2 in g1; c3 in g2; from MON, 8 weeks."""
    feed = Feed(TODAY - timedelta(days=30))
    clinic = Clinic()
    roster = [site("s1", closed_dates=list(closed)), site("s2"), G1, G2, TEEN]
    for payload in roster:
        clinic.apply(feed(payload))
    for client_id, name, placed_in in (("c1", "Ana", G1), ("c2", "Ben", G1), ("c3", "Cy", G2)):
        clinic.apply(feed(enrollment(client_id, first_name=name, track=placed_in.track)))
        clinic.apply(feed(scheduled(client_id, placed_in, MON)))
    for payload in payloads:
        clinic.apply(feed(payload))
    return clinic


def full_week(client_id: str, group_id: str = "g1") -> list[AttendanceRecorded]:
    groups = [record(client_id, d, "present", group_id=group_id) for d in (MON, WED, THU)]
    return [*groups, record(client_id, SAT, "present", kind="individual")]


# --------------------------------------------------------------------- compliance


def test_compliance_rows_hold_the_weeks_hours_computed_from_the_records() -> None:
    late = record("c2", THU, "late", minutes=120)
    c2_records = [*full_week("c2")[:2], late, full_week("c2")[3]]
    clinic = network(*full_week("c1"), *c2_records, *full_week("c3", "g2"))
    rows = {r.client_id: r for r in compliance_report(clinic, WEEK, TODAY)}
    assert set(rows) == {"c1", "c2", "c3"}
    for client_id, records in (("c1", full_week("c1")), ("c2", c2_records)):
        minutes = sum(r.minutes_attended for r in records)
        assert rows[client_id].attended_hours == round(minutes / 60, 2)
        assert rows[client_id].scheduled_hours == 10.0
    assert rows["c1"].met and rows["c1"].why_not == ""
    assert rows["c2"].met  # 9 hours of 10: late, but the minimum is met
    assert (rows["c1"].first_name, rows["c1"].site_id, rows["c1"].week) == ("Ana", "s1", WEEK)


def test_why_not_names_the_absences() -> None:
    absences = [record("c1", d, "absent") for d in (MON, WED)]
    clinic = network(*absences, *full_week("c1")[2:])
    [row] = [r for r in compliance_report(clinic, WEEK, TODAY) if r.client_id == "c1"]
    assert not row.met
    assert row.why_not == "absent 2 sessions"


def test_why_not_names_the_cancellations_and_their_reason() -> None:
    clinic = network(record("c1", THU, "present"), closed=(MON, WED))
    [row] = [r for r in compliance_report(clinic, WEEK, TODAY) if r.client_id == "c1"]
    assert row.cancelled_hours == 6.0
    assert row.why_not == "2 sessions cancelled (site_closed); 1 session unrecorded"


def test_why_not_names_time_lost_to_lateness() -> None:
    late = [record("c1", d, "late", minutes=120) for d in (MON, WED, THU)]
    clinic = network(*late, full_week("c1")[3])
    [row] = [r for r in compliance_report(clinic, WEEK, TODAY) if r.client_id == "c1"]
    assert row.attended_hours == 7.0 and not row.met
    assert row.why_not == "3.0 h lost arriving late or leaving early"


def test_a_site_key_sees_only_its_sites_clients() -> None:
    clinic = network()
    assert {r.client_id for r in compliance_report(clinic, WEEK, TODAY, {"s2"})} == {"c3"}
    assert {r.client_id for r in compliance_report(clinic, WEEK, TODAY, {"s1"})} == {"c1", "c2"}
    assert compliance_report(clinic, WEEK, TODAY, set()) == []


def test_unmet_weeks_come_first_within_a_site() -> None:
    clinic = network(*full_week("c1"))
    assert [r.client_id for r in compliance_report(clinic, WEEK, TODAY, {"s1"})] == ["c2", "c1"]


def test_a_client_with_nothing_that_week_has_no_row() -> None:
    clinic = network()
    assert compliance_report(clinic, week_of(MON - timedelta(days=7)), TODAY) == []


# ------------------------------------------------------------------------- census


def test_the_census_counts_scheduled_clients_by_site_and_level_of_care() -> None:
    clinic = network()
    rows = {(r.site_id, r.track, r.population): r.scheduled for r in census_report(clinic)}
    assert rows == {
        ("s1", Track.SUBSTANCE_USE, Population.ADULT): 2,
        ("s1", Track.SUBSTANCE_USE, Population.ADOLESCENT): 0,  # the teen group, empty
        ("s2", Track.MENTAL_HEALTH, Population.ADULT): 1,
    }


def test_the_census_leaves_out_completed_and_waiting_clients_and_other_sites() -> None:
    completed = ClientCompleted(
        client_id="c2",
        region_id="r1",
        schedule_version=1,
        end_date=MON + timedelta(weeks=8, days=-1),
    )
    waiting = ClientWaitlisted(client_id="c4", region_id="r1", reasons=["groups_full"])
    clinic = network(completed, enrollment("c4"), waiting)
    rows = census_report(clinic, {"s1"})
    assert {(r.site_id, r.population): r.scheduled for r in rows} == {
        ("s1", Population.ADULT): 1,
        ("s1", Population.ADOLESCENT): 0,
    }


# -------------------------------------------------------------------- utilisation


def test_utilisation_counts_held_occurrences_and_seats_with_make_ups() -> None:
    clinic = network(makeup("c3", G1, WED), closed=(THU,))
    rows = {r.group_id: r for r in utilisation_report(clinic, WEEK)}
    g1 = rows["g1"]
    # Monday and Wednesday held (Thursday closed): 2 + 3 seats of 4 + 4.
    assert (g1.occurrences, g1.cancelled, g1.seats_taken, g1.seats_offered) == (2, 1, 5, 8)
    assert g1.utilisation_pct == 62.5
    assert (rows["teen"].occurrences, rows["teen"].cancelled, rows["teen"].utilisation_pct) == (
        1,
        1,
        0.0,
    )


def test_utilisation_is_scoped_to_the_keys_sites() -> None:
    clinic = network()
    assert [r.group_id for r in utilisation_report(clinic, WEEK, {"s2"})] == ["g2"]


# ----------------------------------------------------------------------- waitlist


def test_the_waitlist_by_reason_with_median_and_longest_wait() -> None:
    feed = Feed(TODAY - timedelta(days=10))
    clinic = network()
    waits = [
        ("w1", ["groups_full"], ["s1"]),
        ("w2", ["groups_full", "therapist_capacity"], ["s1"]),
        ("w3", ["groups_full"], ["s2"]),
    ]
    for client_id, reasons, sites in waits:
        clinic.apply(feed(enrollment(client_id, preferred_site_ids=sites)))
        clinic.apply(feed(ClientWaitlisted(client_id=client_id, region_id="r1", reasons=reasons)))
        feed.time += timedelta(days=2)
    rows = waitlist_report(clinic, TODAY)
    assert [(r.reason, r.count, r.median_days, r.max_days) for r in rows] == [
        ("groups_full", 3, 8.0, 10),
        ("therapist_capacity", 1, 8.0, 8),
    ]
    scoped = waitlist_report(clinic, TODAY, {"s2"})
    assert [(r.reason, r.count, r.max_days) for r in scoped] == [("groups_full", 1, 6)]
