"""Solve a snapshot: split it into independent regions, solve each, assemble the output.

Per region: build the instance (kept schedules fixed), run the first-fit clerk, then CP-SAT in
two lexicographic phases hinted with the clerk's answer (so it is never worse than the clerk):
  1. maximise weighted placements (soft goal 1) alone, which gives a clean proven bound;
  2. keep that many weighted placements and minimise soft goals 2-6.
Whatever is still unplaced is offered first-fit on top of the result, then waitlisted with true
reasons. Regions couple only through therapists who work in several of them, so regions linked
that way are solved together; independent ones run in parallel processes.

Determinism: CP-SAT's parallel portfolio shares solutions between threads as they come, so two
runs that stop on a wall-clock limit may differ. ``deterministic=True`` runs the portfolio with
``interleave_search`` and stops on ``max_deterministic_time`` (``time_limit_s`` stays as a cap),
which gives the same answer for a given seed and worker count whatever the machine load. It is
not the default because on these models it is far weaker in the same time (measured on one
400-client region in 10 s: 349 vs 379 weighted placements, bound 385; see bench/results).
Everything around the solver (parsing, options, clerk, top-up, reasons) is deterministic.
"""

from __future__ import annotations

import multiprocessing
import os
import time
from collections.abc import Mapping
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from typing import Any

from ortools.sat.python import cp_model

from .baseline import fill, first_fit_placements
from .instance import Instance, InstanceSettings, build_instance, parse_roster
from .ledger import Ledger
from .model import PlacementModel
from .placement import Placement, scheduled_payload
from .reasons import waitlisted_payload


@dataclass(frozen=True)
class SolveSettings:
    """How to solve. ``time_limit_s`` bounds the whole snapshot's wall time; regions solved in
    parallel share it. ``relative_gap_limit`` applies to weighted placements (phase 1)."""

    time_limit_s: float = 10.0
    workers: int = 8
    seed: int = 0
    relative_gap_limit: float = 0.0
    individual_minutes: int = 60
    slots_per_pair: int = 3
    therapists_per_client: int = 8
    deterministic: bool = False
    deterministic_time_per_second: float = 1.0
    processes: int | None = None
    phase1_share: float = 0.8
    post_share: float = 0.15


STATUS_ORDER = ("OPTIMAL", "FEASIBLE", "BASELINE", "EMPTY")


def _instance_settings(settings: SolveSettings, as_of: Any = None) -> InstanceSettings:
    return InstanceSettings(
        individual_minutes=settings.individual_minutes,
        slots_per_pair=settings.slots_per_pair,
        therapists_per_client=settings.therapists_per_client,
        as_of=as_of,
    )


def _parameters(solver: cp_model.CpSolver, settings: SolveSettings, seconds: float) -> None:
    params = solver.parameters
    params.num_workers = max(1, settings.workers)
    params.random_seed = settings.seed
    params.max_time_in_seconds = max(0.05, seconds)
    params.relative_gap_limit = settings.relative_gap_limit
    if settings.deterministic:
        params.interleave_search = True
        params.max_deterministic_time = max(
            0.05, seconds * settings.deterministic_time_per_second
        )


def _hint_all(model: cp_model.CpModel, solver: cp_model.CpSolver) -> None:
    """Hint every variable with its value in the solver's last solution."""
    model.clear_hints()
    for index in range(len(model.proto.variables)):
        var = model.get_int_var_from_proto_index(index)
        model.add_hint(var, solver.value(var))


def _with_baseline_slots(inst: Instance, baseline: dict[str, Placement]) -> None:
    """Make the clerk's slots model options, so its answer is a feasible hint."""
    for cid, p in baseline.items():
        options = inst.slot_options.get(cid, ())
        if p.slot not in options:
            inst.slot_options[cid] = (*options, p.slot)


