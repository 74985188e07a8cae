"""Benchmark: the CP-SAT scheduler against the first-fit clerk on generated networks.

    .venv/bin/python bench/solver.py                # every case, prints markdown tables
    .venv/bin/python bench/solver.py --quick        # the small cases only
    .venv/bin/python bench/solver.py --only steady  # the steady-state cases only
    .venv/bin/python bench/solver.py --only rolling # the rolling-admission cases only

Each case runs in its own process so that peak memory (max RSS of the process and its region
workers) belongs to that case alone. Figures are printed, not asserted (ARCHITECTURE.md).

Steady-state cases (part of the default run, not of --quick; about a minute and a half of it:
the whole default run took 199 s on 2 vCPUs shared with other work): the scheduler service runs
every day on a region where most clients already have a schedule and newcomers arrive. A
generated one-region network (6 sites) at load 1.0, 1.15 or 1.3 has its first 40%, 60% or 75%
of enrollments solved first (deterministic settings, 10 s); those schedules are fed back as the
snapshot's ``schedules`` and the whole region is solved again (10 s): the arrivals and whoever
the first solve waitlisted. The row reports both phases' statuses, the solver and the clerk
(``first_fit``) on that same steady state, the LP bound with the gap to it, and ``topped_up``.
BASELINE, or a phase 1 proven optimal yet topped up, is the incremental-solve defect of issue
15 and is counted under the table. ``--states DIR`` saves each steady state there (or reads it,
if saved), so that another solver version, imported through PYTHONPATH, is measured on the very
same day (bench/results/solver.md).

Rolling-admission cases (part of the default run, not of --quick): rules 4 and 7 count per
date, so seats, hours and caseload places that kept clients free within the admission horizon
(28 days) go to newcomers from the first meeting day after. A generated one-region network (6
sites) at load 1.5 has its first two thirds of enrollments (load 1.0) solved first; the day is
then moved on six weeks and every kept client's programme is cut to end 1 to 4 weeks after it
(``program_weeks`` and ``end_date`` together, drawn per client from the seed); the rest of the
enrollments arrive, their requested starts moved on six weeks too, beside those the first solve
waitlisted. The row reports the solver and the clerk on that day, the LP bound and the gap to it,
the model's size (group options are (client, group, start date) triples), and how many newcomers
start after today's first week, i.e. in a seat or place a kept client freed.
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import json
import random
import resource
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the clean-room checker lives in the repository's tests/

from iop_scheduler.solver import SolveSettings, generate, validate_output  # noqa: E402

try:  # the solver's boundary is typed: snapshots are solved through the service's adapter
    from iop_scheduler.adapters.snapshot import first_fit_snapshot as first_fit
    from iop_scheduler.adapters.snapshot import solve_snapshot
except ImportError:  # an older solver version, imported through PYTHONPATH (--states)
    from iop_scheduler.solver import first_fit, solve_snapshot  # type: ignore[attr-defined,no-redef]

from tests.independent.checker import check_findings  # noqa: E402

WEIGHT = {"urgent": 3, "step_down": 2, "routine": 1}


@dataclass(frozen=True)
class Case:
    name: str
    seed: int
    regions: int
    sites: int
    load: float
    time_limit: float
    incremental: bool = False
    # Steady state: share of the enrollments placed by a first solve before the rest arrive.
    placed_share: float = 0.0
    # Rolling admission: weeks the day moves on after the first solve (kept clients then end
    # 1-4 weeks after it); 0 for the other cases.
    rolling_weeks: int = 0


CASES = [
    Case("small", 1, 1, 2, 0.8, 5),
    Case("small", 2, 1, 2, 1.0, 5),
    Case("small", 3, 1, 2, 1.3, 5),
    Case("small", 4, 1, 3, 1.0, 5),
    Case("small", 5, 1, 3, 1.5, 5),
    Case("region", 1, 1, 6, 1.0, 10),
    Case("region", 2, 1, 6, 1.0, 10),
    Case("region", 3, 1, 6, 1.2, 10),
    Case("region-underloaded", 4, 1, 6, 0.7, 10),
    Case("ten-regions", 1, 10, 6, 1.0, 60),
    # Below full load, so the region still has seats for some of the 20 newcomers.
    Case("incremental", 6, 1, 12, 0.7, 2, incremental=True),
    *(
        Case("steady", 1, 1, 6, load, 10, placed_share=share)
        for load in (1.0, 1.15, 1.3)
        for share in (0.4, 0.6, 0.75)
    ),
    *(
        Case("rolling", seed, 1, 6, 1.5, 10, placed_share=2 / 3, rolling_weeks=6)
        for seed in (1, 2, 3)
    ),
]


def _weighted(snap: dict[str, Any], out: dict[str, Any], only: set[str] | None = None) -> int:
    weights = {e["client_id"]: WEIGHT[e["priority"]] for e in snap["enrollments"]}
    return sum(
        weights[s["client_id"]] for s in out["scheduled"] if only is None or s["client_id"] in only
    )


def _quality(snap: dict[str, Any], out: dict[str, Any]) -> tuple[float, float]:
    """Mean waiting days and first-choice site share over the placed clients."""
    clients = {e["client_id"]: e for e in snap["enrollments"]}
    waits, first = [], 0
    for s in out["scheduled"]:
        c = clients[s["client_id"]]
        waits.append(
            (date.fromisoformat(s["start_date"]) - date.fromisoformat(c["requested_start"])).days
        )
        prefs = c["preferred_site_ids"]
        first += (
            bool(prefs)
            and s["group"]["delivery"] == "in_person"
            and (s["group"]["site_id"] == prefs[0])
        )
    n = max(1, len(out["scheduled"]))
    return sum(waits) / n, first / n


def _digest(out: dict[str, Any]) -> str:
    """A fingerprint of the schedule (not the stats, which hold wall times)."""
    body = json.dumps([out["scheduled"], out["waitlisted"]], sort_keys=True)
    return hashlib.sha256(body.encode()).hexdigest()[:12]


def _stops(out: dict[str, Any]) -> str:
    """What ended each phase of each part (proof / deterministic_time / wall_clock)."""
    stops = [
        part.get(key, "-")
        for part in out["stats"].get("parts", [])
        for key in ("phase1_stopped_by", "phase2_stopped_by")
    ]
    return ",".join(f"{s}x{stops.count(s)}" for s in sorted(set(stops)))


def _peak_mib() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    kids = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return max(own, kids) / 1024


def run_case(case: Case, states: Path | None = None) -> dict[str, Any]:
    snap = generate(case.seed, case.regions, case.sites, case.load)
    settings = SolveSettings(time_limit_s=case.time_limit, workers=8, seed=0)
    if case.incremental:
        return _incremental(case, snap)
    if case.rolling_weeks:
        return _rolling(case, snap, states)
    if case.placed_share:
        return _steady(case, snap, states)
    started = time.perf_counter()
    clerk = first_fit(snap)
    clerk_s = time.perf_counter() - started
    started = time.perf_counter()
    out = solve_snapshot(snap, settings)
    wall = time.perf_counter() - started
    wait, first_choice = _quality(snap, out)
    clerk_wait, clerk_first = _quality(snap, clerk)
    return {
        "case": case.name,
        "seed": case.seed,
        "regions": case.regions,
        "sites": case.sites,
        "load": case.load,
        "enrollments": len(snap["enrollments"]),
        "groups": len(snap["groups"]),
        "therapists": len(snap["therapists"]),
        "baseline": _weighted(snap, clerk),
        "placed_weighted": _weighted(snap, out),
        "placed": len(out["scheduled"]),
        "gap": out["stats"]["gap"],
        "wait": wait,
        "clerk_wait": clerk_wait,
        "first_choice": first_choice,
        "clerk_first_choice": clerk_first,
        "wall_s": wall,
        "clerk_s": clerk_s,
        "violations": len(validate_output(snap, out)),
        "clerk_violations": len(validate_output(snap, clerk)),
        "peak_mib": _peak_mib(),
        "moved": None,
        "digest": _digest(out),
        "stops": _stops(out),
    }


def _incremental(case: Case, full: dict[str, Any]) -> dict[str, Any]:
    """Place a region's first clients, then 20 more on top; nobody already placed may move."""
    first = copy.deepcopy(full)
    head = len(full["enrollments"]) - 20
    first["enrollments"] = full["enrollments"][:head]
    placed = solve_snapshot(first, SolveSettings(time_limit_s=10, workers=8))
    later = copy.deepcopy(full)
    later["schedules"] = placed["scheduled"]
    new_ids = {e["client_id"] for e in full["enrollments"][head:]}
    clerk = first_fit(later)
    started = time.perf_counter()
    out = solve_snapshot(later, SolveSettings(time_limit_s=case.time_limit, workers=8))
    wall = time.perf_counter() - started
    before = {s["client_id"]: s for s in placed["scheduled"]}
    after = {s["client_id"]: s for s in out["scheduled"]}
    moved = sum(1 for cid, s in before.items() if after.get(cid) != s)
    new_only = {"scheduled": [s for s in out["scheduled"] if s["client_id"] in new_ids]}
    clerk_new = {"scheduled": [s for s in clerk["scheduled"] if s["client_id"] in new_ids]}
    wait, first_choice = _quality(later, new_only)
    clerk_wait, clerk_first = _quality(later, clerk_new)
    return {
        "case": f"incremental 20 into {len(before)} placed",
        "seed": case.seed,
        "regions": 1,
        "sites": case.sites,
        "load": case.load,
        "enrollments": 20,
        "groups": len(full["groups"]),
        "therapists": len(full["therapists"]),
        "baseline": _weighted(later, clerk, new_ids),
        "placed_weighted": _weighted(later, out, new_ids),
        "placed": len(new_only["scheduled"]),
        "gap": out["stats"]["gap"],
        "wait": wait,
        "clerk_wait": clerk_wait,
        "first_choice": first_choice,
        "clerk_first_choice": clerk_first,
        "wall_s": wall,
        "clerk_s": 0.0,
        "violations": len(validate_output(later, out)),
        "clerk_violations": len(validate_output(later, clerk)),
        "peak_mib": _peak_mib(),
        "moved": moved,
        "digest": _digest(out),
        "stops": _stops(out),
    }


