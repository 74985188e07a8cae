"""The CP-SAT model of SCHEDULING.md over one region's pre-filtered options (instance.py).

Variables exist only for compatible options, so rules 1, 2, 5, 6, 9 and the static halves of
3 and 7 hold by construction. Each remaining hard rule is one method below whose docstring states
it; each soft goal is one method returning a penalty term. Existing valid schedules are not
variables at all: they sit in the instance's ledger and reduce the capacities the rules see, on
their own dates (rules 4 and 7 are per date).

Variables:
  x[c, g, s]  client c joins group g on start date s (instance.py: the start dates that matter)
  y[c, i]     client c's individual session is slot_options[c][i] (therapist, time, place)
  f[g, t]     therapist t facilitates group g (only for groups not yet running)
  v[c, t, k]  client c sees therapist t individually and starts in t's class k of dates
              (timeline.py; only where c's start dates fall in several of t's classes)

Dates. Seats are counted exactly on every date where some option's occupancy can rise. Against
kept clients a slot is counted on its own dates (``individual_slot_dates``); among this solve's
newcomers, and for facilitation, sessions are booked whatever their dates, and a therapist's
newcomers are counted as if none finished within the solve's dates (timeline.py). Both only ever
refuse more than the rules do, and the cautious ledger (ledger.py) reads newcomers the same way,
so the clerk's and the rounding's schedules are solutions of this model.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date

from ortools.sat.python import cp_model

from .dates import DateRange
from .domain import Slot
from .instance import MAX_WAIT_DAYS_PENALISED, GroupOption, Instance
from .ledger import ALWAYS, group_bookings, slot_booking
from .problem import Assignment
from .rules import overlaps_group, travel_conflict
from .timeline import Timeline, timeline
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
    "individual_slot_dates",
    "therapist_start_classes",
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
    x: dict[tuple[str, str, date], cp_model.IntVar]
    y: dict[tuple[str, int], cp_model.IntVar]
    f: dict[tuple[str, str], cp_model.IntVar]
    placed: dict[str, cp_model.IntVar]
    v: dict[tuple[str, str, int], cp_model.IntVar] = field(default_factory=dict)
    timelines: dict[str, Timeline] = field(default_factory=dict)
    # Per (client, therapist): the classes of the therapist's timeline the client may start in.
    pair_classes: dict[tuple[str, str], list[int]] = field(default_factory=dict)

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
                self.x[cid, opt.group_id, opt.start_date] = m.new_bool_var(
                    f"x[{cid},{opt.group_id},{opt.start_date}]"
                )
            for i, _slot in enumerate(inst.slot_options.get(cid, ())):
                self.y[cid, i] = m.new_bool_var(f"y[{cid},{i}]")
            self.placed[cid] = m.new_bool_var(f"placed[{cid}]")
        for gid, tids in inst.facilitators.items():
            if gid in inst.ledger.facilitator or not self._clients_of(gid):
                continue
            for tid in tids:
                self.f[gid, tid] = m.new_bool_var(f"f[{gid},{tid}]")
        self._timelines()
        self.pair_classes = self._classes()
        for (cid, tid), classes in self.pair_classes.items():
            if len(classes) > 1:
                for k in classes:
                    self.v[cid, tid, k] = m.new_bool_var(f"v[{cid},{tid},{k}]")

    def _clients_of(self, gid: str) -> list[cp_model.IntVar]:
        return [v for (c, g, _s), v in self.x.items() if g == gid]

    def _option_var(self, cid: str, option: GroupOption) -> cp_model.IntVar:
        return self.x[cid, option.group_id, option.start_date]

    def _first_start(self) -> date | None:
        floor = self.inst.ledger.floor
        starts = [max(s, floor) if floor else s for (_c, _g, s) in self.x]
        return min(starts, default=None)

    def _timelines(self) -> None:
        """Each therapist's classes of start dates (timeline.py), from the first start."""
        inst, first = self.inst, self._first_start()
        if first is None:
            return
        for tid in sorted({s.therapist_id for slots in inst.slot_options.values() for s in slots}):
            therapist = inst.problem.therapists[tid]
            self.timelines[tid] = timeline(
                first,
                inst.ledger.individual(tid),
                inst.ledger.bookings(tid),
                therapist.max_caseload,
                therapist.max_weekly_minutes,
            )

    def _start_class(self, tid: str, start: date) -> int:
        floor = self.inst.ledger.floor
        return self.timelines[tid].klass(max(start, floor) if floor else start)

    def _slots_by_therapist(self, cid: str) -> dict[str, list[int]]:
        by: dict[str, list[int]] = defaultdict(list)
        for i, slot in enumerate(self.inst.slot_options.get(cid, ())):
            by[slot.therapist_id].append(i)
        return by

    def _classes(self) -> dict[tuple[str, str], list[int]]:
        """The classes of each (client, therapist) pair's possible start dates."""
        inst = self.inst
        out: dict[tuple[str, str], list[int]] = {}
        for cid in inst.pending:
            for tid, indexes in self._slots_by_therapist(cid).items():
                slots = inst.slot_options[cid]
                starts = set().union(*(inst.starts_for_slot(cid, slots[i]) for i in indexes))
                out[cid, tid] = sorted({self._start_class(tid, s) for s in starts})
        return out

    def _newcomers(self, tid: str) -> dict[int, list[cp_model.LinearExprT]]:
        """Per class of ``tid``'s timeline, the terms that are 1 when a client seeing ``tid``
        starts in that class: v where the client's dates fall in several classes, else the
        client's slots with ``tid``."""
        by_class: dict[int, list[cp_model.LinearExprT]] = defaultdict(list)
        for (cid, t), classes in self.pair_classes.items():
            if t != tid:
                continue
            if len(classes) > 1:
                for k in classes:
                    by_class[k].append(self.v[cid, tid, k])
            else:
                slots = self._slots_by_therapist(cid)[tid]
                by_class[classes[0]].append(sum(self.y[cid, i] for i in slots))
        return by_class

    # ----- hard rules -------------------------------------------------------------------------

    def one_group_and_one_individual(self) -> None:
        """A client's schedule is one group plus one weekly individual session: a placed client
        has exactly one group (and start date) and exactly one individual slot; an unplaced
        client has neither."""
        inst = self.inst
        for cid in inst.pending:
            groups = [self._option_var(cid, o) for o in inst.group_options.get(cid, ())]
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
                    self._option_var(cid, o)
                    for o in inst.group_options[cid]
                    if overlaps_group(when, inst.problem.groups[o.group_id])
                ]
                if clashing:
                    self.model.add(sum(slot_vars) + sum(clashing) <= 1)

    def _occupancy_checks(self) -> dict[str, list[tuple[date, list[cp_model.IntVar]]]]:
        """Per group, each date where its occupancy can rise (a newcomer's or a kept client's
        start, from today on) with the newcomer options that hold a seat on it."""
        inst, floor = self.inst, self.inst.ledger.floor
        by_group: dict[str, list[tuple[DateRange, cp_model.IntVar]]] = defaultdict(list)
        for cid in inst.pending:
            for o in inst.group_options.get(cid, ()):
                dates = o.dates.clipped(floor)
                if dates is not None:
                    by_group[o.group_id].append((dates, self._option_var(cid, o)))
        out: dict[str, list[tuple[date, list[cp_model.IntVar]]]] = {}
        for gid, items in by_group.items():
            kept = [
                r.start for r in inst.ledger.members.get(gid, ()) if not floor or r.start >= floor
            ]
            points = sorted({d.start for d, _ in items} | set(kept))
            checks = [(p, [v for d, v in items if d.contains(p)]) for p in points]
            out[gid] = [(p, active) for p, active in checks if active]
        return out

    def group_capacity(self) -> None:
        """Rule 4: on every date, a group holds at most ``capacity`` clients whose start date <=
        date <= end date, kept ones included (checked where occupancy can rise)."""
        inst = self.inst
        for gid, checks in self._occupancy_checks().items():
            capacity = inst.problem.groups[gid].capacity
            seen: set[tuple[frozenset[int], int]] = set()
            for day, active in checks:
                room = capacity - inst.ledger.occupancy(gid, day)
                key = (frozenset(v.index for v in active), room)
                if len(active) > room and key not in seen:
                    seen.add(key)
                    self.model.add(sum(active) <= max(0, room))

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
            for held in group_bookings(inst.problem.groups[gid], ALWAYS):
                per[tid][held.interval, held.site].append(var)
        for (cid, i), var in self.y.items():
            slot: Slot = inst.slot_options[cid][i]
            held = slot_booking(slot, ALWAYS)
            per[slot.therapist_id][held.interval, held.site].append(var)
        return per

    def therapist_sessions_do_not_overlap(self) -> None:
        """Rule 7: a therapist's sessions never overlap. Among this solve's newcomers and the
        groups it staffs, whatever their dates (module docstring); kept sessions were removed
        from the options on the dates they hold (``individual_slot_dates``), and their
        availability, sites and telehealth were checked when the options were built."""
        for bookings in self._bookings().values():
            keys = sorted(bookings, key=lambda k: (k[0].start, k[0].end, k[1] or ""))
            points = sorted({k[0].start for k in keys})
            for p in points:
                covering = [v for k in keys if k[0].start <= p < k[0].end for v in bookings[k]]
                if len(covering) > 1:
                    self.model.add(sum(covering) <= 1)

    def therapist_travel_between_sites(self) -> None:
        """Rule 7: two in-person sessions of a therapist at different sites on one day leave
        ``travel_minutes`` to travel (``rules.travel_conflict``), among this solve's newcomers
        whatever their dates, like the overlaps above."""
        travel = self.inst.settings.travel_minutes
        for bookings in self._bookings().values():
            keys = sorted(bookings, key=lambda k: (k[0].start, k[0].end, k[1] or ""))
            for i, (a, a_site) in enumerate(keys):
                for b, b_site in keys[i + 1 :]:
                    if b.start >= a.end + travel:
                        break  # sorted by start: every later session is far enough away
                    if travel_conflict(a, a_site, b, b_site, travel):
                        self.model.add(sum(bookings[a, a_site]) + sum(bookings[b, b_site]) <= 1)

    def individual_slot_dates(self) -> None:
        """Rule 7 against kept clients, per date: a slot that clashes with a kept session, or
        would pass its therapist's caseload or weekly hours while kept clients hold them, is
        taken only with a start date from which it does not (``Instance.slot_starts``)."""
        inst = self.inst
        for (cid, i), var in self.y.items():
            starts = inst.slot_starts.get((cid, inst.slot_options[cid][i]))
            if starts is None:
                continue
            allowed = [
                self._option_var(cid, o) for o in inst.group_options[cid] if o.start_date in starts
            ]
            self.model.add(var <= sum(allowed))

    def therapist_start_classes(self) -> None:
        """Rule 7 per date (with the two below): ``v[c, t, k]`` is 1 exactly when client c sees
        therapist t and starts in t's class k of dates (timeline.py)."""
        inst = self.inst
        for (cid, tid), classes in self.pair_classes.items():
            if len(classes) < 2:
                continue
            slots = self._slots_by_therapist(cid)[tid]
            self.model.add(
                sum(self.v[cid, tid, k] for k in classes) == sum(self.y[cid, i] for i in slots)
            )
            for k in classes:
                starting = [
                    self._option_var(cid, o)
                    for o in inst.group_options[cid]
                    if self._start_class(tid, o.start_date) == k
                ]
                self.model.add(self.v[cid, tid, k] <= sum(starting))

    def therapist_caseload(self) -> None:
        """Rule 7: individual clients <= ``max_caseload`` on every date (kept clients on their
        own dates; newcomers from their start on, timeline.py)."""
        for tid, line in self.timelines.items():
            by_class = self._newcomers(tid)
            counted: list[cp_model.LinearExprT] = []
            for k in range(line.classes):
                # A class binds through its own newcomers or through kept clients who start in
                # it (its room is then smaller than an earlier class's).
                counted += by_class.get(k, [])
                if len(counted) > line.caseload_room[k]:
                    self.model.add(cp_model.LinearExpr.sum(counted) <= line.caseload_room[k])

    def therapist_weekly_hours(self) -> None:
        """Rule 7: in every week, hours of the groups a therapist facilitates (once per group,
        whatever its client count) + their individual hours <= ``max_weekly_hours`` (kept
        clients in the weeks of their own dates; newcomers and newly staffed groups from their
        first week on, timeline.py)."""
        inst = self.inst
        minutes = inst.settings.individual_minutes
        for tid, line in self.timelines.items():
            by_class = self._newcomers(tid)
            groups = [(gid, var) for (gid, t), var in self.f.items() if t == tid]
            for k in range(line.classes):
                counted = [
                    term for j in range(line.hours_upto[k] + 1) for term in by_class.get(j, [])
                ]
                staffed = [
                    inst.problem.groups[gid].minutes * var
                    for gid, var in groups
                    if inst.ledger.span_from.get(gid, line.first) <= line.week_end[k]
                ]
                bound = minutes * len(counted) + sum(
                    inst.problem.groups[gid].minutes for gid, _ in groups
                )
                if (counted or staffed) and bound > line.minutes_room[k]:
                    total = minutes * cp_model.LinearExpr.sum(counted) + cp_model.LinearExpr.sum(
                        staffed
                    )
                    self.model.add(total <= line.minutes_room[k])

    # ----- cuts: redundant, for the LP bound only --------------------------------------------

    def seats_need_a_facilitator(self) -> None:
        """A cut, not a hard rule (rules 4 + 8 together): on each date, a group not yet running
        seats at most ``capacity`` clients times [it has a facilitator]. Implied by the two
        rules on integers, but without it the LP relaxation lets a therapist facilitate half a
        group and still fill it, which left the proven bound ~5% above the optimum at load 1.2
        (387 vs 367 on region s3). It restates rule 8's "no seat without a facilitator" and
        rule 4 for groups not yet running, so knocking out either rule alone is masked there
        (see tests/test_knockout.py)."""
        inst = self.inst
        for gid, checks in self._occupancy_checks().items():
            if gid in inst.ledger.facilitator:
                continue
            chosen = [self.f[gid, t] for t in inst.facilitators[gid]]
            capacity = inst.problem.groups[gid].capacity
            seen: set[frozenset[int]] = set()
            for day, active in checks:
                key = frozenset(v.index for v in active)
                if key not in seen:
                    seen.add(key)
                    seats = min(capacity - inst.ledger.occupancy(gid, day), len(active))
                    self.model.add(sum(active) <= max(0, seats) * sum(chosen))

    # ----- soft goals -------------------------------------------------------------------------

    def weighted_placements(self) -> LinearTerm:
        """Soft goal 1 (maximised first): placed clients weighted by priority (urgent 3,
        step_down 2, routine 1; displaced clients above every new one)."""
        return sum(self.inst.client_weight(c) * v for c, v in self.placed.items())

    def moved_penalty(self) -> LinearTerm:
        """Stability for displaced clients: stay in their old group where it still works."""
        inst = self.inst
        return sum(
            W_MOVED * self._option_var(cid, o)
            for cid in inst.displaced
            for o in inst.group_options.get(cid, ())
            if not o.is_previous
        )

    def waiting_penalty(self) -> LinearTerm:
        """Soft goal 2: earliest start (days waited after ``requested_start``, capped)."""
        return sum(
            W_WAIT * min(o.wait_days, MAX_WAIT_DAYS_PENALISED) * self._option_var(cid, o)
            for cid in self.inst.pending
            for o in self.inst.group_options.get(cid, ())
            if o.wait_days
        )

    def site_penalty(self) -> LinearTerm:
        """Soft goal 3: first-choice site over later ones, in person over telehealth (for the
        group and for the individual session)."""
        inst = self.inst
        group_part = sum(
            W_SITE * o.site_rank * self._option_var(cid, o)
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
            W_WISH * o.wish_misses * self._option_var(cid, o)
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
                led: dict[str, list[cp_model.IntVar]] = defaultdict(list)
                for o in inst.group_options[cid]:
                    if tid in inst.facilitators.get(o.group_id, ()):
                        led[o.group_id].append(self._option_var(cid, o))
                if not led:
                    continue
                same = m.new_bool_var(f"cont[{cid},{tid}]")
                m.add(same <= sum(slot_vars))
                m.add(same <= sum(v for starts in led.values() for v in starts))
                for gid, starts in led.items():
                    if (gid, tid) in self.f:
                        m.add(same + sum(starts) <= 1 + self.f[gid, tid])
                rewards.append(same)
        return -W_CONTINUITY * sum(rewards)

    def balance_penalty(self) -> LinearTerm:
        """Soft goal 6: spread clients across groups and therapists: seats beyond half a group
        cost 1, beyond three quarters 2 more; individual clients beyond half a caseload cost 1.
        Only the seats this solve adds are priced: kept clients are a constant it cannot
        change (see ``excess_over``), counted on the last start date this solve may use (the
        kept clients still there when the last newcomer arrives)."""
        inst = self.inst
        terms: list[LinearTerm] = []
        by_group: dict[str, list[cp_model.IntVar]] = defaultdict(list)
        for (_c, gid, _s), var in self.x.items():
            by_group[gid].append(var)
        last = max((s for (_c, _g, s) in self.x), default=None)
        for gid, members in by_group.items():
            cap = inst.problem.groups[gid].capacity
            kept = 0 if last is None else inst.ledger.occupancy(gid, last)
            for threshold, weight in ((cap // 2, 1), ((3 * cap) // 4, 2)):
                over = excess_over(self.model, members, kept, threshold, f"over[{gid},{threshold}]")
                terms.append(weight * over)
        per: dict[str, list[cp_model.IntVar]] = defaultdict(list)
        for (cid, i), var in self.y.items():
            per[inst.slot_options[cid][i].therapist_id].append(var)
        for tid, vars_ in per.items():
            half = inst.problem.therapists[tid].max_caseload // 2
            kept = 0 if last is None else inst.ledger.caseload(tid, DateRange(last, last))
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

    def hint(self, placements: dict[str, Assignment]) -> None:
        """Hint a complete assignment (e.g. the first-fit clerk's) so the search starts there."""
        m, inst = self.model, self.inst
        m.clear_hints()
        for cid, var in self.placed.items():
            m.add_hint(var, cid in placements)
        for (cid, gid, start), var in self.x.items():
            p = placements.get(cid)
            m.add_hint(var, p is not None and (p.group_id, p.start_date) == (gid, start))
        for (cid, i), var in self.y.items():
            p = placements.get(cid)
            m.add_hint(var, p is not None and p.individual == inst.slot_options[cid][i])
        used = {(p.group_id, p.facilitator_id) for p in placements.values()}
        for key, var in self.f.items():
            m.add_hint(var, key in used)
        for (cid, tid, k), var in self.v.items():
            p = placements.get(cid)
            m.add_hint(
                var,
                p is not None
                and p.individual.therapist_id == tid
                and self._start_class(tid, p.start_date) == k,
            )

    def placements(self, solver: cp_model.CpSolver) -> dict[str, Assignment]:
        inst = self.inst
        facilitator = {gid: tid for (gid, tid), v in self.f.items() if solver.value(v)}
        facilitator.update(inst.ledger.facilitator)
        out: dict[str, Assignment] = {}
        for cid in inst.pending:
            if not solver.value(self.placed[cid]):
                continue
            option = next(
                o for o in inst.group_options[cid] if solver.value(self._option_var(cid, o))
            )
            index = next(
                i for i in range(len(inst.slot_options[cid])) if solver.value(self.y[cid, i])
            )
            out[cid] = Assignment(
                cid,
                option.group_id,
                facilitator[option.group_id],
                inst.slot_options[cid][index],
                option.start_date,
                option.end_date,
            )
        return out

    def size(self) -> dict[str, int]:
        proto = self.model.proto
        return {
            "variables": len(proto.variables),
            "constraints": len(proto.constraints),
            "group_options": len(self.x),
            "slot_options": len(self.y),
            "start_classes": len(self.v),
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
