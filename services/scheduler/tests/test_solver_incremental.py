"""Incremental solves, as the service runs every day: most clients already placed, a few arriving.

Each shape asserts that the solver itself answered (phase 1 neither INFEASIBLE nor replaced by
the clerk's BASELINE), that the first-fit top-up found nobody phase 1 could have placed, and that
the result reaches the LP bound, which on these instances is exact and equal to a count made by
hand (seats left x priority weight). Before ``excess_over``, the balance penalty's variables made
the first shape's phase 1 infeasible and cut the others' optimum below the bound.
"""

from __future__ import annotations

import copy
from types import SimpleNamespace
from typing import Any

import pytest
from iop_scheduler.adapters.snapshot import solve_snapshot
from iop_scheduler.solver.model import excess_over
from ortools.sat.python import cp_model

CAPACITY = 10
THERAPISTS = ("t1", "t2", "t3")


def _steady_state(
    iop: SimpleNamespace, kept: int, arriving: list[dict[str, Any]], withdrawn: int = 0
) -> dict[str, Any]:
    """One group of ``CAPACITY`` seats holding ``kept`` clients placed by an earlier solve, of
    whom ``withdrawn`` have since left (their schedules remain, their enrollments do not), and
    ``arriving`` new enrollments."""
    first = iop.snapshot(
        groups=[iop.group("g1", capacity=CAPACITY)],
        therapists=[iop.therapist(t) for t in THERAPISTS],
        enrollments=[iop.client(f"k{i}") for i in range(kept)],
    )
    placed = iop.solve(first)["scheduled"]
    assert len(placed) == kept
    later = copy.deepcopy(first)
    later["schedules"] = placed
    later["enrollments"] = later["enrollments"][withdrawn:] + arriving
    return later


def _solver_answered(out: dict[str, Any], expected_weight: int) -> dict[str, Any]:
    (part,) = out["stats"]["parts"]
    assert part["phase1_status"] in ("OPTIMAL", "FEASIBLE"), part
    assert part["status"] != "BASELINE" and out["stats"]["status"] != "BASELINE", part
    assert part["topped_up"] == 0, part
    assert part["lp_bound"] == expected_weight, part
    assert part["phase1_objective"] == expected_weight, part
    assert part["phase1_status"] == "OPTIMAL", part
    return part


def _kept_unchanged(snap: dict[str, Any], out: dict[str, Any], iop: SimpleNamespace) -> None:
    again = iop.placed(out)
    enrolled = {e["client_id"] for e in snap["enrollments"]}
    for old in snap["schedules"]:
        if old["client_id"] in enrolled:
            assert again[old["client_id"]] == old
    assert out["rescheduled"] == []


def test_group_over_half_full_seats_every_newcomer_it_can(iop: SimpleNamespace) -> None:
    arriving = [iop.client(f"n{i}") for i in range(3)]
    snap = _steady_state(iop, kept=8, arriving=arriving)
    out = iop.solve(snap)
    _solver_answered(out, expected_weight=2)  # 2 seats left, routine weight 1 each
    _kept_unchanged(snap, out, iop)
    assert len(out["scheduled"]) == CAPACITY


def test_nearly_full_group_gives_its_last_seat_to_the_most_urgent(iop: SimpleNamespace) -> None:
    arriving = [iop.client("r1"), iop.client("u1", priority="urgent"), iop.client("r2")]
    snap = _steady_state(iop, kept=9, arriving=arriving)
    out = iop.solve(snap)
    _solver_answered(out, expected_weight=3)  # one seat, urgent weight 3
    _kept_unchanged(snap, out, iop)
    assert "u1" in iop.placed(out)
    assert {w["client_id"] for w in out["waitlisted"]} == {"r1", "r2"}
    assert all("groups_full" in w["reasons"] for w in out["waitlisted"])


def test_full_group_with_a_seat_freeing_fills_it(iop: SimpleNamespace) -> None:
    arriving = [iop.client("s1", priority="step_down"), iop.client("r1")]
    snap = _steady_state(iop, kept=CAPACITY, arriving=arriving, withdrawn=1)
    out = iop.solve(snap)
    _solver_answered(out, expected_weight=2)  # the freed seat, step-down weight 2
    _kept_unchanged(snap, out, iop)
    assert "s1" in iop.placed(out)
    assert len(out["scheduled"]) == CAPACITY


def test_kept_clients_above_both_thresholds_leave_the_phase_feasible(
    iop: SimpleNamespace,
) -> None:
    """The original failure: kept load past three quarters by more than the candidates."""
    arriving = [iop.client("n1")]
    snap = _steady_state(iop, kept=9, arriving=arriving)
    out = solve_snapshot(snap, iop.FAST)
    (part,) = out["stats"]["parts"]
    assert part["phase1_status"] == "OPTIMAL"
    assert "n1" in iop.placed(out)


@pytest.mark.parametrize(("already", "threshold"), [(0, 5), (4, 5), (5, 5), (9, 5), (9, 0)])
def test_excess_over_admits_every_choice_and_prices_only_the_marginal_excess(
    already: int, threshold: int
) -> None:
    """Every subset of ``chosen`` stays feasible, and the minimal penalty is exactly the number
    of chosen places beyond what the threshold leaves."""
    for picked in range(4):
        model = cp_model.CpModel()
        chosen = [model.new_bool_var(f"c{i}") for i in range(3)]
        over = excess_over(model, chosen, already, threshold, "over")
        model.add(sum(chosen) == picked)
        model.minimize(over)
        solver = cp_model.CpSolver()
        assert solver.solve(model) == cp_model.OPTIMAL
        assert solver.value(over) == max(0, picked - max(0, threshold - already))
