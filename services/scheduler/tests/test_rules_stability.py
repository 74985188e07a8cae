"""Rule 10, stability: kept schedules stay exactly, forced changes are re-placed and versioned."""

from __future__ import annotations

import copy
from collections.abc import Callable
from datetime import date
from types import SimpleNamespace
from typing import Any

import pytest
from iop_scheduler.solver import validate_output


def _placed_network(iop: SimpleNamespace) -> tuple[dict[str, Any], dict[str, Any]]:
    snap = iop.snapshot(
        therapists=[iop.therapist("t1"), iop.therapist("t2")],
        enrollments=[iop.client(f"c{i}") for i in range(4)],
    )
    return snap, iop.solve(snap)


def test_new_enrollments_never_move_existing_clients(iop: SimpleNamespace) -> None:
    snap, first = _placed_network(iop)
    assert len(first["scheduled"]) == 4
    later = copy.deepcopy(snap)
    later["schedules"] = first["scheduled"]
    later["enrollments"] += [iop.client(f"n{i}", priority="urgent") for i in range(3)]
    out = iop.solve(later)
    again = iop.placed(out)
    for old in first["scheduled"]:
        assert again[old["client_id"]] == old
    assert out["rescheduled"] == []
    assert all(again[f"n{i}"]["schedule_version"] == 1 for i in range(3))


def test_retired_therapist_forces_a_versioned_reschedule(iop: SimpleNamespace) -> None:
    snap, first = _placed_network(iop)
    retired = first["scheduled"][0]["group"]["facilitator_id"]
    moved = {
        s["client_id"]
        for s in first["scheduled"]
        if retired in (s["individual"]["therapist_id"], s["group"]["facilitator_id"])
    }
    assert len(moved) == 4  # everyone shares the group, so everyone loses its facilitator
    later = copy.deepcopy(snap)
    later["schedules"] = first["scheduled"]
    later["therapists"] = [t for t in later["therapists"] if t["therapist_id"] != retired]
    later["therapists"].append(iop.therapist("t3"))
    out = iop.solve(later)
    assert set(out["rescheduled"]) == moved
    again = iop.placed(out)
    for old in first["scheduled"]:
        new = again[old["client_id"]]
        if old["client_id"] in moved:
            assert new["schedule_version"] == old["schedule_version"] + 1
            assert retired not in (
                new["individual"]["therapist_id"],
                new["group"]["facilitator_id"],
            )
            assert new["start_date"] == old["start_date"]  # programme does not restart
        else:
            assert new == old


def test_withdrawn_client_frees_the_seat(iop: SimpleNamespace) -> None:
    snap = iop.snapshot(groups=[iop.group(capacity=1)])
    first = iop.solve(snap)
    later = copy.deepcopy(snap)
    later["schedules"] = first["scheduled"]
    later["enrollments"] = [iop.client("c2")]  # c1 withdrew: no enrollment, schedule dropped
    out = iop.solve(later)
    assert set(iop.placed(out)) == {"c2"}


def test_roster_change_that_breaks_a_rule_moves_the_client(iop: SimpleNamespace) -> None:
    snap = iop.snapshot(groups=[iop.group("g1"), iop.group("g2")])
    first = iop.solve(snap)
    gid = first["scheduled"][0]["group"]["group_id"]
    later = copy.deepcopy(snap)
    later["schedules"] = first["scheduled"]
    for g in later["groups"]:
        if g["group_id"] == gid:
            g["track"] = "substance_use"  # the group changed track: the client no longer fits
    out = iop.solve(later)
    assert out["rescheduled"] == ["c1"]
    assert iop.placed(out)["c1"]["group"]["group_id"] != gid


def test_moving_a_valid_schedule_is_a_finding(iop: SimpleNamespace) -> None:
    from iop_scheduler.solver import validate_output

    snap, first = _placed_network(iop)
    later = copy.deepcopy(snap)
    later["schedules"] = first["scheduled"]
    tampered = copy.deepcopy(first)
    tampered["scheduled"][0]["individual"]["start"] = "08:00"
    tampered["scheduled"][0]["individual"]["end"] = "09:00"
    tampered["scheduled"][0]["individual"]["day"] = "sat"
    rules = {f.rule for f in validate_output(later, tampered)}
    assert "stability" in rules


