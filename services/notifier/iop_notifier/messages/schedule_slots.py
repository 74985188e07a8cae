"""A schedule as an ordered list of weekly slots, each with a key that names its place in the
schedule ("group-0", "individual"), not its content: the key is what keeps a calendar UID stable
when a reschedule moves the slot to another day or time."""

from dataclasses import dataclass

from iop_contracts.payloads import ClientScheduled
from iop_contracts.values import Day, Delivery


@dataclass(frozen=True, slots=True)
class Slot:
    key: str
    kind: str  # "group" | "individual"
    day: Day
    start: str
    end: str
    delivery: Delivery


def slots_of(schedule: ClientScheduled) -> list[Slot]:
    sessions = sorted(schedule.group.sessions, key=lambda s: (s.day.weekday, s.start_minute))
    slots = [
        Slot(f"group-{i}", "group", s.day, s.start, s.end, schedule.group.delivery)
        for i, s in enumerate(sessions)
    ]
    ind = schedule.individual
    slots.append(Slot("individual", "individual", ind.day, ind.start, ind.end, ind.delivery))
    return slots
