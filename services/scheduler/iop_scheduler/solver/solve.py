"""Solve a problem: split it into independent regions, solve each, assemble the result.

Per region: build the instance (kept schedules fixed), run the first-fit clerk, build the model,
solve its LP relaxation (relaxation.py) and round it into a complete schedule, then CP-SAT in
two lexicographic phases hinted with the better of the rounded and the clerk's schedules (so it
is never worse than the clerk):
  1. maximise weighted placements (soft goal 1) alone, which gives a clean proven bound (the
     LP's exact dual bound is added as a redundant constraint, so it is proven at once);
  2. keep that many weighted placements and minimise soft goals 2-6.
Whatever is still unplaced is offered first-fit on top of the result, then waitlisted with true
reasons. Regions couple only through therapists who work in several of them, so regions linked
that way are solved together; independent ones run in parallel processes.

Determinism (the default): CP-SAT's parallel portfolio shares solutions between threads as they
come, so runs that stop on a wall-clock limit differ. ``deterministic=True`` interleaves the
workers' tasks in fixed batches and stops each phase on ``max_deterministic_time``, derived from
the settings alone (``time_limit_s`` x ``deterministic_time_per_second``, shared out without
reading a clock), so the answer is the same for a given problem, seed, worker count and number
of parallel parts per wave (``processes``, default the CPU count, matters only for problems
with several independent parts; parts run side by side get ``parallel_headroom`` of their
share, so that the slowest of them still stops on deterministic time). ``time_limit_s`` still
caps the wall clock as a safety stop; ``deterministic_time_per_second`` is calibrated so that
on the benchmark machine (2 vCPUs) the deterministic budget, not that cap, ends the search;
stats record which one did (``phase1_stopped_by``). ``deterministic=False`` is the
free-running portfolio on wall-clock limits. Everything around the solver (parsing, options,
LP, rounding, clerk, top-up, reasons) is deterministic.
"""

from __future__ import annotations

import multiprocessing
import os
import time
from collections.abc import Iterable, Mapping
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, replace
from datetime import date
from typing import Any, TypeVar

from ortools.sat.python import cp_model

from .baseline import fill, first_fit_placements
from .domain import Schedule
from .instance import Instance, InstanceSettings, build_instance
from .ledger import Ledger
from .model import PlacementModel
from .problem import Assignment, Problem, Result
from .reasons import waitlisting
from .relaxation import lp_relaxation, round_greedily


@dataclass(frozen=True)
class SolveSettings:
    """How to solve. ``time_limit_s`` bounds the whole problem's wall time; regions solved in
    parallel share it. ``relative_gap_limit`` applies to weighted placements (phase 1)."""

    time_limit_s: float = 10.0
    workers: int = 8
    seed: int = 0
    relative_gap_limit: float = 0.0
    individual_minutes: int = 60
    # Rule 9: a start at most this many days after the earliest date the client may start.
    admission_horizon_days: int = 28
    slots_per_pair: int = 3
    therapists_per_client: int = 8
    deterministic: bool = True
    deterministic_time_per_second: float = 0.2
    processes: int | None = None
    phase1_share: float = 0.8
    post_share: float = 0.05
    # Parts side by side: share of the deterministic budget (see part_budgets).
    parallel_headroom: float = 0.6
    # A part's wall-clock safety cap may stretch to this x its share, deadline permitting.
    wall_stretch: float = 1.5


STATUS_ORDER = ("OPTIMAL", "FEASIBLE", "BASELINE", "EMPTY")
INTERLEAVE_BATCH = 4
T = TypeVar("T")
FULL_SUBSOLVERS = 2


def _instance_settings(settings: SolveSettings, as_of: date | None = None) -> InstanceSettings:
    return InstanceSettings(
        individual_minutes=settings.individual_minutes,
        slots_per_pair=settings.slots_per_pair,
        therapists_per_client=settings.therapists_per_client,
        admission_horizon_days=settings.admission_horizon_days,
        as_of=as_of,
    )


@dataclass(frozen=True)
class Budget:
    """A part's search budget. ``wall_s`` is the wall-clock time left for the search (a safety
    stop in deterministic mode); ``nominal_s`` is the same budget computed from the settings
    alone, never from a clock, so that the deterministic time derived from it is the same on
    every run."""

    wall_s: float
    nominal_s: float

    def deterministic_time(self, settings: SolveSettings, share: float) -> float:
        return max(0.05, self.nominal_s * share * settings.deterministic_time_per_second)


