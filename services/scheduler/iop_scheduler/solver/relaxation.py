"""An LP-guided hint: solve the LP relaxation of the placement model, then round it greedily.

Measured on the one-region benchmark (about 400 clients), the LP relaxation of the phase-1
model, once groups' seats are tied to their facilitator (model.py), is within a placement or
two of the integer optimum, and its values say which group, facilitator and slot each client
should get. Rounding them greedily through the ledger (which applies every coupled hard rule)
gives a complete, feasible schedule far better than the first-fit clerk's (e.g. 367 vs 330
weighted placements where the optimum is 367), so CP-SAT starts next to the optimum instead of
having to find it within its time limit. GLOP is deterministic, and so is the rounding.

The LP also gives a proven upper bound on weighted placements (Lagrangian duality, computed in
exact rationals from GLOP's duals), which solve.py adds to the model as a redundant constraint:
it holds for every integer solution of the model, so the reported gap stays a true gap.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from fractions import Fraction

from ortools.linear_solver import pywraplp
from ortools.sat.python import cp_model

from .instance import Instance
from .ledger import Ledger
from .model import PlacementModel
from .problem import Assignment
from .rules import overlaps_group

INTEGRAL = 1e-6  # an LP value this close to 0 or 1 counts as integral

# Far above the LP's needs on one region (under a second); a safety stop, not a budget.
LP_TIME_LIMIT_MS = 5_000


@dataclass(frozen=True)
class Relaxation:
    """The LP optimum's values (indexed like the model's variables) and an upper bound on the
    model's maximised objective that holds for every integer solution."""

    values: list[float]
    upper_bound: int


def lp_relaxation(model: cp_model.CpModel) -> Relaxation | None:
    """Solve the LP relaxation of ``model``, which must maximise (variables relaxed to their
    domain's hull; non-linear or enforced constraints are dropped, which only relaxes it);
    ``None`` if GLOP finds no optimum."""
    proto = model.proto
    if proto.objective.scaling_factor >= 0:
        return None
    lp = pywraplp.Solver.CreateSolver("GLOP")
    if lp is None:
        return None
    lp.SetTimeLimit(LP_TIME_LIMIT_MS)
    hulls = [list(v.domain) for v in proto.variables]
    bounds = [(int(d[0]), int(d[-1])) for d in hulls]
    columns = [lp.NumVar(float(lo), float(hi), "") for lo, hi in bounds]
    rows: list[_Row] = []
    for ct in proto.constraints:
        if not ct.has_linear() or list(ct.enforcement_literal):
            continue
        domain = list(ct.linear.domain)
        terms = list(zip(list(ct.linear.vars), list(ct.linear.coeffs), strict=True))
        if any(index < 0 for index, _ in terms):
            continue  # a negated literal never appears in this model's rows; relax if it does
        lo = None if domain[0] <= cp_model.INT_MIN else int(domain[0])
        hi = None if domain[-1] >= cp_model.INT_MAX else int(domain[-1])
        row = lp.Constraint(
            -lp.infinity() if lo is None else float(lo), lp.infinity() if hi is None else hi
        )
        for index, coeff in terms:
            row.SetCoefficient(columns[index], float(coeff))
        rows.append(_Row(row, terms, lo, hi))
    objective = lp.Objective()
    costs = dict(zip(list(proto.objective.vars), list(proto.objective.coeffs), strict=True))
    for index, coeff in costs.items():
        objective.SetCoefficient(columns[index], float(coeff))
    objective.SetMinimization()  # CP-SAT stores a maximisation as a negated minimisation
    if lp.Solve() != pywraplp.Solver.OPTIMAL:
        return None
    lower = _lagrangian_bound(costs, bounds, rows)
    # objective = scaling * (internal + offset) with scaling < 0, and internal >= lower.
    scaling = Fraction(proto.objective.scaling_factor)
    upper = math.floor(scaling * (lower + Fraction(proto.objective.offset)))
    return Relaxation([c.solution_value() for c in columns], upper)


@dataclass(frozen=True)
class _Row:
    constraint: pywraplp.Constraint
    terms: list[tuple[int, int]]
    lo: int | None
    hi: int | None


