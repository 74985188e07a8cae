"""Each hard rule of SCHEDULING.md: a feasible case the solver places, an infeasible one it must
not. Every solve goes through ``iop.solve``, which runs the independent checker on the output."""

from __future__ import annotations

from datetime import date, timedelta
from types import SimpleNamespace
from typing import Any

import pytest
from iop_scheduler.adapters.snapshot import solve_snapshot
from iop_scheduler.solver import SolveSettings, validate_output

SATURDAY_NINE = {"day": "sat", "start": "09:00", "end": "10:00"}
TUESDAY_SIX = {"day": "tue", "start": "18:00", "end": "19:00"}
GROUP_TIMES = [{"day": d, "start": "18:00", "end": "21:00"} for d in ("mon", "wed", "thu")]


def _with_kept_client(
    iop: SimpleNamespace, weeks: int, individual: dict[str, str], **parts: Any
) -> dict[str, Any]:
    """Kept client k1 started in g1 four weeks before today (a Monday) for ``weeks`` weeks, seen
    by t1 at ``individual``; tf facilitates g1 and can see nobody individually (it is free only
    at the group's times). Newcomers ask to start tomorrow."""
    group = parts.pop("group", iop.group(open_from="2026-10-01"))
    started = iop.TODAY - timedelta(weeks=4)
    k1 = iop.client("k1", requested_start=started.isoformat(), program_weeks=weeks)
    therapists = parts.pop(
        "therapists", [iop.therapist("tf", availability=GROUP_TIMES), iop.therapist("t1")]
    )
    newcomers = parts.pop("enrollments", [iop.client("c1")])
    return iop.snapshot(
        groups=[group],
        therapists=therapists,
        enrollments=[k1, *newcomers],
        schedules=[iop.kept(k1, group, "tf", {"therapist_id": "t1", **individual}, started)],
        **parts,
    )


def _frees_on(snap: dict[str, Any]) -> date:
    """The day after k1's programme ends."""
    return date.fromisoformat(snap["schedules"][0]["end_date"]) + timedelta(days=1)


# Rule 1: group fit -------------------------------------------------------------------------------
def test_rule1_matching_group_is_used(iop: SimpleNamespace) -> None:
    out = iop.solve(iop.snapshot())
    assert iop.placed(out)["c1"]["group"]["group_id"] == "g1"


def test_rule1_other_track_is_never_used(iop: SimpleNamespace) -> None:
    out = iop.solve(iop.snapshot(groups=[iop.group(track="substance_use")]))
    assert "no_group_in_availability" in iop.reasons(out)


def test_rule1_women_group_admits_a_woman_not_a_man(iop: SimpleNamespace) -> None:
    women = iop.group(gender="women")
    assert "c1" in iop.placed(iop.solve(iop.snapshot(groups=[women])))
    out = iop.solve(iop.snapshot(groups=[women], enrollments=[iop.client(gender="man")]))
    assert out["scheduled"] == []


# Rule 2: access ----------------------------------------------------------------------------------
def test_rule2_in_person_group_needs_a_preferred_site(iop: SimpleNamespace) -> None:
    snap = iop.snapshot(
        sites=[iop.site("s1"), iop.site("s2")],
        enrollments=[iop.client(preferred_site_ids=["s2"])],
    )
    out = iop.solve(snap)
    assert "site_not_accessible" in iop.reasons(out)


def test_rule2_telehealth_group_needs_consent(iop: SimpleNamespace) -> None:
    tele = iop.group(delivery="telehealth")
    refused = iop.solve(
        iop.snapshot(groups=[tele], enrollments=[iop.client(preferred_site_ids=[])])
    )
    assert refused["scheduled"] == []
    out = iop.solve(
        iop.snapshot(
            groups=[tele], enrollments=[iop.client(preferred_site_ids=[], accepts_telehealth=True)]
        )
    )
    sched = iop.placed(out)["c1"]
    assert sched["group"]["delivery"] == "telehealth"
    assert sched["individual"]["delivery"] == "telehealth"


