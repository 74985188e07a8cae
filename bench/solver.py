"""Benchmark: the CP-SAT scheduler against the first-fit clerk on generated networks.

    .venv/bin/python bench/solver.py            # every case, prints a markdown table
    .venv/bin/python bench/solver.py --quick    # the small cases only

Each case runs in its own process so that peak memory (max RSS of the process and its region
workers) belongs to that case alone. Figures are printed, not asserted (ARCHITECTURE.md).
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import json
import resource
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import date
from typing import Any

from iop_scheduler.solver import (
    SolveSettings,
    first_fit,
    generate,
    solve_snapshot,
    validate_output,
)

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


def run_case(case: Case) -> dict[str, Any]:
    snap = generate(case.seed, case.regions, case.sites, case.load)
    settings = SolveSettings(time_limit_s=case.time_limit, workers=8, seed=0)
    if case.incremental:
        return _incremental(case, snap)
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


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="small cases only")
    parser.add_argument("--case", type=int, help=argparse.SUPPRESS)  # child process mode
    parser.add_argument("--only", type=str, default="", help="comma-separated case indexes")
    parser.add_argument(
        "--repeat",
        type=int,
        default=1,
        help="run each case N times (fresh processes) and "
        "report whether the schedules are identical",
    )
    args = parser.parse_args()
    if args.case is not None:
        print(json.dumps(run_case(CASES[args.case])))
        return
    cases = [i for i, c in enumerate(CASES) if not args.quick or c.name == "small"]
    if args.only:
        cases = [int(i) for i in args.only.split(",")]
    rows = []
    repeats: list[tuple[str, list[str], list[str]]] = []
    print(HEADER, flush=True)
    for i in cases:
        runs = []
        for _ in range(max(1, args.repeat)):
            done = subprocess.run(
                [sys.executable, __file__, "--case", str(i)],
                capture_output=True,
                text=True,
                check=True,
            )
            runs.append(json.loads(done.stdout.strip().splitlines()[-1]))
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
        same = "identical" if len(set(digests)) == 1 else "DIFFERENT"
        print(f"- {name}: {' '.join(digests)} ({same}); stops: {' | '.join(stops)}")
    loaded = [r for r in rows if r["load"] >= 1.0 and r["baseline"] and r["moved"] is None]
    if loaded:
        mean = sum(r["placed_weighted"] / r["baseline"] for r in loaded) / len(loaded)
        print(
            f"\nmean placed-weighted ratio vs clerk where load >= 1.0: {mean:.3f} "
            f"over {len(loaded)} instances"
        )
    worse = [r for r in rows if r["placed_weighted"] < r["baseline"]]
    print(f"instances where the solver placed less than the clerk: {len(worse)}")


if __name__ == "__main__":
    main()