def _optimise(
    inst: Instance, baseline: dict[str, Placement], settings: SolveSettings, seconds: float
) -> tuple[dict[str, Placement], dict[str, Any]]:
    started = time.perf_counter()
    pm = PlacementModel.build(inst)
    weighted = pm.weighted_placements()
    penalty = pm.penalty()  # built now so phase 1's solution hints every variable of phase 2
    pm.model.maximize(weighted)
    pm.hint(baseline)
    build_s = time.perf_counter() - started
    remaining = max(0.1, seconds - build_s)
    solver = cp_model.CpSolver()
    _parameters(solver, settings, remaining * settings.phase1_share)
    status = solver.solve(pm.model)
    stats: dict[str, Any] = {"model": pm.size(), "build_s": round(build_s, 3)}
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
    )
    left = seconds - (time.perf_counter() - started)
    if left > 0.2:
        pm.model.add(weighted >= objective)
        pm.model.minimize(penalty)
        _hint_all(pm.model, solver)
        solver2 = cp_model.CpSolver()
        _parameters(solver2, settings, left)
        status2 = solver2.solve(pm.model)
        stats["phase2_status"] = solver2.status_name(status2)
        if status2 in (cp_model.OPTIMAL, cp_model.FEASIBLE):
            placements = pm.placements(solver2)
            stats["penalty"] = round(solver2.objective_value)
            stats["penalty_bound"] = round(solver2.best_objective_bound)
    stats["status"] = "OPTIMAL" if bound <= objective else "FEASIBLE"
    return placements, stats


def solve_instance(
    inst: Instance, settings: SolveSettings, seconds: float
) -> tuple[dict[str, Placement], Ledger, dict[str, Any]]:
    """Placements for the instance's pending clients and the ledger they leave."""
    baseline, _ = first_fit_placements(inst)
    _with_baseline_slots(inst, baseline)
    baseline_value = sum(inst.client_weight(c) for c in baseline)
    if not inst.pending:
        return {}, inst.ledger.copy(), {"status": "EMPTY", "model": {}}
    placements, stats = _optimise(inst, baseline, settings, seconds)
    ledger = inst.ledger.copy()
    for p in placements.values():
        ledger.add(p.group_id, p.facilitator_id, p.slot)
    # Anyone the time limit left out but who still fits goes in first-fit.
    topped = fill(inst, ledger, [c for c in inst.pending if c not in placements])
    placements.update(topped)
    value = sum(inst.client_weight(c) for c in placements)
    bound = max(stats.get("phase1_bound", value), value)
    stats.update(
        objective=value,
        best_bound=bound,
        gap=0.0 if bound == 0 else round((bound - value) / bound, 6),
        baseline_objective=baseline_value,
        topped_up=len(topped),
    )
    return placements, ledger, stats


def solve_part(snapshot: Mapping[str, Any], settings: SolveSettings, seconds: float) -> dict[
    str, Any
]:
    """Solve one independent part of a snapshot (one region, or regions linked by therapists)."""
    started = time.perf_counter()
    roster = parse_roster(snapshot)
    inst = build_instance(roster, _instance_settings(settings, roster.as_of))
    # Keep a share of the budget for top-up, reasons and payloads after the search.
    budget = max(0.2, seconds * (1 - settings.post_share) - (time.perf_counter() - started))
    placements, ledger, stats = solve_instance(inst, settings, budget)
    scheduled = [dict(s.raw) for s in inst.kept.values()]
    scheduled += [scheduled_payload(inst, placements[c]) for c in inst.pending if c in placements]
    waitlisted = [waitlisted_payload(inst, ledger, c) for c in inst.pending if c not in placements]
    rescheduled = [c for c in inst.displaced if c in placements]
    stats["wall_s"] = round(time.perf_counter() - started, 3)
    stats["clients"] = len(roster.enrollments)
    return {
        "scheduled": scheduled,
        "waitlisted": waitlisted,
        "rescheduled": rescheduled,
        "stats": stats,
    }