def _parameters(
    solver: cp_model.CpSolver, settings: SolveSettings, seconds: float, dtime: float
) -> None:
    """CP-SAT parameters for one phase. Deterministic mode interleaves the workers' tasks in
    fixed batches and stops on deterministic time, so the answer depends on the model, seed and
    worker count only; ``seconds`` then only caps a run slowed down far beyond the calibration
    (deterministic_time_per_second) by a loaded machine."""
    params = solver.parameters
    params.num_workers = max(1, settings.workers)
    params.random_seed = settings.seed
    params.max_time_in_seconds = max(0.05, seconds)
    params.relative_gap_limit = settings.relative_gap_limit
    if settings.deterministic:
        params.interleave_search = True
        params.max_deterministic_time = dtime
        # Measured on one 400-client region: the default interleaving (a batch per worker,
        # every full-problem subsolver) spent most of its budget loading nine full subsolvers;
        # two of them plus LNS in batches of four found better schedules in the same time.
        params.interleave_batch_size = min(settings.workers, INTERLEAVE_BATCH)
        params.num_full_subsolvers = min(settings.workers, FULL_SUBSOLVERS)


def _hint_all(model: cp_model.CpModel, solver: cp_model.CpSolver) -> None:
    """Hint every variable with its value in the solver's last solution."""
    model.clear_hints()
    for index in range(len(model.proto.variables)):
        var = model.get_int_var_from_proto_index(index)
        model.add_hint(var, solver.value(var))


def _with_baseline_slots(inst: Instance, baseline: dict[str, Assignment]) -> None:
    """Make the clerk's slots model options, so its answer is a feasible hint."""
    for cid, p in baseline.items():
        inst.add_slot_option(cid, p.individual)


def _best_hint(
    inst: Instance, pm: PlacementModel, baseline: dict[str, Assignment]
) -> tuple[dict[str, Assignment], str, int | None]:
    """The better complete schedule to start from, the LP relaxation rounded greedily or the
    clerk's (the clerk's wins ties, so the solver is never worse than the clerk), and the LP's
    proven upper bound on weighted placements (None without an LP optimum)."""
    relaxation = lp_relaxation(pm.model)
    if relaxation is None:
        return baseline, "clerk", None
    rounded = round_greedily(inst, pm, relaxation.values)
    if _value(inst, rounded) > _value(inst, baseline):
        return rounded, "lp_rounding", relaxation.upper_bound
    return baseline, "clerk", relaxation.upper_bound


def _value(inst: Instance, placements: Mapping[str, Assignment]) -> int:
    return sum(inst.client_weight(c) for c in placements)


def _stopped_by(solver: cp_model.CpSolver, status: Any, cap_s: float) -> str:
    """What ended a phase: a proof, the wall-clock cap (the only stop that makes a deterministic
    run depend on machine load), or the time limit the mode counts in (deterministic time in
    deterministic mode)."""
    if status in (cp_model.OPTIMAL, cp_model.INFEASIBLE, cp_model.MODEL_INVALID):
        return "proof"
    if solver.wall_time >= 0.98 * cap_s:
        return "wall_clock"
    return "deterministic_time"