def _placed_first(case: Case, full: dict[str, Any]) -> list[dict[str, Any]]:
    """The schedules of the region's first enrollments, solved on their own."""
    first = copy.deepcopy(full)
    first["enrollments"] = full["enrollments"][: _head(case, full)]
    settings = SolveSettings(time_limit_s=case.time_limit, workers=8, seed=0)
    scheduled: list[dict[str, Any]] = solve_snapshot(first, settings)["scheduled"]
    return scheduled


def _head(case: Case, full: dict[str, Any]) -> int:
    return int(len(full["enrollments"]) * case.placed_share)


def _steady_state(case: Case, full: dict[str, Any], states: Path | None) -> dict[str, Any]:
    """The region the day starts from: its first enrollments placed, their schedules kept.
    With ``states`` the kept schedules are read from that directory if saved there, else saved
    there, so that two solver versions can be measured on the same day."""
    saved = None if states is None else states / f"steady-{CASES.index(case)}.json"
    if saved is not None and saved.exists():
        kept = json.loads(saved.read_text())
    else:
        kept = _placed_first(case, full)
        if saved is not None:
            saved.parent.mkdir(parents=True, exist_ok=True)
            saved.write_text(json.dumps(kept))
    later = copy.deepcopy(full)
    later["schedules"] = kept
    return later