def split_snapshot(snapshot: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Independent parts: regions, merged where a therapist serves several of them."""
    roster = parse_roster(snapshot)
    regions = sorted(
        {s.region_id for s in roster.sites.values()}
        | {e.region_id for e in roster.enrollments.values()}
    )
    parent = {r: r for r in regions}

    def find(r: str) -> str:
        while parent[r] != r:
            parent[r] = parent[parent[r]]
            r = parent[r]
        return r

    for therapist in roster.therapists.values():
        linked = sorted(roster.therapist_regions(therapist))
        for other in linked[1:]:
            parent[find(other)] = find(linked[0])
    part_of = {r: find(r) for r in regions}
    site_part = {sid: part_of[s.region_id] for sid, s in roster.sites.items()}
    client_part = {cid: part_of[e.region_id] for cid, e in roster.enrollments.items()}
    parts: dict[str, dict[str, Any]] = {}
    for root in sorted(set(part_of.values())):
        parts[root] = {
            "sites": [],
            "groups": [],
            "therapists": [],
            "enrollments": [],
            "schedules": [],
            "as_of": snapshot.get("as_of"),
        }
    for item in snapshot.get("sites") or []:
        parts[site_part[str(item["site_id"])]]["sites"].append(item)
    for item in snapshot.get("groups") or []:
        group_root = site_part.get(str(item.get("site_id")))
        if group_root is not None:  # a group at an unknown site can hold nobody
            parts[group_root]["groups"].append(item)
    for item in snapshot.get("therapists") or []:
        t = roster.therapists[str(item["therapist_id"])]
        served = roster.therapist_regions(t)
        if served:
            parts[part_of[next(iter(served))]]["therapists"].append(item)
    for item in snapshot.get("enrollments") or []:
        parts[client_part[str(item["client_id"])]]["enrollments"].append(item)
    for item in snapshot.get("schedules") or []:
        client_root = client_part.get(str(item.get("client_id")))
        if client_root is not None:  # a schedule without an enrollment (withdrawn): dropped
            parts[client_root]["schedules"].append(item)
    return [p for p in parts.values() if p["enrollments"]]


def _merge_stats(parts: list[dict[str, Any]], wall_s: float) -> dict[str, Any]:
    stats = [p["stats"] for p in parts]
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


def _solve_part_star(args: tuple[dict[str, Any], SolveSettings, float]) -> dict[str, Any]:
    return solve_part(*args)


def solve_snapshot(
    snapshot: Mapping[str, Any], settings: SolveSettings = SolveSettings()
) -> dict[str, Any]:
    """Schedule every enrollment of ``snapshot``: see CONTRACT.md and the module docstring."""
    started = time.perf_counter()
    parts = split_snapshot(snapshot)
    cpus = os.cpu_count() or 1
    processes = min(len(parts), settings.processes or cpus)
    # Parts run in waves of ``processes``: each gets its share of the wall-clock budget.
    waves = -(-len(parts) // max(1, processes)) if parts else 1
    split_s = time.perf_counter() - started
    seconds = max(0.5, (settings.time_limit_s - split_s) / waves - 0.3)
    jobs = [(p, settings, seconds) for p in parts]
    if processes > 1:
        # spawn, not fork: the service calls this from a threaded process, and forking one
        # that holds a lock in another thread can deadlock the child.
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=processes, mp_context=context) as pool:
            results = list(pool.map(_solve_part_star, jobs))
    else:
        results = [_solve_part_star(j) for j in jobs]
    return {
        "scheduled": [s for r in results for s in r["scheduled"]],
        "waitlisted": [w for r in results for w in r["waitlisted"]],
        "rescheduled": [c for r in results for c in r["rescheduled"]],
        "stats": _merge_stats(results, time.perf_counter() - started),
    }


def first_fit(snapshot: Mapping[str, Any], settings: SolveSettings = SolveSettings()) -> dict[
    str, Any
]:
    """The first-fit clerk's answer to ``snapshot``, in the same shape as ``solve_snapshot``."""
    started = time.perf_counter()
    out: dict[str, Any] = {"scheduled": [], "waitlisted": [], "rescheduled": []}
    total = 0
    for part in split_snapshot(snapshot):
        roster = parse_roster(part)
        inst = build_instance(roster, _instance_settings(settings, roster.as_of))
        placements, ledger = first_fit_placements(inst)
        out["scheduled"] += [dict(s.raw) for s in inst.kept.values()]
        out["scheduled"] += [
            scheduled_payload(inst, placements[c]) for c in inst.pending if c in placements
        ]
        out["waitlisted"] += [
            waitlisted_payload(inst, ledger, c) for c in inst.pending if c not in placements
        ]
        out["rescheduled"] += [c for c in inst.displaced if c in placements]
        total += sum(inst.client_weight(c) for c in placements)
    out["stats"] = {
        "status": "BASELINE",
        "objective": total,
        "best_bound": None,
        "gap": None,
        "wall_s": round(time.perf_counter() - started, 3),
        "model": {},
    }
    return out


__all__ = ["SolveSettings", "first_fit", "solve_instance", "solve_snapshot", "split_snapshot"]
