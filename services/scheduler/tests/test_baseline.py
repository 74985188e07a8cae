"""The first-fit clerk: valid, priority-ordered, and never better than the solver."""

from __future__ import annotations

from types import SimpleNamespace

from iop_scheduler.adapters.snapshot import first_fit_snapshot, solve_snapshot
from iop_scheduler.solver import generate

WEIGHT = {"urgent": 3, "step_down": 2, "routine": 1}


def test_clerk_serves_priority_first(iop: SimpleNamespace) -> None:
    snap = iop.snapshot(
        groups=[iop.group(capacity=2)],
        enrollments=[
            iop.client("a", requested_start="2026-12-01"),
            iop.client("b", priority="step_down", requested_start="2026-12-08"),
            iop.client("c", priority="urgent", requested_start="2026-12-09"),
        ],
    )
    out = iop.baseline(snap)
    assert set(iop.placed(out)) == {"b", "c"}


def test_clerk_output_is_valid_on_a_generated_network(iop: SimpleNamespace) -> None:
    snap = generate(11, regions=1, sites_per_region=2, load=1.2)
    out = iop.baseline(snap)
    assert out["scheduled"], "a generated network should let the clerk place someone"


def test_solver_is_never_worse_than_the_clerk(iop: SimpleNamespace) -> None:
    snap = generate(5, regions=1, sites_per_region=2, load=1.2)
    clerk = first_fit_snapshot(snap)
    solved = solve_snapshot(snap, iop.FAST)
    weights = {e["client_id"]: WEIGHT[e["priority"]] for e in snap["enrollments"]}

    def value(out: dict) -> int:
        return sum(weights[s["client_id"]] for s in out["scheduled"])

    assert value(solved) >= value(clerk)