def _steady(case: Case, full: dict[str, Any], states: Path | None) -> dict[str, Any]:
    """Solve a steady state: kept clients fixed, arrivals and earlier waitlisted clients pending."""
    later = _steady_state(case, full, states)
    kept = {s["client_id"]: s for s in later["schedules"]}
    pending = {e["client_id"] for e in later["enrollments"]} - set(kept)
    clerk = first_fit(later)
    started = time.perf_counter()
    out = solve_snapshot(later, SolveSettings(time_limit_s=case.time_limit, workers=8, seed=0))
    wall = time.perf_counter() - started
    part = out["stats"]["parts"][0]
    after = {s["client_id"]: s for s in out["scheduled"]}
    placed_weighted = _weighted(later, out, pending)
    lp_bound = part.get("lp_bound")
    return {
        "case": f"steady {100 * case.placed_share:.0f}%",
        "seed": case.seed,
        "sites": case.sites,
        "load": case.load,
        "kept": len(kept),
        "arriving": len(full["enrollments"]) - _head(case, full),
        "pending": len(pending),
        "phase1_status": part.get("phase1_status", "-"),
        "phase2_status": part.get("phase2_status", "-"),
        "phase1_objective": part.get("phase1_objective"),
        "status": part["status"],
        "placed_weighted": placed_weighted,
        "placed": sum(1 for cid in after if cid in pending),
        "baseline": _weighted(later, clerk, pending),
        "lp_bound": lp_bound,
        "lp_gap": None if not lp_bound else (lp_bound - placed_weighted) / lp_bound,
        "topped_up": part["topped_up"],
        "wall_s": wall,
        "violations": len(validate_output(later, out)),
        "clerk_violations": len(validate_output(later, clerk)),
        "moved": sum(1 for cid, s in kept.items() if after.get(cid) != s),
        "state_digest": _digest({"scheduled": later["schedules"], "waitlisted": []}),
        "digest": _digest(out),
        "stops": _stops(out),
    }