def _longer_individual(s: dict[str, Any]) -> None:
    end = s["individual"]["end"]
    s["individual"]["end"] = f"{int(end[:2]) + 1:02d}{end[2:]}"
    s["weekly_hours"] += 1


@pytest.mark.parametrize(
    "spoil",
    [
        pytest.param(_longer_individual, id="individual-not-60-min"),
        pytest.param(lambda s: s.update(timezone="America/Chicago"), id="timezone"),
        pytest.param(lambda s: s.update(region_id="r9"), id="region"),
        pytest.param(lambda s: s.update(weekly_hours=s["weekly_hours"] + 1), id="weekly-hours"),
    ],
)
def test_existing_schedule_the_checker_rejects_is_redone(
    iop: SimpleNamespace, spoil: Callable[[dict[str, Any]], None]
) -> None:
    """An existing schedule whose payload the checker rejects (another individual length,
    region, time zone or weekly hours) is not echoed: it is redone, version + 1, and listed in
    ``rescheduled``; the checker (run by iop.solve) accepts the result."""
    snap, first = _placed_network(iop)
    later = copy.deepcopy(snap)
    later["schedules"] = copy.deepcopy(first["scheduled"])
    bad = later["schedules"][0]
    spoil(bad)
    assert validate_output(dict(snap, schedules=[]), {"scheduled": [bad]}) != []
    out = iop.solve(later)
    new = iop.placed(out)[bad["client_id"]]
    assert out["rescheduled"] == [bad["client_id"]]
    assert new["schedule_version"] == bad["schedule_version"] + 1
    assert new["region_id"] == "r1" and new["timezone"] == "America/New_York"
    assert new["weekly_hours"] == 10.0
    for old in first["scheduled"][1:]:
        assert iop.placed(out)[old["client_id"]] == old


def test_schedule_versions_raise_a_new_clients_version(iop: SimpleNamespace) -> None:
    """D3: a client placed again after ``client.unscheduled`` must get a version above what
    consumers saw; the snapshot's ``schedule_versions`` carries it and the solver honours it
    (and, absent, a new schedule is version 1)."""
    snap = iop.snapshot(enrollments=[iop.client("c1"), iop.client("c2")])
    snap["schedule_versions"] = {"c1": 3}
    out = iop.solve(snap)
    assert iop.placed(out)["c1"]["schedule_version"] == 4
    assert iop.placed(out)["c2"]["schedule_version"] == 1
    assert [f.rule for f in validate_output(dict(snap, schedule_versions={}), out)] == ["payload"]


def test_an_extension_that_would_take_a_later_clients_seat_is_declined(
    iop: SimpleNamespace,
) -> None:
    """Rules 4 and 10 with dates: capacity 1, a's 6 weeks end on Tuesday 12 January and b,
    placed by an earlier solve, takes the seat from Wednesday the 13th. Lengthening a to 8 weeks
    would need b's seat on the weeks they then share: declined (groups_full), and b stays; 6
    weeks, as placed, stand."""
    from iop_scheduler.solver import Problem, extension_reasons

    group = iop.group(capacity=1)
    a = iop.client("a", program_weeks=6)
    b = iop.client("b", requested_start="2027-01-13")
    hour = {"therapist_id": "t1", "day": "sat", "start": "09:00", "end": "10:00"}
    later = {**hour, "start": "10:00", "end": "11:00"}
    placed = [
        iop.kept(a, group, "t1", hour, date(2026, 12, 2)),
        iop.kept(b, group, "t1", later, date(2027, 1, 13)),
    ]
    snap = iop.snapshot(groups=[group], enrollments=[a, b], schedules=placed)
    assert extension_reasons(Problem.parse(snap), "a") == []
    out = iop.solve(snap)
    assert [s for s in out["scheduled"]] == placed  # both kept: they share no date
    a["program_weeks"] = 8
    lengthened = iop.kept(a, group, "t1", hour, date(2026, 12, 2))
    extended = iop.snapshot(groups=[group], enrollments=[a, b], schedules=[lengthened, placed[1]])
    assert extension_reasons(Problem.parse(extended), "a") == ["groups_full"]