def _optimise(
    inst: Instance, baseline: dict[str, Assignment], settings: SolveSettings, budget: Budget
) -> tuple[dict[str, Assignment], dict[str, Any]]:
    started = time.perf_counter()
    pm = PlacementModel.build(inst)
    weighted = pm.weighted_placements()
    pm.model.maximize(weighted)
    hint, source, lp_bound = _best_hint(inst, pm, baseline)
    if lp_bound is not None:
        # Redundant (no integer solution exceeds it), but it hands CP-SAT the LP's bound at
        # once: an optimal hint is then proven optimal without waiting for its own LP.
        pm.model.add(weighted <= lp_bound)
    penalty = pm.penalty()  # built now so phase 1's solution hints every variable of phase 2
    pm.hint(hint)
    build_s = time.perf_counter() - started
    stats: dict[str, Any] = {
        "model": pm.size(),
        "build_s": round(build_s, 3),
        "hint": source,
        "hint_objective": _value(inst, hint),
        "lp_bound": lp_bound,
    }
    remaining = max(0.1, budget.wall_s - build_s)
    dtime1 = budget.deterministic_time(settings, settings.phase1_share)
    cap1 = remaining * settings.phase1_share
    stats["phase1_cap_s"] = round(cap1, 3)
    solver = cp_model.CpSolver()
    _parameters(solver, settings, cap1, dtime1)
    status = solver.solve(pm.model)
    if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        stats.update(status="BASELINE", phase1_status=solver.status_name(status))
        return baseline, stats
    placements = pm.placements(solver)
    objective = round(solver.objective_value)
    bound = round(solver.best_objective_bound)
    stats.update(
        phase1_status=solver.status_name(status),
        phase1_objective=objective,
        phase1_bound=bound,
        phase1_wall_s=round(solver.wall_time, 3),
        phase1_dtime=round(solver.response_proto.deterministic_time, 3),
        phase1_stopped_by=_stopped_by(solver, status, cap1),
    )
    left = budget.wall_s - (time.perf_counter() - started)
    # Deterministic mode always runs phase 2 (skipping it on a clock reading would make the
    # answer depend on machine load); otherwise it runs when there is time for it.
    if settings.deterministic or left > 0.2:
        pm.model.add(weighted >= objective)
        pm.model.minimize(penalty)
        _hint_all(pm.model, solver)
        dtime2 = budget.deterministic_time(settings, 1 - settings.phase1_share)
        if status == cp_model.OPTIMAL:
            # Half of what a proven phase 1 left over (its reported time leaves out presolve,
            # so the whole remainder would overrun the wall budget). A deterministic amount.
            used = solver.response_proto.deterministic_time
            dtime2 += max(0.0, dtime1 - used) / 2
        solver2 = cp_model.CpSolver()
        _parameters(solver2, settings, left, dtime2)
        status2 = solver2.solve(pm.model)
        stats["phase2_status"] = solver2.status_name(status2)
        stats["phase2_stopped_by"] = _stopped_by(solver2, status2, max(0.05, left))
        stats["phase2_wall_s"] = round(solver2.wall_time, 3)
        stats["phase2_dtime"] = round(solver2.response_proto.deterministic_time, 3)
        if status2 in (cp_model.OPTIMAL, cp_model.FEASIBLE):
            placements = pm.placements(solver2)
            stats["penalty"] = round(solver2.objective_value)
            stats["penalty_bound"] = round(solver2.best_objective_bound)
    stats["status"] = "OPTIMAL" if bound <= objective else "FEASIBLE"
    return placements, stats


@dataclass
class Solution:
    """A part's answer: a placement (group, facilitator, slot and dates) per placed pending
    client, the ledger they leave beside the kept clients, and the search's statistics."""

    placements: dict[str, Assignment]
    ledger: Ledger
    stats: dict[str, Any]


def solve_instance(
    inst: Instance, settings: SolveSettings, seconds: float, nominal_s: float | None = None
) -> Solution:
    """Placements for the instance's pending clients and the ledger they leave. ``seconds`` is
    the wall-clock budget; ``nominal_s`` (default: ``seconds``) the clock-free one that sets the
    deterministic time."""
    baseline, _ = first_fit_placements(inst)
    _with_baseline_slots(inst, baseline)
    baseline_value = _value(inst, baseline)
    if not inst.pending:
        return Solution({}, inst.ledger.copy(), {"status": "EMPTY", "model": {}})
    budget = Budget(seconds, seconds if nominal_s is None else nominal_s)
    placements, stats = _optimise(inst, baseline, settings, budget)
    ledger = inst.ledger.copy()
    for p in placements.values():
        ledger.add(p.group_id, p.facilitator_id, p.individual, p.dates)
    # Anyone the time limit left out but who still fits goes in first-fit.
    topped = fill(inst, ledger, [c for c in inst.pending if c not in placements])
    placements.update(topped)
    value = _value(inst, placements)
    bound = max(stats.get("phase1_bound", value), value)
    stats.update(
        objective=value,
        best_bound=bound,
        gap=0.0 if bound == 0 else round((bound - value) / bound, 6),
        baseline_objective=baseline_value,
        topped_up=len(topped),
    )
    return Solution(placements, ledger, stats)


def kept_assignment(schedule: Schedule) -> Assignment:
    """An existing schedule the rules still allow, as this solve's answer for its client."""
    return Assignment(
        client_id=schedule.client_id,
        group_id=schedule.group_id,
        facilitator_id=str(schedule.facilitator_id),  # a kept schedule names one (instance.py)
        individual=schedule.individual,
        start_date=schedule.start_date,
        end_date=schedule.end_date,
        kept=True,
    )