def _rolling_day(case: Case, full: dict[str, Any], states: Path | None) -> dict[str, Any]:
    """The day ``case.rolling_weeks`` after the first solve (module docstring)."""
    later = _steady_state(case, full, states)
    today = date.fromisoformat(full["as_of"]) + timedelta(weeks=case.rolling_weeks)
    rng = random.Random(case.seed)
    clients = {e["client_id"]: e for e in later["enrollments"]}
    for kept in later["schedules"]:
        start = date.fromisoformat(kept["start_date"])
        weeks = [
            w
            for w in range(2, 17)
            if timedelta(weeks=1)
            <= start + timedelta(weeks=w, days=-1) - today
            <= timedelta(weeks=4)
        ]
        chosen = rng.choice(weeks)
        clients[kept["client_id"]]["program_weeks"] = chosen
        kept["end_date"] = (start + timedelta(weeks=chosen, days=-1)).isoformat()
    for enrollment in later["enrollments"][_head(case, full) :]:
        requested = date.fromisoformat(enrollment["requested_start"])
        enrollment["requested_start"] = (
            requested + timedelta(weeks=case.rolling_weeks)
        ).isoformat()
    later["as_of"] = today.isoformat()
    return later


def _rolling(case: Case, full: dict[str, Any], states: Path | None) -> dict[str, Any]:
    """Solve a rolling-admission day: kept clients end within 1-4 weeks, newcomers arrive."""
    later = _rolling_day(case, full, states)
    today = date.fromisoformat(later["as_of"])
    kept = {s["client_id"]: s for s in later["schedules"]}
    pending = {e["client_id"] for e in later["enrollments"]} - set(kept)
    started = time.perf_counter()
    clerk = first_fit(later)
    clerk_s = time.perf_counter() - started
    started = time.perf_counter()
    out = solve_snapshot(later, SolveSettings(time_limit_s=case.time_limit, workers=8, seed=0))
    wall = time.perf_counter() - started
    part = out["stats"]["parts"][0]
    placed_weighted = _weighted(later, out, pending)
    lp_bound = part.get("lp_bound")
    after = {s["client_id"]: s for s in out["scheduled"]}
    freed = sum(
        1
        for cid, s in after.items()
        if cid in pending and date.fromisoformat(s["start_date"]) >= today + timedelta(weeks=1)
    )
    return {
        "case": "rolling",
        "seed": case.seed,
        "sites": case.sites,
        "load": case.load,
        "today": today.isoformat(),
        "kept": len(kept),
        "pending": len(pending),
        "phase1_status": part.get("phase1_status", "-"),
        "phase1_objective": part.get("phase1_objective"),
        "phase2_status": part.get("phase2_status", "-"),
        "status": part["status"],
        "placed_weighted": placed_weighted,
        "placed": sum(1 for cid in after if cid in pending),
        "later_starts": freed,
        "baseline": _weighted(later, clerk, pending),
        "lp_bound": lp_bound,
        "lp_gap": None if not lp_bound else (lp_bound - placed_weighted) / lp_bound,
        "gap": part.get("gap"),
        "topped_up": part["topped_up"],
        "model": part.get("model", {}),
        "build_s": part.get("build_s"),
        "wall_s": wall,
        "clerk_s": clerk_s,
        "violations": len(validate_output(later, out)) + len(check_findings(later, out)),
        "clerk_violations": len(validate_output(later, clerk)) + len(check_findings(later, clerk)),
        "moved": sum(1 for cid, s in kept.items() if after.get(cid) != s),
        "state_digest": _digest({"scheduled": later["schedules"], "waitlisted": []}),
        "digest": _digest(out),
        "stops": _stops(out),
    }


