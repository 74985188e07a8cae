"""A placement (one client's group, facilitator, individual slot and dates) and its payload."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from .dates import DateRange
from .domain import Slot
from .instance import Instance


@dataclass(frozen=True)
class Placement:
    client_id: str
    group_id: str
    facilitator_id: str
    slot: Slot
    start_date: date
    end_date: date

    @property
    def dates(self) -> DateRange:
        return DateRange(self.start_date, self.end_date)


def scheduled_payload(inst: Instance, placement: Placement) -> dict[str, Any]:
    """A ``client.scheduled`` payload. ``schedule_version`` rises by one with every change
    (CONTRACT.md): a displaced client's is one above their old schedule's, a new client's one
    above the highest the snapshot says consumers have seen (``schedule_versions``; 1 when the
    snapshot names none)."""
    roster = inst.roster
    client = roster.enrollments[placement.client_id]
    group = roster.groups[placement.group_id]
    previous = inst.displaced.get(placement.client_id)
    seen = roster.versions.get(placement.client_id, 0)
    version = 1 + (seen if previous is None else max(previous.version, seen))
    slot = placement.slot
    return {
        "client_id": client.client_id,
        "region_id": client.region_id,
        "schedule_version": version,
        "group": {
            "group_id": group.group_id,
            "site_id": group.site_id,
            "delivery": group.delivery,
            "facilitator_id": placement.facilitator_id,
            "sessions": [s.as_payload() for s in group.sessions],
        },
        "individual": {
            "therapist_id": slot.therapist_id,
            "delivery": slot.delivery,
            "site_id": slot.site_id,
            **slot.interval.as_payload(),
        },
        "start_date": placement.start_date.isoformat(),
        "end_date": placement.end_date.isoformat(),
        "weekly_hours": (group.minutes + slot.interval.minutes) / 60,
        "timezone": roster.sites[group.site_id].timezone,
    }
