"""`iop demo`'s make-up: whom to ask one for, asking through the clinic, and checking the
scheduler's answer with its independent rule checker.

Few clients of the sample can have a make-up in a given week (another group of their track,
population, language and gender rule, at a site they reach, in their availability, with a seat,
on a day still to come), so the demo looks before it plans an absence: it runs the scheduler's
own rule 12 (`place_makeup`) over the region as the schedule topic shows it, the way staff look
for a free seat before they promise one. The request itself goes through the clinic's API and
the answer is the scheduler service's, whatever it is.
"""

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from iop_contracts import CloudEvent, topics

from iop.observe import latest_by_subject, read_all, read_events
from iop.system import System

MAKEUP_SCHEDULED = "iop.client.makeup_scheduled"
MAKEUP_ANSWERS = {MAKEUP_SCHEDULED, "iop.client.makeup_unavailable"}
PLACED_TYPES = {"iop.client.scheduled", "iop.client.rescheduled"}
# The schedule events that say where a client stands (make-up answers do not).
STANDING_TYPES = {
    *PLACED_TYPES,
    "iop.client.waitlisted",
    "iop.client.unscheduled",
    "iop.client.completed",
}


@dataclass
class Standing:
    """The placed clients and the substitutes that stand, as of `today` (the topics' view)."""

    network: Mapping[str, Any]
    enrollments: list[dict[str, Any]]
    today: date
    placed: dict[str, dict[str, Any]]
    substitutions: list[dict[str, Any]]

    @classmethod
    async def read(
        cls,
        system: System,
        network: Mapping[str, Any],
        enrollments: list[dict[str, Any]],
        today: date,
    ) -> "Standing":
        schedule = await read_all(system.kafka, topics.SCHEDULE)
        staffing = await read_all(system.kafka, topics.STAFFING)
        standing = latest_by_subject([e for e in schedule if e.type in STANDING_TYPES])
        placed = {c: e.data for c, e in standing.items() if e.type in PLACED_TYPES}
        latest = {(e.data["date"], e.data["group_id"]): e.data for e in staffing}
        return cls(network, enrollments, today, placed, list(latest.values()))

    def snapshot(self, region_id: str) -> dict[str, Any]:
        """The region as the scheduler's snapshot holds it: its roster (scheduler
        roster.region_roster), placed clients, no earlier make-up, the substitutes."""
        sites = [s for s in self.network["sites"] if s["region_id"] == region_id]
        site_ids = {s["site_id"] for s in sites}
        placed = {c: s for c, s in self.placed.items() if s["region_id"] == region_id}
        return {
            "sites": sites,
            "groups": [g for g in self.network["groups"] if g["site_id"] in site_ids],
            "therapists": [
                t for t in self.network["therapists"] if set(t.get("site_ids") or ()) & site_ids
            ],
            "enrollments": [e for e in self.enrollments if e["client_id"] in placed],
            "schedules": list(placed.values()),
            "makeups": [],
            "substitutions": [s for s in self.substitutions if s["region_id"] == region_id],
            "as_of": self.today.isoformat(),
        }

    def makeup_fits(self, client_id: str, week: str) -> bool:
        """Whether rule 12 finds the client a make-up that week (from today on)."""
        from iop_scheduler.domain.makeups import MakeupRequest, place_makeup
        from iop_scheduler.errors import UnusableEvent

        schedule = self.placed.get(client_id)
        if schedule is None:
            return False
        region_id = schedule["region_id"]
        asked = MakeupRequest(client_id, region_id, week, 3.0)
        try:
            return place_makeup(self.snapshot(region_id), asked).makeup is not None
        except UnusableEvent:  # no date of the week left in their programme
            return False

    def findings(self, answer: CloudEvent) -> list[Any]:
        """The rule checker on the answer: the region unchanged beside the make-up (whose
        place it checks) or the unavailability (whose reasons it checks are true)."""
        from iop_scheduler.solver import validate_output

        snapshot = self.snapshot(answer.data["region_id"])
        granted = answer.type == MAKEUP_SCHEDULED
        output = {
            "scheduled": snapshot["schedules"],
            "waitlisted": [],
            "rescheduled": [],
            "makeups": [answer.data] if granted else [],
            "makeups_unavailable": [] if granted else [answer.data],
        }
        return list(validate_output(snapshot, output))


@dataclass
class MakeupOutcome:
    client_id: str
    week: str
    hours: float
    answer: CloudEvent | None
    invite: list[CloudEvent] = field(default_factory=list)
    findings: list[Any] = field(default_factory=list)


def shortfall(row: Mapping[str, Any]) -> float:
    """The hours a compliance row's week lacks (what the make-up is asked to cover)."""
    lacking = row["minimum_hours"] - row["attended_hours"] - row["remaining_hours"]
    return min(12.0, max(0.25, round(lacking, 2)))


async def read_answer(system: System, request_id: str) -> CloudEvent | None:
    """The scheduler's answer: the make-up event the request caused (None after 60 s)."""

    def answers(events: list[CloudEvent]) -> list[CloudEvent]:
        return [e for e in events if e.causationid == request_id and e.type in MAKEUP_ANSWERS]

    events = await read_events(
        system.kafka, topics.SCHEDULE, lambda found: bool(answers(found)), timeout_s=60
    )
    return next(iter(answers(events)), None)


async def read_invite(system: System, client_id: str) -> list[CloudEvent]:
    """The notifier's outcomes for the client's make-up, once the email's is there."""

    def notes(events: list[CloudEvent]) -> list[CloudEvent]:
        return [e for e in events if e.subject == client_id and e.data.get("purpose") == "makeup"]

    def emailed(events: list[CloudEvent]) -> bool:
        return any(e.data["channel"] == "email" for e in notes(events))

    return notes(await read_events(system.kafka, topics.NOTIFICATION, emailed, timeout_s=30))


def makeup_lines(makeup: MakeupOutcome | None) -> list[str]:
    if makeup is None:
        return ["make-up: nobody at risk this week, none asked"]
    lines = [
        f"make-up asked for {makeup.client_id}, week {makeup.week}, {makeup.hours:g} h "
        f"(POST /v1/clients/{makeup.client_id}/makeup)"
    ]
    answer = makeup.answer
    if answer is None:
        return [*lines, "  the scheduler did not answer within 60 s"]
    data = answer.data
    if answer.type != MAKEUP_SCHEDULED:
        lines.append(f"  scheduler: client.makeup_unavailable: {', '.join(data['reasons'])}")
    else:
        where = "telehealth" if data["delivery"] == "telehealth" else f"at {data['site_id']}"
        lines.append(
            f"  scheduler: client.makeup_scheduled {data['date']} {data['start']}-{data['end']} "
            f"in {data['group_id']} {where}, run by {data['facilitator_id']}"
        )
        told = Counter(
            (e.type.removeprefix("iop.notification."), e.data["channel"]) for e in makeup.invite
        )
        said = ", ".join(f"{kind} {channel}" for kind, channel in sorted(told))
        lines.append(f"  notifier: {said or 'nothing within 30 s'} (purpose makeup)")
    found = makeup.findings
    lines.append(f"  rule checker {len(found)} findings" + "".join(f"\n  - {f}" for f in found))
    return lines