def _result(
    inst: Instance, placements: Mapping[str, Assignment], ledger: Ledger, stats: dict[str, Any]
) -> Result:
    """The answer for every enrollment of the instance: kept schedules first, then the pending
    clients placed (in priority order), a waitlisting for each pending client left out."""
    kept = [kept_assignment(s) for s in inst.kept.values()]
    placed = [placements[c] for c in inst.pending if c in placements]
    return Result(
        assignments=(*kept, *placed),
        waitlisted=tuple(waitlisting(inst, ledger, c) for c in inst.pending if c not in placements),
        rescheduled=tuple(c for c in inst.displaced if c in placements),
        stats=stats,
    )


def solve_part(
    problem: Problem,
    settings: SolveSettings,
    seconds: float,
    nominal_s: float | None = None,
    deadline: float | None = None,
) -> Result:
    """Solve one independent part of a problem (one region, or regions linked by therapists)
    in ``seconds`` of wall clock; ``nominal_s`` (default: ``seconds``) is the clock-free budget
    behind the deterministic time. ``deadline`` (a ``time.time()``) is when the whole problem
    must be done: the part's wall-clock cap then stretches to ``wall_stretch`` x ``seconds``
    where the deadline leaves room (parts that finished early leave slack), and shrinks below
    ``seconds`` where it does not. Only the safety cap moves; the deterministic time does not."""
    started = time.perf_counter()
    nominal = (seconds if nominal_s is None else nominal_s) * (1 - settings.post_share)
    if deadline is not None:
        seconds = max(0.5, min(seconds * settings.wall_stretch, deadline - time.time() - 0.3))
    inst = build_instance(problem, _instance_settings(settings, problem.as_of))
    # Keep a share of the budget for top-up and reasons after the search.
    search = 1 - settings.post_share
    wall = max(0.2, seconds * search - (time.perf_counter() - started))
    solution = solve_instance(inst, settings, wall, nominal)
    stats = solution.stats
    result = _result(inst, solution.placements, solution.ledger, stats)
    stats["wall_s"] = round(time.perf_counter() - started, 3)
    stats["clients"] = len(problem.enrollments)
    return result


def _regions_linked(problem: Problem) -> dict[str, str]:
    """Each region's part: regions a therapist serves together are one part (its root)."""
    regions = sorted(
        {s.region_id for s in problem.sites.values()}
        | {e.region_id for e in problem.enrollments.values()}
    )
    parent = {r: r for r in regions}

    def find(r: str) -> str:
        while parent[r] != r:
            parent[r] = parent[parent[r]]
            r = parent[r]
        return r

    for therapist in problem.therapists.values():
        linked = sorted(problem.therapist_regions(therapist))
        for other in linked[1:]:
            parent[find(other)] = find(linked[0])
    return {r: find(r) for r in regions}


def split_problem(problem: Problem) -> list[Problem]:
    """Independent parts: regions, merged where a therapist serves several of them; a granted
    make-up goes with its group. A group at an unknown site, a therapist who serves no region, a
    schedule without an enrollment (a withdrawn client) and a make-up of an unknown group belong
    to no part; neither does a part without enrollments."""
    part_of = _regions_linked(problem)
    site_part = {sid: part_of[s.region_id] for sid, s in problem.sites.items()}
    client_part = {cid: part_of[e.region_id] for cid, e in problem.enrollments.items()}
    group_part = {gid: site_part.get(g.site_id) for gid, g in problem.groups.items()}
    therapist_part = {}
    for tid, therapist in problem.therapists.items():
        served = problem.therapist_regions(therapist)
        therapist_part[tid] = part_of[next(iter(served))] if served else None
    parts = []
    for root in sorted(set(part_of.values())):
        if root not in client_part.values():
            continue
        parts.append(
            replace(
                problem,
                sites=_in_part(problem.sites, site_part, root),
                groups=_in_part(problem.groups, group_part, root),
                therapists=_in_part(problem.therapists, therapist_part, root),
                enrollments=_in_part(problem.enrollments, client_part, root),
                schedules=_in_part(problem.schedules, client_part, root),
                # A make-up's seat goes with its group (none for a group the problem lacks).
                makeups=tuple(m for m in problem.makeups if group_part.get(m.group_id) == root),
            )
        )
    return parts


def _in_part(items: Mapping[str, T], part: Mapping[str, str | None], root: str) -> dict[str, T]:
    """The items of one part, in their order (which the instance's tie-breaks follow)."""
    return {key: item for key, item in items.items() if part.get(key) == root}


