"""Each hard rule of SCHEDULING.md: a feasible case the solver places, an infeasible one it must
not. Every solve goes through ``iop.solve``, which runs the independent checker on the output."""

from __future__ import annotations

from datetime import date, timedelta
from types import SimpleNamespace


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