def _rolling_row(r: dict[str, Any]) -> str:
    lp = "-" if r["lp_bound"] is None else str(r["lp_bound"])
    gap = "-" if r["lp_gap"] is None else f"{100 * r['lp_gap']:.2f}%"
    phase1 = "-" if r["phase1_objective"] is None else str(r["phase1_objective"])
    proven = "-" if r["gap"] is None else f"{100 * r['gap']:.2f}%"
    model = r["model"]
    return (
        f"| {r['case']} s{r['seed']} | 1x{r['sites']} | {r['today']} | {r['kept']} | "
        f"{r['pending']} | {r['phase1_status']} {phase1} | {r['phase2_status']} | "
        f"{r['placed_weighted']} ({r['placed']}) | {r['later_starts']} | {r['baseline']} | {lp} | "
        f"{gap} | {proven} | {r['topped_up']} | {model.get('group_options', '-')} / "
        f"{model.get('start_classes', '-')} / {model.get('variables', '-')} | "
        f"{r['build_s']} | {r['wall_s']:.1f} | {r['clerk_s']:.1f} | "
        f"{r['violations']}/{r['clerk_violations']} moved={r['moved']} |"
    )


ROLLING_HEADER = (
    "| case | regions x sites | today | kept (ending in 1-4 weeks) | to place | phase 1 "
    "(objective) | phase 2 | placed weighted (clients) | of whom start after week 1 | clerk "
    "weighted | LP bound | gap to LP bound | gap to proven bound | topped up | group options / "
    "start classes / variables | build s | wall s | clerk s | findings, both checkers "
    "(solver/clerk) |\n"
    "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
)


def _steady_row(r: dict[str, Any]) -> str:
    lp = "-" if r["lp_bound"] is None else str(r["lp_bound"])
    gap = "-" if r["lp_gap"] is None else f"{100 * r['lp_gap']:.2f}%"
    phase1 = "-" if r["phase1_objective"] is None else str(r["phase1_objective"])
    return (
        f"| {r['case']} s{r['seed']} | 1x{r['sites']} | {r['load']:.2f} | {r['kept']} | "
        f"{r['arriving']} ({r['pending']}) | {r['phase1_status']} {phase1} | "
        f"{r['phase2_status']} | "
        f"{r['status']} | {r['placed_weighted']} ({r['placed']}) | {r['baseline']} | {lp} | "
        f"{gap} | {r['topped_up']} | {r['wall_s']:.1f} | "
        f"{r['violations']}/{r['clerk_violations']} moved={r['moved']} |"
    )