def _merge_stats(parts: Iterable[Result], wall_s: float) -> dict[str, Any]:
    stats = [p.stats for p in parts]
    objective = sum(s.get("objective", 0) for s in stats)
    bound = sum(s.get("best_bound", 0) for s in stats)
    statuses = [s.get("status", "EMPTY") for s in stats] or ["EMPTY"]
    model: dict[str, int] = {}
    for s in stats:
        for key, value in s.get("model", {}).items():
            model[key] = model.get(key, 0) + value
    return {
        "status": max(statuses, key=STATUS_ORDER.index),
        "objective": objective,
        "best_bound": bound,
        "gap": 0.0 if bound == 0 else round((bound - objective) / bound, 6),
        "baseline_objective": sum(s.get("baseline_objective", 0) for s in stats),
        "penalty": sum(s.get("penalty", 0) for s in stats),
        "wall_s": round(wall_s, 3),
        "model": model,
        "parts": stats,
    }


def part_budgets(
    settings: SolveSettings, parts: int, split_s: float, cpus: int
) -> tuple[int, float, float]:
    """How many parts run side by side, each part's wall-clock budget (``seconds``) and the
    clock-free budget behind its deterministic time (``nominal``)."""
    processes = max(1, min(parts, settings.processes or cpus))
    # Parts run in waves of ``processes``: each gets its share of the wall-clock budget.
    waves = -(-parts // max(1, processes)) if parts else 1
    seconds = max(0.5, (settings.time_limit_s - split_s) / waves - 0.3)
    # The same share computed without the clock: it sets the deterministic time. Parts of one
    # wave share the CPUs, so each gets 1/processes of it (measured on ten regions, 2 vCPUs:
    # without this the wall-clock cap, not the deterministic budget, ended 6-9 of 20 phases),
    # and, when several run side by side, only ``parallel_headroom`` of that: the wall time one
    # unit of deterministic time takes varies 2x between regions when two share the CPUs
    # (3.1-6.9 s per unit, ten regions, 2 vCPUs) and a batch overshoots its budget by up to 30%,
    # so at the full share the slowest region's phase 1 ran into its cap (1 of 20 phases).
    nominal = max(0.5, settings.time_limit_s / waves - 0.3) / max(1, processes)
    if processes > 1:
        nominal *= settings.parallel_headroom
    return processes, seconds, nominal


def _solve_part_star(args: tuple[Problem, SolveSettings, float, float, float]) -> Result:
    return solve_part(*args)


def _joined(results: list[Result], stats: dict[str, Any]) -> Result:
    return Result(
        assignments=tuple(a for r in results for a in r.assignments),
        waitlisted=tuple(w for r in results for w in r.waitlisted),
        rescheduled=tuple(c for r in results for c in r.rescheduled),
        stats=stats,
    )


def solve(problem: Problem, settings: SolveSettings = SolveSettings()) -> Result:
    """Schedule every enrollment of ``problem`` (SCHEDULING.md; the module docstring)."""
    started = time.perf_counter()
    parts = split_problem(problem)
    processes, seconds, nominal = part_budgets(
        settings, len(parts), time.perf_counter() - started, os.cpu_count() or 1
    )
    # When the whole problem must be done, on the wall clock every part process shares.
    deadline = time.time() + settings.time_limit_s - (time.perf_counter() - started)
    jobs = [(p, settings, seconds, nominal, deadline) for p in parts]
    if processes > 1:
        # spawn, not fork: the service calls this from a threaded process, and forking one
        # that holds a lock in another thread can deadlock the child.
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=processes, mp_context=context) as pool:
            results = list(pool.map(_solve_part_star, jobs))
    else:
        results = [_solve_part_star(j) for j in jobs]
    return _joined(results, _merge_stats(results, time.perf_counter() - started))


def first_fit(problem: Problem, settings: SolveSettings = SolveSettings()) -> Result:
    """The first-fit clerk's answer to ``problem``, in the same form as ``solve``'s."""
    started = time.perf_counter()
    results = []
    total = 0
    for part in split_problem(problem):
        inst = build_instance(part, _instance_settings(settings, part.as_of))
        placements, ledger = first_fit_placements(inst)
        results.append(_result(inst, placements, ledger, {}))
        total += _value(inst, placements)
    stats = {
        "status": "BASELINE",
        "objective": total,
        "best_bound": None,
        "gap": None,
        "wall_s": round(time.perf_counter() - started, 3),
        "model": {},
    }
    return _joined(results, stats)


__all__ = [
    "Solution",
    "SolveSettings",
    "first_fit",
    "kept_assignment",
    "solve",
    "solve_instance",
    "split_problem",
]
