"""Property tests over small generated networks: valid, complete, never worse than the clerk,
and stable when the solution is fed back with new enrollments."""

from __future__ import annotations

import copy

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from iop_scheduler.solver import (
    SolveSettings,
    first_fit,
    generate,
    solve_snapshot,
    validate_output,
)

QUICK = SolveSettings(time_limit_s=2.0, workers=4)
WEIGHT = {"urgent": 3, "step_down": 2, "routine": 1}


def _value(snap: dict, out: dict) -> int:
    weights = {e["client_id"]: WEIGHT[e["priority"]] for e in snap["enrollments"]}
    return sum(weights[s["client_id"]] for s in out["scheduled"])


@settings(max_examples=4, deadline=None, suppress_health_check=list(HealthCheck))
@given(seed=st.integers(0, 10_000), load=st.sampled_from([0.6, 1.0, 1.4]))
def test_generated_networks_solve_validly(seed: int, load: float) -> None:
    snap = generate(seed, regions=1, sites_per_region=2, load=load)
    out = solve_snapshot(snap, QUICK)
    assert validate_output(snap, out) == []
    assert _value(snap, out) >= _value(snap, first_fit(snap))
    for w in out["waitlisted"]:
        assert w["reasons"]
        contact = next(
            e["contact"] for e in snap["enrollments"] if e["client_id"] == w["client_id"]
        )
        assert contact["email"] not in w["detail"]


@settings(max_examples=2, deadline=None, suppress_health_check=list(HealthCheck))
@given(seed=st.integers(0, 10_000))
def test_incremental_solve_moves_nobody(seed: int) -> None:
    full = generate(seed, regions=1, sites_per_region=2, load=1.0)
    first = copy.deepcopy(full)
    newcomers = first["enrollments"][-5:]
    first["enrollments"] = first["enrollments"][:-5]
    out = solve_snapshot(first, QUICK)
    later = copy.deepcopy(full)
    later["schedules"] = out["scheduled"]
    again = solve_snapshot(later, QUICK)
    assert validate_output(later, again) == []
    kept = {s["client_id"]: s for s in again["scheduled"]}
    assert all(kept[s["client_id"]] == s for s in out["scheduled"])
    assert again["rescheduled"] == []
    assert {n["client_id"] for n in newcomers} <= {
        c["client_id"] for c in again["scheduled"] + again["waitlisted"]
    }


def test_two_regions_are_solved_apart() -> None:
    snap = generate(4, regions=2, sites_per_region=1, load=1.0)
    out = solve_snapshot(snap, SolveSettings(time_limit_s=4.0, workers=4))
    assert validate_output(snap, out) == []
    assert len(out["stats"]["parts"]) == 2
    regions = {s["region_id"] for s in out["scheduled"]}
    assert regions == {"r01", "r02"}
