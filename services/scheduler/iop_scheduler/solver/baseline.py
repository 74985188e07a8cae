"""The first-fit clerk: the comparison a network makes against its current manual process.

A careful clerk with a spreadsheet takes clients in priority order (urgent, step-down, routine;
then by requested start) and gives each the first option that works: groups in the client's
order of preference (first-choice site, then earliest start), the group's running facilitator or
the first free qualified one, the facilitator as individual therapist when they can (continuity),
else the other therapists, and the first free hour of the week. The clerk obeys every hard rule,
counted per date as the model does (the cautious ledger, ledger.py: a seat or an hour that a
kept client frees is the clerk's from the first meeting day after), and never moves anyone
already placed. The same routine tops up a solver solution.
"""

from __future__ import annotations

from collections.abc import Iterable

from .instance import Instance
from .ledger import Ledger
from .problem import Assignment
from .rules import overlaps_group


def _fit_one(inst: Instance, ledger: Ledger, client_id: str) -> Assignment | None:
    problem = inst.problem
    options = sorted(
        inst.group_options.get(client_id, ()),
        key=lambda o: (not o.is_previous, o.site_rank, o.start_date, o.group_id),
    )
    therapists = inst.individual_therapists.get(client_id, ())
    for option in options:
        gid = option.group_id
        if ledger.seats_left(gid, option.dates) <= 0:
            continue
        group = problem.groups[gid]
        for fid in inst.facilitators.get(gid, ()):
            if not ledger.open_for(gid, fid):
                continue
            order = [fid] if fid in therapists else []
            order += [t for t in therapists if t != fid]
            for tid in order:
                therapist = problem.therapists[tid]
                own = ledger.session_dates(option.dates)
                if ledger.caseload(tid, own) >= therapist.max_caseload:
                    continue
                for slot in inst.all_slots(client_id, tid):
                    if overlaps_group(slot.interval, group):
                        continue  # rule 3: the client's own sessions never overlap
                    if ledger.fits(gid, fid, slot, option.dates):
                        return Assignment(
                            client_id, gid, fid, slot, option.start_date, option.end_date
                        )
    return None


def fill(inst: Instance, ledger: Ledger, clients: Iterable[str]) -> dict[str, Assignment]:
    """Place each of ``clients`` (in the given order) first-fit on top of ``ledger``."""
    placed: dict[str, Assignment] = {}
    for cid in clients:
        placement = _fit_one(inst, ledger, cid)
        if placement is not None:
            ledger.add(
                placement.group_id, placement.facilitator_id, placement.individual, placement.dates
            )
            placed[cid] = placement
    return placed


def first_fit_placements(inst: Instance) -> tuple[dict[str, Assignment], Ledger]:
    """The clerk's placements of every pending client, and the ledger they leave."""
    ledger = inst.ledger.copy()
    return fill(inst, ledger, inst.pending), ledger
