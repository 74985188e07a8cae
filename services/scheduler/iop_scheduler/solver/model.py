"""The CP-SAT model of SCHEDULING.md over one region's pre-filtered options (instance.py).

Variables exist only for compatible options, so rules 1, 2, 5, 6, 9 and the static halves of
3 and 7 hold by construction. Each remaining hard rule is one method below whose docstring states
it; each soft goal is one method returning a penalty term. Existing valid schedules are not
variables at all: they sit in the instance's ledger and reduce the capacities the rules see.

Variables:
  x[c, g]   client c joins group g
  y[c, i]   client c's individual session is slot_options[c][i] (therapist, time, place)
  f[g, t]   therapist t facilitates group g (only for groups not yet running)
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from ortools.sat.python import cp_model

from .domain import Slot
from .instance import MAX_WAIT_DAYS_PENALISED, Instance
from .placement import Placement
from .rules import travel_conflict
from .weektime import Interval

LinearTerm = cp_model.LinearExprT

# Soft-goal weights. Each tier's unit outweighs the largest change one client can make to every
# lower tier, so the priority order of SCHEDULING.md holds client by client (placements are
# optimised first, in a separate lexicographic phase; see solve.py).
# Below all of them, the critical-facilitator tie-break (unit 1, the other tiers scaled above
# it per instance: PlacementModel.critical_scale).
BALANCE_PER_CLIENT = 4  # group fill (<= 3 per seat) + therapist caseload (1 per client)
W_CONTINUITY = BALANCE_PER_CLIENT + 1
W_WISH = W_CONTINUITY + BALANCE_PER_CLIENT + 1
W_SITE = 2 * W_WISH + W_CONTINUITY + BALANCE_PER_CLIENT + 1
W_WAIT = 5 * W_SITE + 2 * W_WISH + W_CONTINUITY + BALANCE_PER_CLIENT + 1
W_MOVED = (
    MAX_WAIT_DAYS_PENALISED * W_WAIT
    + 5 * W_SITE
    + 2 * W_WISH
    + W_CONTINUITY
    + (BALANCE_PER_CLIENT + 1)
)

Booking = tuple[Interval, str | None]

# The methods of PlacementModel that state a hard rule, in the order build() adds them. Each has
# a knockout row in the scheduler's tests/test_knockout.py (a test checks the two agree).
HARD_RULES = (
    "one_group_and_one_individual",
    "client_sessions_do_not_overlap",
    "group_capacity",
    "one_facilitator_per_running_group",
    "therapist_sessions_do_not_overlap",
    "therapist_travel_between_sites",
    "therapist_caseload",
    "therapist_weekly_hours",
)
# Redundant constraints: implied by the hard rules on integers, added only to tighten the LP
# relaxation. Removing one changes no integer solution, so no knockout can see it.
CUTS = ("seats_need_a_facilitator",)


@dataclass
class PlacementModel:
    inst: Instance
    model: cp_model.CpModel
    x: dict[tuple[str, str], cp_model.IntVar]
    y: dict[tuple[str, int], cp_model.IntVar]
    f: dict[tuple[str, str], cp_model.IntVar]
    placed: dict[str, cp_model.IntVar]

    @classmethod
    def build(cls, inst: Instance) -> PlacementModel:
        model = cp_model.CpModel()
        pm = cls(inst, model, {}, {}, {}, {})
        pm._variables()
        # Driven by the two lists, so that they name exactly what the model holds.
        for name in (*HARD_RULES, *CUTS):
            getattr(pm, name)()
        return pm

    def _variables(self) -> None:
        inst, m = self.inst, self.model
        for cid in inst.pending:
            for opt in inst.group_options.get(cid, ()):
                self.x[cid, opt.group_id] = m.new_bool_var(f"x[{cid},{opt.group_id}]")
            for i, _slot in enumerate(inst.slot_options.get(cid, ())):
                self.y[cid, i] = m.new_bool_var(f"y[{cid},{i}]")
            self.placed[cid] = m.new_bool_var(f"placed[{cid}]")
        for gid, tids in inst.facilitators.items():
            if gid in inst.ledger.facilitator or not self._clients_of(gid):
                continue
            for tid in tids:
                self.f[gid, tid] = m.new_bool_var(f"f[{gid},{tid}]")

    def _clients_of(self, gid: str) -> list[cp_model.IntVar]:
        return [v for (c, g), v in self.x.items() if g == gid]

    # ----- hard rules -------------------------------------------------------------------------

    def one_group_and_one_individual(self) -> None:
        """A client's schedule is one group plus one weekly individual session: a placed client
        has exactly one group and exactly one individual slot; an unplaced client has neither."""
        inst = self.inst
        for cid in inst.pending:
            groups = [self.x[cid, o.group_id] for o in inst.group_options.get(cid, ())]
            slots = [self.y[cid, i] for i in range(len(inst.slot_options.get(cid, ())))]
            self.model.add(sum(groups) == self.placed[cid])
            self.model.add(sum(slots) == self.placed[cid])

    def client_sessions_do_not_overlap(self) -> None:
        """Rule 3: the client's sessions never overlap (their individual slot and the sessions of
        the group they join)."""
        inst = self.inst
        for cid in inst.pending:
            by_time: dict[Interval, list[cp_model.IntVar]] = defaultdict(list)
            for i, slot in enumerate(inst.slot_options.get(cid, ())):
                by_time[slot.interval].append(self.y[cid, i])
            for when, slot_vars in by_time.items():
                clashing = [
                    self.x[cid, o.group_id]
                    for o in inst.group_options[cid]
                    if any(s.overlaps(when) for s in inst.roster.groups[o.group_id].sessions)
                ]
                if clashing:
                    self.model.add(sum(slot_vars) + sum(clashing) <= 1)

    def group_capacity(self) -> None:
        """Rule 4: a group holds at most ``capacity`` scheduled clients (kept ones included)."""
        by_group: dict[str, list[cp_model.IntVar]] = defaultdict(list)
        for (_c, gid), var in self.x.items():
            by_group[gid].append(var)
        for gid, members in by_group.items():
            seats = self.inst.ledger.seats_left(gid)
            if len(members) > seats:
                self.model.add(sum(members) <= seats)

    def one_facilitator_per_running_group(self) -> None:
        """Rule 8: every group with at least one client has exactly one facilitator for all its
        sessions; a running group keeps its own (no variable), a roster-fixed one is the only
        option, otherwise the model chooses among qualified therapists."""
        inst = self.inst
        for gid in inst.facilitators:
            members = self._clients_of(gid)
            if not members or gid in inst.ledger.facilitator:
                continue
            chosen = [self.f[gid, t] for t in inst.facilitators[gid]]
            self.model.add(sum(chosen) <= 1)
            for member in members:
                self.model.add(member <= sum(chosen))
            # A facilitator without clients would only waste hours: tie f to membership.
            self.model.add(sum(chosen) <= sum(members))

    def _bookings(self) -> dict[str, dict[Booking, list[cp_model.IntVar]]]:
        """Each therapist's possible sessions, aggregated by (time, site) so that rule 7 is a
        handful of clique constraints per therapist rather than one per pair of clients."""
        inst = self.inst
        per: dict[str, dict[Booking, list[cp_model.IntVar]]] = defaultdict(
            lambda: defaultdict(list)
        )
        for (gid, tid), var in self.f.items():
            group = inst.roster.groups[gid]
            site = None if group.delivery == "telehealth" else group.site_id
            for s in group.sessions:
                per[tid][s, site].append(var)
        for (cid, i), var in self.y.items():
            slot: Slot = inst.slot_options[cid][i]
            per[slot.therapist_id][slot.interval, slot.site_id if slot.in_person else None].append(
                var
            )
        return per

    def therapist_sessions_do_not_overlap(self) -> None:
        """Rule 7: a therapist's sessions never overlap. (Their availability, sites and
        telehealth were checked when the options were built; kept sessions were removed from the
        options.)"""
        for bookings in self._bookings().values():
            keys = sorted(bookings, key=lambda k: (k[0].start, k[0].end, k[1] or ""))
            points = sorted({k[0].start for k in keys})
            for p in points:
                covering = [v for k in keys if k[0].start <= p < k[0].end for v in bookings[k]]
                if len(covering) > 1:
                    self.model.add(sum(covering) <= 1)

    def therapist_travel_between_sites(self) -> None:
        """Rule 7: two in-person sessions of a therapist at different sites on one day leave
        ``travel_minutes`` to travel (``rules.travel_conflict``; kept sessions were removed from
        the options)."""
        travel = self.inst.settings.travel_minutes
        for bookings in self._bookings().values():
            keys = sorted(bookings, key=lambda k: (k[0].start, k[0].end, k[1] or ""))
            for i, (a, a_site) in enumerate(keys):
                for b, b_site in keys[i + 1 :]:
                    if b.start >= a.end + travel:
                        break  # sorted by start: every later session is far enough away
                    if travel_conflict(a, a_site, b, b_site, travel):
                        self.model.add(sum(bookings[a, a_site]) + sum(bookings[b, b_site]) <= 1)

    def therapist_caseload(self) -> None:
        """Rule 7: individual clients <= ``max_caseload`` (kept clients included)."""
        inst = self.inst
        per: dict[str, list[cp_model.IntVar]] = defaultdict(list)
        for (cid, i), var in self.y.items():
            per[inst.slot_options[cid][i].therapist_id].append(var)
        for tid, vars_ in per.items():
            room = inst.roster.therapists[tid].max_caseload - inst.ledger.caseload[tid]
            if len(vars_) > room:
                self.model.add(sum(vars_) <= room)

    def therapist_weekly_hours(self) -> None:
        """Rule 7: hours of the groups a therapist facilitates (once per group, whatever its
        client count) + their individual hours <= ``max_weekly_hours``."""
        inst = self.inst
        terms: dict[str, list[LinearTerm]] = defaultdict(list)
        bound: dict[str, int] = defaultdict(int)
        for (gid, tid), var in self.f.items():
            minutes = inst.roster.groups[gid].minutes
            terms[tid].append(minutes * var)
            bound[tid] += minutes
        for (cid, i), var in self.y.items():
            slot = inst.slot_options[cid][i]
            terms[slot.therapist_id].append(slot.interval.minutes * var)
            bound[slot.therapist_id] += slot.interval.minutes
        for tid, parts in terms.items():
            room = inst.roster.therapists[tid].max_weekly_minutes - inst.ledger.minutes[tid]
            if bound[tid] > room:
                self.model.add(sum(parts) <= room)

    # ----- cuts: redundant, for the LP bound only --------------------------------------------

    def seats_need_a_facilitator(self) -> None:
        """A cut, not a hard rule (rules 4 + 8 together): a group not yet running seats at most
        ``capacity`` clients times [it has a facilitator]. Implied by the two rules on integers,
        but without it the LP relaxation lets a therapist facilitate half a group and still fill
        it, which left the proven bound ~5% above the optimum at load 1.2 (387 vs 367 on region
        s3). It restates rule 8's "no seat without a facilitator" and rule 4 for groups not yet
        running, so knocking out either rule alone is masked there (see tests/test_knockout.py)."""
        inst = self.inst
        for gid in inst.facilitators:
            members = self._clients_of(gid)
            if not members or gid in inst.ledger.facilitator:
                continue
            chosen = [self.f[gid, t] for t in inst.facilitators[gid]]
            seats = min(inst.ledger.seats_left(gid), len(members))
            self.model.add(sum(members) <= seats * sum(chosen))

    # ----- soft goals -------------------------------------------------------------------------

    def weighted_placements(self) -> LinearTerm:
        """Soft goal 1 (maximised first): placed clients weighted by priority (urgent 3,
        step_down 2, routine 1; displaced clients above every new one)."""
        return sum(self.inst.client_weight(c) * v for c, v in self.placed.items())

    def moved_penalty(self) -> LinearTerm:
        """Stability for displaced clients: stay in their old group where it still works."""
        inst = self.inst
        return sum(
            W_MOVED * var
            for (cid, gid), var in self.x.items()
            if cid in inst.displaced
            and not any(o.is_previous and o.group_id == gid for o in inst.group_options[cid])
        )

    def waiting_penalty(self) -> LinearTerm:
        """Soft goal 2: earliest start (days waited after ``requested_start``, capped)."""
        return sum(
            W_WAIT * min(o.wait_days, MAX_WAIT_DAYS_PENALISED) * self.x[cid, o.group_id]
            for cid in self.inst.pending
            for o in self.inst.group_options.get(cid, ())
            if o.wait_days
        )

    def site_penalty(self) -> LinearTerm:
        """Soft goal 3: first-choice site over later ones, in person over telehealth (for the
        group and for the individual session)."""
        inst = self.inst
        group_part = sum(
            W_SITE * o.site_rank * self.x[cid, o.group_id]
            for cid in inst.pending
            for o in inst.group_options.get(cid, ())
            if o.site_rank
        )
        tele_part = sum(
            W_SITE * var
            for (cid, i), var in self.y.items()
            if not inst.slot_options[cid][i].in_person
        )
        return group_part + tele_part

    def wish_penalty(self) -> LinearTerm:
        """Soft goal 4: a gender-specific group when wanted; an indicated modality."""
        return sum(
            W_WISH * o.wish_misses * self.x[cid, o.group_id]
            for cid in self.inst.pending
            for o in self.inst.group_options.get(cid, ())
            if o.wish_misses
        )

    def continuity_penalty(self) -> LinearTerm:
        """Soft goal 5: the individual therapist is the group's facilitator where possible
        (a reward, so lower is better)."""
        inst, m = self.inst, self.model
        rewards: list[LinearTerm] = []
        for cid in inst.pending:
            by_therapist: dict[str, list[cp_model.IntVar]] = defaultdict(list)
            for i, slot in enumerate(inst.slot_options.get(cid, ())):
                by_therapist[slot.therapist_id].append(self.y[cid, i])
            for tid, slot_vars in by_therapist.items():
                led = [
                    o.group_id
                    for o in inst.group_options[cid]
                    if tid in inst.facilitators.get(o.group_id, ())
                ]
                if not led:
                    continue
                same = m.new_bool_var(f"cont[{cid},{tid}]")
                m.add(same <= sum(slot_vars))
                m.add(same <= sum(self.x[cid, g] for g in led))
                for gid in led:
                    if (gid, tid) in self.f:
                        m.add(same + self.x[cid, gid] <= 1 + self.f[gid, tid])
                rewards.append(same)
        return -W_CONTINUITY * sum(rewards)

    def balance_penalty(self) -> LinearTerm:
        """Soft goal 6: spread clients across groups and therapists: seats beyond half a group
        cost 1, beyond three quarters 2 more; individual clients beyond half a caseload cost 1.
        Only the seats this solve adds are priced: kept clients are a constant it cannot
        change (see ``excess_over``)."""
        inst = self.inst
        terms: list[LinearTerm] = []
        by_group: dict[str, list[cp_model.IntVar]] = defaultdict(list)
        for (_c, gid), var in self.x.items():
            by_group[gid].append(var)
        for gid, members in by_group.items():
            cap = inst.roster.groups[gid].capacity
            kept = inst.ledger.group_load[gid]
            for threshold, weight in ((cap // 2, 1), ((3 * cap) // 4, 2)):
                over = excess_over(self.model, members, kept, threshold, f"over[{gid},{threshold}]")
                terms.append(weight * over)
        per: dict[str, list[cp_model.IntVar]] = defaultdict(list)
        for (cid, i), var in self.y.items():
            per[inst.slot_options[cid][i].therapist_id].append(var)
        for tid, vars_ in per.items():
            half = inst.roster.therapists[tid].max_caseload // 2
            kept = inst.ledger.caseload[tid]
            terms.append(excess_over(self.model, vars_, kept, half, f"over[{tid}]"))
        return sum(terms)

    def critical_facilitator_penalty(self) -> LinearTerm:
        """Soft goal 6, lowest tie-break: spread work rather than exhaust a scarce resource. A
        group does not take as facilitator the only therapist who could facilitate another group
        not running yet and who could not then hold both (``Instance.critical``), so that
        clients who arrive for that group in a later batch can still be placed. 1 per group so
        staffed; ``penalty`` weights it below one unit of every other goal."""
        return sum(var for key, var in sorted(self.f.items()) if key in self.inst.critical)

    def critical_scale(self) -> int:
        """The weight of one unit of goals 2-6 relative to ``critical_facilitator_penalty``:
        one more than the most it can reach (each group has at most one facilitator), so it
        only breaks ties. 1 when no critical choice exists, which leaves the objective as is."""
        return 1 + len({gid for gid, tid in self.f if (gid, tid) in self.inst.critical})

    def ranked_penalty(self) -> LinearTerm:
        """Soft goals 2-6 (and stability of displaced clients), weighted in priority order."""
        return cp_model.LinearExpr.sum(
            [
                self.moved_penalty(),
                self.waiting_penalty(),
                self.site_penalty(),
                self.wish_penalty(),
                self.continuity_penalty(),
                self.balance_penalty(),
            ]
        )

    def penalty(self) -> LinearTerm:
        """Soft goals 2-6 in priority order, then the critical-facilitator tie-break. Adds no
        variable or constraint beyond ``ranked_penalty``'s, so phase 1 is unchanged."""
        ranked = self.ranked_penalty()
        scale = self.critical_scale()
        if scale == 1:
            return ranked
        return cp_model.LinearExpr.weighted_sum(
            [ranked, self.critical_facilitator_penalty()], [scale, 1]
        )

    # ----- hints and solutions ----------------------------------------------------------------

    def hint(self, placements: dict[str, Placement]) -> None:
        """Hint a complete assignment (e.g. the first-fit clerk's) so the search starts there."""
        m, inst = self.model, self.inst
        m.clear_hints()
        for cid, var in self.placed.items():
            m.add_hint(var, cid in placements)
        for (cid, gid), var in self.x.items():
            p = placements.get(cid)
            m.add_hint(var, p is not None and p.group_id == gid)
        for (cid, i), var in self.y.items():
            p = placements.get(cid)
            m.add_hint(var, p is not None and p.slot == inst.slot_options[cid][i])
        used = {(p.group_id, p.facilitator_id) for p in placements.values()}
        for key, var in self.f.items():
            m.add_hint(var, key in used)

    def placements(self, solver: cp_model.CpSolver) -> dict[str, Placement]:
        inst = self.inst
        facilitator = {gid: tid for (gid, tid), v in self.f.items() if solver.value(v)}
        facilitator.update(inst.ledger.facilitator)
        out: dict[str, Placement] = {}
        for cid in inst.pending:
            if not solver.value(self.placed[cid]):
                continue
            option = next(
                o for o in inst.group_options[cid] if solver.value(self.x[cid, o.group_id])
            )
            index = next(
                i for i in range(len(inst.slot_options[cid])) if solver.value(self.y[cid, i])
            )
            out[cid] = Placement(
                cid,
                option.group_id,
                facilitator[option.group_id],
                inst.slot_options[cid][index],
                option.start_date,
            )
        return out

    def size(self) -> dict[str, int]:
        proto = self.model.proto
        return {
            "variables": len(proto.variables),
            "constraints": len(proto.constraints),
            "group_options": len(self.x),
            "slot_options": len(self.y),
            "facilitator_options": len(self.f),
        }


def excess_over(
    model: cp_model.CpModel,
    chosen: list[cp_model.IntVar],
    already: int,
    threshold: int,
    name: str,
) -> cp_model.IntVar:
    """How many of ``chosen`` land beyond ``threshold`` when ``already`` places are taken: a
    soft goal's penalty variable, at least ``sum(chosen) - max(0, threshold - already)``.

    Its domain must admit every value that expression can take, or the penalty turns into a
    hard cap: soft-goal variables share the model with the hard rules (phase 1 solves them
    all), so an upper bound of ``len(chosen)`` on ``already + sum(chosen) - threshold`` made
    phase 1 infeasible once ``already`` passed the threshold by more than the candidates, and
    cut off feasible schedules below that. Pricing only the marginal excess keeps the domain
    ``[0, len(chosen)]`` exact: the places already taken are a constant no solve can change."""
    room = max(0, threshold - already)
    over = model.new_int_var(0, max(0, len(chosen) - room), name)
    model.add(over >= sum(chosen) - room)
    return over