# Rule 3: time ------------------------------------------------------------------------------------
def test_rule3_group_outside_client_availability(iop: SimpleNamespace) -> None:
    busy_thursday = [b for b in iop.client()["availability"] if b["day"] != "thu"]
    out = iop.solve(iop.snapshot(enrollments=[iop.client(availability=busy_thursday)]))
    assert "no_group_in_availability" in iop.reasons(out)


def test_rule3_group_outside_site_window(iop: SimpleNamespace) -> None:
    short = iop.site()
    short["windows"] = [{"day": d, "start": "17:00", "end": "20:00"} for d in ("mon", "wed", "thu")]
    out = iop.solve(iop.snapshot(sites=[short]))
    assert "no_group_in_availability" in iop.reasons(out)


def test_rule3_individual_never_overlaps_the_group(iop: SimpleNamespace) -> None:
    only_group_times = [{"day": d, "start": "18:00", "end": "21:00"} for d in ("mon", "wed", "thu")]
    out = iop.solve(iop.snapshot(enrollments=[iop.client(availability=only_group_times)]))
    assert out["scheduled"] == []
    roomy = iop.solve(iop.snapshot())
    ind = iop.placed(roomy)["c1"]["individual"]
    assert not (
        ind["day"] in ("mon", "wed", "thu") and ind["start"] < "21:00" and ind["end"] > "18:00"
    )


# Rule 4: capacity --------------------------------------------------------------------------------
def test_rule4_capacity_goes_to_the_higher_priority(iop: SimpleNamespace) -> None:
    snap = iop.snapshot(
        groups=[iop.group(capacity=1)],
        enrollments=[
            iop.client("c1"),
            iop.client("c2", priority="urgent", requested_start="2026-12-05"),
        ],
    )
    out = iop.solve(snap)
    assert set(iop.placed(out)) == {"c2"}
    assert "groups_full" in iop.reasons(out, "c1")


def test_rule4_a_full_group_admits_from_the_first_meeting_day_after_a_seat_frees(
    iop: SimpleNamespace,
) -> None:
    """Capacity 1, held by k1 until Sunday 6 December: c1 joins on Monday the 7th, the first
    meeting day after (not on Wednesday the 2nd, the first day c1 could otherwise start)."""
    snap = _with_kept_client(
        iop, 5, SATURDAY_NINE, group=iop.group(capacity=1, open_from="2026-10-01")
    )
    assert _frees_on(snap) == date(2026, 12, 7)
    out = iop.solve(snap)
    assert iop.placed(out)["c1"]["start_date"] == "2026-12-07"
    assert iop.placed(out)["k1"] == snap["schedules"][0]


def test_rule4_a_seat_that_frees_goes_to_one_newcomer(iop: SimpleNamespace) -> None:
    """One seat frees within the horizon and none after: the urgent newcomer takes it, the
    other waits (groups_full), even though each alone would fit."""
    snap = _with_kept_client(
        iop,
        5,
        SATURDAY_NINE,
        group=iop.group(capacity=1, open_from="2026-10-01"),
        enrollments=[iop.client("c1"), iop.client("u1", priority="urgent")],
    )
    out = iop.solve(snap)
    assert set(iop.placed(out)) == {"k1", "u1"}
    assert "groups_full" in iop.reasons(out, "c1")


def test_rule4_a_kept_client_who_starts_later_holds_their_seat_from_their_start(
    iop: SimpleNamespace,
) -> None:
    """Capacity 2, one seat taken from Monday 14 December by k1, placed by an earlier solve:
    c1 and c2 each fit beside k1, both would make three from the 14th; one waits."""
    group = iop.group(capacity=2)
    k1 = iop.client("k1", requested_start="2026-12-14")
    snap = iop.snapshot(
        groups=[group],
        enrollments=[k1, iop.client("c1"), iop.client("c2", priority="urgent")],
        schedules=[
            iop.kept(k1, group, "t1", {"therapist_id": "t1", **SATURDAY_NINE}, date(2026, 12, 14))
        ],
    )
    out = iop.solve(snap)
    assert set(iop.placed(out)) == {"k1", "c2"}
    assert "groups_full" in iop.reasons(out, "c1")


