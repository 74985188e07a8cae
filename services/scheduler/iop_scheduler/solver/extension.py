"""Does a lengthened programme still fit? (SCHEDULING.md rule 12: an extension keeps group,
therapist and slot, and needs capacity and the therapists' rules to hold over the added weeks.)

The answer is the solver's own admission of existing schedules (instance.py): the problem
carries the client's schedule with its new ``end_date`` and the enrollment its new
``program_weeks``. Rules 4 and 7 count per date, so the added weeks can meet the dates of a
client who starts later; an extension never moves anyone (rule 10), so the lengthened schedule
must fit beside every other schedule the solver keeps, admitted before it. So the check is
exactly as strict as the rules the solver keeps schedules by, and grows with them.
"""

from __future__ import annotations

from dataclasses import replace

from .dates import DateRange
from .instance import InstanceSettings, admit_existing, build_instance, schedule_still_valid
from .problem import Problem
from .reasons import waitlist_reasons


def extension_reasons(
    problem: Problem, client_id: str, settings: InstanceSettings | None = None
) -> list[str]:
    """[] when the client's (lengthened) schedule in ``problem`` stands beside every other one
    kept; otherwise the waitlist codes that are true of it: ``groups_full`` when the group has no
    seat for it on some date beside the others, ``therapist_capacity`` when a therapist's
    caseload, hours or time do not allow it; and for a schedule no longer valid on its own (the
    roster changed), the reasons the client could not be placed now, computed as for a
    waitlisting."""
    cfg = settings or InstanceSettings()
    if cfg.as_of is None:
        cfg = replace(cfg, as_of=problem.as_of)
    schedule = problem.schedules[client_id]
    client = problem.enrollments[client_id]
    if not schedule_still_valid(schedule, client, problem, cfg):
        inst = build_instance(problem, cfg)
        return waitlist_reasons(inst, inst.ledger, client_id)[0]
    others = {cid: s for cid, s in problem.schedules.items() if cid != client_id}
    _, _, ledger = admit_existing(replace(problem, schedules=others), cfg)
    dates = DateRange(schedule.start_date, schedule.end_date)
    facilitator = str(schedule.facilitator_id)
    if ledger.fits(schedule.group_id, facilitator, schedule.individual, dates):
        return []
    if ledger.seats_left(schedule.group_id, dates) <= 0:
        return ["groups_full"]
    return ["therapist_capacity"]