STEADY_HEADER = (
    "| case | regions x sites | load | placed before | arriving (to place, incl. waitlisted) "
    "| phase 1 (objective) | phase 2 | status | placed weighted (clients) | clerk weighted "
    "| LP bound | gap to LP bound | topped up | wall s | violations (solver/clerk) |\n"
    "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
)


def _row(r: dict[str, Any]) -> str:
    ratio = r["placed_weighted"] / r["baseline"] if r["baseline"] else float("nan")
    gap = "-" if r["gap"] is None else f"{100 * r['gap']:.2f}%"
    moved = "" if r["moved"] is None else f" moved={r['moved']}"
    return (
        f"| {r['case']} s{r['seed']} | {r['regions']}x{r['sites']} | {r['load']:.1f} | "
        f"{r['enrollments']} | {r['placed_weighted']} ({r['placed']}) | {r['baseline']} | "
        f"{ratio:.3f} | {gap} | {r['wait']:.1f} / {r['clerk_wait']:.1f} | "
        f"{100 * r['first_choice']:.0f}% / {100 * r['clerk_first_choice']:.0f}% | "
        f"{r['wall_s']:.1f} | {r['peak_mib']:.0f} | {r['violations']}/{r['clerk_violations']}"
        f"{moved} |"
    )


HEADER = (
    "| case | regions x sites | load | enrollments | placed weighted (clients) | clerk weighted "
    "| vs clerk | gap to bound | mean wait days (solver / clerk) | first-choice site "
    "(solver / clerk) | wall s | peak MiB | violations (solver/clerk) |\n"
    "|---|---|---|---|---|---|---|---|---|---|---|---|---|"
)


def _runs(index: int, repeat: int, states: Path | None = None) -> list[dict[str, Any]]:
    """Run one case ``repeat`` times, each in a fresh process."""
    runs = []
    extra = [] if states is None else ["--states", str(states)]
    for _ in range(max(1, repeat)):
        done = subprocess.run(
            [sys.executable, __file__, "--case", str(index), *extra],
            capture_output=True,
            text=True,
            check=True,
        )
        runs.append(json.loads(done.stdout.strip().splitlines()[-1]))
    return runs


def _same(digests: list[str]) -> str:
    return "identical" if len(set(digests)) == 1 else "DIFFERENT"


def _classic(cases: list[int], repeat: int) -> None:
    rows = []
    repeats: list[tuple[str, list[str], list[str]]] = []
    print(HEADER, flush=True)
    for i in cases:
        runs = _runs(i, repeat)
        row = runs[0]
        rows.append(row)
        print(_row(row), flush=True)
        repeats.append(
            (
                f"{row['case']} s{row['seed']}",
                [r["digest"] for r in runs],
                [r["stops"] for r in runs],
            )
        )
    print("\nschedule digests per run (identical = reproduced) and what ended each phase:")
    for name, digests, stops in repeats:
        print(f"- {name}: {' '.join(digests)} ({_same(digests)}); stops: {' | '.join(stops)}")
    loaded = [r for r in rows if r["load"] >= 1.0 and r["baseline"] and r["moved"] is None]
    if loaded:
        mean = sum(r["placed_weighted"] / r["baseline"] for r in loaded) / len(loaded)
        print(
            f"\nmean placed-weighted ratio vs clerk where load >= 1.0: {mean:.3f} "
            f"over {len(loaded)} instances"
        )
    worse = [r for r in rows if r["placed_weighted"] < r["baseline"]]
    print(f"instances where the solver placed less than the clerk: {len(worse)}")