# Rule 5: weekly hours ----------------------------------------------------------------------------
def test_rule5_adult_needs_nine_hours(iop: SimpleNamespace) -> None:
    two_evenings = [{"day": d, "start": "18:00", "end": "21:00"} for d in ("mon", "wed")]
    out = iop.solve(iop.snapshot(groups=[iop.group(sessions=two_evenings)]))
    assert "insufficient_weekly_hours" in iop.reasons(out)


def test_rule5_adolescent_needs_six_hours(iop: SimpleNamespace) -> None:
    two_evenings = [{"day": d, "start": "18:00", "end": "20:30"} for d in ("mon", "wed")]
    snap = iop.snapshot(
        groups=[iop.group(sessions=two_evenings, population="adolescent")],
        enrollments=[iop.client(population="adolescent")],
    )
    out = iop.solve(snap)
    assert iop.placed(out)["c1"]["weekly_hours"] == 6.0


# Rule 6: credentials -----------------------------------------------------------------------------
def test_rule6_mental_health_needs_a_clinical_licence(iop: SimpleNamespace) -> None:
    out = iop.solve(iop.snapshot(therapists=[iop.therapist(credentials=["LADC"])]))
    assert "no_credentialed_therapist" in iop.reasons(out)


def test_rule6_substance_use_splits_facilitator_and_individual(iop: SimpleNamespace) -> None:
    snap = iop.snapshot(
        groups=[iop.group(track="substance_use", modality="relapse_prevention")],
        therapists=[
            iop.therapist("t1", credentials=["LADC"]),
            iop.therapist("t2", credentials=["LCSW"]),
        ],
        enrollments=[iop.client(track="substance_use")],
    )
    sched = iop.placed(iop.solve(snap))["c1"]
    assert sched["group"]["facilitator_id"] == "t1"


def test_rule6_dbt_group_needs_a_trained_facilitator(iop: SimpleNamespace) -> None:
    snap = iop.snapshot(
        groups=[iop.group(modality="dbt")], therapists=[iop.therapist(modalities=["cbt"])]
    )
    assert iop.solve(snap)["scheduled"] == []
    snap["therapists"] = [iop.therapist(modalities=["dbt"])]
    assert len(iop.solve(snap)["scheduled"]) == 1


def test_rule6_therapist_must_speak_the_language(iop: SimpleNamespace) -> None:
    snap = iop.snapshot(
        groups=[iop.group(language="es")],
        therapists=[iop.therapist(languages=["en"])],
        enrollments=[iop.client(language="es")],
    )
    out = iop.solve(snap)
    assert "no_language_match" in iop.reasons(out)


# Rule 7: therapist -------------------------------------------------------------------------------
def test_rule7_facilitator_availability(iop: SimpleNamespace) -> None:
    no_thursday = [b for b in iop.therapist()["availability"] if b["day"] != "thu"]
    out = iop.solve(iop.snapshot(therapists=[iop.therapist(availability=no_thursday)]))
    assert out["scheduled"] == []


def test_rule7_caseload(iop: SimpleNamespace) -> None:
    snap = iop.snapshot(
        therapists=[iop.therapist(max_caseload=1)],
        enrollments=[iop.client("c1"), iop.client("c2")],
    )
    out = iop.solve(snap)
    assert len(out["scheduled"]) == 1
    assert "therapist_capacity" in out["waitlisted"][0]["reasons"]


def test_rule7_weekly_hours_count_the_group_once(iop: SimpleNamespace) -> None:
    # 9 h of group + 2 individual hours = 11 h: two clients fit in 11 h, a third does not.
    snap = iop.snapshot(
        therapists=[iop.therapist(max_weekly_hours=11)],
        enrollments=[iop.client("c1"), iop.client("c2"), iop.client("c3")],
    )
    out = iop.solve(snap)
    assert len(out["scheduled"]) == 2


