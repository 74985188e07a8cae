"""Determinism of the default solve, and the LP relaxation behind its hint and bound."""

from __future__ import annotations

import time
from typing import Any

from iop_scheduler.adapters.snapshot import output, solve_snapshot
from iop_scheduler.solver import Problem, SolveSettings, generate, validate_output
from iop_scheduler.solver.relaxation import lp_relaxation
from iop_scheduler.solver.solve import part_budgets, solve_part
from ortools.sat.python import cp_model

# A small deterministic-time budget and a wall-clock cap far above what it needs, so that the
# deterministic budget (not the clock, which would make the run depend on machine load) is
# what ends the search even on a busy machine.
REPRODUCIBLE = SolveSettings(
    time_limit_s=20.0, workers=4, seed=3, deterministic_time_per_second=0.05
)


def test_same_seed_and_workers_give_identical_output() -> None:
    # Load 1.3: more clients than seats, so both phases have real choices to make.
    snap = generate(7, regions=1, sites_per_region=2, load=1.3)
    first = solve_snapshot(snap, REPRODUCIBLE)
    second = solve_snapshot(snap, REPRODUCIBLE)
    for out in (first, second):
        assert validate_output(snap, out) == []
        part = out["stats"]["parts"][0]
        assert part["phase1_stopped_by"] != "wall_clock"
        assert part.get("phase2_stopped_by") != "wall_clock"
    assert first["scheduled"] == second["scheduled"]
    assert first["waitlisted"] == second["waitlisted"]
    assert first["stats"]["objective"] == second["stats"]["objective"]
    assert first["stats"]["penalty"] == second["stats"]["penalty"]


def test_default_settings_are_deterministic() -> None:
    assert SolveSettings().deterministic


def test_parts_side_by_side_get_headroom_in_their_deterministic_budget() -> None:
    """Ten regions on 2 CPUs run in 5 waves of 2: each part's clock-free budget is its share of
    the wave over the 2 CPUs, times ``parallel_headroom``, so that the slowest region's phase 1
    stops on deterministic time well before the wall-clock cap (which would make the run
    depend on machine load). One part alone keeps its whole share."""
    settings = SolveSettings(time_limit_s=60.0)
    processes, seconds, nominal = part_budgets(settings, parts=10, split_s=1.0, cpus=2)
    assert processes == 2
    assert abs(seconds - ((60.0 - 1.0) / 5 - 0.3)) < 1e-9
    assert abs(nominal - (60.0 / 5 - 0.3) / 2 * settings.parallel_headroom) < 1e-9
    assert settings.parallel_headroom <= 0.6
    # Deterministic time per part; measured ten regions on 2 vCPUs: <= 6.9 s per unit.
    phase1_dtime = nominal * 0.95 * settings.phase1_share * settings.deterministic_time_per_second
    assert 1.3 * phase1_dtime * 6.9 < 0.8 * (seconds * 0.95 - 2.2)
    processes, seconds, nominal = part_budgets(settings, parts=1, split_s=0.2, cpus=2)
    assert (processes, nominal) == (1, 60.0 - 0.3)
    # Without clock readings: the same nominal budget whatever the split took.
    assert part_budgets(settings, 10, 0.1, 2)[2] == part_budgets(settings, 10, 5.0, 2)[2]


def test_lp_bound_is_the_floor_of_the_fractional_optimum() -> None:
    # An odd cycle: the LP takes every variable at 1/2 (value 1.5); integers reach only 1.
    model = cp_model.CpModel()
    x, y, z = (model.new_bool_var(n) for n in "xyz")
    model.add(x + y <= 1)
    model.add(y + z <= 1)
    model.add(x + z <= 1)
    model.maximize(x + y + z)
    relaxation = lp_relaxation(model)
    assert relaxation is not None
    assert relaxation.upper_bound == 1
    assert abs(sum(relaxation.values) - 1.5) < 1e-6


def test_lp_bound_never_cuts_the_optimum() -> None:
    # Weighted: z alone (3) beats x + y (2); the bound must not fall below that optimum.
    model = cp_model.CpModel()
    x, y, z = (model.new_bool_var(n) for n in "xyz")
    model.add(x + z <= 1)
    model.add(y + z <= 1)
    model.maximize(x + y + 3 * z)
    relaxation = lp_relaxation(model)
    assert relaxation is not None
    solver = cp_model.CpSolver()
    assert solver.solve(model) == cp_model.OPTIMAL
    assert relaxation.upper_bound >= solver.objective_value == 3


def test_part_wall_cap_stretches_within_the_deadline() -> None:
    """The wall-clock safety cap of a part stretches to wall_stretch x its share when the
    snapshot's deadline leaves room, and never runs past the deadline; the deterministic
    budget (and so the schedule) does not depend on either."""
    snap = generate(7, regions=1, sites_per_region=2, load=1.3)
    settings = SolveSettings(
        time_limit_s=20.0, workers=2, seed=3, deterministic_time_per_second=0.02
    )
    problem = Problem.parse(snap)

    def part(deadline_in: float | None) -> dict[str, Any]:
        deadline = None if deadline_in is None else time.time() + deadline_in
        return output(snap, problem, solve_part(problem, settings, 4.0, 4.0, deadline=deadline))

    roomy, tight, plain = part(60), part(2.0), part(None)
    for out in (roomy, tight, plain):
        assert validate_output(snap, out) == []
    caps = {
        name: out["stats"]["phase1_cap_s"]
        for name, out in (("roomy", roomy), ("tight", tight), ("plain", plain))
    }
    assert caps["roomy"] > 1.3 * caps["plain"], caps
    assert caps["tight"] < 2.0 * 0.95 * settings.phase1_share, caps
    assert roomy["scheduled"] == plain["scheduled"]