def _lagrangian_bound(
    costs: dict[int, int], bounds: list[tuple[int, int]], rows: list[_Row]
) -> Fraction:
    """A lower bound on min c.x over lo <= A.x <= hi and the variables' boxes, valid for ANY
    multipliers y: c.x = (c - A'y).x + y.(A.x), each part bounded term by term. With GLOP's
    duals as y it equals the LP optimum; computed in exact rationals, it is a proven bound
    whatever GLOP's floating-point tolerances did."""
    reduced = {index: Fraction(coeff) for index, coeff in costs.items()}
    total = Fraction(0)
    for row in rows:
        y = Fraction(row.constraint.dual_value())
        side = row.lo if y > 0 else row.hi
        if y == 0 or side is None:
            continue  # that side is unbounded: this row can only take the multiplier 0
        total += y * side
        for index, coeff in row.terms:
            reduced[index] = reduced.get(index, Fraction(0)) - y * coeff
    for index, d in reduced.items():
        lo, hi = bounds[index]
        total += min(d * lo, d * hi)
    return total


def round_greedily(
    inst: Instance, pm: PlacementModel, values: Sequence[float]
) -> dict[str, Assignment]:
    """Place clients one by one through the ledger, each to the group, facilitator and slot
    the LP likes best that still fits every hard rule; two client orders are tried (measured:
    each wins on some benchmark region) and the better schedule is kept."""

    def lp(var: cp_model.IntVar) -> float:
        return values[var.index]

    weight = inst.client_weight
    # Ties (common: the LP is mostly integral) fall back to the clerk's priority order.
    rank = {cid: i for i, cid in enumerate(inst.pending)}

    def split(cid: str) -> bool:
        options = [pm.x[cid, o.group_id, o.start_date] for o in inst.group_options.get(cid, ())]
        options += [pm.y[cid, i] for i in range(len(inst.slot_options.get(cid, ())))]
        return any(INTEGRAL < lp(v) < 1 - INTEGRAL for v in options)

    most_placed = sorted(inst.pending, key=lambda c: (-lp(pm.placed[c]) * weight(c), rank[c]))
    # Clients the LP places whole first: their choices are part of one LP-feasible point, so
    # they rarely block each other; the split ones then take what is left.
    whole_first = sorted(most_placed, key=split)
    best: dict[str, Assignment] = {}
    for order in (most_placed, whole_first):
        placed = _round_in_order(inst, pm, order, lp)
        if sum(map(weight, placed)) > sum(map(weight, best)):
            best = placed
    return best


def _round_in_order(
    inst: Instance,
    pm: PlacementModel,
    order: Sequence[str],
    lp: Callable[[cp_model.IntVar], float],
) -> dict[str, Assignment]:
    ledger = inst.ledger.copy()
    placed: dict[str, Assignment] = {}
    for cid in order:
        placement = _best_fit(inst, pm, ledger, cid, lp)
        if placement is not None:
            ledger.add(
                placement.group_id, placement.facilitator_id, placement.individual, placement.dates
            )
            placed[cid] = placement
    return placed


def _best_fit(
    inst: Instance,
    pm: PlacementModel,
    ledger: Ledger,
    cid: str,
    lp: Callable[[cp_model.IntVar], float],
) -> Assignment | None:
    """The client's first fitting (group, facilitator, slot) in descending LP order; stable
    sorts keep the instance's option order (best place first) among equal LP values."""
    groups = sorted(
        inst.group_options.get(cid, ()), key=lambda o: -lp(pm.x[cid, o.group_id, o.start_date])
    )
    slots = inst.slot_options.get(cid, ())
    slot_order = sorted(range(len(slots)), key=lambda i: -lp(pm.y[cid, i]))
    for option in groups:
        gid = option.group_id
        if ledger.seats_left(gid, option.dates) <= 0:
            continue
        group = inst.problem.groups[gid]

        def facilitation(tid: str, gid: str = gid) -> float:
            var = pm.f.get((gid, tid))
            return 1.0 if var is None else lp(var)  # no variable: the group's running one

        for fid in sorted(inst.facilitators.get(gid, ()), key=lambda t: -facilitation(t)):
            if not ledger.open_for(gid, fid):
                continue
            for i in slot_order:
                slot = slots[i]
                if overlaps_group(slot.interval, group):
                    continue  # rule 3: the client's own sessions never overlap
                if ledger.fits(gid, fid, slot, option.dates):
                    return Assignment(cid, gid, fid, slot, option.start_date, option.end_date)
    return None