def test_rule7_one_free_hour_serves_one_client(iop: SimpleNamespace) -> None:
    group_days = [{"day": d, "start": "18:00", "end": "21:00"} for d in ("mon", "wed", "thu")]
    one_hour = [*group_days, {"day": "tue", "start": "18:00", "end": "19:00"}]
    snap = iop.snapshot(
        therapists=[iop.therapist(availability=one_hour)],
        enrollments=[iop.client("c1"), iop.client("c2")],
    )
    out = iop.solve(snap)
    assert len(out["scheduled"]) == 1


def test_rule7_an_hour_a_kept_client_frees_is_given_from_the_day_after(
    iop: SimpleNamespace,
) -> None:
    """t1 can see clients only on Tuesday 18-19, held by k1 until 6 December; c1 is free for an
    individual session only then. c1 starts on 7 December with t1 at that hour (two weekly
    sessions clash only if their dates meet)."""
    snap = _with_kept_client(
        iop,
        5,
        TUESDAY_SIX,
        therapists=[
            iop.therapist("tf", availability=GROUP_TIMES),
            iop.therapist("t1", availability=[TUESDAY_SIX]),
        ],
        enrollments=[iop.client("c1", availability=[*GROUP_TIMES, TUESDAY_SIX])],
    )
    sched = iop.placed(iop.solve(snap))["c1"]
    assert sched["start_date"] == _frees_on(snap).isoformat()
    assert (sched["individual"]["therapist_id"], sched["individual"]["day"]) == ("t1", "tue")


def test_rule7_an_hour_held_beyond_the_horizon_is_not_given(iop: SimpleNamespace) -> None:
    snap = _with_kept_client(
        iop,
        10,  # k1 holds the hour until 10 January, after c1's last possible start (29 December)
        TUESDAY_SIX,
        therapists=[
            iop.therapist("tf", availability=GROUP_TIMES),
            iop.therapist("t1", availability=[TUESDAY_SIX]),
        ],
        enrollments=[iop.client("c1", availability=[*GROUP_TIMES, TUESDAY_SIX])],
    )
    out = iop.solve(snap)
    assert "c1" not in iop.placed(out)
    assert "therapist_capacity" in iop.reasons(out)


def test_rule7_a_caseload_place_frees_the_day_after_the_kept_client_ends(
    iop: SimpleNamespace,
) -> None:
    """t1's caseload of 1 is k1's until 6 December: c1 starts with t1 on 7 December."""
    snap = _with_kept_client(
        iop,
        5,
        SATURDAY_NINE,
        therapists=[
            iop.therapist("tf", availability=GROUP_TIMES),
            iop.therapist("t1", max_caseload=1),
        ],
    )
    sched = iop.placed(iop.solve(snap))["c1"]
    assert sched["start_date"] == _frees_on(snap).isoformat()
    assert sched["individual"]["therapist_id"] == "t1"


def test_rule7_a_full_caseload_on_a_date_the_programmes_share_is_full(
    iop: SimpleNamespace,
) -> None:
    """Two newcomers and t1's one caseload place that k1 frees: only one of them gets it."""
    snap = _with_kept_client(
        iop,
        5,
        SATURDAY_NINE,
        therapists=[
            iop.therapist("tf", availability=GROUP_TIMES),
            iop.therapist("t1", max_caseload=1),
        ],
        enrollments=[iop.client("c1"), iop.client("c2", priority="urgent")],
    )
    out = iop.solve(snap)
    assert set(iop.placed(out)) == {"k1", "c2"}
    assert "therapist_capacity" in iop.reasons(out, "c1")


