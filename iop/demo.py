"""`iop demo`: the whole system on the bundled sample network, driven the way a network would.

The roster goes in over Kafka, sixty enrollments over intake's HTTP API; the outcome is read back
from the schedule and notification topics and checked with the scheduler's rule checker.
"""

import asyncio
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from importlib import resources
from typing import Any

import httpx
import yaml
from iop_contracts import CloudEvent, topics

from iop.observe import latest_by_subject, read_events
from iop.roster import publish_events, roster_events
from iop.system import System

SCHEDULE_OUTCOMES = {"iop.client.scheduled", "iop.client.rescheduled", "iop.client.waitlisted"}


def sample(name: str) -> dict[str, Any]:
    text = resources.files("iop.samples").joinpath(name).read_text()
    loaded = yaml.safe_load(text)
    assert isinstance(loaded, dict)
    return loaded


def shifted(
    network: Mapping[str, Any], enrollments: list[dict[str, Any]], today: date
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Move the sample's dates so that its earliest requested start is today, keeping gaps."""
    earliest = min(date.fromisoformat(e["requested_start"]) for e in enrollments)
    delta = today - earliest

    def move(value: str) -> str:
        return (date.fromisoformat(value) + delta).isoformat()

    groups = [{**g, "open_from": move(g["open_from"])} for g in network["groups"]]
    moved = [{**e, "requested_start": move(e["requested_start"])} for e in enrollments]
    return {**network, "groups": groups}, moved


@dataclass
class DemoOutcome:
    enrollments: list[dict[str, Any]]
    schedule: dict[str, CloudEvent]
    notifications: list[CloudEvent]
    findings: list[Any]
    rejected: dict[str, int]

    @property
    def placed(self) -> list[CloudEvent]:
        return [e for e in self.schedule.values() if e.type != "iop.client.waitlisted"]

    @property
    def waiting(self) -> list[CloudEvent]:
        return [e for e in self.schedule.values() if e.type == "iop.client.waitlisted"]


async def post_enrollments(
    intake_url: str, enrollments: Iterable[dict[str, Any]], concurrency: int = 8
) -> dict[str, int]:
    """POST each enrollment; returns the client ids that were not accepted, with the status."""
    rejected: dict[str, int] = {}
    limit = asyncio.Semaphore(concurrency)
    async with httpx.AsyncClient(base_url=intake_url, timeout=30.0) as http:

        async def post(enrollment: dict[str, Any]) -> None:
            async with limit:
                response = await http.post("/v1/enrollments", json=enrollment)
                if response.status_code != 202:
                    rejected[enrollment["client_id"]] = response.status_code

        await asyncio.gather(*(post(e) for e in enrollments))
    return rejected


def check_placements(
    network: Mapping[str, Any], enrollments: list[dict[str, Any]], outcome: dict[str, CloudEvent]
) -> list[Any]:
    """Run the scheduler's independent rule checker over what the system published."""
    from iop_scheduler.solver import validate_output

    snapshot = {**network, "enrollments": enrollments, "schedules": []}
    output = {
        "scheduled": [e.data for e in outcome.values() if e.type != "iop.client.waitlisted"],
        "waitlisted": [e.data for e in outcome.values() if e.type == "iop.client.waitlisted"],
    }
    return list(validate_output(snapshot, output))


async def drive(
    system: System, network: dict[str, Any], enrollments: list[dict[str, Any]]
) -> DemoOutcome:
    rejected = await post_enrollments(system.url("intake"), enrollments)
    wanted = {e["client_id"] for e in enrollments} - set(rejected)

    def all_answered(events: list[CloudEvent]) -> bool:
        answered = {e.subject for e in events if e.type in SCHEDULE_OUTCOMES}
        return wanted <= answered

    schedule_events = await read_events(system.kafka, topics.SCHEDULE, all_answered, timeout_s=90)
    schedule = {
        client: event
        for client, event in latest_by_subject(
            [e for e in schedule_events if e.type in SCHEDULE_OUTCOMES]
        ).items()
        if client in wanted
    }
    placed = {c for c, e in schedule.items() if e.type != "iop.client.waitlisted"}

    def all_notified(events: list[CloudEvent]) -> bool:
        # Every placed client gets an email outcome (sent, failed or suppressed); an SMS outcome
        # may come first, so waiting for any outcome could stop before the email's.
        return placed <= {e.subject for e in events if e.data.get("channel") == "email"}

    notifications = await read_events(system.kafka, topics.NOTIFICATION, all_notified, timeout_s=60)
    findings = check_placements(network, enrollments, schedule)
    return DemoOutcome(enrollments, schedule, notifications, findings, rejected)


def render(outcome: DemoOutcome) -> str:
    by_client = {e["client_id"]: e for e in outcome.enrollments}
    lines = [
        f"{'region':<7}{'client':<11}{'priority':<10}{'group':<19}{'mode':<11}"
        f"{'group days':<14}{'individual':<26}{'start':<11}",
    ]
    for event in sorted(outcome.placed, key=lambda e: (e.data["region_id"], e.subject or "")):
        data = event.data
        group, individual = data["group"], data["individual"]
        days = "/".join(s["day"] for s in group["sessions"])
        one_to_one = f"{individual['therapist_id']} {individual['day']} {individual['start']}"
        one_to_one += (
            " tele" if individual["delivery"] == "telehealth" else f" {individual['site_id']}"
        )
        lines.append(
            f"{data['region_id']:<7}{data['client_id']:<11}"
            f"{by_client[data['client_id']]['priority']:<10}{group['group_id']:<19}"
            f"{'telehealth' if group['delivery'] == 'telehealth' else group['site_id']:<11}"
            f"{days:<14}{one_to_one:<26}{data['start_date']:<11}"
        )
    if outcome.waiting:
        lines += ["", "waiting:"]
        for event in sorted(outcome.waiting, key=lambda e: e.subject or ""):
            data = event.data
            lines.append(
                f"{data['region_id']:<7}{data['client_id']:<11}{', '.join(data['reasons'])}"
            )
    unanswered = {e["client_id"] for e in outcome.enrollments} - set(outcome.schedule)
    unanswered -= set(outcome.rejected)
    sent = Counter(
        (e.type.removeprefix("iop.notification."), e.data["channel"]) for e in outcome.notifications
    )
    regions = Counter(e["region_id"] for e in outcome.enrollments)
    placed_by_region = Counter(e.data["region_id"] for e in outcome.placed)
    per_region = ", ".join(f"{r} {placed_by_region[r]}/{n}" for r, n in sorted(regions.items()))
    lines += [
        "",
        f"placed      {len(outcome.placed)} of {len(outcome.enrollments)} ({per_region})",
        f"waiting     {len(outcome.waiting)}",
        f"rejected    {len(outcome.rejected)} by intake"
        + (f": {dict(outcome.rejected)}" if outcome.rejected else ""),
        f"unanswered  {len(unanswered)}",
        "confirmations "
        + (
            ", ".join(f"{kind} {channel}: {n}" for (kind, channel), n in sorted(sent.items()))
            or "none"
        ),
        f"rule checker {len(outcome.findings)} findings"
        + "".join(f"\n  - {finding}" for finding in outcome.findings),
    ]
    return "\n".join(lines)


def run_demo(system: System, today: date | None = None) -> DemoOutcome:
    """Start the system, load the sample network, submit the sample enrollments, read results."""
    network, enrollments = shifted(
        sample("network.yaml"), sample("enrollments.yaml")["enrollments"], today or date.today()
    )
    system.start_infrastructure()
    try:
        # The roster is on the topic before the scheduler starts, so it rebuilds it first.
        asyncio.run(publish_events(system.kafka, roster_events(network)))
        system.start_services()
        return asyncio.run(drive(system, network, enrollments))
    finally:
        system.stop()
