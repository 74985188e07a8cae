"""Does a lengthened programme still fit? (SCHEDULING.md rule 12: an extension keeps group,
therapist and slot, and needs capacity and the therapists' rules to hold over the added weeks.)

The answer is the solver's own admission of existing schedules (instance.py): the snapshot
carries the client's schedule with its new ``end_date`` and the enrollment its new
``program_weeks``; the extension fits when that schedule is kept as it is. So the check is exactly
as strict as the rules the solver keeps schedules by, and grows with them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .instance import InstanceSettings, build_instance, parse_roster, schedule_still_valid
from .reasons import waitlist_reasons


def extension_reasons(
    snapshot: Mapping[str, Any], client_id: str, settings: InstanceSettings | None = None
) -> list[str]:
    """[] when the client's (lengthened) schedule in ``snapshot`` stands; otherwise the waitlist
    codes that are true of it: ``groups_full`` when the group has no seat for it beside the
    clients kept before it, ``therapist_capacity`` when a therapist's caseload, hours or time do
    not allow it; and for a schedule no longer valid on its own (the roster changed), the reasons
    the client could not be placed now, computed as for a waitlisting."""
    roster = parse_roster(snapshot)
    inst = build_instance(roster, settings)
    if client_id in inst.kept:
        return []
    schedule = roster.schedules[client_id]
    client = roster.enrollments[client_id]
    if not schedule_still_valid(schedule, client, roster, inst.settings):
        return waitlist_reasons(inst, inst.ledger, client_id)[0]
    if inst.ledger.seats_left(schedule.group_id) <= 0:
        return ["groups_full"]
    return ["therapist_capacity"]