def test_rule7_a_kept_client_who_starts_later_counts_from_their_start(
    iop: SimpleNamespace,
) -> None:
    """t1 (caseload 2) takes on k1 from Monday 14 December, placed by an earlier solve. Each of
    c1 and c2 alone fits beside k1, but from the 14th the three would be one too many: one
    newcomer waits (therapist_capacity)."""
    group = iop.group()
    k1 = iop.client("k1", requested_start="2026-12-14")
    snap = iop.snapshot(
        therapists=[
            iop.therapist("tf", availability=GROUP_TIMES),
            iop.therapist("t1", max_caseload=2),
        ],
        enrollments=[k1, iop.client("c1"), iop.client("c2", priority="urgent")],
        schedules=[
            iop.kept(k1, group, "tf", {"therapist_id": "t1", **SATURDAY_NINE}, date(2026, 12, 14))
        ],
    )
    out = iop.solve(snap)
    assert set(iop.placed(out)) == {"k1", "c2"}
    assert "therapist_capacity" in iop.reasons(out, "c1")


def test_rule7_in_person_only_at_the_therapists_sites(iop: SimpleNamespace) -> None:
    snap = iop.snapshot(
        therapists=[iop.therapist(site_ids=["s2"], telehealth=False)],
        sites=[iop.site("s1"), iop.site("s2")],
    )
    assert iop.solve(snap)["scheduled"] == []


# Rule 8: facilitation ----------------------------------------------------------------------------
def test_rule8_roster_facilitator_is_kept(iop: SimpleNamespace) -> None:
    snap = iop.snapshot(
        groups=[iop.group(facilitator_id="t2")],
        therapists=[iop.therapist("t1"), iop.therapist("t2")],
        enrollments=[iop.client("c1"), iop.client("c2")],
    )
    out = iop.solve(snap)
    assert {s["group"]["facilitator_id"] for s in out["scheduled"]} == {"t2"}


def test_rule8_unqualified_roster_facilitator_blocks_the_group(iop: SimpleNamespace) -> None:
    snap = iop.snapshot(
        groups=[iop.group(facilitator_id="t2")],
        therapists=[iop.therapist("t1"), iop.therapist("t2", credentials=["CADC"])],
    )
    assert iop.solve(snap)["scheduled"] == []


# Rule 9: dates -----------------------------------------------------------------------------------
def test_rule9_start_on_a_meeting_day_after_open_from(iop: SimpleNamespace) -> None:
    snap = iop.snapshot(
        groups=[iop.group(open_from="2026-12-09")],
        enrollments=[iop.client(requested_start="2026-12-01")],
    )
    sched = iop.placed(iop.solve(snap))["c1"]
    start = date.fromisoformat(sched["start_date"])
    assert start == date(2026, 12, 9)  # a Wednesday, the group's first session from open_from
    assert date.fromisoformat(sched["end_date"]) == start + timedelta(weeks=8, days=-1)


def test_rule9_start_not_before_requested_start(iop: SimpleNamespace) -> None:
    snap = iop.snapshot(enrollments=[iop.client(requested_start="2026-12-04")])  # a Friday
    sched = iop.placed(iop.solve(snap))["c1"]
    assert sched["start_date"] == "2026-12-07"  # the next Monday


def test_rule9_start_not_before_today(iop: SimpleNamespace) -> None:
    snap = iop.snapshot()
    snap["as_of"] = (iop.TODAY + timedelta(days=9)).isoformat()  # Wednesday 9 December
    assert iop.placed(iop.solve(snap))["c1"]["start_date"] == "2026-12-09"


def test_rule9_no_start_beyond_the_admission_horizon(iop: SimpleNamespace) -> None:
    """The only seat frees on 11 January, more than 28 days after c1 may first start (1
    December): c1 waits. With a 6-week horizon the same network seats c1 on 11 January."""
    group = iop.group(capacity=1, open_from="2026-10-01")
    snap = _with_kept_client(iop, 10, SATURDAY_NINE, group=group)
    out = iop.solve(snap)
    assert "c1" not in iop.placed(out)
    assert "groups_full" in iop.reasons(out)
    longer = SolveSettings(time_limit_s=3.0, workers=4, seed=0, admission_horizon_days=42)
    out = solve_snapshot(snap, longer)
    assert validate_output(snap, out, admission_horizon_days=42) == []
    assert iop.placed(out)["c1"]["start_date"] == _frees_on(snap).isoformat() == "2027-01-11"
    assert [f.rule for f in validate_output(snap, out)] == ["dates"]  # beyond 28 days


