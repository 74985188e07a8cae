"""Cross-check the solver and the first-fit baseline with the clean-room checker and the project's
``validate_output`` (findings of the latter are counted as ``validate <rule>``).

Runs ``solve_snapshot`` and ``first_fit_snapshot`` over generated networks (several seeds and
sizes, one ~400-enrollment region, snapshots with existing schedules, roster changes that force
moves, and perturbed rosters the project's generator does not produce) and prints the
independent checker's findings per rule. Any finding is worth a look: it is a solver bug, a
checker bug or an ambiguity of SCHEDULING.md.

    .venv/bin/python bench/cross_check.py            # full run (a few minutes on 2 cores)
    .venv/bin/python bench/cross_check.py --quick    # smoke run
"""

from __future__ import annotations

import argparse
import copy
import json
import random
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from iop_scheduler.adapters.snapshot import (  # noqa: E402
    first_fit_snapshot,
    solve_snapshot,
)
from iop_scheduler.solver import SolveSettings, generate, validate_output  # noqa: E402

from tests.independent.checker import Finding, check_findings  # noqa: E402

Snapshot = dict[str, Any]


def with_existing(snapshot: Snapshot, share: float, settings: SolveSettings) -> Snapshot:
    """Place the first ``share`` of enrollments, then return the full snapshot with those
    placements as existing schedules (the incremental case: new enrollments into a live region)."""
    enrollments = snapshot["enrollments"]
    cut = int(len(enrollments) * share)
    first = dict(snapshot, enrollments=enrollments[:cut], schedules=[])
    placed = solve_snapshot(first, settings)["scheduled"]
    return dict(snapshot, schedules=placed)


def change_roster(snapshot: Snapshot, rng: random.Random) -> Snapshot:
    """Roster changes that break some existing schedules: retire a group that has clients,
    retire a therapist, cut a therapist's availability, lower a capacity, withdraw a client."""
    snap = copy.deepcopy(snapshot)
    used_groups = Counter(s["group"]["group_id"] for s in snap["schedules"])
    if used_groups:
        gone = rng.choice(sorted(used_groups))
        snap["groups"] = [g for g in snap["groups"] if g["group_id"] != gone]
    used_ther = Counter(s["individual"]["therapist_id"] for s in snap["schedules"])
    if len(used_ther) > 2:
        tids = sorted(used_ther)
        gone_t = rng.choice(tids)
        snap["therapists"] = [t for t in snap["therapists"] if t["therapist_id"] != gone_t]
        cut = rng.choice([t for t in tids if t != gone_t])
        for t in snap["therapists"]:
            if t["therapist_id"] == cut and t["availability"]:
                t["availability"] = t["availability"][1:]
    if len(used_groups) > 1:
        gid, count = used_groups.most_common(1)[0]
        for g in snap["groups"]:
            if g["group_id"] == gid:
                g["capacity"] = max(1, count - 2)
    if snap["schedules"]:
        # A withdrawn client vanishes from enrollments and schedules alike.
        cid = rng.choice(snap["schedules"])["client_id"]
        snap["schedules"] = [s for s in snap["schedules"] if s["client_id"] != cid]
        snap["enrollments"] = [e for e in snap["enrollments"] if e["client_id"] != cid]
    return snap


def perturb(snapshot: Snapshot, rng: random.Random) -> Snapshot:
    """Roster shapes another generator might produce: split availability into adjacent pieces,
    narrower site windows, non-binary/undisclosed clients, therapists without telehealth,
    late open_from, 2- and 16-week programmes, clients who refuse telehealth."""
    snap = copy.deepcopy(snapshot)
    for e in snap["enrollments"]:
        r = rng.random()
        if r < 0.15:
            e["gender"] = rng.choice(["nonbinary", "undisclosed"])
        if rng.random() < 0.2 and e["availability"]:
            a = e["availability"][0]
            mid = f"{(int(a['start'][:2]) + 1) % 24:02d}:{a['start'][3:]}"
            if a["start"] < mid < a["end"]:
                e["availability"][0:1] = [dict(a, end=mid), dict(a, start=mid)]
        if rng.random() < 0.1:
            e["program_weeks"] = rng.choice([2, 16])
        if rng.random() < 0.1:
            e["accepts_telehealth"] = False
    for s in snap["sites"]:
        if rng.random() < 0.3:
            s["windows"] = [
                dict(w, end="21:00") if w["end"] == "21:30" else w for w in s["windows"]
            ]
    for t in snap["therapists"]:
        if rng.random() < 0.2:
            t["telehealth"] = False
        if rng.random() < 0.2 and t["availability"]:
            a = t["availability"][-1]
            t["availability"][-1] = dict(a, start=f"{int(a['start'][:2]) + 1:02d}:{a['start'][3:]}")
    for g in snap["groups"]:
        if rng.random() < 0.2:
            g["open_from"] = "2026-12-24"
    return snap


