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
    broken["waitlisted"].append(
        {
            "client_id": gone["client_id"],
            "region_id": "r1",
            "reasons": ["no_group_in_availability"],
            "detail": "ana@example.org",
        }
    )
    assert {"waitlist", "personal_data"} <= _rules(snap, broken)


def _messages(snap: dict[str, Any], out: dict[str, Any], rule: str) -> list[str]:
    return [f"{f.client_id} {f.message}" for f in validate_output(snap, out) if f.rule == rule]


def test_availability_entries_are_not_joined(
    iop: SimpleNamespace, solved: tuple[dict[str, Any], dict[str, Any]]
) -> None:
    """D1: a session lies inside ONE availability entry; touching entries are not joined."""
    snap, out = solved
    split = copy.deepcopy(snap)
    for c in split["enrollments"]:
        c["availability"] = [a for a in c["availability"] if a["day"] != "thu"] + [
            {"day": "thu", "start": "17:00", "end": "19:00"},
            {"day": "thu", "start": "19:00", "end": "21:30"},
        ]
    assert {
        "c1 group session outside the client's availability",
        "c2 group session outside the client's availability",
    } <= set(_messages(split, out, "time"))
    # The same for a therapist's availability (facilitator and individual therapist).
    split = copy.deepcopy(snap)
    for t in split["therapists"]:
        t["availability"] = [a for a in t["availability"] if a["day"] != "thu"] + [
            {"day": "thu", "start": "17:00", "end": "19:00"},
            {"day": "thu", "start": "19:00", "end": "21:30"},
        ]
    assert "therapist_availability" in _rules(split, out)


def test_individual_session_length(solved: tuple[dict[str, Any], dict[str, Any]]) -> None:
    """D2: the individual session lasts exactly the configured length (60 minutes default)."""
    snap, out = solved
    assert validate_output(snap, out, individual_minutes=60) == []
    assert {f.rule for f in validate_output(snap, out, individual_minutes=90)} == {"individual"}
    broken = copy.deepcopy(out)
    ind = broken["scheduled"][0]["individual"]
    start = int(ind["start"][:2]) * 60 + int(ind["start"][3:])
    ind["end"] = f"{(start + 30) // 60:02d}:{(start + 30) % 60:02d}"
    broken["scheduled"][0]["weekly_hours"] -= 0.5
    messages = _messages(snap, broken, "individual")
    assert messages == [
        f"{broken['scheduled'][0]['client_id']} individual session lasts 30 minutes, not 60"
    ]


def test_region_and_timezone_match(solved: tuple[dict[str, Any], dict[str, Any]]) -> None:
    """D2: region_id is the enrollment's; timezone is the group's site's."""
    snap, out = solved
    broken = copy.deepcopy(out)
    broken["scheduled"][0]["region_id"] = "r2"
    broken["scheduled"][1]["timezone"] = "America/Chicago"
    messages = _messages(snap, broken, "payload")
    first, second = (s["client_id"] for s in broken["scheduled"])
    assert any(m.startswith(f"{first} region_id 'r2'") for m in messages), messages
    assert any(m.startswith(f"{second} timezone 'America/Chicago'") for m in messages), messages
    assert len(messages) == 2


def test_weekly_hours_must_be_group_plus_individual(
    solved: tuple[dict[str, Any], dict[str, Any]],
) -> None:
    """D2: weekly_hours = group hours + individual hours; missing is a finding too."""
    snap, out = solved
    assert out["scheduled"][0]["weekly_hours"] == 10.0  # 3 x 3 h + 1 h
    broken = copy.deepcopy(out)
    broken["scheduled"][0]["weekly_hours"] = 9.0
    del broken["scheduled"][1]["weekly_hours"]
    assert len(_messages(snap, broken, "payload")) == 2


def _moved(snap: dict[str, Any], out: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The solved schedules as existing ones, and an output where the first client's individual
    session moved (to another valid hour), so its schedule changed."""
    later = copy.deepcopy(snap)
    later["schedules"] = copy.deepcopy(out["scheduled"])
    moved = copy.deepcopy(out)
    moved["stats"] = {}
    ind = moved["scheduled"][0]["individual"]
    other = {"day": "sat", "start": "12:00", "end": "13:00"}
    if {k: ind[k] for k in other} == other:
        other = {"day": "sat", "start": "11:00", "end": "12:00"}
    ind.update(other)
    moved["rescheduled"] = [moved["scheduled"][0]["client_id"]]
    return later, moved


def test_moved_schedule_version_is_exactly_old_plus_one(
    solved: tuple[dict[str, Any], dict[str, Any]],
) -> None:
    """D2: a rescheduled schedule's version is old + 1, neither equal nor skipping."""
    snap, out = solved
    later, moved = _moved(snap, out)
    cid = moved["scheduled"][0]["client_id"]
    for version, bad in ((1, True), (2, False), (3, True)):
        moved["scheduled"][0]["schedule_version"] = version
        versions = [m for m in _messages(later, moved, "stability") if "version" in m]
        assert bool(versions) == bad, (version, versions)
        if bad:
            assert versions == [f"{cid} moved schedule has version {version}, not 2"]


def test_rescheduled_must_name_a_changed_schedule(
    solved: tuple[dict[str, Any], dict[str, Any]],
) -> None:
    """D2: a client in ``rescheduled`` whose schedule did not change (or who had none) is a
    finding."""
    snap, out = solved
    later = copy.deepcopy(snap)
    later["schedules"] = copy.deepcopy(out["scheduled"])
    assert validate_output(later, out) == []
    cid = out["scheduled"][0]["client_id"]
    listed = dict(copy.deepcopy(out), rescheduled=[cid])
    assert _messages(later, listed, "stability") == [
        f"{cid} listed in rescheduled, yet its schedule did not change"
    ]
    bumped = copy.deepcopy(listed)
    bumped["scheduled"][0]["schedule_version"] += 1  # a version bump alone is no change
    assert f"{cid} listed in rescheduled, yet its schedule did not change" in _messages(
        later, bumped, "stability"
    )
    fresh = dict(copy.deepcopy(out), rescheduled=[cid])  # no existing schedule at all
    assert _messages(snap, fresh, "stability") == [
        f"{cid} listed in rescheduled without both an existing and a new schedule"
    ]
    _, moved = _moved(snap, out)
    moved["scheduled"][0]["schedule_version"] = 2
    assert not [m for m in _messages(later, moved, "stability") if "rescheduled" in m]


def test_new_schedule_version(solved: tuple[dict[str, Any], dict[str, Any]]) -> None:
    """D3: offline, a new schedule is version 1; a snapshot's ``schedule_versions`` (highest
    version consumers have seen) raises that to one above it."""
    snap, out = solved
    cid = out["scheduled"][0]["client_id"]
    assert all(s["schedule_version"] == 1 for s in out["scheduled"])
    seen = dict(copy.deepcopy(snap), schedule_versions={cid: 4})
    assert _messages(seen, out, "payload") == [f"{cid} a new schedule's version is 1, not 5"]
    raised = copy.deepcopy(out)
    raised["scheduled"][0]["schedule_version"] = 5
    assert validate_output(seen, raised) == []
    assert _messages(snap, raised, "payload") == [f"{cid} a new schedule's version is 5, not 1"]