def test_rule9_a_start_skips_a_day_the_site_is_closed(iop: SimpleNamespace) -> None:
    """Rule 9 with rule 11: a start falls on a meeting that is not cancelled. The group meets on
    Monday 7 December; the site is closed that day, so c1 starts on Wednesday 9 December."""
    snap = iop.snapshot(enrollments=[iop.client(requested_start="2026-12-04")])
    snap["sites"][0]["closed_dates"] = ["2026-12-07"]
    sched = iop.placed(iop.solve(snap))["c1"]
    assert sched["start_date"] == "2026-12-09"
    assert date.fromisoformat(sched["end_date"]) == date(2026, 12, 9) + timedelta(weeks=8, days=-1)


def _uncovered_monday(iop: SimpleNamespace) -> dict[str, Any]:
    """k1's group meeting on Monday 7 December is cancelled for want of cover (its facilitator
    is away and nobody qualified was free: rule 11's no_cover); c1 asks to start on 4 December."""
    snap = _with_kept_client(
        iop, 10, SATURDAY_NINE, enrollments=[iop.client("c1", requested_start="2026-12-04")]
    )
    snap["schedules"][0]["cancelled"] = [
        {"date": "2026-12-07", "kind": "group", "reason": "no_cover"}
    ]
    return snap


def test_rule9_a_start_skips_a_meeting_cancelled_for_want_of_cover(iop: SimpleNamespace) -> None:
    """Rule 9 with rule 11: nobody starts on a meeting that will not take place, whether the
    site is closed or the group has no cover that day: c1 starts on Wednesday 9 December."""
    snap = _uncovered_monday(iop)
    out = iop.solve(snap)
    assert iop.placed(out)["c1"]["start_date"] == "2026-12-09"


def test_rule9_a_start_on_a_meeting_without_cover_is_refused_by_both_checkers(
    iop: SimpleNamespace, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With the uncovered meetings knocked out of the start-date rule (only closures left), the
    solver starts c1 on the uncovered Monday, and both checkers refuse that schedule."""
    from iop_scheduler.solver.problem import Problem

    from tests.independent.checker import check_findings

    monkeypatch.setattr(
        Problem, "no_start", lambda self, group: self.sites[group.site_id].closed_dates
    )
    snap = _uncovered_monday(iop)
    out = solve_snapshot(snap, iop.FAST)
    assert iop.placed(out)["c1"]["start_date"] == "2026-12-07"
    assert [(f.rule, f.message) for f in validate_output(snap, out)] == [
        ("dates", "new schedule starts on a meeting cancelled for want of cover")
    ]
    assert [f.rule for f in check_findings(snap, out)] == ["rule 9"]


def test_rule9_a_start_on_a_closed_day_is_refused_by_both_checkers(
    iop: SimpleNamespace, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With closures ignored (the start-date rule knocked out), the solver starts c1 on the
    closed Monday, and both checkers refuse that schedule."""
    from iop_scheduler.solver import instance

    from tests.independent.checker import check_findings

    real = instance.meeting_on_or_after
    monkeypatch.setattr(
        instance, "meeting_on_or_after", lambda group, day, closed=frozenset(): real(group, day)
    )
    snap = iop.snapshot(enrollments=[iop.client(requested_start="2026-12-04")])
    snap["sites"][0]["closed_dates"] = ["2026-12-07"]
    out = solve_snapshot(snap, iop.FAST)
    assert iop.placed(out)["c1"]["start_date"] == "2026-12-07"
    assert [(f.rule, f.message) for f in validate_output(snap, out)] == [
        ("dates", "new schedule starts on a day its site is closed")
    ]
    assert [f.rule for f in check_findings(snap, out)] == ["rule 9"]