def run_case(
    name: str,
    snap: Snapshot,
    settings: SolveSettings,
    totals: dict[str, Counter[str]],
    examples: dict[str, list[str]],
) -> None:
    runners: list[tuple[str, Callable[[Snapshot, SolveSettings], dict[str, Any]]]] = [
        ("solver", solve_snapshot),
        ("baseline", first_fit_snapshot),
    ]
    for label, fn in runners:
        t0 = time.perf_counter()
        out = fn(snap, settings)
        wall = time.perf_counter() - t0
        findings: list[Finding] = check_findings(snap, out)
        by_rule = Counter(f.rule for f in findings)
        totals[label].update(by_rule)
        for f in findings:
            bucket = examples.setdefault(f"{label} {f.rule}", [])
            if len(bucket) < 4:
                bucket.append(f"[{name}] {f.message}")
        # The project's own checker on the same output: the two must agree (both empty).
        own = validate_output(snap, out)
        by_own = Counter(f"validate {f.rule}" for f in own)
        totals[label].update(by_own)
        for v in own:
            bucket = examples.setdefault(f"{label} validate {v.rule}", [])
            if len(bucket) < 4:
                bucket.append(f"[{name}] {v}")
        print(
            f"{name:<34} {label:<8} enr={len(snap['enrollments']):>4} "
            f"old={len(snap.get('schedules') or []):>3} placed={len(out['scheduled']):>4} "
            f"wait={len(out['waitlisted']):>4} wall={wall:5.1f}s findings={dict(by_rule)} "
            f"validate={dict(by_own)}",
            flush=True,
        )


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--dump", type=Path, help="write each snapshot here for replay")
    parser.add_argument("--only", default="", help="run only cases whose name contains this")
    args = parser.parse_args()
    small = SolveSettings(time_limit_s=3.0, workers=args.workers)
    big = SolveSettings(time_limit_s=10.0, workers=args.workers)
    # Cases are built lazily so that --only skips the solves that build existing schedules.
    cases: list[tuple[str, Callable[[], Snapshot], SolveSettings]] = []
    seeds = range(3) if args.quick else range(8)
    for seed in seeds:
        for sites, load in ((2, 0.6), (2, 1.3), (3, 1.0)):
            cases.append(
                (
                    f"seed={seed} 1x{sites} load={load}",
                    lambda seed=seed, sites=sites, load=load: generate(
                        seed, regions=1, sites_per_region=sites, load=load
                    ),
                    small,
                )
            )
    if not args.quick:
        cases.append(
            (
                "seed=11 2x3 load=1.2",
                lambda: generate(11, regions=2, sites_per_region=3, load=1.2),
                big,
            )
        )
        cases.append(
            (
                "seed=5 1x6 load=1.0 (~400)",
                lambda: generate(5, regions=1, sites_per_region=6, load=1.0),
                big,
            )
        )
        for seed in range(6):
            cases.append(
                (
                    f"perturbed seed={100 + seed} 1x3",
                    lambda seed=seed: perturb(
                        generate(100 + seed, regions=1, sites_per_region=3, load=1.1),
                        random.Random(seed),
                    ),
                    small,
                )
            )
    for seed in (21, 22) if args.quick else (21, 22, 23, 24):

        def old(seed: int = seed) -> Snapshot:
            base = generate(seed, regions=1, sites_per_region=3, load=1.2)
            return with_existing(base, 0.6, small)

        cases.append((f"existing seed={seed} 1x3", old, small))
        cases.append(
            (
                f"existing+changes seed={seed} 1x3",
                lambda seed=seed, old=old: change_roster(old(), random.Random(seed)),
                small,
            )
        )
    if not args.quick:
        cases.append(
            (
                "existing seed=31 1x6 (~400)",
                lambda: with_existing(
                    generate(31, regions=1, sites_per_region=6, load=1.0), 0.75, big
                ),
                big,
            )
        )

    totals: dict[str, Counter[str]] = {"solver": Counter(), "baseline": Counter()}
    examples: dict[str, list[str]] = {}
    for name, build, settings in cases:
        if args.only not in name:
            continue
        snap = build()
        if args.dump:
            args.dump.mkdir(parents=True, exist_ok=True)
            fname = name.replace(" ", "_").replace("=", "").replace("(", "").replace(")", "")
            (args.dump / f"{fname}.json").write_text(json.dumps(snap))
        run_case(name, snap, settings, totals, examples)
    print("\nfindings per rule:")
    for label, counter in totals.items():
        print(f"  {label}: {dict(sorted(counter.items())) or 'none'}")
    for key, lines in sorted(examples.items()):
        print(f"\n{key}:")
        for line in lines:
            print(f"  {line}")
    return 1 if any(totals.values()) else 0


if __name__ == "__main__":
    raise SystemExit(main())
