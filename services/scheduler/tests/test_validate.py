"""The independent checker flags hand-broken outputs, naming who is involved."""

from __future__ import annotations

import copy
from types import SimpleNamespace
from typing import Any

import pytest
from iop_scheduler.solver import validate_output


@pytest.fixture
def solved(iop: SimpleNamespace) -> tuple[dict[str, Any], dict[str, Any]]:
    snap = iop.snapshot(
        sites=[iop.site("s1"), iop.site("s2")],
        therapists=[iop.therapist("t1", site_ids=["s1", "s2"]), iop.therapist("t2")],
        enrollments=[iop.client("c1"), iop.client("c2")],
    )
    return snap, iop.solve(snap)


def _rules(snap: dict[str, Any], out: dict[str, Any]) -> set[str]:
    return {f.rule for f in validate_output(snap, out)}


def test_clean_output_has_no_findings(solved: tuple[dict[str, Any], dict[str, Any]]) -> None:
    snap, out = solved
    assert validate_output(snap, out) == []


def test_missing_and_duplicate_clients(solved: tuple[dict[str, Any], dict[str, Any]]) -> None:
    snap, out = solved
    broken = copy.deepcopy(out)
    broken["scheduled"] = [broken["scheduled"][0], broken["scheduled"][0]]
    findings = validate_output(snap, broken)
    assert {f.rule for f in findings} >= {"coverage"}
    assert {f.client_id for f in findings if f.rule == "coverage"} == {"c1", "c2"}


def test_capacity(solved: tuple[dict[str, Any], dict[str, Any]]) -> None:
    snap, out = solved
    small = copy.deepcopy(snap)
    small["groups"][0]["capacity"] = 1
    findings = [f for f in validate_output(small, out) if f.rule == "capacity"]
    assert findings and findings[0].group_id == "g1"


def test_client_overlap_and_availability(solved: tuple[dict[str, Any], dict[str, Any]]) -> None:
    snap, out = solved
    broken = copy.deepcopy(out)
    broken["scheduled"][0]["individual"].update(day="mon", start="18:00", end="19:00")
    assert {"client_overlap"} <= _rules(snap, broken)
    broken["scheduled"][0]["individual"].update(day="fri", start="18:00", end="19:00")
    assert "time" in _rules(snap, broken)


def test_therapist_overlap_and_travel(solved: tuple[dict[str, Any], dict[str, Any]]) -> None:
    snap, out = solved
    broken = copy.deepcopy(out)
    a, b = broken["scheduled"]
    for s in (a, b):
        s["individual"].update(therapist_id="t1", day="tue", delivery="in_person", site_id="s1")
    a["individual"].update(start="18:00", end="19:00")
    b["individual"].update(start="18:30", end="19:30")
    assert "therapist_overlap" in _rules(snap, broken)
    both = copy.deepcopy(snap)
    for c in both["enrollments"]:
        c["preferred_site_ids"] = ["s1", "s2"]
    b["individual"].update(start="19:15", end="20:15", site_id="s2")
    rules = _rules(both, broken)
    assert "therapist_travel" in rules and "therapist_overlap" not in rules


def test_wrong_dates_and_hours(solved: tuple[dict[str, Any], dict[str, Any]]) -> None:
    snap, out = solved
    broken = copy.deepcopy(out)
    broken["scheduled"][0]["start_date"] = "2026-11-30"
    broken["scheduled"][1]["end_date"] = "2027-06-01"
    assert "dates" in _rules(snap, broken)
    short = copy.deepcopy(snap)
    short["groups"][0]["sessions"] = short["groups"][0]["sessions"][:2]
    assert "weekly_hours" in _rules(short, out)


def test_credentials_and_caseload(solved: tuple[dict[str, Any], dict[str, Any]]) -> None:
    snap, out = solved
    roster = copy.deepcopy(snap)
    for t in roster["therapists"]:
        t["credentials"] = ["CADC"]
        t["max_caseload"] = 0
    findings = validate_output(roster, out)
    assert {"credentials", "caseload"} <= {f.rule for f in findings}
    assert all(f.therapist_id for f in findings if f.rule == "caseload")


def test_two_facilitators_in_one_group(solved: tuple[dict[str, Any], dict[str, Any]]) -> None:
    snap, out = solved
    broken = copy.deepcopy(out)
    fac = broken["scheduled"][0]["group"]["facilitator_id"]
    broken["scheduled"][1]["group"]["facilitator_id"] = "t2" if fac == "t1" else "t1"
    assert "facilitation" in _rules(snap, broken)


def test_untrue_waitlist_reason_and_personal_data(
    iop: SimpleNamespace, solved: tuple[dict[str, Any], dict[str, Any]]
) -> None:
    snap, out = solved
    broken = copy.deepcopy(out)
    gone = broken["scheduled"].pop()
    broken["waitlisted"].append({
        "client_id": gone["client_id"], "region_id": "r1",
        "reasons": ["no_group_in_availability"], "detail": "ana@example.org",
    })
    assert {"waitlist", "personal_data"} <= _rules(snap, broken)
