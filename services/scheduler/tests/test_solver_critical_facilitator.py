"""The lowest soft goal (with goal 6, balanced load): do not give a group, as facilitator, the
only therapist who could facilitate another group that has no clients yet, so that clients
arriving for that group in a later batch can still be placed."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from iop_scheduler.solver import Problem
from iop_scheduler.solver.instance import build_instance
from iop_scheduler.solver.model import PlacementModel
from ortools.sat.python import cp_model


def _network(iop: SimpleNamespace, **t1: Any) -> dict[str, Any]:
    """Groups gA (English) and gB (Spanish) meet at the same times; t1 speaks both languages,
    t2 only English, so t1 is gB's only possible facilitator. Only gA's client enrolls."""
    return iop.snapshot(
        groups=[iop.group("gA"), iop.group("gB", language="es")],
        therapists=[iop.therapist("t1", **t1), iop.therapist("t2", languages=["en"])],
        enrollments=[iop.client("c1")],
    )


def _ranked_penalty_with(snap: dict[str, Any], facilitator: str) -> int:
    """The optimum of soft goals 2-6 alone, c1 placed, gA facilitated by ``facilitator``."""
    pm = PlacementModel.build(build_instance(Problem.parse(snap)))
    pm.model.add(pm.placed["c1"] == 1)
    pm.model.add(pm.f["gA", facilitator] == 1)
    pm.model.minimize(pm.ranked_penalty())
    solver = cp_model.CpSolver()
    solver.parameters.num_workers = 1
    assert solver.solve(pm.model) == cp_model.OPTIMAL
    return round(solver.objective_value)


def test_group_avoids_the_only_facilitator_of_an_unstaffed_group(iop: SimpleNamespace) -> None:
    snap = _network(iop)
    inst = build_instance(Problem.parse(snap))
    assert inst.facilitators["gB"] == ("t1",)
    assert inst.critical == frozenset({("gA", "t1")})
    # Without the new goal both facilitators are equally good (so the test exercises it) ...
    assert _ranked_penalty_with(snap, "t1") == _ranked_penalty_with(snap, "t2")
    # ... with it, gA takes t2 and the checker (run by iop.solve) finds nothing.
    out = iop.solve(snap)
    assert iop.placed(out)["c1"]["group"]["facilitator_id"] == "t2"
    # A later batch: gB's first client arrives with c1's schedule fixed, and gB can run.
    later = dict(snap)
    later["schedules"] = out["scheduled"]
    later["enrollments"] = [*snap["enrollments"], iop.client("c2", language="es")]
    placed = iop.placed(iop.solve(later))
    assert placed["c2"]["group"]["group_id"] == "gB"
    assert placed["c2"]["group"]["facilitator_id"] == "t1"


def test_critical_when_both_groups_exceed_the_hours_left(iop: SimpleNamespace) -> None:
    """No overlap, but t1 has hours for only one of the two groups (9 h each)."""
    snap = _network(iop, max_weekly_hours=12)
    snap["groups"][1]["sessions"] = [
        {"day": "tue", "start": "18:00", "end": "21:00"},
        {"day": "sat", "start": "09:00", "end": "15:00"},
    ]
    assert build_instance(Problem.parse(snap)).critical == frozenset({("gA", "t1")})
    snap["therapists"][0]["max_weekly_hours"] = 30
    assert build_instance(Problem.parse(snap)).critical == frozenset()


def test_no_critical_choice_leaves_the_objective_unchanged(iop: SimpleNamespace) -> None:
    snap = _network(iop)
    snap["therapists"][1]["languages"] = ["en", "es"]  # gB has two options now
    pm = PlacementModel.build(build_instance(Problem.parse(snap)))
    assert pm.inst.critical == frozenset()
    assert pm.critical_scale() == 1
