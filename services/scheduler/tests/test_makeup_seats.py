"""Rules 4 and 12 in the solver: a granted make-up holds one seat of its group on its date, so
every later placement (the CP-SAT model, the first-fit clerk, the waitlist reasons, the weighing
of an extension) counts it beside the clients whose programme covers that date, and a make-up
never displaces a kept client. Every output goes through both rule checkers, which count the
snapshot's make-ups as seats too.

Today is conftest's TODAY (Monday 30 November); g1 meets mon/wed/thu, c1 asks to start on
Tuesday 1 December, so without make-ups c1 starts on Wednesday 2 December."""

from __future__ import annotations

from datetime import date, timedelta
from types import SimpleNamespace
from typing import Any

import pytest
from iop_scheduler.solver import Problem, extension_reasons, validate_output
from iop_scheduler.solver.dates import DateRange
from iop_scheduler.solver.instance import build_instance

from tests.independent.checker import check

Doc = dict[str, Any]


def granted(group_id: str, day: date, client_id: str = "c9") -> Doc:
    """A make-up granted earlier, as ``client.makeup_scheduled`` carries it."""
    return {
        "client_id": client_id,
        "region_id": "r1",
        "week": f"{day.isocalendar()[0]}-W{day.isocalendar()[1]:02d}",
        "date": day.isoformat(),
        "group_id": group_id,
        "site_id": "s1",
        "delivery": "in_person",
        "start": "18:00",
        "end": "21:00",
        "facilitator_id": "t1",
        "timezone": "America/New_York",
    }


def one_seat(iop: SimpleNamespace, *makeup_days: date) -> Doc:
    snap: Doc = iop.snapshot(groups=[iop.group("g1", capacity=1)])
    snap["makeups"] = [granted("g1", day) for day in makeup_days]
    return snap


def both_checkers(snap: Doc, out: Doc) -> None:
    assert [str(f) for f in validate_output(snap, out)] == []
    assert check(snap, out) == []


@pytest.mark.parametrize("solver", ["solve", "baseline"])
def test_a_make_up_holds_the_last_seat_on_its_date_only(iop: SimpleNamespace, solver: str) -> None:
    wednesday, thursday = iop.TODAY + timedelta(days=2), iop.TODAY + timedelta(days=3)
    free = getattr(iop, solver)(one_seat(iop))
    assert iop.placed(free)["c1"]["start_date"] == wednesday.isoformat()
    snap = one_seat(iop, wednesday)
    out = getattr(iop, solver)(snap)
    # The seat is c1's from the first meeting day after the make-up.
    assert iop.placed(out)["c1"]["start_date"] == thursday.isoformat()
    both_checkers(snap, out)


def test_a_make_up_inside_every_admissible_programme_waitlists_for_groups_full(
    iop: SimpleNamespace,
) -> None:
    """Every start within the 28-day horizon gives an 8-week programme that covers a Thursday
    six weeks from now, whose one seat a make-up holds."""
    thursday = iop.TODAY + timedelta(weeks=5, days=3)
    snap = one_seat(iop, thursday)
    out = iop.solve(snap)
    assert iop.reasons(out) == ["groups_full"]
    both_checkers(snap, out)


def test_a_make_up_before_today_holds_nothing(iop: SimpleNamespace) -> None:
    snap = one_seat(iop, iop.TODAY - timedelta(days=4))  # last Thursday
    out = iop.solve(snap)
    assert iop.placed(out)["c1"]["start_date"] == (iop.TODAY + timedelta(days=2)).isoformat()
    both_checkers(snap, out)


def test_a_make_up_never_displaces_a_kept_client(iop: SimpleNamespace) -> None:
    """Were the make-up counted first, the kept client would no longer fit the one seat."""
    client = iop.client("c1")
    group = iop.group("g1", capacity=1)
    individual = {"therapist_id": "t1", "day": "sat", "start": "09:00", "end": "10:00"}
    snap = one_seat(iop, iop.TODAY + timedelta(days=9))  # a Wednesday of c1's programme
    snap["schedules"] = [iop.kept(client, group, "t1", individual, iop.TODAY + timedelta(days=2))]
    inst = build_instance(Problem.parse(snap))
    assert set(inst.kept) == {"c1"} and not inst.displaced
    kept = inst.kept["c1"]
    # Both hold the seat that Wednesday: the make-up is counted, after the kept client.
    assert inst.ledger.seats_left("g1", DateRange(kept.start_date, kept.end_date)) == -1


def test_an_extension_counts_the_make_ups_of_the_added_weeks(iop: SimpleNamespace) -> None:
    """c1's 8 weeks grow to 12; a make-up in the tenth week holds g1's one seat."""
    start = iop.TODAY + timedelta(days=2)
    client = iop.client("c1", program_weeks=12)
    group = iop.group("g1", capacity=1)
    individual = {"therapist_id": "t1", "day": "sat", "start": "09:00", "end": "10:00"}
    snap: Doc = iop.snapshot(groups=[group], enrollments=[client])
    snap["schedules"] = [iop.kept(client, group, "t1", individual, start)]
    snap["makeups"] = [granted("g1", start + timedelta(weeks=9))]
    assert extension_reasons(Problem.parse(snap), "c1") == ["groups_full"]
    snap["makeups"] = [granted("g1", start + timedelta(weeks=13))]  # after the programme
    assert extension_reasons(Problem.parse(snap), "c1") == []


def test_a_make_up_counts_in_its_own_region_only(iop: SimpleNamespace) -> None:
    """Two regions solved apart: r2's make-up holds r2's seat and leaves r1's alone."""
    wednesday, thursday = iop.TODAY + timedelta(days=2), iop.TODAY + timedelta(days=3)
    snap: Doc = iop.snapshot(
        sites=[iop.site("s1"), iop.site("s2", region="r2")],
        groups=[iop.group("g1", capacity=1), iop.group("g2", "s2", capacity=1)],
        therapists=[iop.therapist("t1"), iop.therapist("t2", site_ids=["s2"])],
        enrollments=[iop.client("c1"), iop.client("c2", region_id="r2", preferred_site_ids=["s2"])],
    )
    snap["makeups"] = [{**granted("g2", wednesday), "region_id": "r2", "site_id": "s2"}]
    out = iop.solve(snap)
    starts = {c: s["start_date"] for c, s in iop.placed(out).items()}
    assert starts == {"c1": wednesday.isoformat(), "c2": thursday.isoformat()}
    both_checkers(snap, out)