def _steady_report(cases: list[int], repeat: int, states: Path | None) -> None:
    rows = []
    notes = []
    print(STEADY_HEADER, flush=True)
    for i in cases:
        runs = _runs(i, repeat, states)
        row = runs[0]
        rows.append(row)
        print(_steady_row(row), flush=True)
        days = [r["state_digest"] for r in runs]
        digests = [r["digest"] for r in runs]
        notes.append(
            f"- {row['case']} s{row['seed']} load {row['load']:.2f}: steady state "
            f"{' '.join(days)} ({_same(days)}); schedule {' '.join(digests)} "
            f"({_same(digests)}); stops: {' | '.join(r['stops'] for r in runs)}"
        )
    print("\nsteady-state and schedule digests per run (identical = reproduced), phase stops:")
    print("\n".join(notes))
    baseline = [r for r in rows if r["status"] == "BASELINE"]
    # A proven phase 1 leaves nothing the top-up could add: if it adds, phase 1 was cut off.
    cut_off = [r for r in rows if r["phase1_status"] == "OPTIMAL" and r["topped_up"]]
    worse = [r for r in rows if r["placed_weighted"] < r["baseline"]]
    print(f"\nsteady states solved as BASELINE (phase 1 failed, clerk's answer): {len(baseline)}")
    print(f"steady states where phase 1 was proven optimal yet topped up: {len(cut_off)}")
    print(f"steady states where the solver placed less than the clerk: {len(worse)}")
    print(
        f"violations (solver/clerk): {sum(r['violations'] for r in rows)}/"
        f"{sum(r['clerk_violations'] for r in rows)}; "
        f"placed clients moved: {sum(r['moved'] for r in rows)}"
    )


def _rolling_report(cases: list[int], repeat: int, states: Path | None) -> None:
    rows, notes = [], []
    print(ROLLING_HEADER, flush=True)
    for i in cases:
        runs = _runs(i, repeat, states)
        row = runs[0]
        rows.append(row)
        print(_rolling_row(row), flush=True)
        digests = [r["digest"] for r in runs]
        notes.append(
            f"- {row['case']} s{row['seed']}: day {row['state_digest']}; schedule "
            f"{' '.join(digests)} ({_same(digests)}); stops: {' | '.join(r['stops'] for r in runs)}"
        )
    print("\nday and schedule digests per run (identical = reproduced), phase stops:")
    print("\n".join(notes))
    worse = [r for r in rows if r["placed_weighted"] < r["baseline"]]
    print(f"rolling days where the solver placed less than the clerk: {len(worse)}")
    print(
        f"findings (solver/clerk, validate + clean-room): {sum(r['violations'] for r in rows)}/"
        f"{sum(r['clerk_violations'] for r in rows)}; kept clients moved: "
        f"{sum(r['moved'] for r in rows)}"
    )


def _selected(quick: bool, only: str) -> list[int]:
    if only == "steady":
        return [i for i, c in enumerate(CASES) if c.placed_share and not c.rolling_weeks]
    if only == "rolling":
        return [i for i, c in enumerate(CASES) if c.rolling_weeks]
    if only:
        return [int(i) for i in only.split(",")]
    return [i for i, c in enumerate(CASES) if not quick or c.name == "small"]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="small cases only")
    parser.add_argument("--case", type=int, help=argparse.SUPPRESS)  # child process mode
    parser.add_argument(
        "--only",
        type=str,
        default="",
        help="comma-separated case indexes, or 'steady', or 'rolling'",
    )
    parser.add_argument(
        "--repeat",
        type=int,
        default=1,
        help="run each case N times (fresh processes) and "
        "report whether the schedules are identical",
    )
    parser.add_argument(
        "--states",
        type=Path,
        help="steady states: read each from this directory, or solve and save it there "
        "(so that another solver version starts from the same day)",
    )
    args = parser.parse_args()
    if args.case is not None:
        print(json.dumps(run_case(CASES[args.case], args.states)))
        return
    cases = _selected(args.quick, args.only)
    classic = [i for i in cases if not CASES[i].placed_share]
    steady = [i for i in cases if CASES[i].placed_share and not CASES[i].rolling_weeks]
    rolling = [i for i in cases if CASES[i].rolling_weeks]
    if classic:
        _classic(classic, args.repeat)
    if steady:
        if classic:
            print()
        _steady_report(steady, args.repeat, args.states)
    if rolling:
        if classic or steady:
            print()
        _rolling_report(rolling, args.repeat, args.states)


if __name__ == "__main__":
    main()
